"""Open311 GeoReport v2 over tickets, in JSON and XML, on both databases."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from hotline.limiter import RateLimiter

from conftest import START, Api, Env

BASE = "/open311/v2"
FORMATS = ("json", "xml")
SERVICE_FIELDS = {
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
}
REQUEST_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}
PHONE = "13800001234"


@dataclass
class World:
    app: str
    other_app: str
    operator: str
    roads: str


async def world(api: Api) -> World:
    await api.department("roads", "enforcement")
    await api.rule(topic="pothole", department_code="roads", label="道路坑洼", resolution_sla="P5D")
    await api.rule(topic="streetlight", department_code="roads")
    return World(
        app=await api.principal("app"),
        other_app=await api.principal("app"),
        operator=await api.principal("operator"),
        roads=await api.principal("department", department_code="roads"),
    )


def form(key: str | None, **changes: str | None) -> dict[str, str]:
    """A complete GeoReport request; a change to None leaves the field out."""
    fields: dict[str, str | None] = {
        "api_key": key,
        "service_code": "pothole",
        "lat": "32.7",
        "long": "113.3",
        "address_string": "幸福路 1 号",
        "first_name": "三",
        "last_name": "张",
        "phone": PHONE,
        "email": "zhang@example.cn",
        "description": "路面有一个大坑",
        **changes,
    }
    return {k: v for k, v in fields.items() if v is not None}


async def submit(client: httpx.AsyncClient, fmt: str, data: dict[str, str]) -> httpx.Response:
    return await client.post(f"{BASE}/requests.{fmt}", data=data)


def xml_items(r: httpx.Response, root: str, item: str) -> list[dict[str, str | None]]:
    """The document's items as {tag: text}, after checking it is the expected XML."""
    assert r.headers["content-type"] == "application/xml; charset=utf-8", r.headers
    top = ET.fromstring(r.content)
    assert top.tag == root, r.text
    assert all(child.tag == item for child in top), r.text
    return [{field.tag: field.text for field in child} for child in top]


def rows(r: httpx.Response, fmt: str, root: str, item: str) -> list[dict[str, Any]]:
    if fmt == "xml":
        return xml_items(r, root, item)
    assert r.headers["content-type"] == "application/json", r.headers
    body = r.json()
    assert isinstance(body, list), body
    return body


def assert_error(r: httpx.Response, fmt: str, status: int) -> str:
    """The specification's error document, with the status in it; returns the description."""
    assert r.status_code == status, r.text
    if fmt == "xml":
        (error,) = xml_items(r, "errors", "error")
        assert set(error) == {"code", "description"}
        assert error["code"] == str(status)
        assert error["description"]
        return str(error["description"])
    assert r.headers["content-type"] == "application/json", r.headers
    (error,) = r.json()
    assert set(error) == {"code", "description"}
    assert error["code"] == status
    assert isinstance(error["description"], str) and error["description"]
    return error["description"]


async def ticket_count(env: Env) -> int:
    async with env.runtime.db.transaction() as session:
        return int((await session.execute(sa.text("SELECT count(*) FROM tickets"))).scalar_one())


async def test_services_in_json_and_xml(api: Api, client: httpx.AsyncClient) -> None:
    w = await world(api)
    r = await client.get(f"{BASE}/services.json", params={"api_key": w.app})
    assert r.status_code == 200, r.text
    services = {s["service_code"]: s for s in rows(r, "json", "services", "service")}
    assert set(services) == {"pothole", "streetlight"}
    for s in services.values():
        assert set(s) == SERVICE_FIELDS
        assert s["type"] == "realtime" and s["metadata"] is False
        assert s["group"] == "enforcement"
    assert services["pothole"]["service_name"] == "道路坑洼"
    assert services["streetlight"]["service_name"] == "streetlight"  # no label: the topic

    r = await client.get(f"{BASE}/services.xml", params={"api_key": w.app})
    assert r.status_code == 200, r.text
    items = {s["service_code"]: s for s in xml_items(r, "services", "service")}
    assert set(items) == {"pothole", "streetlight"}
    assert set(items["pothole"]) == SERVICE_FIELDS
    assert items["pothole"]["service_name"] == "道路坑洼"
    assert items["pothole"]["metadata"] == "false"
    assert items["pothole"]["type"] == "realtime"
    assert items["pothole"]["keywords"] is None  # an empty element: no value

    r = await client.get(f"{BASE}/services/pothole.json", params={"api_key": w.app})
    assert r.status_code == 200, r.text
    assert r.json() == {"service_code": "pothole", "attributes": []}
    r = await client.get(f"{BASE}/services/pothole.xml", params={"api_key": w.app})
    assert r.status_code == 200, r.text
    top = ET.fromstring(r.content)
    assert top.tag == "service_definition"
    assert [c.tag for c in top] == ["service_code", "attributes"]
    assert top.findtext("service_code") == "pothole"
    assert list(top.find("attributes") or []) == []


@pytest.mark.parametrize("fmt", FORMATS)
async def test_request_round_trip(api: Api, client: httpx.AsyncClient, env: Env, fmt: str) -> None:
    w = await world(api)
    r = await submit(client, fmt, form(w.app))
    assert r.status_code == 201, r.text
    (created,) = rows(r, fmt, "service_requests", "request")
    assert set(created) == {"service_request_id", "service_notice", "account_id"}
    number = created["service_request_id"]
    assert number is not None and number.startswith("20261123")
    assert r.headers["location"] == f"{BASE}/requests/{number}.{fmt}"

    # The ticket is an ordinary petition, routed and timed like any other.
    op = api.as_(w.operator)
    found = (await op.get("/v1/tickets", params={"q": number})).json()["items"]
    (ticket,) = found
    ticket = (await op.get(f"/v1/tickets/{ticket['id']}")).json()
    assert ticket["number"] == number
    assert (ticket["kind"], ticket["category"], ticket["channel"]) == (
        "petition",
        "help",
        "platform",
    )
    assert ticket["topic"] == "pothole" and ticket["content"] == "路面有一个大坑"
    assert ticket["status"] == "dispatched" and ticket["department_code"] == "roads"
    assert ticket["caller"]["name"] == "张三"
    assert ticket["caller"]["phone"] == "138****1234"
    assert ticket["location"] == {"address": "幸福路 1 号", "lat": 32.7, "lng": 113.3}
    resolution = next(t for t in ticket["timers"] if t["kind"] == "resolution")

    r = await client.get(f"{BASE}/requests/{number}.{fmt}", params={"api_key": w.app})
    assert r.status_code == 200, r.text
    assert PHONE not in r.text and "138****1234" not in r.text and "1234<" not in r.text
    (request,) = rows(r, fmt, "service_requests", "request")
    assert set(request) == REQUEST_FIELDS
    assert request["service_request_id"] == number
    assert request["status"] == "open"
    assert request["service_code"] == "pothole"
    assert request["service_name"] == "道路坑洼"
    assert request["description"] == "路面有一个大坑"
    assert request["agency_responsible"] == "roads"
    assert request["address"] == "幸福路 1 号"
    assert request["requested_datetime"] == "2026-11-23T09:30:00+08:00"
    expected = datetime.fromisoformat(str(request["expected_datetime"]))
    assert expected == datetime.fromisoformat(resolution["due_at"])
    assert expected.utcoffset() == timedelta(hours=8)
    if fmt == "json":
        assert (request["lat"], request["long"]) == (32.7, 113.3)
        assert request["zipcode"] is None and request["media_url"] is None
    else:
        assert (request["lat"], request["long"]) == ("32.7", "113.3")
        assert request["zipcode"] is None

    roads = api.as_(w.roads)
    env.clock.advance(timedelta(hours=2))
    await roads.act(ticket, "accept")
    await roads.act(ticket, "resolve", {"result": "已填平"})
    r = await client.get(f"{BASE}/requests/{number}.{fmt}", params={"api_key": w.app})
    (request,) = rows(r, fmt, "service_requests", "request")
    assert request["status"] == "closed"
    assert request["status_notes"] == "已填平"
    assert request["expected_datetime"] is None  # the resolution clock is met
    assert request["updated_datetime"] == "2026-11-23T11:30:00+08:00"


@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_retried_post_with_an_idempotency_key_registers_once(
    api: Api, client: httpx.AsyncClient, env: Env, fmt: str
) -> None:
    """API.md: idempotency keys cover every write of the API, Open311's POST included."""
    w = await world(api)
    url, data = f"{BASE}/requests.{fmt}", form(w.app)
    first = await client.post(url, data=data, headers={"Idempotency-Key": "call-1"})
    assert first.status_code == 201, first.text
    again = await client.post(url, data=data, headers={"Idempotency-Key": "call-1"})
    assert again.status_code == 201 and again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert await ticket_count(env) == 1
    other = await client.post(
        url, data=form(w.app, description="另一处"), headers={"Idempotency-Key": "call-1"}
    )
    assert_error(other, fmt, 400)  # the key reused with another request
    assert await ticket_count(env) == 1
    assert (await client.post(url, data=data)).status_code == 201  # no key: a new one
    assert await ticket_count(env) == 2


async def test_search_filters(api: Api, client: httpx.AsyncClient, env: Env) -> None:
    w = await world(api)

    async def make(**changes: str | None) -> str:
        r = await submit(client, "json", form(w.app, **changes))
        assert r.status_code == 201, r.text
        return str(r.json()[0]["service_request_id"])

    first = await make()
    env.clock.advance(timedelta(days=1))
    light = await make(service_code="streetlight", description="路灯不亮")
    env.clock.advance(timedelta(days=1))
    third = await make()
    ticket = (await api.as_(w.operator).get("/v1/tickets", params={"q": third})).json()["items"]
    roads = api.as_(w.roads)
    await roads.act(ticket[0], "accept")
    await roads.act(ticket[0], "resolve", {"result": "已修复"})

    async def ids(fmt: str = "json", **params: str) -> list[str | None]:
        r = await client.get(f"{BASE}/requests.{fmt}", params={"api_key": w.app, **params})
        assert r.status_code == 200, r.text
        return [x["service_request_id"] for x in rows(r, fmt, "service_requests", "request")]

    assert await ids() == [third, light, first]  # newest first
    assert await ids("xml") == [third, light, first]
    assert await ids(service_request_id=light) == [light]
    assert await ids(service_request_id=f"{first},{third},nope") == [third, first]
    # With ids, the other filters are ignored, as the specification has it.
    assert await ids(service_request_id=first, status="closed") == [first]
    assert await ids(service_code="streetlight") == [light]
    assert await ids(service_code="pothole,streetlight") == [third, light, first]
    assert await ids(status="closed") == [third]
    assert await ids(status="open") == [light, first]
    assert await ids(status="open,closed") == [third, light, first]
    day_two = (START + timedelta(days=1)).isoformat()
    assert await ids(start_date=day_two) == [third, light]
    assert await ids(end_date=day_two) == [light, first]
    assert await ids(start_date=day_two, end_date=day_two) == [light]
    assert await ids(start_date="2026-11-24T09:30:00+08:00", status="open") == [light]
    # Without dates, the last 90 days.
    env.clock.advance(timedelta(days=89, hours=1))
    assert await ids() == [third]

    for bad in (
        {"status": "pending"},
        {"start_date": "yesterday"},
        {"start_date": "2026-11-23T09:30:00"},  # no offset
        {"start_date": day_two, "end_date": START.isoformat()},
    ):
        r = await client.get(f"{BASE}/requests.json", params={"api_key": w.app, **bad})
        assert_error(r, "json", 400)


async def test_an_app_sees_only_its_own(api: Api, client: httpx.AsyncClient) -> None:
    w = await world(api)
    r = await submit(client, "json", form(w.app))
    number = r.json()[0]["service_request_id"]
    await api.as_(w.operator).ticket()  # registered by phone, not through Open311

    for fmt in FORMATS:
        r = await client.get(f"{BASE}/requests/{number}.{fmt}", params={"api_key": w.other_app})
        assert_error(r, fmt, 404)
        r = await client.get(f"{BASE}/requests.{fmt}", params={"api_key": w.other_app})
        assert rows(r, fmt, "service_requests", "request") == []
        r = await client.get(f"{BASE}/requests.{fmt}", params={"api_key": w.app})
        assert len(rows(r, fmt, "service_requests", "request")) == 1
    # An operator's key reads every ticket.
    r = await client.get(f"{BASE}/requests.json", params={"api_key": w.operator})
    assert len(r.json()) == 2
    r = await client.get(f"{BASE}/requests/{number}.json", params={"api_key": w.operator})
    assert r.status_code == 200


@pytest.mark.parametrize("fmt", FORMATS)
async def test_api_key_is_required_everywhere(
    api: Api, client: httpx.AsyncClient, env: Env, fmt: str
) -> None:
    w = await world(api)
    number = (await submit(client, "json", form(w.app))).json()[0]["service_request_id"]
    gets = [
        f"{BASE}/services.{fmt}",
        f"{BASE}/services/pothole.{fmt}",
        f"{BASE}/requests.{fmt}",
        f"{BASE}/requests/{number}.{fmt}",
    ]
    for key in (None, "htl_not_a_token", w.roads):
        for path in gets:
            params = {} if key is None else {"api_key": key}
            assert_error(await client.get(path, params=params), fmt, 403)
        assert_error(await submit(client, fmt, form(key)), fmt, 403)
    # A bearer header is not how Open311 authenticates.
    headers = {"Authorization": f"Bearer {w.app}"}
    assert_error(await client.get(f"{BASE}/services.{fmt}", headers=headers), fmt, 403)
    assert await ticket_count(env) == 1


@pytest.mark.parametrize("fmt", FORMATS)
async def test_bad_fields_are_400_and_create_nothing(
    api: Api, client: httpx.AsyncClient, env: Env, fmt: str
) -> None:
    w = await world(api)
    cases: list[tuple[dict[str, str | None], str]] = [
        ({"service_code": "unknown"}, "service_code"),
        ({"service_code": None}, "service_code"),
        ({"service_code": "bad code!"}, "service_code"),
        ({"description": None}, "description"),
        ({"description": "   "}, "description"),
        ({"description": "a\x00b"}, "description"),
        ({"first_name": "\x00"}, "first_name"),
        ({"description": "x" * 5001}, "description"),
        ({"lat": "north"}, "lat"),
        ({"lat": "nan"}, "lat"),
        ({"lat": "91"}, "lat"),
        ({"long": None}, "long"),
        ({"lat": None, "long": None, "address_string": None}, "location"),
        ({"phone": "12345"}, "phone"),
        ({"address_string": "x" * 501}, "address_string"),
    ]
    for changes, field in cases:
        r = await submit(client, fmt, form(w.app, **changes))
        description = assert_error(r, fmt, 400)
        assert field in description, (changes, description)
    # Not UTF-8, or not a form at all.
    r = await client.post(
        f"{BASE}/requests.{fmt}",
        content=b"api_key=x&description=%ff",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error(r, fmt, 400)
    r = await client.post(f"{BASE}/requests.{fmt}", json=form(w.app))
    assert_error(r, fmt, 415)
    assert await ticket_count(env) == 0


@pytest.mark.parametrize("fmt", FORMATS)
async def test_unknown_ids_and_services_are_404(
    api: Api, client: httpx.AsyncClient, fmt: str
) -> None:
    w = await world(api)
    key = {"api_key": w.app}
    for path in (
        f"{BASE}/requests/202611230001.{fmt}",
        f"{BASE}/requests/not-a-number.{fmt}",
        f"{BASE}/services/unknown.{fmt}",
        f"{BASE}/services/{'x' * 100}.{fmt}",
    ):
        assert_error(await client.get(path, params=key), fmt, 404)
    r = await client.get(f"{BASE}/requests/%00.{fmt}", params=key)
    assert_error(r, fmt, 400)
    # No such route, or a method none takes: still the specification's format.
    assert_error(await client.get(f"{BASE}/nothing.{fmt}", params=key), fmt, 404)
    r = await client.delete(f"{BASE}/requests.{fmt}", params=key)
    assert_error(r, fmt, 405)
    assert r.headers["allow"] == "GET, HEAD, POST"


async def test_text_that_xml_cannot_carry_is_replaced(api: Api, client: httpx.AsyncClient) -> None:
    w = await world(api)
    text = '<b>坑</b> & \x01 ]]> "quoted"'
    r = await submit(client, "xml", form(w.app, description=text))
    assert r.status_code == 201, r.text
    (created,) = xml_items(r, "service_requests", "request")
    number = created["service_request_id"]
    r = await client.get(f"{BASE}/requests/{number}.xml", params={"api_key": w.app})
    (request,) = xml_items(r, "service_requests", "request")
    assert request["description"] == text.replace("\x01", "\ufffd")
    r = await client.get(f"{BASE}/requests/{number}.json", params={"api_key": w.app})
    assert r.json()[0]["description"] == text


async def test_non_chinese_names_read_first_then_last(api: Api, client: httpx.AsyncClient) -> None:
    w = await world(api)
    data = form(w.app, first_name="Ada", last_name="Lovelace", phone="010-12345678")
    number = (await submit(client, "json", data)).json()[0]["service_request_id"]
    op = api.as_(w.operator)
    (ticket,) = (await op.get("/v1/tickets", params={"q": number})).json()["items"]
    assert ticket["caller"]["name"] == "Ada Lovelace"
    assert ticket["caller"]["phone"] == "010****5678"


@pytest.mark.parametrize("fmt", FORMATS)
async def test_rate_limit_is_429_in_the_specifications_format(
    api: Api, client: httpx.AsyncClient, env: Env, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    w = await world(api)
    monkeypatch.setattr(env.runtime, "limiter", RateLimiter("2/minute", "memory://"))
    for _ in range(2):
        r = await client.get(f"{BASE}/services.{fmt}", params={"api_key": w.app})
        assert r.status_code == 200, r.text
    r = await client.get(f"{BASE}/services.{fmt}", params={"api_key": w.app})
    assert_error(r, fmt, 429)
    assert int(r.headers["retry-after"]) >= 1


def test_openapi_declares_the_routes(env: Env) -> None:
    doc = env.app.openapi()
    paths = {p: ops for p, ops in doc["paths"].items() if p.startswith(BASE)}
    for fmt in FORMATS:
        assert set(paths[f"{BASE}/requests.{fmt}"]) == {"get", "post"}
        for path in ("services", "services/{service_code}", "requests/{service_request_id}"):
            assert set(paths[f"{BASE}/{path}.{fmt}"]) == {"get"}
    post = paths[f"{BASE}/requests.json"]["post"]
    assert "application/x-www-form-urlencoded" in post["requestBody"]["content"]
    for ops in paths.values():
        for op in ops.values():
            assert "422" not in op["responses"]  # every parameter is checked by the route
            assert {"400", "403", "429", "default"} <= set(op["responses"])


def test_openapi_declares_the_error_format(env: Env) -> None:
    doc = env.app.openapi()
    for path, ops in doc["paths"].items():
        if not path.startswith(BASE):
            continue
        media = "application/xml" if path.endswith(".xml") else "application/json"
        for op in ops.values():
            for code, response in op["responses"].items():
                if code == "default" or int(code) >= 400:
                    assert list(response["content"]) == [media], (path, code)
                    schema = response["content"][media]["schema"]
                    assert schema["items"]["$ref"].endswith("/Open311Error"), (path, code)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_guard_refusals_in_the_specifications_format(
    api: Api, client: httpx.AsyncClient, env: Env, fmt: str
) -> None:
    w = await world(api)
    r = await client.get(f"{BASE}/requests.{fmt}", params={"api_key": w.app, "status": "\x00"})
    assert_error(r, fmt, 400)
    big = form(w.app, description="x" * (env.settings.max_body_bytes + 1))
    assert_error(await submit(client, fmt, big), fmt, 413)
