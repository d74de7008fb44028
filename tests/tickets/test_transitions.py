"""Ticket actions against the transition table: 409s, 403s, allowed_actions, check order, races."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from hotline.auth.models import Role
from hotline.tickets.transitions import TICKETS

from conftest import Api, Env, problem

INVALID_TRANSITION = "urn:hotline:problem:invalid-transition"
FORBIDDEN = "urn:hotline:problem:forbidden"
NOT_FOUND = "urn:hotline:problem:not-found"
VERSION_MISMATCH = "urn:hotline:problem:version-mismatch"
VALIDATION = "urn:hotline:problem:validation"
UNAUTHORIZED = "urn:hotline:problem:unauthorized"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
# Roles whose scope the API lets these tests set up; members come later.
ROLES = [Role.department, Role.operator, Role.supervisor, Role.app, Role.viewer]


@dataclass
class World:
    admin: Api
    op: Api
    water: Api
    roads: Api
    supervisor: Api
    viewer: Api
    app: Api


async def world(api: Api) -> World:
    """Two departments, a rule routing water_supply to water, and one principal per role."""
    await api.department("water")
    await api.department("roads", "enforcement")
    await api.rule(topic="water_supply", department_code="water")
    return World(
        admin=api,
        op=api.as_(await api.principal("operator")),
        water=api.as_(await api.principal("department", department_code="water")),
        roads=api.as_(await api.principal("department", department_code="roads")),
        supervisor=api.as_(await api.principal("supervisor")),
        viewer=api.as_(await api.principal("viewer")),
        app=api.as_(await api.principal("app")),
    )


async def make(w: World, status: str, creator: Api | None = None) -> dict[str, Any]:
    """A ticket brought to ``status`` through the API only (creator: the operator)."""
    by = creator or w.op
    if status == "received":  # a petition no rule matches waits for an operator
        return await by.ticket(topic="noise")
    if status == "posted":  # a service order no rule matches goes to the board
        return await by.ticket(kind="service_order", topic="noise")
    if status == "merged":
        target = await w.op.ticket(topic="noise")
        return await w.op.act(await by.ticket(topic="noise"), "merge", {"into": target["id"]})
    if status == "invalid":
        return await w.op.act(await by.ticket(topic="noise"), "discard", {"reason": "无效来电"})
    t = await by.ticket()  # routed to water by the rule
    if status == "dispatched":
        return t
    if status == "returned":
        return await w.water.act(t, "return", {"reason": "不属于本单位"})
    t = await w.water.act(t, "accept")
    if status == "accepted":
        return t
    t = await w.water.act(t, "resolve", {"result": "已处理"})
    if status == "resolved":
        return t
    t = await w.op.act(t, "review", {"satisfaction": "satisfied", "resolved": True})
    if status == "closed":
        return t
    raise AssertionError(f"no recipe for a ticket in status {status!r}: add one to make()")


def sample_body(action: str, env: Env, into: str = UNKNOWN_ID) -> dict[str, Any]:
    """A body that is valid for ``action`` (validation, 422, runs before the state check)."""
    until = (env.clock.now() + timedelta(days=20)).astimezone().isoformat()
    bodies: dict[str, dict[str, Any]] = {
        "dispatch": {"department_code": "water"},
        "claim": {},
        "accept": {},
        "return": {"reason": "x"},
        "reject_return": {"note": "x"},
        "callback": {"outcome": "reached"},
        "request_extension": {"until": until, "reason": "x"},
        "approve_extension": {},
        "deny_extension": {},
        "resolve": {"result": "x"},
        "review": {"satisfaction": "satisfied", "resolved": True},
        "reopen": {"reason": "x"},
        "merge": {"into": into},
        "discard": {"reason": "x"},
        "refer": {"department_code": "roads", "note": "x"},
        "supervise": {"note": "x"},
        "open_dispute": {
            "kind": "neighbours",
            "parties": [{"name": "王五", "role": "申请人"}],
            "summary": "x",
        },
        "comment": {"note": "x"},
    }
    # A new action in the table must come with a sample body here, or these tests lie.
    assert set(bodies) == set(TICKETS.actions)
    return bodies[action]


async def snapshot(api: Api, ticket_id: str) -> tuple[int, list[dict[str, Any]]]:
    """The ticket's version and timeline, as an admin reads them."""
    t = await api.get(f"/v1/tickets/{ticket_id}")
    assert t.status_code == 200, t.text
    events = await api.get(f"/v1/tickets/{ticket_id}/events", params={"limit": 500})
    assert events.status_code == 200, events.text
    return t.json()["version"], events.json()["items"]


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_sample_bodies_cover_the_table(env: Env) -> None:
    for action in TICKETS.actions:
        assert isinstance(sample_body(action, env), dict)


# -- 1. every forbidden (status, action) pair is a 409 -------------------------------


@pytest.mark.parametrize("status", TICKETS.statuses)
async def test_forbidden_pairs_are_409_and_change_nothing(api: Api, env: Env, status: str) -> None:
    w = await world(api)
    ticket = await make(w, status)
    assert ticket["status"] == status
    target = await w.op.ticket(topic="noise")  # an open ticket a merge could go into
    allowed = (await api.get(f"/v1/tickets/{ticket['id']}")).json()["allowed_actions"]
    before = await snapshot(api, ticket["id"])
    forbidden = [a for s, a in TICKETS.forbidden_pairs() if s == status]
    for action in forbidden:
        r = await api.post(
            f"/v1/tickets/{ticket['id']}/actions/{action}",
            sample_body(action, env, target["id"]),
        )
        if not any(t.role_may(Role.admin) for t in TICKETS.for_action(action)):
            # An action no admin may take (a member's own) is refused on role first.
            problem(r, 403, FORBIDDEN)
            continue
        body = problem(r, 409, INVALID_TRANSITION)
        assert body["allowed_actions"] == allowed, action
    assert await snapshot(api, ticket["id"]) == before
    # The table says what an admin may do here; no forbidden action may be offered.
    assert not set(allowed) & set(forbidden)


# -- 2. roles the table never admits for an action are 403 -----------------------------


async def test_roles_the_table_never_admits_get_403(api: Api, env: Env) -> None:
    w = await world(api)
    # Created by the app and routed to water: every role under test can see it.
    ticket = await make(w, "dispatched", creator=w.app)
    before = await snapshot(api, ticket["id"])
    principals = {
        Role.department: w.water,
        Role.operator: w.op,
        Role.supervisor: w.supervisor,
        Role.app: w.app,
        Role.viewer: w.viewer,
    }
    assert set(principals) == set(ROLES)
    for role, who in principals.items():
        seen = await who.get(f"/v1/tickets/{ticket['id']}")
        assert seen.status_code == 200, (role, seen.text)
        refused = [
            a
            for a in TICKETS.actions
            if role is Role.viewer or not any(t.role_may(role) for t in TICKETS.for_action(a))
        ]
        if role is Role.viewer:
            assert refused == list(TICKETS.actions)
            assert seen.json()["allowed_actions"] == []
        for action in refused:
            r = await who.post(
                f"/v1/tickets/{ticket['id']}/actions/{action}", sample_body(action, env)
            )
            problem(r, 403, FORBIDDEN, f"as {role}")
        assert not set(refused) & set(seen.json()["allowed_actions"]), role
    assert await snapshot(api, ticket["id"]) == before


@pytest.mark.parametrize("status", ["received", "dispatched", "accepted", "resolved"])
async def test_another_roles_action_in_this_status_is_403(api: Api, env: Env, status: str) -> None:
    """'one the principal may not take is 403': an action the status allows, but only to
    other roles (an operator's resolve of an accepted ticket), is 403, not 409."""
    w = await world(api)
    ticket = await make(w, status, creator=w.app)
    before = await snapshot(api, ticket["id"])
    principals = {Role.department: w.water, Role.operator: w.op, Role.supervisor: w.supervisor}
    tried = 0
    for role, who in principals.items():
        if (await who.get(f"/v1/tickets/{ticket['id']}")).status_code != 200:
            continue  # out of scope: 404 comes first
        for action in TICKETS.actions:
            t = TICKETS.lookup(status, action)
            if t is None or t.role_may(role):
                continue
            r = await who.post(
                f"/v1/tickets/{ticket['id']}/actions/{action}", sample_body(action, env)
            )
            problem(r, 403, FORBIDDEN, f"{role} {action} from {status}")
            tried += 1
    assert tried > 0
    assert await snapshot(api, ticket["id"]) == before


async def test_viewer_allowed_actions_always_empty(api: Api) -> None:
    w = await world(api)
    ids = {status: (await make(w, status))["id"] for status in TICKETS.statuses}
    for status, ticket_id in ids.items():
        got = await w.viewer.get(f"/v1/tickets/{ticket_id}")
        assert got.status_code == 200, got.text
        assert got.json()["allowed_actions"] == [], status
    listed = (await w.viewer.get("/v1/tickets", params={"limit": 500})).json()["items"]
    assert set(ids.values()) <= {t["id"] for t in listed}
    assert all(t["allowed_actions"] == [] for t in listed)


# -- 3. allowed_actions is exactly what succeeds -----------------------------------------

# Which principal, on tickets in which statuses (members come later).
CASES = {
    "op": ["received", "accepted", "returned", "resolved", "closed"],
    "water": ["dispatched", "accepted", "returned"],
    "admin": ["received", "dispatched"],
    "supervisor": ["dispatched"],
    "app": ["dispatched"],
}


@pytest.mark.parametrize("who", list(CASES))
async def test_allowed_actions_are_what_succeeds(api: Api, env: Env, who: str) -> None:
    w = await world(api)
    actor: Api = getattr(w, who)
    creator = w.app if who == "app" else None  # an app sees only what it created
    target = await w.op.ticket(topic="noise")
    for status in CASES[who]:
        copy = await make(w, status, creator)
        offered = (await actor.get(f"/v1/tickets/{copy['id']}")).json()["allowed_actions"]
        succeeded = []
        for action in TICKETS.actions:
            r = await actor.post(
                f"/v1/tickets/{copy['id']}/actions/{action}",
                sample_body(action, env, target["id"]),
            )
            if r.status_code != 200:
                # Refused on role or state, not on the body (the version is checked below).
                assert r.status_code in (403, 409), f"{status} {action}: {r.status_code} {r.text}"
                continue
            succeeded.append(action)
            after = r.json()
            # Nothing refused before changed the copy: this success is its only change.
            assert after["version"] == copy["version"] + 1, f"{status} {action}"
            if (after["status"], after["pending_extension"]) == (status, copy["pending_extension"]):
                copy = after  # still the same case for every action (e.g. a comment)
            else:
                copy = await make(w, status, creator)  # the next try needs a fresh copy
        last = (await actor.get(f"/v1/tickets/{copy['id']}")).json()
        assert last["version"] == copy["version"], status
        assert offered == succeeded, status


# -- 4. the order of checks: 401, 404, 403, 422, 412, 409 --------------------------------


async def test_checks_run_in_the_documented_order(api: Api) -> None:
    w = await world(api)
    water_ticket = await make(w, "dispatched")
    accepted = await make(w, "accepted")
    received = await make(w, "received")

    # 401 before 404: no token on an unknown ticket.
    r = await api.client.post(f"/v1/tickets/{UNKNOWN_ID}/actions/accept", json={})
    problem(r, 401, UNAUTHORIZED)
    r = await api.client.post(
        f"/v1/tickets/{UNKNOWN_ID}/actions/accept",
        json={},
        headers={"Authorization": "Bearer htl_no_such_token"},
    )
    problem(r, 401, UNAUTHORIZED)
    # 404 before 403 and 422: roads may not accept water's ticket and the body is wrong too.
    r = await w.roads.post(f"/v1/tickets/{water_ticket['id']}/actions/return", [])
    problem(r, 404, NOT_FOUND)
    r = await w.roads.post(f"/v1/tickets/{water_ticket['id']}/actions/dispatch", {"x": 1})
    problem(r, 404, NOT_FOUND)
    # 403 before 422: a viewer with an invalid body.
    r = await w.viewer.post(f"/v1/tickets/{water_ticket['id']}/actions/return", {"reason": ""})
    problem(r, 403, FORBIDDEN)
    # 422 before 412 (and 409): an operator with an invalid body and a stale If-Match.
    r = await w.op.post(
        f"/v1/tickets/{accepted['id']}/actions/dispatch", {}, headers={"If-Match": '"99"'}
    )
    problem(r, 422, VALIDATION)
    # 412 before 409: a valid body, a stale If-Match, an action this status refuses.
    r = await w.op.post(
        f"/v1/tickets/{accepted['id']}/actions/dispatch",
        {"department_code": "roads"},
        headers={"If-Match": '"99"'},
    )
    problem(r, 412, VERSION_MISMATCH)
    # 409 with everything else right.
    r = await w.op.post(
        f"/v1/tickets/{accepted['id']}/actions/dispatch",
        {"department_code": "roads"},
        headers={"If-Match": f'"{accepted["version"]}"'},
    )
    offered = (await w.op.get(f"/v1/tickets/{accepted['id']}")).json()["allowed_actions"]
    assert "dispatch" not in offered and "callback" in offered
    assert problem(r, 409, INVALID_TRANSITION)["allowed_actions"] == offered
    # Malformed JSON is a 422 like any invalid body, still after 403.
    r = await w.op.client.post(
        f"/v1/tickets/{received['id']}/actions/dispatch",
        content=b"{not json",
        headers={"Authorization": f"Bearer {w.op.token}", "Content-Type": "application/json"},
    )
    problem(r, 422, VALIDATION)
    r = await w.viewer.client.post(
        f"/v1/tickets/{received['id']}/actions/dispatch",
        content=b"{not json",
        headers={"Authorization": f"Bearer {w.viewer.token}", "Content-Type": "application/json"},
    )
    problem(r, 403, FORBIDDEN)


async def test_if_match_current_succeeds_stale_changes_nothing(api: Api) -> None:
    w = await world(api)
    ticket = await make(w, "dispatched")
    got = await w.water.get(f"/v1/tickets/{ticket['id']}")
    etag = got.headers["etag"]
    assert etag == f'"{got.json()["version"]}"'
    t = await w.water.act(ticket, "accept", headers={"If-Match": etag})
    assert t["version"] == got.json()["version"] + 1

    before = await snapshot(api, ticket["id"])
    # The old ETag is stale now: 412, and neither the ticket nor its timeline moves.
    r = await w.water.post(
        f"/v1/tickets/{ticket['id']}/actions/resolve", {"result": "x"}, headers={"If-Match": etag}
    )
    problem(r, 412, VERSION_MISMATCH)
    r = await w.op.post(
        f"/v1/tickets/{ticket['id']}/actions/comment", {"note": "x"}, headers={"If-Match": etag}
    )
    problem(r, 412, VERSION_MISMATCH)
    assert await snapshot(api, ticket["id"]) == before
    fresh = (await w.water.get(f"/v1/tickets/{ticket['id']}")).headers["etag"]
    # RFC 9110: If-Match lists entity tags; one of them current is a match.
    t = await w.water.act(ticket, "comment", {"note": "x"}, headers={"If-Match": f'"0", {fresh}'})
    fresh = (await w.water.get(f"/v1/tickets/{ticket['id']}")).headers["etag"]
    t = await w.water.act(ticket, "resolve", {"result": "x"}, headers={"If-Match": fresh})
    assert t["status"] == "resolved"


# -- 5. concurrent accepts ------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 5])
async def test_concurrent_accepts_one_wins(api: Api, env: Env, n: int) -> None:
    w = await world(api)
    ticket = await make(w, "dispatched")
    url = f"/v1/tickets/{ticket['id']}/actions/accept"
    headers = {"Authorization": f"Bearer {w.water.token}"}

    async def accept() -> httpx.Response:
        # Each request on its own client, so nothing serialises them before the app does.
        transport = httpx.ASGITransport(app=env.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.post(url, json={}, headers=headers)

    answers = await asyncio.gather(*(accept() for _ in range(n)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] + [409] * (n - 1), [r.text for r in answers]
    for r in answers:
        if r.status_code == 409:
            problem(r, 409, INVALID_TRANSITION)
    _, events = await snapshot(api, ticket["id"])
    assert [e["type"] for e in events].count("ticket.accepted") == 1
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


# -- 6. version, updated_at and seq ---------------------------------------------------------


async def test_each_action_bumps_version_by_one_and_stamps_the_clock(api: Api, env: Env) -> None:
    w = await world(api)
    ticket = await make(w, "dispatched")
    assert ticket["version"] == 1 and at(ticket["updated_at"]) == env.clock.now()
    until = (env.clock.now() + timedelta(days=30)).isoformat()
    steps: list[tuple[Api, str, dict[str, Any]]] = [
        (w.water, "accept", {}),
        (w.op, "callback", {"outcome": "unreachable"}),
        (w.water, "comment", {"note": "在路上"}),
        (w.water, "request_extension", {"until": until, "reason": "施工"}),
        (w.op, "deny_extension", {}),
        (w.water, "request_extension", {"until": until, "reason": "施工"}),
        (w.op, "approve_extension", {"note": "同意"}),
        (w.water, "resolve", {"result": "已处理"}),
        (w.op, "review", {"satisfaction": "dissatisfied", "resolved": False}),
        (w.water, "return", {"reason": "不属于本单位"}),
        (w.op, "reject_return", {"note": "属于"}),
        (w.water, "accept", {}),
        (w.water, "resolve", {"result": "重办完成"}),
        (w.op, "review", {"satisfaction": "satisfied", "resolved": True}),
        (w.op, "reopen", {"reason": "又坏了"}),
        (w.op, "comment", {"note": "跟进"}),
    ]
    version = ticket["version"]
    for who, action, body in steps:
        env.clock.advance(timedelta(minutes=7))  # so a stale updated_at cannot pass
        t = await who.act(ticket, action, body)
        assert t["version"] == version + 1, action
        assert at(t["updated_at"]) == env.clock.now(), action
        assert t["updated_at"].endswith("Z"), action
        version = t["version"]
    got = await api.get(f"/v1/tickets/{ticket['id']}")
    assert got.headers["etag"] == f'"{version}"'
    _, events = await snapshot(api, ticket["id"])
    # created + dispatched at intake, one per step, and ticket.closed after each closing review.
    assert len(events) == 2 + len(steps) + 1
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert at(events[-1]["at"]) == env.clock.now()
