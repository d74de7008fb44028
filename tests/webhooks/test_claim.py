"""A dispatcher's claim reads a backlog through its index, whatever PostgreSQL's statistics
say: planned from statistics taken before a burst, it sorted every due delivery on each poll."""

from __future__ import annotations

import uuid

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.db import in_index_order
from hotline.webhooks.dispatcher import DUE, Dispatcher
from hotline.webhooks.models import WebhookSubscription

from conftest import Env, plan_nodes, statements_sent, statistics_frozen


async def _add(session: AsyncSession, env: Env, sub: uuid.UUID, status: str, n: int) -> None:
    """``n`` deliveries of a ticket's size, each due at some time in the last hour."""
    await session.execute(
        sa.text(
            """
            INSERT INTO webhook_deliveries (id, subscription_id, event_type, subject_id, payload,
                status, attempts, next_attempt_at, created_at)
            SELECT gen_random_uuid(), :sub, 'ticket.created', gen_random_uuid(),
                jsonb_build_object('ticket', jsonb_build_object('content', repeat('停水', 300))),
                :status, 0, CAST(:now AS timestamptz) - random() * interval '1 hour', :now
            FROM generate_series(1, :n) AS i
            """
        ),
        {"sub": sub, "status": status, "now": env.clock.now(), "n": n},
    )


async def test_a_backlog_is_claimed_in_index_order_whatever_the_statistics(env: Env) -> None:
    db = env.runtime.db
    if db.is_sqlite:
        pytest.skip("PostgreSQL's planner statistics only")
    subscription = uuid.uuid4()
    async with db.transaction() as session:
        await session.execute(
            sa.insert(WebhookSubscription).values(
                id=subscription,
                url="http://receiver.test/hook",
                events=["ticket.created"],
                secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                active=True,
                created_at=env.clock.now(),
            )
        )
    async with statistics_frozen(env, "webhook_deliveries"):
        async with db.transaction() as session:
            await _add(session, env, subscription, "delivered", 50_000)
            await _add(session, env, subscription, "pending", 20)
        async with db.transaction() as session:
            await session.execute(sa.text("ANALYZE webhook_deliveries"))
        async with db.transaction() as session:
            await _add(session, env, subscription, "pending", 10_000)  # a burst, not analysed
        params = {"now": env.clock.now(), "limit": 50}
        async with db.transaction() as session:
            assert "Sort" in await plan_nodes(session, DUE, params)  # the statistics' choice
        async with db.transaction() as session, in_index_order(session):
            nodes = await plan_nodes(session, DUE, params)
        assert "Sort" not in nodes
        assert "Index Scan ix_webhook_deliveries_due" in nodes

        with statements_sent(db.engine) as sent:
            async with httpx.AsyncClient() as client:
                claims = await Dispatcher(env.runtime, client)._claim(env.clock.now(), 50)
        assert len(claims) == 50
        assert sent[0] == "SET LOCAL enable_sort = off"
        assert "FROM webhook_deliveries" in sent[1]
        assert sent[2] == "SET LOCAL enable_sort TO DEFAULT"  # the claim's updates plan as usual
