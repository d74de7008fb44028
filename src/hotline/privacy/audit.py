"""The audit log: who saw a caller's data and who changed the service's setup.

Rows are only ever inserted: no endpoint or command updates or deletes them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from hotline.auth.service import Actor
from hotline.db import Base, new_id


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_at", "at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    at: Mapped[datetime]
    principal_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    principal_name: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(20))
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    subject_type: Mapped[str] = mapped_column(sa.String(40))
    subject_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    reason: Mapped[str | None] = mapped_column(sa.Text)
    request_id: Mapped[str | None] = mapped_column(sa.String(100))
    details: Mapped[dict[str, Any]]


def request_id(request: Request | None) -> str | None:
    if request is None:
        return None
    value = getattr(request.state, "request_id", None)
    return value if isinstance(value, str) else None


def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    subject_type: str,
    subject_id: str | uuid.UUID | None,
    *,
    now: datetime,
    request: Request | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        id=uuid.uuid4(),
        at=now,
        principal_id=actor.id,
        principal_name=actor.name,
        role=actor.role.value,
        action=action,
        subject_type=subject_type,
        subject_id=None if subject_id is None else str(subject_id),
        reason=reason,
        request_id=request_id(request),
        details=details or {},
    )
    session.add(entry)
    return entry


def entry_json(e: AuditEntry) -> dict[str, Any]:
    return {
        "id": str(e.id),
        "at": e.at,
        "principal_id": None if e.principal_id is None else str(e.principal_id),
        "principal_name": e.principal_name,
        "role": e.role,
        "action": e.action,
        "subject_type": e.subject_type,
        "subject_id": e.subject_id,
        "reason": e.reason,
        "request_id": e.request_id,
        "details": e.details,
    }
