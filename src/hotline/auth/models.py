"""Principals (who acts) and their tokens (stored only as SHA-256 hashes)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, new_id


class Role(StrEnum):
    admin = "admin"
    operator = "operator"
    department = "department"
    member = "member"
    supervisor = "supervisor"
    app = "app"
    viewer = "viewer"


class Principal(Base):
    __tablename__ = "principals"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(20))
    department_code: Mapped[str | None] = mapped_column(sa.String(64))
    member_id: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class Token(Base):
    __tablename__ = "tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    principal_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("principals.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
