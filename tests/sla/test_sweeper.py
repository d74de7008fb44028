"""The SLA sweeper with a moved clock: breaches, warnings, supervision and escalation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from hotline.app import start_runtime
from hotline.supervision.models import Supervision
from hotline.worker import Worker

from conftest import Api, Env, sweep


async def setup(api: Api, **rule: Any) -> dict[str, Api]:
    await api.department("water")
    await api.department("roads", "enforcement")
    await api.rule(topic="water_supply", department_code="water", **rule)
    return {
        "op": api.as_(await api.principal("operator")),
        "water": api.as_(await api.principal("department", department_code="water")),
        "sup": api.as_(await api.principal("supervisor")),
    }


def timer(ticket: dict[str, Any], kind: str, index: int = -1) -> dict[str, Any]:
    return [t for t in ticket["timers"] if t["kind"] == kind][index]


async def types(api: Api, ticket: dict[str, Any]) -> list[str]:
    r = await api.get(f"/v1/tickets/{ticket['id']}/events")
    return [e["type"] for e in r.json()["items"]]


async def test_callback_met_in_time_is_never_breached(api: Api, env: Env) -> None:
    p = await setup(api, resolution_sla="P10D", calendar="natural")
    t = await p["op"].ticket()
    await p["op"].act(t, "callback", {"outcome": "reached"})
    env.clock.advance(timedelta(hours=25))
    assert (await sweep(env)).breached == 0
    t = (await api.get(f"/v1/tickets/{t['id']}")).json()
    assert timer(t, "callback")["state"] == "met"
    assert t["overdue"] is False


async def test_callback_breached_after_due(api: Api, env: Env) -> None:
    p = await setup(api, resolution_sla="P10D", calendar="natural")
    t = await p["op"].ticket()
    env.clock.advance(timedelta(hours=23, minutes=59))
    assert (await sweep(env)).breached == 0
    env.clock.advance(timedelta(minutes=2))
    report = await sweep(env)
    assert report.breached == 1
    after = (await api.get(f"/v1/tickets/{t['id']}")).json()
    assert timer(after, "callback")["state"] == "breached"
    assert timer(after, "callback")["breached_at"] is not None
    assert after["overdue"] is True and after["supervised"] is False
    assert after["version"] == t["version"] + 1
    assert (await types(api, t)).count("ticket.sla_breached") == 1
    assert (await sweep(env)).breached == 0  # once only


async def test_a_deadline_is_breached_once_past_not_at_it(api: Api, env: Env) -> None:
    """API.md: "A running timer past `due_at` is `breached`"; a callback at `due_at` is in
    time, whichever of the sweep and the call comes first at that instant."""
    p = await setup(api, resolution_sla="P10D", calendar="natural")
    t = await p["op"].ticket()
    due = datetime.fromisoformat(timer(t, "callback")["due_at"])
    env.clock.set(due)
    assert (await sweep(env)).breached == 0
    t = await p["op"].act(t, "callback", {"outcome": "reached"})
    assert (timer(t, "callback")["state"], t["overdue"]) == ("met", False)
    late = await p["op"].ticket()
    env.clock.set(datetime.fromisoformat(timer(late, "callback")["due_at"]))
    assert (await sweep(env)).breached == 0
    env.clock.advance(timedelta(microseconds=1))
    assert (await sweep(env)).breached == 1


async def test_resolution_breach_opens_one_case_and_escalates(api: Api, env: Env) -> None:
    p = await setup(api, resolution_sla="PT48H", calendar="natural", escalate_after="PT24H")
    t = await p["op"].ticket()
    await p["op"].act(t, "callback", {"outcome": "reached"})
    env.clock.advance(timedelta(hours=49))
    assert (await sweep(env)).breached == 1
    after = (await api.get(f"/v1/tickets/{t['id']}")).json()
    assert after["overdue"] is True and after["supervised"] is True
    cases = (await p["sup"].get("/v1/supervisions", params={"status": "open"})).json()["items"]
    assert len(cases) == 1
    case = cases[0]
    assert case["ticket_id"] == t["id"] and case["reason"] == "sla_breached"
    assert case["level"] == 1 and case["subject"] == "ticket" and case["dispute_id"] is None
    assert ["ticket.sla_breached", "supervision.opened"] == (await types(api, t))[-2:]

    env.clock.advance(timedelta(hours=23))
    assert (await sweep(env)).escalated == 0
    env.clock.advance(timedelta(hours=2))
    assert (await sweep(env)).escalated == 1
    case = (await p["sup"].get(f"/v1/supervisions/{case['id']}")).json()
    assert case["level"] == 2
    assert [e["type"] for e in case["entries"]] == ["opened", "escalated"]
    assert (await types(api, t))[-1] == "supervision.escalated"
    env.clock.advance(timedelta(days=5))
    assert (await sweep(env)).escalated == 0  # county is the top

    r = await p["sup"].post(f"/v1/supervisions/{case['id']}/actions/follow_up", {"note": "已督促"})
    assert r.status_code == 200, r.text
    r = await p["sup"].post(f"/v1/supervisions/{case['id']}/actions/close", {"note": "已办结"})
    assert r.json()["status"] == "closed" and r.json()["closed_at"] is not None
    r = await p["sup"].post(f"/v1/supervisions/{case['id']}/actions/close", {"note": "again"})
    assert r.status_code == 409
    r = await p["op"].post(f"/v1/supervisions/{case['id']}/actions/close", {"note": "x"})
    assert r.status_code == 403
    assert (await types(api, t))[-2:] == ["supervision.followed_up", "supervision.closed"]


async def test_default_escalation_counts_one_working_day_on_a_natural_rule(
    api: Api, env: Env
) -> None:
    """Without ``escalate_after`` a case rises P1D working after it opened, whatever the
    rule's calendar: a breach on Wednesday morning rises at 24:00 on Thursday (Shanghai)."""
    p = await setup(api, resolution_sla="PT48H", calendar="natural")
    t = await p["op"].ticket()  # Monday 09:30 in Shanghai
    await p["op"].act(t, "callback", {"outcome": "reached"})
    env.clock.advance(timedelta(hours=49))  # Wednesday 10:30
    assert (await sweep(env)).breached == 1
    case = (await p["sup"].get("/v1/supervisions")).json()["items"][0]
    assert case["escalate_at"] == "2026-11-26T16:00:00Z"
    env.clock.advance(timedelta(hours=37, minutes=29))  # Thursday 23:59
    assert (await sweep(env)).escalated == 0
    env.clock.advance(timedelta(minutes=2))
    assert (await sweep(env)).escalated == 1


async def test_resolved_ticket_is_not_escalated(api: Api, env: Env) -> None:
    p = await setup(api, resolution_sla="PT2H", calendar="natural", escalate_after="PT1H")
    t = await p["op"].ticket()
    await p["water"].act(t, "accept")
    env.clock.advance(timedelta(hours=3))
    await sweep(env)
    await p["water"].act(t, "resolve", {"result": "修好了"})
    env.clock.advance(timedelta(hours=2))
    assert (await sweep(env)).escalated == 0
    case = (await p["sup"].get("/v1/supervisions")).json()["items"][0]
    assert case["level"] == 1 and case["status"] == "open"


async def test_extension_moves_due_and_after_breach_adds_a_running_entry(
    api: Api, env: Env
) -> None:
    p = await setup(api, resolution_sla="PT10H", calendar="natural")
    t = await p["op"].ticket()
    await p["water"].act(t, "accept")
    until = (env.clock.now() + timedelta(hours=20)).isoformat()
    await p["water"].act(t, "request_extension", {"until": until, "reason": "施工"})
    t = await p["op"].act(t, "approve_extension", {})
    assert len([x for x in t["timers"] if x["kind"] == "resolution"]) == 1
    env.clock.advance(timedelta(hours=11))
    assert (await sweep(env)).breached == 0  # the resolution moved from +10h to +20h
    env.clock.advance(timedelta(hours=10))
    assert (await sweep(env)).breached == 1
    until = (env.clock.now() + timedelta(hours=5)).isoformat()
    await p["water"].act(t, "request_extension", {"until": until, "reason": "材料"})
    t = await p["op"].act(t, "approve_extension", {"note": "同意"})
    states = [x["state"] for x in t["timers"] if x["kind"] == "resolution"]
    assert states == ["breached", "running"]


async def test_redispatch_restarts_resolution(api: Api, env: Env) -> None:
    p = await setup(api, resolution_sla="PT10H", calendar="natural")
    t = await p["op"].ticket()
    first_due = timer(t, "resolution")["due_at"]
    env.clock.advance(timedelta(hours=5))
    await p["water"].act(t, "return", {"reason": "非本单位"})
    t = await p["op"].act(t, "dispatch", {"department_code": "roads"})
    resolution = [x for x in t["timers"] if x["kind"] == "resolution"]
    assert [x["state"] for x in resolution] == ["cancelled", "running"]
    assert resolution[-1]["due_at"] > first_due
    env.clock.advance(timedelta(hours=6))
    assert (
        await sweep(env)
    ).breached == 0  # the first clock was cancelled; the new one is due at +15h
    env.clock.advance(timedelta(hours=5))
    assert (await sweep(env)).breached == 1


async def test_warning_recorded_once_before_deadline(api: Api, env: Env) -> None:
    p = await setup(api, resolution_sla="PT10H", calendar="natural")
    t = await p["op"].ticket()
    await p["op"].act(t, "callback", {"outcome": "reached"})
    env.clock.advance(timedelta(hours=7, minutes=59))  # lead = 20% of 10h = 2h: warn at 8h
    assert (await sweep(env)).warned == 0
    env.clock.advance(timedelta(minutes=2))
    assert (await sweep(env)).warned == 1
    assert (await sweep(env)).warned == 0
    env.clock.advance(timedelta(minutes=30))
    assert (await sweep(env)).warned == 0
    assert (await types(api, t)).count("ticket.sla_warning") == 1
    # An extension moves the same entry: it warned once, and does not warn again.
    await p["water"].act(t, "accept")
    until = (env.clock.now() + timedelta(hours=10)).isoformat()
    await p["water"].act(t, "request_extension", {"until": until, "reason": "施工"})
    await p["op"].act(t, "approve_extension", {})
    env.clock.advance(timedelta(hours=9))
    assert (await sweep(env)).warned == 0
    assert (await types(api, t)).count("ticket.sla_warning") == 1


async def test_manual_supervision_adds_to_the_open_case(api: Api, env: Env) -> None:
    p = await setup(api)
    t = await p["op"].ticket()
    t = await p["sup"].act(t, "supervise", {"note": "群众反映强烈"})
    assert t["supervised"] is True
    await p["sup"].act(t, "supervise", {"note": "再次督办"})
    cases = (await p["sup"].get("/v1/supervisions", params={"ticket_id": t["id"]})).json()["items"]
    assert len(cases) == 1
    assert cases[0]["reason"] == "manual"
    assert [e["type"] for e in cases[0]["entries"]] == ["opened", "manual"]
    assert (await types(api, t))[-3:] == [
        "ticket.supervised",
        "supervision.opened",
        "ticket.supervised",
    ]
    r = await p["op"].post(f"/v1/tickets/{t['id']}/actions/supervise", {"note": "x"})
    assert r.status_code == 403
    dept_cases = (await p["water"].get("/v1/supervisions")).json()["items"]
    assert [c["id"] for c in dept_cases] == [cases[0]["id"]]


async def test_case_actions_check_scope_then_role_then_body_then_state(api: Api, env: Env) -> None:
    """401, 404 (scope), 403 (role), 422 (body), 409 (state), as on tickets; a bad id in a
    filter is 422, not a filter on cases without one."""
    p = await setup(api)
    roads = api.as_(await api.principal("department", department_code="roads"))
    await api.post("/v1/members", {"id": "m-1", "name": "m", "branch": "b", "kind": "mobile"})
    member = api.as_(await api.principal("member", member_id="m-1"))
    t = await p["sup"].act(await p["op"].ticket(), "supervise", {"note": "督办"})
    case = (await p["sup"].get("/v1/supervisions")).json()["items"][0]
    follow = f"/v1/supervisions/{case['id']}/actions/follow_up"
    missing = "/v1/supervisions/00000000-0000-4000-8000-000000000000/actions/follow_up"

    def slug(r: Any) -> tuple[int, str]:
        return r.status_code, r.json()["type"].rsplit(":", 1)[1]

    assert slug(await api.as_("nobody").post(follow, "bad")) == (401, "unauthorized")
    assert slug(await p["op"].post(missing, "bad")) == (404, "not-found")
    assert slug(await roads.post(follow, "bad")) == (404, "not-found")  # another's ticket
    assert slug(await p["water"].post(follow, "bad")) == (403, "forbidden")
    assert slug(await p["op"].post(follow, {"note": "x"})) == (403, "forbidden")
    assert slug(await member.post(follow, {"note": "x"})) == (403, "forbidden")
    assert slug(await p["sup"].post(follow, [])) == (422, "validation")
    assert slug(await p["sup"].post(follow, {})) == (422, "validation")
    r = await p["sup"].post(f"/v1/supervisions/{case['id']}/actions/close", {"note": "办结"})
    assert r.status_code == 200, r.text
    assert slug(await p["sup"].post(follow, {"note": "x"})) == (409, "invalid-transition")
    r = await p["sup"].get("/v1/supervisions", params={"ticket_id": "not-an-id"})
    assert slug(r) == (422, "validation") and r.json()["errors"][0]["loc"] == [
        "query",
        "ticket_id",
    ]
    r = await p["sup"].get("/v1/supervisions", params={"ticket_id": t["id"]})
    assert [c["id"] for c in r.json()["items"]] == [case["id"]]


async def test_merge_closes_the_open_case(api: Api, env: Env) -> None:
    p = await setup(api)
    a, b = await p["op"].ticket(), await p["op"].ticket()
    await p["sup"].act(b, "supervise", {"note": "督办"})
    await p["op"].act(b, "merge", {"into": a["id"]})
    cases = (await p["sup"].get("/v1/supervisions", params={"ticket_id": b["id"]})).json()["items"]
    assert cases[0]["status"] == "closed"


async def test_a_worker_counts_on_calendar_years_entered_through_the_api(
    api: Api, env: Env
) -> None:
    """``hotline worker`` runs in its own process: a year entered through an API process
    after it started still decides the escalation time of the cases it opens."""
    p = await setup(api, resolution_sla="PT2H", calendar="natural")  # escalation: P1D working
    worker_runtime = await start_runtime(env.settings, env.clock)  # as `hotline worker`
    try:
        env.clock.set(datetime(2031, 3, 3, 2, 0, tzinfo=UTC))  # Monday 10:00 in Shanghai
        await p["op"].ticket()
        r = await api.put("/v1/calendar/2031", {"holidays": ["2031-03-04"], "workdays": []})
        assert r.status_code == 200, r.text
        env.clock.advance(timedelta(hours=3))
        worker = Worker(worker_runtime)
        try:
            assert (await worker.tick()).breached == 1
        finally:
            await worker.close()
        async with env.runtime.db.reading() as session:
            escalate_at = await session.scalar(sa.select(Supervision.escalate_at))
        # One working day from Monday 13:00 with Tuesday a holiday: the end of Wednesday.
        assert escalate_at == datetime(2031, 3, 5, 16, 0, tzinfo=UTC)
    finally:
        await worker_runtime.db.dispose()
        env.runtime.calendar._configured.pop(2031, None)
