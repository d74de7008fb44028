"""HTTP: webhook subscriptions and deliveries (admin only)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from hotline import idempotency, pagination
from hotline.deps import ActorDep, ReadSession, RuntimeDep, require, write
from hotline.jsonutil import JSONOut
from hotline.privacy import audit
from hotline.routing.service import require_department
from hotline.tickets.schemas import Body, Code
from hotline.tickets.scope import query_id
from hotline.webhooks import service
from hotline.webhooks.models import WebhookDelivery, WebhookSubscription
from hotline.webhooks.outbox import EVENT_TYPES

router = APIRouter(tags=["webhooks"], dependencies=[require()])


class SubscriptionCreate(Body):
    url: str = Field(min_length=8, max_length=2000)
    events: list[str] = Field(min_length=1, max_length=100)
    department_code: Code | None = None

    @field_validator("events")
    @classmethod
    def _known(cls, events: list[str]) -> list[str]:
        unknown = [e for e in events if e != "*" and e not in EVENT_TYPES]
        if unknown:
            raise ValueError(f"unknown event types: {', '.join(unknown)}")
        return events


class SubscriptionOut(BaseModel):
    id: str
    url: str
    events: list[str]
    department_code: str | None
    active: bool
    created_at: datetime


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="whsec_ + base64; shown once.")


class SubscriptionPage(BaseModel):
    items: list[SubscriptionOut]
    next_cursor: str | None


class DeliveryOut(BaseModel):
    id: str
    subscription_id: str
    type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


@router.post(
    "/v1/webhook-subscriptions",
    status_code=201,
    response_model=SubscriptionCreated,
    openapi_extra=idempotency.openapi_extra(),
)
async def create_subscription(
    body: SubscriptionCreate, request: Request, runtime: RuntimeDep, actor: ActorDep
) -> Response:
    async def handler(session: AsyncSession) -> tuple[int, Any, dict[str, str]]:
        if body.department_code is not None:
            await require_department(session, body.department_code, ["body", "department_code"])
        sub = await service.create(
            session,
            url=body.url,
            events=body.events,
            department_code=body.department_code,
            allow_private=runtime.settings.webhook_allow_private,
            now=runtime.clock.now(),
        )
        audit.record(
            session,
            actor,
            "webhook_subscription.created",
            "webhook_subscription",
            sub.id,
            now=runtime.clock.now(),
            request=request,
            details=service.subscription_json(sub),
        )
        return 201, {**service.subscription_json(sub), "secret": sub.secret}, {}

    return await write(request, runtime, actor, handler)


@router.get("/v1/webhook-subscriptions", response_model=SubscriptionPage)
async def list_subscriptions(
    session: ReadSession,
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
) -> Response:
    stmt = sa.select(WebhookSubscription).where(WebhookSubscription.deleted_at.is_(None))
    rows, next_cursor = await pagination.newest_first(
        session, stmt, WebhookSubscription.created_at, WebhookSubscription.id, limit, cursor
    )
    return JSONOut(
        {"items": [service.subscription_json(s) for s in rows], "next_cursor": next_cursor}
    )


@router.get("/v1/webhook-subscriptions/{subscription_id}", response_model=SubscriptionOut)
async def get_subscription(subscription_id: str, session: ReadSession) -> Response:
    return JSONOut(service.subscription_json(await service.get(session, subscription_id)))


@router.delete(
    "/v1/webhook-subscriptions/{subscription_id}",
    status_code=204,
    openapi_extra=idempotency.openapi_extra(),
)
async def delete_subscription(
    subscription_id: str, request: Request, runtime: RuntimeDep, actor: ActorDep
) -> Response:

    async def handler(session: AsyncSession) -> tuple[int, Any, dict[str, str]]:
        await service.delete(session, subscription_id, runtime.clock.now())
        audit.record(
            session,
            actor,
            "webhook_subscription.deleted",
            "webhook_subscription",
            subscription_id,
            now=runtime.clock.now(),
            request=request,
        )
        return 204, None, {}

    return await write(request, runtime, actor, handler)


@router.post(
    "/v1/webhook-subscriptions/{subscription_id}/rotate-secret",
    response_model=SubscriptionCreated,
    openapi_extra=idempotency.openapi_extra(),
)
async def rotate_secret(
    subscription_id: str, request: Request, runtime: RuntimeDep, actor: ActorDep
) -> Response:
    """A new secret; the old one keeps signing beside it for HOTLINE_WEBHOOK_SECRET_GRACE_HOURS."""

    async def handler(session: AsyncSession) -> tuple[int, Any, dict[str, str]]:
        grace = timedelta(hours=runtime.settings.webhook_secret_grace_hours)
        sub = await service.rotate(session, subscription_id, runtime.clock.now(), grace)
        audit.record(
            session,
            actor,
            "webhook_subscription.secret_rotated",
            "webhook_subscription",
            sub.id,
            now=runtime.clock.now(),
            request=request,
        )
        return 200, {**service.subscription_json(sub), "secret": sub.secret}, {}

    return await write(request, runtime, actor, handler)


@router.get("/v1/webhook-deliveries", response_model=DeliveryPage)
async def list_deliveries(
    session: ReadSession,
    status: Literal["pending", "delivered", "failed"] | None = None,
    subscription_id: str | None = Query(default=None, max_length=64),
    limit: pagination.Limit = pagination.DEFAULT_LIMIT,
    cursor: pagination.Cursor = None,
) -> Response:
    """Deliveries newest first; ``status=failed`` is the dead-letter queue."""
    stmt = sa.select(WebhookDelivery)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    if subscription_id is not None:
        key = query_id(subscription_id, "subscription_id")
        stmt = stmt.where(WebhookDelivery.subscription_id == key)
    rows, next_cursor = await pagination.newest_first(
        session, stmt, WebhookDelivery.created_at, WebhookDelivery.id, limit, cursor
    )
    return JSONOut({"items": [service.delivery_json(d) for d in rows], "next_cursor": next_cursor})


@router.post(
    "/v1/webhook-deliveries/{delivery_id}/retry",
    response_model=DeliveryOut,
    openapi_extra=idempotency.openapi_extra(),
)
async def retry_delivery(
    delivery_id: str, request: Request, runtime: RuntimeDep, actor: ActorDep
) -> Response:
    """Send a failed or delivered delivery again, now."""

    async def handler(session: AsyncSession) -> tuple[int, Any, dict[str, str]]:
        delivery = await service.retry(session, delivery_id, runtime.clock.now())
        return 200, service.delivery_json(delivery), {}

    return await write(request, runtime, actor, handler)
