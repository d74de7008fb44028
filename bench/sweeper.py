# mypy: disable-error-code="import-untyped"
# (hotline ships no py.typed; with MYPYPATH=src its types are checked too.)
"""Benchmark of the SLA sweeper (``hotline.sla.sweeper.sweep``) on a large timers table.

What it measures, on a throw-away PostgreSQL database of its own:

* seeding: N dispatched tickets (default 500,000), each with two running timers
  (callback and resolution: 1,000,000 running timers), written server-side with
  ``generate_series``, then ``VACUUM (ANALYZE)``;
* the idle sweep: ``sweep(runtime, now)`` while nothing is due, 20 times after two warm-up
  sweeps: min / median / p95 in ms (target: median <= 5 ms);
* the breach wave: the resolution timers of 10,000 distinct tickets (``--due``) are moved
  into the past with one UPDATE, then one ``sweep(runtime, now)`` call is timed end to
  end (target: 10,000 breaches in <= 10 s, i.e. >= 1,000 breaches/s, scaled to ``--due``),
  and the result is checked with SQL: one ``ticket.sla_breached`` event, one supervision
  case and one ``supervision.opened`` event per due timer, no running timer left due;
* the SQL the idle sweeps and the breach wave sent (statements, per ticket, time waiting
  on the database), from SQLAlchemy cursor events, and the process's CPU time during the
  wave (its batches run side by side, so their waits overlap);
* the idle sweep again after the wave (information: no target);
* ``EXPLAIN (ANALYZE, BUFFERS)`` of the sweeper's candidate query
  (``sweeper.due_query``, compiled as the sweep sends it) replayed as a prepared
  statement, once with the values bound (the custom plan the sweeper gets) and once as the
  generic plan; the custom plan must use the partial index ``ix_timers_due_running`` (a
  WARNING is printed otherwise); and of the idle sweep's one statement
  (``sweeper.NEXT_WORK``).

The runtime is built the way tests/sla/test_sweeper_concurrency.py builds one:
``Runtime(Settings(database_url=...), Database(url), FrozenClock(now), WorkingCalendar())``.

Run it from the repository root, after ``pip install -e .``::

    .venv/bin/python bench/sweeper.py                          # 500,000 tickets, 10,000 due
    .venv/bin/python bench/sweeper.py --tickets 20000 --due 1000
    .venv/bin/python bench/sweeper.py --keep --profile /tmp/breach.prof

Figures and what they show are in bench/README.md (section "Sweeper").

Exit code 0 when both targets pass, 1 when one fails or the check finds a wrong count,
130 when interrupted. The database (``hotline_bench_<random>``) is dropped at the end,
also on error or Ctrl-C, unless ``--keep`` is given.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, Python puts bench/ first on sys.path, where bench/http.py would
# shadow the standard library's http (imported by hotline's dependencies).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import pstats  # noqa: E402
import re  # noqa: E402
import secrets  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from types import FrameType  # noqa: E402
from typing import Any  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

import sqlalchemy as sa  # noqa: E402
import structlog  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from hotline.clock import FrozenClock  # noqa: E402
from hotline.config import Settings  # noqa: E402
from hotline.db import Database  # noqa: E402
from hotline.migrate import upgrade  # noqa: E402
from hotline.runtime import Runtime  # noqa: E402
from hotline.sla import sweeper  # noqa: E402
from hotline.sla.calendar import WorkingCalendar  # noqa: E402
from hotline.sla.models import Timer  # noqa: E402
from hotline.sla.sweeper import sweep  # noqa: E402
from hotline.webhooks.models import WebhookSubscription  # noqa: E402

IDLE_TARGET_MS = 5.0  # median of the idle sweeps
BREACH_RATE_TARGET = 1_000.0  # breaches per second: 10,000 in 10 s
INDEX = "ix_timers_due_running"
SLA = (
    '{"callback":"PT24H","response":null,"resolution":"P5D","calendar":"natural",'
    '"warning_lead":null,"escalate_after":null}'
)
DEPARTMENTS = [
    "water", "power", "gas", "heating", "roads", "transport", "sanitation", "housing",
    "urban_mgmt", "parks", "environment", "health", "education", "labour", "civil_affairs",
    "markets", "police", "fire", "agriculture", "telecom",
]  # fmt: skip
TOPICS = [
    "water_supply", "power_outage", "gas_leak", "heating", "road_damage", "bus_route",
    "garbage", "property_mgmt", "illegal_building", "greenery", "noise", "clinic",
    "school_place", "unpaid_wages", "subsidy", "food_safety", "public_order", "fire_hazard",
    "farmland", "broadband",
]  # fmt: skip
KINDS = ["petition"] * 9 + ["service_order"]
CHANNELS = ["hotline", "hotline", "hotline", "mini_program", "walk_in", "grid", "platform"]
CATEGORIES = ["help", "complaint", "consultation", "report", "suggestion", "praise"]


def say(*parts: object) -> None:
    """One line on stdout, flushed: the benchmark reports as it goes."""
    sys.stdout.write(" ".join(str(p) for p in parts) + "\n")
    sys.stdout.flush()


# -- arguments -------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    pg_host: str
    pg_port: int
    pg_user: str
    pg_database: str
    tickets: int
    due: int
    idle_runs: int
    chunk: int
    keep: bool
    profile: str | None
    subscribed: bool = False

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{self.pg_user}@{self.pg_host}:{self.pg_port}/{database}"

    @property
    def timers(self) -> int:
        return 2 * self.tickets


def parse_args(argv: Sequence[str] | None = None) -> Options:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        description="Benchmark hotline's SLA sweeper on a seeded PostgreSQL database.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--pg-host", default=env("HOTLINE_TEST_PG_HOST", "127.0.0.1"))
    parser.add_argument("--pg-port", type=int, default=int(env("HOTLINE_TEST_PG_PORT", "5432")))
    parser.add_argument("--pg-user", default=env("HOTLINE_TEST_PG_USER", "postgres"))
    parser.add_argument(
        "--pg-database",
        default=env("HOTLINE_TEST_PG_DATABASE", "test"),
        help="maintenance database to connect to for CREATE/DROP DATABASE",
    )
    parser.add_argument("--tickets", type=int, default=None, help="tickets (default 500000)")
    parser.add_argument(
        "--timers", type=int, default=None, help="running timers: 2 per ticket (default 2x)"
    )
    parser.add_argument("--due", type=int, default=10_000, help="resolution timers made due")
    parser.add_argument("--idle-runs", type=int, default=20, help="timed idle sweeps")
    parser.add_argument("--chunk", type=int, default=100_000, help="tickets per INSERT")
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    parser.add_argument(
        "--subscribed",
        action="store_true",
        help="a webhook subscription for every event: each breach also builds its payload",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        default=None,
        help="run the breach sweep under cProfile, write the stats to FILE and print the top",
    )
    ns = parser.parse_args(argv)
    tickets: int | None = ns.tickets
    timers: int | None = ns.timers
    if tickets is None:
        if timers is not None and timers % 2:
            parser.error("--timers must be even: each ticket has 2 timers")
        tickets = timers // 2 if timers is not None else 500_000
    if timers is not None and timers != 2 * tickets:
        parser.error(f"--timers must be 2 x --tickets ({2 * tickets}), got {timers}")
    due: int = ns.due
    if tickets < 1 or not 1 <= due <= tickets:
        parser.error("need --tickets >= 1 and 1 <= --due <= --tickets")
    if ns.idle_runs < 1 or ns.chunk < 1:
        parser.error("--idle-runs and --chunk must be >= 1")
    return Options(
        pg_host=ns.pg_host,
        pg_port=ns.pg_port,
        pg_user=ns.pg_user,
        pg_database=ns.pg_database,
        tickets=tickets,
        due=due,
        idle_runs=ns.idle_runs,
        chunk=ns.chunk,
        keep=ns.keep,
        profile=ns.profile,
        subscribed=ns.subscribed,
    )


# -- the throw-away database -----------------------------------------------------------


def admin_engine(opts: Options) -> AsyncEngine:
    return create_async_engine(
        opts.url(opts.pg_database), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )


async def _on_admin(opts: Options, sql: str) -> None:
    engine = admin_engine(opts)
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(sql)
    finally:
        await engine.dispose()


async def create_database(opts: Options, name: str) -> None:
    await _on_admin(opts, f'CREATE DATABASE "{name}"')


async def drop_database(opts: Options, name: str) -> None:
    await _on_admin(opts, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- seeding ---------------------------------------------------------------------------


def _array(values: Sequence[str]) -> str:
    """A SQL text[] literal of constants defined in this file."""
    return "ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _pick(values: Sequence[str], expr: str = "i") -> str:
    return f"({_array(values)})[1 + ({expr}) % {len(values)}]"


# Ticket i was created between 1 h and 19 h ago: its callback (24 h) is due in 5..23 h
# and warns 4 h before (default lead: 20% of the window, capped at 4 h), so no warning is
# due; its resolution clock started 10 min after creation (dispatch) and runs 5 days.
CREATED = "(CAST(:now AS timestamptz) - interval '1 hour' - (i % 64800) * interval '1 second')"

TICKETS_SQL = f"""
INSERT INTO tickets (
    id, number, kind, channel, category, topic, urgency, content,
    caller_name, caller_name_enc, caller_phone_enc, caller_phone_bidx, caller_phone_mask,
    caller_purged_at, caller_special_groups, caller_confidential, location, grid_code,
    skills, external_ref, status, department_code, member_id, return_locked_for,
    parent_id, merged_into, satisfaction, result, pending_extension, on_the_spot,
    overdue, supervised, sla, rule_id, created_by, last_seq, version,
    created_at, updated_at, closed_at
)
SELECT
    md5('ticket-' || i)::uuid,
    :prefix || lpad(i::text, :width, '0'),
    {_pick(KINDS)},
    {_pick(CHANNELS)},
    {_pick(CATEGORIES)},
    {_pick(TOPICS)},
    CASE WHEN i % 50 = 0 THEN 'urgent' ELSE 'normal' END,
    'Benchmark ticket ' || i || ': ' || {_pick(TOPICS)} || ' problem reported by a resident.',
    NULL, NULL, NULL, NULL, NULL,
    NULL, '[]'::jsonb, false, '{{}}'::jsonb, NULL,
    '[]'::jsonb, NULL, 'dispatched', {_pick(DEPARTMENTS)}, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, false,
    false, false, CAST(:sla AS jsonb), NULL, NULL, 0, 1,
    {CREATED}, {CREATED} + interval '10 minutes', NULL
FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS i
"""

TIMERS_SQL = f"""
INSERT INTO timers (
    id, subject_type, subject_id, kind, state, started_at, due_at, warn_at,
    warned_at, met_at, breached_at, cancelled_at, seq
)
SELECT
    md5('timer-' || i || '-' || k.seq)::uuid, 'ticket', md5('ticket-' || i)::uuid,
    k.kind, 'running', s.started, s.started + k.span, s.started + k.span - k.lead,
    NULL, NULL, NULL, NULL, k.seq
FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS i
CROSS JOIN (VALUES
    (0, 'callback', interval '0 minutes', interval '24 hours', interval '4 hours'),
    (1, 'resolution', interval '10 minutes', interval '5 days', interval '4 hours')
) AS k(seq, kind, offset_, span, lead)
CROSS JOIN LATERAL (SELECT {CREATED} + k.offset_ AS started) AS s
"""

# The resolution timers of ``due`` distinct tickets, spread evenly over the table, come
# due 30 minutes after they started (so in the past: they started >= 50 minutes ago).
# warn_at stays as seeded (in the future), so no warning is due for any timer.
DUE_SQL = """
UPDATE timers AS t
SET due_at = t.started_at + interval '30 minutes'
FROM (
    SELECT md5('ticket-' || (j * CAST(:stride AS bigint)))::uuid AS subject_id
    FROM generate_series(1, CAST(:due AS bigint)) AS j
) AS d
WHERE t.subject_type = 'ticket' AND t.subject_id = d.subject_id
  AND t.kind = 'resolution' AND t.state = 'running'
"""


class Stopwatch:
    def __init__(self) -> None:
        self.start = self.lap_start = time.perf_counter()

    def lap(self) -> float:
        now = time.perf_counter()
        lap, self.lap_start = now - self.lap_start, now
        return lap

    @property
    def total(self) -> float:
        return time.perf_counter() - self.start


async def seed(engine: AsyncEngine, opts: Options, now: datetime) -> float:
    """Tickets and their running timers, a chunk of tickets per pair of statements."""
    prefix = now.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y%m%d")
    width = max(4, len(str(opts.tickets)))
    watch = Stopwatch()
    say(f"seeding {opts.tickets:,} tickets and {opts.timers:,} running timers ...")
    async with engine.connect() as conn:
        for lo in range(1, opts.tickets + 1, opts.chunk):
            hi = min(lo + opts.chunk - 1, opts.tickets)
            params = {"now": now, "lo": lo, "hi": hi}
            await conn.execute(
                sa.text(TICKETS_SQL),
                {**params, "prefix": prefix, "width": width, "sla": SLA},
            )
            tickets_s = watch.lap()
            await conn.execute(sa.text(TIMERS_SQL), params)
            timers_s = watch.lap()
            say(
                f"  tickets {hi:>10,}/{opts.tickets:,}  "
                f"(+{tickets_s:5.1f} s tickets, +{timers_s:5.1f} s timers, "
                f"{watch.total:6.1f} s elapsed)"
            )
        await conn.exec_driver_sql("VACUUM (ANALYZE) tickets")
        await conn.exec_driver_sql("VACUUM (ANALYZE) timers")
        say(f"  VACUUM (ANALYZE) +{watch.lap():.1f} s, {watch.total:.1f} s elapsed")
        sizes = await conn.execute(
            sa.text(
                "SELECT pg_size_pretty(pg_total_relation_size('tickets')),"
                " pg_size_pretty(pg_total_relation_size('timers')),"
                f" pg_size_pretty(pg_relation_size('{INDEX}'))"
            )
        )
        tickets_size, timers_size, index_size = sizes.one()
        say(f"  sizes: tickets {tickets_size}, timers {timers_size}, {INDEX} {index_size}")
    return watch.total


async def make_due(engine: AsyncEngine, opts: Options) -> float:
    watch = Stopwatch()
    async with engine.connect() as conn:
        result = await conn.execute(
            sa.text(DUE_SQL), {"stride": opts.tickets // opts.due, "due": opts.due}
        )
        changed = getattr(result, "rowcount", -1)
        if changed != opts.due:
            raise RuntimeError(f"made {changed} timers due, expected {opts.due}")
        await conn.exec_driver_sql("ANALYZE timers")
    return watch.total


# -- what the sweeper sends to the database -----------------------------------------


_TABLE = re.compile(
    r"^\s*(?:(INSERT) INTO|(UPDATE)|(DELETE) FROM|(SELECT)\b.*?\bFROM)\s+(\w+)", re.I | re.S
)


def statement_kind(statement: str) -> str:
    """``SELECT timers``, ``UPDATE tickets``, ... (the verb and the first table)."""
    match = _TABLE.match(statement)
    if match is None:
        return statement.split(None, 1)[0].upper() if statement.strip() else "?"
    verb = next(g for g in match.groups()[:4] if g)
    locking = " FOR UPDATE" if "FOR UPDATE" in statement.upper() else ""
    return f"{verb.upper()} {match.group(5)}{locking}"


@dataclass
class SqlTrace:
    """Statements and the time spent waiting for them, from SQLAlchemy's cursor events."""

    calls: Counter[str] = field(default_factory=Counter)
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    commits: int = 0

    def attach(self, engine: AsyncEngine) -> None:
        sync = engine.sync_engine

        @event.listens_for(sync, "before_cursor_execute")
        def _before(
            conn: sa.Connection,
            _cursor: Any,
            statement: str,
            _parameters: Any,
            _context: Any,
            _executemany: bool,
        ) -> None:
            conn.info.setdefault("bench_started", []).append(time.perf_counter())

        @event.listens_for(sync, "after_cursor_execute")
        def _after(
            conn: sa.Connection,
            _cursor: Any,
            statement: str,
            _parameters: Any,
            _context: Any,
            _executemany: bool,
        ) -> None:
            started = conn.info["bench_started"].pop()
            kind = statement_kind(statement)
            self.calls[kind] += 1
            self.seconds[kind] += time.perf_counter() - started

        @event.listens_for(sync, "commit")
        def _commit(_conn: sa.Connection) -> None:
            self.commits += 1

    def reset(self) -> None:
        self.calls.clear()
        self.seconds.clear()
        self.commits = 0

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())


# -- EXPLAIN ---------------------------------------------------------------------------


def compiled(engine: AsyncEngine, stmt: sa.Select[Any]) -> tuple[str, list[object]]:
    """A statement as the sweeper sends it to asyncpg: SQL with $n and the values."""
    query = stmt.compile(dialect=engine.dialect)
    values = [query.params[name] for name in query.positiontup or ()]
    return str(query), values


def _literal(value: object) -> str:
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'::timestamptz"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _positional(parameters: Any) -> list[object]:
    if isinstance(parameters, dict):
        return list(parameters.values())
    if isinstance(parameters, list | tuple):
        if parameters and isinstance(parameters[0], list | tuple | dict):
            return _positional(parameters[0])
        return list(parameters)
    raise TypeError(f"unexpected parameters {parameters!r}")


async def explain(conn: AsyncConnection, statement: str, parameters: Any) -> dict[str, str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the captured statement as a prepared statement:
    ``custom`` (the values bound: what the sweeper's first executions get, and every
    later one as long as the generic plan costs more) and ``generic``."""
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection  # asyncpg's connection
    args = ", ".join(_literal(v) for v in _positional(parameters))
    plans: dict[str, str] = {}
    await driver.execute(f"PREPARE bench_candidates AS {statement}")
    try:
        for mode in ("custom", "generic"):
            await driver.execute(f"SET plan_cache_mode = force_{mode}_plan")
            rows = await driver.fetch(
                f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_candidates({args})"
            )
            plans[mode] = "\n".join(str(r[0]) for r in rows)
    finally:
        await driver.execute("RESET plan_cache_mode")
        await driver.execute("DEALLOCATE bench_candidates")
    return plans


# -- measurements ----------------------------------------------------------------------


@dataclass
class Idle:
    cold_ms: float
    samples_ms: list[float]

    @property
    def min(self) -> float:
        return min(self.samples_ms)

    @property
    def median(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p95(self) -> float:
        if len(self.samples_ms) < 2:
            return self.samples_ms[0]
        return statistics.quantiles(self.samples_ms, n=20, method="inclusive")[18]


async def measure_idle(runtime: Runtime, now: datetime, runs: int, trace: SqlTrace) -> Idle:
    """Two untimed warm-up sweeps (the first opens the connection), then ``runs`` timed;
    ``trace`` holds the timed sweeps' statements."""
    start = time.perf_counter()
    report = await sweep(runtime, now)
    cold_ms = (time.perf_counter() - start) * 1000
    await sweep(runtime, now)
    trace.reset()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        report = await sweep(runtime, now)
        samples.append((time.perf_counter() - start) * 1000)
        if report:
            raise RuntimeError(f"an idle sweep did work: {report}")
    return Idle(cold_ms, samples)


@dataclass
class Breach:
    seconds: float
    breached: int
    warned: int
    escalated: int
    sql_calls: Counter[str]
    sql_seconds: dict[str, float]
    commits: int
    cpu_seconds: float  # this process's (the sweeper's Python)

    @property
    def rate(self) -> float:
        return self.breached / self.seconds if self.seconds else 0.0


async def measure_breach(
    runtime: Runtime, now: datetime, trace: SqlTrace, profile: str | None
) -> Breach:
    trace.reset()
    profiler = cProfile.Profile() if profile else None
    start, start_cpu = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    try:
        report = await sweep(runtime, now)
    finally:
        if profiler is not None:
            profiler.disable()
    seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    if profiler is not None and profile:
        profiler.dump_stats(profile)
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
        say(f"cProfile of the breach sweep (stats in {profile}; timings inflated):")
        say(out.getvalue())
    return Breach(
        seconds=seconds,
        breached=report.breached,
        warned=report.warned,
        escalated=report.escalated,
        sql_calls=Counter(trace.calls),
        sql_seconds=dict(trace.seconds),
        commits=trace.commits,
        cpu_seconds=cpu,
    )


CHECKS = {
    "ticket.sla_breached events": (
        "SELECT count(*) FROM ticket_events WHERE type = 'ticket.sla_breached'"
    ),
    "supervision cases": "SELECT count(*) FROM supervisions",
    "supervision.opened events": (
        "SELECT count(*) FROM ticket_events WHERE type = 'supervision.opened'"
    ),
    "running timers due": (
        "SELECT count(*) FROM timers"
        " WHERE state = 'running' AND due_at <= CAST(:now AS timestamptz)"
    ),
    "breached timers": "SELECT count(*) FROM timers WHERE state = 'breached'",
    "overdue supervised tickets": "SELECT count(*) FROM tickets WHERE overdue AND supervised",
}


async def verify(engine: AsyncEngine, now: datetime, due: int) -> list[str]:
    """What the check found wrong (empty: exactly once, nothing left due)."""
    expected = dict.fromkeys(CHECKS, due)
    expected["running timers due"] = 0
    problems = []
    async with engine.connect() as conn:
        for name, sql in CHECKS.items():
            got = (await conn.execute(sa.text(sql), {"now": now})).scalar_one()
            mark = "ok" if got == expected[name] else "WRONG"
            say(f"  {name:<28} {got:>8,}  (expected {expected[name]:,})  {mark}")
            if got != expected[name]:
                problems.append(f"{name}: {got}, expected {expected[name]}")
    return problems


# -- the run ---------------------------------------------------------------------------


def load() -> str:
    """The load average: other work on the machine skews every figure here."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_plan(title: str, plan: str) -> None:
    say(title)
    for line in plan.splitlines():
        say("    " + line)


def print_idle_sql(trace: SqlTrace, idle: Idle) -> None:
    runs = len(idle.samples_ms)
    waiting = trace.total_seconds * 1000 / runs
    say(
        f"  per idle sweep: {trace.total_calls / runs:.0f} statements in "
        f"{trace.commits / runs:.0f} transactions, {waiting:.2f} ms waiting on the database "
        f"(the rest of the median, {max(idle.median - waiting, 0):.2f} ms: pool checkout and "
        "SQLAlchemy, asyncio)"
    )
    for kind, count in trace.calls.most_common():
        say(f"    {kind:<34} {trace.seconds[kind] / count * 1000:>7.3f} ms each")


def print_sql(breach: Breach, tickets: int) -> None:
    total_calls = sum(breach.sql_calls.values())
    total_s = sum(breach.sql_seconds.values())
    say(
        f"SQL during the breach sweep: {total_calls:,} statements in {breach.commits:,} "
        f"transactions, {total_calls / max(tickets, 1):.1f} per ticket; "
        f"{total_s:.2f} s from sending each statement to taking its answer (summed over the "
        f"sweep's concurrent batches); {breach.cpu_seconds:.2f} s of this process's CPU "
        "(the sweeper's Python: ORM, payloads, asyncio)"
    )
    say(f"    {'statement':<34} {'count':>8} {'total s':>8} {'ms each':>8}")
    for kind, count in breach.sql_calls.most_common():
        secs = breach.sql_seconds[kind]
        say(f"    {kind:<34} {count:>8,} {secs:>8.2f} {secs / count * 1000:>8.3f}")


async def run(opts: Options, name: str) -> int:
    url = opts.url(name)
    start_load = os.getloadavg()[0]  # before this run adds its own (client + backend)
    say(f"database {name} on {opts.pg_host}:{opts.pg_port}; {load()}")
    watch = Stopwatch()
    await upgrade(url)
    say(f"migrated in {watch.lap():.1f} s")
    now = datetime.now(UTC).replace(microsecond=0)
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    runtime = Runtime(
        Settings(database_url=url), Database(url), FrozenClock(now), WorkingCalendar()
    )
    trace = SqlTrace()
    trace.attach(runtime.db.engine)
    try:
        seed_s = await seed(engine, opts, now)

        say(f"idle sweeps: 2 warm-up + {opts.idle_runs} timed, nothing due ...")
        idle = await measure_idle(runtime, now, opts.idle_runs, trace)
        say(
            f"  min {idle.min:.2f} ms, median {idle.median:.2f} ms, p95 {idle.p95:.2f} ms "
            f"(first, cold: {idle.cold_ms:.1f} ms)"
        )
        print_idle_sql(trace, idle)

        probe_sql = compiled(engine, sweeper.NEXT_WORK)[0]
        async with engine.connect() as conn:
            probe_plan = "\n".join(
                str(r[0])
                for r in await conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {probe_sql}")
            )
        statement, parameters = compiled(
            engine, sweeper.due_query("ticket", Timer.due_at, now, sweeper.BATCH)
        )
        async with engine.connect() as conn:
            idle_plans = await explain(conn, statement, parameters)

        if opts.subscribed:
            async with engine.connect() as conn:
                await conn.execute(
                    sa.insert(WebhookSubscription).values(
                        id=uuid.uuid4(),
                        url="https://hooks.example.org/breaches",
                        events=["*"],
                        secret="whsec_" + "A" * 32,
                        active=True,
                        created_at=now,
                    )
                )
            say("a webhook subscription for '*': every breach builds its payload")
        due_s = await make_due(engine, opts)
        say(f"made {opts.due:,} resolution timers due in {due_s:.1f} s (UPDATE + ANALYZE)")
        async with engine.connect() as conn:
            due_plans = await explain(conn, statement, parameters)

        say(f"breach sweep: one sweep(runtime, now) over {opts.due:,} due timers ...")
        breach = await measure_breach(runtime, now, trace, opts.profile)
        say(
            f"  {breach.breached:,} breached in {breach.seconds:.2f} s = "
            f"{breach.rate:,.0f} breaches/s (warned {breach.warned}, "
            f"escalated {breach.escalated})"
        )
        print_sql(breach, opts.due)
        say("check:")
        problems = await verify(engine, now, opts.due)
        if breach.breached != opts.due:
            problems.append(f"sweep reported {breach.breached} breaches, expected {opts.due}")

        say("the sweeper's candidate query, as sent:")
        say("    " + " ".join(statement.split()))
        say(f"    parameters: {_positional(parameters)}")
        print_plan(
            f"EXPLAIN (ANALYZE, BUFFERS), custom plan, {opts.due:,} due:", due_plans["custom"]
        )
        print_plan("EXPLAIN (ANALYZE, BUFFERS), custom plan, nothing due:", idle_plans["custom"])
        say("the idle sweep's one statement (is anything due?):")
        say("    " + " ".join(probe_sql.split()))
        print_plan("EXPLAIN (ANALYZE, BUFFERS), nothing due:", probe_plan)
        print_plan("EXPLAIN (ANALYZE, BUFFERS), generic plan, nothing due:", idle_plans["generic"])
        uses_index = all(INDEX in p["custom"] for p in (idle_plans, due_plans))
        if not uses_index:
            say(f"WARNING: the candidate query's plan does not use {INDEX}")
        if INDEX not in idle_plans["generic"]:
            say(
                f"note: the generic plan cannot use {INDEX} (state is a bound parameter); "
                "PostgreSQL keeps custom plans while the generic one costs more"
            )

        say("idle sweeps again, after the breach wave ...")
        after = await measure_idle(runtime, now, opts.idle_runs, trace)
        say(f"  min {after.min:.2f} ms, median {after.median:.2f} ms, p95 {after.p95:.2f} ms")
        print_idle_sql(trace, after)
    finally:
        await runtime.db.dispose()
        await engine.dispose()

    breach_target_s = opts.due / BREACH_RATE_TARGET
    idle_ok = idle.median <= IDLE_TARGET_MS
    breach_ok = breach.seconds <= breach_target_s
    rows = [
        ("seed (tickets + timers + VACUUM)", f"{seed_s:.1f} s", "", ""),
        (
            "idle sweep min / median / p95",
            f"{idle.min:.2f} / {idle.median:.2f} / {idle.p95:.2f} ms",
            f"median <= {IDLE_TARGET_MS:g} ms",
            verdict(idle_ok),
        ),
        (
            f"breach {opts.due:,} timers (one sweep)",
            f"{breach.seconds:.2f} s, {breach.rate:,.0f}/s",
            f"<= {breach_target_s:g} s",
            verdict(breach_ok),
        ),
        (
            "idle sweep after the wave",
            f"{after.min:.2f} / {after.median:.2f} / {after.p95:.2f} ms",
            "",
            "",
        ),
        ("exactly once (SQL check)", "ok" if not problems else "WRONG", "", ""),
        (f"candidate query uses {INDEX}", "yes" if uses_index else "NO", "", ""),
    ]
    say("")
    say(
        f"hotline sweeper benchmark: {opts.tickets:,} tickets, {opts.timers:,} running timers, "
        f"{opts.due:,} due; {load()}"
        + ("; under cProfile: times not comparable" if opts.profile else "")
    )
    say(f"  {'measure':<36} {'figure':<28} {'target':<18} result")
    for label, figure, target, result in rows:
        say(f"  {label:<36} {figure:<28} {target:<18} {result}")
    for problem in problems:
        say(f"  check FAILED: {problem}")
    if start_load > 0.75 * (os.cpu_count() or 1):
        say(
            f"  WARNING: the machine was busy before the run (load {start_load:.2f}): "
            "other work inflates these times"
        )
    return 0 if idle_ok and breach_ok and not problems else 1


def _terminate(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    # The sweeper's own log line ("sweep", breached=...) would cut through the report.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    signal.signal(signal.SIGTERM, _terminate)
    name = f"hotline_bench_{secrets.token_hex(4)}"
    try:
        asyncio.run(create_database(opts, name))
        return asyncio.run(run(opts, name))
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        if opts.keep:
            say(f"kept database {name}: {opts.url(name)}")
        else:
            try:
                asyncio.run(drop_database(opts, name))
                say(f"dropped database {name}")
            except KeyboardInterrupt:
                say(f'interrupted: drop it by hand: DROP DATABASE "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
