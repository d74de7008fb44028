"""Bad input of every kind answers problem+json, leaks no internals and changes nothing."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from hotline.app import create_app

from conftest import ADMIN_TOKEN, TICKET, Api, Env

PROBLEM_JSON = "application/problem+json"
COUNTED = ("tickets", "ticket_events", "timers", "webhook_deliveries", "idempotency_keys")
# What a leaked stack trace or driver message would contain.
LEAKS = ("Traceback", "traceback", "sqlalchemy", "asyncpg", "aiosqlite", 'File "')

VALID: dict[str, Any] = {
    **TICKET,
    "location": {"grid": "G-07", "address": "幸福路 1 号", "lat": 32.7, "lng": 113.3},
}


def valid(**changes: Any) -> dict[str, Any]:
    """The valid intake body with top-level fields replaced (None removes a field)."""
    body = {**VALID, **changes}
    return {k: v for k, v in body.items() if v is not None}


def with_caller(**changes: Any) -> dict[str, Any]:
    return valid(caller={**VALID["caller"], **changes})


def with_location(**changes: Any) -> dict[str, Any]:
    return valid(location={**VALID["location"], **changes})


async def counts(env: Env) -> dict[str, int]:
    """Rows of every table a write could touch."""
    async with env.runtime.db.transaction() as session:
        return {
            table: int((await session.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar())
            for table in COUNTED
        }


def assert_problem(r: httpx.Response, status: int, slug: str | None = None) -> dict[str, Any]:
    """An RFC 9457 body with the required members, and nothing from the inside."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].split(";")[0] == PROBLEM_JSON, r.headers
    for leak in LEAKS:
        assert leak not in r.text, r.text
    body: dict[str, Any] = r.json()
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["status"] == status
    assert body["type"].startswith("urn:hotline:problem:")
    if slug is not None:
        assert body["type"] == f"urn:hotline:problem:{slug}"
    if status == 422:
        assert isinstance(body["errors"], list) and body["errors"]
        for error in body["errors"]:
            assert isinstance(error["loc"], list) and isinstance(error["msg"], str)
    return body


def locs(body: dict[str, Any]) -> list[list[Any]]:
    return [e["loc"] for e in body["errors"]]


def names(body: dict[str, Any], *path: str) -> bool:
    """Whether some error's loc points at this field (``body`` first, then the path)."""
    return any(loc[: len(path) + 1] == ["body", *path] for loc in locs(body))


@pytest.fixture
async def operator(api: Api) -> Api:
    return api.as_(await api.principal("operator"))


# -- intake: 422 cases -----------------------------------------------------------------

JSON_CASES: list[Any] = [
    pytest.param(valid(content=None), ("content",), id="missing-content"),
    pytest.param(valid(kind=None), ("kind",), id="missing-kind"),
    pytest.param(valid(channel=None), ("channel",), id="missing-channel"),
    pytest.param(valid(category=None), ("category",), id="missing-category"),
    pytest.param(valid(content=""), ("content",), id="empty-content"),
    pytest.param(valid(content="长" * 5001), ("content",), id="content-5001"),
    pytest.param(valid(kind="complaint_letter"), ("kind",), id="unknown-kind"),
    pytest.param(valid(channel="fax"), ("channel",), id="unknown-channel"),
    pytest.param(valid(category="rant"), ("category",), id="unknown-category"),
    pytest.param(valid(urgency="apocalyptic"), ("urgency",), id="unknown-urgency"),
    pytest.param(with_caller(phone="12345"), ("caller", "phone"), id="phone-short"),
    pytest.param(with_caller(phone="1234567890123"), ("caller", "phone"), id="phone-long"),
    pytest.param(with_caller(phone="12800000000"), ("caller", "phone"), id="phone-12x"),
    pytest.param(with_caller(phone="abc"), ("caller", "phone"), id="phone-letters"),
    pytest.param(with_location(lat=91), ("location", "lat"), id="lat-91"),
    pytest.param(with_location(lng=181), ("location", "lng"), id="lng-181"),
    # A JSON boolean is true or false, not a word or a number that reads like one.
    pytest.param(with_caller(confidential="yes"), ("caller", "confidential"), id="bool-word"),
    pytest.param(valid(on_the_spot=1), ("on_the_spot",), id="bool-number"),
    # The guard rejects these before the model sees them; the contract asks only for a 422.
    pytest.param(valid(content="水管\u0000破裂"), (), id="nul-in-content"),
    pytest.param(with_caller(name="张\u0000三"), (), id="nul-in-caller-name"),
]


@pytest.mark.parametrize(("body", "field"), JSON_CASES)
async def test_intake_rejects_bad_fields(
    operator: Api, env: Env, body: dict[str, Any], field: tuple[str, ...]
) -> None:
    before = await counts(env)
    problem = assert_problem(await operator.post("/v1/tickets", body), 422, "validation")
    assert names(problem, *field), locs(problem)
    assert await counts(env) == before


RAW_CASES: list[Any] = [
    pytest.param(b'{"kind": "petition", "content": ', id="malformed-json"),
    pytest.param(b"[]", id="json-array"),
    pytest.param(b'[{"kind": "petition"}]', id="json-array-of-object"),
    pytest.param(b"null", id="json-null"),
    pytest.param(b'"petition"', id="json-string"),
]


@pytest.mark.parametrize("raw", RAW_CASES)
async def test_intake_rejects_bodies_that_are_no_object(
    operator: Api, env: Env, raw: bytes
) -> None:
    before = await counts(env)
    r = await operator.post(
        "/v1/tickets", content=raw, headers={"Content-Type": "application/json"}
    )
    problem = assert_problem(r, 422, "validation")
    # The whole body is wrong, so the error points at the body itself.
    assert all(loc[0] == "body" for loc in locs(problem)), locs(problem)
    assert await counts(env) == before


async def test_unpaired_surrogate_is_422(operator: Api, env: Env) -> None:
    # The JSON escape is valid syntax, but decodes to text no database can store.
    raw = (
        b'{"kind": "petition", "channel": "hotline", "category": "help", '
        b'"content": "\\ud800 broken"}'
    )
    before = await counts(env)
    r = await operator.post(
        "/v1/tickets", content=raw, headers={"Content-Type": "application/json"}
    )
    problem = assert_problem(r, 422, "validation")
    assert names(problem), locs(problem)
    assert await counts(env) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (valid(content="a\u0000b"), ("content",)),
        (valid(content="a\ud800b"), ("content",)),
        (with_caller(name="\u0000"), ("caller", "name")),
    ],
    ids=["nul-content", "surrogate-content", "nul-caller-name"],
)
async def test_bad_text_error_names_the_field(
    operator: Api, body: dict[str, Any], field: tuple[str, ...]
) -> None:
    # json.dumps escapes NUL and a lone surrogate as \\uXXXX, which is valid JSON syntax.
    raw = json.dumps(body).encode()
    r = await operator.post(
        "/v1/tickets", content=raw, headers={"Content-Type": "application/json"}
    )
    assert names(assert_problem(r, 422, "validation"), *field)


async def test_content_of_5000_chars_is_accepted(operator: Api) -> None:
    r = await operator.post("/v1/tickets", valid(content="长" * 5000))
    assert r.status_code == 201, r.text
    assert len(r.json()["content"]) == 5000


@pytest.mark.parametrize(
    ("phone", "normal"),
    [
        ("13800000000", "13800000000"),
        ("+8613800000000", "13800000000"),
        ("0086 13800000000", "13800000000"),
        ("010-12345678", "01012345678"),
        ("0755-1234567", "07551234567"),
        ("02112345678", "02112345678"),
    ],
)
async def test_good_phones_are_stored_normalised(operator: Api, phone: str, normal: str) -> None:
    r = await operator.post("/v1/tickets", with_caller(phone=phone))
    assert r.status_code == 201, r.text
    ticket = r.json()
    assert ticket["caller"]["phone"] == f"{normal[:3]}****{normal[-4:]}"
    # The search uses the stored normal form: the digits find what any spelling stored.
    found = await operator.get("/v1/tickets", params={"caller_phone": normal})
    assert found.status_code == 200, found.text
    assert [t["id"] for t in found.json()["items"]] == [ticket["id"]]


# -- intake: transport-level errors ---------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
async def test_non_json_content_type_is_415(operator: Api, env: Env, content_type: str) -> None:
    before = await counts(env)
    r = await operator.post(
        "/v1/tickets", content=b"kind=petition&content=x", headers={"Content-Type": content_type}
    )
    assert_problem(r, 415, "unsupported-media-type")
    assert await counts(env) == before


async def test_body_over_one_mib_is_413(operator: Api, env: Env) -> None:
    raw = b'{"kind": "petition", "content": "' + b"x" * (1024 * 1024) + b'"}'
    before = await counts(env)
    r = await operator.post(
        "/v1/tickets", content=raw, headers={"Content-Type": "application/json"}
    )
    assert_problem(r, 413)
    assert await counts(env) == before


# -- other routes ------------------------------------------------------------------------


async def test_unknown_tickets_and_routes_are_404_problems(api: Api) -> None:
    ticket = await api.ticket()
    for path in (
        "/v1/tickets/not-a-uuid",
        "/v1/tickets/00000000-0000-4000-8000-000000000000",
        "/v1/nowhere",
    ):
        assert_problem(await api.get(path), 404, "not-found")
    r = await api.post(f"/v1/tickets/{ticket['id']}/actions/fly", {})
    assert_problem(r, 404)


async def test_wrong_method_is_405_problem_naming_every_allowed_method(api: Api, env: Env) -> None:
    """RFC 9110: a 405 lists what the path takes (its GET and POST are two routes)."""
    before = await counts(env)
    r = await api.delete("/v1/tickets")
    assert_problem(r, 405)
    assert r.headers["allow"] == "GET, HEAD, POST"
    assert await counts(env) == before
    r = await api.put("/v1/departments/water", {})
    assert_problem(r, 405)
    assert r.headers["allow"] == "GET, HEAD, PATCH"
    r = await api.post("/healthz", {})
    assert (r.status_code, r.headers["allow"]) == (405, "GET, HEAD")


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer htl_no_such_token", "Basic dXNlcjpwYXNz", "Bearer", "htl_test_admin_token"],
    ids=["none", "unknown-token", "basic-scheme", "empty-bearer", "no-scheme"],
)
async def test_missing_or_bad_credentials_are_401(
    client: httpx.AsyncClient, env: Env, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    assert_problem(await client.get("/v1/tickets", headers=headers), 401, "unauthorized")
    before = await counts(env)
    r = await client.post("/v1/tickets", json=VALID, headers=headers)
    assert_problem(r, 401, "unauthorized")
    assert await counts(env) == before


async def test_nul_in_query_is_422_not_500(operator: Api) -> None:
    r = await operator.get("/v1/tickets?q=%00")
    assert_problem(r, 422, "validation")


async def test_a_query_that_is_not_utf8_is_422(operator: Api) -> None:
    """A lone surrogate encoded in a query string (ED A0 80) or bytes of no encoding."""
    for query in ("q=a%ED%A0%80b", "q=%FF", "department_code=%C3"):
        r = await operator.get(f"/v1/tickets?{query}")
        assert locs(assert_problem(r, 422, "validation")) == [["query"]], query
    assert (await operator.get("/v1/tickets?q=%E6%B0%B4+a")).status_code == 200  # 水 a


async def test_naive_time_in_query_is_422(operator: Api) -> None:
    r = await operator.get("/v1/tickets", params={"created_from": "2026-11-23T09:30:00"})
    problem = assert_problem(r, 422, "validation")
    assert ["query", "created_from"] in locs(problem), locs(problem)


async def test_bad_action_bodies_are_422_and_change_nothing(api: Api, env: Env) -> None:
    await api.department("water")
    await api.rule(topic="water_supply", department_code="water")
    ticket = await api.ticket()
    ticket = await api.act(ticket, "accept")
    url = f"/v1/tickets/{ticket['id']}/actions"
    before = await counts(env)

    r = await api.post(f"{url}/comment", [{"note": "x"}])
    assert_problem(r, 422, "validation")
    r = await api.post(f"{url}/comment", content=b"{", headers={"Content-Type": "application/json"})
    assert_problem(r, 422, "validation")
    r = await api.post(f"{url}/review", {"satisfaction": "satisfied", "resolved": "yes"})
    assert names(assert_problem(r, 422, "validation"), "resolved")
    # RFC 3339 requires an offset: a naive instant is ambiguous across timezones.
    r = await api.post(
        f"{url}/request_extension", {"until": "2026-12-20T18:00:00", "reason": "施工"}
    )
    problem = assert_problem(r, 422, "validation")
    assert names(problem, "until"), locs(problem)

    assert await counts(env) == before
    after = (await api.get(f"/v1/tickets/{ticket['id']}")).json()
    assert after["version"] == ticket["version"] and after["pending_extension"] is None


async def post_raw(api: Api, path: str, raw: bytes, token: str | None) -> httpx.Response:
    """``raw`` sent as JSON, with ``token`` (None: no Authorization header)."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return await api.client.post(path, content=raw, headers=headers)


async def test_malformed_json_is_checked_after_the_token_and_the_role(api: Api) -> None:
    """API.md's order (401, 404, 403, 422) holds for a body that is not JSON at all, which
    FastAPI would decode before any check: the guard defers it (hotline.guard)."""
    await api.department("water")
    department = await api.principal("department", department_code="water")
    raw = b'{"kind": "petition",'
    for path in ("/v1/tickets", "/v1/departments", "/v1/principals", "/v1/routing-rules"):
        for token, status in ((None, 401), ("nope", 401), (department, 403), (ADMIN_TOKEN, 422)):
            r = await post_raw(api, path, raw, token)
            assert r.status_code == status, (path, token, r.text)
        assert r.json()["errors"] == [{"loc": ["body", 20], "msg": "JSON decode error"}]
    r = await api.client.post(
        "/v1/tickets/00000000-0000-4000-8000-000000000000/actions/accept",
        content=raw,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert r.status_code == 404  # an action reads its body raw, after scope and role


DEEP = b'{"note": "x", "extra": ' + b"[" * 2000 + b"]" * 2000 + b"}"
REFUSED_BODIES = [
    pytest.param(b'{"note": "a\\u0000b"}', ["body", "note"], id="nul"),
    pytest.param(b'{"note": "a\\ud800b"}', ["body", "note"], id="lone-surrogate"),
    pytest.param(b'{"note": "\xff\xfe"}', ["body"], id="not-utf-8"),
    pytest.param(DEEP, ["body"], id="nested-2000-deep"),
]


@pytest.mark.parametrize(("raw", "loc"), REFUSED_BODIES)
async def test_a_body_no_route_may_store_is_checked_after_token_scope_and_role(
    api: Api, raw: bytes, loc: list[str]
) -> None:
    """NUL, a lone surrogate, bytes that are not UTF-8 and JSON nested past the parser's
    depth are all 422 for the body, after 401, 404 and 403 (never a 500)."""
    await api.department("water")
    await api.rule(topic="water_supply", department_code="water")
    op = await api.principal("operator")
    ticket = await api.as_(op).ticket()
    await api.department("roads", "enforcement")
    roads = await api.principal("department", department_code="roads")
    viewer = await api.principal("viewer")
    comment = f"/v1/tickets/{ticket['id']}/actions/comment"
    for path in ("/v1/tickets", comment):
        for token, status in ((None, 401), ("nope", 401), (viewer, 403), (op, 422)):
            r = await post_raw(api, path, raw, token)
            assert r.status_code == status, (path, token, r.text)
        problem = assert_problem(r, 422, "validation")
        assert problem["errors"][0]["loc"][: len(loc)] == loc, problem
    r = await post_raw(api, comment, raw, roads)
    assert r.status_code == 404, r.text  # not its ticket: as if it did not exist


async def test_a_query_no_route_may_read_is_checked_after_the_token(api: Api) -> None:
    for query in ("q=a%00b", "q=%ff%fe"):
        r = await api.client.get(f"/v1/tickets?{query}")
        assert_problem(r, 401, "unauthorized")
        assert_problem(await api.get(f"/v1/tickets?{query}"), 422, "validation")


async def test_a_dropped_database_connection_is_503_then_recovers(env: Env) -> None:
    """The server dropped the connection (a restart, a failover): the request that finds
    it answers 503 with Retry-After, not 500, and the next one is served on a new one."""
    if env.runtime.db.is_sqlite:
        pytest.skip("PostgreSQL only: SQLite has no server to drop connections")
    settings = env.settings.model_copy(update={"db_pool_size": 1})
    app = create_app(settings, env.clock)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://hotline.test") as client,
    ):
        assert (await client.get("/v1/departments", headers=headers)).status_code == 200
        db = app.state.runtime.db
        (pid,) = await db.peek(sa.select(sa.func.pg_backend_pid()))  # its one connection
        admin = await asyncpg.connect(settings.database_url.replace("+asyncpg", ""))
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        r = await client.get("/v1/departments", headers=headers)
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith(PROBLEM_JSON)
        assert r.json()["type"] == "urn:hotline:problem:unavailable"
        assert r.headers["retry-after"] == "1"
        assert not any(leak in r.text for leak in LEAKS)
        assert (await client.get("/v1/departments", headers=headers)).status_code == 200
        # Open311's clients read GeoReport's error format, this error included.
        (pid,) = await db.peek(sa.select(sa.func.pg_backend_pid()))
        admin = await asyncpg.connect(settings.database_url.replace("+asyncpg", ""))
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        r = await client.get("/open311/v2/services.json", params={"api_key": ADMIN_TOKEN})
        assert r.status_code == 503, r.text
        assert r.json()[0]["code"] == 503 and r.headers["retry-after"] == "1"
