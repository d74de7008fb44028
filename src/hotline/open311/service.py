"""Open311 GeoReport v2 over tickets: api_key checks, services, intake and request views."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from hotline import errors
from hotline.auth import service as auth
from hotline.auth.models import Role
from hotline.auth.service import Actor
from hotline.routing.models import Department, RoutingRule
from hotline.runtime import Runtime
from hotline.sla.service import RUNNING, timers_of
from hotline.tickets import schemas as s
from hotline.tickets import service as tickets
from hotline.tickets.models import Ticket
from hotline.tickets.scope import visible

FORM = "application/x-www-form-urlencoded"
# Who may hold an api_key: civic apps, and staff trying the facade out.
KEY_HOLDERS = frozenset({Role.app, Role.operator, Role.admin})
# The specification's defaults for a search without dates, and its largest answer.
DEFAULT_WINDOW = timedelta(days=90)
MAX_RESULTS = 1000
MAX_FORM_FIELDS = 100
# A citizen sees "closed" once the department has answered, before the review.
CLOSED_STATUSES = frozenset({s.Status.resolved, *s.TERMINAL_STATUSES})
OPEN_STATUSES = frozenset(s.Status) - CLOSED_STATUSES
REQUEST_STATUSES = ("open", "closed")
_NUMBER = re.compile(r"^[0-9]{1,20}$")
_CODE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_HAN = re.compile(r"^[\u3400-\u9fff\uf900-\ufaff·]+$")
# Where a TicketCreate field came from in the form, to name it in a 400.
_FORM_NAMES = {
    ("content",): "description",
    ("topic",): "service_code",
    ("caller", "name"): "first_name/last_name",
    ("caller", "phone"): "phone",
    ("location", "address"): "address_string",
    ("location", "lat"): "lat",
    ("location", "lng"): "long",
}


class GeoReportError(Exception):
    """An error answered in the specification's format: ``[{code, description}]``."""

    def __init__(
        self, status: int, description: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.headers = dict(headers or {})


def bad(description: str) -> GeoReportError:
    return GeoReportError(400, description)


def from_hotline(exc: errors.HotlineError) -> GeoReportError:
    """The ticket layer's error in this facade's terms: the specification knows no 401 or
    422, so a refused token is 403 and a refused field is 400."""
    status = {401: 403, 422: 400}.get(exc.status, exc.status)
    return GeoReportError(status, exc.detail, exc.headers())


def no_nul(name: str, value: str | None) -> None:
    """PostgreSQL cannot store NUL, so it must never reach a query."""
    if value is not None and "\x00" in value:
        raise bad(f"{name}: must not contain NUL characters.")


# -- authentication -----------------------------------------------------------------


async def authenticate(session: AsyncSession, runtime: Runtime, api_key: str | None) -> Actor:
    """The api_key's principal, counted against its rate limit: 403 unless it is a live
    token of an app, an operator or an admin."""
    if not api_key:
        raise GeoReportError(403, "api_key is required.")
    try:
        actor = await auth.authenticate(session, api_key, runtime.clock.now())
    except errors.Unauthorized:
        raise GeoReportError(403, "The api_key is unknown, revoked or expired.") from None
    if actor.role not in KEY_HOLDERS:
        raise GeoReportError(403, f"A {actor.role.value} token is no api_key.")
    if runtime.limiter is not None and actor.id is not None:
        try:
            await runtime.limiter.check(str(actor.id))
        except errors.RateLimited as exc:
            raise from_hotline(exc) from None
    return actor


# -- services -----------------------------------------------------------------------


@dataclass
class Service:
    """A service type: the topic of one or more routing rules."""

    code: str
    name: str | None = None
    group: str | None = None

    @property
    def title(self) -> str:
        return self.name or self.code

    def as_json(self) -> dict[str, Any]:
        return {
            "service_code": self.code,
            "service_name": self.title,
            "description": None,
            "metadata": False,
            "type": "realtime",
            "keywords": None,
            "group": self.group,
        }


async def services(session: AsyncSession) -> dict[str, Service]:
    """Every topic a rule routes, by code; the name and group come from the first rule,
    in the order routing prefers them, that has a label or a department."""
    rows = await session.execute(
        sa.select(RoutingRule.topic, RoutingRule.label, Department.platform)
        .outerjoin(Department, Department.code == RoutingRule.department_code)
        .where(RoutingRule.topic.is_not(None))
        .order_by(
            RoutingRule.topic,
            RoutingRule.priority.desc(),
            RoutingRule.created_at,
            RoutingRule.id,
        )
    )
    found: dict[str, Service] = {}
    for topic, label, platform in rows:
        if topic is None:  # excluded by the query; this tells the type checker
            continue
        kind = found.setdefault(topic, Service(topic))
        kind.name = kind.name or label
        kind.group = kind.group or platform
    return found


async def get_service(session: AsyncSession, code: str) -> Service:
    known = await services(session) if _CODE.match(code) else {}
    if code not in known:
        raise GeoReportError(404, "No such service_code.")
    return known[code]


def definition_json(kind: Service) -> dict[str, Any]:
    # No service takes attributes (every one has metadata false), so the list is empty.
    return {"service_code": kind.code, "attributes": []}


# -- intake -------------------------------------------------------------------------


def parse_form(content_type: str | None, body: bytes) -> dict[str, str]:
    """The form's fields, the last of a repeated one winning; blank fields count as absent."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if body and media != FORM:
        raise GeoReportError(415, f"Send the fields form-encoded, as {FORM}.")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except ValueError:  # UnicodeDecodeError included
        raise bad(
            f"The body is not {FORM} in UTF-8, or has more than {MAX_FORM_FIELDS} fields."
        ) from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        no_nul("A field name", name)
        no_nul(name, value)
        if value.strip():
            fields[name] = value.strip()
        else:
            fields.pop(name, None)
    return fields


def caller_name(first: str | None, last: str | None) -> str | None:
    """Chinese names read surname first and unspaced (张 + 三 = 张三); others "first last"."""
    parts = [p for p in (first, last) if p]
    if len(parts) == 2 and all(_HAN.match(p) for p in parts):
        return f"{last}{first}"
    return " ".join(parts) or None


def _coordinate(fields: Mapping[str, str], name: str) -> float | None:
    raw = fields.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise bad(f"{name}: must be a number in decimal degrees.") from None
    if not math.isfinite(value):
        raise bad(f"{name}: must be a finite number.")
    return value


def ticket_body(fields: Mapping[str, str]) -> s.TicketCreate:
    """The petition a GeoReport request makes; 400 naming the first bad field."""
    code = fields.get("service_code")
    if code is None:
        raise bad("service_code is required.")
    if fields.get("description") is None:
        raise bad("description is required.")
    lat, lng = _coordinate(fields, "lat"), _coordinate(fields, "long")
    if (lat is None) != (lng is None):
        raise bad("lat and long come together.")
    address = fields.get("address_string")
    if lat is None and address is None:
        # address_id alone is not enough: this server has no address registry to look it up.
        raise bad("A location is required: lat and long, or address_string.")
    name = caller_name(fields.get("first_name"), fields.get("last_name"))
    phone = fields.get("phone")
    body = {
        "kind": s.Kind.petition,
        "channel": s.Channel.platform,
        "category": s.Category.help,
        "topic": code,
        "content": fields["description"],
        "caller": {"name": name, "phone": phone} if name or phone else None,
        "location": {"address": address, "lat": lat, "lng": lng},
    }
    try:
        # Validated as one document, so an error's location names the form field.
        return s.TicketCreate.model_validate(body)
    except ValidationError as exc:
        raise bad(_first_problem(exc)) from None


def _first_problem(exc: ValidationError) -> str:
    first = exc.errors(include_input=False, include_url=False)[0]
    loc = tuple(str(p) for p in first["loc"])
    name = _FORM_NAMES.get(loc, ".".join(loc) or "body")
    # The phone's own validator says what a valid one looks like.
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{name}: {message}"


async def submit(
    session: AsyncSession, runtime: Runtime, actor: Actor, body: s.TicketCreate
) -> Ticket:
    """Register the petition through the ticket service, so routing, clocks, events and
    the outbox run as for ``POST /v1/tickets``."""
    if body.topic is None or body.topic not in await services(session):
        raise bad("service_code: no such service; see services.json.")
    try:
        ticket, _ = await tickets.create(session, runtime, actor, body)
        return ticket
    except errors.HotlineError as exc:
        raise from_hotline(exc) from None


def created_json(ticket: Ticket) -> dict[str, Any]:
    return {"service_request_id": ticket.number, "service_notice": None, "account_id": None}


# -- reading ------------------------------------------------------------------------


@dataclass(frozen=True)
class Search:
    """GET requests' filters; ``numbers`` set means every other filter is ignored."""

    numbers: list[str] | None = None
    codes: list[str] | None = None
    statuses: frozenset[s.Status] | None = None
    start: datetime | None = None
    end: datetime | None = None


def _list(name: str, raw: str | None) -> list[str] | None:
    no_nul(name, raw)
    if raw is None or not raw.strip():
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]


def _instant(name: str, raw: str | None) -> datetime | None:
    no_nul(name, raw)
    if raw is None or not raw.strip():
        return None
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise bad(f"{name}: must be a W3C datetime with an offset, like 2026-11-23T09:30:00+08:00.")
    return value


def parse_search(
    service_request_id: str | None,
    service_code: str | None,
    start_date: str | None,
    end_date: str | None,
    status: str | None,
) -> Search:
    numbers = _list("service_request_id", service_request_id)
    codes = _list("service_code", service_code)
    statuses = _list("status", status)
    start, end = _instant("start_date", start_date), _instant("end_date", end_date)
    if numbers is not None and len(numbers) > MAX_RESULTS:
        raise bad(f"service_request_id: at most {MAX_RESULTS} ids.")
    wanted: set[s.Status] | None = None
    if statuses is not None:
        unknown = sorted(set(statuses) - set(REQUEST_STATUSES))
        if unknown:
            raise bad(f"status: {unknown[0]!r} is neither open nor closed.")
        wanted = set()
        for name in statuses:
            wanted |= CLOSED_STATUSES if name == "closed" else OPEN_STATUSES
    if start is not None and end is not None and end < start:
        raise bad("end_date is before start_date.")
    return Search(
        numbers=numbers,
        codes=codes,
        statuses=None if wanted is None else frozenset(wanted),
        start=start,
        end=end,
    )


async def search(session: AsyncSession, actor: Actor, f: Search, now: datetime) -> list[Ticket]:
    """The requests the actor may read, newest first, at most MAX_RESULTS."""
    stmt = sa.select(Ticket).where(visible(actor))
    if f.numbers is not None:
        stmt = stmt.where(Ticket.number.in_([n for n in f.numbers if _NUMBER.match(n)]))
    else:
        if f.codes is not None:
            stmt = stmt.where(Ticket.topic.in_(f.codes))
        if f.statuses is not None:
            stmt = stmt.where(Ticket.status.in_(sorted(f.statuses)))
        start = f.start
        if start is None and f.end is None:
            start = now - DEFAULT_WINDOW
        if start is not None:
            stmt = stmt.where(Ticket.created_at >= start)
        if f.end is not None:
            stmt = stmt.where(Ticket.created_at <= f.end)
    stmt = stmt.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(MAX_RESULTS)
    return list((await session.scalars(stmt)).all())


async def find(session: AsyncSession, actor: Actor, number: str) -> Ticket:
    """One request by its number, if the actor may read it: 404 otherwise, alike."""
    ticket = None
    if _NUMBER.match(number):
        ticket = await session.scalar(
            sa.select(Ticket).where(Ticket.number == number, visible(actor))
        )
    if ticket is None:
        raise GeoReportError(404, "No such service_request_id.")
    return ticket


def w3c(value: datetime | None, tz: str) -> str | None:
    """An instant in the service's time zone, with its offset (2026-11-23T09:30:00+08:00)."""
    if value is None:
        return None
    return value.astimezone(ZoneInfo(tz)).isoformat(timespec="seconds")


async def requests_json(
    session: AsyncSession, runtime: Runtime, rows: Sequence[Ticket]
) -> list[dict[str, Any]]:
    """The tickets as GeoReport requests, in two more queries; never the caller's data."""
    if not rows:
        return []
    known = await services(session)
    timers = await timers_of(session, "ticket", [t.id for t in rows])
    tz = runtime.settings.timezone
    return [_request_json(t, known, timers[t.id], tz) for t in rows]


def _request_json(
    ticket: Ticket, known: Mapping[str, Service], timers: Sequence[Any], tz: str
) -> dict[str, Any]:
    closed = ticket.status in CLOSED_STATUSES
    due = next((t.due_at for t in timers if t.kind == "resolution" and t.state == RUNNING), None)
    where = ticket.location or {}
    kind = known.get(ticket.topic) if ticket.topic else None
    return {
        "service_request_id": ticket.number,
        "status": "closed" if closed else "open",
        # The department's answer is what a citizen wants to read once it is closed.
        "status_notes": ticket.result if closed else None,
        "service_name": kind.title if kind else ticket.topic,
        "service_code": ticket.topic,
        "description": ticket.content,
        "agency_responsible": ticket.department_code,
        "service_notice": None,
        "requested_datetime": w3c(ticket.created_at, tz),
        "updated_datetime": w3c(ticket.updated_at, tz),
        "expected_datetime": w3c(due, tz),
        "address": where.get("address"),
        "address_id": None,
        "zipcode": None,
        "lat": where.get("lat"),
        "long": where.get("lng"),
        "media_url": None,
    }
