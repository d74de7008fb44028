"""Departments (承办单位, each on one of the four platforms) and routing rules."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, new_id


class Platform(StrEnum):
    """The four platforms (四个平台) a department belongs to."""

    comprehensive = "comprehensive"  # 综治
    market = "market"  # 市场监管
    enforcement = "enforcement"  # 综合执法
    convenience = "convenience"  # 便民服务


class Department(Base):
    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    platform: Mapped[str] = mapped_column(sa.String(20))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class RoutingRule(Base):
    __tablename__ = "routing_rules"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[str | None] = mapped_column(sa.String(20))
    category: Mapped[str | None] = mapped_column(sa.String(20))
    topic: Mapped[str | None] = mapped_column(sa.String(64))
    urgency: Mapped[str | None] = mapped_column(sa.String(20))
    grid: Mapped[str | None] = mapped_column(sa.String(64))
    department_code: Mapped[str | None] = mapped_column(
        sa.ForeignKey("departments.code", ondelete="RESTRICT")
    )
    priority: Mapped[int] = mapped_column(default=0)
    label: Mapped[str | None] = mapped_column(sa.String(200))
    callback_sla: Mapped[str] = mapped_column(sa.String(40))
    response_sla: Mapped[str | None] = mapped_column(sa.String(40))
    resolution_sla: Mapped[str] = mapped_column(sa.String(40))
    calendar: Mapped[str] = mapped_column(sa.String(10))
    warning_lead: Mapped[str | None] = mapped_column(sa.String(40))
    escalate_after: Mapped[str | None] = mapped_column(sa.String(40))
    created_at: Mapped[datetime]
