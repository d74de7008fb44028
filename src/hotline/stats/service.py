"""The three rates (三率) of a period's tickets, overall and by unit, as set-based SQL."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from hotline.db import dialect_name, inline
from hotline.grids.models import ORDER, Grid, Level
from hotline.routing.models import Department
from hotline.sla import service as sla
from hotline.sla.models import Timer
from hotline.tickets.models import Ticket, TicketEvent
from hotline.tickets.schemas import Satisfaction, Status

# Used when the settings carry no weights (response, resolution, satisfaction).
DEFAULT_SCORE_WEIGHTS = (0.30, 0.35, 0.35)

# The row of a breakdown, in the order of the CSV header.
FIELDS = (
    "key",
    "received",
    "resolved",
    "closed",
    "overdue",
    "supervised",
    "response_rate",
    "resolution_rate",
    "satisfaction_rate",
    "median_hours_to_callback",
    "median_hours_to_resolution",
    "score",
)

EXCLUDED = (Status.merged.value, Status.invalid.value)
DONE = (Status.resolved.value, Status.closed.value)
PLEASED = (Satisfaction.satisfied.value, Satisfaction.basically_satisfied.value)
SETTLED = (sla.MET, sla.BREACHED)

Sort = Literal["-score", "score"]

# Inlined rather than bound: an index on callback timers alone (partial, WHERE kind =
# 'callback') serves only queries that say so literally (SQLite; PostgreSQL's generic plans).
TICKET = inline("ticket")
CALLBACK = inline("callback")


class Dimension(StrEnum):
    """What a breakdown groups by: the ticket's current value of it."""

    department = "department"
    platform = "platform"  # 四个平台, through the ticket's department
    grid = "grid"
    topic = "topic"
    channel = "channel"


@dataclass(frozen=True)
class Period:
    """The cohort's filter: created in ``[start, end)``, optionally in one department."""

    start: datetime
    end: datetime
    department_code: str | None = None


@dataclass
class _Counts:
    received: int = 0
    resolved: int = 0
    closed: int = 0
    overdue: int = 0
    supervised: int = 0
    rated: int = 0
    pleased: int = 0
    callbacks: int = 0
    callbacks_on_time: int = 0

    def figures(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "resolved": self.resolved,
            "closed": self.closed,
            "overdue": self.overdue,
            "supervised": self.supervised,
            "response_rate": _ratio(self.callbacks_on_time, self.callbacks),
            "resolution_rate": _ratio(self.resolved, self.received),
            "satisfaction_rate": _ratio(self.pleased, self.rated),
        }


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def score(
    rates: Sequence[float | None], weights: Sequence[float] = DEFAULT_SCORE_WEIGHTS
) -> float | None:
    """The weighted sum of the response, resolution and satisfaction rates (考核)."""
    if any(r is None for r in rates):
        return None
    return sum(w * r for w, r in zip(weights, rates, strict=True) if r is not None)


# -- the queries ---------------------------------------------------------------------


_KEYS: dict[Dimension, QueryableAttribute[Any]] = {
    Dimension.department: Ticket.department_code,
    Dimension.platform: Department.platform,
    Dimension.grid: Ticket.grid_code,
    Dimension.topic: Ticket.topic,
    Dimension.channel: Ticket.channel,
}


Rollup = Mapping[str, str]  # a grid's code -> its ancestor's at the level rolled up to


def _key(dimension: Dimension | None, rollup: Rollup | None = None) -> sa.ColumnElement[Any]:
    if dimension is None:
        return sa.null()
    if dimension is Dimension.grid and rollup is not None:
        # Each ticket counts for the grid's ancestor at the level (e.g. its village);
        # a ticket in a grid above that level, or in none, is in the null row.
        if not rollup:
            return sa.null()
        # Literal values: the same CASE stands in the SELECT and the GROUP BY, and
        # PostgreSQL matches them only when no bound parameters differ between the two.
        whens = {
            sa.literal(code, sa.String, literal_execute=True): sa.literal(
                top, sa.String, literal_execute=True
            )
            for code, top in rollup.items()
        }
        return sa.case(whens, value=Ticket.grid_code, else_=sa.null())
    return _KEYS[dimension].expression


def _scoped(
    stmt: sa.Select[Any],
    period: Period,
    dimension: Dimension | None,
    *,
    group: bool = True,
    rollup: Rollup | None = None,
) -> sa.Select[Any]:
    """``stmt`` (which selects from tickets) limited to the cohort, grouped by the key."""
    if dimension is Dimension.platform:
        stmt = stmt.outerjoin(Department, Department.code == Ticket.department_code)
    stmt = stmt.where(
        Ticket.created_at >= period.start,
        Ticket.created_at < period.end,
        Ticket.status.not_in(EXCLUDED),
    )
    if period.department_code is not None:
        stmt = stmt.where(Ticket.department_code == period.department_code)
    if group and dimension is not None:
        stmt = stmt.group_by(_key(dimension, rollup))
    return stmt


def _count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.count().filter(condition)


def _callback_of_ticket(period: Period) -> sa.ColumnElement[bool]:
    """The join of a ticket to its callback timer.

    A callback clock starts when its ticket is created, and only then (API.md): a
    ticket has at most one, started at its ``created_at``. So the join repeats no
    ticket, and bounding ``started_at`` by the period as well lets the database read
    the period's timers (by an index on it) instead of every timer ever started.
    """
    return sa.and_(
        Timer.subject_id == Ticket.id,
        Timer.subject_type == TICKET,
        Timer.kind == CALLBACK,
        Timer.started_at >= period.start,
        Timer.started_at < period.end,
    )


async def _counts(
    session: AsyncSession,
    period: Period,
    dimension: Dimension | None,
    rollup: Rollup | None = None,
) -> dict[str | None, _Counts]:
    """The counts of each key, in one pass over the cohort and its callback timers."""
    # A callback met after its due time counts against the rate like a breach: it
    # stays in the denominator only (响应率 is about keeping the promise).
    on_time = sa.and_(Timer.state == sla.MET, Timer.met_at <= Timer.due_at)
    stmt = _scoped(
        sa.select(
            _key(dimension, rollup).label("key"),
            sa.func.count(),
            _count(Ticket.status.in_(DONE)),
            _count(Ticket.status == Status.closed.value),
            _count(Ticket.overdue.is_(True)),
            _count(Ticket.supervised.is_(True)),
            _count(Ticket.satisfaction.is_not(None)),
            _count(Ticket.satisfaction.in_(PLEASED)),
            _count(Timer.state.in_(SETTLED)),
            _count(on_time),
        )
        .select_from(Ticket)
        .outerjoin(Timer, _callback_of_ticket(period)),
        period,
        dimension,
        rollup=rollup,
    )
    return {k: _Counts(*numbers) for k, *numbers in await session.execute(stmt)}


def _durations(
    period: Period, dimension: Dimension, rollup: Rollup | None = None
) -> sa.CompoundSelect[Any]:
    """``(key, measure, start, end)`` for each callback made (met in time, late, or after
    its breach) and each resolution that stands."""
    key = _key(dimension, rollup).label("key")
    callback = _scoped(
        sa.select(
            key,
            sa.literal("callback", sa.String).label("measure"),
            Ticket.created_at.label("start"),
            Timer.met_at.label("end"),
        )
        .select_from(Ticket)
        .join(Timer, _callback_of_ticket(period))
        .where(Timer.met_at.is_not(None)),
        period,
        dimension,
        group=False,
        rollup=rollup,
    )
    # The latest 办结 of a ticket that is resolved or closed now is the one that stands
    # (an earlier one was undone by a dissatisfied review or a reopen). Events cover
    # every way to resolve, 直办 and 就地解决 included, which resolution timers do not.
    resolved_at = (
        sa.select(sa.func.max(TicketEvent.at))
        .where(TicketEvent.ticket_id == Ticket.id, TicketEvent.type == "ticket.resolved")
        .scalar_subquery()
    )
    resolution = _scoped(
        sa.select(
            key,
            sa.literal("resolution", sa.String).label("measure"),
            Ticket.created_at.label("start"),
            resolved_at.label("end"),
        )
        .select_from(Ticket)
        .where(Ticket.status.in_(DONE)),
        period,
        dimension,
        group=False,
        rollup=rollup,
    )
    return sa.union_all(callback, resolution)


async def _median_hours(
    session: AsyncSession, durations: sa.CompoundSelect[Any]
) -> dict[tuple[str | None, str], float]:
    """The median of ``end - start`` in hours for each ``(key, measure)``.

    PostgreSQL computes it with ``percentile_cont``; SQLite has no ordered-set
    aggregates, so there the durations come back in one fetch and Python applies
    the same interpolation (``lo + 0.5 * (hi - lo)`` on float8 seconds) so that
    both databases give bit-identical figures.
    """
    groups: dict[tuple[str | None, str], list[float]] = defaultdict(list)
    if dialect_name(session) == "postgresql":
        d = durations.subquery()
        # epoch is exact numeric: the difference rounds to float8 once, like Python's.
        seconds = sa.cast(sa.extract("epoch", d.c.end) - sa.extract("epoch", d.c.start), sa.Double)
        # No "end IS NOT NULL" filter: percentile_cont skips nulls itself, and the filter
        # would be pushed into the union and run the correlated subquery twice.
        stmt = sa.select(
            d.c.key, d.c.measure, sa.func.percentile_cont(0.5).within_group(seconds)
        ).group_by(d.c.key, d.c.measure)
        rows = await session.execute(stmt)
        medians = {(k, m): float(v) for k, m, v in rows if v is not None}
    else:
        for k, m, start, end in await session.execute(durations):
            if end is not None:
                groups[(k, m)].append((end - start).total_seconds())
        medians = {g: _median(values) for g, values in groups.items()}
    return {g: seconds / 3600 for g, seconds in medians.items()}


def _median(values: list[float]) -> float:
    """``percentile_cont(0.5)`` exactly as PostgreSQL computes it."""
    values.sort()
    position = 0.5 * (len(values) - 1)
    lo, hi = values[math.floor(position)], values[math.ceil(position)]
    return lo + 0.5 * (hi - lo)


# -- the reports ---------------------------------------------------------------------


async def _snapshot(session: AsyncSession) -> None:
    """Read the whole report from one snapshot, without JIT (call before any query).

    A breakdown's counts and medians come from two statements that must see the
    same tickets: on PostgreSQL the transaction is REPEATABLE READ (SQLite's read
    transaction is a snapshot already). JIT starts above a cost that a month out of
    a million tickets already passes, and compiling took longer than running: the
    by-department medians took 3.5 s with it and 0.7 s without (bench/stats.py).
    """
    if dialect_name(session) == "postgresql":
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        await session.execute(sa.text("SET LOCAL jit = off"))


async def summary(session: AsyncSession, period: Period) -> dict[str, Any]:
    """The period's figures: counts and the three rates (``null`` when nothing to divide)."""
    await _snapshot(session)
    counts = await _counts(session, period, None)
    return counts.get(None, _Counts()).figures()


async def breakdown(
    session: AsyncSession,
    period: Period,
    dimension: Dimension,
    weights: Sequence[float] = DEFAULT_SCORE_WEIGHTS,
    sort: Sort | None = None,
    level: Level | None = None,
) -> list[dict[str, Any]]:
    """One row per value of ``dimension`` among the cohort, by key (nulls last) or by score;
    with ``level``, grids count under their ancestors at that level."""
    await _snapshot(session)
    rollup = await grid_rollup(session, level) if level is not None else None
    counts = await _counts(session, period, dimension, rollup)
    durations = _durations(period, dimension, rollup)
    medians = await _median_hours(session, durations) if counts else {}
    rows = []
    for k, c in counts.items():
        figures = c.figures()
        rates = (figures["response_rate"], figures["resolution_rate"], figures["satisfaction_rate"])
        rows.append(
            {
                "key": k,
                **figures,
                "median_hours_to_callback": medians.get((k, "callback")),
                "median_hours_to_resolution": medians.get((k, "resolution")),
                "score": score(rates, weights),
            }
        )
    rows.sort(key=lambda r: (r["key"] is None, r["key"] or ""))
    if sort is not None:
        sign = -1 if sort == "-score" else 1
        # Stable sort on the key order above: equal scores stay by key, nulls last.
        rows.sort(key=lambda r: (r["score"] is None, sign * (r["score"] or 0.0)))
    return rows


async def grid_rollup(session: AsyncSession, level: Level) -> dict[str, str]:
    """Every grid at or below ``level`` mapped to its ancestor at ``level``."""
    depth = ORDER.index(level)
    rollup = {}
    for code, path in await session.execute(sa.select(Grid.code, Grid.path)):
        lineage = path.strip("/").split("/")
        if len(lineage) > depth:
            rollup[code] = lineage[depth]
    return rollup
