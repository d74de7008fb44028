"""Timer rows (one per clock start) and admin-configured calendar years."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, JSONType, new_id


class Timer(Base):
    __tablename__ = "timers"
    __table_args__ = (
        sa.Index("ix_timers_subject", "subject_type", "subject_id", "started_at"),
        # The sweeper reads only what is due: its cost follows what is due,
        # not how many timers are open.
        sa.Index(
            "ix_timers_due_running",
            "due_at",
            postgresql_where=sa.text("state = 'running'"),
            sqlite_where=sa.text("state = 'running'"),
        ),
        # Statistics find a period's callbacks by when they started (with their ticket).
        sa.Index(
            "ix_timers_callback_started",
            "started_at",
            postgresql_where=sa.text("subject_type = 'ticket' AND kind = 'callback'"),
            sqlite_where=sa.text("subject_type = 'ticket' AND kind = 'callback'"),
        ),
        sa.Index(
            "ix_timers_warn_pending",
            "warn_at",
            postgresql_where=sa.text("state = 'running' AND warned_at IS NULL"),
            sqlite_where=sa.text("state = 'running' AND warned_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    subject_type: Mapped[str] = mapped_column(sa.String(20))
    subject_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(sa.String(20))
    state: Mapped[str] = mapped_column(sa.String(20))
    started_at: Mapped[datetime]
    due_at: Mapped[datetime]
    warn_at: Mapped[datetime | None]
    warned_at: Mapped[datetime | None]
    met_at: Mapped[datetime | None]
    breached_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    # Ordering inside one subject: timers started in one transaction share an instant.
    seq: Mapped[int] = mapped_column(default=0)


class ShownTimer(NamedTuple):
    """What an answer shows of a timer, read with its ticket (tickets.reads)."""

    kind: str
    due_at: datetime
    state: str
    started_at: datetime
    met_at: datetime | None
    breached_at: datetime | None


# A timer as read for an answer: the entity within a change, what a read shows of it
# (no identity map or instance state to build) where it is only rendered.
TimerView = Timer | ShownTimer


class CalendarYear(Base):
    """A year of China's working-day calendar entered by an admin (replaces the package's)."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    holidays: Mapped[list[str]] = mapped_column(JSONType)
    workdays: Mapped[list[str]] = mapped_column(JSONType)
    updated_at: Mapped[datetime]
