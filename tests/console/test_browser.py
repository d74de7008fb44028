"""The console end to end in a real browser: sign-in, intake, queue, ticket, board, stats."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn
from console_harness import (
    AXE,
    CHROMIUM,
    CHROMIUM_ARGS,
    PHONE,
    SCREENSHOTS,
    Console,
    action,
    shot,
    sign_in,
    status_shown,
    unavailable,
)

from conftest import Api, Env, sweep

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page


@pytest.fixture(scope="session")
async def server(app_env: Env, backend: str) -> AsyncIterator[str]:
    """The suite's app (already in its lifespan) served by uvicorn on a free local port."""
    if backend != "postgresql":
        pytest.skip(
            "the browser scenarios run once, against PostgreSQL; the console only calls the "
            "API, whose own tests cover SQLite"
        )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app_env.app, log_level="error", lifespan="off", ws="none", access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture(scope="session")
async def browser(server: str) -> AsyncIterator[Browser]:
    try:
        from playwright.async_api import Error, async_playwright
    except ImportError:
        unavailable("the playwright package is not installed")
    if not Path(CHROMIUM).is_file():
        unavailable(f"{CHROMIUM} is missing")
    playwright = await async_playwright().start()
    try:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000
        )
    except Error as exc:
        await playwright.stop()
        unavailable(f"Chromium did not start: {exc.message.splitlines()[0]}")
    try:
        yield browser
    finally:
        await browser.close()
        await playwright.stop()


@pytest.fixture
async def console(env: Env, server: str, browser: Browser) -> AsyncIterator[Console]:
    console = Console(server, browser)
    try:
        yield console
    finally:
        await console.close()
    assert not console.problems, console.problems


async def water_works(api: Api) -> None:
    """Two departments and the rules that route water and road calls to them."""
    await api.department("water", "convenience")
    await api.department("roads", "enforcement")
    await api.rule(topic="water_supply", department_code="water", label="供水")
    await api.rule(topic="road_damage", department_code="roads", label="道路破损")


async def open_ticket_from_queue(page: Page, number: str) -> None:
    await page.get_by_role("link", name="工单队列", exact=True).click()
    await page.get_by_role("link", name=number, exact=True).click()
    await page.get_by_role("heading", name=f"工单 {number}", exact=True).wait_for()


def countdown_seconds(text: str) -> int:
    match = re.search(r"(?:(\d+)天 )?(\d\d):(\d\d):(\d\d)", text)
    assert match, text
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


async def test_a_call_is_registered_worked_by_its_department_and_reviewed(
    console: Console, api: Api
) -> None:
    await water_works(api)
    operator = await api.principal("operator")
    department = await api.principal("department", department_code="water")
    earlier = await api.as_(operator).ticket(content="上周水管漏水")

    desk = await console.open(operator)
    await desk.get_by_role("heading", name="工单队列", exact=True).wait_for()
    await desk.get_by_role("link", name=earlier["number"], exact=True).wait_for()
    await shot(desk, "queue")

    await desk.get_by_role("link", name="来电登记", exact=True).click()
    await desk.get_by_label("来电号码", exact=True).fill("138 0000 1234")
    history = desk.get_by_text("重复来电：此前已有 1 张工单")
    await history.wait_for()
    await desk.get_by_label("姓名", exact=True).fill("张三")
    await desk.get_by_label("老人", exact=True).check()
    await desk.get_by_label("诉求类别", exact=True).select_option(label="求助")
    await desk.get_by_label("事项主题", exact=True).select_option(label="供水（water_supply）")
    await desk.get_by_label("紧急", exact=True).check()
    await desk.get_by_label("诉求内容", exact=True).fill("幸福路 1 号水管破裂,请尽快处理")
    await desk.get_by_label("网格", exact=True).fill("G-07")
    await desk.get_by_label("地址", exact=True).fill("幸福路 1 号")
    await desk.get_by_label("诉求内容", exact=True).press("Control+Enter")

    routed = desk.locator("#routed-to")
    await routed.wait_for()
    assert "已派往：water 部门" in await routed.inner_text()
    heading = await desk.locator("#result-h").inner_text()
    number = heading.split()[1]
    countdown = desk.locator("section[aria-labelledby=result-h] .countdown").first
    first = await countdown.inner_text()
    assert first.startswith("剩余"), first
    await desk.wait_for_function(  # it runs: the text changes by itself, second by second
        "first => document.querySelector('#routed-to ~ ul .countdown').textContent !== first",
        arg=first,
        timeout=5000,
    )
    assert countdown_seconds(await countdown.inner_text()) < countdown_seconds(first)
    light = desk.locator("section[aria-labelledby=result-h] .light").first
    assert await light.inner_text() == "正常"
    # A repeat caller: the earlier ticket is offered as the one to merge into.
    await desk.get_by_role("button", name=f"并入此单 {earlier['number']}").wait_for()
    await shot(desk, "intake")
    await desk.set_viewport_size(PHONE)
    await shot(desk, "intake-saved-phone")
    await desk.set_viewport_size({"width": 1366, "height": 768})

    # The next call on the same form: it starts again from the defaults (诉求, 一般).
    await desk.get_by_role("button", name="登记下一个来电", exact=True).click()
    assert await desk.get_by_label("诉求（初心热线）", exact=True).is_checked()
    assert await desk.get_by_label("一般", exact=True).is_checked()
    await desk.get_by_label("来电号码", exact=True).fill("139 0000 5678")
    await desk.get_by_label("诉求类别", exact=True).select_option(label="求助")
    await desk.get_by_label("诉求内容", exact=True).fill("路灯不亮")
    await desk.get_by_label("诉求内容", exact=True).press("Control+Enter")
    await desk.wait_for_function(
        "first => { const h = document.querySelector('#result-h');"
        " return h && h.offsetParent !== null && !h.textContent.includes(first); }",
        arg=number,
        timeout=10000,
    )

    # The department works it from its queue: 签收, then 办结.
    office = await console.open(department)
    await office.get_by_role("link", name=number, exact=True).click()
    await office.get_by_role("heading", name=f"工单 {number}", exact=True).wait_for()
    buttons = await office.locator(".actions-bar button").all_inner_texts()
    assert set(buttons) == {"签收", "退单", "备注"}, buttons
    await action(office, "签收")
    await status_shown(office, "办理中")
    await office.get_by_role("button", name="办结", exact=True).click()
    await office.locator("dialog[open]").get_by_label("办理结果", exact=True).fill("已更换水管")
    await shot(office, "ticket-action-form")
    await office.locator("dialog[open]").get_by_role("button", name="办结", exact=True).click()
    await status_shown(office, "已办结")

    # The operator records the return visit (回访评价).
    await open_ticket_from_queue(desk, number)

    async def review(page: Page) -> None:
        await page.get_by_label("满意", exact=True).check()
        await page.get_by_label("已解决", exact=True).check()

    await action(desk, "回访评价", review)
    await status_shown(desk, "已归档")
    timeline = await desk.locator(".timeline").inner_text()
    for step in ("登记", "派单", "签收", "办结", "回访评价", "归档"):
        assert step in timeline, step
    await shot(desk, "ticket")
    await desk.set_viewport_size(PHONE)
    await shot(desk, "ticket-closed-phone")
    stored = (await api.get(f"/v1/tickets/{heading_id(desk.url)}")).json()
    assert stored["status"] == "closed"
    assert stored["satisfaction"] == "satisfied"


def heading_id(url: str) -> str:
    return url.rsplit("/", 1)[1]


async def test_a_stale_page_explains_the_conflict_and_shows_the_ticket_as_it_is(
    console: Console, api: Api
) -> None:
    await water_works(api)
    operator = await api.principal("operator")
    department = await api.principal("department", department_code="water")
    ticket = await api.as_(operator).ticket()
    desk = await console.open(operator, where=f"#/tickets/{ticket['id']}")
    await status_shown(desk, "已派单")
    await api.as_(department).act(ticket, "accept")  # meanwhile, elsewhere

    async def reached(page: Page) -> None:
        await page.get_by_label("已联系上", exact=True).check()

    await action(desk, "回访联系", reached)
    alert = desk.locator("main > .alert")
    await alert.get_by_text("已被修改").wait_for()
    await status_shown(desk, "办理中")

    # A body the API refuses (422) is explained in the form, which stays open.
    await desk.get_by_role("button", name="备注", exact=True).click()
    dialog = desk.locator("dialog[open]")
    await dialog.get_by_label("说明", exact=True).fill(" " * 3)
    await dialog.get_by_role("button", name="备注", exact=True).click()
    await dialog.locator(".alert").get_by_text("说明").wait_for()
    assert await dialog.is_visible()


async def test_a_supervisor_closes_the_case_of_a_breached_ticket(
    console: Console, api: Api, env: Env
) -> None:
    await water_works(api)
    operator = await api.principal("operator")
    supervisor = await api.principal("supervisor")
    late = await api.as_(operator).ticket(content="路灯不亮已两周")
    env.clock.advance(timedelta(days=10))
    await sweep(env)

    board = await console.open(supervisor)
    await board.get_by_role("heading", name="督办", exact=True).wait_for()
    section = board.get_by_role("region", name="一级督办（乡镇党委）")
    row = section.locator("tr", has=board.get_by_role("link", name=late["number"], exact=True))
    await row.wait_for()
    assert "办理超时" in await row.inner_text()
    assert "超期" in await row.locator(".light").inner_text()
    await shot(board, "supervision")
    await row.get_by_role("button", name="结案", exact=True).click()
    dialog = board.locator("dialog[open]")
    await dialog.get_by_label("说明", exact=True).fill("已约谈承办单位,当日修复")
    await dialog.get_by_role("button", name="结案", exact=True).click()
    await row.wait_for(state="detached")
    await board.get_by_text("未结督办 0 件").wait_for()
    cases = (await api.as_(supervisor).get("/v1/supervisions", params={"status": "open"})).json()
    assert cases["items"] == []


async def test_an_operator_dispatches_a_call_by_hand_and_merges_a_duplicate(
    console: Console, api: Api
) -> None:
    await water_works(api)
    operator = await api.principal("operator")
    first = await api.as_(operator).ticket(topic="noise", content="夜间施工噪音")
    again = await api.as_(operator).ticket(topic="noise", content="夜间施工噪音,再次来电")
    assert first["status"] == again["status"] == "received"

    desk = await console.open(operator, where=f"#/tickets/{first['id']}")
    await status_shown(desk, "已受理")

    async def to_roads(page: Page) -> None:
        dialog = page.locator("dialog[open]")
        await dialog.get_by_label("部门", exact=True).check()
        await dialog.get_by_label("承办单位", exact=True).select_option(
            label="roads 部门（综合执法）"
        )

    await action(desk, "派单", to_roads)
    await status_shown(desk, "已派单")
    assert "roads 部门" in await desk.locator("dl.facts").inner_text()

    await desk.goto(f"/console/#/tickets/{again['id']}")
    await desk.get_by_role("heading", name=f"工单 {again['number']}", exact=True).wait_for()

    async def into_first(page: Page) -> None:
        await page.locator("dialog[open]").get_by_label("并入工单（编号）").fill(first["number"])

    await action(desk, "并单", into_first)
    await status_shown(desk, "已并单")
    merged = (await api.get(f"/v1/tickets/{again['id']}")).json()
    assert merged["merged_into"] == first["id"]


async def stats_api_exists(api: Api) -> bool:
    """Whether the statistics API is there yet (without a period it answers 422, not 404)."""
    return (await api.get("/v1/stats/summary")).status_code != 404


async def test_the_statistics_page_draws_its_charts_and_its_csv_is_the_apis(
    console: Console, api: Api
) -> None:
    if not await stats_api_exists(api):
        pytest.skip("GET /v1/stats/summary does not exist yet (the stats API is being built)")
    await water_works(api)
    operator = await api.principal("operator")
    viewer = await api.principal("viewer")
    water = await api.principal("department", department_code="water")
    done = await api.as_(operator).ticket()
    await api.as_(operator).ticket(topic="road_damage", content="路面塌陷")
    await api.as_(water).act(done, "accept")
    await api.as_(water).act(done, "resolve", {"result": "已修复"})
    await api.as_(operator).act(done, "review", {"satisfaction": "satisfied", "resolved": True})

    page = await console.open(viewer)
    await page.get_by_role("link", name="统计", exact=True).click()
    await page.locator("[data-charts=drawn]").wait_for()
    for canvas in ("#chart-rates", "#chart-counts"):
        box = await page.locator(canvas).bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 100
    figures = {
        name: await page.locator(f"[data-figure={name}] dd").inner_text()
        for name in ("received", "resolved", "resolution_rate", "satisfaction_rate")
    }
    assert figures == {
        "received": "2",
        "resolved": "1",
        "resolution_rate": "50.0%",
        "satisfaction_rate": "100.0%",
    }
    await shot(page, "stats")

    async with page.expect_request(re.compile(r"/v1/stats/by/department")) as request_info:
        async with page.expect_download() as download_info:
            await page.get_by_role("button", name="导出 CSV", exact=True).click()
    download = await download_info.value
    shown = Path(await download.path()).read_bytes()
    url = (await request_info.value).url
    path = url[url.index("/v1/") :]
    direct = await api.as_(viewer).get(path, headers={"Accept": "text/csv"})
    assert direct.status_code == 200
    assert shown == direct.content


ROW = {
    "received": 12,
    "resolved": 10,
    "closed": 8,
    "overdue": 1,
    "supervised": 1,
    "response_rate": 0.9,
    "resolution_rate": 10 / 12,
    "satisfaction_rate": 0.75,
    "median_hours_to_callback": 2.5,
    "median_hours_to_resolution": 30.0,
    "score": 0.82,
}
CSV = "key,received,resolved\r\nwater,12,10\r\n"


async def test_the_statistics_page_shows_the_contracts_figures_as_charts_and_csv(
    console: Console, api: Api
) -> None:
    """The page against API.md's shapes, answered by the browser itself (any stats API)."""
    await water_works(api)
    viewer = await api.principal("viewer")
    page = await console.page()
    asked: list[str] = []

    async def answer(route: Any) -> None:
        request = route.request
        asked.append(request.url)
        if request.headers.get("accept") == "text/csv":
            await route.fulfill(status=200, content_type="text/csv", body=CSV)
        elif "/summary" in request.url:
            await route.fulfill(status=200, json=ROW)
        else:
            items = [
                {**ROW, "key": "water"},
                {**ROW, "key": "roads", "satisfaction_rate": None, "score": None},
            ]
            await route.fulfill(status=200, json={"items": items})

    await page.route(re.compile(r"/v1/stats/"), answer)
    await page.goto("/console/#/stats?from=2026-11-01&to=2026-11-30&dimension=department")
    await sign_in(page, viewer)
    await page.locator("[data-charts=drawn]").wait_for()
    assert await page.locator("[data-figure=received] dd").inner_text() == "12"
    assert await page.locator("[data-figure=resolution_rate] dd").inner_text() == "83.3%"
    rows = await page.locator("main table tbody tr").all_inner_texts()
    assert "water 部门" in rows[0] and "roads 部门" in rows[1]
    for canvas in ("#chart-rates", "#chart-counts"):
        box = await page.locator(canvas).bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 100
    # The period is [from, to + 1 day) in the service's time zone.
    assert "from=2026-10-31T16%3A00%3A00Z" in asked[0]
    assert "to=2026-11-30T16%3A00%3A00Z" in asked[0]
    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="导出 CSV", exact=True).click()
    download = await download_info.value
    assert Path(await download.path()).read_bytes() == CSV.encode()
    assert download.suggested_filename == "stats-department-2026-11-01_2026-11-30.csv"
    await shot(page, "stats-contract")


async def test_a_department_cannot_open_another_departments_ticket(
    console: Console, api: Api
) -> None:
    await water_works(api)
    operator = await api.principal("operator")
    water = await api.principal("department", department_code="water")
    roads_ticket = await api.as_(operator).ticket(topic="road_damage", content="路面塌陷")
    water_ticket = await api.as_(operator).ticket()

    page = await console.open(water)
    await page.get_by_role("link", name=water_ticket["number"], exact=True).wait_for()
    assert await page.get_by_role("link", name=roads_ticket["number"]).count() == 0
    await page.goto(f"/console/#/tickets/{roads_ticket['id']}")
    await page.get_by_text("未找到该工单").wait_for()
    assert roads_ticket["number"] not in await page.locator("main").inner_text()
    await shot(page, "not-found")


async def test_signing_out_ends_the_session(console: Console, api: Api) -> None:
    operator = await api.principal("operator")
    page = await console.page()
    await page.goto("/console/")
    # By keyboard alone: the token field has the focus, Enter signs in.
    await page.get_by_label("令牌", exact=True).wait_for()
    await page.keyboard.type(operator)
    await page.keyboard.press("Enter")
    await page.get_by_role("heading", name="工单队列", exact=True).wait_for()
    # The page's heading takes the focus; Tab goes on to the first filter, visibly.
    assert await page.evaluate("() => document.activeElement.textContent") == "工单队列"
    await page.keyboard.press("Tab")
    focused = await page.evaluate(
        "() => [document.activeElement.id, getComputedStyle(document.activeElement).outlineStyle]"
    )
    assert focused == ["f-status", "solid"], focused
    await page.get_by_role("link", name="跳到主要内容").focus()
    await page.keyboard.press("Enter")
    assert await page.evaluate("() => document.activeElement.id") == "main"
    assert page.url.endswith("#/queue")
    await page.reload()  # the cookie session survives a reload
    await page.get_by_role("button", name="退出", exact=True).wait_for()
    await page.get_by_role("button", name="退出", exact=True).click()
    await page.get_by_label("令牌", exact=True).wait_for()
    await shot(page, "signin")
    await page.reload()
    await page.get_by_label("令牌", exact=True).wait_for()
    assert await page.get_by_role("button", name="退出").is_hidden()
    names = {c["name"] for c in await page.context.cookies()}
    assert "hotline_session" not in names
    answer = await page.request.get("/console/session")
    assert answer.status == 401


async def test_a_member_claims_an_order_from_the_board_and_resolves_it(
    console: Console, api: Api
) -> None:
    member = (
        await api.post(
            "/v1/members",
            {
                "name": "李四",
                "phone": "13900001111",
                "branch": "一支部",
                "skills": ["legal"],
                "kind": "retired",
            },
        )
    ).json()
    token = await api.principal("member", member_id=member["id"])
    operator = await api.principal("operator")
    order = await api.as_(operator).ticket(
        kind="service_order", topic="legal_aid", skills=["legal"], content="需要法律咨询"
    )
    assert order["status"] == "posted"

    page = await console.open(token)
    await page.get_by_role("heading", name="点单大厅", exact=True).wait_for()
    await shot(page, "board")
    await page.get_by_role("button", name=f"党员接单 {order['number']}", exact=True).click()
    await page.get_by_text("暂时没有可接的订单。").wait_for()
    await page.get_by_role("link", name=order["number"], exact=True).click()
    await status_shown(page, "办理中")
    # Back goes to the member's own first page, the board (it has no queue page).
    back = page.get_by_role("link", name="← 返回点单大厅", exact=True)
    assert await back.get_attribute("href") == "#/board"

    async def result(p: Page) -> None:
        await p.locator("dialog[open]").get_by_label("办理结果", exact=True).fill("已上门解答")

    await action(page, "办结", result)
    await status_shown(page, "已办结")
    await page.get_by_role("link", name="积分榜", exact=True).click()
    await page.get_by_role("cell", name="李四").wait_for()
    await shot(page, "leaderboard")


async def test_an_operator_dispatches_an_order_to_a_member_and_sees_the_dispute_kinds(
    console: Console, api: Api
) -> None:
    """组织派单: the dialog's member list and the dispute dialog's kinds are filled from the
    API (they were once appended as text, leaving only 请选择)."""
    await api.post(
        "/v1/members",
        {"id": "m-li", "name": "李四", "branch": "一支部", "skills": ["legal"], "kind": "retired"},
    )
    operator = await api.principal("operator")
    order = await api.as_(operator).ticket(
        kind="service_order", topic="legal_aid", skills=["legal"], content="需要法律咨询"
    )
    desk = await console.open(operator, where=f"#/tickets/{order['id']}")
    await status_shown(desk, "待接单")

    async def to_li(page: Page) -> None:
        dialog = page.locator("dialog[open]")
        await dialog.get_by_role("radio", name="党员", exact=True).check()
        await dialog.get_by_role("combobox", name="党员", exact=True).select_option(
            label="李四（一支部 legal）"
        )

    await action(desk, "派单", to_li)
    await status_shown(desk, "已派单")
    stored = (await api.get(f"/v1/tickets/{order['id']}")).json()
    assert stored["member_id"] == "m-li"

    await desk.get_by_role("button", name="矛盾纠纷登记", exact=True).click()
    kinds = desk.locator("dialog[open]").get_by_role("combobox", name="纠纷类型", exact=True)
    await kinds.locator("option", has_text="邻里关系").wait_for(state="attached")  # the API's
    offered = await kinds.locator("option").all_inner_texts()
    assert {"婚姻家庭", "邻里关系", "土地宅基地", "劳资欠薪", "物业", "其他"} <= set(offered)


async def test_the_full_number_is_shown_for_a_reason_and_audited(
    console: Console, api: Api
) -> None:
    """查看号码: an operator (who must call back) sees the full number after giving a
    reason, which the audit log keeps; the department of another ticket and a viewer are
    offered no such button."""
    await water_works(api)
    operator = await api.principal("operator")
    ticket = await api.as_(operator).ticket()  # 张三 13800001234, routed to water
    desk = await console.open(operator, where=f"#/tickets/{ticket['id']}")
    facts = desk.locator("dl.facts")
    await facts.get_by_text("138****1234").wait_for()
    await desk.get_by_role("button", name="查看号码", exact=True).click()
    dialog = desk.locator("dialog[open]")
    await dialog.get_by_label("查看原因（会记入审计日志）", exact=True).fill("回访联系来电人")
    await dialog.get_by_role("button", name="查看号码", exact=True).click()
    await facts.get_by_role("link", name="13800001234", exact=True).wait_for()
    audit = (await api.get("/v1/audit")).json()["items"]
    assert any(a["action"] == "caller.revealed" and a["reason"] == "回访联系来电人" for a in audit)

    for token in (
        await api.principal("department", department_code="roads"),
        await api.principal("viewer"),
    ):
        page = await console.open(token, where=f"#/tickets/{ticket['id']}")
        await page.wait_for_load_state("networkidle")
        assert await page.get_by_role("button", name="查看号码", exact=True).count() == 0


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    await page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = await page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
            }));
        }"""
    )
    return found


async def test_the_main_pages_have_no_serious_accessibility_violations(
    console: Console, api: Api, env: Env
) -> None:
    await water_works(api)
    operator = await api.principal("operator")
    ticket = await api.as_(operator).ticket()
    await api.as_(operator).ticket(topic="road_damage", content="路面塌陷")
    env.clock.advance(timedelta(days=10))
    await sweep(env)
    from conftest import ADMIN_TOKEN

    report: dict[str, list[dict[str, Any]]] = {}
    for viewport, suffix in ((None, ""), (PHONE, "-phone")):
        kw: dict[str, Any] = {"bypass_csp": True}  # axe is injected inline
        if viewport is not None:
            kw["viewport"] = viewport
        page = await console.page(**kw)
        await page.goto("/console/")
        await page.get_by_label("令牌", exact=True).wait_for()
        report[f"signin{suffix}"] = await axe_violations(page)
        if viewport is not None:
            await shot(page, f"signin{suffix}")
        await page.get_by_label("令牌", exact=True).fill(ADMIN_TOKEN)
        await page.get_by_role("button", name="登录", exact=True).click()
        pages = {
            "queue": ("#/queue", "工单队列"),
            "ticket": (f"#/tickets/{ticket['id']}", f"工单 {ticket['number']}"),
            "intake": ("#/intake", "来电登记"),
            "supervision": ("#/supervision", "督办"),
        }
        if await stats_api_exists(api):
            pages["stats"] = ("#/stats", "统计分析")
        for name, (where, title) in pages.items():
            await page.goto(f"/console/{where}")
            await page.get_by_role("heading", name=title, exact=True).wait_for()
            if name == "stats":
                await page.locator("[data-charts=drawn]").wait_for()
            report[name + suffix] = await axe_violations(page)
            if viewport is not None:
                await shot(page, f"{name}{suffix}")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS.parent / "axe.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    serious = {
        name: [v for v in found if v["impact"] in ("serious", "critical")]
        for name, found in report.items()
    }
    assert not any(serious.values()), serious
