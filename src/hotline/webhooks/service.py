"""Subscriptions (with secret rotation), the delivery listing, retries and replays."""

from __future__ import annotations

import base64
import ipaddress
import re
import secrets
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hotline import errors
from hotline.db import invalidate
from hotline.webhooks.models import WebhookDelivery, WebhookSubscription
from hotline.webhooks.outbox import DELIVERED, FAILED, PENDING

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def refused_address(address: str) -> bool:
    """Loopback, private, link-local and other non-public addresses (SSRF)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


# A DNS name as a receiver's host: labels of letters, digits and inner hyphens (an
# internationalised name is checked as its IDNA form, as it is resolved).
_HOST_NAME = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\.?", re.I)


def _numeric_addresses(host: str) -> list[str] | None:
    """The addresses a numeric host stands for (``127.1``, ``2130706433`` and ``0x7f000001``
    are 127.0.0.1 to the resolver), or None for a name. No DNS query is made."""
    try:
        infos = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError):
        return None
    return [str(info[4][0]) for info in infos]


def check_url(url: str, allow_private: bool) -> None:
    """A receiver's URL as the dispatcher will call it (httpx's parsing), or 422."""

    def refuse(msg: str) -> errors.ValidationFailed:
        return errors.ValidationFailed.field(["body", "url"], msg)

    try:
        parsed = httpx.URL(url)
        port = parsed.port
    except (httpx.InvalidURL, ValueError) as exc:
        raise refuse(f"is not a valid URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise refuse("must be an http(s) URL with a host")
    if parsed.userinfo:
        raise refuse("must not carry credentials")
    if port is not None and not 0 < port < 65536:
        raise refuse("has no valid port")
    host = parsed.raw_host.decode("ascii", "replace")
    addresses = _numeric_addresses(host)
    if addresses is None and not _HOST_NAME.fullmatch(host):
        raise refuse("has no valid host name")
    if allow_private:
        return
    if addresses is None:
        name = host.rstrip(".").lower()
        private = name == "localhost" or name.endswith(".localhost")
    else:
        private = any(refused_address(a) for a in addresses)
    if private:
        raise refuse(
            "loopback and private addresses are refused "
            "(HOTLINE_WEBHOOK_ALLOW_PRIVATE=true allows them)"
        )


def subscription_json(sub: WebhookSubscription) -> dict[str, Any]:
    return {
        "id": str(sub.id),
        "url": sub.url,
        "events": list(sub.events),
        "department_code": sub.department_code,
        "active": sub.active,
        "created_at": sub.created_at,
    }


def delivery_json(d: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": str(d.id),
        "subscription_id": str(d.subscription_id),
        "type": d.event_type,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": d.next_attempt_at if d.status == PENDING else None,
        "last_error": d.last_error,
        "created_at": d.created_at,
        "delivered_at": d.delivered_at,
        "payload": d.payload,
    }


async def create(
    session: AsyncSession,
    *,
    url: str,
    events: list[str],
    department_code: str | None,
    allow_private: bool,
    now: datetime,
) -> WebhookSubscription:
    check_url(url, allow_private)
    sub = WebhookSubscription(
        id=uuid.uuid4(),
        url=url,
        events=sorted(set(events)),
        department_code=department_code,
        secret=new_secret(),
        active=True,
        created_at=now,
    )
    session.add(sub)
    await session.flush()
    invalidate(session)
    return sub


async def get(
    session: AsyncSession, sub_id: str, *, for_update: bool = False
) -> WebhookSubscription:
    key = _uuid(sub_id)
    sub = (
        None
        if key is None
        else await session.get(WebhookSubscription, key, with_for_update=for_update)
    )
    if sub is None or sub.deleted_at is not None:
        raise errors.NotFound("No such webhook subscription.")
    return sub


async def delete(session: AsyncSession, sub_id: str, now: datetime) -> None:
    sub = await get(session, sub_id, for_update=True)
    sub.deleted_at, sub.active = now, False
    invalidate(session)
    await session.execute(
        sa.update(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == sub.id, WebhookDelivery.status == PENDING)
        .values(status=FAILED, last_error="subscription deleted")
    )


async def rotate(
    session: AsyncSession, sub_id: str, now: datetime, grace: timedelta
) -> WebhookSubscription:
    """A new secret; the old one keeps signing (beside it) until the grace period ends."""
    sub = await get(session, sub_id, for_update=True)
    sub.previous_secret, sub.previous_secret_until = sub.secret, now + grace
    sub.secret = new_secret()
    invalidate(session)
    return sub


async def retry(session: AsyncSession, delivery_id: str, now: datetime) -> WebhookDelivery:
    """Send a delivery again at once, through the whole retry schedule."""
    key = _uuid(delivery_id)
    delivery = (
        None if key is None else await session.get(WebhookDelivery, key, with_for_update=True)
    )
    if delivery is None:
        raise errors.NotFound("No such webhook delivery.")
    if delivery.status == PENDING:
        raise errors.InvalidTransition("The delivery is pending already.", allowed_actions=[])
    sub = await session.get(WebhookSubscription, delivery.subscription_id)
    if sub is None or sub.deleted_at is not None:
        raise errors.InvalidTransition(
            "The delivery's subscription was deleted.", allowed_actions=[]
        )
    delivery.status, delivery.attempts, delivery.next_attempt_at = PENDING, 0, now
    return delivery


async def replay(
    session: AsyncSession,
    *,
    since: datetime,
    now: datetime,
    subscription_id: uuid.UUID | None = None,
) -> int:
    """Deliver again every delivery created since ``since`` (same webhook-id, so receivers
    that kept it can tell; those that lost it get it)."""
    stmt = (
        sa.update(WebhookDelivery)
        .where(
            WebhookDelivery.created_at >= since,
            WebhookDelivery.status.in_([DELIVERED, FAILED]),
            WebhookDelivery.subscription_id.in_(
                sa.select(WebhookSubscription.id).where(WebhookSubscription.deleted_at.is_(None))
            ),
        )
        .values(status=PENDING, attempts=0, next_attempt_at=now)
    )
    if subscription_id is not None:
        stmt = stmt.where(WebhookDelivery.subscription_id == subscription_id)
    result = await session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
