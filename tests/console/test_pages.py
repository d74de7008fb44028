"""The console's pages over HTTP: served without a token, under a strict CSP, labels complete."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from hotline.console import router as console
from hotline.tickets import schemas as s
from hotline.tickets.transitions import TICKETS

HERE = Path(console.__file__).parent
STATIC = HERE / "static"
LABELS = json.loads((HERE / "labels" / "zh-CN.json").read_text(encoding="utf-8"))
SCRIPT = (STATIC / "console.js").read_text(encoding="utf-8")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# The action names people and tests rely on: the action table's Chinese names (API.md,
# "Console"), the others the console's own.
ACTION_NAMES = {
    "dispatch": "派单",
    "claim": "党员接单",
    "accept": "签收",
    "return": "退单",
    "reject_return": "退单审核不通过",
    "callback": "回访联系",
    "request_extension": "申请延期",
    "approve_extension": "批准延期",
    "deny_extension": "驳回延期",
    "resolve": "办结",
    "review": "回访评价",
    "reopen": "重新办理",
    "merge": "并单",
    "discard": "作废",
    "supervise": "督办",
    "comment": "备注",
    "refer": "四平台互推",
    "open_dispute": "矛盾纠纷登记",
}


async def test_the_page_loads_without_a_token_under_a_strict_csp(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/console/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == CSP
    assert r.headers["cache-control"] == "no-store"
    assert 'content="2026-11-23T01:30:00Z"' in r.text  # the service's clock, for countdowns
    redirect = await client.get("/console", follow_redirects=False)
    assert redirect.status_code == 308
    assert redirect.headers["location"] == "/console/"


@pytest.mark.parametrize(
    "path",
    [
        "/console/static/console.js",
        "/console/static/console.css",
        "/console/static/icon.svg",
        "/console/static/vendor/chart.umd.min.js",
        "/console/labels/zh-CN.json",
    ],
)
async def test_every_asset_is_served_by_the_service_with_the_csp(
    client: httpx.AsyncClient, path: str
) -> None:
    r = await client.get(path)
    assert r.status_code == 200, path
    assert r.headers["content-security-policy"] == CSP
    assert r.headers["x-content-type-options"] == "nosniff"  # once, from ObserveMiddleware


@pytest.mark.parametrize(
    "path",
    [
        "/console/static/../router.py",
        "/console/static/%2e%2e/router.py",
        "/console/static/nothing.js",
        "/console/labels/xx.json",
        "/console/labels/..%2Frouter.json",
    ],
)
async def test_nothing_outside_the_assets_is_served(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    assert r.status_code == 404, path
    assert r.headers["content-type"] == "application/problem+json"


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.styles: list[dict[str, str | None]] = []
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script":
            self.scripts.append(found)
        if tag == "link" and found.get("rel") == "stylesheet":
            self.styles.append(found)
        if tag == "style" or "style" in found or any(k.startswith("on") for k in found):
            self.inline.append(tag)


def test_the_page_is_html_one_module_and_one_stylesheet_without_inline_code() -> None:
    page = _Page()
    page.feed((STATIC / "index.html").read_text(encoding="utf-8"))
    assert page.scripts == [{"type": "module", "src": "/console/static/console.js"}]
    assert [p["href"] for p in page.styles] == ["/console/static/console.css"]
    assert page.inline == []
    # Styles come from classes: the script never writes style attributes or raw HTML.
    for forbidden in (".style", "innerHTML", "outerHTML", "insertAdjacentHTML", "eval("):
        assert forbidden not in SCRIPT, forbidden
    for remote in re.findall(r"https?://[^\s\"'`)]+", SCRIPT):
        pytest.fail(f"the console script names a remote address: {remote}")


def test_every_action_has_its_chinese_name() -> None:
    assert set(TICKETS.actions) <= set(ACTION_NAMES)
    for action, name in ACTION_NAMES.items():
        assert LABELS["actions"][action] == name


def test_every_code_the_api_returns_has_a_label() -> None:
    groups: dict[str, Any] = {
        "status": s.Status,
        "kind": s.Kind,
        "channel": s.Channel,
        "category": s.Category,
        "urgency": s.Urgency,
        "satisfaction": s.Satisfaction,
    }
    for group, enum in groups.items():
        assert set(LABELS[group]) == {e.value for e in enum}, group
    assert set(LABELS["timer"]) == {"callback", "response", "resolution"}
    assert set(LABELS["timer_state"]) == {"running", "met", "breached", "cancelled"}
    events = {t.event for t in TICKETS.transitions}
    assert events <= set(LABELS["events"])


def _form_entries() -> dict[str, str]:
    block = SCRIPT[SCRIPT.index("const ACTION_FORMS = {") :]
    block = block[: block.index("\n};\n")]
    starts = list(re.finditer(r"^  (\w+): ", block, re.MULTILINE))
    return {
        m.group(1): block[m.end() : (starts[i + 1].start() if i + 1 < len(starts) else None)]
        for i, m in enumerate(starts)
    }


def _fields(model: type[BaseModel]) -> dict[str, bool]:
    return {name: info.is_required() for name, info in model.model_fields.items()}


def test_each_action_form_asks_for_exactly_the_body_its_action_takes() -> None:
    entries = _form_entries()
    assert set(entries) == set(TICKETS.actions)
    builder = re.compile(
        r"(?:noteInput|radioInput|plainInput|departmentInput|dateTimeInput|mergeInput"
        r"|disputeKindInput)\(\s*\"(\w+)\"|targetInput\(\"(\w+)\", \"(\w+)\""
    )
    for action, entry in entries.items():
        body = TICKETS.body_of(action)
        fields = _fields(body)
        asked = {name for match in builder.findall(entry) for name in match if name}
        if "firstParty" in entry:  # one party's fields, sent as parties[0]
            party = body.model_fields["parties"].annotation
            party_model = party.__args__[0]  # type: ignore[union-attr]
            party_fields = _fields(party_model)
            assert {n for n in asked if n in party_fields} >= {
                n for n, required in party_fields.items() if required
            }
            asked = (asked - set(party_fields)) | {"parties"}
        assert asked <= set(fields), (action, asked - set(fields))
        required = {name for name, is_required in fields.items() if is_required}
        assert required <= asked, (action, required - asked)
