"""A petition through every action of its life, on both databases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from conftest import Api


async def setup_water(api: Api) -> dict[str, str]:
    await api.department("water")
    await api.department("roads", "enforcement")
    await api.rule(topic="water_supply", department_code="water", resolution_sla="P5D")
    return {
        "operator": await api.principal("operator"),
        "water": await api.principal("department", department_code="water"),
        "roads": await api.principal("department", department_code="roads"),
    }


def timers(ticket: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [t for t in ticket["timers"] if t["kind"] == kind]


async def test_routed_at_intake_then_accepted_resolved_reviewed_closed(api: Api) -> None:
    tokens = await setup_water(api)
    op, water = api.as_(tokens["operator"]), api.as_(tokens["water"])

    ticket = await op.ticket()
    assert ticket["status"] == "dispatched"
    assert ticket["department_code"] == "water"
    assert ticket["caller"]["phone"] == "138****1234"
    assert ticket["number"].startswith("20261123") and len(ticket["number"]) >= 12
    assert [t["kind"] for t in ticket["timers"]] == ["callback", "resolution"]
    assert ticket["allowed_actions"] == ["callback", "merge", "open_dispute", "comment"]

    seen = await water.get(f"/v1/tickets/{ticket['id']}")
    assert seen.status_code == 200
    assert seen.headers["etag"] == '"1"'
    assert seen.json()["allowed_actions"] == ["accept", "return", "comment"]

    t = await water.act(ticket, "accept")
    assert t["status"] == "accepted" and t["version"] == 2
    t = await op.act(t, "callback", {"outcome": "reached", "note": "已联系"})
    assert timers(t, "callback")[0]["state"] == "met"
    t = await water.act(t, "resolve", {"result": "已修复"})
    assert t["status"] == "resolved"
    assert timers(t, "resolution")[-1]["state"] == "met"
    t = await op.act(t, "review", {"satisfaction": "satisfied", "resolved": True})
    assert t["status"] == "closed" and t["satisfaction"] == "satisfied"

    events = (await op.get(f"/v1/tickets/{ticket['id']}/events")).json()["items"]
    assert [e["type"] for e in events] == [
        "ticket.created",
        "ticket.dispatched",
        "ticket.accepted",
        "ticket.called_back",
        "ticket.resolved",
        "ticket.reviewed",
        "ticket.closed",
    ]
    assert events[0]["from_status"] is None and events[0]["to_status"] == "received"
    assert [e["seq"] for e in events] == list(range(1, 8))


async def test_returns_extensions_rework_reopen(api: Api) -> None:
    tokens = await setup_water(api)
    op, water = api.as_(tokens["operator"]), api.as_(tokens["water"])
    ticket = await op.ticket()

    t = await water.act(ticket, "return", {"reason": "不属于本单位"})
    assert t["status"] == "returned" and t["department_code"] == "water"
    assert {x["state"] for x in timers(t, "resolution")} == {"cancelled"}
    t = await op.act(t, "reject_return", {"note": "属于供水"})
    assert t["status"] == "dispatched"
    assert "return" not in (await water.get(f"/v1/tickets/{t['id']}")).json()["allowed_actions"]
    r = await water.post(f"/v1/tickets/{t['id']}/actions/return", {"reason": "again"})
    assert r.status_code == 409
    assert r.json()["type"] == "urn:hotline:problem:return-not-allowed"

    t = await water.act(t, "accept")
    due_before = timers(t, "resolution")[-1]["due_at"]
    # An extension extends: a date before the current deadline would shorten it.
    sooner = {"until": (api.env.clock.now() + timedelta(hours=1)).isoformat(), "reason": "x"}
    r = await water.post(f"/v1/tickets/{t['id']}/actions/request_extension", sooner)
    assert r.status_code == 422 and "current deadline" in r.text, r.text
    until = (api.env.clock.now() + timedelta(days=20)).isoformat()
    t = await water.act(t, "request_extension", {"until": until, "reason": "需要施工"})
    assert t["pending_extension"]["reason"] == "需要施工"
    t = await op.act(t, "deny_extension", {"note": "不批准"})
    assert t["pending_extension"] is None
    t = await water.act(t, "request_extension", {"until": until, "reason": "需要施工"})
    t = await op.act(t, "approve_extension", {})
    running = [x for x in timers(t, "resolution") if x["state"] == "running"]
    assert len(running) == 1 and running[0]["due_at"] != due_before

    t = await water.act(t, "resolve", {"result": "已处理"})
    t = await op.act(t, "review", {"satisfaction": "dissatisfied", "resolved": False})
    assert t["status"] == "accepted"
    assert timers(t, "resolution")[-1]["state"] == "running"
    t = await water.act(t, "resolve", {"result": "重办完成"})
    t = await op.act(t, "review", {"satisfaction": "basically_satisfied", "resolved": True})
    assert t["status"] == "closed"
    # "goes to the named holder": one, as dispatch takes one.
    both = {"reason": "x", "department_code": "water", "member_id": "m1"}
    r = await op.post(f"/v1/tickets/{t['id']}/actions/reopen", both)
    assert r.status_code == 422, r.text
    assert "not both" in r.json()["errors"][0]["msg"]
    t = await op.act(t, "reopen", {"reason": "群众反映未修好"})
    assert t["status"] == "dispatched" and t["department_code"] == "water"
    assert t["satisfaction"] is None
    t = await op.act(t, "comment", {"note": "跟进中"})
    t = await water.act(t, "comment", {"note": "收到"})
    types = [e["type"] for e in (await op.get(f"/v1/tickets/{t['id']}/events")).json()["items"]]
    assert types.count("ticket.commented") == 2
    assert "ticket.return_rejected" in types and "ticket.reopened" in types


async def test_manual_dispatch_direct_resolution_merge_and_discard(api: Api) -> None:
    tokens = await setup_water(api)
    op = api.as_(tokens["operator"])

    consult = await op.ticket(topic="policy", category="consultation")
    assert consult["status"] == "received" and consult["department_code"] is None
    t = await op.act(consult, "resolve", {"result": "已当场答复"})
    assert t["status"] == "resolved"
    assert timers(t, "callback")[0]["state"] == "met"

    unrouted = await op.ticket(topic="noise")
    t = await op.act(unrouted, "dispatch", {"department_code": "roads"})
    assert t["status"] == "dispatched" and t["department_code"] == "roads"
    assert timers(t, "resolution")[0]["state"] == "running"
    r = await op.post(f"/v1/tickets/{unrouted['id']}/actions/dispatch", {"department_code": "nope"})
    assert r.status_code in (409, 422)

    original = await op.ticket()
    duplicate = await op.ticket()
    t = await op.act(duplicate, "merge", {"into": original["id"]})
    assert t["status"] == "merged" and t["merged_into"] == original["id"]
    assert {x["state"] for x in t["timers"]} == {"cancelled"}
    target = (await op.get(f"/v1/tickets/{original['id']}")).json()
    assert target["merged_ids"] == [duplicate["id"]]

    junk = await op.ticket(topic="prank")
    t = await op.act(junk, "discard", {"reason": "无效来电"})
    assert t["status"] == "invalid" and t["allowed_actions"] == ["comment"]
