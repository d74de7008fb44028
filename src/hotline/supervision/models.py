"""Supervision cases and their entries."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, new_id


class Supervision(Base):
    __tablename__ = "supervisions"
    __table_args__ = (
        # A subject has at most one open case: a further breach adds an entry to it.
        sa.Index(
            "uq_supervisions_open_ticket",
            "ticket_id",
            unique=True,
            postgresql_where=sa.text("status = 'open' AND ticket_id IS NOT NULL"),
            sqlite_where=sa.text("status = 'open' AND ticket_id IS NOT NULL"),
        ),
        sa.Index(
            "uq_supervisions_open_dispute",
            "dispute_id",
            unique=True,
            postgresql_where=sa.text("status = 'open' AND dispute_id IS NOT NULL"),
            sqlite_where=sa.text("status = 'open' AND dispute_id IS NOT NULL"),
        ),
        sa.Index(
            "ix_supervisions_escalate_due",
            "escalate_at",
            postgresql_where=sa.text("status = 'open'"),
            sqlite_where=sa.text("status = 'open'"),
        ),
        sa.Index("ix_supervisions_status_opened", "status", "opened_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    subject: Mapped[str] = mapped_column(sa.String(20))
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("tickets.id"), index=True)
    dispute_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    department_code: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    reason: Mapped[str] = mapped_column(sa.String(30))
    level: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(sa.String(10))
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    escalate_at: Mapped[datetime | None]
    last_entry: Mapped[int] = mapped_column(default=0)


class SupervisionEntry(Base):
    __tablename__ = "supervision_entries"

    supervision_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("supervisions.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(30))
    note: Mapped[str | None] = mapped_column(sa.Text)
    actor: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime]
