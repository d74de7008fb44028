"""Writing outbox rows: one pending delivery per subscription that wants an event,
in the transaction of the change that caused it."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.db import append, cached
from hotline.webhooks.models import WebhookDelivery, WebhookSubscription

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"

# One vocabulary for timelines and webhooks (API.md, "Events").
EVENT_TYPES = frozenset(
    {
        *(
            f"ticket.{name}"
            for name in (
                "created dispatched claimed accepted returned return_rejected called_back "
                "extension_requested extension_approved extension_denied resolved reviewed "
                "closed reopened merged discarded supervised commented referred "
                "dispute_opened child_resolved sla_warning sla_breached"
            ).split()
        ),
        *(f"supervision.{n}" for n in ("opened", "followed_up", "escalated", "closed")),
        *(
            f"dispute.{n}"
            for n in (
                "opened analysed mediating visited closed_off escalated referred review_overdue"
            ).split()
        ),
    }
)


@dataclass(frozen=True)
class Announcement:
    """An event to announce: its type and the departments it concerns."""

    type: str
    subject_id: uuid.UUID | None
    departments: Collection[str | None]
    at: datetime


def _wants(sub: WebhookSubscription, item: Announcement) -> bool:
    if "*" not in sub.events and item.type not in sub.events:
        return False
    return sub.department_code is None or sub.department_code in item.departments


async def active_subscriptions(session: AsyncSession) -> list[WebhookSubscription]:
    return list(
        (
            await session.scalars(
                sa.select(WebhookSubscription).where(
                    WebhookSubscription.active.is_(True), WebhookSubscription.deleted_at.is_(None)
                )
            )
        ).all()
    )


async def subscribed(session: AsyncSession) -> list[WebhookSubscription]:
    """The active subscriptions, through the per-process reference cache (every change
    announces its events; a batch reads them once for all its changes)."""
    return await cached(session, "webhook_subscriptions", lambda: active_subscriptions(session))


async def enqueue(
    session: AsyncSession,
    items: Sequence[Announcement],
    data: Callable[[str], Awaitable[dict[str, Any]]],
    subscriptions: Sequence[WebhookSubscription] | None = None,
) -> int:
    """Add the deliveries for ``items``; ``data(type)`` builds a payload's ``data`` only
    when some subscription wants the event."""
    if not items:
        return 0
    subs = await subscribed(session) if subscriptions is None else subscriptions
    count = 0
    built: dict[bool, dict[str, Any]] = {}
    for item in items:
        for sub in subs:
            if not _wants(sub, item):
                continue
            kind = item.type.startswith("supervision.")
            if kind not in built:
                built[kind] = await data(item.type)
            payload_data = built[kind]
            append(
                session,
                WebhookDelivery,
                {
                    "id": uuid.uuid4(),
                    "subscription_id": sub.id,
                    "event_type": item.type,
                    "subject_id": item.subject_id,
                    "payload": {"type": item.type, "timestamp": item.at, "data": payload_data},
                    "status": PENDING,
                    "attempts": 0,
                    "next_attempt_at": item.at,
                    "created_at": item.at,
                },
            )
            count += 1
    return count
