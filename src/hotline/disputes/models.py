"""Dispute kinds, disputes and their dated entries (each step of the four lists)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, new_id

DEFAULT_KINDS = (
    ("marriage_family", "婚姻家庭"),
    ("neighbours", "邻里关系"),
    ("land_boundary", "土地宅基地"),
    ("labour_wages", "劳资欠薪"),
    ("property", "物业"),
    ("other", "其他"),
)


class DisputeKind(Base):
    __tablename__ = "dispute_kinds"

    code: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    review_period: Mapped[str] = mapped_column(sa.String(40), default="P7D")
    position: Mapped[int] = mapped_column(default=0)  # the order kinds are listed in
    created_at: Mapped[datetime]


class Dispute(Base):
    __tablename__ = "disputes"
    __table_args__ = (
        sa.Index("ix_disputes_opened", "opened_at", "id"),
        sa.Index("ix_disputes_status_kind", "status", "kind"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(sa.ForeignKey("dispute_kinds.code"))
    status: Mapped[str] = mapped_column(sa.String(20))
    level: Mapped[str] = mapped_column(sa.String(20))
    grid: Mapped[str] = mapped_column(sa.String(64), index=True)
    summary: Mapped[str] = mapped_column(sa.Text)
    # [{name, role, phone_enc, phone_mask}]: phones protected like callers'.
    parties: Mapped[list[dict[str, Any]]] = mapped_column()
    source_ticket_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("tickets.id"), index=True
    )
    referred_to: Mapped[str | None] = mapped_column(sa.String(20))
    department_code: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    review_due_at: Mapped[datetime | None]
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    created_by: Mapped[uuid.UUID | None]
    last_entry: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime]


class DisputeEntry(Base):
    """One dated step: who, what was found or agreed, and the next review date."""

    __tablename__ = "dispute_entries"

    dispute_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("disputes.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True)
    step: Mapped[str] = mapped_column(sa.String(30))
    type: Mapped[str] = mapped_column(sa.String(40))
    note: Mapped[str | None] = mapped_column(sa.Text)
    actor: Mapped[str] = mapped_column(sa.String(64))
    actor_name: Mapped[str | None] = mapped_column(sa.String(200))
    from_status: Mapped[str | None] = mapped_column(sa.String(20))
    to_status: Mapped[str | None] = mapped_column(sa.String(20))
    next_review_at: Mapped[datetime | None]
    data: Mapped[dict[str, Any]]
    at: Mapped[datetime]
