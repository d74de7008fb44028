"""A ticket's three answers agree: an action's (the entity as the change left it), its GET
and its list item (one statement each, what they show beside the row read as JSON)."""

from __future__ import annotations

from datetime import timedelta

from conftest import Api, Env, sweep


async def test_action_answer_get_and_list_item_show_the_same(api: Api, env: Env) -> None:
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
