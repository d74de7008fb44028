"""Schemathesis over the whole OpenAPI document, in-process, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, CheckContext, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.openapi import from_dict

from conftest import ADMIN_TOKEN, Api, Env

# Examples per operation and generation mode; `HOTLINE_FUZZ_EXAMPLES=500` for a long run.
EXAMPLES = int(os.environ.get("HOTLINE_FUZZ_EXAMPLES", "15"))
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
BASE_URL = "http://hotline.test"
PROBLEM_JSON = "application/problem+json"
# Open311 answers errors in the GeoReport format by contract; the console's pages are HTML.
GEOREPORT_PREFIX = "/open311/"
CONSOLE_PREFIX = "/console/"


def problem_details(ctx: CheckContext, response: Response, case: Case[Any]) -> bool | None:
    """Every error is RFC 9457 problem+json with type/title/status/detail (API.md),
    except Open311's GeoReport `[{code, description}]` and the console's HTML pages.
    (A schemathesis check, passed explicitly rather than registered for every run.)"""
    if response.status_code < 400:
        return None
    content_type = (response.headers.get("content-type") or [""])[0].split(";")[0].strip()
    if case.path.startswith(GEOREPORT_PREFIX):
        if case.path.endswith(".xml"):
            assert "<errors>" in response.text, f"not a GeoReport XML error: {response.text!r}"
            return None
        body = response.json()
        assert isinstance(body, list) and body, f"not a GeoReport error list: {body!r}"
        for item in body:
            assert set(item) >= {"code", "description"}, f"GeoReport error lacks fields: {item!r}"
            assert item["code"] == response.status_code, f"code {item['code']} in body"
        return None
    if case.path.startswith(CONSOLE_PREFIX) and content_type == "text/html":
        return None
    assert content_type == PROBLEM_JSON, (
        f"{response.status_code} answered as {content_type!r}, not {PROBLEM_JSON}"
    )
    body = response.json()
    assert isinstance(body, dict), f"problem body is not an object: {body!r}"
    missing = {"type", "title", "status", "detail"} - set(body)
    assert not missing, f"problem lacks {sorted(missing)}: {body!r}"
    assert body["status"] == response.status_code, f"status {body['status']} in body"
    assert str(body["type"]).startswith("urn:hotline:problem:"), f"type {body['type']!r}"
    if response.status_code == 422:
        assert isinstance(body.get("errors"), list), f"422 without errors: {body!r}"
    return None


CHECKS = [
    not_a_server_error,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    problem_details,
]


def can_negate(operation: Any) -> bool:
    """Whether schemathesis can make an invalid request for it at all: not when all it
    takes is free-text path parameters (hypothesis would give up, Unsatisfiable)."""
    if list(operation.body) or list(operation.query):
        return True
    plain = {"type", "title", "description"}
    return any(
        set(p.definition.get("schema", {})) - plain
        or p.definition.get("schema", {}).get("type") != "string"
        for p in operation.path_parameters
    )


@dataclass
class Seeded:
    """Real objects, by path parameter name, so generated paths can hit them."""

    values: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, value: Any) -> None:
        self.values.setdefault(name, []).append(str(value))


async def seed(api: Api) -> Seeded:
    """A little of everything: departments, grids, a rule, members, tickets, a dispute, a
    supervision case, a webhook subscription and its deliveries, extra principals."""
    s = Seeded()
    for code, platform in (("water", "convenience"), ("roads", "enforcement")):
        await api.department(code, platform)
        s.add("code", code)
    for code, level, parent in (
        ("C", "county", None),
        ("T", "township", "C"),
        ("V", "village", "T"),
        ("G-07", "grid", "V"),
    ):
        r = await api.post(
            "/v1/grids",
            {"code": code, "name": f"{code}网格", "level": level, "parent_code": parent},
        )
        assert r.status_code == 201, r.text
        s.add("code", code)
    rule = await api.rule(topic="water_supply", department_code="water", response_sla="PT30M")
    s.add("rule_id", rule["id"])
    r = await api.post(
        "/v1/members",
        {
            "id": "m1",
            "name": "党员甲",
            "phone": "13900001111",
            "branch": "一支部",
            "skills": ["legal"],
            "kind": "in_service",
        },
    )
    assert r.status_code == 201, r.text
    s.add("member_id", "m1")
    s.add("year", 2026)
    s.add("year", 2027)
    r = await api.post(
        "/v1/webhook-subscriptions", {"url": "https://hooks.example/in", "events": ["*"]}
    )
    assert r.status_code == 201, r.text
    s.add("subscription_id", r.json()["id"])

    operator = api.as_(await api.principal("operator"))
    supervisor = api.as_(await api.principal("supervisor"))
    water = api.as_(await api.principal("department", department_code="water"))
    routed = await operator.ticket()
    unrouted = await operator.ticket(topic="noise")
    closed = await operator.ticket(category="consultation", topic="policy")
    await operator.act(closed, "resolve", {"result": "已当场答复"})
    await operator.act(closed, "review", {"satisfaction": "satisfied", "resolved": True})
    order = await operator.ticket(kind="service_order", topic="chores", skills=["legal"])
    accepted = await operator.ticket()
    await water.act(accepted, "accept")
    for ticket in (routed, unrouted, closed, order, accepted):
        s.add("ticket_id", ticket["id"])
        s.add("service_request_id", ticket["number"])
    # Open311: api_key is an app's (or an operator's) token; services are rule topics.
    s.add("api_key", await api.principal("app"))
    s.add("api_key", operator.token)
    s.add("service_code", "water_supply")
    await supervisor.act(routed, "supervise", {"note": "请加快办理"})
    cases = (await api.get("/v1/supervisions")).json()["items"]
    for case in cases:
        s.add("supervision_id", case["id"])
    r = await api.post(
        "/v1/disputes",
        {
            "kind": "neighbours",
            "parties": [{"name": "甲", "phone": "13800001111", "role": "申请人"}],
            "summary": "宅基地边界争议",
            "grid": "G-07",
        },
    )
    assert r.status_code == 201, r.text
    s.add("dispute_id", r.json()["id"])
    for delivery in (await api.get("/v1/webhook-deliveries")).json()["items"][:3]:
        s.add("delivery_id", delivery["id"])
    # Principals the fuzzer may delete (never the bootstrap admin it speaks as).
    for role in ("viewer", "app"):
        r = await api.post("/v1/principals", {"name": f"fuzz-{role}", "role": role})
        assert r.status_code == 201, r.text
        principal_id = r.json()["id"]
        s.add("principal_id", principal_id)
        r = await api.post(f"/v1/principals/{principal_id}/tokens", {})
        assert r.status_code == 201, r.text
        s.add("token_id", r.json()["id"])
    return s


@dataclass
class Tally:
    examples: dict[str, int] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    unsatisfiable: list[str] = field(default_factory=list)
    reached: set[str] = field(default_factory=set)  # operations that answered 2xx at least once


def to_wire(case: Case[Any]) -> requests.PreparedRequest:
    """The request schemathesis would send, prepared the way its `requests` transport does."""
    kw = case.as_transport_kwargs(base_url=BASE_URL, headers=AUTH)
    return requests.Request(
        method=kw["method"],
        url=kw["url"],
        headers=kw.get("headers"),
        params=kw.get("params"),
        cookies=kw.get("cookies"),
        json=kw.get("json"),
        data=kw.get("data"),
        files=kw.get("files"),
    ).prepare()


DROP = object()  # a body field to leave out
OPEN311_REQUEST: dict[str, list[Any]] = {
    "address_string": ["幸福路 1 号"],
    **{name: [DROP] for name in ("phone", "email", "lat", "long")},
}
# ... and for form bodies, only the declared fields (random extra names are refused: 400).
DECLARED_ONLY = {"POST /open311/v2/requests.json", "POST /open311/v2/requests.xml"}
# Body fields that random text rarely gets right, per operation: what a positive case
# that reaches real objects sends in them, so that it gets past the 422 too.
BODY_FIELDS: dict[str, dict[str, list[Any]]] = {
    "POST /v1/disputes": {
        "kind": ["neighbours", "other"],
        "grid": ["G-07", "V"],
        "parties": [[{"name": "甲", "role": "申请人"}]],
        "source_ticket_id": [DROP],
        "next_review_at": [DROP],
    },
    "POST /v1/webhook-subscriptions": {
        "url": ["https://hooks.example/in"],
        "events": [["*"], ["ticket.created", "ticket.closed"]],
        "department_code": [DROP, "water"],
    },
    "POST /v1/principals/{principal_id}/tokens": {"expires_at": [DROP]},
    "POST /console/session": {"token": [ADMIN_TOKEN]},
    "POST /open311/v2/requests.json": OPEN311_REQUEST,
    "POST /open311/v2/requests.xml": OPEN311_REQUEST,
}


def apply_real(case: Case[Any], real: dict[str, str], fields: dict[str, Any]) -> None:
    """Point a positive case at real objects: its path parameters, the query or body fields
    it has that name a seeded kind of value (an Open311 `api_key`, a `service_code`), and
    the operation's BODY_FIELDS."""
    names = {p.name for p in case.operation.path_parameters}
    case.path_parameters = {
        **case.path_parameters,
        **{k: v for k, v in real.items() if k in names},
    }
    declared = {p.name for p in case.operation.query} & set(real)
    if declared and isinstance(case.query, dict):
        case.query = {**case.query, **{k: real[k] for k in declared}}
    if isinstance(case.body, dict):
        body = {k: real.get(k, v) for k, v in case.body.items()}
        body.update(fields)
        if case.operation.label in DECLARED_ONLY:
            schema = case.operation.body[0].definition["schema"]
            body = {k: v for k, v in body.items() if k in schema.get("properties", {})}
        case.body = {k: v for k, v in body.items() if v is not DROP}


def fuzz_operation(
    operation: Any,
    mode: GenerationMode,
    seeded: Seeded,
    send: Callable[[requests.PreparedRequest], httpx.Response],
    tally: Tally,
) -> None:
    key = f"{operation.label} [{mode.value}]"
    real: st.SearchStrategy[tuple[dict[str, str], dict[str, Any]] | None] = st.none()
    if mode is GenerationMode.POSITIVE:
        # Half the positive cases reach real objects, past the 404 (and the 422).
        picks = {name: st.sampled_from(values) for name, values in seeded.values.items()}
        fields = BODY_FIELDS.get(operation.label, {})
        body = {name: st.sampled_from(values) for name, values in fields.items()}
        real = st.one_of(
            st.none(), st.tuples(st.fixed_dictionaries(picks), st.fixed_dictionaries(body))
        )

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), real=real)
    def run(case: Case[Any], real: tuple[dict[str, str], dict[str, Any]] | None) -> None:
        if real is not None:
            apply_real(case, *real)
        tally.examples[key] = tally.examples.get(key, 0) + 1
        response = send(to_wire(case))
        tally.statuses[response.status_code] = tally.statuses.get(response.status_code, 0) + 1
        if response.status_code < 300:
            tally.reached.add(operation.label)
        case.validate_response(response, checks=CHECKS, headers=AUTH)

    run()


@pytest.fixture
async def no_rate_limit(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Thousands of requests a minute by one admin: rate limiting is not under test here."""
    monkeypatch.setattr(env.runtime, "limiter", None)


@pytest.mark.slow
@pytest.mark.usefixtures("no_rate_limit")
async def test_every_operation_answers_per_its_schema(
    env: Env, api: Api, client: httpx.AsyncClient, backend: str
) -> None:
    seeded = await seed(api)
    schema = from_dict(env.app.openapi())
    # Deletions last, so that the objects they remove serve every other operation first.
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            pytest.fail(f"the document has an operation schemathesis cannot read: {result.err()}")
        operations.append(result.ok())
    operations.sort(key=lambda operation: operation.method.upper() == "DELETE")
    loop = asyncio.get_running_loop()

    async def request(prepared: requests.PreparedRequest) -> httpx.Response:
        client.cookies.clear()  # a console sign-in must not turn later calls into a session
        body = prepared.body if isinstance(prepared.body, bytes | str) else None
        return await client.request(
            str(prepared.method),
            str(prepared.url),
            headers={name: str(value) for name, value in prepared.headers.items()},
            content=body,
        )

    def send(prepared: requests.PreparedRequest) -> httpx.Response:
        return asyncio.run_coroutine_threadsafe(request(prepared), loop).result()

    tally = Tally()

    def fuzz_all() -> None:
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                if mode is GenerationMode.NEGATIVE and not can_negate(operation):
                    continue
                try:
                    fuzz_operation(operation, mode, seeded, send, tally)
                except Unsatisfiable:
                    tally.unsatisfiable.append(f"{operation.label} [{mode.value}]")
                except (Exception, BaseExceptionGroup) as exc:  # FailureGroup is the latter
                    tally.failures[f"{operation.label} [{mode.value}]"] = str(exc)

    started = time.monotonic()
    await asyncio.to_thread(fuzz_all)
    elapsed = time.monotonic() - started
    total = sum(tally.examples.values())
    print(  # noqa: T201 - the run's size, for the record (-s shows it)
        f"\n[{backend}] {total} examples over {len(operations)} operations in {elapsed:.1f}s; "
        f"statuses {dict(sorted(tally.statuses.items()))}; "
        f"{len(tally.reached)} operations answered 2xx; never: "
        f"{sorted({o.label for o in operations} - tally.reached)}"
    )
    assert total >= len(operations), "the fuzzer ran fewer examples than operations"
    assert not tally.failures, "\n\n".join(f"== {k}\n{v}" for k, v in tally.failures.items())
