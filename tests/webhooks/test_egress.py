"""Deliveries reach public addresses only: the address checked is the address connected to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa

from hotline.config import Settings
from hotline.webhooks.dispatcher import Dispatcher
from hotline.webhooks.egress import new_client

from conftest import Api, Env
from receiver import Receiver, running_receiver


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as r:
        yield r


class Dns:
    """A resolver with fixed answers, counting the look-ups."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        return self.answers[host]


GUARDED = Settings(webhook_allow_private=False, webhook_timeout=5.0)


def on(receiver: Receiver, host: str) -> str:
    """The receiver's URL under another host name (same port and path)."""
    url = urlsplit(receiver.url)
    return url._replace(netloc=f"{host}:{url.port}").geturl()


async def test_a_name_that_resolves_to_a_private_address_is_never_connected(
    receiver: Receiver,
) -> None:
    dns = Dns({"hooks.example.test": ["127.0.0.1"]})
    async with new_client(GUARDED, dns) as client:
        with pytest.raises(httpx.ConnectError, match=r"non-public address \(127\.0\.0\.1\)"):
            await client.post(on(receiver, "hooks.example.test"), content=b"{}")
    assert dns.lookups == ["hooks.example.test"]  # once, by the connection itself
    assert receiver.received == []


async def test_every_address_of_the_name_must_be_public(receiver: Receiver) -> None:
    dns = Dns({"mixed.example.test": ["203.0.113.7", "127.0.0.1"]})
    async with new_client(GUARDED, dns) as client:
        with pytest.raises(httpx.ConnectError, match="non-public"):
            await client.post(on(receiver, "mixed.example.test"), content=b"{}")
    assert receiver.received == []


async def test_a_literal_private_address_is_refused(receiver: Receiver) -> None:
    async with new_client(GUARDED) as client:
        with pytest.raises(httpx.ConnectError, match="non-public"):
            await client.post(receiver.url, content=b"{}")
    assert receiver.received == []


async def test_allowed_private_addresses_are_reached(receiver: Receiver) -> None:
    async with new_client(GUARDED.model_copy(update={"webhook_allow_private": True})) as client:
        r = await client.post(receiver.url, content=b"{}")
    assert r.status_code == 204
    assert len(receiver.received) == 1


async def test_a_refused_delivery_stays_pending_with_the_reason(
    api: Api, env: Env, receiver: Receiver
) -> None:
    """Registered while private targets were allowed, delivered after they no longer are."""
    allowed = env.settings.model_copy(update={"webhook_allow_private": True})
    env.runtime.settings = allowed
    try:
        await api.department("water")
        await api.rule(topic="water_supply", department_code="water")
        r = await api.post(
            "/v1/webhook-subscriptions", {"url": receiver.url, "events": ["ticket.created"]}
        )
        assert r.status_code == 201, r.text
        await api.as_(await api.principal("operator")).ticket()
        env.runtime.settings = allowed.model_copy(update={"webhook_allow_private": False})
        async with new_client(env.runtime.settings) as client:
            assert await Dispatcher(env.runtime, client).run_once() == 1
    finally:
        env.runtime.settings = env.settings
    assert receiver.received == []
    async with env.runtime.db.transaction(write=False) as session:
        status, error = (
            await session.execute(sa.text("SELECT status, last_error FROM webhook_deliveries"))
        ).one()
    assert status == "pending"
    assert "127.0.0.1 resolves to a non-public address (127.0.0.1)" in error
