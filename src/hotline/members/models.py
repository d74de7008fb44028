"""Members, the append-only points ledger, and who has held which order."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, new_id


class MemberKind(StrEnum):
    in_service = "in_service"  # 在职
    mobile = "mobile"  # 流动
    retired = "retired"  # 离退休


class Member(Base):
    __tablename__ = "members"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    # Stored like callers' phones: encrypted, with the mask shown to people.
    phone_enc: Mapped[str | None] = mapped_column(sa.String(200))
    phone_mask: Mapped[str | None] = mapped_column(sa.String(32))
    branch: Mapped[str] = mapped_column(sa.String(200), index=True)
    skills: Mapped[list[str]]
    kind: Mapped[str] = mapped_column(sa.String(20))
    available: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PointsEntry(Base):
    """One line of the 服务积分 ledger; never updated, a reversal is a new line."""

    __tablename__ = "points_ledger"
    __table_args__ = (sa.Index("ix_points_ledger_member_at", "member_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    member_id: Mapped[str] = mapped_column(sa.ForeignKey("members.id"))
    ticket_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tickets.id"), index=True)
    points: Mapped[float]
    satisfaction: Mapped[str | None] = mapped_column(sa.String(30))
    reason: Mapped[str] = mapped_column(sa.String(20))
    at: Mapped[datetime]


class TicketHolder(Base):
    """A member who holds or held an order: it keeps reading that order."""

    __tablename__ = "ticket_holders"

    ticket_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tickets.id"), primary_key=True)
    member_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True, index=True)
    since: Mapped[datetime]
