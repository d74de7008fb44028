// The console's one module: sign-in, queue, ticket, intake, supervision, statistics, orders.
// Plain DOM, no framework and no build step; every label comes from labels/<lang>.json.

const OPEN_STATUSES = ["received", "posted", "dispatched", "accepted", "returned", "resolved"];
const ALL_STATUSES = [...OPEN_STATUSES, "closed", "merged", "invalid"];
const MERGEABLE = ["received", "posted", "dispatched"];
const CATEGORIES = ["consultation", "help", "complaint", "report", "suggestion", "praise"];
const CHANNELS = ["hotline", "walk_in", "mini_program", "grid", "platform"];
const URGENCIES = ["normal", "urgent", "critical"];
const SPECIAL_GROUPS = ["elderly", "disabled", "living_alone", "hardship"];
const SATISFACTIONS = ["satisfied", "basically_satisfied", "dissatisfied"];
const DISPUTE_KINDS = ["marriage_family", "neighbours", "land_boundary", "labour_wages", "property", "other"];
const DIMENSIONS = ["department", "platform", "grid", "topic", "channel"];
const POLL_MS = 15000;
const WARNING_SHARE = 0.2;
const WARNING_CAP_MS = 4 * 3600 * 1000;
const CHART_SRC = "/console/static/vendor/chart.umd.min.js";

// Which pages each role sees, in nav order; the first is where it lands after sign-in.
const PAGES_BY_ROLE = {
  admin: ["queue", "intake", "supervision", "stats", "leaderboard"],
  operator: ["queue", "intake", "supervision", "leaderboard"],
  department: ["queue", "supervision"],
  supervisor: ["supervision", "queue", "stats", "leaderboard"],
  viewer: ["queue", "supervision", "stats", "leaderboard"],
  member: ["board", "leaderboard"],
  app: ["queue"],
};
const CASE_WORKERS = ["supervisor", "admin"];
const PHONE_SEARCHERS = ["operator", "supervisor", "admin"];

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content ?? "";
const serverTime = Date.parse(meta("hotline-server-time"));
// The service's clock, not the desk's: countdowns agree with the sweeper that breaches.
const clockOffset = Number.isFinite(serverTime) ? serverTime - Date.now() : 0;
const now = () => Date.now() + clockOffset;
const TIMEZONE = /^[A-Za-z_/+-]+$/.test(meta("hotline-timezone"))
  ? meta("hotline-timezone")
  : "Asia/Shanghai";

const state = {
  labels: {},
  session: null,
  departments: new Map(),
  topics: new Map(),
  grids: [],
  page: null,
};

// -- labels ---------------------------------------------------------------------------

function t(key, vars = {}) {
  let value = key.split(".").reduce((node, part) => (node == null ? node : node[part]), state.labels);
  if (typeof value !== "string") value = key.split(".").pop();
  return value.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

// A code's label in a group (status, category...), or the code itself.
function label(group, code) {
  if (code == null || code === "") return t("app.none");
  const value = state.labels[group]?.[code];
  return typeof value === "string" ? value : String(code);
}

async function loadLabels() {
  const wanted = new URLSearchParams(location.search).get("lang") || document.documentElement.lang;
  const lang = /^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$/.test(wanted) ? wanted : "zh-CN";
  let response = await fetch(`/console/labels/${lang}.json`, { cache: "no-cache" });
  if (!response.ok && lang !== "zh-CN") response = await fetch("/console/labels/zh-CN.json");
  state.labels = await response.json();
  document.documentElement.lang = state.labels.locale || lang;
}

// -- DOM helpers ------------------------------------------------------------------------

// Set as properties (live state); "checked" stays an attribute: it is the default a form's
// reset() restores (a property would leave every radio unchecked after a reset).
const PROPERTIES = new Set(["value", "disabled", "required", "selected", "hidden", "multiple"]);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  let value;
  for (const [key, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (key === "class") node.className = v;
    else if (key === "text") node.textContent = v;
    else if (key === "dataset") Object.assign(node.dataset, v);
    else if (key === "value") value = v;
    else if (key.startsWith("on") && typeof v === "function") node.addEventListener(key.slice(2), v);
    else if (PROPERTIES.has(key)) node[key] = v;
    else node.setAttribute(key, v === true ? "" : String(v));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  if (value !== undefined) node.value = value;
  return node;
}

let uid = 0;
const nextId = (prefix) => `${prefix}-${++uid}`;

function main() {
  return document.getElementById("main");
}

function setMain(...children) {
  const root = main();
  root.replaceChildren(...children);
  return root;
}

function focusHeading(root = main()) {
  const heading = root.querySelector("h1");
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: false });
  }
}

function notice(text) {
  const box = document.getElementById("notice");
  box.textContent = text;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => (box.textContent = ""), 6000);
}

function pageTitle(text) {
  document.title = `${text} · ${t("app.short_title")}`;
}

function excerpt(text, size = 60) {
  const plain = (text || "").replace(/\s+/g, " ").trim();
  return plain.length > size ? `${plain.slice(0, size)}…` : plain;
}

// -- time -------------------------------------------------------------------------------

const dateTimeFormat = () =>
  new Intl.DateTimeFormat(state.labels.locale || "zh-CN", {
    timeZone: TIMEZONE,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  });

function fmtTime(iso) {
  if (!iso) return t("app.none");
  return dateTimeFormat().format(new Date(iso));
}

function fmtClock(ms) {
  return new Intl.DateTimeFormat(state.labels.locale || "zh-CN", {
    timeZone: TIMEZONE,
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
  }).format(new Date(ms));
}

function zoneParts(ms) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: TIMEZONE,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).formatToParts(new Date(ms));
  const get = (type) => Number(parts.find((p) => p.type === type).value);
  return {
    y: get("year"),
    m: get("month"),
    d: get("day"),
    h: get("hour"),
    mi: get("minute"),
    s: get("second"),
  };
}

// A wall time in the service's time zone ("2026-11-23T09:30" or a date) as an instant.
function zonedToIso(local) {
  const [date, time = "00:00"] = local.split("T");
  const [y, m, d] = date.split("-").map(Number);
  const [h, mi] = time.split(":").map(Number);
  const wall = Date.UTC(y, m - 1, d, h, mi);
  let guess = wall;
  for (let i = 0; i < 2; i += 1) {
    const p = zoneParts(guess);
    const offset = Date.UTC(p.y, p.m - 1, p.d, p.h, p.mi, p.s) - Math.floor(guess / 1000) * 1000;
    guess = wall - offset;
  }
  return new Date(guess).toISOString().replace(".000Z", "Z");
}

const pad = (n) => String(n).padStart(2, "0");

function zonedDate(ms) {
  const p = zoneParts(ms);
  return `${p.y}-${pad(p.m)}-${pad(p.d)}`;
}

function addDays(date, days) {
  const [y, m, d] = date.split("-").map(Number);
  const next = new Date(Date.UTC(y, m - 1, d + days));
  return next.toISOString().slice(0, 10);
}

function fmtDuration(ms) {
  const total = Math.floor(Math.abs(ms) / 1000);
  const days = Math.floor(total / 86400);
  const hms = `${pad(Math.floor((total % 86400) / 3600))}:${pad(Math.floor((total % 3600) / 60))}:${pad(total % 60)}`;
  return days ? t("countdown.days", { d: days, hms }) : hms;
}

// -- deadlines: the traffic light and the live countdown -------------------------------

// Green; amber from the warning lead (20% of the timer's length, at most 4 h) before
// its due time; red once breached or past due.
function timerLight(due, start, at) {
  if (due <= at) return "red";
  const lead = Math.min(WARNING_SHARE * Math.max(due - start, 0), WARNING_CAP_MS);
  return due - at <= lead ? "amber" : "green";
}

const RANK = { none: 0, green: 1, amber: 2, red: 3 };

// A breach that no later entry of the same timer kind has replaced, on an open ticket.
function standingBreach(ticket) {
  if (!OPEN_STATUSES.includes(ticket.status)) return false;
  const last = new Map();
  for (const timer of ticket.timers || []) last.set(timer.kind, timer);
  return [...last.values()].some((timer) => timer.state === "breached");
}

function deadlineWidget(timers, { breached = false, withKind = true } = {}) {
  const running = (timers || []).filter((x) => x.state === "running");
  const box = el("span", { class: "deadline" });
  box.dataset.timers = running
    .map((x) => `${Date.parse(x.due_at)}|${Date.parse(x.started_at || x.due_at)}|${x.kind}`)
    .join(";");
  box.dataset.breached = breached ? "1" : "0";
  box.dataset.kind = withKind ? "1" : "0";
  box.append(el("span", { class: "light" }), el("span", { class: "countdown" }));
  updateDeadline(box, now());
  return box;
}

function updateDeadline(box, at) {
  const timers = box.dataset.timers
    ? box.dataset.timers.split(";").map((entry) => {
        const [due, start, kind] = entry.split("|");
        return { due: Number(due), start: Number(start), kind };
      })
    : [];
  let light = box.dataset.breached === "1" ? "red" : "none";
  for (const timer of timers) {
    const candidate = timerLight(timer.due, timer.start, at);
    if (RANK[candidate] > RANK[light]) light = candidate;
  }
  const [lamp, countdown] = box.children;
  lamp.className = `light light-${light}`;
  lamp.textContent = t(`light.${light}`);
  const nearest = timers.sort((a, b) => a.due - b.due)[0];
  if (!nearest) {
    countdown.textContent = box.dataset.breached === "1" ? "" : t("countdown.none");
    countdown.className = "countdown muted";
    return;
  }
  const left = nearest.due - at;
  const text =
    left >= 0
      ? t("countdown.left", { time: fmtDuration(left) })
      : t("countdown.over", { time: fmtDuration(left) });
  countdown.textContent = box.dataset.kind === "1" ? `${label("timer", nearest.kind)} ${text}` : text;
  countdown.className = left >= 0 ? "countdown" : "countdown over";
}

function ticketDeadline(ticket) {
  return deadlineWidget(ticket.timers, { breached: standingBreach(ticket) });
}

setInterval(() => {
  const at = now();
  for (const box of document.querySelectorAll(".deadline")) updateDeadline(box, at);
}, 1000);

// -- the API ----------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

function csrfToken() {
  const match = document.cookie.split("; ").find((c) => c.startsWith("hotline_csrf="));
  return match ? decodeURIComponent(match.slice("hotline_csrf=".length)) : state.session?.csrf || "";
}

async function api(path, { method = "GET", body, headers = {}, accept = "application/json" } = {}) {
  const init = {
    method,
    headers: { Accept: accept, ...headers },
    credentials: "same-origin",
    cache: "no-store",
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (method !== "GET" && method !== "HEAD") init.headers["X-CSRF-Token"] = csrfToken();
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, null);
  }
  const type = response.headers.get("content-type") || "";
  let data = null;
  if (response.status !== 204) data = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    if (response.status === 401 && state.session && !path.startsWith("/console/session")) sessionExpired();
    throw new ApiError(response.status, typeof data === "object" ? data : { detail: data });
  }
  return { data, headers: response.headers, status: response.status };
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "" && value !== false)
      search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

function newKey() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

function fieldName(loc) {
  const name = [...(loc || [])].reverse().find((part) => typeof part === "string" && part !== "body");
  if (!name) return "";
  for (const group of ["form", "fields", "event_data"]) {
    const value = state.labels[group]?.[name];
    if (typeof value === "string") return value;
  }
  return name;
}

function validationMessage(msg) {
  const known = state.labels.validation || {};
  for (const [prefix, text] of Object.entries(known)) if ((msg || "").startsWith(prefix)) return text;
  return msg;
}

// A problem in words (Chinese): what went wrong and what the page does about it.
function explain(error) {
  if (!(error instanceof ApiError))
    return t("problems.other", { status: "", detail: String(error?.message || error) });
  const problem = error.problem;
  const slug = String(problem.type || "")
    .split(":")
    .pop();
  switch (error.status) {
    case 0:
      return t("problems.network");
    case 409: {
      if (slug === "already-claimed" || slug === "return-not-allowed") return t(`problems.${slug}`);
      const allowed = problem.allowed_actions || [];
      return allowed.length
        ? t("problems.409", { allowed: allowed.map((a) => label("actions", a)).join("、") })
        : t("problems.409_none");
    }
    case 422: {
      const details = (problem.errors || [])
        .map((e) => [fieldName(e.loc), validationMessage(e.msg)].filter(Boolean).join("："))
        .join("；");
      return details ? t("problems.422", { details }) : t("problems.422_generic");
    }
    case 401:
    case 403:
    case 404:
    case 412:
    case 413:
    case 429:
      return t(`problems.${error.status}`);
    default:
      return t("problems.other", { status: error.status, detail: problem.detail || problem.title || "" });
  }
}

// -- the shell: session, navigation, routing --------------------------------------------

function applyStaticLabels() {
  const skip = document.getElementById("skip-link");
  skip.textContent = t("app.skip");
  // The hash holds the page's address, so the skip link moves the focus instead.
  skip.addEventListener("click", (event) => {
    event.preventDefault();
    main().focus();
  });
  document.getElementById("brand").textContent = t("app.short_title");
  document.getElementById("nav").setAttribute("aria-label", t("nav.label"));
  document.getElementById("signout").textContent = t("nav.signout");
  document.title = t("app.title");
}

// Who wrote an event: its principal's name; the service's own work (the sweeper) as 系统.
function actorName(event) {
  return event.actor === "system" ? t("app.system") : event.actor_name || event.actor;
}

function pagesOf(role) {
  return PAGES_BY_ROLE[role] || ["queue"];
}

function landing() {
  return `#/${pagesOf(state.session.role)[0]}`;
}

function showShell() {
  const session = state.session;
  document.getElementById("topbar").hidden = false;
  document.getElementById("who").textContent = t("app.signed_in_as", {
    name: session.name,
    role: label("roles", session.role),
  });
  const list = el(
    "ul",
    {},
    pagesOf(session.role).map((page) =>
      el("li", {}, el("a", { href: `#/${page}`, dataset: { page } }, t(`nav.${page}`))),
    ),
  );
  document.getElementById("nav").replaceChildren(list);
}

function hideShell() {
  document.getElementById("topbar").hidden = true;
  document.getElementById("nav").replaceChildren();
  document.getElementById("who").textContent = "";
}

async function loadReference() {
  const [departments, rules] = await Promise.allSettled([
    api("/v1/departments?limit=500"),
    api("/v1/routing-rules?limit=500"),
  ]);
  state.departments = new Map();
  if (departments.status === "fulfilled") {
    for (const d of departments.value.data.items) state.departments.set(d.code, d);
  }
  state.topics = new Map();
  const grids = new Set();
  if (rules.status === "fulfilled") {
    for (const rule of rules.value.data.items) {
      if (rule.topic && !state.topics.has(rule.topic)) state.topics.set(rule.topic, rule.label || rule.topic);
      else if (rule.topic && rule.label) state.topics.set(rule.topic, rule.label);
      if (rule.grid) grids.add(rule.grid);
    }
  }
  state.grids = [...grids].sort();
}

function departmentName(code) {
  if (!code) return t("app.none");
  return state.departments.get(code)?.name || code;
}

function topicName(code) {
  if (!code) return t("app.none");
  const name = state.topics.get(code);
  return name && name !== code ? `${name}（${code}）` : code;
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, search = ""] = raw.split("?");
  const [name = "", ...rest] = path.split("/");
  return { name, arg: rest.map(decodeURIComponent).join("/"), query: new URLSearchParams(search) };
}

// One page at a time; leaving it stops its polls and ignores its late answers.
class PageContext {
  constructor(route) {
    Object.assign(this, route);
    this.alive = true;
    this.timers = [];
  }

  every(ms, fn) {
    this.timers.push(setInterval(() => this.alive && fn(), ms));
  }

  // Whether a poll brought anything new: an unchanged answer is not redrawn, so the
  // focus and the reader's place stay where they are (countdowns tick by themselves).
  changed(name, value) {
    this.seen ??= new Map();
    const text = JSON.stringify(value);
    if (this.seen.get(name) === text) return false;
    this.seen.set(name, text);
    return true;
  }

  stop() {
    this.alive = false;
    for (const id of this.timers) clearInterval(id);
  }
}

const PAGES = {
  queue: renderQueue,
  tickets: renderTicket,
  intake: renderIntake,
  supervision: renderSupervision,
  stats: renderStats,
  board: renderBoard,
  leaderboard: renderLeaderboard,
};

function route() {
  state.page?.stop();
  const dialog = document.getElementById("dialog");
  if (dialog.open) dialog.close();
  if (!state.session) {
    renderSignIn();
    return;
  }
  const current = parseHash();
  if (!current.name || !PAGES[current.name]) {
    location.replace(landing());
    return;
  }
  const allowed = current.name === "tickets" || pagesOf(state.session.role).includes(current.name);
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.page === current.name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const ctx = new PageContext(current);
  state.page = ctx;
  if (!allowed) {
    setMain(
      el("h1", {}, t("app.title")),
      el("p", { class: "alert", role: "alert" }, t("app.forbidden_page")),
    );
    return;
  }
  PAGES[current.name](ctx).catch((error) => {
    if (!ctx.alive) return;
    setMain(el("h1", {}, t("app.title")), el("p", { class: "alert", role: "alert" }, explain(error)));
  });
}

function sessionExpired() {
  state.session = null;
  state.page?.stop();
  hideShell();
  renderSignIn(t("signin.expired"));
}

async function signOut() {
  try {
    await api("/console/session", { method: "DELETE" });
  } catch {
    // The cookies are gone either way once the page forgets the session.
  }
  state.session = null;
  state.page?.stop();
  hideShell();
  history.replaceState(null, "", location.pathname + location.search);
  renderSignIn();
  notice(t("signin.signed_out"));
}

function renderSignIn(message = "") {
  pageTitle(t("signin.heading"));
  const input = el("input", {
    id: "token",
    name: "token",
    type: "password",
    autocomplete: "current-password",
    required: true,
    spellcheck: "false",
  });
  const alert = el("p", { class: "alert", role: "alert" }, message);
  const button = el("button", { type: "submit", class: "btn btn-primary" }, t("signin.submit"));
  const form = el(
    "form",
    { class: "panel signin", novalidate: true },
    el("h1", {}, t("app.title")),
    el("p", { class: "muted" }, t("signin.intro")),
    alert,
    el("div", { class: "field" }, el("label", { for: "token" }, t("signin.token")), input),
    el("div", { class: "buttons" }, button),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) {
      alert.textContent = t("signin.bad_token");
      input.focus();
      return;
    }
    button.disabled = true;
    try {
      const { data } = await api("/console/session", { method: "POST", body: { token } });
      state.session = data;
      await loadReference();
      showShell();
      if (!parseHash().name) location.hash = landing();
      else route();
    } catch (error) {
      alert.textContent =
        error.status === 401 || error.status === 422 ? t("signin.bad_token") : explain(error);
      input.select();
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
  setMain(form);
  input.focus();
}

// -- shared widgets -----------------------------------------------------------------------

function statusBadge(status) {
  return el("span", { class: "badge badge-info" }, label("status", status));
}

function flags(ticket) {
  return [
    ticket.urgency && ticket.urgency !== "normal"
      ? el("span", { class: "badge badge-warn" }, label("urgency", ticket.urgency))
      : null,
    ticket.overdue ? el("span", { class: "badge badge-warn" }, t("fields.overdue")) : null,
    ticket.supervised ? el("span", { class: "badge badge-warn" }, t("fields.supervised")) : null,
  ];
}

function ticketLink(ticket, options = {}) {
  return el(
    "a",
    { href: `#/tickets/${encodeURIComponent(ticket.id)}`, class: "ticket-no", ...options },
    ticket.number,
  );
}

// A cell that a phone shows as "label: value" (the table turns into cards there).
function td(name, ...children) {
  return el("td", { "data-label": name }, el("div", {}, ...children));
}

function table(headers, rows, { caption, cards = true } = {}) {
  return el(
    "div",
    { class: "table-wrap" },
    el(
      "table",
      { class: cards ? "cards" : "" },
      caption ? el("caption", {}, caption) : null,
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          headers.map((h) => el("th", { scope: "col", class: h.num ? "num" : "" }, h.text ?? h)),
        ),
      ),
      el("tbody", {}, rows),
    ),
  );
}

function selectField(id, text, options, { value = "", blank = null, required = false, hint = null } = {}) {
  const select = el(
    "select",
    { id, name: id, required, value },
    blank !== null ? el("option", { value: "" }, blank) : null,
    options.map(([code, name]) => el("option", { value: code }, name)),
  );
  select.value = value;
  return el(
    "div",
    { class: "field" },
    el("label", { for: id }, text),
    hint ? el("span", { class: "hint" }, hint) : null,
    select,
  );
}

function inputField(id, text, { type = "text", value = "", required = false, hint = null, ...rest } = {}) {
  const hintId = hint ? `${id}-hint` : null;
  return el(
    "div",
    { class: "field" },
    el("label", { for: id }, text),
    hint ? el("span", { class: "hint", id: hintId }, hint) : null,
    el("input", { id, name: id, type, value, required, "aria-describedby": hintId, ...rest }),
  );
}

function textareaField(id, text, { required = false, maxlength = 2000, value = "" } = {}) {
  return el(
    "div",
    { class: "field" },
    el("label", { for: id }, text),
    el("textarea", { id, name: id, required, maxlength, value }),
  );
}

function choiceField(name, text, options, { type = "radio", value = null, required = false } = {}) {
  return el(
    "fieldset",
    {},
    el("legend", {}, text),
    el(
      "div",
      { class: "choices" },
      options.map(([code, caption]) => {
        const id = nextId(name);
        return el(
          "label",
          { for: id },
          el("input", {
            id,
            type,
            name,
            value: code,
            required: required && type === "radio",
            checked: Array.isArray(value) ? value.includes(code) : value === code,
          }),
          caption,
        );
      }),
    ),
  );
}

function options(group, codes) {
  return codes.map((code) => [code, label(group, code)]);
}

function departmentOptions(exclude = null) {
  return [...state.departments.values()]
    .filter((d) => d.code !== exclude)
    .map((d) => [d.code, `${d.name}（${label("platform", d.platform)}）`]);
}

// A period picked as two dates (the second included), this month so far by default.
function periodFields(search, prefix) {
  const today = zonedDate(now());
  const from = search.get("from") || `${today.slice(0, 8)}01`;
  const to = search.get("to") || today;
  return {
    from,
    to,
    nodes: [
      inputField(`${prefix}-from`, t(`${prefix}.from`), { type: "date", value: from, required: true }),
      inputField(`${prefix}-to`, t(`${prefix}.to`), { type: "date", value: to, required: true }),
    ],
  };
}

function updatedLine() {
  return el("p", { class: "muted small", "aria-live": "off" });
}

function stamp(line) {
  line.textContent = t("app.updated_at", { time: fmtClock(now()) });
}

// -- queue ----------------------------------------------------------------------------------

async function renderQueue(ctx) {
  pageTitle(t("queue.heading"));
  const q = ctx.query;
  const role = state.session.role;
  const filters = el(
    "form",
    { class: "panel filters", role: "search", "aria-label": t("queue.filters") },
    selectField("f-status", t("fields.status"), options("status", ALL_STATUSES), {
      value: q.get("status") || "",
      blank: t("app.all"),
    }),
    role === "department"
      ? null
      : selectField("f-department", t("fields.department"), departmentOptions(), {
          value: q.get("department_code") || "",
          blank: t("app.all"),
        }),
    el(
      "div",
      { class: "field grow" },
      el("label", { for: "f-q" }, t("queue.q")),
      el("input", { id: "f-q", type: "search", value: q.get("q") || "" }),
    ),
    el(
      "label",
      { class: "check" },
      el("input", { type: "checkbox", id: "f-overdue", checked: q.get("overdue") === "true" }),
      t("queue.only_overdue"),
    ),
    el(
      "label",
      { class: "check" },
      el("input", { type: "checkbox", id: "f-supervised", checked: q.get("supervised") === "true" }),
      t("queue.only_supervised"),
    ),
    el(
      "div",
      { class: "buttons" },
      el("button", { type: "submit", class: "btn btn-primary" }, t("app.filter")),
      el("a", { class: "btn", href: "#/queue" }, t("app.reset")),
    ),
  );
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = {
      status: filters.querySelector("#f-status").value,
      department_code: filters.querySelector("#f-department")?.value,
      q: filters.querySelector("#f-q").value.trim(),
      overdue: filters.querySelector("#f-overdue").checked ? "true" : "",
      supervised: filters.querySelector("#f-supervised").checked ? "true" : "",
    };
    location.hash = `#/queue${query(params)}`;
  });
  const count = el("p", { class: "muted small", role: "status" });
  const list = el("div");
  const more = el("button", { type: "button", class: "btn", hidden: true }, t("app.more"));
  const line = updatedLine();
  setMain(
    el("div", { class: "page-head" }, el("h1", {}, t("queue.heading")), line),
    filters,
    count,
    list,
    el("div", { class: "buttons" }, more),
  );
  focusHeading();

  const base = {
    status: q.get("status"),
    department_code: q.get("department_code"),
    q: q.get("q"),
    overdue: q.get("overdue"),
    supervised: q.get("supervised"),
  };
  let items = [];
  let cursor = null;

  const draw = () => {
    const focused = document.activeElement?.dataset?.ticketId;
    const headers = [
      t("fields.number"),
      t("fields.status"),
      t("fields.category"),
      t("fields.content"),
      t("fields.department"),
      t("fields.deadline"),
    ];
    const rows = items.map((ticket) =>
      el(
        "tr",
        {},
        td(headers[0], ticketLink(ticket, { dataset: { ticketId: ticket.id } })),
        td(headers[1], statusBadge(ticket.status), " ", flags(ticket)),
        td(headers[2], `${label("category", ticket.category)} · ${topicName(ticket.topic)}`),
        td(headers[3], el("span", { class: "excerpt" }, excerpt(ticket.content, 80))),
        td(
          headers[4],
          ticket.department_code
            ? departmentName(ticket.department_code)
            : ticket.member_id
              ? t("fields.member")
              : t("app.none"),
        ),
        td(headers[5], ticketDeadline(ticket)),
      ),
    );
    list.replaceChildren(
      items.length ? table(headers, rows) : el("p", { class: "panel muted" }, t("app.empty")),
    );
    count.textContent = t("queue.count", { n: items.length });
    more.hidden = !cursor;
    if (focused) list.querySelector(`[data-ticket-id="${CSS.escape(focused)}"]`)?.focus();
  };

  const load = async ({ append = false } = {}) => {
    const limit = append ? 50 : Math.min(Math.max(items.length, 50), 500);
    const { data } = await api(`/v1/tickets${query({ ...base, limit, cursor: append ? cursor : null })}`);
    if (!ctx.alive) return;
    items = append ? [...items, ...data.items] : data.items;
    cursor = data.next_cursor;
    stamp(line);
    if (ctx.changed("queue", [items, cursor])) draw();
  };
  more.addEventListener("click", () => load({ append: true }).catch((e) => notice(explain(e))));
  await load();
  ctx.every(POLL_MS, () => load().catch(() => {}));
}

// -- ticket ---------------------------------------------------------------------------------

async function renderTicket(ctx) {
  const id = ctx.arg;
  const alert = el("div", { class: "alert", role: "alert" });
  const body = el("div");
  // Back to the role's own first page (a member's is the board: it has no queue page).
  const home = pagesOf(state.session.role)[0];
  const back = el("a", { href: `#/${home}` }, `← ${t("ticket.back", { page: t(`nav.${home}`) })}`);
  setMain(el("p", {}, back), alert, body);
  pageTitle(t("fields.details"));
  let ticket = null;

  // After an action its answer is the ticket as it now is: only the timeline is fetched.
  const load = async (known = null) => {
    try {
      const [one, events] = await Promise.all([
        known ? { data: known } : api(`/v1/tickets/${encodeURIComponent(id)}`),
        api(`/v1/tickets/${encodeURIComponent(id)}/events?limit=500`),
      ]);
      if (!ctx.alive) return;
      ticket = one.data;
      if (ctx.changed("ticket", [ticket, events.data.items])) draw(ticket, events.data.items);
    } catch (error) {
      if (!ctx.alive) return;
      if (error.status === 404 || error.status === 422) {
        ticket = null;
        pageTitle(t("problems.404"));
        body.replaceChildren(
          el("h1", {}, t("problems.404")),
          el("p", { class: "alert", role: "alert" }, t("ticket.not_found")),
        );
        return;
      }
      throw error;
    }
  };

  const afterProblem = async (error) => {
    alert.textContent = `${explain(error)} ${t("problems.now_showing")}`;
    await load();
    alert.focus?.();
  };

  const draw = (ticket, events) => {
    pageTitle(t("ticket.heading", { number: ticket.number }));
    const actions = ticket.allowed_actions || [];
    const actionBar = el(
      "section",
      { "aria-labelledby": "actions-h", class: "panel" },
      el("h2", { id: "actions-h" }, t("actions.heading")),
      actions.length
        ? el(
            "div",
            { class: "actions-bar" },
            actions.map((action) =>
              el(
                "button",
                {
                  type: "button",
                  class: "btn",
                  dataset: { action },
                  onclick: () =>
                    openActionDialog(ticket, action, {
                      done: (updated) => {
                        alert.textContent = "";
                        notice(t("app.done", { what: label("actions", action) }));
                        load(updated).catch((error) => (alert.textContent = explain(error)));
                      },
                      failed: afterProblem,
                    }),
                },
                label("actions", action),
              ),
            ),
          )
        : el("p", { class: "muted" }, t("actions.none")),
    );
    const caller = ticket.caller || {};
    const place = ticket.location || {};
    const facts = [
      [t("fields.status"), [statusBadge(ticket.status), " ", flags(ticket)]],
      [t("fields.kind"), label("kind", ticket.kind)],
      [t("fields.channel"), label("channel", ticket.channel)],
      [t("fields.category"), label("category", ticket.category)],
      [t("fields.topic"), topicName(ticket.topic)],
      [t("fields.urgency"), label("urgency", ticket.urgency)],
      [t("fields.content"), el("span", { class: "content-text" }, ticket.content)],
      [
        t("fields.caller"),
        [
          el("span", { class: "caller-shown" }, [
            caller.name || t("app.none"),
            " · ",
            caller.phone || t("app.none"),
          ]),
          caller.confidential ? ` · ${t("fields.confidential_short")}` : "",
          mayReveal(ticket) ? [" ", revealButton(ticket, afterProblem)] : null,
        ],
      ],
      [
        t("fields.special_groups"),
        (caller.special_groups || []).map((g) => label("special_groups", g)).join("、") || t("app.none"),
      ],
      [
        t("fields.location"),
        [place.grid || "", place.grid && place.address ? " · " : "", place.address || ""].join("") ||
          t("app.none"),
      ],
      ticket.skills?.length ? [t("fields.skills"), ticket.skills.join("、")] : null,
      [t("fields.department"), departmentName(ticket.department_code)],
      ticket.member_id ? [t("fields.member"), ticket.member_id] : null,
      ticket.result ? [t("fields.result"), el("span", { class: "content-text" }, ticket.result)] : null,
      ticket.satisfaction ? [t("fields.satisfaction"), label("satisfaction", ticket.satisfaction)] : null,
      ticket.pending_extension
        ? [
            t("fields.pending_extension"),
            `${fmtTime(ticket.pending_extension.until)} · ${ticket.pending_extension.reason || ""}`,
          ]
        : null,
      ticket.parent_id
        ? [t("fields.parent"), el("a", { href: `#/tickets/${ticket.parent_id}` }, ticket.parent_id)]
        : null,
      ticket.children?.length
        ? [
            t("fields.children"),
            ticket.children.map((c, i) => [
              i ? "、" : "",
              el("a", { href: `#/tickets/${c}` }, c.slice(0, 8)),
            ]),
          ]
        : null,
      ticket.merged_into
        ? [
            t("fields.merged_into"),
            el("a", { href: `#/tickets/${ticket.merged_into}` }, ticket.merged_into.slice(0, 8)),
          ]
        : null,
      ticket.merged_ids?.length
        ? [
            t("fields.merged_ids"),
            ticket.merged_ids.map((c, i) => [
              i ? "、" : "",
              el("a", { href: `#/tickets/${c}` }, c.slice(0, 8)),
            ]),
          ]
        : null,
      ticket.on_the_spot ? [t("fields.on_the_spot"), t("app.yes")] : null,
      [t("fields.created_at"), fmtTime(ticket.created_at)],
      [t("fields.updated_at"), fmtTime(ticket.updated_at)],
      [t("fields.version"), String(ticket.version)],
    ].filter(Boolean);
    const timerHeaders = [
      t("fields.timer_kind"),
      t("fields.timer_state"),
      t("fields.due_at"),
      t("fields.countdown"),
      t("fields.ended_at"),
    ];
    const timerRows = (ticket.timers || []).map((timer) =>
      el(
        "tr",
        {},
        td(timerHeaders[0], label("timer", timer.kind)),
        td(timerHeaders[1], label("timer_state", timer.state)),
        td(timerHeaders[2], fmtTime(timer.due_at)),
        td(
          timerHeaders[3],
          timer.state === "running" ? deadlineWidget([timer], { withKind: false }) : t("app.none"),
        ),
        td(timerHeaders[4], fmtTime(timer.met_at || timer.breached_at)),
      ),
    );
    body.replaceChildren(
      el(
        "div",
        { class: "page-head" },
        el("h1", {}, t("ticket.heading", { number: ticket.number })),
        ticketDeadline(ticket),
      ),
      actionBar,
      el(
        "div",
        { class: "split" },
        el(
          "section",
          { class: "panel", "aria-labelledby": "details-h" },
          el("h2", { id: "details-h" }, t("fields.details")),
          el(
            "dl",
            { class: "facts" },
            facts.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]),
          ),
        ),
        el(
          "div",
          {},
          el(
            "section",
            { class: "panel", "aria-labelledby": "timers-h" },
            el("h2", { id: "timers-h" }, t("fields.timers")),
            timerRows.length ? table(timerHeaders, timerRows) : el("p", { class: "muted" }, t("app.empty")),
          ),
          el(
            "section",
            { class: "panel", "aria-labelledby": "timeline-h" },
            el("h2", { id: "timeline-h" }, t("fields.timeline")),
            el("ol", { class: "timeline" }, events.map(eventItem)),
          ),
        ),
      ),
    );
  };

  await load();
  if (ticket) focusHeading(body);
  ctx.every(POLL_MS, () => {
    if (!document.getElementById("dialog").open) load().catch(() => {});
  });
}

function eventItem(event) {
  const data = event.data || {};
  const shown = [];
  for (const key of Object.keys(state.labels.event_data || {})) {
    if (data[key] === undefined || data[key] === null || data[key] === "") continue;
    let value = data[key];
    if (key === "department_code") value = departmentName(value);
    else if (key === "satisfaction") value = label("satisfaction", value);
    else if (key === "outcome") value = label("outcome", value);
    else if (key === "timer") value = label("timer", value);
    else if (key === "reason" && event.type.startsWith("supervision."))
      value = t(`supervision.reason_${value}`);
    else if (key === "resolved") value = value ? t("app.yes") : t("app.no");
    else if (key === "until" || key === "due_at") value = fmtTime(value);
    shown.push(`${t(`event_data.${key}`)}：${value}`);
  }
  const move =
    event.from_status && event.to_status && event.from_status !== event.to_status
      ? ` · ${label("status", event.from_status)} → ${label("status", event.to_status)}`
      : "";
  return el(
    "li",
    {},
    el(
      "div",
      {},
      el("span", { class: "what" }, label("events", event.type)),
      el("span", { class: "muted small" }, move),
    ),
    el("div", { class: "muted small" }, `${fmtTime(event.at)} · ${actorName(event)}`),
    shown.length ? el("div", { class: "data" }, shown.join("；")) : null,
  );
}

// -- action forms: exactly the body each action takes ---------------------------------------

// Each builder returns [node, collect(body)] pairs; collect may look something up.
function noteInput(name, textKey, { required = true, maxlength = 2000 } = {}) {
  const id = nextId(name);
  const node = textareaField(id, t(textKey), { required, maxlength });
  return [
    node,
    (body) => {
      const value = node.querySelector("textarea").value.trim();
      if (value) body[name] = value;
    },
  ];
}

function radioInput(name, group, codes, textKey, { bool = false } = {}) {
  const node = choiceField(nextId(name), t(textKey), options(group, codes), { required: true });
  return [
    node,
    (body) => {
      const picked = node.querySelector("input:checked");
      if (picked) body[name] = bool ? picked.value === "true" : picked.value;
    },
  ];
}

function departmentInput(name, { required = true, exclude = null, blank = null } = {}) {
  const id = nextId(name);
  const node = selectField(id, t("form.department_code"), departmentOptions(exclude), {
    blank: blank ?? t("form.choose"),
    required,
  });
  return [
    node,
    (body) => {
      const value = node.querySelector("select").value;
      if (value) body[name] = value;
    },
  ];
}

// 派往: a department or a member, one of the two body fields.
function targetInput(departmentField, memberField, { optional = false } = {}) {
  const group = nextId("target");
  const deptId = nextId("dept");
  const memberId = nextId("member");
  const departmentSelect = el(
    "select",
    { id: deptId },
    el("option", { value: "" }, optional ? t("form.keep_holder") : t("form.choose")),
    departmentOptions().map(([code, name]) => el("option", { value: code }, name)),
  );
  const memberSelect = el(
    "select",
    { id: memberId, disabled: true },
    el("option", { value: "" }, t("app.loading")),
  );
  const deptRow = el(
    "div",
    { class: "field" },
    el("label", { for: deptId }, t("form.department_code")),
    departmentSelect,
  );
  const memberRow = el(
    "div",
    { class: "field", hidden: true },
    el("label", { for: memberId }, t("form.member_id")),
    memberSelect,
  );
  const choice = choiceField(
    group,
    t("form.target"),
    [
      ["department", t("form.target_department")],
      ["member", t("form.target_member")],
    ],
    { value: "department" },
  );
  choice.addEventListener("change", () => {
    const member = choice.querySelector("input:checked")?.value === "member";
    deptRow.hidden = member;
    memberRow.hidden = !member;
  });
  api("/v1/members?available=true&limit=500")
    .then(({ data }) => {
      memberSelect.replaceChildren(
        el("option", { value: "" }, optional ? t("form.keep_holder") : t("form.choose")),
        ...data.items.map((m) =>
          el("option", { value: m.id }, `${m.name}（${m.branch || ""} ${m.skills.join("、")}）`),
        ),
      );
      memberSelect.disabled = false;
    })
    .catch(() => {
      memberSelect.replaceChildren(el("option", { value: "" }, t("app.none")));
    });
  return [
    el("div", {}, choice, deptRow, memberRow),
    (body) => {
      const member = choice.querySelector("input:checked")?.value === "member";
      const value = (member ? memberSelect : departmentSelect).value;
      if (value) body[member ? memberField : departmentField] = value;
    },
  ];
}

function dateTimeInput(name, textKey, { required = true } = {}) {
  const id = nextId(name);
  const node = inputField(id, t(textKey), { type: "datetime-local", required });
  return [
    node,
    (body) => {
      const value = node.querySelector("input").value;
      if (value) body[name] = zonedToIso(value);
    },
  ];
}

class FormProblem extends Error {}

function mergeInput(name) {
  const id = nextId(name);
  const node = inputField(id, t("form.into"), {
    required: true,
    hint: t("form.into_hint"),
    inputmode: "numeric",
    autocomplete: "off",
  });
  return [
    node,
    async (body) => {
      const value = node.querySelector("input").value.trim();
      if (!value) return;
      if (!/^\d+$/.test(value)) {
        body[name] = value;
        return;
      }
      const { data } = await api(`/v1/tickets${query({ q: value, limit: 20 })}`);
      const match = data.items.find((item) => item.number === value);
      if (!match) throw new FormProblem(t("form.into_unknown", { number: value }));
      body[name] = match.id;
    },
  ];
}

function plainInput(name, textKey, { required = false, value = "", path = null } = {}) {
  const id = nextId(name);
  const node = inputField(id, t(textKey), { required, value, autocomplete: "off" });
  return [
    node,
    (body) => {
      const v = node.querySelector("input").value.trim();
      if (v) (path ? path(body) : body)[name] = v;
    },
  ];
}

// The dispute kinds the service knows (six by default, more may be added).
function disputeKindInput(name) {
  const id = nextId(name);
  const node = selectField(id, t("form.dispute_kind"), options("dispute_kind", DISPUTE_KINDS), {
    blank: t("form.choose"),
    required: true,
  });
  const select = node.querySelector("select");
  api("/v1/dispute-kinds?limit=500")
    .then(({ data }) => {
      const chosen = select.value;
      select.replaceChildren(
        el("option", { value: "" }, t("form.choose")),
        // The API lists the newest first: offer them in the order they were entered.
        ...data.items
          .slice()
          .reverse()
          .map((k) => el("option", { value: k.code }, k.name || label("dispute_kind", k.code))),
      );
      select.value = chosen;
    })
    .catch(() => {});
  return [
    node,
    (body) => {
      if (select.value) body[name] = select.value;
    },
  ];
}

// One party (当事人) of a dispute: its fields go to body.parties[0].
const firstParty = (body) => {
  body.parties = body.parties || [{}];
  return body.parties[0];
};

// The fields each action's body takes (tests compare them with the API's body models).
const ACTION_FORMS = {
  dispatch: () => [targetInput("department_code", "member_id")],
  claim: () => [],
  accept: () => [],
  return: () => [noteInput("reason", "form.reason")],
  reject_return: () => [noteInput("note", "form.note")],
  callback: () => [
    radioInput("outcome", "outcome", ["reached", "unreachable"], "form.outcome"),
    noteInput("note", "form.note_optional", { required: false }),
  ],
  request_extension: () => [dateTimeInput("until", "form.until"), noteInput("reason", "form.reason")],
  approve_extension: () => [noteInput("note", "form.note_optional", { required: false })],
  deny_extension: () => [noteInput("note", "form.note_optional", { required: false })],
  resolve: () => [noteInput("result", "form.result", { maxlength: 5000 })],
  review: () => [
    radioInput("satisfaction", "satisfaction", SATISFACTIONS, "form.satisfaction"),
    radioInput("resolved", "resolved_choice", ["true", "false"], "form.resolved", { bool: true }),
    noteInput("note", "form.note_optional", { required: false }),
  ],
  reopen: () => [
    noteInput("reason", "form.reason"),
    targetInput("department_code", "member_id", { optional: true }),
  ],
  merge: () => [mergeInput("into")],
  discard: () => [noteInput("reason", "form.reason")],
  supervise: () => [noteInput("note", "form.note")],
  comment: () => [noteInput("note", "form.note")],
  refer: (ticket) => [
    departmentInput("department_code", { exclude: ticket.department_code }),
    noteInput("note", "form.note"),
  ],
  open_dispute: () => [
    disputeKindInput("kind"),
    noteInput("summary", "form.summary", { maxlength: 5000 }),
    plainInput("name", "form.party_name", { required: true, path: firstParty }),
    plainInput("phone", "form.party_phone", { path: firstParty }),
    plainInput("role", "form.party_role", {
      required: true,
      value: t("form.party_role_default"),
      path: firstParty,
    }),
    plainInput("grid", "form.grid"),
    dateTimeInput("next_review_at", "form.next_review_at", { required: false }),
  ],
};

// Who may see a caller's full number (API.md: an operator, a supervisor or the ticket's own
// department, never a confidential caller's to a department; admins may do everything).
function mayReveal(ticket) {
  const { role, department_code: own } = state.session;
  const caller = ticket.caller || {};
  if (!caller.phone) return false;
  if (["admin", "operator", "supervisor"].includes(role)) return true;
  return role === "department" && ticket.department_code === own && !caller.confidential;
}

// 查看号码: the full number for a stated reason; the service records every reveal.
function revealButton(ticket, onProblem) {
  const button = el("button", { type: "button", class: "btn btn-small" }, t("reveal.button"));
  button.addEventListener("click", () =>
    openDialog({
      title: `${t("reveal.button")} · ${ticket.number}`,
      fields: [noteInput("reason", "reveal.reason", { maxlength: 500 })],
      submitText: t("reveal.button"),
      send: async (body) => {
        if ((body.reason || "").length < 2) throw new FormProblem(t("reveal.reason_short"));
        const path = `/v1/tickets/${encodeURIComponent(ticket.id)}/caller`;
        return (await api(`${path}${query({ reason: body.reason })}`)).data;
      },
      onSuccess: (revealed) => {
        const shown = button.parentElement.querySelector(".caller-shown");
        shown.replaceChildren(
          revealed.name || t("app.none"),
          " · ",
          el("a", { href: `tel:${revealed.phone}`, class: "revealed-phone" }, revealed.phone),
          el("span", { class: "muted" }, ` ${t("reveal.recorded")}`),
        );
        button.remove();
      },
      onProblem,
    }),
  );
  return button;
}

// A small modal form; submits once per opening (one Idempotency-Key), with If-Match.
function openDialog({ title, fields, submitText, send, onSuccess, onProblem }) {
  const dialog = document.getElementById("dialog");
  const titleNode = el("h2", { id: "dialog-title" }, title);
  const alert = el("p", { class: "alert", role: "alert" });
  const submit = el("button", { type: "submit", class: "btn btn-primary" }, submitText);
  const form = el(
    "form",
    { method: "dialog", novalidate: true },
    titleNode,
    alert,
    fields.map(([node]) => node),
    el(
      "div",
      { class: "buttons" },
      submit,
      el("button", { type: "button", class: "btn", onclick: () => dialog.close() }, t("app.cancel")),
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const invalid = [...form.querySelectorAll("input, select, textarea")].find(
      (input) => !input.checkValidity(),
    );
    if (invalid) {
      alert.textContent = `${fieldNameOf(invalid)}：${t("form.required")}`;
      invalid.focus();
      return;
    }
    const body = {};
    submit.disabled = true;
    try {
      for (const [, collect] of fields) await collect(body);
      const result = await send(body);
      dialog.close();
      onSuccess(result);
    } catch (error) {
      if (error instanceof FormProblem) {
        alert.textContent = error.message;
      } else if (error.status === 422 || error.status === 0 || error.status === 429) {
        alert.textContent = explain(error);
      } else {
        dialog.close();
        onProblem(error);
      }
    } finally {
      submit.disabled = false;
    }
  });
  dialog.replaceChildren(form);
  dialog.showModal();
  (form.querySelector("input:not([type=hidden]), select, textarea") || submit).focus();
}

function fieldNameOf(input) {
  const id = input.id;
  const labelNode = id ? input.form.querySelector(`label[for="${CSS.escape(id)}"]`) : null;
  const legend = input.closest("fieldset")?.querySelector("legend");
  return (legend && input.type === "radio" ? legend : labelNode)?.textContent || "";
}

function openActionDialog(ticket, action, { done, failed }) {
  const fields = (ACTION_FORMS[action] || (() => [noteInput("note", "form.note")]))(ticket);
  const key = newKey();
  const name = label("actions", action);
  if (!fields.length)
    fields.push([el("p", {}, t("actions.confirm", { action: name, number: ticket.number })), () => {}]);
  openDialog({
    title: `${name} · ${ticket.number}`,
    fields,
    submitText: name,
    send: async (body) =>
      (
        await api(`/v1/tickets/${encodeURIComponent(ticket.id)}/actions/${action}`, {
          method: "POST",
          body,
          headers: { "If-Match": `"${ticket.version}"`, "Idempotency-Key": key },
        })
      ).data,
    onSuccess: done,
    onProblem: failed,
  });
}

// -- intake -----------------------------------------------------------------------------------

async function renderIntake(ctx) {
  pageTitle(t("intake.heading"));
  const topics = [...state.topics.entries()].map(([code, name]) => [
    code,
    name && name !== code ? `${name}（${code}）` : code,
  ]);
  const alert = el("div", { class: "alert", role: "alert" });
  const skillsRow = inputField("in-skills", t("fields.skills"), {
    hint: t("fields.skills_hint"),
    autocomplete: "off",
  });
  skillsRow.hidden = true;
  const gridList = el(
    "datalist",
    { id: "grid-list" },
    state.grids.map((g) => el("option", { value: g })),
  );
  const form = el(
    "form",
    { class: "panel", novalidate: true, "aria-labelledby": "intake-h" },
    alert,
    el(
      "fieldset",
      {},
      el("legend", {}, t("intake.caller_section")),
      el(
        "div",
        { class: "row" },
        inputField("in-phone", t("fields.caller_phone"), {
          type: "tel",
          autocomplete: "off",
          inputmode: "tel",
          maxlength: 32,
        }),
        inputField("in-name", t("fields.caller_name"), { autocomplete: "off", maxlength: 100 }),
      ),
      choiceField("in-groups", t("fields.special_groups"), options("special_groups", SPECIAL_GROUPS), {
        type: "checkbox",
        value: [],
      }),
      el(
        "label",
        { class: "check" },
        el("input", { type: "checkbox", id: "in-confidential" }),
        t("fields.confidential"),
      ),
    ),
    el(
      "fieldset",
      {},
      el("legend", {}, t("intake.request_section")),
      choiceField("in-kind", t("fields.kind"), options("kind", ["petition", "service_order"]), {
        value: "petition",
      }),
      el(
        "div",
        { class: "row" },
        selectField("in-category", t("fields.category"), options("category", CATEGORIES), {
          blank: t("form.choose"),
          required: true,
        }),
        selectField("in-topic", t("fields.topic"), topics, { blank: t("intake.no_topic") }),
        selectField("in-channel", t("fields.channel"), options("channel", CHANNELS), {
          value: "hotline",
          required: true,
        }),
      ),
      choiceField("in-urgency", t("fields.urgency"), options("urgency", URGENCIES), { value: "normal" }),
      textareaField("in-content", t("fields.content"), { required: true, maxlength: 5000 }),
      skillsRow,
    ),
    el(
      "fieldset",
      {},
      el("legend", {}, t("intake.place_section")),
      el(
        "div",
        { class: "row" },
        inputField("in-grid", t("fields.grid"), { list: "grid-list", autocomplete: "off", maxlength: 64 }),
        el(
          "div",
          { class: "field wide" },
          el("label", { for: "in-address" }, t("fields.address")),
          el("input", { id: "in-address", type: "text", maxlength: 500, autocomplete: "off" }),
        ),
      ),
      gridList,
    ),
    el(
      "div",
      { class: "buttons" },
      el("button", { type: "submit", class: "btn btn-primary", id: "in-save" }, t("intake.save")),
      el("span", { class: "muted small" }, t("intake.shortcut")),
    ),
  );
  const history = el(
    "section",
    { class: "panel", "aria-labelledby": "history-h" },
    el("h2", { id: "history-h" }, t("intake.history")),
  );
  const historyBody = el(
    "div",
    { "aria-live": "polite" },
    el("p", { class: "muted" }, t("intake.history_hint")),
  );
  history.append(historyBody);
  const result = el("section", {
    class: "panel",
    hidden: true,
    "aria-labelledby": "result-h",
    tabindex: "-1",
  });
  setMain(
    el("h1", { id: "intake-h" }, t("intake.heading")),
    el("div", { class: "split" }, form, el("div", {}, result, history)),
  );

  const $ = (sel) => form.querySelector(sel);
  let key = newKey();
  let saved = null;
  let mergedInto = null;
  let earlier = [];

  const drawHistory = () => {
    const others = earlier.filter((item) => !saved || item.id !== saved.id);
    if (!others.length) {
      historyBody.replaceChildren(el("p", { class: "muted" }, t("intake.history_none")));
      return;
    }
    const mergeable = saved && MERGEABLE.includes(saved.status);
    const rows = others.map((item) => {
      const canMerge = mergeable && OPEN_STATUSES.includes(item.status);
      return el(
        "li",
        {},
        el(
          "a",
          { href: `#/tickets/${item.id}`, class: "ticket-no", target: "_blank", rel: "noopener" },
          item.number,
        ),
        " ",
        statusBadge(item.status),
        " ",
        el("span", { class: "muted small" }, fmtTime(item.created_at)),
        el("div", { class: "small" }, excerpt(item.content, 60)),
        canMerge
          ? el(
              "button",
              { type: "button", class: "btn", onclick: () => mergeInto(item) },
              `${t("intake.merge_into")} ${item.number}`,
            )
          : null,
      );
    });
    historyBody.replaceChildren(
      el("p", { class: "badge badge-warn" }, t("intake.history_count", { n: rows.length })),
      el("ul", { class: "timeline" }, rows),
    );
  };

  const mergeInto = async (target) => {
    try {
      const { data } = await api(`/v1/tickets/${saved.id}/actions/merge`, {
        method: "POST",
        body: { into: target.id },
        headers: { "If-Match": `"${saved.version}"`, "Idempotency-Key": newKey() },
      });
      saved = data;
      mergedInto = target;
      notice(t("intake.merged", { number: data.number, into: target.number }));
      drawResult();
      drawHistory();
    } catch (error) {
      alert.textContent = explain(error);
    }
  };

  let phoneTimer = null;
  let lastPhone = "";
  const lookUp = async () => {
    const phone = $("#in-phone")
      .value.replace(/[\s-]/g, "")
      .replace(/^(\+86|0086)/, "");
    if (phone === lastPhone) return;
    lastPhone = phone;
    if (!PHONE_SEARCHERS.includes(state.session.role)) return;
    if (!/^(1[3-9]\d{9}|0\d{9,11})$/.test(phone)) {
      earlier = [];
      historyBody.replaceChildren(el("p", { class: "muted" }, t("intake.history_hint")));
      return;
    }
    try {
      const { data } = await api(`/v1/tickets${query({ caller_phone: phone, limit: 20 })}`);
      if (!ctx.alive || phone !== lastPhone) return;
      earlier = data.items;
      drawHistory();
    } catch (error) {
      historyBody.replaceChildren(el("p", { class: "alert" }, explain(error)));
    }
  };
  $("#in-phone").addEventListener("input", () => {
    clearTimeout(phoneTimer);
    phoneTimer = setTimeout(lookUp, 300);
  });
  $("#in-phone").addEventListener("change", lookUp);
  form.addEventListener("change", (event) => {
    if (event.target.name === "in-kind") skillsRow.hidden = event.target.value !== "service_order";
  });
  form.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  const drawResult = () => {
    const ticket = saved;
    let where;
    if (ticket.status === "merged")
      where = t("intake.merged", { number: ticket.number, into: mergedInto?.number ?? "" });
    else if (ticket.status === "posted") where = t("intake.went_board");
    else if (ticket.status === "received") where = t("intake.went_received");
    else if (ticket.status === "resolved") where = t("intake.went_resolved");
    else if (ticket.department_code)
      where = t("intake.went_department", { department: departmentName(ticket.department_code) });
    else if (ticket.member_id) where = t("intake.went_member", { member: ticket.member_id });
    else where = label("status", ticket.status);
    const timers = (ticket.timers || []).filter((x) => x.state === "running");
    result.replaceChildren(
      el("h2", { id: "result-h" }, t("intake.saved", { number: ticket.number })),
      el("p", { class: "ok", id: "routed-to" }, where, " ", statusBadge(ticket.status)),
      el("h3", {}, t("intake.deadlines")),
      timers.length
        ? el(
            "ul",
            { class: "timeline" },
            timers.map((timer) =>
              el(
                "li",
                {},
                el("span", { class: "what" }, `${label("timer", timer.kind)} · ${fmtTime(timer.due_at)}`),
                el("div", {}, deadlineWidget([timer], { withKind: false })),
              ),
            ),
          )
        : el("p", { class: "muted" }, t("countdown.none")),
      el(
        "div",
        { class: "buttons" },
        el("a", { class: "btn", href: `#/tickets/${ticket.id}` }, t("intake.open_ticket")),
        el("button", { type: "button", class: "btn btn-primary", onclick: reset }, t("intake.next")),
      ),
    );
    result.hidden = false;
  };

  const reset = () => {
    form.reset();
    skillsRow.hidden = true;
    saved = null;
    mergedInto = null;
    earlier = [];
    lastPhone = "";
    key = newKey();
    alert.textContent = "";
    result.hidden = true;
    historyBody.replaceChildren(el("p", { class: "muted" }, t("intake.history_hint")));
    for (const input of form.elements) input.disabled = false;
    $("#in-phone").focus();
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    alert.textContent = "";
    const invalid = [...form.querySelectorAll("input, select, textarea")].find(
      (input) => !input.checkValidity(),
    );
    if (invalid) {
      alert.textContent = `${fieldNameOf(invalid)}：${t("form.required")}`;
      invalid.focus();
      return;
    }
    const kind = form.querySelector("input[name=in-kind]:checked").value;
    const caller = {
      name: $("#in-name").value.trim() || undefined,
      phone: $("#in-phone").value.trim() || undefined,
      special_groups: [...form.querySelectorAll("input[name=in-groups]:checked")].map((x) => x.value),
      confidential: $("#in-confidential").checked,
    };
    const body = {
      kind,
      channel: $("#in-channel").value,
      category: $("#in-category").value,
      topic: $("#in-topic").value || undefined,
      urgency: form.querySelector("input[name=in-urgency]:checked").value,
      content: $("#in-content").value.trim(),
      caller,
      location: {
        grid: $("#in-grid").value.trim() || undefined,
        address: $("#in-address").value.trim() || undefined,
      },
    };
    const skills = $("#in-skills")
      .value.split(/[,，、\s]+/)
      .filter(Boolean);
    if (kind === "service_order" && skills.length) body.skills = skills;
    const button = $("#in-save");
    button.disabled = true;
    button.textContent = t("intake.saving");
    try {
      const { data } = await api("/v1/tickets", {
        method: "POST",
        body,
        headers: { "Idempotency-Key": key },
      });
      saved = data;
      for (const input of form.elements) input.disabled = true;
      drawResult();
      if (earlier.length) drawHistory();
      result.focus();
    } catch (error) {
      alert.textContent = explain(error);
      const loc = error.problem?.errors?.[0]?.loc || [];
      const target = {
        content: "#in-content",
        category: "#in-category",
        phone: "#in-phone",
        grid: "#in-grid",
      }[loc[loc.length - 1]];
      (target ? $(target) : alert).focus?.();
    } finally {
      button.textContent = t("intake.save");
      if (!saved) button.disabled = false;
    }
  });
  $("#in-phone").focus();
}

// -- supervision board --------------------------------------------------------------------------

async function renderSupervision(ctx) {
  pageTitle(t("supervision.heading"));
  const q = ctx.query;
  const canWork = CASE_WORKERS.includes(state.session.role);
  const filters = el(
    "form",
    { class: "panel filters", role: "search" },
    selectField(
      "s-level",
      t("supervision.level"),
      [
        ["1", t("supervision.level_1")],
        ["2", t("supervision.level_2")],
      ],
      { value: q.get("level") || "", blank: t("app.all") },
    ),
    selectField("s-department", t("fields.department"), departmentOptions(), {
      value: q.get("department_code") || "",
      blank: t("app.all"),
    }),
    selectField(
      "s-subject",
      t("supervision.subject"),
      [
        ["ticket", t("supervision.subject_ticket")],
        ["dispute", t("supervision.subject_dispute")],
      ],
      { value: q.get("subject") || "", blank: t("app.all") },
    ),
    el(
      "div",
      { class: "buttons" },
      el("button", { type: "submit", class: "btn btn-primary" }, t("app.filter")),
    ),
  );
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = `#/supervision${query({
      level: filters.querySelector("#s-level").value,
      department_code: filters.querySelector("#s-department").value,
      subject: filters.querySelector("#s-subject").value,
    })}`;
  });
  const count = el("p", { class: "muted small", role: "status" });
  const board = el("div");
  const line = updatedLine();
  setMain(
    el("div", { class: "page-head" }, el("h1", {}, t("supervision.heading")), line),
    filters,
    count,
    board,
  );
  focusHeading();

  const params = {
    status: "open",
    level: q.get("level"),
    department_code: q.get("department_code"),
    subject: q.get("subject"),
    limit: 500,
  };
  let cases = [];
  const tickets = new Map();

  const subjectOf = (item) => {
    if (item.subject === "dispute")
      return t("supervision.dispute_ref", { id: (item.dispute_id || "").slice(0, 8) });
    return tickets.get(item.ticket_id)?.number || (item.ticket_id || "").slice(0, 8);
  };

  const draw = () => {
    count.textContent = t("supervision.count", { n: cases.length });
    if (!cases.length) {
      board.replaceChildren(el("p", { class: "panel muted" }, t("app.empty")));
      return;
    }
    const levels = [...new Set(cases.map((c) => c.level))].sort((a, b) => b - a);
    const headers = [
      t("supervision.subject"),
      t("fields.department"),
      t("supervision.reason"),
      t("fields.deadline"),
      t("supervision.opened_at"),
      t("supervision.escalate_at"),
      t("supervision.last_entry"),
      canWork ? t("actions.heading") : null,
    ].filter(Boolean);
    board.replaceChildren(
      ...levels.map((level) => {
        const rows = cases
          .filter((c) => c.level === level)
          .sort(
            (a, b) =>
              (a.department_code || "").localeCompare(b.department_code || "") ||
              a.opened_at.localeCompare(b.opened_at),
          )
          .map((item) => {
            const ticket = tickets.get(item.ticket_id);
            const last = item.entries[item.entries.length - 1];
            const subject = subjectOf(item);
            return el(
              "tr",
              { dataset: { caseId: item.id } },
              td(
                headers[0],
                item.subject === "ticket" && item.ticket_id
                  ? el("a", { href: `#/tickets/${item.ticket_id}`, class: "ticket-no" }, subject)
                  : subject,
                ticket ? el("div", { class: "small muted excerpt" }, excerpt(ticket.content, 40)) : null,
              ),
              td(
                headers[1],
                item.department_code ? departmentName(item.department_code) : t("supervision.no_department"),
              ),
              td(headers[2], t(`supervision.reason_${item.reason}`)),
              td(headers[3], ticket ? ticketDeadline(ticket) : t("app.none")),
              td(headers[4], fmtTime(item.opened_at)),
              td(headers[5], fmtTime(item.escalate_at)),
              td(headers[6], last ? `${label("entry", last.type)}：${last.note || ""}` : t("app.none")),
              canWork
                ? td(
                    headers[7],
                    el(
                      "div",
                      { class: "actions-bar" },
                      el(
                        "button",
                        {
                          type: "button",
                          class: "btn",
                          onclick: () => caseDialog(item, "follow_up", subject),
                        },
                        t("supervision.follow_up"),
                      ),
                      el(
                        "button",
                        {
                          type: "button",
                          class: "btn btn-danger",
                          onclick: () => caseDialog(item, "close", subject),
                        },
                        t("supervision.close"),
                      ),
                    ),
                  )
                : null,
            );
          });
        const heading =
          level === 1
            ? t("supervision.level_1")
            : level === 2
              ? t("supervision.level_2")
              : t("supervision.level_n", { n: level });
        return el(
          "section",
          { "aria-label": heading },
          el("h2", {}, `${heading}（${rows.length}）`),
          table(headers, rows),
        );
      }),
    );
  };

  const caseDialog = (item, action, subject) => {
    const key = newKey();
    openDialog({
      title: t(action === "close" ? "supervision.close_of" : "supervision.follow_up_of", { subject }),
      fields: [noteInput("note", "form.note")],
      submitText: t(`supervision.${action}`),
      send: async (body) =>
        (
          await api(`/v1/supervisions/${item.id}/actions/${action}`, {
            method: "POST",
            body,
            headers: { "Idempotency-Key": key },
          })
        ).data,
      onSuccess: (updated) => {
        notice(t(action === "close" ? "supervision.closed" : "supervision.followed"));
        cases =
          updated.status === "open"
            ? cases.map((c) => (c.id === updated.id ? updated : c))
            : cases.filter((c) => c.id !== updated.id);
        draw();
      },
      onProblem: (error) => {
        notice(explain(error));
        load().catch(() => {});
      },
    });
  };

  const load = async () => {
    const [open, supervised] = await Promise.all([
      api(`/v1/supervisions${query(params)}`),
      api(`/v1/tickets${query({ supervised: "true", limit: 500 })}`).catch(() => ({ data: { items: [] } })),
    ]);
    if (!ctx.alive) return;
    cases = open.data.items;
    tickets.clear();
    for (const ticket of supervised.data.items) tickets.set(ticket.id, ticket);
    stamp(line);
    if (!document.getElementById("dialog").open && ctx.changed("cases", [cases, supervised.data.items]))
      draw();
  };
  await load();
  ctx.every(POLL_MS, () => load().catch(() => {}));
}

// -- statistics ----------------------------------------------------------------------------------

let chartLibrary = null;

function loadChartLibrary() {
  chartLibrary ??= new Promise((resolve, reject) => {
    if (window.Chart) {
      resolve(window.Chart);
      return;
    }
    const script = el("script", { src: CHART_SRC });
    script.addEventListener("load", () => resolve(window.Chart));
    script.addEventListener("error", () => {
      chartLibrary = null;
      reject(new Error(CHART_SRC));
    });
    document.head.append(script);
  });
  return chartLibrary;
}

const percent = (rate) =>
  rate === null || rate === undefined ? t("app.none") : `${(rate * 100).toFixed(1)}%`;
const number = (value, digits = 1) =>
  value === null || value === undefined
    ? t("app.none")
    : Number.isInteger(value)
      ? String(value)
      : value.toFixed(digits);

function keyName(dimension, key) {
  if (key === null || key === undefined || key === "") return t("stats.no_key");
  if (dimension === "department") return departmentName(key);
  if (dimension === "platform") return label("platform", key);
  if (dimension === "channel") return label("channel", key);
  if (dimension === "topic") return topicName(key);
  return key;
}

async function renderStats(ctx) {
  pageTitle(t("stats.heading"));
  const q = ctx.query;
  const period = periodFields(q, "stats");
  const dimension = DIMENSIONS.includes(q.get("dimension")) ? q.get("dimension") : "department";
  const department = q.get("department_code") || "";
  const form = el(
    "form",
    { class: "panel filters", role: "search" },
    period.nodes,
    selectField(
      "stats-dimension",
      t("stats.dimension"),
      DIMENSIONS.map((d) => [d, t(`stats.dimension_${d}`)]),
      { value: dimension },
    ),
    selectField("stats-department", t("stats.department_filter"), departmentOptions(), {
      value: department,
      blank: t("app.all"),
    }),
    el(
      "div",
      { class: "buttons" },
      el("button", { type: "submit", class: "btn btn-primary" }, t("app.search")),
    ),
  );
  const alert = el("div", { class: "alert", role: "alert" });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const from = form.querySelector("#stats-from").value;
    const to = form.querySelector("#stats-to").value;
    if (from && to && to < from) {
      alert.textContent = t("stats.bad_period");
      return;
    }
    location.hash = `#/stats${query({
      from,
      to,
      dimension: form.querySelector("#stats-dimension").value,
      department_code: form.querySelector("#stats-department").value,
    })}`;
  });
  const csv = el("button", { type: "button", class: "btn", id: "stats-csv" }, t("stats.csv"));
  const body = el("div", {}, el("p", { class: "loading" }, t("app.loading")));
  setMain(el("div", { class: "page-head" }, el("h1", {}, t("stats.heading")), csv), form, alert, body);
  focusHeading();

  const params = {
    from: zonedToIso(period.from),
    to: zonedToIso(addDays(period.to, 1)),
    department_code: department,
  };
  const byUrl = `/v1/stats/by/${dimension}${query({ ...params, sort: "-score" })}`;
  csv.addEventListener("click", async () => {
    try {
      const response = await fetch(byUrl, {
        headers: { Accept: "text/csv" },
        credentials: "same-origin",
        cache: "no-store",
      });
      if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => ({})));
      const blob = await response.blob();
      const link = el("a", {
        href: URL.createObjectURL(blob),
        download: `stats-${dimension}-${period.from}_${period.to}.csv`,
        hidden: true,
      });
      document.body.append(link);
      link.click();
      setTimeout(() => {
        URL.revokeObjectURL(link.href);
        link.remove();
      }, 1000);
    } catch (error) {
      alert.textContent = explain(error);
    }
  });

  let summary;
  let rows;
  try {
    const [s, by] = await Promise.all([api(`/v1/stats/summary${query(params)}`), api(byUrl)]);
    summary = s.data;
    rows = by.data.items;
  } catch (error) {
    if (!ctx.alive) return;
    csv.hidden = true;
    body.replaceChildren(
      el(
        "p",
        { class: "alert", role: "alert" },
        error.status === 404 || error.status === 405 ? t("stats.unavailable") : explain(error),
      ),
    );
    return;
  }
  if (!ctx.alive) return;
  const figures = ["received", "resolved", "closed", "overdue", "supervised"].map((k) => [
    k,
    number(summary[k]),
  ]);
  const rates = ["response_rate", "resolution_rate", "satisfaction_rate"].map((k) => [
    k,
    percent(summary[k]),
  ]);
  const headers = [
    { text: t("stats.key") },
    ...["received", "resolved", "closed", "overdue", "supervised"].map((k) => ({
      text: t(`stats.${k}`),
      num: true,
    })),
    ...[
      "response_rate",
      "resolution_rate",
      "satisfaction_rate",
      "median_hours_to_callback",
      "median_hours_to_resolution",
      "score",
    ].map((k) => ({ text: t(`stats.${k}`), num: true })),
  ];
  const tableRows = rows.map((row) =>
    el(
      "tr",
      {},
      td(headers[0].text, keyName(dimension, row.key)),
      ["received", "resolved", "closed", "overdue", "supervised"].map((k, i) =>
        el("td", { class: "num", "data-label": headers[i + 1].text }, number(row[k])),
      ),
      ["response_rate", "resolution_rate", "satisfaction_rate"].map((k, i) =>
        el("td", { class: "num", "data-label": headers[i + 6].text }, percent(row[k])),
      ),
      el("td", { class: "num", "data-label": headers[9].text }, number(row.median_hours_to_callback)),
      el("td", { class: "num", "data-label": headers[10].text }, number(row.median_hours_to_resolution)),
      el("td", { class: "num", "data-label": headers[11].text }, number(row.score, 3)),
    ),
  );
  const ratesTitle = t("stats.rates_chart");
  const countsTitle = t("stats.counts_chart");
  const ratesCanvas = el("canvas", {
    id: "chart-rates",
    role: "img",
    "aria-label": t("stats.chart_alt", { title: ratesTitle }),
  });
  const countsCanvas = el("canvas", {
    id: "chart-counts",
    role: "img",
    "aria-label": t("stats.chart_alt", { title: countsTitle }),
  });
  body.replaceChildren(
    el(
      "section",
      { "aria-labelledby": "summary-h" },
      el("h2", { id: "summary-h" }, t("stats.summary")),
      el(
        "dl",
        { class: "figures" },
        [...figures, ...rates].map(([k, v]) =>
          el(
            "div",
            { class: "figure", dataset: { figure: k } },
            el("dt", {}, t(`stats.${k}`)),
            el("dd", {}, v),
          ),
        ),
      ),
    ),
    el(
      "div",
      { class: "charts" },
      el(
        "section",
        { class: "panel", "aria-labelledby": "rates-h" },
        el("h2", { id: "rates-h" }, ratesTitle),
        el("div", { class: "chart-box" }, ratesCanvas),
      ),
      el(
        "section",
        { class: "panel", "aria-labelledby": "counts-h" },
        el("h2", { id: "counts-h" }, countsTitle),
        el("div", { class: "chart-box" }, countsCanvas),
      ),
    ),
    el(
      "section",
      { "aria-labelledby": "rows-h" },
      el("h2", { id: "rows-h" }, t(`stats.dimension_${dimension}`)),
      rows.length ? table(headers, tableRows) : el("p", { class: "panel muted" }, t("app.empty")),
    ),
  );
  const Chart = await loadChartLibrary();
  if (!ctx.alive) return;
  Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
  Chart.defaults.color = "#3f3f46";
  const names = rows.map((row) => keyName(dimension, row.key));
  const pct = (rate) => (rate === null || rate === undefined ? null : Math.round(rate * 1000) / 10);
  const common = {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    plugins: { legend: { position: "bottom" } },
  };
  const charts = [
    new Chart(ratesCanvas, {
      type: "bar",
      data: {
        labels: names,
        datasets: [
          {
            label: t("stats.response_rate"),
            data: rows.map((r) => pct(r.response_rate)),
            backgroundColor: "#1a4fa0",
          },
          {
            label: t("stats.resolution_rate"),
            data: rows.map((r) => pct(r.resolution_rate)),
            backgroundColor: "#2e7d32",
          },
          {
            label: t("stats.satisfaction_rate"),
            data: rows.map((r) => pct(r.satisfaction_rate)),
            backgroundColor: "#c77700",
          },
        ],
      },
      options: { ...common, scales: { y: { min: 0, max: 100, ticks: { callback: (v) => `${v}%` } } } },
    }),
    new Chart(countsCanvas, {
      type: "bar",
      data: {
        labels: names,
        datasets: [
          { label: t("stats.received"), data: rows.map((r) => r.received), backgroundColor: "#5b7db8" },
          { label: t("stats.resolved"), data: rows.map((r) => r.resolved), backgroundColor: "#4f9a55" },
          { label: t("stats.overdue"), data: rows.map((r) => r.overdue), backgroundColor: "#b3261e" },
        ],
      },
      options: { ...common, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    }),
  ];
  const stop = ctx.stop.bind(ctx);
  ctx.stop = () => {
    stop();
    for (const chart of charts) chart.destroy();
  };
  body.dataset.charts = "drawn";
}

// -- members: the order board, my orders, the leaderboard --------------------------------------

async function renderBoard(ctx) {
  pageTitle(t("board.heading"));
  const boardList = el("div");
  const mineList = el("div");
  const line = updatedLine();
  setMain(
    el("div", { class: "page-head" }, el("h1", {}, t("board.heading")), line),
    el("p", { class: "muted" }, t("board.intro")),
    boardList,
    el("h2", {}, t("board.mine")),
    mineList,
  );
  focusHeading();
  const headers = [
    t("fields.number"),
    t("fields.category"),
    t("fields.content"),
    t("fields.skills"),
    t("fields.deadline"),
    t("actions.heading"),
  ];
  const mineHeaders = [t("fields.number"), t("fields.status"), t("fields.content"), t("fields.deadline")];

  const claim = async (ticket, button) => {
    button.disabled = true;
    try {
      await api(`/v1/tickets/${ticket.id}/actions/claim`, {
        method: "POST",
        body: {},
        headers: { "If-Match": `"${ticket.version}"`, "Idempotency-Key": newKey() },
      });
      notice(t("board.claimed", { number: ticket.number }));
    } catch (error) {
      notice(explain(error));
    }
    await load();
  };

  const load = async () => {
    const [posted, all] = await Promise.all([
      api(`/v1/tickets${query({ status: "posted", limit: 100 })}`),
      api(`/v1/tickets${query({ limit: 200 })}`),
    ]);
    if (!ctx.alive) return;
    const me = state.session.member_id;
    const mine = all.data.items.filter((ticket) => ticket.member_id === me);
    stamp(line);
    if (!ctx.changed("orders", [posted.data.items, mine])) return;
    boardList.replaceChildren(
      posted.data.items.length
        ? table(
            headers,
            posted.data.items.map((ticket) =>
              el(
                "tr",
                {},
                td(headers[0], ticketLink(ticket)),
                td(headers[1], `${label("category", ticket.category)} · ${topicName(ticket.topic)}`),
                td(headers[2], el("span", { class: "excerpt" }, excerpt(ticket.content, 80))),
                td(headers[3], (ticket.skills || []).join("、") || t("app.none")),
                td(headers[4], ticketDeadline(ticket)),
                td(
                  headers[5],
                  (ticket.allowed_actions || []).includes("claim")
                    ? el(
                        "button",
                        {
                          type: "button",
                          class: "btn btn-primary",
                          onclick: (e) => claim(ticket, e.currentTarget),
                        },
                        `${label("actions", "claim")} ${ticket.number}`,
                      )
                    : t("app.none"),
                ),
              ),
            ),
          )
        : el("p", { class: "panel muted" }, t("board.none")),
    );
    mineList.replaceChildren(
      mine.length
        ? table(
            mineHeaders,
            mine.map((ticket) =>
              el(
                "tr",
                {},
                td(mineHeaders[0], ticketLink(ticket)),
                td(mineHeaders[1], statusBadge(ticket.status), " ", flags(ticket)),
                td(mineHeaders[2], el("span", { class: "excerpt" }, excerpt(ticket.content, 80))),
                td(mineHeaders[3], ticketDeadline(ticket)),
              ),
            ),
          )
        : el("p", { class: "panel muted" }, t("board.mine_none")),
    );
  };
  await load();
  ctx.every(POLL_MS, () => load().catch(() => {}));
}

async function renderLeaderboard(ctx) {
  pageTitle(t("leaderboard.heading"));
  const period = periodFields(ctx.query, "leaderboard");
  const form = el(
    "form",
    { class: "panel filters", role: "search" },
    period.nodes,
    el(
      "div",
      { class: "buttons" },
      el("button", { type: "submit", class: "btn btn-primary" }, t("app.search")),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = `#/leaderboard${query({ from: form.querySelector("#leaderboard-from").value, to: form.querySelector("#leaderboard-to").value })}`;
  });
  const body = el("div", {}, el("p", { class: "loading" }, t("app.loading")));
  setMain(el("h1", {}, t("leaderboard.heading")), form, body);
  focusHeading();
  const { data } = await api(
    `/v1/members${query({ sort: "-points", period_from: zonedToIso(period.from), period_to: zonedToIso(addDays(period.to, 1)), limit: 100 })}`,
  );
  if (!ctx.alive) return;
  const headers = [
    t("leaderboard.rank"),
    t("leaderboard.name"),
    t("leaderboard.branch"),
    t("leaderboard.kind"),
    { text: t("leaderboard.points"), num: true },
  ];
  body.replaceChildren(
    data.items.length
      ? table(
          headers,
          data.items.map((member, i) =>
            el(
              "tr",
              {},
              td(headers[0], String(i + 1)),
              td(headers[1], member.name),
              td(headers[2], member.branch || t("app.none")),
              td(headers[3], label("member_kind", member.kind)),
              el("td", { class: "num", "data-label": headers[4].text }, number(member.points ?? 0)),
            ),
          ),
        )
      : el("p", { class: "panel muted" }, t("app.empty")),
  );
}

// -- start ----------------------------------------------------------------------------------------

async function boot() {
  const [, who] = await Promise.all([loadLabels(), api("/console/session").catch((error) => error)]);
  applyStaticLabels();
  document.getElementById("signout").addEventListener("click", signOut);
  window.addEventListener("hashchange", route);
  if (who instanceof Error) {
    renderSignIn();
    return;
  }
  state.session = who.data;
  await loadReference();
  showShell();
  route();
}

boot().catch((error) => {
  setMain(el("p", { class: "alert", role: "alert" }, String(error?.message || error)));
});
