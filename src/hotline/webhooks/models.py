"""Webhook subscriptions and deliveries; a delivery row is the outbox entry
written in the same transaction as the change it announces."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, new_id


class WebhookSubscription(Base):
    __tablename__ = "webhook_subscriptions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    url: Mapped[str] = mapped_column(sa.String(2000))
    events: Mapped[list[str]]
    department_code: Mapped[str | None] = mapped_column(sa.String(64))
    secret: Mapped[str] = mapped_column(sa.String(200))
    previous_secret: Mapped[str | None] = mapped_column(sa.String(200))
    previous_secret_until: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        ),
        sa.Index("ix_webhook_deliveries_status", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), index=True
    )
    event_type: Mapped[str] = mapped_column(sa.String(64))
    subject_id: Mapped[uuid.UUID | None]
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(sa.String(20))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
