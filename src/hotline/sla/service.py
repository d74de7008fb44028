"""Starting, meeting, cancelling and moving a subject's timers.

Timers are rows: a subject's timers are loaded once per change, changed in
memory through :class:`Timers`, and flushed with the rest of the change.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.db import among
from hotline.sla.calendar import Calendar, SlaDuration, WorkingCalendar, YearDays, warning_lead
from hotline.sla.models import CalendarYear, Timer

if TYPE_CHECKING:
    from hotline.runtime import Runtime

log = structlog.get_logger(__name__)
CALENDAR_RECHECK_SECONDS = 30.0

RUNNING, MET, BREACHED, CANCELLED = "running", "met", "breached", "cancelled"

DEFAULT_CALLBACK = "PT24H"
DEFAULT_RESOLUTION = "P5D"
DEFAULT_CALENDAR: Calendar = "working"
DEFAULT_ESCALATE_AFTER = "P1D"


@dataclass(frozen=True)
class Sla:
    """The clocks a ticket runs on, fixed when it is routed (ISO 8601 durations)."""

    callback: str = DEFAULT_CALLBACK
    response: str | None = None
    resolution: str = DEFAULT_RESOLUTION
    calendar: Calendar = DEFAULT_CALENDAR
    warning_lead: str | None = None
    escalate_after: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Sla:
        return cls(**data) if data else cls()


class Timers:
    """The timers of one subject, loaded for one change. ``attach=False``: the timers it
    starts stay out of the session, for the caller to ``append`` once they are final (a
    new subject's first clocks)."""

    def __init__(
        self,
        session: AsyncSession,
        subject_type: str,
        subject_id: uuid.UUID,
        rows: Sequence[Timer],
        calendar: WorkingCalendar,
        now: datetime,
        *,
        attach: bool = True,
    ) -> None:
        self._session = session
        self._attach = attach
        self.subject_type = subject_type
        self.subject_id = subject_id
        self.rows = list(rows)
        self.calendar = calendar
        self.now = now

    @classmethod
    async def load(
        cls,
        session: AsyncSession,
        subject_type: str,
        subject_id: uuid.UUID,
        calendar: WorkingCalendar,
        now: datetime,
    ) -> Timers:
        rows = (
            await session.scalars(
                sa.select(Timer)
                .where(Timer.subject_type == subject_type, Timer.subject_id == subject_id)
                .order_by(Timer.seq)
            )
        ).all()
        return cls(session, subject_type, subject_id, rows, calendar, now)

    def running(self, kind: str) -> Timer | None:
        return next((t for t in self.rows if t.kind == kind and t.state == RUNNING), None)

    def start(
        self,
        kind: str,
        duration: str,
        calendar: Calendar,
        lead: str | None = None,
        *,
        due_at: datetime | None = None,
    ) -> Timer:
        """Start (or restart) a clock of this kind: a restart adds an entry."""
        self.cancel(kind)
        due = due_at or self.calendar.add(self.now, SlaDuration.parse(duration), calendar)
        return self._add(kind, due, lead)

    def _add(self, kind: str, due: datetime, lead: str | None) -> Timer:
        timer = Timer(
            id=uuid.uuid4(),
            subject_type=self.subject_type,
            subject_id=self.subject_id,
            kind=kind,
            state=RUNNING,
            started_at=self.now,
            due_at=due,
            warn_at=self._warn_at(due, lead),
            seq=len(self.rows),
        )
        self.rows.append(timer)
        if self._attach:
            self._session.add(timer)
        return timer

    def _warn_at(self, due: datetime, lead: str | None) -> datetime:
        configured = SlaDuration.parse(lead) if lead else None
        return due - warning_lead(self.now, due, configured)

    def meet(self, *kinds: str) -> None:
        """The running clocks of these kinds are met now. One the sweeper already
        breached stays breached and records when it was met all the same (a callback
        reached late still counts in how long callbacks take, whenever the sweep ran)."""
        for kind in kinds:
            timer = self.running(kind)
            if timer is not None:
                timer.state, timer.met_at = MET, self.now
                continue
            latest = next((t for t in reversed(self.rows) if t.kind == kind), None)
            if latest is not None and latest.state == BREACHED and latest.met_at is None:
                latest.met_at = self.now

    def cancel(self, *kinds: str) -> None:
        for timer in self.rows:
            if timer.state == RUNNING and (not kinds or timer.kind in kinds):
                timer.state, timer.cancelled_at = CANCELLED, self.now

    def move(self, kind: str, due: datetime, lead: str | None) -> Timer:
        """An approved extension: the running clock's deadline moves; after a
        breach, the breached entry stays and a new running one is added. A moved entry
        that warned already does not warn again: one ``ticket.sla_warning`` per timer."""
        timer = self.running(kind)
        if timer is None:
            return self._add(kind, due, lead)
        timer.due_at = due
        timer.warn_at = self._warn_at(due, lead)
        return timer


# Built once: constructing the expression per call costs more CPU than running it.
_TIMERS_OF = (
    sa.select(Timer)
    .where(Timer.subject_type == sa.bindparam("type"), among(Timer.subject_id, "ids"))
    .order_by(Timer.subject_id, Timer.seq)
)


async def timers_of(
    session: AsyncSession, subject_type: str, subject_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Timer]]:
    """Every timer of many subjects at once, oldest first, as entities (to change them)."""
    found: dict[uuid.UUID, list[Timer]] = {i: [] for i in subject_ids}
    if subject_ids:
        params = {"type": subject_type, "ids": list(subject_ids)}
        for timer in await session.scalars(_TIMERS_OF, params):
            found[timer.subject_id].append(timer)
    return found


# -- the working-day calendar's configured years ------------------------------------


async def load_calendar(session: AsyncSession, calendar: WorkingCalendar) -> datetime | None:
    """Apply every admin-configured year to this process's calendar; returns the newest
    change seen, so a later refresh can tell whether another process entered a year."""
    newest: datetime | None = None
    for row in (await session.scalars(sa.select(CalendarYear))).all():
        calendar.set_year(row.year, year_days(row))
        newest = row.updated_at if newest is None else max(newest, row.updated_at)
    return newest


async def refresh_calendar(session: AsyncSession, runtime: Runtime, *, force: bool = False) -> None:
    """Pick up years entered through another process (or ``hotline calendar import``),
    looking at most every 30 seconds unless ``force``."""
    now = time.monotonic()
    if not force and now - runtime.calendar_checked < CALENDAR_RECHECK_SECONDS:
        return
    runtime.calendar_checked = now
    newest = await session.scalar(sa.select(sa.func.max(CalendarYear.updated_at)))
    if newest is not None and (runtime.calendar_seen is None or newest > runtime.calendar_seen):
        runtime.calendar_seen = await load_calendar(session, runtime.calendar)


def year_days(row: CalendarYear) -> YearDays:
    return YearDays(
        holidays=frozenset(date.fromisoformat(d) for d in row.holidays),
        workdays=frozenset(date.fromisoformat(d) for d in row.workdays),
    )


async def configure_year(
    session: AsyncSession,
    calendar: WorkingCalendar,
    year: int,
    holidays: Sequence[date],
    workdays: Sequence[date],
    now: datetime,
) -> None:
    days = YearDays(holidays=frozenset(holidays), workdays=frozenset(workdays))
    calendar.set_year(year, days)  # raises ValueError for a date of another year
    row = await session.get(CalendarYear, year)
    if row is None:
        row = CalendarYear(year=year, holidays=[], workdays=[], updated_at=now)
        session.add(row)
    row.holidays = sorted(d.isoformat() for d in days.holidays)
    row.workdays = sorted(d.isoformat() for d in days.workdays)
    row.updated_at = now
    await session.flush()


def warn_missing_calendar(calendar: WorkingCalendar, now: datetime, tz: str) -> list[int]:
    """Log a warning while the next 60 days touch a year known only by its weekends."""
    today = now.astimezone(ZoneInfo(tz)).date()
    missing = calendar.years_without_data(today, 60)
    if missing:
        log.warning(
            "calendar_year_missing",
            years=missing,
            hint="enter the State Council's schedule: PUT /v1/calendar/{year} "
            "or `hotline calendar import FILE`",
        )
    return missing
