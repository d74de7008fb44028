"""What the fuzzers found in src: the exact requests, asserting API.md (all fixed since)."""

from __future__ import annotations

from typing import Any

from conftest import Api, Env

PROBLEM_JSON = "application/problem+json"


def declared(env: Env, method: str, path: str) -> set[str]:
    """The statuses /openapi.json declares for one operation."""
    operation: dict[str, Any] = env.app.openapi()["paths"][path][method.lower()]
    return set(operation["responses"])


async def test_bug1_a_body_that_is_not_utf8_is_malformed_json_422(api: Api) -> None:
    """BUG-1 (fixed in 434fab4 for /v1, in fcff8ff for the console's sign-in). API.md:
    "Malformed JSON ... is 422 too". A body that is not UTF-8 is malformed JSON, yet
    routes whose body FastAPI parses answered 400 "There was an error parsing the body"."""
    for path in ("/v1/departments", "/console/session"):
        r = await api.post(path, content=b"\xff", headers={"Content-Type": "application/json"})
        assert r.headers["content-type"] == PROBLEM_JSON
        assert r.status_code == 422, f"{path}: {r.status_code} {r.text}"
        body = r.json()
        assert body["type"] == "urn:hotline:problem:validation"
        assert body["errors"] and body["errors"][0]["loc"][0] == "body"


async def test_bug2_openapi_declares_the_statuses_the_service_answers(api: Api, env: Env) -> None:
    """BUG-2 (fixed in 434fab4). API.md: openapi.json is "the
    full, generated description". Outside the ticket routes, operations declared only 2xx,
    401 and 422, though they answer 404 for an unknown id, 409 for a duplicate, 403 to a
    role without the right."""
    await api.department("water")
    operator = api.as_(await api.principal("operator"))
    answers = [
        ("GET", "/v1/departments/{code}", await api.get("/v1/departments/nope")),
        ("GET", "/v1/principals/{principal_id}", await api.get("/v1/principals/nope")),
        ("GET", "/v1/members/{member_id}", await api.get("/v1/members/nope")),
        ("GET", "/v1/grids/{code}", await api.get("/v1/grids/nope")),
        ("GET", "/v1/grids", await api.get("/v1/grids", params={"within": "nope"})),
        ("GET", "/v1/disputes/{dispute_id}", await api.get("/v1/disputes/nope")),
        ("GET", "/v1/supervisions/{supervision_id}", await api.get("/v1/supervisions/nope")),
        ("GET", "/v1/tickets/{ticket_id}/caller", await api.get("/v1/tickets/nope/caller")),
        (
            "POST",
            "/v1/departments",
            await api.post(
                "/v1/departments", {"code": "water", "name": "水", "platform": "market"}
            ),
        ),
        (
            "POST",
            "/v1/departments",
            await operator.post(
                "/v1/departments", {"code": "x", "name": "x", "platform": "market"}
            ),
        ),
        (
            "POST",
            "/console/session",
            await api.client.post("/console/session", json={"token": "htl_no_such_token"}),
        ),
    ]
    undeclared = [
        f"{method} {path}: {r.status_code}"
        for method, path, r in answers
        if str(r.status_code) not in declared(env, method, path)
    ]
    assert not undeclared, "answered but not declared in /openapi.json:\n" + "\n".join(undeclared)


async def test_bug3_a_merge_bumps_the_version_of_the_ticket_merged_into(api: Api) -> None:
    """BUG-3 (found by test_stateful.py; fixed in fcff8ff). API.md: "Every change to the
    ticket as returned ... increments `version`". A merge added the merged ticket to the
    target's `merged_ids` but left the target's version (and so its ETag) as it was."""
    operator = api.as_(await api.principal("operator"))
    original = await operator.ticket(topic="noise")
    duplicate = await operator.ticket(topic="noise")
    await operator.act(duplicate, "merge", {"into": original["id"]})
    r = await operator.get(f"/v1/tickets/{original['id']}")
    assert r.json()["merged_ids"] == [duplicate["id"]]
    assert r.json()["version"] > original["version"], r.json()["version"]
    assert r.headers["etag"] != f'"{original["version"]}"'


async def test_bug4_a_time_filter_at_the_edge_of_the_calendar_is_no_server_error(
    api: Api,
) -> None:
    """BUG-4 (fixed in fcff8ff). `0001-01-01T00:00:00+01:00` is a valid RFC 3339 time with
    an offset, but its UTC instant is in year 0: every time filter answered 500
    (OverflowError when the database binds it), on both databases. A 5xx is never a
    contract answer: 422 (a validation problem), or simply filtering, is."""
    for path, params in (
        ("/v1/tickets", {"created_from": "0001-01-01T00:00:00+01:00"}),
        ("/v1/tickets", {"updated_since": "0001-01-01T00:00:00+01:00"}),
        ("/v1/disputes", {"closed_from": "0001-01-01T00:00:00+01:00"}),
        ("/v1/tickets", {"created_to": "9999-12-31T23:00:00-02:00"}),
    ):
        r = await api.get(path, params=params)
        assert r.status_code in (200, 422), f"{path} {params}: {r.status_code} {r.text}"
        if r.status_code == 422:
            assert r.json()["errors"], r.text
