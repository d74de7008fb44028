"""The grid hierarchy: nesting, routing by ancestor grid, and grid leaders' tickets."""

from __future__ import annotations

from typing import Any

from conftest import Api


async def grid(
    api: Api, code: str, level: str, parent: str | None = None, **extra: Any
) -> dict[str, Any]:
    r = await api.post(
        "/v1/grids",
        {"code": code, "name": f"{code}网格", "level": level, "parent_code": parent, **extra},
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def tree(api: Api) -> None:
    await grid(api, "C", "county")
    await grid(api, "T1", "township", "C")
    await grid(api, "T2", "township", "C")
    await grid(api, "V1", "village", "T1")
    await grid(api, "V2", "village", "T2")
    await grid(api, "G1", "grid", "V1")
    await grid(api, "G2", "grid", "V2")


async def test_levels_nest_and_cycles_are_refused(api: Api) -> None:
    await tree(api)
    bad = [
        {"code": "X", "name": "x", "level": "village", "parent_code": "C"},
        {"code": "X", "name": "x", "level": "county", "parent_code": "C"},
        {"code": "X", "name": "x", "level": "grid"},
        {"code": "X", "name": "x", "level": "grid", "parent_code": "nowhere"},
        {"code": "X", "name": "x", "level": "hamlet", "parent_code": "V1"},
    ]
    for body in bad:
        r = await api.post("/v1/grids", body)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    assert (
        await api.post(
            "/v1/grids", {"code": "G1", "name": "dup", "level": "grid", "parent_code": "V1"}
        )
    ).status_code == 409
    # Moving a village under another township moves its grids; under a grid is wrong nesting.
    r = await api.patch("/v1/grids/V1", {"parent_code": "T2"})
    assert r.status_code == 200 and r.json()["path"] == ["C", "T2", "V1"]
    assert (await api.get("/v1/grids/G1")).json()["path"] == ["C", "T2", "V1", "G1"]
    assert (await api.patch("/v1/grids/V1", {"parent_code": "G2"})).status_code == 422
    assert (await api.patch("/v1/grids/T1", {"parent_code": "T2"})).status_code == 422
    listed = (await api.get("/v1/grids", params={"within": "T2"})).json()["items"]
    assert {g["code"] for g in listed} == {"T2", "V1", "V2", "G1", "G2"}
    op = api.as_(await api.principal("operator"))
    assert (
        await op.post("/v1/grids", {"code": "Y", "name": "y", "level": "county"})
    ).status_code == 403
    assert (await op.get("/v1/grids/G1")).status_code == 200


async def test_patch_changes_a_level_only_where_it_still_nests(api: Api) -> None:
    await tree(api)
    r = await api.patch("/v1/grids/V2", {"level": "township"})  # its G2 nests in a village
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "level"], r.text
    r = await api.patch("/v1/grids/G2", {"level": "village"})  # V2 is a village, not a township
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "parent_code"]
    await grid(api, "C9", "county")
    r = await api.patch("/v1/grids/C9", {"level": "township", "parent_code": "C"})
    assert r.status_code == 200, r.text
    assert r.json()["level"] == "township" and r.json()["path"] == ["C", "C9"]
    assert (await api.get("/v1/grids/V2")).json()["level"] == "village"


async def test_unknown_grid_is_refused_once_grids_exist(api: Api) -> None:
    op = api.as_(await api.principal("operator"))
    await op.ticket(location={"grid": "anything"})  # no grids registered yet: free text
    await tree(api)
    r = await op.post(
        "/v1/tickets",
        {
            "kind": "petition",
            "channel": "hotline",
            "category": "help",
            "content": "x",
            "location": {"grid": "nowhere"},
        },
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "location", "grid"]
    await op.ticket(location={"grid": "G1"})


async def test_rule_for_an_ancestor_grid_routes_and_the_deepest_wins(api: Api) -> None:
    await tree(api)
    await api.department("town1")
    await api.department("village1")
    await api.rule(grid="T1", department_code="town1")
    # Once grids exist a ticket must name one, so a rule for an unknown grid is refused.
    r = await api.post("/v1/routing-rules", {"grid": "NOPE", "department_code": "town1"})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["body", "grid"]
    op = api.as_(await api.principal("operator"))
    t = await op.ticket(topic=None, location={"grid": "G1"})
    assert t["department_code"] == "town1"
    await api.rule(grid="V1", department_code="village1")
    t = await op.ticket(topic=None, location={"grid": "G1"})
    assert t["department_code"] == "village1"
    t = await op.ticket(topic=None, location={"grid": "G2"})
    assert t["status"] == "received"


async def test_grid_leader_registers_and_resolves_on_the_spot(api: Api) -> None:
    await api.post(
        "/v1/members", {"id": "lead", "name": "网格长", "branch": "b", "kind": "in_service"}
    )
    await tree(api)
    await api.patch("/v1/grids/V1", {"leader_member_id": "lead"})
    await api.department("water")
    await api.rule(topic="water_supply", department_code="water")
    leader = api.as_(await api.principal("member", member_id="lead"))
    body = {
        "kind": "petition",
        "channel": "grid",
        "category": "help",
        "topic": "water_supply",
        "content": "邻居漏水",
        "location": {"grid": "G1"},
    }
    r = await leader.post("/v1/tickets", {**body, "on_the_spot": True})
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["status"] == "received" and t["department_code"] is None and t["on_the_spot"] is True
    assert "resolve" in t["allowed_actions"]
    t = await leader.act(t, "resolve", {"result": "当场协调解决"})
    assert t["status"] == "resolved"
    events = (await leader.get(f"/v1/tickets/{t['id']}/events")).json()["items"]
    assert events[-1]["data"]["on_the_spot"] is True and events[-1]["data"]["grid"] == "G1"
    # Not on the spot: routed like any other ticket.
    routed = (await leader.post("/v1/tickets", body)).json()
    assert routed["status"] == "dispatched"
    # Outside its grids, or through another channel: 403.
    assert (
        await leader.post("/v1/tickets", {**body, "location": {"grid": "G2"}})
    ).status_code == 403
    assert (await leader.post("/v1/tickets", {**body, "channel": "hotline"})).status_code == 403
    await api.post("/v1/members", {"id": "nobody", "name": "x", "branch": "b", "kind": "mobile"})
    other = api.as_(await api.principal("member", member_id="nobody"))
    assert (await other.post("/v1/tickets", body)).status_code == 403
    # A member leading no grid may not register at all: 403 before the body's 422.
    assert (await other.post("/v1/tickets", {**body, "content": ""})).status_code == 403
    assert (await leader.post("/v1/tickets", {**body, "content": ""})).status_code == 422
    # An admin may do what a leader may.
    r = await api.post("/v1/tickets", {**body, "on_the_spot": True})
    assert r.status_code == 201 and r.json()["status"] == "received", r.text
    op = api.as_(await api.principal("operator"))
    assert (await op.post("/v1/tickets", {**body, "on_the_spot": True})).status_code == 422


async def test_stats_by_grid_roll_up_the_hierarchy(api: Api) -> None:
    await tree(api)
    await api.department("water")
    await api.rule(department_code="water")
    op = api.as_(await api.principal("operator"))
    water = api.as_(await api.principal("department", department_code="water"))
    # Two tickets in G1 (village V1, township T1), one in G2 (V2, T2), one at V1 itself.
    made = [await op.ticket(topic=None, location={"grid": g}) for g in ("G1", "G1", "G2", "V1")]
    first = made[0]  # in G1
    await water.act(first, "accept")
    await water.act(first, "resolve", {"result": "ok"})
    period = {"from": "2026-11-01T00:00:00+08:00", "to": "2026-12-01T00:00:00+08:00"}
    viewer = api.as_(await api.principal("viewer"))
    rows = (await viewer.get("/v1/stats/by/grid", params={**period, "level": "village"})).json()[
        "items"
    ]
    by = {r["key"]: r for r in rows}
    assert by["V1"]["received"] == 3 and by["V2"]["received"] == 1
    assert by["V1"]["resolution_rate"] == 1 / 3
    rows = (await viewer.get("/v1/stats/by/grid", params={**period, "level": "township"})).json()[
        "items"
    ]
    assert {r["key"]: r["received"] for r in rows} == {"T1": 3, "T2": 1}
    rows = (await viewer.get("/v1/stats/by/grid", params=period)).json()["items"]
    assert {r["key"]: r["received"] for r in rows} == {"G1": 2, "G2": 1, "V1": 1}
    r = await viewer.get("/v1/stats/by/topic", params={**period, "level": "village"})
    assert r.status_code == 422
