"""Intake: numbers, times, routing and SLA clocks, calendar, reference data, principals, ops."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from hotline.sla import service as sla
from hotline.sla.calendar import WorkingCalendar

from conftest import START, Api, Env

UTC_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def timer(ticket: dict[str, Any], kind: str) -> dict[str, Any]:
    """The running (else the latest) timer of this kind."""
    entries = [t for t in ticket["timers"] if t["kind"] == kind]
    assert entries, f"no {kind} timer in {ticket['timers']}"
    running = [t for t in entries if t["state"] == "running"]
    return running[-1] if running else entries[-1]


def kinds(ticket: dict[str, Any]) -> list[str]:
    return [t["kind"] for t in ticket["timers"]]


# -- number and times ------------------------------------------------------------------


async def test_number_is_the_local_date_and_a_daily_sequence(api: Api, env: Env) -> None:
    # 17:00 UTC is already 01:00 of the next day in Shanghai.
    env.clock.set(datetime(2026, 11, 23, 17, 0, tzinfo=UTC))
    first = [await api.ticket() for _ in range(3)]
    assert [t["number"] for t in first] == ["202611240001", "202611240002", "202611240003"]

    env.clock.advance(timedelta(days=1))
    second = [await api.ticket() for _ in range(2)]
    assert [t["number"] for t in second] == ["202611250001", "202611250002"]

    numbers = [t["number"] for t in first + second]
    assert len(set(numbers)) == len(numbers)
    assert all(re.fullmatch(r"\d{8}\d{4,}", n) for n in numbers)


async def test_every_time_is_utc_with_z(api: Api) -> None:
    await api.department("water")
    await api.rule(topic="water_supply", department_code="water", response_sla="PT30M")
    ticket = await api.ticket()
    ticket = await api.act(ticket, "accept")
    for name in ("created_at", "updated_at"):
        assert UTC_Z.match(ticket[name]), ticket[name]
    for t in ticket["timers"]:
        for name in ("due_at", "started_at", "met_at", "breached_at"):
            if t.get(name) is not None:
                assert UTC_Z.match(t[name]), (name, t[name])
    events = (await api.get(f"/v1/tickets/{ticket['id']}/events")).json()["items"]
    assert events and all(UTC_Z.match(e["at"]) for e in events)
    listed = (await api.get("/v1/tickets")).json()["items"]
    assert all(UTC_Z.match(t["created_at"]) for t in listed)


# -- routing -----------------------------------------------------------------------------


async def test_most_specific_rule_wins_then_priority_then_the_older(api: Api, env: Env) -> None:
    for code in ("a", "b", "c", "x", "y", "p", "q"):
        await api.department(code)
    await api.rule(topic="water_supply", department_code="a")
    await api.rule(topic="water_supply", category="help", department_code="b")
    # A higher priority does not beat a rule with more match fields.
    await api.rule(category="help", department_code="c", priority=100)
    await api.rule(topic="noise", department_code="x", priority=0)
    await api.rule(topic="noise", department_code="y", priority=5)
    await api.rule(topic="litter", department_code="p")
    env.clock.advance(timedelta(seconds=1))  # so that "older" is unambiguous
    await api.rule(topic="litter", department_code="q")

    assert (await api.ticket(topic="water_supply"))["department_code"] == "b"
    assert (await api.ticket(topic="noise", category="complaint"))["department_code"] == "y"
    assert (await api.ticket(topic="litter", category="complaint"))["department_code"] == "p"
    assert (await api.ticket(topic="parking", category="help"))["department_code"] == "c"


async def test_rule_without_department_sets_clocks_but_leaves_a_petition_received(
    api: Api, env: Env
) -> None:
    await api.department("water")
    await api.rule(topic="advice", callback_sla="PT2H", resolution_sla="PT48H", calendar="natural")
    created = env.clock.now()
    ticket = await api.ticket(topic="advice")
    assert ticket["status"] == "received" and ticket["department_code"] is None
    assert kinds(ticket) == ["callback"]
    assert at(timer(ticket, "callback")["due_at"]) == created + timedelta(hours=2)

    # A manual dispatch takes the SLA of the matching rule.
    env.clock.advance(timedelta(hours=1))
    t = await api.act(ticket, "dispatch", {"department_code": "water"})
    assert t["status"] == "dispatched"
    assert at(timer(t, "resolution")["due_at"]) == env.clock.now() + timedelta(hours=48)


async def test_service_orders_are_posted_unless_their_rule_names_a_department(api: Api) -> None:
    await api.department("helpers")
    await api.rule(kind="service_order", topic="shopping", resolution_sla="P2D")
    await api.rule(kind="service_order", topic="repair", department_code="helpers")

    no_rule = await api.ticket(kind="service_order", topic="unknown_topic")
    assert no_rule["status"] == "posted" and no_rule["department_code"] is None
    no_department = await api.ticket(kind="service_order", topic="shopping")
    assert no_department["status"] == "posted" and no_department["department_code"] is None
    routed = await api.ticket(kind="service_order", topic="repair")
    assert routed["status"] == "dispatched" and routed["department_code"] == "helpers"
    assert "resolution" in kinds(routed)

    petition = await api.ticket(topic="unknown_topic")
    assert petition["status"] == "received" and kinds(petition) == ["callback"]


async def test_rule_sla_sets_the_timers(api: Api, env: Env) -> None:
    await api.department("enforce", "enforcement")
    await api.rule(
        topic="illegal_building",
        department_code="enforce",
        response_sla="PT30M",
        resolution_sla="PT48H",
        calendar="natural",
    )
    created = env.clock.now()
    ticket = await api.ticket(topic="illegal_building")
    assert ticket["status"] == "dispatched"
    assert at(ticket["created_at"]) == created
    assert kinds(ticket) == ["callback", "response", "resolution"]
    assert all(t["state"] == "running" for t in ticket["timers"])
    assert at(timer(ticket, "callback")["due_at"]) == created + timedelta(hours=24)
    assert at(timer(ticket, "response")["due_at"]) == created + timedelta(minutes=30)
    assert at(timer(ticket, "resolution")["due_at"]) == created + timedelta(hours=48)


async def test_a_rule_naming_its_resolution_sla_runs_on_natural_time_by_default(
    api: Api,
) -> None:
    """A duration's calendar is natural unless named; only the default resolution SLA
    (P5D) is on working days."""
    await api.department("water")
    named = await api.rule(topic="water_supply", department_code="water", resolution_sla="P5D")
    assert named["calendar"] == "natural"
    unnamed = await api.rule(topic="other", department_code="water")
    assert unnamed["calendar"] == "working" and unnamed["resolution_sla"] == "P5D"
    # Created Monday 2026-11-23 09:30 in Shanghai: 120 hours later, the weekend included.
    ticket = await api.ticket()
    assert timer(ticket, "resolution")["due_at"] == "2026-11-28T01:30:00Z"


async def test_default_sla_is_callback_24h_natural_and_resolution_5_working_days(
    api: Api,
) -> None:
    await api.department("water")
    await api.rule(topic="water_supply", department_code="water")
    # Created Monday 2026-11-23 09:30 in Shanghai.
    ticket = await api.ticket()
    assert kinds(ticket) == ["callback", "resolution"]
    assert timer(ticket, "callback")["due_at"] == "2026-11-24T01:30:00Z"
    # Five working days after Monday: Tue..Fri and Monday 30th, ending at its midnight.
    assert timer(ticket, "resolution")["due_at"] == "2026-11-30T16:00:00Z"


async def test_working_days_skip_national_day_and_count_the_make_up_saturday(
    api: Api, env: Env
) -> None:
    await api.department("water")
    await api.rule(
        topic="water_supply", department_code="water", resolution_sla="P3D", calendar="working"
    )
    env.clock.set(datetime(2025, 9, 30, 2, 0, tzinfo=UTC))  # 10:00 in Shanghai
    ticket = await api.ticket()
    # Oct 1-8 off; Thu 9, Fri 10 and the make-up Saturday 11 are the three working days.
    assert timer(ticket, "resolution")["due_at"] == "2025-10-11T16:00:00Z"
    # The callback promise is natural time, holidays or not.
    assert timer(ticket, "callback")["due_at"] == "2025-10-01T02:00:00Z"


async def test_working_hours_skip_the_weekend(api: Api, env: Env) -> None:
    await api.department("water")
    await api.rule(
        topic="water_supply", department_code="water", resolution_sla="PT8H", calendar="working"
    )
    env.clock.set(datetime(2025, 3, 8, 2, 0, tzinfo=UTC))  # Saturday 10:00 in Shanghai
    ticket = await api.ticket()
    # Monday 2025-03-10 08:00 in Shanghai.
    assert timer(ticket, "resolution")["due_at"] == "2025-03-10T00:00:00Z"


# -- calendar ------------------------------------------------------------------------------


@pytest.fixture
async def calendar_2031(env: Env) -> AsyncIterator[None]:
    """Forget 2031 afterwards: the configured years live in the session-wide runtime too."""
    yield
    # The wipe between tests empties the table but not this process's calendar.
    env.runtime.calendar._configured.pop(2031, None)


async def test_calendar_years_and_their_sources(api: Api, env: Env, calendar_2031: None) -> None:
    r = await api.get("/v1/calendar/2025")
    assert r.status_code == 200, r.text
    year = r.json()
    assert year["year"] == 2025 and year["source"] == "package"
    assert "2025-10-01" in year["holidays"] and "2025-10-11" in year["workdays"]
    r = await api.get("/v1/calendar/2031")
    assert r.json() == {"year": 2031, "source": "weekends_only", "holidays": [], "workdays": []}

    await api.department("water")
    await api.rule(
        topic="water_supply", department_code="water", resolution_sla="P1D", calendar="working"
    )
    env.clock.set(datetime(2031, 3, 3, 2, 0, tzinfo=UTC))  # Monday 10:00 in Shanghai
    before = await api.ticket()
    assert timer(before, "resolution")["due_at"] == "2031-03-04T16:00:00Z"

    operator = api.as_(await api.principal("operator"))
    schedule = {"holidays": ["2031-03-04"], "workdays": ["2031-03-08"]}
    r = await operator.put("/v1/calendar/2031", schedule)
    assert r.status_code == 403, r.text
    r = await api.put("/v1/calendar/2031", {"holidays": ["2030-05-01"], "workdays": []})
    assert r.status_code == 422, r.text
    assert (await api.get("/v1/calendar/2031")).json()["source"] == "weekends_only"

    r = await api.put("/v1/calendar/2031", schedule)
    assert r.status_code == 200, r.text
    r = await operator.get("/v1/calendar/2031")
    assert r.json() == {"year": 2031, "source": "configured", **schedule}

    # Tuesday is now a holiday: a new ticket's one working day ends on Wednesday.
    after = await api.ticket()
    assert timer(after, "resolution")["due_at"] == "2031-03-05T16:00:00Z"
    # A running timer keeps the deadline it was given.
    again = (await api.get(f"/v1/tickets/{before['id']}")).json()
    assert timer(again, "resolution")["due_at"] == "2031-03-04T16:00:00Z"


async def test_a_year_entered_elsewhere_shows_at_once(
    api: Api, env: Env, calendar_2031: None
) -> None:
    """``hotline calendar import`` or another replica writes the table; a GET reads it."""
    env.runtime.calendar_seen = None  # other tests' years, entered at other instants
    assert (await api.get("/v1/calendar/2031")).json()["source"] == "weekends_only"
    async with env.runtime.db.transaction() as session:
        await sla.configure_year(
            session, WorkingCalendar("Asia/Shanghai"), 2031, [date(2031, 1, 2)], [], START
        )
    r = await api.get("/v1/calendar/2031")
    assert r.json() == {
        "year": 2031,
        "source": "configured",
        "holidays": ["2031-01-02"],
        "workdays": [],
    }


# -- departments and routing rules ---------------------------------------------------------


async def test_departments_and_rules_reference_data(api: Api) -> None:
    operator = api.as_(await api.principal("operator"))
    r = await operator.post(
        "/v1/departments", {"code": "water", "name": "水务", "platform": "convenience"}
    )
    assert r.status_code == 403, r.text
    r = await operator.post("/v1/routing-rules", {"topic": "water_supply"})
    assert r.status_code == 403, r.text

    water = await api.department("water")
    assert water["code"] == "water" and water["platform"] == "convenience"
    r = await api.post("/v1/departments", {"code": "water", "name": "again", "platform": "market"})
    assert r.status_code == 409, r.text
    r = await api.post("/v1/departments", {"code": "sky", "name": "天", "platform": "heaven"})
    assert r.status_code == 422, r.text

    for bad in (
        {"topic": "x", "department_code": "nobody"},
        {"topic": "x", "resolution_sla": "P1M"},
        {"topic": "x", "resolution_sla": "soon"},
    ):
        r = await api.post("/v1/routing-rules", bad)
        assert r.status_code == 422, (bad, r.text)
    rule = await api.rule(topic="water_supply", department_code="water", priority=3)
    assert rule["resolution_sla"] == "P5D" and rule["callback_sla"] == "PT24H"

    await api.post(
        "/v1/members", {"id": "m-1", "name": "党员", "branch": "b", "kind": "in_service"}
    )
    # A principal names a department and a member that exist.
    for role, extra, field in (
        ("member", {"member_id": "ghost"}, "member_id"),
        ("department", {"department_code": "ghost"}, "department_code"),
    ):
        r = await api.post("/v1/principals", {"name": "x", "role": role, **extra})
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", field], r.text
    readers = [
        await api.principal(role, **extra)
        for role, extra in (
            ("operator", {}),
            ("department", {"department_code": "water"}),
            ("member", {"member_id": "m-1"}),
            ("supervisor", {}),
            ("app", {}),
            ("viewer", {}),
        )
    ]
    for token in readers:
        reader = api.as_(token)
        listed = await reader.get("/v1/departments")
        assert listed.status_code == 200, listed.text
        assert [d["code"] for d in listed.json()["items"]] == ["water"]
        assert (await reader.get("/v1/departments/water")).json()["name"] == "water 部门"
        rules = await reader.get("/v1/routing-rules")
        assert [x["id"] for x in rules.json()["items"]] == [rule["id"]]
        one = await reader.get(f"/v1/routing-rules/{rule['id']}")
        assert one.status_code == 200 and one.json()["priority"] == 3
    assert (await api.get("/v1/departments/nowhere")).status_code == 404

    r = await operator.patch("/v1/departments/water", {"name": "供水"})
    assert r.status_code == 403, r.text
    r = await api.patch("/v1/departments/water", {"name": "供水", "platform": "market"})
    assert r.status_code == 200, r.text
    got = (await api.get("/v1/departments/water")).json()
    assert got["name"] == "供水" and got["platform"] == "market"


# -- principals and tokens -----------------------------------------------------------------


async def test_principals_tokens_revocation_and_expiry(
    api: Api, env: Env, client: httpx.AsyncClient
) -> None:
    async def status_with(token: str) -> int:
        r = await client.get("/v1/tickets", headers={"Authorization": f"Bearer {token}"})
        return r.status_code

    r = await api.post("/v1/principals", {"name": "王五", "role": "operator"})
    assert r.status_code == 201, r.text
    created = r.json()
    assert {"id", "name", "role", "token"} <= created.keys()
    assert created["name"] == "王五" and created["role"] == "operator"
    first = created["token"]
    assert await status_with(first) == 200
    # Shown once: reading the principal back never shows a token again.
    shown = await api.get(f"/v1/principals/{created['id']}")
    assert shown.status_code == 200 and first not in shown.text and "token" not in shown.json()
    assert first not in (await api.get("/v1/principals")).text

    r = await api.post("/v1/principals", {"name": "no scope", "role": "department"})
    assert r.status_code == 422, r.text

    r = await api.post(f"/v1/principals/{created['id']}/tokens", {})
    assert r.status_code == 201, r.text
    second = r.json()
    assert {"id", "token", "expires_at"} <= second.keys() and second["token"] != first
    assert await status_with(second["token"]) == 200
    r = await api.delete(f"/v1/principals/{created['id']}/tokens/{second['id']}")
    assert r.status_code == 204, r.text
    assert await status_with(second["token"]) == 401
    assert await status_with(first) == 200

    expires = env.clock.now() + timedelta(hours=1)
    r = await api.post(f"/v1/principals/{created['id']}/tokens", {"expires_at": iso(expires)})
    assert r.status_code == 201, r.text
    expiring = r.json()
    assert at(expiring["expires_at"]) == expires
    assert await status_with(expiring["token"]) == 200
    env.clock.advance(timedelta(hours=2))
    # Used just before, so any token cache has it: expiry must still hold at once.
    assert await status_with(expiring["token"]) == 401
    assert await status_with(first) == 200

    r = await api.delete(f"/v1/principals/{created['id']}")
    assert r.status_code == 204, r.text
    assert await status_with(first) == 401


# -- operations ----------------------------------------------------------------------------


async def test_health_readiness_and_metrics_need_no_token(
    api: Api, client: httpx.AsyncClient
) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        r = await client.get(path)
        assert r.status_code == 200, (path, r.text)

    await api.ticket(caller={"name": "李四", "phone": "13912345678"})
    text = (await client.get("/metrics")).text
    assert 'hotline_tickets_created_total{channel="hotline"}' in text
    assert "13912345678" not in text
