"""Who reads and acts on which tickets: departments, apps, viewers, operators; callers; lists."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from hotline.tickets.transitions import TICKETS

from conftest import Api, Env, problem, sweep
from test_transitions import sample_body

NOT_FOUND = "urn:hotline:problem:not-found"
FORBIDDEN = "urn:hotline:problem:forbidden"
VALIDATION = "urn:hotline:problem:validation"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
SHANGHAI = timezone(timedelta(hours=8))


async def setup(api: Api) -> dict[str, Api]:
    """water and roads, each with a rule routing its topic to it, and a principal per role."""
    await api.department("water")
    await api.department("roads", "enforcement")
    await api.rule(topic="water_supply", department_code="water")
    await api.rule(topic="road_damage", department_code="roads")
    return {
        "op": api.as_(await api.principal("operator")),
        "supervisor": api.as_(await api.principal("supervisor")),
        "viewer": api.as_(await api.principal("viewer")),
        "water": api.as_(await api.principal("department", department_code="water")),
        "roads": api.as_(await api.principal("department", department_code="roads")),
        "app": api.as_(await api.principal("app")),
        "app2": api.as_(await api.principal("app")),
    }


async def ids(who: Api, **params: Any) -> list[str]:
    r = await who.get("/v1/tickets", params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    return [t["id"] for t in r.json()["items"]]


async def test_department_cannot_see_or_act_on_another_departments_ticket(api: Api) -> None:
    p = await setup(api)
    theirs = await p["op"].ticket(content="幸福路自来水管爆裂 unique-7731")
    ours = await p["op"].ticket(topic="road_damage", content="路面塌陷")
    assert (theirs["department_code"], ours["department_code"]) == ("water", "roads")
    roads = p["roads"]

    r = await roads.get(f"/v1/tickets/{theirs['id']}")
    body = problem(r, 404, NOT_FOUND)
    # As if it did not exist: the same answer as for an id that was never issued.
    unknown = (await roads.get(f"/v1/tickets/{UNKNOWN_ID}")).json()
    assert {k: body[k] for k in ("type", "title", "status", "detail")} == {
        k: unknown[k] for k in ("type", "title", "status", "detail")
    }
    problem(await roads.get(f"/v1/tickets/{theirs['id']}/events"), 404, NOT_FOUND)
    for action in TICKETS.actions:
        url = f"/v1/tickets/{theirs['id']}/actions/{action}"
        problem(await roads.post(url, sample_body(action, api.env)), 404, NOT_FOUND)
        problem(await roads.post(url, []), 404, NOT_FOUND)  # 404 comes before 422
        problem(await roads.post(url, {"reason": "", "note": ""}), 404, NOT_FOUND)
    after = (await api.get(f"/v1/tickets/{theirs['id']}")).json()
    assert after["version"] == theirs["version"]

    assert await ids(roads) == [ours["id"]]
    assert await ids(roads, department_code="water") == []
    assert await ids(roads, q="unique-7731") == []
    assert await ids(roads, q="自来水") == []
    assert await ids(roads, status="dispatched") == [ours["id"]]
    # ...while its own ticket it reads in full.
    r = await roads.get(f"/v1/tickets/{ours['id']}")
    assert r.status_code == 200 and r.json()["id"] == ours["id"]
    assert (await roads.get(f"/v1/tickets/{ours['id']}/events")).status_code == 200
    assert await ids(roads, department_code="roads") == [ours["id"]]
    assert await ids(p["water"], q="unique-7731") == [theirs["id"]]


async def test_department_keeps_reading_a_returned_ticket(api: Api) -> None:
    p = await setup(api)
    ticket = await p["op"].ticket()
    t = await p["water"].act(ticket, "return", {"reason": "不属于本单位"})
    assert t["status"] == "returned" and t["department_code"] == "water"

    r = await p["water"].get(f"/v1/tickets/{ticket['id']}")
    assert r.status_code == 200
    assert r.json()["status"] == "returned" and r.json()["department_code"] == "water"
    assert (await p["water"].get(f"/v1/tickets/{ticket['id']}/events")).status_code == 200
    assert await ids(p["water"]) == [ticket["id"]]
    assert await ids(p["water"], status="returned") == [ticket["id"]]
    # It may still comment, but it is not its to act on otherwise.
    assert (await p["water"].get(f"/v1/tickets/{ticket['id']}")).json()["allowed_actions"] == [
        "comment"
    ]
    assert (await p["roads"].get(f"/v1/tickets/{ticket['id']}")).status_code == 404

    # Re-dispatched to roads, it is routed to roads now, and only roads reads it.
    t = await p["op"].act(ticket, "dispatch", {"department_code": "roads"})
    assert t["department_code"] == "roads"
    assert (await p["roads"].get(f"/v1/tickets/{ticket['id']}")).status_code == 200
    assert (await p["water"].get(f"/v1/tickets/{ticket['id']}")).status_code == 404
    assert await ids(p["water"]) == []


async def test_app_reads_only_what_it_created_and_only_comments(api: Api) -> None:
    p = await setup(api)
    app, other = p["app"], p["app2"]
    mine = await app.ticket(channel="mini_program")
    unrouted = await app.ticket(channel="mini_program", topic="noise")
    theirs = await other.ticket(channel="mini_program")
    operators = await p["op"].ticket()

    assert set(await ids(app)) == {mine["id"], unrouted["id"]}
    assert await ids(other) == [theirs["id"]]
    for foreign in (theirs, operators):
        problem(await app.get(f"/v1/tickets/{foreign['id']}"), 404, NOT_FOUND)
        problem(await app.get(f"/v1/tickets/{foreign['id']}/events"), 404, NOT_FOUND)
        r = await app.post(f"/v1/tickets/{foreign['id']}/actions/comment", {"note": "x"})
        problem(r, 404, NOT_FOUND)
    assert (await app.get(f"/v1/tickets/{mine['id']}")).status_code == 200
    assert (await app.get(f"/v1/tickets/{mine['id']}/events")).status_code == 200

    for ticket in (mine, unrouted):
        for action in TICKETS.actions:
            if action == "comment":
                continue
            url = f"/v1/tickets/{ticket['id']}/actions/{action}"
            r = await app.post(url, sample_body(action, api.env))
            problem(r, 403, FORBIDDEN)
    got = await app.get(f"/v1/tickets/{mine['id']}")
    assert got.json()["version"] == mine["version"]
    assert got.json()["allowed_actions"] == ["comment"]
    t = await app.act(mine, "comment", {"note": "用户补充:三楼"})
    assert t["version"] == mine["version"] + 1


async def test_viewer_reads_everything_and_does_nothing(api: Api) -> None:
    p = await setup(api)
    viewer = p["viewer"]
    tickets = [
        await p["op"].ticket(),
        await p["op"].ticket(topic="road_damage"),
        await p["app"].ticket(topic="noise"),
        await p["op"].ticket(kind="service_order", topic="noise"),
    ]
    assert set(await ids(viewer)) == {t["id"] for t in tickets}
    for t in tickets:
        r = await viewer.get(f"/v1/tickets/{t['id']}")
        assert r.status_code == 200 and r.json()["allowed_actions"] == []
        assert (await viewer.get(f"/v1/tickets/{t['id']}/events")).status_code == 200
    listed = (await viewer.get("/v1/tickets")).json()["items"]
    assert all(t["allowed_actions"] == [] for t in listed)

    create = {"kind": "petition", "channel": "hotline", "category": "help", "content": "x"}
    problem(await viewer.post("/v1/tickets", create), 403, FORBIDDEN)
    for action in TICKETS.actions:
        r = await viewer.post(
            f"/v1/tickets/{tickets[0]['id']}/actions/{action}", sample_body(action, api.env)
        )
        problem(r, 403, FORBIDDEN)
    assert set(await ids(viewer)) == {t["id"] for t in tickets}  # nothing was created
    assert (await viewer.get(f"/v1/tickets/{tickets[0]['id']}")).json()["version"] == 1


async def test_operators_and_supervisors_read_every_ticket(api: Api) -> None:
    p = await setup(api)
    tickets = [
        await p["op"].ticket(),
        await p["op"].ticket(topic="road_damage"),
        await p["app"].ticket(topic="noise"),
        await p["app2"].ticket(kind="service_order", topic="noise"),
        await api.ticket(topic="noise"),
    ]
    await p["water"].act(tickets[0], "return", {"reason": "x"})
    for who in ("op", "supervisor"):
        assert set(await ids(p[who])) == {t["id"] for t in tickets}, who
        for t in tickets:
            assert (await p[who].get(f"/v1/tickets/{t['id']}")).status_code == 200, who
            assert (await p[who].get(f"/v1/tickets/{t['id']}/events")).status_code == 200


async def test_confidential_caller_is_hidden_from_the_department(api: Api) -> None:
    p = await setup(api)
    caller = {"name": "李四", "phone": "13912345678", "confidential": True}
    created = await p["op"].ticket(caller=caller)
    shown = {"name": "李四", "phone": "139****5678", "confidential": True}
    hidden = {"name": None, "phone": None, "confidential": True}

    def who(t: dict[str, Any]) -> dict[str, Any]:
        return {k: t["caller"][k] for k in ("name", "phone", "confidential")}

    assert who(created) == shown
    assert who((await p["op"].get(f"/v1/tickets/{created['id']}")).json()) == shown
    assert [who(t) for t in (await p["op"].get("/v1/tickets")).json()["items"]] == [shown]
    assert who((await p["supervisor"].get(f"/v1/tickets/{created['id']}")).json()) == shown

    water = p["water"]
    assert who((await water.get(f"/v1/tickets/{created['id']}")).json()) == hidden
    assert [who(t) for t in (await water.get("/v1/tickets")).json()["items"]] == [hidden]
    assert who(await water.act(created, "accept")) == hidden
    assert who(await water.act(created, "comment", {"note": "x"})) == hidden
    # The operator's action responses still show the (masked) caller.
    assert who(await p["op"].act(created, "callback", {"outcome": "reached"})) == shown


async def test_list_limits_and_cursors_are_validated(api: Api) -> None:
    await api.ticket()
    for params in ({"limit": 0}, {"limit": 501}, {"limit": -1}, {"cursor": "garbage"}):
        r = await api.get("/v1/tickets", params=params)
        body = problem(r, 422, VALIDATION)
        assert body["errors"] and all({"loc", "msg"} <= set(e) for e in body["errors"])
    r = await api.get("/v1/tickets", params={"updated_since": "2026-11-23T09:30:00"})
    problem(r, 422, VALIDATION)  # a time without an offset
    assert (await api.get("/v1/tickets", params={"limit": 500})).status_code == 200
    assert (await api.get("/v1/tickets", params={"limit": 1})).status_code == 200


async def page_all(who: Api, limit: int, **params: Any) -> list[list[str]]:
    """Every page of the list, following next_cursor."""
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        r = await who.get("/v1/tickets", params=query)
        assert r.status_code == 200, r.text
        pages.append([t["id"] for t in r.json()["items"]])
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 20, "the cursor does not advance"


async def test_paging_newest_first_each_ticket_once(api: Api, env: Env) -> None:
    created = []
    for _ in range(5):
        created.append((await api.ticket())["id"])
        env.clock.advance(timedelta(minutes=1))
    pages = await page_all(api, 2)
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [i for p in pages for i in p] == created[::-1]

    # Tickets created in the same instant: the cursor must still not skip or repeat one.
    same = [(await api.ticket())["id"] for _ in range(5)]
    seen = [i for p in await page_all(api, 2) for i in p]
    assert len(seen) == len(set(seen)) == 10
    assert set(seen[:5]) == set(same) and seen[5:] == created[::-1]


async def test_updated_since_in_update_order_inclusive_and_stable(api: Api, env: Env) -> None:
    start = env.clock.now()
    a = await api.ticket(topic="noise")
    env.clock.advance(timedelta(minutes=1))
    t1 = env.clock.now()
    b = await api.ticket(topic="noise")
    env.clock.advance(timedelta(minutes=1))
    c = await api.ticket(topic="noise")
    env.clock.advance(timedelta(minutes=1))
    await api.act(a, "comment", {"note": "a moves last"})

    # a was created first but commented last, so in update order it comes last.
    assert await ids(api, updated_since=start.isoformat()) == [b["id"], c["id"], a["id"]]
    # Inclusive: b was updated exactly at t1 (given here in Shanghai time).
    since = t1.astimezone(SHANGHAI).isoformat()
    assert since.endswith("+08:00")
    assert await ids(api, updated_since=since) == [b["id"], c["id"], a["id"]]
    assert await ids(api, updated_since=(t1 + timedelta(seconds=1)).isoformat()) == [
        c["id"],
        a["id"],
    ]
    pages = await page_all(api, 1, updated_since=since)
    assert pages == [[b["id"]], [c["id"]], [a["id"]]]

    # A system catching up: between two pages, a ticket it has already seen changes; the
    # cursor neither skips the rest nor loses the change (the ticket comes again, later).
    r = await api.get("/v1/tickets", params={"updated_since": since, "limit": 2})
    first = r.json()
    assert [t["id"] for t in first["items"]] == [b["id"], c["id"]]
    env.clock.advance(timedelta(minutes=1))
    await api.act(b, "comment", {"note": "b changes again"})
    r = await api.get(
        "/v1/tickets",
        params={"updated_since": since, "limit": 2, "cursor": first["next_cursor"]},
    )
    rest = r.json()
    assert [t["id"] for t in rest["items"]] == [a["id"], b["id"]]
    assert rest["next_cursor"] is None
    stamps = [datetime.fromisoformat(t["updated_at"]) for t in rest["items"]]
    assert stamps == sorted(stamps)

    # Several tickets updated in the same instant page in a stable order, each once.
    env.clock.advance(timedelta(minutes=1))
    now = env.clock.now()
    for t in (a, b, c):
        await api.act(t, "comment", {"note": "same instant"})
    pages = await page_all(api, 1, updated_since=now.isoformat())
    assert sorted(i for p in pages for i in p) == sorted([a["id"], b["id"], c["id"]])
    assert pages == await page_all(api, 1, updated_since=now.isoformat())


async def test_a_read_answers_what_the_change_answered(api: Api) -> None:
    """A change answers with the entities it wrote; GET and the list render plain rows.
    Either way the same ticket reads the same, for each role (masking, confidential
    caller, timers met and running, allowed actions)."""
    p = await setup(api)
    caller = {"name": "李四", "phone": "13912345678", "confidential": True}
    created = await p["op"].ticket(caller=caller)
    steps: list[tuple[str, str, dict[str, Any] | None]] = [
        ("water", "accept", None),
        ("op", "callback", {"outcome": "reached"}),
        ("water", "comment", {"note": "已派人"}),
    ]
    for who, action, body in steps:
        answer = await p[who].act(created, action, body)
        read = (await p[who].get(f"/v1/tickets/{created['id']}")).json()
        listed = (await p[who].get("/v1/tickets")).json()["items"]
        assert read == answer, f"{who} {action}: GET differs from the action's answer"
        assert listed == [answer], f"{who} {action}: the list differs from the action's answer"
    assert any(t["met_at"] for t in answer["timers"])  # the callback's clock was met


async def test_a_read_shows_the_links_and_clocks_the_change_answered(api: Api, env: Env) -> None:
    """The same for what an answer shows beside the ticket, read in the ticket's own
    statement on GET and the list: two children, two merged tickets, a dispute, a met and a
    breached clock, in order and to the microsecond."""
    await api.department("water")
    await api.department("roads", "enforcement")
    await api.department("parks")
    await api.rule(topic="water_supply", department_code="water", resolution_sla="PT2H")
    grids = (("C", "county", None), ("T", "township", "C"), ("V", "village", "T"))
    for code, level, parent in (*grids, ("G-07", "grid", "V")):
        r = await api.post(
            "/v1/grids", {"code": code, "name": code, "level": level, "parent_code": parent}
        )
        assert r.status_code == 201, r.text
    op = api.as_(await api.principal("operator"))
    water = api.as_(await api.principal("department", department_code="water"))

    env.clock.set(env.clock.now().replace(microsecond=123_457))  # kept to the microsecond
    ticket = await op.ticket()
    duplicates = []
    for _ in range(2):
        env.clock.advance(timedelta(seconds=1))
        duplicates.append(await op.ticket())
    first, second = duplicates
    t = await water.act(ticket, "accept")
    for duplicate in (second, first):  # merged in this order, shown oldest first
        env.clock.advance(timedelta(seconds=1))
        await op.act(duplicate, "merge", {"into": ticket["id"]})
    for department in ("roads", "parks"):
        env.clock.advance(timedelta(seconds=1))
        t = await water.act(t, "refer", {"department_code": department, "note": "协办"})
    r = await op.post(
        f"/v1/tickets/{ticket['id']}/actions/open_dispute",
        {
            "kind": "property",
            "parties": [{"name": "甲", "role": "申请人"}],
            "summary": "物业纠纷",
        },
    )
    assert r.status_code == 200, r.text
    t = await op.act(r.json(), "callback", {"outcome": "reached"})
    env.clock.advance(timedelta(hours=3, microseconds=250_001))
    await sweep(env)  # the two-hour resolution clock breaches
    answer = await op.act(ticket, "comment", {"note": "跟进"})

    got = (await op.get(f"/v1/tickets/{ticket['id']}")).json()
    page = (await op.get("/v1/tickets", params={"department_code": "water"})).json()
    (item,) = [i for i in page["items"] if i["id"] == ticket["id"]]
    assert answer == got == item

    assert len(got["children"]) == 2
    by_id = {
        c["id"]: c for c in [(await op.get(f"/v1/tickets/{i}")).json() for i in got["children"]]
    }
    assert [by_id[i]["department_code"] for i in got["children"]] == ["roads", "parks"]
    assert got["merged_ids"] == [first["id"], second["id"]]
    assert len(got["dispute_ids"]) == 1
    kinds = {t["kind"]: t for t in got["timers"]}
    assert kinds["callback"]["state"] == "met" and kinds["callback"]["met_at"].endswith("Z")
    assert kinds["resolution"]["state"] == "breached"
    assert kinds["resolution"]["breached_at"].endswith(".373458Z")
    assert kinds["resolution"]["started_at"].endswith(".123457Z")
    assert got["timers"][0]["kind"] == "callback"  # in the order they were started


async def test_each_filter_answers_for_its_own_value(api: Api, env: Env) -> None:
    """The page statement is built once per actor and shape and reused: every filter's
    value is bound at execution, so the same filters with other values, asked in any order,
    answer for those values (as filtering the whole list would), and a cursor pages a
    filtered list without skipping or repeating a ticket."""
    p = await setup(api)
    op = p["op"]
    contents = ["降价50%了", "降价50元", "a_b 路口", "axb 路口", "普通诉求"]
    made = []
    for i, content in enumerate(contents):
        topic = "water_supply" if i % 2 == 0 else "road_damage"
        made.append(await op.ticket(topic=topic, content=content))
        env.clock.advance(timedelta(minutes=1))
    await p["water"].act(made[2], "accept")
    every = {
        t["id"]: t for t in (await op.get("/v1/tickets", params={"limit": 500})).json()["items"]
    }
    newest_first = [t["id"] for t in made[::-1]]

    def expected(keep: Any) -> list[str]:
        return [i for i in newest_first if keep(every[i])]

    middle = made[2]["created_at"]
    cases: list[tuple[dict[str, Any], Any]] = [
        ({"department_code": "water"}, lambda t: t["department_code"] == "water"),
        ({"department_code": "roads"}, lambda t: t["department_code"] == "roads"),
        ({"status": "accepted"}, lambda t: t["status"] == "accepted"),
        ({"status": "dispatched"}, lambda t: t["status"] == "dispatched"),
        ({"q": "50%"}, lambda t: "50%" in t["content"]),
        ({"q": "a_b"}, lambda t: "a_b" in t["content"]),
        ({"q": "路口"}, lambda t: "路口" in t["content"]),
        ({"created_from": middle}, lambda t: t["created_at"] >= middle),
        ({"created_to": middle}, lambda t: t["created_at"] < middle),
        ({"overdue": "true"}, lambda t: t["overdue"]),
        ({"overdue": "false"}, lambda t: not t["overdue"]),
        ({"supervised": "true"}, lambda t: t["supervised"]),
        (
            {"department_code": "water", "status": "dispatched"},
            lambda t: (t["department_code"], t["status"]) == ("water", "dispatched"),
        ),
    ]
    for params, keep in [*cases, *cases[::-1]]:
        assert await ids(op, **params) == expected(keep), params
    for department in ("water", "roads", "water"):
        pages = await page_all(op, 1, department_code=department)
        want = expected(lambda t, d=department: t["department_code"] == d)
        assert [i for page in pages for i in page] == want
