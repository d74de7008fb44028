"""Ticket rows, their append-only timeline, and the daily number counter."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, new_id
from hotline.privacy.vault import SealedCaller


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        sa.Index("ix_tickets_department_queue", "department_code", "status", "created_at", "id"),
        sa.Index("ix_tickets_updated", "updated_at", "id"),
        sa.Index("ix_tickets_created", "created_at", "id"),
        # A department's page, newest first (migration 0002_department_list).
        sa.Index("ix_tickets_department_created", "department_code", "created_at", "id"),
        sa.Index(
            "ix_tickets_board",
            "created_at",
            postgresql_where=sa.text("status = 'posted'"),
            sqlite_where=sa.text("status = 'posted'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(sa.String(20), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    channel: Mapped[str] = mapped_column(sa.String(20))
    category: Mapped[str] = mapped_column(sa.String(20))
    topic: Mapped[str | None] = mapped_column(sa.String(64))
    urgency: Mapped[str] = mapped_column(sa.String(20))
    content: Mapped[str] = mapped_column(sa.Text)
    # A confidential (保密) caller's name is kept only encrypted; the phone always is.
    caller_name: Mapped[str | None] = mapped_column(sa.String(200))
    caller_name_enc: Mapped[str | None] = mapped_column(sa.String(400))
    caller_phone_enc: Mapped[str | None] = mapped_column(sa.String(200))
    caller_phone_bidx: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    caller_phone_mask: Mapped[str | None] = mapped_column(sa.String(32))
    caller_purged_at: Mapped[datetime | None]
    caller_special_groups: Mapped[list[str]]
    caller_confidential: Mapped[bool] = mapped_column(default=False)
    location: Mapped[dict[str, Any] | None]
    grid_code: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    skills: Mapped[list[str]]
    external_ref: Mapped[str | None] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(20), index=True)
    department_code: Mapped[str | None] = mapped_column(sa.String(64))
    member_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    # The department that may no longer return this ticket (退单审核不通过).
    return_locked_for: Mapped[str | None] = mapped_column(sa.String(64))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("tickets.id"), index=True)
    merged_into: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("tickets.id"), index=True)
    satisfaction: Mapped[str | None] = mapped_column(sa.String(30))
    result: Mapped[str | None] = mapped_column(sa.Text)
    pending_extension: Mapped[dict[str, Any] | None]
    on_the_spot: Mapped[bool] = mapped_column(default=False)
    overdue: Mapped[bool] = mapped_column(default=False)
    supervised: Mapped[bool] = mapped_column(default=False)
    # The SLA fixed when the ticket was routed (durations as ISO 8601 text).
    sla: Mapped[dict[str, Any]]
    rule_id: Mapped[uuid.UUID | None]
    created_by: Mapped[uuid.UUID | None]
    last_seq: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None] = mapped_column(index=True)  # when it became terminal

    @property
    def sealed_caller(self) -> SealedCaller:
        return SealedCaller(
            name=self.caller_name,
            name_enc=self.caller_name_enc,
            phone_enc=self.caller_phone_enc,
            phone_bidx=self.caller_phone_bidx,
            phone_mask=self.caller_phone_mask,
        )


# A ticket as read for an answer: the entity within a change, a plain row (no identity map
# or instance state to build) on the read paths. Both answer the same attributes.
TicketView = Ticket | sa.Row[Any]
TICKET_COLUMNS = tuple(Ticket.__table__.columns)


class TicketEvent(Base):
    """One entry of a ticket's append-only timeline."""

    __tablename__ = "ticket_events"

    ticket_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(64))
    actor: Mapped[str] = mapped_column(sa.String(64))
    actor_name: Mapped[str | None] = mapped_column(sa.String(200))
    from_status: Mapped[str | None] = mapped_column(sa.String(20))
    to_status: Mapped[str | None] = mapped_column(sa.String(20))
    data: Mapped[dict[str, Any]]
    at: Mapped[datetime]


class TicketCounter(Base):
    """The last sequence number handed out for one local day."""

    __tablename__ = "ticket_counters"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    last: Mapped[int]
