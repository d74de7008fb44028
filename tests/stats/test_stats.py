"""Statistics over a hand-built two days of tickets, every figure worked out by hand."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest

from hotline.stats.service import FIELDS

from conftest import START, Api, Env, sweep

# Two local days in Shanghai: [2026-11-22T16:00Z, 2026-11-24T16:00Z). START is
# 2026-11-23T01:30Z, so the period runs from START - 9.5 h to START + 38.5 h.
PERIOD = {"from": "2026-11-23T00:00:00+08:00", "to": "2026-11-25T00:00:00+08:00"}


def at(env: Env, hours: float) -> None:
    env.clock.set(START + timedelta(hours=hours))


async def build(api: Api, env: Env) -> dict[str, Api]:
    """The dataset. Hours from START; a callback is due 24 h after its ticket's creation.

    id dept  channel      created callback                 resolved (stands) now
    J  water hotline        -10.5 (before the period: not in the cohort)
    A  water hotline          0   met at +2 h              +5 h              closed, satisfied
    B  water mini_program     1   met at +4 h              +10 h             closed, basically
    C  water hotline          2   breached (swept at 27)   none: +30 h was   accepted, overdue,
                                  then called at +25 h     reviewed unsolved dissatisfied
    D  roads hotline          3   met at +1 h              +20 h             resolved, 督办
    E  roads walk_in          4   met late at +26 h        -                 accepted
    H  water hotline          6   (merged into B: not in the cohort)
    I  -     hotline          6   (discarded: not in the cohort)
    G  -     hotline          6   met at +1 h by 直办      +1 h (直办)       resolved
    F  roads hotline         20   met at +2 h              +13 h             closed, dissatisfied
    L  water platform        35   running                  -                 accepted
    K  water hotline         40   (after the period: not in the cohort)

    G has no department (its topic has no rule) and no grid; E is in grid G-08, the
    others in G-07. E's late callback is met, not breached (no sweep after its due
    time): it counts in the response rate's denominator only, like C's breach.
    """
    await api.department("water", "convenience")
    await api.department("roads", "enforcement")
    # Resolution clocks long enough that the one sweep breaches only C's callback.
    for topic, department in (("water_supply", "water"), ("road_damage", "roads")):
        await api.rule(
            topic=topic, department_code=department, resolution_sla="P10D", calendar="natural"
        )
    op = api.as_(await api.principal("operator"))
    water = api.as_(await api.principal("department", department_code="water"))
    roads = api.as_(await api.principal("department", department_code="roads"))
    sup = api.as_(await api.principal("supervisor"))
    reached = {"outcome": "reached", "note": "已联系"}
    road = {"topic": "road_damage", "content": "路面塌陷"}

    at(env, -10.5)
    j = await op.ticket()
    await op.act(j, "callback", reached)
    at(env, 0)
    a = await op.ticket()
    at(env, 1)
    b = await op.ticket(channel="mini_program")
    at(env, 2)
    c = await op.ticket()
    await op.act(a, "callback", reached)
    at(env, 3)
    d = await op.ticket(**road)
    at(env, 4)
    e = await op.ticket(**road, channel="walk_in", location={"grid": "G-08"})
    await op.act(d, "callback", reached)
    at(env, 5)
    await op.act(b, "callback", reached)
    await water.act(a, "accept")
    await water.act(a, "resolve", {"result": "已修复"})
    await op.act(a, "review", {"satisfaction": "satisfied", "resolved": True})
    at(env, 6)
    h = await op.ticket()
    await op.act(h, "merge", {"into": b["id"]})
    i = await op.ticket(topic="prank")
    assert i["status"] == "received"
    await op.act(i, "discard", {"reason": "无效来电"})
    g = await op.ticket(topic="noise", location={"address": "幸福路 2 号"})
    assert g["status"] == "received" and g["department_code"] is None
    at(env, 7)
    await op.act(g, "resolve", {"result": "已当场答复"})
    at(env, 8)
    await sup.act(d, "supervise", {"note": "请加快办理"})
    await roads.act(d, "accept")
    at(env, 11)
    await water.act(b, "accept")
    await water.act(b, "resolve", {"result": "已修复"})
    await op.act(b, "review", {"satisfaction": "basically_satisfied", "resolved": True})
    at(env, 20)
    f = await op.ticket(**road)
    at(env, 22)
    await op.act(f, "callback", reached)
    at(env, 23)
    await roads.act(d, "resolve", {"result": "已修复"})
    at(env, 27)
    assert (await sweep(env)).breached == 1  # C's callback, nothing else
    c = await op.act(c, "callback", reached)
    (callback,) = [t for t in c["timers"] if t["kind"] == "callback"]
    # Met after its breach: it stays breached, and when it was made is kept.
    assert (callback["state"], callback["met_at"]) == ("breached", "2026-11-24T04:30:00Z")
    assert c["overdue"] is True
    at(env, 30)
    e = await op.act(e, "callback", reached)
    late = next(t for t in e["timers"] if t["kind"] == "callback")
    assert late["state"] == "met" and late["met_at"] > late["due_at"]
    await roads.act(e, "accept")
    at(env, 32)
    await water.act(c, "accept")
    await water.act(c, "resolve", {"result": "已处理"})
    c = await op.act(c, "review", {"satisfaction": "dissatisfied", "resolved": False})
    assert c["status"] == "accepted" and c["satisfaction"] == "dissatisfied"
    at(env, 33)
    await roads.act(f, "accept")
    await roads.act(f, "resolve", {"result": "已修复"})
    await op.act(f, "review", {"satisfaction": "dissatisfied", "resolved": True})
    at(env, 35)
    el = await op.ticket(channel="platform")
    await water.act(el, "accept")
    at(env, 40)
    await op.ticket()
    return {"op": op, "water": water, "roads": roads, "sup": sup}


# The rows, from the table above; scores with the default weights .30, .35, .35.
ROADS = {  # D, E, F
    "received": 3,
    "resolved": 2,  # D, F
    "closed": 1,  # F
    "overdue": 0,
    "supervised": 1,  # D
    "response_rate": 2 / 3,  # D and F in time, E late
    "resolution_rate": 2 / 3,
    "satisfaction_rate": 0.0,  # F, the only rating, is dissatisfied
    "median_hours_to_callback": 2.0,  # 1, 2, 26
    "median_hours_to_resolution": 16.5,  # D 20, F 13
    "score": 13 / 30,  # .30 x 2/3 + .35 x 2/3 + .35 x 0 = .2 + .2333...
}
WATER = {  # A, B, C, L
    "received": 4,
    "resolved": 2,  # A, B (C is back to accepted)
    "closed": 2,
    "overdue": 1,  # C
    "supervised": 0,
    "response_rate": 2 / 3,  # A, B in time; C breached; L still running
    "resolution_rate": 0.5,
    "satisfaction_rate": 2 / 3,  # A satisfied, B basically, C dissatisfied
    "median_hours_to_callback": 4.0,  # 2, 4, 25 (C called back after its breach)
    "median_hours_to_resolution": 7.5,  # A 5, B 10 (C is not resolved now)
    "score": 73 / 120,  # .30 x 2/3 + .35 x 1/2 + .35 x 2/3 = .2 + .175 + .2333...
}
NO_DEPARTMENT = {  # G, resolved directly (直办) one hour after creation
    "received": 1,
    "resolved": 1,
    "closed": 0,
    "overdue": 0,
    "supervised": 0,
    "response_rate": 1.0,
    "resolution_rate": 1.0,
    "satisfaction_rate": None,
    "median_hours_to_callback": 1.0,
    "median_hours_to_resolution": 1.0,
    "score": None,  # no rating, so no satisfaction rate
}
SUMMARY_KEYS = FIELDS[1:9]


def summary_of(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in SUMMARY_KEYS}


def assert_rows(
    actual: list[dict[str, Any]], expected: list[tuple[str | None, dict[str, Any]]]
) -> None:
    assert [r["key"] for r in actual] == [k for k, _ in expected]
    for row, (key, figures) in zip(actual, expected, strict=True):
        assert list(row) == list(FIELDS)
        want = {"key": key, **figures}
        assert {k: v for k, v in row.items() if k != "score"} == {
            k: v for k, v in want.items() if k != "score"
        }
        if want["score"] is None:
            assert row["score"] is None
        else:
            assert row["score"] == pytest.approx(want["score"], abs=1e-9)


async def get_ok(api: Api, path: str, **params: str) -> Any:
    r = await api.get(path, params={**PERIOD, **params})
    assert r.status_code == 200, r.text
    return r.json()


async def test_summary_and_the_department_filter(api: Api, env: Env) -> None:
    p = await build(api, env)
    viewer = api.as_(await api.principal("viewer"))

    assert await get_ok(viewer, "/v1/stats/summary") == {
        "received": 8,  # A B C D E F G L (not J, K: outside; not H, I: merged, discarded)
        "resolved": 5,  # A B D F G
        "closed": 3,  # A B F
        "overdue": 1,  # C
        "supervised": 1,  # D
        "response_rate": 5 / 7,  # A B D F G in time / those + C breached + E late
        "resolution_rate": 5 / 8,
        "satisfaction_rate": 0.5,  # A, B pleased / A B C F rated
    }
    roads = await get_ok(p["sup"], "/v1/stats/summary", department_code="roads")
    assert roads == summary_of(ROADS)
    unknown = await get_ok(viewer, "/v1/stats/summary", department_code="nobody")
    assert unknown["received"] == 0 and unknown["response_rate"] is None


async def test_breakdowns_by_department_and_platform_with_medians_and_scores(
    api: Api, env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    await build(api, env)
    viewer = api.as_(await api.principal("viewer"))

    rows = (await get_ok(viewer, "/v1/stats/by/department"))["items"]
    assert_rows(rows, [("roads", ROADS), ("water", WATER), (None, NO_DEPARTMENT)])
    # The rows' counts add up to the summary's.
    total = await get_ok(viewer, "/v1/stats/summary")
    for field in ("received", "resolved", "closed", "overdue", "supervised"):
        assert total[field] == sum(r[field] for r in rows)
    best = (await get_ok(viewer, "/v1/stats/by/department", sort="-score"))["items"]
    assert_rows(best, [("water", WATER), ("roads", ROADS), (None, NO_DEPARTMENT)])
    worst = (await get_ok(viewer, "/v1/stats/by/department", sort="score"))["items"]
    assert [r["key"] for r in worst] == ["roads", "water", None]

    rows = (await get_ok(viewer, "/v1/stats/by/platform"))["items"]
    assert_rows(rows, [("convenience", WATER), ("enforcement", ROADS), (None, NO_DEPARTMENT)])
    rows = (await get_ok(viewer, "/v1/stats/by/platform", department_code="water"))["items"]
    assert_rows(rows, [("convenience", WATER)])

    # HOTLINE_SCORE_WEIGHTS: all on the satisfaction rate.
    monkeypatch.setattr(env.runtime.settings, "score_weights", "0,0,1")
    rows = (await get_ok(viewer, "/v1/stats/by/department", sort="-score"))["items"]
    assert [(r["key"], r["score"]) for r in rows] == [
        ("water", 2 / 3),
        ("roads", 0.0),
        (None, None),
    ]


async def test_breakdowns_by_channel_topic_and_grid(api: Api, env: Env) -> None:
    await build(api, env)
    viewer = api.as_(await api.principal("viewer"))

    async def received(dimension: str) -> list[tuple[str | None, int]]:
        rows = (await get_ok(viewer, f"/v1/stats/by/{dimension}"))["items"]
        return [(r["key"], r["received"]) for r in rows]

    assert await received("channel") == [
        ("hotline", 5),  # A C D F G
        ("mini_program", 1),  # B
        ("platform", 1),  # L
        ("walk_in", 1),  # E
    ]
    assert await received("topic") == [("noise", 1), ("road_damage", 3), ("water_supply", 4)]
    assert await received("grid") == [("G-07", 6), ("G-08", 1), (None, 1)]
    rows = (await get_ok(viewer, "/v1/stats/by/channel"))["items"]
    walk_in = rows[3]  # E alone: called back late, so met but not in time
    assert walk_in["response_rate"] == 0.0 and walk_in["median_hours_to_callback"] == 26.0


async def test_medians_are_the_same_to_the_bit_on_both_databases(api: Api, env: Env) -> None:
    """PostgreSQL's percentile_cont and the Python median used on SQLite agree exactly,
    on durations that no float holds exactly."""
    await api.department("water")
    await api.rule(topic="water_supply", department_code="water")
    op = api.as_(await api.principal("operator"))
    viewer = api.as_(await api.principal("viewer"))
    waits = [timedelta(hours=1, minutes=2, seconds=3.123457), timedelta(hours=5, seconds=0.654321)]
    for wait in waits:
        at(env, 0)
        ticket = await op.ticket()
        env.clock.advance(wait)
        await op.act(ticket, "callback", {"outcome": "reached", "note": "已联系"})
    lo, hi = (w.total_seconds() for w in waits)
    (row,) = (await get_ok(viewer, "/v1/stats/by/department"))["items"]
    assert row["median_hours_to_callback"] == (lo + 0.5 * (hi - lo)) / 3600


async def test_csv_is_the_same_rows(api: Api, env: Env) -> None:
    await build(api, env)
    viewer = api.as_(await api.principal("viewer"))
    params = {**PERIOD, "sort": "-score"}

    as_json = (await viewer.get("/v1/stats/by/department", params=params)).json()["items"]
    r = await viewer.get("/v1/stats/by/department", params=params, headers={"Accept": "text/csv"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    reader = csv.reader(io.StringIO(r.content.decode("utf-8")))
    header, *lines = list(reader)
    assert header == list(FIELDS)
    counts = {"received", "resolved", "closed", "overdue", "supervised"}

    def value(field: str, text: str) -> Any:
        if text == "":
            return None
        if field == "key":
            return text
        return int(text) if field in counts else float(text)

    assert [{f: value(f, t) for f, t in zip(header, line, strict=True)} for line in lines] == (
        as_json
    )
    # JSON stays the default, and wins when both are equally acceptable.
    both = await viewer.get(
        "/v1/stats/by/department", params=params, headers={"Accept": "application/json, text/csv"}
    )
    assert both.headers["content-type"].startswith("application/json")


async def test_an_empty_period_has_zeros_and_null_rates(api: Api, env: Env) -> None:
    await build(api, env)
    viewer = api.as_(await api.principal("viewer"))
    december = {"from": "2026-12-01T00:00:00+08:00", "to": "2026-12-02T00:00:00+08:00"}

    r = await viewer.get("/v1/stats/summary", params=december)
    assert r.status_code == 200
    assert r.json() == {
        "received": 0,
        "resolved": 0,
        "closed": 0,
        "overdue": 0,
        "supervised": 0,
        "response_rate": None,
        "resolution_rate": None,
        "satisfaction_rate": None,
    }
    r = await viewer.get("/v1/stats/by/department", params=december)
    assert r.json() == {"items": []}
    r = await viewer.get("/v1/stats/by/department", params=december, headers={"Accept": "text/csv"})
    assert r.text == ",".join(FIELDS) + "\r\n"


@pytest.mark.parametrize("path", ["/v1/stats/summary", "/v1/stats/by/department"])
async def test_roles(api: Api, path: str) -> None:
    await api.department("water")
    for role, fields, status in [
        ("viewer", {}, 200),
        ("supervisor", {}, 200),
        ("operator", {}, 403),
        ("department", {"department_code": "water"}, 403),
        ("app", {}, 403),
    ]:
        token = await api.principal(role, **fields)
        r = await api.as_(token).get(path, params=PERIOD)
        assert r.status_code == status, (role, r.text)
        if status == 403:
            assert r.json()["type"] == "urn:hotline:problem:forbidden"
    assert (await api.get(path, params=PERIOD)).status_code == 200  # admin
    anonymous = await api.client.get(path, params=PERIOD)
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    ("path", "params", "loc"),
    [
        ("/v1/stats/summary", {**PERIOD, "from": "2026-11-23T00:00:00"}, ["query", "from"]),
        ("/v1/stats/summary", {"from": PERIOD["from"]}, ["query", "to"]),
        ("/v1/stats/summary", {}, ["query", "from"]),
        ("/v1/stats/summary", {**PERIOD, "to": "2026-11-22T00:00:00Z"}, ["query", "to"]),
        ("/v1/stats/summary", {**PERIOD, "to": "tomorrow"}, ["query", "to"]),
        ("/v1/stats/by/department", {**PERIOD, "sort": "-points"}, ["query", "sort"]),
        ("/v1/stats/by/village", PERIOD, ["path", "dimension"]),
    ],
)
async def test_bad_queries_are_422(
    api: Api, path: str, params: dict[str, str], loc: list[str]
) -> None:
    viewer = api.as_(await api.principal("viewer"))
    r = await viewer.get(path, params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"] == "urn:hotline:problem:validation"
    assert loc in [e["loc"] for e in body["errors"]]
