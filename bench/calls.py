"""What one request costs in process: Python calls, CPU time and SQL statements.

One command::

    .venv/bin/python bench/calls.py               # 600 requests per operation, 10,000 seeded
    .venv/bin/python bench/calls.py --only get --dump /tmp/get.pstats   # + cProfile's stats

It creates its own database (dropped at the end), runs hotline's app and bench/bare_app.py in
this process on it (their lifespans, real asyncpg connections), sets hotline up as
bench/http.py does (department, rule, subscription nobody delivers, operator and department
principals) and seeds ``--seed`` tickets. Each operation is then sent as raw ASGI calls, 16 at
a time, ``--requests`` times after a warm-up: once under cProfile (its call count per request:
repeatable to about 1 % whatever else the machine does, which CPU time is not) and three times
without (the median CPU time of the process per request). No HTTP server and no client sit in
between: what is left is the app's own work, the part that bench/http.py's ratios compare.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # run as a script: import bench

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import sqlalchemy as sa

from bench import common
from bench.common import say
from bench.http import (
    ADMIN_TOKEN,
    DEPARTMENT_PRINCIPAL,
    LIST_PATH,
    OPERATOR,
    RATE_LIMIT,
    SET_UP,
    TOPIC,
    seed,
)

CONCURRENCY = 16
Call = Callable[[int], Awaitable[None]]


async def asgi(
    app: Any, method: str, target: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, bytes]:
    """One request through ``app`` as a server would pass it; its status and body."""
    path, _, query = target.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def expect(status: int, body: bytes, *wanted: int) -> bytes:
    if status not in wanted:
        raise RuntimeError(f"answered {status}: {body[:300]!r}")
    return body


async def new_ticket(app: Any, path: str, headers: dict[str, str], body: bytes) -> str:
    """POST a ticket through ``app``; its id (raises unless 201)."""
    return str(json.loads(expect(*await asgi(app, "POST", path, headers, body), 201))["id"])


@dataclass
class Figure:
    calls: float
    cpu_ms: float
    statements: float | None

    def __str__(self) -> str:
        return f"{self.calls:7.0f} calls  {self.cpu_ms:5.2f} ms"


async def measure(
    call: Call, requests: int, statements: Callable[[], int] | None, dump: str | None
) -> Figure:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with gate:
            await call(i)

    async def run(offset: int) -> None:
        await asyncio.gather(*(one(offset + i) for i in range(requests)))

    for i in range(10):
        await call(4 * requests + i)  # warm: tokens cached, statements prepared
    before = statements() if statements else 0
    profile = cProfile.Profile()
    profile.enable()
    await run(0)
    profile.disable()
    sent = (statements() - before) / requests if statements else None
    stats = pstats.Stats(profile)
    if dump:
        stats.dump_stats(dump)
    cpu = []
    for round_ in range(1, 4):
        started = time.process_time()
        await run(round_ * requests)
        cpu.append((time.process_time() - started) / requests * 1000)
    return Figure(stats.total_calls / requests, statistics.median(cpu), sent)  # type: ignore[attr-defined]


async def hotline_figures(database: str, args: argparse.Namespace) -> dict[str, Figure]:
    from hotline.app import create_app
    from hotline.config import Settings
    from hotline.migrate import upgrade
    from hotline.runtime import settle_gc

    settings = Settings(
        database_url=common.sqlalchemy_url(database),
        bootstrap_token=ADMIN_TOKEN,
        data_key=common.new_data_key(),
        log_level="WARNING",
        rate_limit=RATE_LIMIT,
        webhook_allow_private=True,
    )
    await upgrade(settings.database_url)
    app = create_app(settings)
    figures: dict[str, Figure] = {}
    async with app.router.lifespan_context(app):
        sent = [0]

        def count(*_a: Any) -> None:
            sent[0] += 1

        sa.event.listen(app.state.runtime.db.engine.sync_engine, "before_cursor_execute", count)
        admin = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://calls",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )

        async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = await admin.post(path, json=body)
            if response.status_code not in (200, 201):
                raise RuntimeError(f"POST {path}: {response.status_code} {response.text}")
            out: dict[str, Any] = response.json()
            return out

        for path, payload in SET_UP:
            await post(path, payload)
        operator = (await post("/v1/principals", OPERATOR))["token"]
        department = (await post("/v1/principals", DEPARTMENT_PRINCIPAL))["token"]
        await admin.aclose()
        await seed(common.pg_dsn(database), args.seed)
        settle_gc()  # as `hotline serve` does once started

        as_operator = {"authorization": f"Bearer {operator}", "content-type": "application/json"}
        as_department = {
            "authorization": f"Bearer {department}",
            "content-type": "application/json",
        }
        body = json.dumps(common.ticket_body(TOPIC), ensure_ascii=False).encode()
        created: list[str] = []

        async def create(_i: int) -> None:
            created.append(await new_ticket(app, "/v1/tickets", as_operator, body))

        async def healthz(_i: int) -> None:
            expect(*await asgi(app, "GET", "/healthz", {}), 200)

        async def get(i: int) -> None:
            target = f"/v1/tickets/{created[i % len(created)]}"
            expect(*await asgi(app, "GET", target, as_department), 200)

        async def page(_i: int) -> None:
            expect(*await asgi(app, "GET", LIST_PATH, as_department), 200)

        dispatched: list[str] = []

        async def accept(i: int) -> None:
            target = f"/v1/tickets/{dispatched[i]}/actions/accept"
            expect(*await asgi(app, "POST", target, as_department, b"{}"), 200)

        operations: dict[str, tuple[Call, int]] = {
            "healthz": (healthz, args.requests),
            "create": (create, args.requests),
            "get": (get, args.requests),
            "list": (page, max(args.requests // 4, 10)),
            "accept": (accept, args.requests),
        }
        for name, (call, requests) in operations.items():
            if args.only and name not in args.only:
                continue
            if name in ("get", "accept") and len(created) < 5 * requests:
                for i in range(5 * requests - len(created)):
                    await create(i)
            if name == "accept":
                dispatched[:] = created[-5 * requests :]  # each accepted once, never again
            figures[name] = await measure(
                call, requests, lambda: sent[0], args.dump if name in args.only else None
            )
            say(f"  hotline {name:<8} {figures[name]}")
    return figures


async def bare_figures(database: str, args: argparse.Namespace) -> dict[str, Figure]:
    os.environ["BARE_DSN"] = common.pg_dsn(database)
    from bench.bare_app import app

    return await post_get_figures(app, {"": "/tickets"}, "bare", args)


async def stack_figures(database: str, args: argparse.Namespace) -> dict[str, Figure]:
    """bench/stack_app.py's two ways through the chosen stack."""
    os.environ["STACK_URL"] = common.sqlalchemy_url(database)
    from bench.stack_app import app

    return await post_get_figures(
        app, {"orm ": "/orm/tickets", "core ": "/core/tickets"}, "stack", args
    )


async def post_get_figures(
    app: Any, paths: dict[str, str], name: str, args: argparse.Namespace
) -> dict[str, Figure]:
    """A POST and a GET of each path's tickets, keyed ``<prefix>POST`` and ``<prefix>GET``."""
    figures: dict[str, Figure] = {}
    async with app.router.lifespan_context(app):
        headers = {"content-type": "application/json"}
        body = json.dumps(common.ticket_body(TOPIC), ensure_ascii=False).encode()
        for prefix, path in paths.items():
            created: list[str] = []

            async def post(_i: int, path: str = path, created: list[str] = created) -> None:
                created.append(await new_ticket(app, path, headers, body))

            async def get(i: int, path: str = path, created: list[str] = created) -> None:
                target = f"{path}/{created[i % len(created)]}"
                expect(*await asgi(app, "GET", target, {}), 200)

            for op, call in (("POST", post), ("GET", get)):
                key = prefix + op
                figures[key] = await measure(call, args.requests, None, None)
                say(f"  {name:<7} {key:<8} {figures[key]}")
    return figures


COMPARED = {"create": "POST", "get": "GET", "list": "GET", "accept": "POST", "healthz": "GET"}


def table(ours: dict[str, Figure], bare: dict[str, Figure], stack: dict[str, Figure]) -> None:
    say("\n| request | Python calls | CPU ms | statements | calls vs bare | CPU vs bare |")
    say("|---|---:|---:|---:|---:|---:|")
    for name, figure in ours.items():
        base = bare[COMPARED[name]]
        sent = "" if figure.statements is None else f"{figure.statements:.1f}"
        say(
            f"| {name} | {figure.calls:,.0f} | {figure.cpu_ms:.2f} | {sent} | "
            f"{figure.calls / base.calls:.1f}x bare {COMPARED[name]} | "
            f"{figure.cpu_ms / base.cpu_ms:.1f}x |"
        )
    for name, figure in bare.items():
        say(f"| bare {name} | {figure.calls:,.0f} | {figure.cpu_ms:.2f} | | | |")
    for name, figure in stack.items():
        base = bare[name.split()[-1]]
        say(
            f"| stack {name} | {figure.calls:,.0f} | {figure.cpu_ms:.2f} | | "
            f"{figure.calls / base.calls:.1f}x bare {name.split()[-1]} | "
            f"{figure.cpu_ms / base.cpu_ms:.1f}x |"
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=600, help="per operation (600)")
    parser.add_argument("--seed", type=int, default=10_000, help="tickets seeded (10,000)")
    parser.add_argument("--only", default="", help="operations, e.g. create,get")
    parser.add_argument("--dump", default=None, help="cProfile stats of --only's operation")
    args = parser.parse_args(argv)
    args.only = [o for o in args.only.split(",") if o]
    if not 10 <= args.requests <= 100_000 or not 0 <= args.seed <= 2_000_000:
        parser.error("--requests in [10, 100,000], --seed in [0, 2,000,000]")
    if args.dump and len(args.only) != 1:
        parser.error("--dump needs exactly one operation in --only")
    return args


async def run(args: argparse.Namespace) -> int:
    database = await common.new_database("hotline_calls")
    if database is None:
        return 2
    try:
        say(f"database {database}; {args.requests} requests per operation, {CONCURRENCY} at a time")
        ours = await hotline_figures(database, args)
        bare = await bare_figures(database, args)
        stack = await stack_figures(database, args) if not args.only else {}
    finally:
        await common.drop_database(database)
    table(ours, bare, stack)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
