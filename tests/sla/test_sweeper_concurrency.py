"""Exactly once under concurrency and crashes: several sweepers, and one killed mid-batch."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from hotline.clock import FrozenClock
from hotline.db import Database
from hotline.runtime import Runtime
from hotline.sla import sweeper
from hotline.sla.calendar import WorkingCalendar

from conftest import Api, Env

TICKETS = 120  # each has a callback and a resolution due: 240 due timers


async def seed(api: Api) -> None:
    await api.department("water")
    await api.rule(
        topic="water_supply", department_code="water", resolution_sla="PT1H", calendar="natural"
    )
    op = api.as_(await api.principal("operator"))
    for _ in range(TICKETS):
        await op.ticket()


async def counts(env: Env) -> dict[str, int]:
    async with env.runtime.db.transaction(write=False) as session:
        breaches = "FROM ticket_events WHERE type = 'ticket.sla_breached'"
        q = {
            "breach_events": f"SELECT count(*) {breaches}",
            "distinct_breached": f"SELECT count(DISTINCT data ->> 'timer_id') {breaches}",
            "breached_timers": "SELECT count(*) FROM timers WHERE state = 'breached'",
            "running_due": "SELECT count(*) FROM timers WHERE state = 'running'",
            "cases": "SELECT count(*) FROM supervisions",
            "case_tickets": "SELECT count(DISTINCT ticket_id) FROM supervisions",
            "opened_events": "SELECT count(*) FROM ticket_events WHERE type = 'supervision.opened'",
        }
        if env.runtime.db.is_sqlite:
            q["distinct_breached"] = q["distinct_breached"].replace(
                "data ->> 'timer_id'", "json_extract(data, '$.timer_id')"
            )
        return {k: int((await session.execute(sa.text(v))).scalar_one()) for k, v in q.items()}


def expect_exactly_once(c: dict[str, int]) -> None:
    assert c["breach_events"] == 2 * TICKETS
    assert c["distinct_breached"] == 2 * TICKETS
    assert c["breached_timers"] == 2 * TICKETS
    assert c["running_due"] == 0
    assert c["cases"] == c["case_tickets"] == c["opened_events"] == TICKETS


async def test_three_sweepers_breach_each_timer_once(api: Api, env: Env) -> None:
    """PostgreSQL: SKIP LOCKED shares the work; SQLite: the writer lock makes them take turns."""
    await seed(api)
    now = env.clock.now() + timedelta(hours=25)
    runtimes = [
        Runtime(
            env.settings,
            Database(env.settings.database_url, pool_size=2),
            FrozenClock(now),
            WorkingCalendar(),
        )
        for _ in range(3)
    ]
    try:
        reports = await asyncio.gather(*(sweeper.sweep(rt, now) for rt in runtimes))
    finally:
        for rt in runtimes:
            await rt.db.dispose()
    assert sum(r.breached for r in reports) == 2 * TICKETS
    expect_exactly_once(await counts(env))


async def test_one_sweep_runs_its_batches_side_by_side(
    api: Api, env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a sweep's lanes take successive slices of what is due (SQLite: one
    lane); each timer is breached once however the slices overlap on a ticket's two."""
    await seed(api)
    now = env.clock.now() + timedelta(hours=25)
    monkeypatch.setattr(sweeper, "BATCH", 7)
    handled: list[tuple[int, int]] = []
    real_batch = sweeper.breach_batch

    async def watched(runtime: Runtime, when: datetime, limit: int, lane: int) -> tuple[int, int]:
        done, tickets = await real_batch(runtime, when, limit, lane)
        handled.append((lane, tickets))
        return done, tickets

    monkeypatch.setattr(sweeper, "breach_batch", watched)
    report = await sweeper.sweep(env.runtime, now)
    assert report.breached == 2 * TICKETS
    expect_exactly_once(await counts(env))
    lanes = {lane for lane, tickets in handled if tickets}
    assert lanes == ({0} if env.runtime.db.is_sqlite else set(range(sweeper.LANES)))
    assert sum(tickets for _, tickets in handled) == TICKETS


KILLED_SWEEPER = r"""
import asyncio, sys, os
from datetime import datetime
from hotline.clock import FrozenClock
from hotline.config import Settings
from hotline.db import Database
from hotline.runtime import Runtime
from hotline.sla import sweeper
from hotline.sla.calendar import WorkingCalendar

url, now = sys.argv[1], datetime.fromisoformat(sys.argv[2])
real_record = sweeper.record
done = 0

async def record_then_hang(*args, **kwargs):
    global done
    await real_record(*args, **kwargs)
    done += 1
    if done == 5:
        # Five tickets breached inside the open transaction, locks held: now die.
        session = args[0]
        await session.flush()
        print("LOCKED", flush=True)
        await asyncio.sleep(3600)

sweeper.record = record_then_hang

async def main():
    settings = Settings(database_url=url)
    runtime = Runtime(settings, Database(url, pool_size=1), FrozenClock(now), WorkingCalendar())
    await sweeper.sweep(runtime, now)

asyncio.run(main())
"""


async def test_sweeper_killed_mid_batch_loses_and_doubles_nothing(api: Api, env: Env) -> None:
    await seed(api)
    now = env.clock.now() + timedelta(hours=25)
    with subprocess.Popen(
        [sys.executable, "-c", KILLED_SWEEPER, env.settings.database_url, now.isoformat()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HOTLINE_LOG_LEVEL": "ERROR"},
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        try:
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), timeout=60)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        assert line.strip() == "LOCKED", proc.stderr.read()
    before = await counts(env)
    assert before["breach_events"] == 0  # the killed batch left nothing behind
    env.clock.set(now)
    report = await sweeper.sweep(env.runtime, now)
    assert report.breached == 2 * TICKETS
    expect_exactly_once(await counts(env))
