"""HTTP benchmark: hotline against a bare FastAPI + asyncpg app, both on this PostgreSQL.

One command::

    .venv/bin/python bench/http.py            # ~10 s per operation, 1,000,000 seeded tickets
    .venv/bin/python bench/http.py --quick    # 2 s per operation, 10,000 seeded, 2,000 creates

It creates its own database (dropped at the end), starts ``hotline serve --no-worker`` (one
process) and bench/bare_app.py (uvicorn), each in a subprocess on a free 127.0.0.1 port, and
loads them with ``wrk`` (Debian's package; installed here when missing and run as root) at
32 connections. It measures, for hotline and for the bare app's counterpart:

- create: ``POST /v1/tickets`` routed by a rule (timers, events, an outbox row per event for
  a webhook subscription that nobody delivers: no worker runs), vs the bare ``POST``;
- get: ``GET /v1/tickets/{id}`` walking the created ids, vs the bare ``GET``;
- list: ``GET /v1/tickets?department_code=...`` (first page of 50) with ``--seed`` tickets
  in the table (inserted server-side with generate_series), vs the bare ``GET``;
- action: ``POST /v1/tickets/{id}/actions/accept`` by the department, every request on
  another dispatched ticket, vs the bare ``POST``;

then ``--rss-creates`` more creates, and prints throughput, p50/p99, peak RSS (VmHWM) and
PASS/FAIL per target. Options add an in-process probe that counts SQL statements per request
(``--probe``, always on unless ``--no-probe``), EXPLAIN (ANALYZE, BUFFERS) of the hot queries
(``--explain``), py-spy profiles of the server under load (``--profile``) and the cost-growth
table (``--growth 10000,100000,1000000``). See bench/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    # This file shares its name with the standard library's ``http`` package: run as a
    # script, its folder must not shadow it. The repository root goes there instead.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import asyncpg

from bench import common
from bench.common import say

ADMIN_TOKEN = "htl_bench_admin_token"
DEPARTMENT = "water"
OTHER_DEPARTMENTS = ("power", "gas", "roads", "parks", "housing", "health", "school", "police")
TOPIC = "water_supply"
CONNECTIONS = 32
THREADS = 2
# A subscription whose URL is never called (no worker runs): its outbox rows are real.
NEVER_CALLED = "http://127.0.0.1:9/never-called"
RATE_LIMIT = "100000000/minute"  # the limiter still runs on every request, but never refuses
WRK_MARK = "WRKJSON "
STOP_MARK = "WRKSTOPPED"
LIST_PATH = f"/v1/tickets?department_code={DEPARTMENT}&limit=50"


# -- wrk ---------------------------------------------------------------------------------


def ensure_wrk() -> str:
    """The wrk binary; installed from Debian's packages when missing and we are root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        say("wrk is missing: install it with `sudo apt-get install -y wrk`, then run again.")
        raise SystemExit(2)
    say("wrk is missing: apt-get install -y wrk")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, env=env, check=False, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=False, capture_output=True)
        subprocess.run(install, env=env, check=True, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk could not be installed")
    return found


def _lua_str(text: str) -> str:
    """A Lua 5.1 string literal of ``text``'s UTF-8 bytes (decimal escapes where needed)."""
    out = []
    for byte in text.encode():
        char = chr(byte)
        out.append(char if 32 <= byte < 127 and char not in '"\\' else f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def lua_script(
    *,
    method: str,
    path: str,
    headers: dict[str, str],
    body: str | None = None,
    ids: Sequence[str] = (),
    total: int | None = None,
) -> str:
    """A wrk script: ``path`` may hold ``{id}``, walked through ``ids`` (each thread takes
    every THREADS-th one, so no id is used twice); ``total`` bounds the requests."""
    prefix, _, suffix = path.partition("{id}")
    per_thread = 0 if total is None else math.ceil(total / THREADS)
    header_items = ", ".join(f"[{_lua_str(k)}] = {_lua_str(v)}" for k, v in headers.items())
    id_items = ",\n".join(_lua_str(i) for i in ids)
    return f"""
local method = {_lua_str(method)}
local prefix = {_lua_str(prefix)}
local suffix = {_lua_str(suffix)}
local walk = {"true" if "{id}" in path else "false"}
local body = {_lua_str(body) if body is not None else "nil"}
local headers = {{ {header_items} }}
local ids = {{
{id_items}
}}
local per_thread = {per_thread}
local nthreads = {THREADS}
local threads = {{}}

function setup(thread)
  thread:set("tindex", #threads)
  table.insert(threads, thread)
end

function init(args)
  pos = tindex + 1
  seen = 0
  share = 0
  if walk then share = math.floor((#ids - tindex + nthreads - 1) / nthreads) end
  exhausted = 0
  stopped = 0
end

function request()
  if walk then
    if pos > #ids then
      exhausted = 1
      return wrk.format("GET", "/healthz")
    end
    local path = prefix .. ids[pos] .. suffix
    pos = pos + nthreads
    return wrk.format(method, path, headers, body)
  end
  return wrk.format(method, prefix, headers, body)
end

function response(status, hdrs, resp_body)
  seen = seen + 1
  if stopped == 0 and ((per_thread > 0 and seen >= per_thread) or (walk and seen >= share)) then
    -- wrk's main thread sleeps for -d whatever the threads do: tell bench/http.py, which
    -- interrupts wrk (SIGINT) once every thread has stopped, so that it reports at once.
    stopped = 1
    io.write("{STOP_MARK}\\n")
    io.flush()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local ex = 0
  for _, t in ipairs(threads) do ex = ex + (t:get("exhausted") or 0) end
  io.write(string.format(
    '{WRK_MARK}{{"requests": %d, "duration_us": %.0f, "connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d, "p50": %.0f, "p90": %.0f, "p99": %.0f, ' ..
    '"max": %.0f, "exhausted": %d}}\\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, ex))
end
"""


@dataclass
class Result:
    label: str
    requests: int
    seconds: float
    errors: int  # non-2xx answers, socket errors and timeouts
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    peak_rss: int | None = None
    exhausted: bool = False
    cpu_share: float = 0.0  # the server's CPU time over the run's wall time (1.0: one core)

    @property
    def rps(self) -> float:
        return (self.requests - self.errors) / self.seconds if self.seconds else 0.0


def run_wrk(
    wrk: str,
    base: str,
    script: str,
    *,
    label: str,
    seconds: float,
    workdir: Path,
    connections: int = CONNECTIONS,
) -> Result:
    """One wrk run (bounded by ``seconds``, and by the script's count when it has one)."""
    lua = workdir / f"{re.sub(r'[^a-z0-9]+', '-', label.lower())}.lua"
    lua.write_text(script, encoding="utf-8")
    argv = [
        wrk,
        f"-t{THREADS}",
        f"-c{connections}",
        f"-d{max(1, math.ceil(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(lua),
        base,
    ]
    errors_path = lua.with_suffix(".stderr")
    lines: list[str] = []
    with errors_path.open("w") as errors_file:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors_file, text=True)
        watchdog = threading.Timer(seconds + 120, proc.kill)
        watchdog.start()
        try:
            assert proc.stdout is not None
            stopped = 0
            for out_line in proc.stdout:
                lines.append(out_line)
                if out_line.startswith(STOP_MARK):
                    stopped += 1
                    if stopped == THREADS:
                        proc.send_signal(signal.SIGINT)  # wrk then reports at once
            proc.wait()
        finally:
            watchdog.cancel()
    line = next((x for x in lines if x.startswith(WRK_MARK)), None)
    if line is None:
        raise RuntimeError(
            f"wrk gave no summary ({label}):\n{''.join(lines)}\n{errors_path.read_text()}"
        )
    data = json.loads(line[len(WRK_MARK) :])
    errors = sum(int(data[k]) for k in ("connect", "read", "write", "status", "timeout"))
    return Result(
        label=label,
        requests=int(data["requests"]),
        seconds=float(data["duration_us"]) / 1e6,
        errors=errors,
        p50_ms=float(data["p50"]) / 1000,
        p90_ms=float(data["p90"]) / 1000,
        p99_ms=float(data["p99"]) / 1000,
        max_ms=float(data["max"]) / 1000,
        exhausted=bool(data["exhausted"]),
    )


# -- seeding -----------------------------------------------------------------------------

SEED_SLA = (
    '{"callback": "PT24H", "response": null, "resolution": "P5D", "calendar": "working", '
    '"warning_lead": null, "escalate_after": null}'
)
DEPARTMENTS_SQL = "ARRAY[" + ", ".join(f"'{d}'" for d in (DEPARTMENT, *OTHER_DEPARTMENTS)) + "]"

# Ticket i (1-based) is older the larger i is, and older than anything created through the
# API; one in ten is open (dispatched or accepted), the rest closed. Every NOT NULL column of
# migrations/versions/*_initial_schema.py is filled.
SEED_TICKETS = f"""
INSERT INTO tickets (
    id, number, kind, channel, category, topic, urgency, content,
    caller_name, caller_phone_bidx, caller_phone_mask, caller_special_groups,
    caller_confidential, location, grid_code, skills, status, department_code,
    on_the_spot, overdue, supervised, sla, last_seq, version, created_at, updated_at,
    closed_at, satisfaction, result)
SELECT
    md5('ticket' || i)::uuid,
    'S' || lpad(i::text, 12, '0'),
    CASE WHEN i % 10 = 9 THEN 'service_order' ELSE 'petition' END,
    (ARRAY['hotline', 'mini_program', 'walk_in', 'grid', 'platform'])[1 + i % 5],
    (ARRAY['consultation', 'help', 'complaint', 'report', 'suggestion', 'praise'])[1 + i % 6],
    'topic_' || (i % 40),
    (ARRAY['normal', 'normal', 'normal', 'urgent', 'critical'])[1 + i % 5],
    '种子工单 ' || i || ': 路灯不亮, 小区门口积水, 请尽快处理',
    '居民' || (i % 1000),
    md5('phone' || (i % 200000)),
    '138****' || lpad((i % 10000)::text, 4, '0'),
    '[]'::jsonb,
    false,
    jsonb_build_object('grid', 'G-' || (i % 300), 'address', '幸福路' || (i % 500) || '号'),
    'G-' || (i % 300),
    '[]'::jsonb,
    CASE i % 20 WHEN 0 THEN 'dispatched' WHEN 1 THEN 'accepted' ELSE 'closed' END,
    ({DEPARTMENTS_SQL})[1 + i % {1 + len(OTHER_DEPARTMENTS)}],
    false,
    i % 7 = 0,
    false,
    '{SEED_SLA}'::jsonb,
    2,
    3,
    now() - interval '1 day' - i * interval '15 seconds',
    now() - interval '1 day' - i * interval '15 seconds' + interval '2 days',
    CASE WHEN i % 20 > 1 THEN now() - i * interval '15 seconds' + interval '1 day' END,
    CASE WHEN i % 20 > 1 THEN 'satisfied' END,
    CASE WHEN i % 20 > 1 THEN '已处理' END
FROM generate_series($1::bigint, $2::bigint) AS i
"""

# Two timers a ticket: callback (met) and resolution (met when closed; running, due in the
# future, when open: nothing seeded is due, so the sweeper's work is only what the run adds).
SEED_TIMERS = """
INSERT INTO timers (
    id, subject_type, subject_id, kind, state, started_at, due_at, warn_at, met_at, seq)
SELECT
    md5('timer' || i || '/' || k)::uuid,
    'ticket',
    md5('ticket' || i)::uuid,
    CASE k WHEN 0 THEN 'callback' ELSE 'resolution' END,
    CASE WHEN k = 1 AND i % 20 <= 1 THEN 'running' ELSE 'met' END,
    now() - interval '1 day' - i * interval '15 seconds',
    CASE WHEN k = 1 AND i % 20 <= 1 THEN now() + interval '30 days' + i * interval '1 second'
         ELSE now() - i * interval '15 seconds' END,
    CASE WHEN k = 1 AND i % 20 <= 1 THEN now() + interval '29 days' + i * interval '1 second'
         ELSE now() - i * interval '15 seconds' - interval '4 hours' END,
    CASE WHEN k = 1 AND i % 20 <= 1 THEN NULL ELSE now() - i * interval '16 seconds' END,
    k
FROM generate_series($1::bigint, $2::bigint) AS i, generate_series(0, 1) AS k
"""


async def seeded_count(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM tickets WHERE number LIKE 'S%'"))
    finally:
        await conn.close()


async def seed(dsn: str, upto: int, chunk: int = 100_000) -> float:
    """Seed tickets (and their timers) until ``upto`` seeded tickets exist; returns seconds."""
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        have = int(await conn.fetchval("SELECT count(*) FROM tickets WHERE number LIKE 'S%'"))
        first = have + 1
        while first <= upto:
            last = min(upto, first + chunk - 1)
            async with conn.transaction():
                await conn.execute(SEED_TICKETS, first, last)
                await conn.execute(SEED_TIMERS, first, last)
            say(f"  seeded {last:,} / {upto:,} tickets ({time.perf_counter() - started:.0f} s)")
            first = last + 1
        await conn.execute("VACUUM ANALYZE tickets")
        await conn.execute("VACUUM ANALYZE timers")
        await conn.execute("VACUUM ANALYZE ticket_events")
        await conn.execute("VACUUM ANALYZE webhook_deliveries")
    finally:
        await conn.close()
    return time.perf_counter() - started


async def fetch_ids(dsn: str, sql: str, *args: Any) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return [str(r[0]) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


# -- the run -----------------------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    wrk: str
    workdir: Path
    database: str
    data_key: str
    hotline: common.Proc
    bare: common.Proc
    stack: common.Proc  # bench/stack_app.py: the chosen stack's own floor
    operator: str = ""
    department: str = ""
    results: dict[str, Result] = field(default_factory=dict)
    peak_overall: int = 0

    @property
    def dsn(self) -> str:
        return common.pg_dsn(self.database)

    def measure(self, proc: common.Proc, label: str, script: str, seconds: float) -> Result:
        common.reset_peak_rss(proc.pid)
        sampler = WaitSampler(self.dsn, self.database, seconds) if proc is self.hotline else None
        cpu_before, wall_before = common.cpu_seconds(proc.pid), time.monotonic()
        result = run_wrk(
            self.wrk, proc.base, script, label=label, seconds=seconds, workdir=self.workdir
        )
        cpu_used = common.cpu_seconds(proc.pid) - cpu_before
        result.cpu_share = cpu_used / max(time.monotonic() - wall_before, 1e-9)
        waits = sampler.summary() if sampler is not None else ""
        result.peak_rss = common.proc_status(proc.pid, "VmHWM")
        if proc is self.hotline and result.peak_rss:
            self.peak_overall = max(self.peak_overall, result.peak_rss)
        self.results[label] = result
        flag = " (ran out of ids)" if result.exhausted else ""
        flag += f"  [load {os.getloadavg()[0]:.1f}]"
        say(
            f"  {label:<16} {result.rps:8.0f} req/s  p50 {result.p50_ms:6.1f} ms  "
            f"p99 {result.p99_ms:6.1f} ms  errors {result.errors}  "
            f"peak RSS {common.mib(result.peak_rss)}  server CPU {result.cpu_share:.0%}{flag}"
        )
        if waits:
            say(f"  {'':<16} server connections, sampled: {waits}")
        return result

    def auth(self, token: str, *, body: bool = False) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {token}"}
        if body:
            headers["Content-Type"] = "application/json"
        return headers

    def create_script(self, total: int | None = None) -> str:
        return lua_script(
            method="POST",
            path="/v1/tickets",
            headers=self.auth(self.operator, body=True),
            body=json.dumps(common.ticket_body(TOPIC), ensure_ascii=False),
            total=total,
        )

    def bare_post_script(self, path: str = "/tickets") -> str:
        return lua_script(
            method="POST",
            path=path,
            headers={"Content-Type": "application/json"},
            body=json.dumps(common.ticket_body(TOPIC), ensure_ascii=False),
        )

    def top_up_dispatched(self, needed: int) -> list[str]:
        """Ids of API-created tickets still dispatched, creating more (unmeasured) if short."""
        sql = (
            "SELECT id FROM tickets WHERE status = 'dispatched' AND department_code = $1 "
            "AND number NOT LIKE 'S%' ORDER BY created_at DESC LIMIT $2"
        )
        ids = asyncio.run(fetch_ids(self.dsn, sql, DEPARTMENT, needed))
        if len(ids) < needed:
            missing = needed - len(ids)
            say(f"  creating {missing:,} more dispatched tickets for the action (unmeasured)")
            run_wrk(
                self.wrk,
                self.hotline.base,
                self.create_script(total=missing),
                label="top-up",
                seconds=600,
                workdir=self.workdir,
            )
            ids = asyncio.run(fetch_ids(self.dsn, sql, DEPARTMENT, needed))
        random.shuffle(ids)
        return ids

    def accept_script(self, needed: int) -> str:
        """The department accepting, each request another dispatched ticket."""
        return lua_script(
            method="POST",
            path="/v1/tickets/{id}/actions/accept",
            headers=self.auth(self.department, body=True),
            body="{}",
            ids=self.top_up_dispatched(needed),
        )

    def run_operations(self, seconds: float) -> None:
        say(f"\n== operations, {seconds:g} s each, {CONNECTIONS} connections ==")
        # create
        self.measure(self.hotline, "create", self.create_script(), seconds)
        self.measure(self.bare, "bare POST", self.bare_post_script(), seconds)
        for way in STACK_WAYS:
            path = f"/{way}/tickets"
            self.measure(self.stack, f"stack {way} POST", self.bare_post_script(path), seconds)
        # get: walk the ids created above (more than a run can use, repeated when short)
        ids = asyncio.run(
            fetch_ids(self.dsn, "SELECT id FROM tickets WHERE number NOT LIKE 'S%' LIMIT 50000")
        )
        bare_ids = asyncio.run(fetch_ids(self.dsn, "SELECT id FROM bare_tickets LIMIT 50000"))
        for label, proc, path, token, walk in (
            ("get", self.hotline, "/v1/tickets/{id}", self.operator, ids),
            ("bare GET", self.bare, "/tickets/{id}", None, bare_ids),
            *(
                (f"stack {way} GET", self.stack, f"/{way}/tickets/{{id}}", None, bare_ids)
                for way in STACK_WAYS
            ),
        ):
            cap = int(max(r.rps for r in self.results.values()) * seconds * 4) + 10_000
            script = lua_script(
                method="GET",
                path=path,
                headers=self.auth(token) if token else {},
                ids=_cycled(walk, cap),
            )
            self.measure(proc, label, script, seconds)
        # list: a department's first page of 50, among the seeded tickets
        script = lua_script(method="GET", path=LIST_PATH, headers=self.auth(self.operator))
        self.measure(self.hotline, "list", script, seconds)
        # action: accept, by the department, each request on another dispatched ticket
        expected = max(self.results["create"].rps, self.results["get"].rps * 0.5)
        needed = int(expected * seconds * 1.5) + 500
        self.measure(self.hotline, "action (accept)", self.accept_script(needed), seconds)

    def run_rss_creates(self, count: int) -> None:
        if count <= 0:
            return
        say(f"\n== {count:,} creates (bounded by count and by 30 min), then VmHWM ==")
        result = self.measure(self.hotline, "rss creates", self.create_script(total=count), 1800)
        result.peak_rss = common.proc_status(self.hotline.pid, "VmHWM")
        say(
            f"  after {result.requests:,} creates: VmRSS "
            f"{common.mib(common.proc_status(self.hotline.pid, 'VmRSS'))}, "
            f"VmHWM since start {common.mib(self.peak_overall)}"
        )


class WaitSampler:
    """Samples what the service's database connections are doing while wrk runs (from
    pg_stat_activity, five times at most, within the first ``seconds``)."""

    def __init__(self, dsn: str, database: str, seconds: float) -> None:
        self.seen: Counter[str] = Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._run(dsn, database, seconds)), daemon=True
        )
        self._thread.start()

    async def _run(self, dsn: str, database: str, seconds: float) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            for _ in range(5):
                if self._stop.wait(min(seconds, 30) / 6):
                    return
                rows = await conn.fetch(
                    "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') AS w, "
                    "left(query, 40) AS q FROM pg_stat_activity WHERE datname = $1 "
                    "AND state = 'active' AND pid <> pg_backend_pid()",
                    database,
                )
                self.samples += 1
                for row in rows:
                    what = row["w"]
                    if what.startswith("Lock"):
                        what += f" ({' '.join(row['q'].split()[:3])})"
                    self.seen[what] += 1
        finally:
            await conn.close()

    def summary(self) -> str:
        self._stop.set()
        self._thread.join(timeout=30)
        if not self.samples:
            return ""
        return (
            ", ".join(f"{n / self.samples:.1f} {what}" for what, n in self.seen.most_common(4))
            or "none active"
        )


def _cycled(ids: Sequence[str], count: int) -> list[str]:
    if not ids:
        raise RuntimeError("no ids to walk")
    shuffled = list(ids)
    random.shuffle(shuffled)
    return [shuffled[i % len(shuffled)] for i in range(min(count, 200_000))]


# What the benchmarks set up (bench/http.py over HTTP, bench/calls.py in process): the
# departments, the rule that routes the benchmark's tickets and the subscription nobody
# delivers, then the two principals whose tokens send the load.
SET_UP: tuple[tuple[str, dict[str, Any]], ...] = (
    ("/v1/departments", {"code": DEPARTMENT, "name": "供水公司", "platform": "convenience"}),
    *(
        ("/v1/departments", {"code": code, "name": code, "platform": "convenience"})
        for code in OTHER_DEPARTMENTS
    ),
    (
        "/v1/routing-rules",
        {
            "topic": TOPIC,
            "department_code": DEPARTMENT,
            "resolution_sla": "P5D",
            "calendar": "working",
        },
    ),
    ("/v1/webhook-subscriptions", {"url": NEVER_CALLED, "events": ["*"]}),
)
OPERATOR = {"name": "接线员", "role": "operator"}
DEPARTMENT_PRINCIPAL = {"name": "供水公司", "role": "department", "department_code": DEPARTMENT}


def set_up(admin: common.Admin) -> tuple[str, str]:
    """``SET_UP``; the operator's and the department's tokens."""
    for path, body in SET_UP:
        admin.post(path, body)
    operator = str(admin.post("/v1/principals", OPERATOR)["token"])
    department = str(admin.post("/v1/principals", DEPARTMENT_PRINCIPAL)["token"])
    return operator, department


# -- report ------------------------------------------------------------------------------

STACK_WAYS = ("orm", "core")
PAIRS = (
    ("create", "bare POST"),
    ("get", "bare GET"),
    ("list", "bare GET"),
    ("action (accept)", "bare POST"),
)


def report(bench: Bench, rss_creates: int, seeded: int) -> bool:
    r = bench.results
    say("\n== results ==")
    say(
        "| operation | req/s | p50 ms | p99 ms | errors | peak RSS | server CPU | vs bare | "
        "bare req/s | bare p50 | bare p99 | bare CPU | vs the stack's floor (Core) |"
    )
    say("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    floor = tuple((f"stack {w} {op}", f"bare {op}") for w in STACK_WAYS for op in ("POST", "GET"))
    for ours, theirs in PAIRS + floor:
        a, b = r.get(ours), r.get(theirs)
        if a is None or b is None:
            continue
        ratio = a.rps / b.rps if b.rps else 0.0
        core = r.get(theirs.replace("bare", "stack core"))
        versus = f"{a.rps / core.rps:.2f}x" if core and core.rps and core is not a else ""
        say(
            f"| {ours} | {a.rps:.0f} | {a.p50_ms:.1f} | {a.p99_ms:.1f} | {a.errors} | "
            f"{common.mib(a.peak_rss)} | {a.cpu_share:.0%} | {ratio:.2f}x {theirs} | "
            f"{b.rps:.0f} | {b.p50_ms:.1f} | {b.p99_ms:.1f} | {b.cpu_share:.0%} | {versus} |"
        )
    bare_rss = max((x.peak_rss or 0) for k, x in r.items() if k.startswith("bare"))
    say(f"bare app peak RSS: {common.mib(bare_rss)}; seeded tickets: {seeded:,}")
    say(
        f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: other "
        "processes on this machine share the CPU with both apps and wrk alike"
    )

    checks: list[tuple[str, bool | None, str]] = []
    create, post = r["create"], r["bare POST"]
    get, bare_get = r["get"], r["bare GET"]
    checks.append(
        (
            "create >= 0.5x bare POST throughput",
            create.rps >= 0.5 * post.rps,
            f"{create.rps / post.rps:.2f}x",
        )
    )
    checks.append(
        (
            "get >= 0.6x bare GET throughput",
            get.rps >= 0.6 * bare_get.rps,
            f"{get.rps / bare_get.rps:.2f}x",
        )
    )
    listing = r["list"]
    big_enough = seeded >= 1_000_000
    checks.append(
        (
            "list p99 <= 50 ms with 1,000,000 tickets",
            listing.p99_ms <= 50 if big_enough else None,
            f"{listing.p99_ms:.1f} ms with {seeded:,} seeded"
            + ("" if big_enough else " (run with --seed 1000000 to judge)"),
        )
    )
    measured = [r[k] for k, _ in PAIRS if k in r]
    worst = max(measured, key=lambda x: x.p99_ms)
    checks.append(
        (
            f"p99 <= 100 ms for every operation at {CONNECTIONS} connections",
            worst.p99_ms <= 100,
            f"worst: {worst.label} {worst.p99_ms:.1f} ms",
        )
    )
    errors = sum(x.errors for x in measured)
    checks.append(("every answer 2xx", errors == 0, f"{errors} errors"))
    done = r["rss creates"].requests if "rss creates" in r else 0
    checks.append(
        (
            "peak RSS (VmHWM) <= 150 MB after 100,000 creates",
            bench.peak_overall <= 150 * 1_000_000 if done >= 100_000 else None,
            f"VmHWM since start {bench.peak_overall / 1_000_000:.0f} MB, {done:,} extra creates"
            + ("" if done >= 100_000 else " (run with --rss-creates 100000 to judge)"),
        )
    )
    say("\n== targets ==")
    ok = True
    for name, passed, detail in checks:
        verdict = "n/a " if passed is None else ("PASS" if passed else "FAIL")
        ok = ok and passed is not False
        say(f"{verdict}  {name}: {detail}")
    return ok


# -- in-process probe: statements per request, and the hot queries' plans ---------------


async def probe(bench: Bench, *, explain: bool) -> None:
    """Run each operation a few times in this process against the bench database and count
    what reaches PostgreSQL (SQLAlchemy events); with ``explain``, EXPLAIN (ANALYZE,
    BUFFERS) the statements of the hot paths exactly as the service sent them."""
    import httpx
    import sqlalchemy as sa

    from hotline.app import create_app
    from hotline.clock import SystemClock
    from hotline.config import Settings
    from hotline.sla import sweeper
    from hotline.webhooks.dispatcher import Dispatcher

    settings = Settings(
        database_url=common.sqlalchemy_url(bench.database),
        data_key=bench.data_key,
        bootstrap_token=ADMIN_TOKEN,
        log_level="WARNING",
        rate_limit=RATE_LIMIT,
        webhook_allow_private=True,
    )
    app = create_app(settings, SystemClock())
    captured: list[tuple[str, Any]] = []
    counts: Counter[str] = Counter()

    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        engine = runtime.db.engine.sync_engine

        def on_execute(_c: Any, _cur: Any, statement: str, params: Any, *_a: Any) -> None:
            counts["statements"] += 1
            captured.append((statement, params))

        def on_checkout(*_a: Any) -> None:
            counts["checkouts"] += 1

        def autocommit(conn: sa.Connection) -> bool:
            # Reads (and the day's counter) run in autocommit: no BEGIN, no COMMIT sent.
            return conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"

        def on_commit(conn: sa.Connection) -> None:
            if not autocommit(conn):
                counts["commits"] += 1

        def on_rollback(conn: sa.Connection) -> None:
            if not autocommit(conn):
                counts["rollbacks"] += 1

        sa.event.listen(engine, "before_cursor_execute", on_execute)
        sa.event.listen(engine.pool, "checkout", on_checkout)
        sa.event.listen(engine, "commit", on_commit)
        sa.event.listen(engine, "rollback", on_rollback)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
            op_h = bench.auth(bench.operator, body=True)
            dept_h = bench.auth(bench.department, body=True)
            body = common.ticket_body(TOPIC)
            ticket_id = ""

            async def measure(label: str, method: str, url: str, **kw: Any) -> httpx.Response:
                # Warm (token cached, statements prepared), then count one request.
                counts.clear()
                captured.clear()
                started = time.perf_counter()
                response = await client.request(method, url, **kw)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code >= 300:
                    raise RuntimeError(f"{label}: {response.status_code} {response.text}")
                trips = counts["statements"]
                trips += 2 * (counts["commits"] + counts["rollbacks"])  # BEGIN and the end
                say(
                    f"  {label:<26} {counts['statements']:>2} statements, "
                    f"{counts['checkouts']} pool checkouts, "
                    f"{counts['commits']} transactions committed, {counts['rollbacks']} rolled "
                    f"back: ~{trips} round trips; {elapsed:.1f} ms in process"
                )
                for statement, _params in captured:
                    say(f"      {_short(statement)}")
                return response

            say("\n== in-process probe: what one request sends to PostgreSQL (warm) ==")
            await client.post("/v1/tickets", json=body, headers=op_h)  # warm up
            created = await measure("create", "POST", "/v1/tickets", json=body, headers=op_h)
            ticket_id = created.json()["id"]
            await client.get(f"/v1/tickets/{ticket_id}", headers=op_h)
            await measure("get", "GET", f"/v1/tickets/{ticket_id}", headers=op_h)
            get_plan = list(captured)
            await client.get(LIST_PATH, headers=op_h)
            await measure("list (operator, dept filter)", "GET", LIST_PATH, headers=op_h)
            list_plan = list(captured)
            await client.get("/v1/tickets?limit=50", headers=dept_h)
            await measure("list (department's own)", "GET", "/v1/tickets?limit=50", headers=dept_h)
            own_plan = list(captured)
            since = "/v1/tickets?limit=50&updated_since=2000-01-01T00:00:00Z"
            await client.get(since, headers=dept_h)
            await measure("list (updated_since)", "GET", since, headers=dept_h)
            since_plan = list(captured)
            await measure(
                "action (accept)",
                "POST",
                f"/v1/tickets/{ticket_id}/actions/accept",
                json={},
                headers=dept_h,
            )
            await measure(
                "action (resolve)",
                "POST",
                f"/v1/tickets/{ticket_id}/actions/resolve",
                json={"result": "已更换水管"},
                headers=dept_h,
            )
            counts.clear()
            captured.clear()
            await client.get(f"/v1/tickets/{ticket_id}", headers={"Authorization": "Bearer x"})
            say(f"  an unknown token costs {counts['statements']} statement(s) every time")

        if not explain:
            return
        captured.clear()
        await sweeper.breach_batch(runtime, runtime.clock.now())
        sweep_plan = [c for c in captured if "FROM timers" in c[0]][:1]
        captured.clear()
        async with httpx.AsyncClient() as http_client:
            await Dispatcher(runtime, http_client)._claim(runtime.clock.now(), 50)
        claim_plan = [c for c in captured if "FROM webhook_deliveries" in c[0]][:1]
        sa.event.remove(engine, "before_cursor_execute", on_execute)

        def pick(plan: list[tuple[str, Any]], needle: str) -> list[tuple[str, Any]]:
            return [c for c in plan if needle in c[0]][:1]

        queries = (
            ("ticket by id (GET /v1/tickets/{id})", pick(get_plan, "FROM tickets")),
            ("department list page (operator, department_code filter)", pick(list_plan, "LIMIT")),
            ("department list page (the department's own queue)", pick(own_plan, "LIMIT")),
            ("updated_since page (department)", pick(since_plan, "LIMIT")),
            ("sweeper candidates (breach_batch)", sweep_plan),
            # Explained as the dispatcher runs it: inside db.in_index_order (last, as the
            # setting holds for the rest of this transaction).
            ("webhook claim (dispatcher, SET LOCAL enable_sort = off)", claim_plan),
        )
        say("\n== EXPLAIN (ANALYZE, BUFFERS) of the hot queries ==")
        async with runtime.db.engine.connect() as conn:
            for title, found in queries:
                if not found:
                    say(f"\n-- {title}: not captured")
                    continue
                statement, params = found[0]
                if "enable_sort = off" in title:
                    await conn.exec_driver_sql("SET LOCAL enable_sort = off")
                rows = await conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
                say(f"\n-- {title}\n{_flat(statement)}")
                for (line,) in rows:
                    say(f"   {line}")
            await conn.rollback()


def _flat(statement: str) -> str:
    return " ".join(statement.split())


def _short(statement: str, width: int = 150) -> str:
    flat = _flat(statement)
    return flat if len(flat) <= width else flat[: width - 3] + "..."


# -- profiles ----------------------------------------------------------------------------

BUCKETS = (
    ("sqlalchemy ORM (unit of work, loading, identity map)", "sqlalchemy/orm/"),
    ("sqlalchemy core/engine (compile, execute, results)", "sqlalchemy/"),
    ("asyncpg (protocol, codecs)", "asyncpg/"),
    ("pydantic (validation)", "pydantic"),
    ("fastapi/starlette (routing, dependencies, responses)", ("fastapi/", "starlette/")),
    ("uvicorn/httptools (HTTP parsing)", ("uvicorn/", "httptools")),
    ("structlog/logging (access log)", ("structlog/", "logging/")),
    ("json (GuardMiddleware's json.loads) and orjson", ("json/", "orjson")),
    ("limits (rate limiter)", "limits/"),
    ("cryptography/hashlib (vault, token hash)", ("cryptography/", "hashlib", "vault.py")),
    ("prometheus_client (metrics)", "prometheus_client/"),
    ("asyncio/uvloop (event loop)", ("asyncio/", "uvloop")),
    ("hotline (own code)", "hotline/"),
)
# Inclusive shares worth naming: time spent under these frames.
INCLUSIVE = (
    ("auth per request (deps.current_actor)", "current_actor (hotline/deps.py"),
    ("rate limiter check", "check (hotline/limiter.py"),
    ("access log (observe.py log.info)", "info (structlog"),
    ("GuardMiddleware body check", "_checked_body (hotline/guard.py"),
    ("a write's whole handler (under idempotency.run)", "run (hotline/idempotency.py"),
    ("routing.match (all rules each create)", "match (hotline/routing/service.py"),
    ("next_number (the day's counter row)", "next_number (hotline/tickets/intake.py"),
    ("render_changed (an action's answer: links + JSON)", "render_changed (hotline/tickets/"),
    ("render_read (decoding what was read beside)", "render_read (hotline/tickets/"),
    ("ticket_json (building the dict)", "ticket_json (hotline/tickets/views.py"),
    ("allowed_actions", "allowed_actions (hotline/workflow.py"),
    ("outbox.enqueue", "enqueue (hotline/webhooks/outbox.py"),
    ("session.flush (ORM unit of work)", "flush (sqlalchemy/orm/session.py"),
    ("jsonutil.plain (dumps+loads of the answer)", "plain (hotline/jsonutil.py"),
    ("session commit", "commit (sqlalchemy/ext/asyncio/session.py"),
    ("SQL compilation", "_compiler (sqlalchemy/sql/elements.py"),
    ("ORM result loading (instances)", "instances (sqlalchemy/orm/loading.py"),
)


def _bucket(frame: str) -> str:
    for name, needles in BUCKETS:
        for needle in (needles,) if isinstance(needles, str) else needles:
            if needle in frame:
                return name
    return "other"


def summarize_profile(path: Path, top: int = 12) -> list[str]:
    """Shares of samples by package (the leaf frame), by named step (inclusive), and the
    hottest leaf functions, from py-spy's raw (collapsed-stack) output."""
    leaf_buckets: Counter[str] = Counter()
    leaf_funcs: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        # The leaf bucket: the innermost frame that is not the interpreter's own glue.
        leaf = frames[-1]
        leaf_buckets[_bucket(leaf)] += count
        leaf_funcs[_clean(leaf)] += count
        joined = ";".join(frames)
        for name, needle in INCLUSIVE:
            if needle in joined:
                inclusive[name] += count
    if not total:
        return ["  (no samples)"]
    out = [f"  {total} samples; by package of the running (leaf) frame:"]
    out += [f"    {n / total:6.1%}  {name}" for name, n in leaf_buckets.most_common()]
    out.append("  inclusive (time under the step):")
    out += [f"    {n / total:6.1%}  {name}" for name, n in inclusive.most_common()]
    out.append(f"  hottest {top} leaf functions:")
    out += [f"    {n / total:6.1%}  {name}" for name, n in leaf_funcs.most_common(top)]
    return out


def _clean(frame: str) -> str:
    return re.sub(r"/[^ ]*/(site-packages|lib/python3\.\d+|src)/", "", frame)


def profile(bench: Bench, seconds: float) -> None:
    """py-spy (pip install py-spy) records the server while wrk loads each operation."""
    spy = shutil.which("py-spy") or str(common.BIN / "py-spy")
    if not Path(spy).exists():
        say("py-spy is missing: .venv/bin/pip install py-spy")
        return
    say(f"\n== py-spy profiles of hotline serve under load ({seconds:g} s each) ==")
    runs = (
        ("create", bench.create_script()),
        (
            "list",
            lua_script(method="GET", path=LIST_PATH, headers=bench.auth(bench.operator)),
        ),
    )
    ids = asyncio.run(
        fetch_ids(bench.dsn, "SELECT id FROM tickets WHERE number NOT LIKE 'S%' LIMIT 50000")
    )
    get_script = lua_script(
        method="GET",
        path="/v1/tickets/{id}",
        headers=bench.auth(bench.operator),
        ids=_cycled(ids, 100_000),
    )
    accept_script = bench.accept_script(int(bench.results["create"].rps * seconds * 2) + 500)
    for name, script in (*runs, ("get", get_script), ("accept", accept_script)):
        raw = Path(tempfile.gettempdir()) / f"hotline-profile-{name}.txt"
        svg = raw.with_suffix(".svg")
        spy_proc = subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(bench.hotline.pid),
                "--duration",
                str(math.ceil(seconds)),
                "--rate",
                "200",
                "--nonblocking",
                "--format",
                "raw",
                "-o",
                str(raw),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(0.5)
        result = run_wrk(
            bench.wrk,
            bench.hotline.base,
            script,
            label=f"profile {name}",
            seconds=seconds,
            workdir=bench.workdir,
        )
        _, err = spy_proc.communicate(timeout=seconds + 60)
        if spy_proc.returncode != 0 or not raw.exists():
            say(f"  py-spy failed: {err.decode(errors='replace')[-500:]}")
            return
        _flamegraph(raw, svg)
        say(f"\n-- {name}: {result.rps:.0f} req/s while sampled; {raw} (collapsed), {svg}")
        for line in summarize_profile(raw):
            say(line)


def _flamegraph(raw: Path, svg: Path) -> None:
    """An SVG flame graph beside the raw profile, when the flamegraph tool is around."""
    tool = shutil.which("flamegraph.pl") or shutil.which("inferno-flamegraph")
    if tool is None:
        return
    with raw.open("rb") as src, svg.open("wb") as dst:
        subprocess.run([tool], stdin=src, stdout=dst, check=False, timeout=120)


# -- cost growth -------------------------------------------------------------------------


class Sweep(NamedTuple):
    busy: float  # seconds
    empty: float  # seconds
    breached: int
    # PostgreSQL's blocks during both sweeps: read into shared buffers from outside them
    # (the OS cache or disk), found in them, and written out by the sweep's own backends to
    # free a buffer (dirty pages the seeding or the load before left).
    read: int
    hit: int
    backend_writes: int
    # Milliseconds the reads and writes took (track_io_timing, on for the sweep's sessions).
    read_ms: float
    write_ms: float
    # Autovacuum workers at work when the sweep started (after a seed of 900,000 rows, the
    # tables' vacuum and analyze share the 2 cores with the sweep).
    autovacuum: int
    # The cluster's WAL flushes to disk during both sweeps and the milliseconds they took
    # (track_wal_io_timing), and the checkpoints that began meanwhile (a seed of 900,000
    # rows writes about a gigabyte of WAL: max_wal_size asks for one).
    wal_syncs: int
    wal_sync_ms: float
    checkpoints: int


_BUFFERS = """
SELECT d.blks_read, d.blks_hit, w.buffers_backend, d.blk_read_time, d.blk_write_time,
       l.wal_sync, l.wal_sync_time, w.checkpoints_timed + w.checkpoints_req
FROM pg_stat_database d, pg_stat_bgwriter w, pg_stat_wal l
WHERE d.datname = current_database()
"""


async def sweep_seconds(bench: Bench, due: int) -> Sweep:
    """Make ``due`` running resolution timers of API-created tickets due, then time one
    sweep (as a worker runs it) and one empty sweep, with the buffers they used."""
    from hotline.app import start_runtime
    from hotline.clock import SystemClock
    from hotline.config import Settings
    from hotline.sla import sweeper

    conn = await asyncpg.connect(bench.dsn)
    try:
        await conn.execute(
            """
            UPDATE timers SET due_at = now() - interval '1 second'
            WHERE id IN (
                SELECT t.id FROM timers t JOIN tickets k ON k.id = t.subject_id
                WHERE t.state = 'running' AND t.kind = 'resolution' AND t.subject_type = 'ticket'
                  AND k.number NOT LIKE 'S%' AND k.status IN ('dispatched', 'accepted')
                LIMIT $1)
            """,
            due,
        )
        # Sessions opened from now on time their block reads and writes.
        for setting in ("track_io_timing", "track_wal_io_timing"):
            await conn.execute(f'ALTER DATABASE "{bench.database}" SET {setting} = on')
    finally:
        await conn.close()
    settings = Settings(
        database_url=common.sqlalchemy_url(bench.database),
        data_key=bench.data_key,
        log_level="WARNING",
    )
    runtime = await start_runtime(settings, SystemClock())
    # A backend reports its counts when it ends, or idle within 10 s (PostgreSQL 15's
    # PGSTAT_IDLE_INTERVAL): wait for the server's backends to report the load before, then
    # read them before the sweeps and after their connections are closed.
    await asyncio.sleep(11)
    before = await _buffers(bench.dsn)
    autovacuum = await _autovacuum(bench.dsn)
    try:
        started = time.perf_counter()
        report = await sweeper.sweep(runtime)
        busy = time.perf_counter() - started
        started = time.perf_counter()
        await sweeper.sweep(runtime)
        empty = time.perf_counter() - started
    finally:
        if runtime.limiter is not None:
            await runtime.limiter.aclose()
        await runtime.db.dispose()
    await asyncio.sleep(0.5)  # the closed backends' last report
    after = await _buffers(bench.dsn)
    read, hit, written, read_ms, write_ms, syncs, sync_ms, checkpoints = (
        a - b for a, b in zip(after, before, strict=True)
    )
    return Sweep(
        busy,
        empty,
        report.breached,
        int(read),
        int(hit),
        int(written),
        read_ms,
        write_ms,
        autovacuum,
        int(syncs),
        sync_ms,
        int(checkpoints),
    )


async def _autovacuum(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        sql = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def _buffers(dsn: str) -> tuple[float, ...]:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(_BUFFERS)
    finally:
        await conn.close()
    assert row is not None
    return tuple(float(v) for v in row)


SETTLE_SECONDS = 60


def growth(bench: Bench, sizes: Sequence[int], seconds: float, due: int) -> None:
    say(f"\n== cost growth: create and list at {seconds:g} s each, a sweep of {due} due ==")
    rows = []
    for size in sizes:
        asyncio.run(seed(bench.dsn, size))
        create = bench.measure(bench.hotline, f"create @{size}", bench.create_script(), seconds)
        script = lua_script(method="GET", path=LIST_PATH, headers=bench.auth(bench.operator))
        listing = bench.measure(bench.hotline, f"list @{size}", script, seconds)
        sweep = asyncio.run(sweep_seconds(bench, due))
        # Again once the machine has been idle a minute: what is left of the seed's and
        # the load's after-effects (the kernel writing the seed's pages back, ...).
        time.sleep(SETTLE_SECONDS)
        settled = asyncio.run(sweep_seconds(bench, due))
        say(
            f"  sweep @{size} after {SETTLE_SECONDS} s idle: {settled.breached} breached in "
            f"{settled.busy * 1000:.0f} ms, blocks read {settled.read:,}, hit {settled.hit:,}"
        )
        say(
            f"  sweep @{size}: {sweep.breached} breached in {sweep.busy * 1000:.0f} ms, "
            f"empty {sweep.empty * 1000:.1f} ms; blocks read {sweep.read:,}, "
            f"hit {sweep.hit:,}, written by the sweep's backends {sweep.backend_writes:,}; "
            f"reading took {sweep.read_ms:.1f} ms, writing {sweep.write_ms:.1f} ms; "
            f"autovacuum workers at the start: {sweep.autovacuum}; WAL flushed "
            f"{sweep.wal_syncs} times in {sweep.wal_sync_ms:.1f} ms; checkpoints begun "
            f"{sweep.checkpoints}"
        )
        rows.append((size, create, listing, sweep, settled))
    say(
        "\n| seeded tickets | create req/s | create p50 / p99 ms | list p50 / p99 ms | "
        f"sweep of {due} due (ms) | empty sweep (ms) | blocks read / hit | backend writes | "
        "read / write ms | autovacuum workers | WAL flushes (ms) | checkpoints | "
        f"sweep of {due} after {SETTLE_SECONDS} s idle (ms) |"
    )
    say("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size, create, listing, sweep, settled in rows:
        say(
            f"| {size:,} | {create.rps:.0f} | {create.p50_ms:.1f} / {create.p99_ms:.1f} | "
            f"{listing.p50_ms:.1f} / {listing.p99_ms:.1f} | "
            f"{sweep.busy * 1000:.0f} ({sweep.breached}) | {sweep.empty * 1000:.1f} | "
            f"{sweep.read:,} / {sweep.hit:,} | {sweep.backend_writes:,} | "
            f"{sweep.read_ms:.1f} / {sweep.write_ms:.1f} | {sweep.autovacuum} | "
            f"{sweep.wal_syncs} ({sweep.wal_sync_ms:.1f}) | {sweep.checkpoints} | "
            f"{settled.busy * 1000:.0f} ({settled.breached}) |"
        )


# -- main --------------------------------------------------------------------------------


def source_version() -> str:
    """The commit measured (and whether the work tree differs from it), read-only."""
    try:
        head = subprocess.run(
            ["git", "-C", str(common.ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "--no-optional-locks",
                "-C",
                str(common.ROOT),
                "status",
                "--porcelain",
                "--",
                "src",
                "migrations",
            ],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    return f"commit {head}" + (" with uncommitted changes in src/" if dirty else "")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=None, help="per operation (10)")
    parser.add_argument("--quick", action="store_true", help="2 s each, small seed, no RSS run")
    parser.add_argument("--seed", type=int, default=None, help="tickets seeded (1,000,000)")
    parser.add_argument(
        "--rss-creates", type=int, default=None, help="creates before reading VmHWM (100,000)"
    )
    parser.add_argument("--explain", action="store_true", help="EXPLAIN the hot queries")
    parser.add_argument("--no-probe", action="store_true", help="skip the statement counts")
    parser.add_argument("--profile", action="store_true", help="py-spy profiles under load")
    parser.add_argument(
        "--growth",
        default="",
        help="seeded sizes for the cost-growth table, e.g. 10000,100000,1000000 "
        "(runs instead of the operations)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database (debugging)")
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = 2.0 if args.quick else 10.0
    if args.seed is None:
        args.seed = 10_000 if args.quick else 1_000_000
    if args.rss_creates is None:
        args.rss_creates = 2_000 if args.quick else 100_000
    if not 0 < args.seconds <= 600:
        parser.error("--seconds must be in (0, 600]")
    if not 0 <= args.seed <= 20_000_000 or not 0 <= args.rss_creates <= 1_000_000:
        parser.error("--seed at most 20,000,000 and --rss-creates at most 1,000,000")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = ensure_wrk()
    database = asyncio.run(common.new_database("hotline_bench"))
    if database is None:
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="hotline-bench-"))
    say(f"database {database}; wrk scripts and logs in {workdir}")
    say(f"source: {source_version()}; load average {os.getloadavg()[0]:.1f}")
    data_key = common.new_data_key()
    hotline_port, bare_port = common.free_port(), common.free_port()
    stack_port = common.free_port()
    env = common.hotline_env(
        database,
        ADMIN_TOKEN,
        data_key,
        HOTLINE_RATE_LIMIT=RATE_LIMIT,
        HOTLINE_SWEEP_INTERVAL="3600",
    )
    procs: list[common.Proc] = []
    ok = False
    try:
        with common.stopping(procs):
            hotline = common.start(
                "hotline-serve",
                [common.HOTLINE, "serve", "--no-worker", "--port", str(hotline_port)],
                env,
                workdir,
                port=hotline_port,
            )
            procs.append(hotline)
            common.wait_ready(hotline)
            bare_env = {
                **env,
                "BARE_DSN": common.pg_dsn(database),
                "STACK_URL": common.sqlalchemy_url(database),
            }
            apps: list[common.Proc] = []
            # One after the other: each creates the bare tables if missing.
            for name, app, port in (
                ("bare-app", "bench.bare_app:app", bare_port),
                ("stack-app", "bench.stack_app:app", stack_port),
            ):
                command = [sys.executable, "-m", "uvicorn", app, "--host", common.LOCAL]
                command += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
                apps.append(common.start(name, command, bare_env, workdir, port=port))
                procs.append(apps[-1])
                common.wait_ready(apps[-1])
            bare, stack = apps
            bench = Bench(args, wrk, workdir, database, data_key, hotline, bare, stack)
            bench.peak_overall = common.proc_status(hotline.pid, "VmHWM") or 0
            say(
                f"hotline serve pid {hotline.pid} (start-up VmHWM {common.mib(bench.peak_overall)})"
            )
            admin = common.Admin(hotline.base, ADMIN_TOKEN)
            try:
                bench.operator, bench.department = set_up(admin)
            finally:
                admin.close()
            if args.growth:
                sizes = [int(s) for s in args.growth.split(",") if s.strip()]
                growth(bench, sizes, args.seconds, due=100)
                if args.explain:
                    asyncio.run(probe(bench, explain=True))
                return 0
            say(f"\n== seeding {args.seed:,} tickets (and 2 timers each) server-side ==")
            took = asyncio.run(seed(bench.dsn, args.seed))
            say(f"  done in {took:.0f} s")
            bench.run_operations(args.seconds)
            bench.run_rss_creates(args.rss_creates)
            if not args.no_probe or args.explain:
                asyncio.run(probe(bench, explain=args.explain))
            if args.profile:
                profile(bench, args.seconds)
            ok = report(bench, args.rss_creates, asyncio.run(seeded_count(bench.dsn)))
    finally:
        if args.keep:
            say(f"kept database {database}")
        else:
            asyncio.run(common.drop_database(database))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
