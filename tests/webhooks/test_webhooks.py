"""Webhooks end to end: a real receiver verifies every delivery with `standardwebhooks`."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook

from hotline.config import Settings
from hotline.db import Database
from hotline.runtime import Runtime
from hotline.webhooks.dispatcher import Dispatcher
from hotline.webhooks.egress import new_client
from hotline.webhooks.models import WebhookSubscription

from conftest import Api, Env, sweep
from receiver import Receiver, running_receiver


@pytest.fixture
async def receiver(env: Env) -> AsyncIterator[Receiver]:
    # The receiver checks signature timestamps against the wall clock.
    env.clock.set(datetime.now(UTC))
    env.runtime.settings = env.settings.model_copy(
        update={
            "webhook_allow_private": True,
            "webhook_retry_schedule": "0,1,1,1",
            "webhook_jitter": 0.0,
        }
    )
    try:
        async with running_receiver() as r:
            yield r
    finally:
        env.runtime.settings = env.settings


async def deliver(env: Env) -> int:
    async with new_client(env.runtime.settings) as client:
        return await Dispatcher(env.runtime, client).drain()


async def subscribe(api: Api, url: str, events: list[str], **extra: Any) -> dict[str, Any]:
    r = await api.post("/v1/webhook-subscriptions", {"url": url, "events": events, **extra})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def setup(api: Api) -> dict[str, Api]:
    await api.department("water")
    await api.department("roads", "enforcement")
    await api.rule(topic="water_supply", department_code="water")
    return {
        "op": api.as_(await api.principal("operator")),
        "water": api.as_(await api.principal("department", department_code="water")),
    }


def verified(receiver: Receiver, secret: str) -> list[dict[str, Any]]:
    hook = Webhook(secret)
    return [hook.verify(r.body, r.headers) for r in receiver.received]


async def test_deliveries_are_signed_and_carry_the_department_view(
    api: Api, env: Env, receiver: Receiver
) -> None:
    p = await setup(api)
    sub = await subscribe(api, receiver.url, ["*"])
    assert sub["secret"].startswith("whsec_")
    t = await p["op"].ticket(caller={"name": "王五", "phone": "13812345678", "confidential": True})
    await p["water"].act(t, "accept")
    assert await deliver(env) == 3
    bodies = verified(receiver, sub["secret"])
    assert [b["type"] for b in bodies] == ["ticket.created", "ticket.dispatched", "ticket.accepted"]
    ticket = bodies[0]["data"]["ticket"]
    assert ticket["caller"]["phone"] is None and ticket["caller"]["name"] is None
    assert "allowed_actions" not in ticket
    raw = b"".join(r.body for r in receiver.received)
    assert b"13812345678" not in raw
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 3
    listed = (await api.get("/v1/webhook-deliveries", params={"status": "delivered"})).json()
    assert len(listed["items"]) == 3


async def test_event_and_department_filters(api: Api, env: Env, receiver: Receiver) -> None:
    p = await setup(api)
    only_roads = await subscribe(api, receiver.url, ["ticket.dispatched"], department_code="roads")
    t = await p["op"].ticket()  # to water: not for roads
    await p["water"].act(t, "return", {"reason": "不归我们"})
    await p["op"].act(t, "dispatch", {"department_code": "roads"})
    await deliver(env)
    bodies = verified(receiver, only_roads["secret"])
    assert [b["type"] for b in bodies] == ["ticket.dispatched"]
    assert bodies[0]["data"]["ticket"]["department_code"] == "roads"


async def test_retries_after_errors_then_succeeds(api: Api, env: Env, receiver: Receiver) -> None:
    p = await setup(api)
    sub = await subscribe(api, receiver.url, ["ticket.created"])
    receiver.script = [500, 503, (429, {"Retry-After": "2"})]
    await p["op"].ticket()
    for _ in range(4):
        await deliver(env)
        env.clock.advance(timedelta(seconds=1))
    # 429 asked for 2 s: not yet.
    assert len(receiver.received) == 3
    env.clock.advance(timedelta(seconds=2))
    await deliver(env)
    assert len(receiver.received) == 4
    ids = {r.headers["webhook-id"] for r in receiver.received}
    assert len(ids) == 1  # one stable webhook-id across retries
    verified(receiver, sub["secret"])
    d = (await api.get("/v1/webhook-deliveries")).json()["items"][0]
    assert d["status"] == "delivered" and d["attempts"] == 4


async def test_the_schedule_first_value_delays_the_first_attempt(
    api: Api, env: Env, receiver: Receiver
) -> None:
    """HOTLINE_WEBHOOK_RETRY_SCHEDULE: seconds before each attempt, the first included."""
    env.runtime.settings = env.runtime.settings.model_copy(update={"webhook_retry_schedule": "3,1"})
    p = await setup(api)
    await subscribe(api, receiver.url, ["ticket.created"])
    receiver.script = [500, 500]
    await p["op"].ticket()
    assert await deliver(env) == 0
    env.clock.advance(timedelta(seconds=2.9))
    assert await deliver(env) == 0
    env.clock.advance(timedelta(seconds=0.2))
    await deliver(env)
    assert len(receiver.received) == 1
    env.clock.advance(timedelta(seconds=1))
    await deliver(env)
    env.clock.advance(timedelta(seconds=10))
    await deliver(env)
    assert len(receiver.received) == 2  # two values, two attempts
    d = (await api.get("/v1/webhook-deliveries")).json()["items"][0]
    assert d["status"] == "failed" and d["attempts"] == 2


async def test_the_ticket_in_a_payload_is_what_its_department_reads(api: Api, env: Env) -> None:
    """API.md: data is {ticket} as its department would read it, without allowed_actions:
    its children, merged tickets and disputes included."""
    p = await setup(api)
    await subscribe(api, "https://hooks.example.org/x", ["*"], department_code="water")
    a, b = await p["op"].ticket(), await p["op"].ticket()
    await p["op"].act(a, "merge", {"into": b["id"]})
    await p["water"].act(b, "accept")
    await p["water"].act(b, "refer", {"department_code": "roads", "note": "占道"})
    seen = (await p["water"].get(f"/v1/tickets/{b['id']}")).json()
    assert seen["merged_ids"] == [a["id"]] and len(seen["children"]) == 1
    deliveries = (await api.get("/v1/webhook-deliveries", params={"limit": 500})).json()
    (referred,) = [d for d in deliveries["items"] if d["type"] == "ticket.referred"]
    sent = referred["payload"]["data"]["ticket"]
    assert "allowed_actions" not in sent
    assert sent == {k: v for k, v in seen.items() if k != "allowed_actions"}
    (accepted,) = [d for d in deliveries["items"] if d["type"] == "ticket.accepted"]
    assert accepted["payload"]["data"]["ticket"]["merged_ids"] == [a["id"]]


async def test_the_sweepers_payload_carries_the_links_too(api: Api, env: Env) -> None:
    """A breach's {ticket} (links read for the sweeper's whole batch) equals the GET."""
    p = await setup(api)
    await subscribe(api, "https://hooks.example.org/x", ["ticket.sla_breached"])
    a, b = await p["op"].ticket(), await p["op"].ticket()
    await p["op"].act(a, "merge", {"into": b["id"]})
    env.clock.advance(timedelta(hours=25))  # the callback promise (PT24H) breaks
    assert (await sweep(env)).breached == 1
    seen = (await p["water"].get(f"/v1/tickets/{b['id']}")).json()
    deliveries = (await api.get("/v1/webhook-deliveries")).json()["items"]
    (breached,) = [d for d in deliveries if d["payload"]["data"]["ticket"]["id"] == b["id"]]
    sent = breached["payload"]["data"]["ticket"]
    assert sent["merged_ids"] == [a["id"]]
    assert sent == {k: v for k, v in seen.items() if k != "allowed_actions"}


async def test_dead_connection_then_dead_letter_and_manual_retry(
    api: Api, env: Env, receiver: Receiver
) -> None:
    p = await setup(api)
    await subscribe(api, "http://127.0.0.1:9/nobody-listens", ["ticket.created"])
    await p["op"].ticket()
    for _ in range(6):
        await deliver(env)
        env.clock.advance(timedelta(seconds=2))
    failed = (await api.get("/v1/webhook-deliveries", params={"status": "failed"})).json()["items"]
    assert len(failed) == 1 and failed[0]["attempts"] == 4
    assert "Connect" in failed[0]["last_error"]
    r = await api.post(f"/v1/webhook-deliveries/{failed[0]['id']}/retry", {})
    assert r.status_code == 200 and r.json()["status"] == "pending"
    # Point the subscription's URL at the live receiver to show the retry goes out.
    async with env.runtime.db.transaction() as session:
        await session.execute(
            sa.text("UPDATE webhook_subscriptions SET url = :u"), {"u": receiver.url}
        )
    await deliver(env)
    assert len(receiver.received) == 1


async def test_gone_disables_the_subscription(api: Api, env: Env, receiver: Receiver) -> None:
    p = await setup(api)
    sub = await subscribe(api, receiver.url, ["ticket.created"])
    receiver.script = [410]
    await p["op"].ticket()
    await deliver(env)
    got = (await api.get(f"/v1/webhook-subscriptions/{sub['id']}")).json()
    assert got["active"] is False
    await p["op"].ticket()
    await deliver(env)
    assert len(receiver.received) == 1


async def test_rotation_signs_with_both_secrets_during_grace(
    api: Api, env: Env, receiver: Receiver
) -> None:
    p = await setup(api)
    sub = await subscribe(api, receiver.url, ["ticket.created"])
    rotated = (await api.post(f"/v1/webhook-subscriptions/{sub['id']}/rotate-secret", {})).json()
    assert rotated["secret"] != sub["secret"]
    await p["op"].ticket()
    await deliver(env)
    verified(receiver, sub["secret"])
    verified(receiver, rotated["secret"])
    assert len(receiver.received[0].headers["webhook-signature"].split(" ")) == 2


async def test_rolled_back_change_sends_nothing(api: Api, env: Env, receiver: Receiver) -> None:
    p = await setup(api)
    await subscribe(api, receiver.url, ["*"])
    r = await p["op"].post("/v1/tickets/00000000-0000-0000-0000-000000000000/actions/accept", {})
    assert r.status_code == 404
    bad = await p["op"].post("/v1/tickets", {"kind": "petition"})
    assert bad.status_code == 422
    t = await p["op"].ticket()
    r = await p["op"].post(f"/v1/tickets/{t['id']}/actions/merge", {"into": t["id"]})
    assert r.status_code == 422  # the merge's effect raised after the ticket was locked
    await deliver(env)
    assert [json.loads(x.body)["type"] for x in receiver.received] == [
        "ticket.created",
        "ticket.dispatched",
    ]


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1/x",  # the dispatcher's parser cannot read it
        "http://example.com:abc/x",
        "http://0177.0.0.1:8614/x",
        "http://127.0.0.1:99999/x",
        "http://exa mple.com/x",
        "http://a..b/x",
        "http://-a.example/x",
        "http://user:pw@example.com/x",
        # Numeric forms of 127.0.0.1 (the resolver's reading), private by default.
        "http://127.1/x",
        "http://2130706433/x",
        "http://0x7f000001/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://localhost./x",
    ],
)
async def test_a_url_no_delivery_could_use_is_422(api: Api, url: str) -> None:
    r = await api.post("/v1/webhook-subscriptions", {"url": url, "events": ["*"]})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["body", "url"]


async def test_good_urls_are_taken(api: Api) -> None:
    for url in ("https://例え.jp/hook", "http://hooks.example.org:8443/x?a=1"):
        r = await api.post("/v1/webhook-subscriptions", {"url": url, "events": ["*"]})
        assert r.status_code == 201, (url, r.text)


async def test_one_unsendable_url_fails_only_its_own_delivery(
    api: Api, env: Env, receiver: Receiver
) -> None:
    """A subscription stored before its URL was checked (an older release, a restore):
    its delivery fails with its reason; the others of the batch are delivered."""
    p = await setup(api)
    good = await subscribe(api, receiver.url, ["ticket.created"])
    bad = await subscribe(api, receiver.url, ["ticket.created"])
    async with env.runtime.db.transaction() as session:
        await session.execute(
            sa.update(WebhookSubscription)
            .where(WebhookSubscription.id == uuid.UUID(bad["id"]))
            .values(url="http://[::1/x")
        )
    env.runtime.db.reference.clear()
    await p["op"].ticket()
    assert await deliver(env) == 2
    assert len(receiver.received) == 1
    r = await api.get("/v1/webhook-deliveries", params={"status": "pending"})
    (pending,) = r.json()["items"]
    assert pending["subscription_id"] == bad["id"]
    assert "InvalidURL" in pending["last_error"]
    r = await api.get("/v1/webhook-deliveries", params={"status": "delivered"})
    assert [d["subscription_id"] for d in r.json()["items"]] == [good["id"]]


async def test_ssrf_refused_unless_allowed(api: Api, env: Env) -> None:
    r = await api.post(
        "/v1/webhook-subscriptions", {"url": "http://127.0.0.1:8080/x", "events": ["*"]}
    )
    assert r.status_code == 422
    r = await api.post(
        "/v1/webhook-subscriptions", {"url": "http://169.254.169.254/", "events": ["*"]}
    )
    assert r.status_code == 422
    r = await api.post("/v1/webhook-subscriptions", {"url": "ftp://example.org/", "events": ["*"]})
    assert r.status_code == 422
    r = await api.post(
        "/v1/webhook-subscriptions", {"url": "https://example.org/h", "events": ["nope"]}
    )
    assert r.status_code == 422
    op = api.as_(await api.principal("operator"))
    r = await op.get("/v1/webhook-subscriptions")
    assert r.status_code == 403


async def test_two_dispatchers_never_send_one_delivery_at_once(
    api: Api, env: Env, receiver: Receiver
) -> None:
    p = await setup(api)
    sub = await subscribe(api, receiver.url, ["ticket.created", "ticket.dispatched"])
    for _ in range(30):
        await p["op"].ticket()
    receiver.delay = 0.02

    async def one(n: int) -> int:
        db = Database(env.settings.database_url, pool_size=2)
        runtime = Runtime(env.runtime.settings, db, env.clock, env.runtime.calendar)
        try:
            async with new_client(env.runtime.settings) as client:
                return await Dispatcher(runtime, client).drain()
        finally:
            await db.dispose()

    sent = await asyncio.gather(one(1), one(2))
    assert sum(sent) == 60
    assert receiver.overlaps == 0
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(ids) == len(set(ids)) == 60
    verified(receiver, sub["secret"])
    pending = (await api.get("/v1/webhook-deliveries", params={"status": "pending"})).json()
    assert pending["items"] == []


async def test_replay_command_requeues(api: Api, env: Env, receiver: Receiver) -> None:
    from hotline.webhooks import service

    p = await setup(api)
    await subscribe(api, receiver.url, ["ticket.created"])
    await p["op"].ticket()
    await deliver(env)
    async with env.runtime.db.transaction() as session:
        n = await service.replay(
            session, since=env.clock.now() - timedelta(hours=1), now=env.clock.now()
        )
    assert n == 1
    await deliver(env)
    assert len(receiver.received) == 2
    assert receiver.received[0].headers["webhook-id"] == receiver.received[1].headers["webhook-id"]


def test_settings_parse_the_schedule() -> None:
    assert Settings(webhook_retry_schedule="0,5,300").retry_delays == [0.0, 5.0, 300.0]
    with pytest.raises(ValueError, match="comma-separated"):
        Settings(webhook_retry_schedule="soon")
