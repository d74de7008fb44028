"""Idempotency-Key on ticket writes: replay, mismatch, scope, errors, retention, races."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from conftest import TICKET, Api, Env

BODY: dict[str, Any] = {k: v for k, v in TICKET.items() if k != "location"}
REPLAYED = "Idempotent-Replayed"


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


async def ticket_count(env: Env) -> int:
    async with env.runtime.db.transaction() as session:
        return int((await session.execute(sa.text("SELECT count(*) FROM tickets"))).scalar())


async def test_same_key_same_body_replays_the_first_answer(api: Api, env: Env) -> None:
    op = api.as_(await api.principal("operator"))
    first = await op.post("/v1/tickets", BODY, headers=key("call-8812"))
    assert first.status_code == 201, first.text
    assert REPLAYED not in first.headers
    # The clock moves on: a replay must not be a fresh rendering of the ticket.
    env.clock.advance(timedelta(minutes=5))
    second = await op.post("/v1/tickets", BODY, headers=key("call-8812"))
    assert second.status_code == 201, second.text
    assert second.headers[REPLAYED] == "true"
    assert second.json() == first.json()
    assert await ticket_count(env) == 1


async def test_same_key_on_an_action_replays(api: Api, env: Env) -> None:
    await api.department("water")
    await api.rule(topic="water_supply", department_code="water")
    water = api.as_(await api.principal("department", department_code="water"))
    ticket = await api.ticket()
    url = f"/v1/tickets/{ticket['id']}/actions/accept"

    first = await water.post(url, {}, headers=key("accept-1"))
    assert first.status_code == 200, first.text
    second = await water.post(url, {}, headers=key("accept-1"))
    # Without the key this second accept would be a 409: the ticket is accepted already.
    assert second.status_code == 200, second.text
    assert second.headers[REPLAYED] == "true"
    assert second.json() == first.json()
    events = (await api.get(f"/v1/tickets/{ticket['id']}/events")).json()["items"]
    assert [e["type"] for e in events].count("ticket.accepted") == 1
    assert (await api.get(f"/v1/tickets/{ticket['id']}")).json()["version"] == 2


async def test_same_key_different_body_is_422_and_creates_nothing(api: Api, env: Env) -> None:
    op = api.as_(await api.principal("operator"))
    first = await op.post("/v1/tickets", BODY, headers=key("k-1"))
    assert first.status_code == 201, first.text
    r = await op.post("/v1/tickets", {**BODY, "content": "另一件事"}, headers=key("k-1"))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == "urn:hotline:problem:idempotency-mismatch"
    assert REPLAYED not in r.headers
    assert await ticket_count(env) == 1


async def test_keys_are_per_principal(api: Api, env: Env) -> None:
    one = api.as_(await api.principal("operator"))
    two = api.as_(await api.principal("operator"))
    a = await one.post("/v1/tickets", BODY, headers=key("shared"))
    b = await two.post("/v1/tickets", BODY, headers=key("shared"))
    assert a.status_code == b.status_code == 201
    assert REPLAYED not in b.headers
    assert a.json()["id"] != b.json()["id"]
    assert await ticket_count(env) == 2


async def test_an_error_answer_leaves_the_key_free(api: Api) -> None:
    await api.department("water")
    ticket = await api.ticket(topic="unrouted")  # stays received
    url = f"/v1/tickets/{ticket['id']}/actions/accept"

    r = await api.post(url, {}, headers=key("accept-later"))
    assert r.status_code == 409, r.text
    assert r.json()["type"] == "urn:hotline:problem:invalid-transition"
    await api.act(ticket, "dispatch", {"department_code": "water"})

    r = await api.post(url, {}, headers=key("accept-later"))
    assert r.status_code == 200, r.text
    assert REPLAYED not in r.headers
    assert r.json()["status"] == "accepted"


async def test_keys_are_kept_at_least_a_day_and_forgotten_after_the_ttl(api: Api, env: Env) -> None:
    op = api.as_(await api.principal("operator"))
    first = await op.post("/v1/tickets", BODY, headers=key("retry-me"))
    assert first.status_code == 201, first.text

    env.clock.advance(timedelta(hours=23))
    again = await op.post("/v1/tickets", BODY, headers=key("retry-me"))
    assert again.status_code == 201 and again.headers[REPLAYED] == "true"
    assert again.json()["id"] == first.json()["id"]

    env.clock.advance(timedelta(hours=env.settings.idempotency_ttl_hours - 23, minutes=1))
    late = await op.post("/v1/tickets", BODY, headers=key("retry-me"))
    assert late.status_code == 201, late.text
    assert REPLAYED not in late.headers
    assert late.json()["id"] != first.json()["id"]
    assert await ticket_count(env) == 2


async def test_concurrent_duplicates_create_one_ticket(api: Api, env: Env) -> None:
    token = await api.principal("operator")
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "burst"}

    async def send() -> httpx.Response:
        # One client each, as five retrying processes would be.
        transport = httpx.ASGITransport(app=env.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.post("/v1/tickets", json=BODY, headers=headers)

    answers = await asyncio.gather(*(send() for _ in range(5)))
    created = [r for r in answers if r.status_code == 201]
    assert created, [r.text for r in answers]
    for r in answers:
        if r.status_code == 201:
            assert r.json() == created[0].json()
        else:
            assert r.status_code == 409, r.text
            assert r.json()["type"] == "urn:hotline:problem:idempotency-in-flight"
    assert sum(REPLAYED not in r.headers for r in created) == 1
    assert await ticket_count(env) == 1


async def test_deletes_replay_their_204(api: Api) -> None:
    """Keys cover every write, DELETEs too: a retried DELETE with its key answers the
    stored 204 (replayed) instead of a 404 for what the first one removed; the same key
    on another resource is a mismatch."""
    created = (await api.post("/v1/principals", {"name": "外包系统", "role": "app"})).json()
    token = (await api.post(f"/v1/principals/{created['id']}/tokens", {})).json()
    subscription = (
        await api.post(
            "/v1/webhook-subscriptions", {"url": "https://hooks.example.org/x", "events": ["*"]}
        )
    ).json()
    urls = [
        (f"/v1/principals/{created['id']}/tokens/{token['id']}", "del-token"),
        (f"/v1/webhook-subscriptions/{subscription['id']}", "del-sub"),
        (f"/v1/principals/{created['id']}", "del-principal"),
    ]
    for url, name in urls:
        first = await api.delete(url, headers=key(name))
        assert first.status_code == 204, first.text
        assert REPLAYED not in first.headers and first.content == b""
        again = await api.delete(url, headers=key(name))
        assert again.status_code == 204, again.text
        assert again.headers[REPLAYED] == "true" and again.content == b""
        assert (await api.delete(url)).status_code == 404  # without the key: gone
    r = await api.delete(
        f"/v1/webhook-subscriptions/{subscription['id']}", headers=key("del-token")
    )
    assert r.status_code == 422, r.text
    assert r.json()["type"] == "urn:hotline:problem:idempotency-mismatch"
