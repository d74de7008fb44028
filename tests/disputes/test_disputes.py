"""The dispute ledger: the four lists to 销号, escalation, referral, review timers, exports."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from openpyxl import load_workbook

from hotline.disputes.transitions import DISPUTES

from conftest import Api, Env, sweep

PARTIES = [
    {"name": "甲", "phone": "13800001111", "role": "申请人"},
    {"name": "乙", "role": "被申请人"},
]


async def grids(api: Api) -> None:
    for code, level, parent in (
        ("C", "county", None),
        ("T", "township", "C"),
        ("V", "village", "T"),
        ("G", "grid", "V"),
        ("V2", "village", "T"),
        ("G2", "grid", "V2"),
    ):
        r = await api.post(
            "/v1/grids", {"code": code, "name": code, "level": level, "parent_code": parent}
        )
        assert r.status_code == 201, r.text


async def dispute(api: Api, **extra: Any) -> dict[str, Any]:
    body = {
        "kind": "neighbours",
        "parties": PARTIES,
        "summary": "宅基地边界争议",
        "grid": "G",
        **extra,
    }
    r = await api.post("/v1/disputes", body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def step(
    api: Api, d: dict[str, Any], action: str, body: dict[str, Any] | None = None, expect: int = 200
) -> dict[str, Any]:
    r = await api.post(
        f"/v1/disputes/{d['id']}/actions/{action}", {"note": f"{action}记录", **(body or {})}
    )
    assert r.status_code == expect, r.text
    return dict(r.json())


async def test_kinds_are_seeded_and_extendable(api: Api) -> None:
    kinds = (await api.get("/v1/dispute-kinds")).json()["items"]
    assert [k["code"] for k in kinds][::-1] == [  # newest first: the last default first
        "marriage_family",
        "neighbours",
        "land_boundary",
        "labour_wages",
        "property",
        "other",
    ]
    assert kinds[-1]["name"] == "婚姻家庭"
    r = await api.post(
        "/v1/dispute-kinds", {"code": "environment", "name": "环境污染", "review_period": "P3D"}
    )
    assert r.status_code == 201
    assert (
        await api.post("/v1/dispute-kinds", {"code": "x", "name": "x", "review_period": "P1M"})
    ).status_code == 422


async def test_whole_path_to_close_off(api: Api, env: Env) -> None:
    await grids(api)
    op = api.as_(await api.principal("operator"))
    d = await dispute(op)
    assert d["status"] == "investigated" and d["level"] == "village"
    assert d["parties"][0]["phone"] == "138****1111" and d["parties"][1]["phone"] is None
    assert d["allowed_actions"] == ["analyse", "escalate", "refer"]
    week = env.clock.now() + timedelta(days=7)
    assert d["review_due_at"].startswith(week.strftime("%Y-%m-%dT%H:%M"))
    d = await step(op, d, "analyse")
    nxt = (env.clock.now() + timedelta(days=2)).isoformat()
    d = await step(op, d, "mediate", {"next_review_at": nxt})
    assert d["entries"][-1]["next_review_at"] is not None
    d = await step(op, d, "visit")
    env.clock.advance(timedelta(days=3))
    d = await step(op, d, "close_off")
    assert d["status"] == "closed_off" and d["closed_at"] is not None and d["review_due_at"] is None
    assert [e["type"] for e in d["entries"]] == [
        "dispute.opened",
        "dispute.analysed",
        "dispute.mediating",
        "dispute.visited",
        "dispute.closed_off",
    ]
    assert d["allowed_actions"] == []
    stats = (await api.get("/v1/stats/disputes")).json()
    assert (
        stats["total"] == 1
        and stats["closed_off_rate"] == 1.0
        and stats["village_settled_rate"] == 1.0
    )
    assert stats["median_days_to_close_off"] == pytest.approx(3.0)


async def test_escalation_and_referral(api: Api) -> None:
    await grids(api)
    await api.department("court_liaison", "comprehensive")
    sup = api.as_(await api.principal("supervisor"))
    d = await dispute(sup)
    d = await step(sup, d, "escalate")
    assert d["status"] == "escalated" and d["level"] == "township"
    d = await step(sup, d, "analyse")
    await step(sup, d, "escalate", expect=409)  # township already
    await step(sup, d, "refer", {"target": "department"}, expect=422)
    await step(sup, d, "refer", {"target": "department", "department_code": "nowhere"}, expect=422)
    dept = api.as_(await api.principal("department", department_code="court_liaison"))
    assert (await dept.get(f"/v1/disputes/{d['id']}")).status_code == 404
    d = await step(sup, d, "refer", {"target": "department", "department_code": "court_liaison"})
    assert d["status"] == "referred" and d["referred_to"] == "department"
    assert (await dept.get(f"/v1/disputes/{d['id']}")).status_code == 200
    assert [x["id"] for x in (await dept.get("/v1/disputes")).json()["items"]] == [d["id"]]
    stats = (await api.get("/v1/stats/disputes")).json()
    assert stats["by_status"] == {"referred": 1} and stats["village_settled_rate"] is None


@pytest.mark.parametrize(("status", "action"), sorted(DISPUTES.forbidden_pairs()))
async def test_forbidden_steps_are_409(api: Api, status: str, action: str) -> None:
    await grids(api)
    await api.department("dep")
    d = await dispute(api)
    paths = {
        "investigated": [],
        "analysed": ["analyse"],
        "mediating": ["analyse", "mediate"],
        "visited": ["analyse", "mediate", "visit"],
        "closed_off": ["analyse", "mediate", "visit", "close_off"],
        "escalated": ["escalate"],
        "referred": [("refer", {"target": "court"})],
    }
    for move in paths[status]:
        name, extra = move if isinstance(move, tuple) else (move, {})
        d = await step(api, d, name, extra)
    body = {"target": "court"} if action == "refer" else {}
    r = await api.post(f"/v1/disputes/{d['id']}/actions/{action}", {"note": "x", **body})
    assert r.status_code == 409, r.text
    assert r.json()["type"] == "urn:hotline:problem:invalid-transition"
    assert r.json()["allowed_actions"] == DISPUTES.allowed_actions(
        type("D", (), {"status": status, "level": d["level"], "grid": "G"})(), _admin()
    )


def _admin() -> Any:
    from hotline.auth.models import Role
    from hotline.auth.service import Actor

    return Actor(id=None, name="a", role=Role.admin)


async def test_review_overdue_reaches_the_supervision_board(api: Api, env: Env) -> None:
    await grids(api)
    op = api.as_(await api.principal("operator"))
    sup = api.as_(await api.principal("supervisor"))
    d = created = await dispute(op)
    env.clock.advance(timedelta(days=8))
    report = await sweep(env)
    assert report.breached == 1
    cases = (
        await sup.get("/v1/supervisions", params={"subject": "dispute", "status": "open"})
    ).json()["items"]
    assert len(cases) == 1
    assert cases[0]["dispute_id"] == d["id"] and cases[0]["ticket_id"] is None
    assert cases[0]["reason"] == "review_overdue"
    d = (await op.get(f"/v1/disputes/{d['id']}")).json()
    assert [e["type"] for e in d["entries"]][-2:] == [
        "dispute.review_overdue",
        "supervision.opened",
    ]
    # Its entries, as returned, changed: so did its version (the sweeper's change included).
    assert d["version"] == created["version"] + 1
    r = await sup.post(f"/v1/supervisions/{cases[0]['id']}/actions/close", {"note": "已督促回访"})
    assert r.status_code == 200
    closed = (await op.get(f"/v1/disputes/{d['id']}")).json()
    assert closed["entries"][-1]["type"] == "supervision.closed"
    assert closed["version"] == d["version"] + 1


async def test_opened_from_a_ticket_and_linked_both_ways(api: Api) -> None:
    await grids(api)
    op = api.as_(await api.principal("operator"))
    t = await op.ticket(location={"grid": "G"})
    r = await op.post(
        f"/v1/tickets/{t['id']}/actions/open_dispute",
        {"kind": "property", "parties": PARTIES, "summary": "物业纠纷"},
    )
    assert r.status_code == 200, r.text
    t = r.json()
    assert len(t["dispute_ids"]) == 1
    d = (await op.get(f"/v1/disputes/{t['dispute_ids'][0]}")).json()
    assert d["source_ticket_id"] == t["id"] and d["grid"] == "G"
    events = (await op.get(f"/v1/tickets/{t['id']}/events")).json()["items"]
    assert events[-1]["type"] == "ticket.dispute_opened"
    d2 = await dispute(op, source_ticket_id=t["id"])
    again = (await op.get(f"/v1/tickets/{t['id']}")).json()
    assert sorted(again["dispute_ids"]) == sorted([d["id"], d2["id"]])  # the clock stands still
    # "links it the same way": the ticket changed, with its event.
    assert again["version"] == t["version"] + 1
    events = (await op.get(f"/v1/tickets/{t['id']}/events")).json()["items"]
    assert events[-1]["type"] == "ticket.dispute_opened"
    assert events[-1]["data"] == {"dispute_id": d2["id"], "kind": "neighbours"}


async def test_grid_leader_and_scope(api: Api) -> None:
    await grids(api)
    await api.post(
        "/v1/members", {"id": "lead", "name": "网格长", "branch": "b", "kind": "in_service"}
    )
    await api.patch("/v1/grids/V", {"leader_member_id": "lead"})
    leader = api.as_(await api.principal("member", member_id="lead"))
    mine = await dispute(leader)
    other = await dispute(api, grid="G2")
    r = await leader.post(
        "/v1/disputes", {"kind": "other", "parties": PARTIES, "summary": "x", "grid": "G2"}
    )
    assert r.status_code == 403
    assert [x["id"] for x in (await leader.get("/v1/disputes")).json()["items"]] == [mine["id"]]
    assert (await leader.get(f"/v1/disputes/{other['id']}")).status_code == 404
    await step(leader, mine, "analyse")
    await api.department("x")
    dept = api.as_(await api.principal("department", department_code="x"))
    assert (await dept.get("/v1/disputes")).json()["items"] == []
    app = api.as_(await api.principal("app"))
    assert (await app.get("/v1/disputes")).status_code == 403


async def test_ledger_exports_read_back(api: Api) -> None:
    await grids(api)
    a = await dispute(api)
    await dispute(api, kind="labour_wages", grid="G2", summary="欠薪")
    await step(api, a, "analyse")
    r = await api.get("/v1/disputes", headers={"Accept": "text/csv"}, params={"grid": "V"})
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["编号", "纠纷类型", "状态", "层级"]
    assert len(rows) == 2 and rows[1][1] == "邻里关系" and rows[1][2] == "研判"
    assert "13800001111" not in r.text
    r = await api.get(
        "/v1/disputes",
        headers={"Accept": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    )
    book = load_workbook(io.BytesIO(r.content))
    sheet = book.active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == "编号" and len(values) == 3
    assert {v[1] for v in values[1:]} == {"邻里关系", "劳资欠薪"}
    filtered = (await api.get("/v1/disputes", params={"kind": "labour_wages"})).json()["items"]
    assert len(filtered) == 1 and filtered[0]["summary"] == "欠薪"
