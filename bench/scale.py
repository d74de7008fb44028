"""Scale-out proof: two API processes and two workers on one PostgreSQL, one worker killed.

    .venv/bin/python bench/scale.py              # 20 s of load
    .venv/bin/python bench/scale.py --seconds 5  # what tests/test_scale.py runs

It creates its own database (dropped at the end), starts two ``hotline serve --no-worker``
processes together (they migrate once, under the advisory lock) and then two ``hotline
worker`` processes with short intervals (sweep 0.5 s, webhook poll 0.2 s, retries 0,1,1,1,1 s,
no jitter). A routing rule sends the tickets to a department with short SLAs (callback PT2S,
resolution PT3S natural), and a webhook subscription for every event points at a receiver
running in this process (uvicorn on 127.0.0.1) that verifies each delivery with the
``standardwebhooks`` library and records webhook-ids and concurrent duplicates.

For ``--seconds`` it drives creates (each with its own ``external_ref`` and Idempotency-Key)
and actions (accept, resolve) at both API processes with httpx, and kills one worker with
SIGKILL half-way. Then it waits (bounded) until everything due has been processed, including
what the dead worker had claimed (its lease runs out after 3 x HOTLINE_WEBHOOK_TIMEOUT + 30 s),
and checks with SQL:

- every create answered 201 exists exactly once (by ``external_ref``);
- no running timer is past due; each breached timer has exactly one ``ticket.sla_breached``
  event (carrying its ``timer_id``); each ticket whose resolution was breached has exactly
  one supervision case;
- every event the subscription wanted was delivered to the receiver at least once, verified,
  and no webhook-id was being processed twice at the same time;
- nothing is left ``pending`` that is due (nor ``failed``).

It exits 0 when every check passes. Every request goes to 127.0.0.1.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    # bench/http.py would shadow the standard library's ``http`` package: put the
    # repository root there instead of this folder.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import itertools
import os
import random
import signal
import socket
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from bench import common
from bench.common import say

ADMIN_TOKEN = "htl_scale_admin_token"
DEPARTMENT = "water"
TOPIC = "water_supply"
WEBHOOK_TIMEOUT = 1.0
LEASE = WEBHOOK_TIMEOUT * 3 + 30  # hotline.webhooks.dispatcher.Dispatcher.lease
CLIENTS = 6  # concurrent drivers
MAX_CREATES_PER_SECOND = 60  # a bound on the load, whatever the machine does


# -- the receiver ----------------------------------------------------------------------


@dataclass
class Receiver:
    """Verifies every delivery and records what arrived, and what arrived twice at once."""

    secret: str = ""
    url: str = ""
    received: Counter[str] = field(default_factory=Counter)  # webhook-id -> verified arrivals
    torn: int = 0  # requests cut off by a killed sender before their body arrived
    types: Counter[str] = field(default_factory=Counter)
    in_flight: Counter[str] = field(default_factory=Counter)
    overlaps: list[str] = field(default_factory=list)
    invalid: int = 0
    last_at: float = 0.0

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                # The sender died mid-request (the SIGKILLed worker): nothing was delivered
                # and nothing was answered, so there is no signature to judge.
                self.torn += 1
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        msg_id = headers.get("webhook-id", "")
        self.in_flight[msg_id] += 1
        if self.in_flight[msg_id] > 1:
            self.overlaps.append(msg_id)
        try:
            await asyncio.sleep(0)  # let a concurrent duplicate, if any, overlap
            try:
                payload = Webhook(self.secret).verify(body.decode(), headers)
            except WebhookVerificationError:
                self.invalid += 1
                status = 400
            else:
                self.received[msg_id] += 1
                self.types[str(payload.get("type"))] += 1
                self.last_at = time.monotonic()
                status = 204
        finally:
            self.in_flight[msg_id] -= 1
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def serve_receiver(receiver: Receiver) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((common.LOCAL, 0))
    receiver.url = f"http://{common.LOCAL}:{sock.getsockname()[1]}/hook"
    config = uvicorn.Config(
        receiver.app, log_level="error", lifespan="off", interface="asgi3", access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    return server, task


# -- the load --------------------------------------------------------------------------


@dataclass
class Load:
    bases: Sequence[str]
    operator: str
    department: str
    deadline: float
    max_creates: int
    answered_201: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    transport_errors: int = 0
    last_create_at: float = 0.0
    counter: itertools.count[int] = field(default_factory=itertools.count)

    async def drive(self, client: httpx.AsyncClient, worker: int) -> None:
        rng = random.Random(worker)
        op = {"Authorization": f"Bearer {self.operator}"}
        dept = {"Authorization": f"Bearer {self.department}"}
        while time.monotonic() < self.deadline:
            n = next(self.counter)
            if n >= self.max_creates:
                return
            base = self.bases[n % len(self.bases)]
            other = self.bases[(n + 1) % len(self.bases)]
            ref = f"scale-{os.getpid()}-{n}"
            body = common.ticket_body(TOPIC, n, external_ref=ref)
            response = await self.request(
                client, "POST", f"{base}/v1/tickets", body, {**op, "Idempotency-Key": ref}
            )
            if response is None or response.status_code != 201:
                continue
            self.answered_201.append(ref)
            self.last_create_at = time.monotonic()
            ticket_id = response.json()["id"]
            fate = rng.random()
            if fate < 0.25:
                continue  # left dispatched: its resolution is breached, a case opens
            accepted = await self.request(
                client, "POST", f"{other}/v1/tickets/{ticket_id}/actions/accept", {}, dept
            )
            if fate < 0.5 or accepted is None or accepted.status_code != 200:
                continue  # accepted only: breached too
            await self.request(
                client,
                "POST",
                f"{base}/v1/tickets/{ticket_id}/actions/resolve",
                {"result": "已更换水管"},
                dept,
            )

    async def request(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        body: dict[str, Any],
        headers: dict[str, str],
    ) -> httpx.Response | None:
        """One request, retried once (same Idempotency-Key) after a transport error."""
        for _attempt in range(2):
            try:
                response = await client.request(method, url, json=body, headers=headers)
            except httpx.HTTPError:
                self.transport_errors += 1
                await asyncio.sleep(0.2)
                continue
            kind = url.rsplit("/", 1)[-1] if "/actions/" in url else "create"
            self.statuses[f"{kind} {response.status_code}"] += 1
            return response
        return None


# -- checks ----------------------------------------------------------------------------


async def wait_until_settled(dsn: str, not_before: float, deadline: float) -> float:
    """Wait (bounded) until nothing running is past due and nothing is pending; returns
    the seconds waited."""
    started = time.monotonic()
    conn = await asyncpg.connect(dsn)
    try:
        while time.monotonic() < deadline:
            if time.monotonic() >= not_before:
                due = await conn.fetchval(
                    "SELECT count(*) FROM timers WHERE state = 'running' AND due_at <= now()"
                )
                pending = await conn.fetchval(
                    "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'"
                )
                if due == 0 and pending == 0:
                    break
            await asyncio.sleep(0.25)
    finally:
        await conn.close()
    return time.monotonic() - started


Check = tuple[str, bool, str]


async def run_checks(dsn: str, load: Load, receiver: Receiver) -> list[Check]:
    conn = await asyncpg.connect(dsn)
    checks: list[Check] = []
    try:
        refs = load.answered_201
        rows = await conn.fetch(
            "SELECT external_ref, count(*) AS n FROM tickets WHERE external_ref LIKE 'scale-%' "
            "GROUP BY external_ref"
        )
        found = {r["external_ref"]: r["n"] for r in rows}
        missing = [r for r in refs if found.get(r, 0) == 0]
        doubled = [r for r, n in found.items() if n > 1]
        checks.append(
            (
                "every create answered 201 exists exactly once (by external_ref)",
                not missing and not doubled,
                f"{len(refs)} answered 201, {len(found)} in the table, "
                f"{len(missing)} missing, {len(doubled)} twice",
            )
        )

        overdue = await conn.fetchval(
            "SELECT count(*) FROM timers WHERE state = 'running' AND due_at <= now()"
        )
        breached = await conn.fetchval("SELECT count(*) FROM timers WHERE state = 'breached'")
        events = await conn.fetchval(
            "SELECT count(*) FROM ticket_events WHERE type = 'ticket.sla_breached'"
        )
        no_timer_id = await conn.fetchval(
            "SELECT count(*) FROM ticket_events WHERE type = 'ticket.sla_breached' "
            "AND (data->>'timer_id') IS NULL"
        )
        not_once = await conn.fetchval(
            """
            SELECT count(*) FROM timers t
            LEFT JOIN (
                SELECT data->>'timer_id' AS timer_id, count(*) AS n FROM ticket_events
                WHERE type = 'ticket.sla_breached' GROUP BY 1
            ) e ON e.timer_id = t.id::text
            WHERE t.state = 'breached' AND coalesce(e.n, 0) <> 1
            """
        )
        stray = await conn.fetchval(
            """
            SELECT count(*) FROM ticket_events e
            LEFT JOIN timers t ON t.id::text = e.data->>'timer_id'
            WHERE e.type = 'ticket.sla_breached' AND (t.id IS NULL OR t.state <> 'breached')
            """
        )
        checks.append(
            (
                "every due timer breached exactly once",
                overdue == 0 and no_timer_id == 0 and not_once == 0 and stray == 0,
                f"{breached} breached timers, {events} ticket.sla_breached events, "
                f"{overdue} running past due, {not_once} not breached exactly once, "
                f"{no_timer_id} events without timer_id, {stray} events of no breached timer",
            )
        )
        resolution_breached = await conn.fetchval(
            "SELECT count(DISTINCT subject_id) FROM timers "
            "WHERE kind = 'resolution' AND state = 'breached'"
        )
        wrong_cases = await conn.fetchval(
            """
            SELECT count(*) FROM (
                SELECT DISTINCT subject_id FROM timers
                WHERE kind = 'resolution' AND state = 'breached'
            ) b
            LEFT JOIN (
                SELECT ticket_id, count(*) AS n FROM supervisions GROUP BY ticket_id
            ) s ON s.ticket_id = b.subject_id
            WHERE coalesce(s.n, 0) <> 1
            """
        )
        cases = await conn.fetchval("SELECT count(*) FROM supervisions")
        checks.append(
            (
                "exactly one supervision case per ticket with a resolution breach",
                wrong_cases == 0 and cases == resolution_breached,
                f"{resolution_breached} tickets with a resolution breach, {cases} cases, "
                f"{wrong_cases} tickets without exactly one",
            )
        )

        event_count = await conn.fetchval("SELECT count(*) FROM ticket_events")
        unmatched = await conn.fetchval(
            """
            SELECT count(*) FROM (
                SELECT ticket_id AS subject_id, type, count(*) AS n FROM ticket_events
                GROUP BY 1, 2
            ) e
            FULL JOIN (
                SELECT subject_id, event_type AS type, count(*) AS n FROM webhook_deliveries
                GROUP BY 1, 2
            ) d USING (subject_id, type)
            WHERE coalesce(e.n, 0) <> coalesce(d.n, 0)
            """
        )
        delivery_ids = [str(r[0]) for r in await conn.fetch("SELECT id FROM webhook_deliveries")]
        not_received = [i for i in delivery_ids if receiver.received[i] == 0]
        undelivered = await conn.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered'"
        )
        repeated = sum(1 for n in receiver.received.values() if n > 1)
        checks.append(
            (
                "every event the subscription wanted was delivered at least once",
                unmatched == 0 and not not_received and undelivered == 0,
                f"{event_count} events, {len(delivery_ids)} deliveries "
                f"({unmatched} events without their delivery), "
                f"{len(delivery_ids) - len(not_received)} received and verified, "
                f"{len(not_received)} never received, {repeated} received more than once "
                f"(allowed: at least once)",
            )
        )
        checks.append(
            (
                "no webhook-id processed twice at the same time; every signature valid",
                not receiver.overlaps and receiver.invalid == 0,
                f"{len(receiver.overlaps)} concurrent duplicates, "
                f"{receiver.invalid} failed verification, "
                f"{receiver.torn} cut off by the killed worker",
            )
        )
        pending_due = await conn.fetchval(
            "SELECT count(*) FROM webhook_deliveries "
            "WHERE status = 'pending' AND next_attempt_at <= now()"
        )
        failed = await conn.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'failed'"
        )
        checks.append(
            (
                "nothing left pending that is due (and nothing failed)",
                pending_due == 0 and failed == 0,
                f"{pending_due} pending and due, {failed} failed",
            )
        )
    finally:
        await conn.close()
    return checks


# -- main ------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> int:
    database = await common.new_database("hotline_scale")
    if database is None:
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="hotline-scale-"))
    say(f"database {database}; logs in {workdir}")
    receiver = Receiver()
    server, server_task = await serve_receiver(receiver)
    env = common.hotline_env(
        database,
        ADMIN_TOKEN,
        common.new_data_key(),
        HOTLINE_SWEEP_INTERVAL="0.5",
        HOTLINE_WEBHOOK_POLL_INTERVAL="0.2",
        HOTLINE_WEBHOOK_RETRY_SCHEDULE="0,1,1,1,1",
        HOTLINE_WEBHOOK_JITTER="0",
        HOTLINE_WEBHOOK_TIMEOUT=str(WEBHOOK_TIMEOUT),
        HOTLINE_DB_POOL_SIZE="5",
        HOTLINE_RATE_LIMIT="100000000/minute",
        HOTLINE_LOG_LEVEL="WARNING",
    )
    procs: list[common.Proc] = []
    checks: list[Check] = []
    try:
        with common.stopping(procs):
            ports = [common.free_port(), common.free_port()]
            apis = [
                common.start(
                    f"serve-{i}",
                    [common.HOTLINE, "serve", "--no-worker", "--port", str(port)],
                    env,
                    workdir,
                    port=port,
                )
                for i, port in enumerate(ports)
            ]
            procs.extend(apis)
            started = time.monotonic()
            await asyncio.gather(*(asyncio.to_thread(common.wait_ready, p) for p in apis))
            say(f"2 API processes ready (migrated together) in {time.monotonic() - started:.1f} s")

            admin = common.Admin(apis[0].base, ADMIN_TOKEN)
            try:
                admin.department(DEPARTMENT, "供水公司")
                admin.rule(
                    topic=TOPIC,
                    department_code=DEPARTMENT,
                    resolution_sla="PT3S",
                    calendar="natural",
                    callback_sla="PT2S",
                )
                receiver.secret = str(admin.subscription(receiver.url, ["*"])["secret"])
                operator = admin.principal("operator", "接线员")
                department = admin.principal("department", "供水公司", department_code=DEPARTMENT)
            finally:
                admin.close()

            workers = [
                common.start(f"worker-{i}", [common.HOTLINE, "worker"], env, workdir)
                for i in range(2)
            ]
            procs.extend(workers)
            await asyncio.sleep(1.0)
            for w in workers:
                if w.popen.poll() is not None:
                    raise RuntimeError(f"{w.name} exited:\n{w.log_tail()}")

            say(f"driving creates and actions at both API processes for {args.seconds:g} s")
            begin = time.monotonic()
            load = Load(
                bases=[p.base for p in apis],
                operator=operator,
                department=department,
                deadline=begin + args.seconds,
                max_creates=int(MAX_CREATES_PER_SECOND * args.seconds),
            )
            limits = httpx.Limits(max_connections=CLIENTS * 2)
            async with httpx.AsyncClient(timeout=15, limits=limits) as client:

                async def kill_one_worker() -> float:
                    await asyncio.sleep(args.seconds / 2)
                    victim = workers[0]
                    os.kill(victim.pid, signal.SIGKILL)
                    victim.popen.wait(timeout=10)
                    say(f"  SIGKILL to {victim.name} (pid {victim.pid}) at {args.seconds / 2:g} s")
                    return time.monotonic()

                killer = asyncio.create_task(kill_one_worker())
                await asyncio.gather(*(load.drive(client, i) for i in range(CLIENTS)))
                killed_at = await killer
            drove = time.monotonic() - begin
            say(
                f"  {len(load.answered_201)} creates answered 201 in {drove:.1f} s; answers: "
                + ", ".join(f"{k}: {v}" for k, v in sorted(load.statuses.items()))
                + f"; transport errors {load.transport_errors}"
            )

            # The dead worker's claims come back when its lease runs out.
            not_before = max(load.last_create_at + 3.5, time.monotonic())
            deadline = max(killed_at + LEASE + 15, not_before + 20)
            say(f"waiting (at most {deadline - time.monotonic():.0f} s) until all due work is done")
            waited = await wait_until_settled(common.pg_dsn(database), not_before, deadline)
            await asyncio.sleep(0.5)  # the last responses reach the receiver's counters
            say(f"  settled after {waited:.1f} s")
            for w in workers[1:]:
                if w.popen.poll() is not None:
                    say(f"  {w.name} died:\n{w.log_tail()}")
            checks = await run_checks(common.pg_dsn(database), load, receiver)
    finally:
        server.should_exit = True
        await server_task
        if args.keep:
            say(f"kept database {database}")
        else:
            await common.drop_database(database)

    say("\n== checks ==")
    ok = bool(checks)
    for name, passed, detail in checks:
        say(f"{'PASS' if passed else 'FAIL'}  {name}: {detail}")
        ok = ok and passed
    say(f"\ndelivered event types: {dict(sorted(receiver.types.items()))}")
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Two API processes, two workers, one killed.")
    parser.add_argument("--seconds", type=float, default=20.0, help="load duration (20)")
    parser.add_argument("--keep", action="store_true", help="keep the database (debugging)")
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= 600:
        parser.error("--seconds must be in [1, 600]")
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
