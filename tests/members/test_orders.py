"""群众点单、党员接单、组织派单: the order board, claims, points, and referrals."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx

from conftest import Api, Env


async def member(api: Api, member_id: str, skills: list[str], **extra: Any) -> Api:
    body = {
        "id": member_id,
        "name": f"党员{member_id}",
        "phone": "13900001111",
        "branch": "一支部",
        "skills": skills,
        "kind": "in_service",
        **extra,
    }
    r = await api.post("/v1/members", body)
    assert r.status_code == 201, r.text
    assert r.json()["phone"] == "139****1111"
    return api.as_(await api.principal("member", member_id=member_id))


async def order(api: Api, skills: list[str], **extra: Any) -> dict[str, Any]:
    return await api.ticket(
        kind="service_order",
        channel="mini_program",
        category="help",
        topic="home_care",
        content="老人需要上门照护",
        skills=skills,
        **extra,
    )


async def test_order_lifecycle_with_points(api: Api) -> None:
    app = api.as_(await api.principal("app"))
    op = api.as_(await api.principal("operator"))
    legal = await member(api, "m-legal", ["legal", "care"])
    other = await member(api, "m-other", ["repair"])

    o = await order(app, ["care"])
    assert o["status"] == "posted"
    board = (await legal.get("/v1/tickets", params={"status": "posted"})).json()["items"]
    assert [t["id"] for t in board] == [o["id"]]
    assert board[0]["allowed_actions"] == ["claim", "comment"]
    assert (await other.get("/v1/tickets", params={"status": "posted"})).json()["items"] == []
    assert (await other.get(f"/v1/tickets/{o['id']}")).status_code == 404

    t = await legal.act(o, "claim")
    assert t["status"] == "accepted" and t["member_id"] == "m-legal"
    assert [x["kind"] for x in t["timers"]] == ["callback", "resolution"]
    t = await legal.act(t, "resolve", {"result": "已上门照护"})
    t = await op.act(t, "review", {"satisfaction": "basically_satisfied", "resolved": True})
    assert t["status"] == "closed"
    ledger = (await api.get("/v1/members/m-legal/points")).json()
    assert ledger["total"] == 6.0
    assert ledger["items"][0]["satisfaction"] == "basically_satisfied"
    assert ledger["items"][0]["ticket_id"] == o["id"]

    api.env.clock.advance(timedelta(hours=1))  # each ledger line at its own instant
    t = await op.act(t, "reopen", {"reason": "仍需帮助"})
    assert t["status"] == "dispatched" and t["member_id"] == "m-legal"
    assert (await api.get("/v1/members/m-legal/points")).json()["total"] == 0.0
    t = await legal.act(t, "accept")
    t = await legal.act(t, "resolve", {"result": "再次上门"})
    api.env.clock.advance(timedelta(hours=1))
    t = await op.act(t, "review", {"satisfaction": "satisfied", "resolved": True})
    assert (await api.get("/v1/members/m-legal/points")).json()["total"] == 10.0
    # The ledger is a list like every other: newest first, paged, its total over all lines.
    ledger = (await api.get("/v1/members/m-legal/points")).json()
    assert [i["points"] for i in ledger["items"]] == [10.0, -6.0, 6.0]
    assert ledger["next_cursor"] is None
    first = (await api.get("/v1/members/m-legal/points", params={"limit": 2})).json()
    assert [i["points"] for i in first["items"]] == [10.0, -6.0] and first["total"] == 10.0
    rest = await api.get(
        "/v1/members/m-legal/points", params={"limit": 2, "cursor": first["next_cursor"]}
    )
    assert [i["points"] for i in rest.json()["items"]] == [6.0]
    assert rest.json()["next_cursor"] is None
    for bad in ({"limit": 0}, {"limit": 501}, {"limit": "abc"}, {"cursor": "garbage"}):
        r = await api.get("/v1/members/m-legal/points", params=bad)
        assert r.status_code == 422, (bad, r.text)
    types = [e["type"] for e in (await op.get(f"/v1/tickets/{o['id']}/events")).json()["items"]]
    assert types[:2] == ["ticket.created", "ticket.claimed"]
    # The member still reads the order it held, and the app the order it created.
    assert (await legal.get(f"/v1/tickets/{o['id']}")).status_code == 200
    assert (await app.get(f"/v1/tickets/{o['id']}")).status_code == 200


async def test_dissatisfied_order_earns_zero(api: Api) -> None:
    op = api.as_(await api.principal("operator"))
    m = await member(api, "m1", [])
    o = await order(op, [])
    await m.act(o, "claim")
    await m.act(o, "resolve", {"result": "done"})
    await op.act(o, "review", {"satisfaction": "dissatisfied", "resolved": True})
    ledger = (await api.get("/v1/members/m1/points")).json()
    assert ledger["total"] == 0.0 and len(ledger["items"]) == 1


async def test_member_returns_order_to_the_board_and_organisation_dispatches(api: Api) -> None:
    op = api.as_(await api.principal("operator"))
    m1 = await member(api, "m1", ["care"])
    m2 = await member(api, "m2", ["care"])
    await member(api, "busy", ["care"], available=False)
    o = await order(op, ["care"])
    await m1.act(o, "claim")
    t = await m1.act(o, "return", {"reason": "临时有事"})
    assert t["status"] == "posted" and t["member_id"] is None
    r = await op.post(f"/v1/tickets/{o['id']}/actions/dispatch", {"member_id": "busy"})
    assert r.status_code == 422
    r = await op.post(f"/v1/tickets/{o['id']}/actions/dispatch", {"member_id": "ghost"})
    assert r.status_code == 422
    t = await op.act(o, "dispatch", {"member_id": "m2"})
    assert t["status"] == "dispatched" and t["member_id"] == "m2"
    # Its own order is off the board: claiming it is a state error, not a lost race.
    r = await m2.post(f"/v1/tickets/{o['id']}/actions/claim", {})
    assert r.status_code == 409 and r.json()["type"].endswith(":invalid-transition")
    assert "accept" in r.json()["allowed_actions"]
    # m1, which held it before, lost it to m2.
    r = await m1.post(f"/v1/tickets/{o['id']}/actions/claim", {})
    assert r.status_code == 409 and r.json()["type"].endswith(":already-claimed")
    t = await m2.act(o, "accept")
    assert t["status"] == "accepted"
    # m1 held it once and still reads it; it may not act on it any more.
    seen = (await m1.get(f"/v1/tickets/{o['id']}")).json()
    assert seen["allowed_actions"] == ["comment"]


async def test_concurrent_claims_have_exactly_one_winner(api: Api, env: Env) -> None:
    op = api.as_(await api.principal("operator"))
    tokens = []
    for i in range(20):
        await api.post(
            "/v1/members",
            {"id": f"c{i}", "name": f"c{i}", "branch": "b", "skills": ["care"], "kind": "retired"},
        )
        tokens.append(await api.principal("member", member_id=f"c{i}"))
    o = await order(op, ["care"])

    async def claim(token: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=env.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.post(
                f"/v1/tickets/{o['id']}/actions/claim",
                json={},
                headers={"Authorization": f"Bearer {token}"},
            )

    answers = await asyncio.gather(*(claim(t) for t in tokens))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] + [409] * 19, [a.text for a in answers if a.status_code not in (200, 409)]
    losers = [a.json() for a in answers if a.status_code == 409]
    assert {p["type"] for p in losers} == {"urn:hotline:problem:already-claimed"}
    winner = next(a.json() for a in answers if a.status_code == 200)["member_id"]
    assert all(winner not in p["detail"] for p in losers)
    events = (await op.get(f"/v1/tickets/{o['id']}/events")).json()["items"]
    assert [e["type"] for e in events].count("ticket.claimed") == 1


async def test_leaderboard_by_points_for_a_period(api: Api, env: Env) -> None:
    from datetime import timedelta

    op = api.as_(await api.principal("operator"))
    a = await member(api, "a", [])
    b = await member(api, "b", [])
    await member(api, "c", [], branch="二支部")
    for m, satisfaction in (
        (a, "satisfied"),
        (b, "basically_satisfied"),
        (a, "basically_satisfied"),
    ):
        o = await order(op, [])
        await m.act(o, "claim")
        await m.act(o, "resolve", {"result": "ok"})
        await op.act(o, "review", {"satisfaction": satisfaction, "resolved": True})
        env.clock.advance(timedelta(days=1))
    board = (await api.get("/v1/members", params={"sort": "-points", "branch": "一支部"})).json()
    assert [(m["id"], m["points"]) for m in board["items"]] == [("a", 16.0), ("b", 6.0)]
    start = (env.clock.now() - timedelta(days=2)).isoformat()
    board = (await api.get("/v1/members", params={"sort": "-points", "period_from": start})).json()
    assert [(m["id"], m["points"]) for m in board["items"]] == [("a", 6.0), ("b", 6.0), ("c", 0.0)]
    page = (await api.get("/v1/members", params={"sort": "-points", "limit": 2})).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = (
        await api.get(
            "/v1/members", params={"sort": "-points", "limit": 2, "cursor": page["next_cursor"]}
        )
    ).json()
    assert [m["id"] for m in rest["items"]] == ["c"] and rest["next_cursor"] is None
    skilled = (await api.get("/v1/members", params={"skill": "care"})).json()["items"]
    assert skilled == []
    r = await api.patch("/v1/members/a", {"skills": ["care"], "available": False})
    assert r.json()["skills"] == ["care"] and r.json()["available"] is False
    assert [
        m["id"] for m in (await api.get("/v1/members", params={"skill": "care"})).json()["items"]
    ] == ["a"]


async def test_referral_links_parent_and_child(api: Api) -> None:
    await api.department("market", "market")
    await api.department("enforce", "enforcement")
    await api.rule(topic="food", department_code="market", resolution_sla="P3D")
    op = api.as_(await api.principal("operator"))
    market = api.as_(await api.principal("department", department_code="market"))
    enforce = api.as_(await api.principal("department", department_code="enforce"))
    parent = await op.ticket(topic="food", content="无证摊贩占道经营")
    await market.act(parent, "accept")
    r = await market.post(
        f"/v1/tickets/{parent['id']}/actions/refer", {"department_code": "nowhere", "note": "x"}
    )
    assert r.status_code == 422
    p = await market.act(parent, "refer", {"department_code": "enforce", "note": "占道归综合执法"})
    assert p["status"] == "accepted" and len(p["children"]) == 1
    child_id = p["children"][0]
    child = (await enforce.get(f"/v1/tickets/{child_id}")).json()
    assert child["parent_id"] == parent["id"] and child["status"] == "dispatched"
    assert child["department_code"] == "enforce" and child["content"] == parent["content"]
    assert [t["kind"] for t in child["timers"]] == ["resolution"]
    # The parent's department reads the child; the child's department does not read the parent.
    assert (await market.get(f"/v1/tickets/{child_id}")).status_code == 200
    assert (await enforce.get(f"/v1/tickets/{parent['id']}")).status_code == 404
    r = await market.post(f"/v1/tickets/{child_id}/actions/accept", {})
    assert r.status_code == 403
    # Not its ticket to act on: 403 before the body's 422 and the If-Match's 412.
    r = await market.post(f"/v1/tickets/{child_id}/actions/return", {})
    assert r.status_code == 403, r.text
    r = await market.post(
        f"/v1/tickets/{child_id}/actions/accept", {}, headers={"If-Match": '"999"'}
    )
    assert r.status_code == 403, r.text
    await enforce.act(child_id, "accept")
    await enforce.act(child_id, "resolve", {"result": "已取缔"})
    events = (await op.get(f"/v1/tickets/{parent['id']}/events")).json()["items"]
    assert events[-1]["type"] == "ticket.child_resolved"
    assert events[-1]["data"] == {
        "child_id": child_id,
        "department_code": "enforce",
        "result": "已取缔",
    }
    assert "ticket.referred" in [e["type"] for e in events]


async def test_a_returned_order_leaves_the_board_of_a_member_without_its_skills(
    api: Api,
) -> None:
    """组织派单 to a member who lacks the order's skills, who returns it: it may still read
    the order it held, but its board shows only orders whose skills it has, and it may
    not claim this one (403: not its to claim); a member with the skills does."""
    app = api.as_(await api.principal("app"))
    op = api.as_(await api.principal("operator"))
    unskilled = await member(api, "m-none", [])
    lawyer = await member(api, "m-law", ["legal"])
    o = await order(app, ["legal"])
    assert (await unskilled.get(f"/v1/tickets/{o['id']}")).status_code == 404
    o = await op.act(o, "dispatch", {"member_id": "m-none"})
    o = await unskilled.act(o, "return", {"reason": "不会"})
    assert o["status"] == "posted"
    seen = await unskilled.get(f"/v1/tickets/{o['id']}")
    assert seen.status_code == 200 and "claim" not in seen.json()["allowed_actions"]
    board = (await unskilled.get("/v1/tickets", params={"status": "posted"})).json()["items"]
    assert board == []
    assert (await unskilled.get("/v1/tickets")).json()["items"] == []
    r = await unskilled.post(f"/v1/tickets/{o['id']}/actions/claim", {})
    assert r.status_code == 403, r.text
    board = (await lawyer.get("/v1/tickets", params={"status": "posted"})).json()["items"]
    assert [t["id"] for t in board] == [o["id"]]
    assert (await lawyer.act(o, "claim"))["member_id"] == "m-law"
