"""Sending outbox rows: Standard Webhooks signatures, retries with backoff, dead letters.

Deliveries are claimed, not locked across I/O: one short transaction takes due rows
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL), moves their ``next_attempt_at`` a lease
ahead and counts the attempt; the requests go out with no transaction open; a second
transaction records each outcome if the claim is still ours. Two dispatchers never
send one delivery at the same time, and a dispatcher that dies mid-send only delays
the delivery until its lease runs out: at least once, never lost.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
import sqlalchemy as sa
import structlog
from standardwebhooks.webhooks import Webhook

from hotline import jsonutil
from hotline.db import UTCDateTime, in_index_order, inline, invalidate
from hotline.runtime import Runtime
from hotline.webhooks.models import WebhookDelivery, WebhookSubscription
from hotline.webhooks.outbox import DELIVERED, FAILED, PENDING

log = structlog.get_logger(__name__)
BATCH = 50
MAX_RETRY_AFTER = 86_400.0


# The first due deliveries, oldest first (the partial index ix_webhook_deliveries_due).
DUE = (
    sa.select(WebhookDelivery)
    .where(
        WebhookDelivery.status == inline(PENDING),
        WebhookDelivery.next_attempt_at <= sa.bindparam("now", type_=UTCDateTime()),
    )
    .order_by(WebhookDelivery.next_attempt_at)
    .limit(sa.bindparam("limit", type_=sa.Integer))
    .with_for_update(skip_locked=True)
)


@dataclass(frozen=True)
class Claim:
    delivery_id: uuid.UUID
    attempt: int
    url: str
    secrets: tuple[str, ...]
    body: bytes


@dataclass(frozen=True)
class Outcome:
    ok: bool
    gone: bool = False  # 410: the receiver wants no more
    error: str | None = None
    retry_after: float | None = None


def signature(secrets: Sequence[str], msg_id: str, at: datetime, body: bytes) -> str:
    """One ``v1,...`` per secret: during a rotation both the new and the old sign."""
    text = body.decode()
    return " ".join(Webhook(secret).sign(msg_id, at, text) for secret in secrets)


def _retry_after(response: httpx.Response, now: datetime) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        pass
    try:
        return min(max((parsedate_to_datetime(value) - now).total_seconds(), 0.0), MAX_RETRY_AFTER)
    except (TypeError, ValueError):
        return None


class Dispatcher:
    def __init__(self, runtime: Runtime, client: httpx.AsyncClient) -> None:
        self.runtime = runtime
        self.client = client
        self.settings = runtime.settings
        self.lease = timedelta(seconds=self.settings.webhook_timeout * 3 + 30)

    async def run_once(self, limit: int = BATCH) -> int:
        """Claim, send and record one batch; returns how many were sent."""
        now = self.runtime.clock.now()
        claims = await self._claim(now, limit)
        if not claims:
            return 0
        semaphore = asyncio.Semaphore(self.settings.webhook_concurrency)

        async def send(claim: Claim) -> tuple[Claim, Outcome]:
            async with semaphore:
                return claim, await self._send(claim)

        results = await asyncio.gather(*(send(c) for c in claims))
        await self._record(results)
        return len(claims)

    async def drain(self) -> int:
        """Send everything due now (tests, and catching up after a pause)."""
        total = 0
        while sent := await self.run_once():
            total += sent
        return total

    async def _claim(self, now: datetime, limit: int) -> list[Claim]:
        async with self.runtime.db.transaction() as session:
            async with in_index_order(session):  # a backlog is not sorted on every poll
                rows = (await session.scalars(DUE, {"now": now, "limit": limit})).all()
            if not rows:
                return []
            subs = {
                s.id: s
                for s in await session.scalars(
                    sa.select(WebhookSubscription).where(
                        WebhookSubscription.id.in_({r.subscription_id for r in rows})
                    )
                )
            }
            claims = []
            first = timedelta(seconds=self.settings.retry_delays[0])
            for row in rows:
                if row.attempts == 0 and row.created_at + first > now:
                    # The schedule's first value: the delay before attempt 1 (default 0).
                    row.next_attempt_at = row.created_at + first
                    continue
                sub = subs.get(row.subscription_id)
                if sub is None or not sub.active or sub.deleted_at is not None:
                    row.status, row.last_error = FAILED, "subscription inactive"
                    continue
                row.attempts += 1
                row.next_attempt_at = now + self.lease
                keys = [sub.secret]
                if (
                    sub.previous_secret
                    and sub.previous_secret_until
                    and sub.previous_secret_until > now
                ):
                    keys.append(sub.previous_secret)
                claims.append(
                    Claim(row.id, row.attempts, sub.url, tuple(keys), jsonutil.dumps(row.payload))
                )
            return claims

    async def _send(self, claim: Claim) -> Outcome:
        at = self.runtime.clock.now()
        msg_id = str(claim.delivery_id)
        headers = {
            "content-type": "application/json",
            "user-agent": "hotline-webhooks",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signature(claim.secrets, msg_id, at, claim.body),
        }
        try:
            response = await self.client.post(claim.url, content=claim.body, headers=headers)
        except Exception as exc:  # whatever it is, it is this delivery's failure alone
            return Outcome(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
        if 200 <= response.status_code < 300:
            return Outcome(ok=True)
        retry_after = _retry_after(response, at) if response.status_code in (429, 503) else None
        return Outcome(
            ok=False,
            gone=response.status_code == 410,
            error=f"HTTP {response.status_code}",
            retry_after=retry_after,
        )

    def _next_delay(self, attempt: int, outcome: Outcome) -> float | None:
        """Seconds until the next attempt, or None when the schedule is spent."""
        delays = self.settings.retry_delays
        if attempt >= len(delays):
            return None
        delay = delays[attempt]
        if delay > 0 and self.settings.webhook_jitter:
            delay *= 1 + random.uniform(-self.settings.webhook_jitter, self.settings.webhook_jitter)
        if outcome.retry_after is not None:
            delay = max(delay, outcome.retry_after)
        return delay

    async def _record(self, results: Sequence[tuple[Claim, Outcome]]) -> None:
        now = self.runtime.clock.now()
        async with self.runtime.db.transaction() as session:
            rows = {
                r.id: r
                for r in await session.scalars(
                    sa.select(WebhookDelivery)
                    .where(WebhookDelivery.id.in_([c.delivery_id for c, _ in results]))
                    .with_for_update()
                )
            }
            for claim, outcome in results:
                row = rows.get(claim.delivery_id)
                if row is None or row.status != PENDING or row.attempts != claim.attempt:
                    continue  # someone retried or replayed it meanwhile: theirs now
                if outcome.ok:
                    row.status, row.delivered_at, row.last_error = DELIVERED, now, None
                    continue
                row.last_error = outcome.error
                if outcome.gone:
                    row.status = FAILED
                    await session.execute(
                        sa.update(WebhookSubscription)
                        .where(WebhookSubscription.id == row.subscription_id)
                        .values(active=False)
                    )
                    invalidate(session)
                    log.warning(
                        "webhook_subscription_disabled", subscription=str(row.subscription_id)
                    )
                    continue
                delay = self._next_delay(claim.attempt, outcome)
                if delay is None:
                    row.status = FAILED  # dead letter: GET /v1/webhook-deliveries?status=failed
                else:
                    row.next_attempt_at = now + timedelta(seconds=delay)
