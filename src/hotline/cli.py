"""The `hotline` command: serve the API, migrate, issue tokens, print the OpenAPI document."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hotline import errors, jsonutil, logs
from hotline.auth.models import Role
from hotline.clock import SystemClock
from hotline.config import Settings

if TYPE_CHECKING:
    from hotline.db import Database
    from hotline.privacy.vault import Vault


def _explained(exc: Exception) -> str | None:
    """What an ops script's operator needs to read instead of a traceback, for the errors
    that come from the machine's setup rather than from hotline: the settings, the
    database's address, a database not migrated or not reachable."""
    from pydantic import ValidationError
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, ValidationError):
        wrong = "; ".join(
            f"HOTLINE_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        return f"a setting is not valid: {wrong}"
    if isinstance(exc, sa_exc.ArgumentError | ModuleNotFoundError):
        return f"HOTLINE_DATABASE_URL is not a database this release can use: {exc}"
    text = str(exc)
    if isinstance(exc, sa_exc.DBAPIError) and ("does not exist" in text or "no such table" in text):
        return "the database has no hotline tables yet: run `hotline migrate` first"
    if errors.unreachable(exc):
        return f"the database cannot be reached: {type(exc).__name__}: {exc}"
    return None


class _Commands(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            explained = _explained(exc)
            if explained is None:
                raise
            raise click.ClickException(explained.splitlines()[0]) from exc


@click.group(cls=_Commands)
def main() -> None:
    """Tickets for a grassroots petition hotline."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--no-worker", is_flag=True, help="Do not run the sweeper and webhook dispatcher here."
)
@click.option("--no-migrate", is_flag=True, help="Do not apply pending migrations at start-up.")
def serve(host: str, port: int, no_worker: bool, no_migrate: bool) -> None:
    """Run the HTTP API (and, unless --no-worker, the background workers)."""
    import uvicorn

    from hotline.app import create_app
    from hotline.migrate import upgrade

    settings = Settings()
    logs.configure(settings.log_level, json=settings.log_json)
    _vault(settings)  # a missing data key stops here, with the reason, before anything runs
    if not no_migrate:
        asyncio.run(upgrade(settings.database_url))
    app = create_app(settings, SystemClock(), run_workers=not no_worker, long_running=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


@main.command()
def worker() -> None:
    """Run the SLA sweeper (and webhook dispatcher) without the API; run as many as you like."""
    import signal

    from hotline.app import start_runtime
    from hotline.runtime import settle_gc
    from hotline.worker import Worker

    settings = Settings()
    logs.configure(settings.log_level, json=settings.log_json)
    _vault(settings)

    async def run() -> None:
        # Handled from the start: a stop asked for during start-up ends the worker cleanly.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        runtime = await start_runtime(settings, SystemClock())
        try:
            settle_gc()
            await Worker(runtime, stop=stop).run()
        finally:
            await runtime.db.dispose()

    asyncio.run(run())


@main.command()
def migrate() -> None:
    """Apply pending database migrations."""
    from hotline.migrate import current, upgrade

    settings = Settings()
    asyncio.run(upgrade(settings.database_url))
    click.echo(f"database at revision {asyncio.run(current(settings.database_url))}")


def _named(value: str) -> str:
    """A principal's name, as POST /v1/principals takes it: 1 to 200 characters."""
    name = value.strip()
    if not 1 <= len(name) <= 200:
        raise click.BadParameter("give 1 to 200 characters")
    return name


@main.group()
def token() -> None:
    """Principals' tokens."""


@token.command("create")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--name", required=True, callback=lambda _c, _p, v: _named(v))
@click.option("--department", "department_code", default=None, help="For role department.")
@click.option("--member", "member_id", default=None, help="For role member.")
def token_create(role: str, name: str, department_code: str | None, member_id: str | None) -> None:
    """Create a principal and print its token (shown once)."""
    from hotline.auth import service as auth
    from hotline.db import Database

    if role == Role.department and not department_code:
        raise click.UsageError("--department is required for role department")
    if role == Role.member and not member_id:
        raise click.UsageError("--member is required for role member")

    async def run() -> str:
        settings = Settings()
        db = Database(settings.database_url)
        now = SystemClock().now()
        try:
            async with db.transaction() as session:
                principal = await auth.create_principal(
                    session,
                    name=name,
                    role=Role(role),
                    now=now,
                    department_code=department_code,
                    member_id=member_id,
                )
                _, clear = await auth.issue_token(session, principal.id, now=now)
            return clear
        finally:
            await db.dispose()

    try:
        click.echo(asyncio.run(run()))
    except errors.ValidationFailed as exc:
        raise click.UsageError(exc.detail) from None


@main.command()
def openapi() -> None:
    """Print the OpenAPI document."""
    from hotline.app import create_app

    sys.stdout.write(json.dumps(create_app(Settings()).openapi(), indent=2, ensure_ascii=False))
    sys.stdout.write("\n")


@main.group()
def webhooks() -> None:
    """Webhook deliveries."""


@webhooks.command("replay")
@click.option("--since", required=True, help="RFC 3339 instant, e.g. 2026-11-20T00:00:00+08:00")
@click.option("--subscription", "subscription_id", default=None, help="Only this subscription.")
def webhooks_replay(since: str, subscription_id: str | None) -> None:
    """Deliver again every delivery created since SINCE (same webhook-id)."""
    import uuid
    from datetime import datetime

    from hotline.db import Database
    from hotline.webhooks import service as webhook_service
    from hotline.webhooks.models import WebhookSubscription

    try:
        start = datetime.fromisoformat(since)
        sub = uuid.UUID(subscription_id) if subscription_id else None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if start.tzinfo is None:
        raise click.UsageError("--since needs an offset, e.g. +08:00 or Z")

    async def run() -> int:
        settings = Settings()
        db = Database(settings.database_url)
        try:
            async with db.transaction() as session:
                if sub is not None and await session.get(WebhookSubscription, sub) is None:
                    raise click.UsageError(f"no webhook subscription {sub}")
                return await webhook_service.replay(
                    session, since=start, now=SystemClock().now(), subscription_id=sub
                )
        finally:
            await db.dispose()

    click.echo(f"{asyncio.run(run())} deliveries queued again")


def _vault(settings: Settings) -> Vault:
    from hotline.privacy import vault

    try:
        return vault.load(
            settings.data_key,
            settings.data_keys_old,
            settings.key_file,
            embedded=settings.is_sqlite,
        )
    except vault.DataKeyError as exc:
        raise click.ClickException(str(exc)) from None


def _in_batches(
    db: Database,
    label: str,
    count: Callable[[], Awaitable[int]],
    job: Callable[[Callable[[int], None]], Awaitable[int]] | None,
) -> tuple[int, int]:
    """``count()``, then ``job`` with a progress bar advanced by the counts it reports
    (None: count only), in one event loop, whose pool is closed at the end; returns
    (counted, done)."""
    from rich.progress import Progress

    async def run() -> tuple[int, int]:
        try:
            total = await count()
            if job is None:
                return total, 0
            with Progress(transient=False) as bar:
                task = bar.add_task(label, total=total)
                return total, await job(lambda n: bar.advance(task, n))
        finally:
            await db.dispose()

    return asyncio.run(run())


@main.group()
def keys() -> None:
    """Data keys for callers' data at rest."""


@keys.command("generate")
def keys_generate() -> None:
    """Print a new random data key (base64, 32 bytes) for HOTLINE_DATA_KEY."""
    from hotline.privacy.vault import new_key_text

    click.echo(new_key_text())


@keys.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt callers' data under HOTLINE_DATA_KEY (old keys in HOTLINE_DATA_KEYS_OLD).

    Works in batches, each committed: safe to interrupt and run again."""
    from hotline.db import Database
    from hotline.privacy import maintenance

    settings = Settings()
    vault = _vault(settings)
    db = Database(settings.database_url)

    async def count() -> int:
        return await maintenance.count_to_rotate(db, vault)

    async def job(progress: Callable[[int], None]) -> int:
        return await maintenance.rotate_keys(db, vault, progress)

    _, done = _in_batches(db, "re-encrypting", count, job)
    click.echo(f"re-encrypted {done} rows under key {vault.current_id}")


@main.group()
def pii() -> None:
    """Retention of callers' personal data."""


@pii.command("purge")
@click.option("--closed-before", required=True, help="A date (YYYY-MM-DD, in HOTLINE_TIMEZONE).")
@click.option("--dry-run", is_flag=True, help="Only count what would be anonymised.")
def pii_purge(closed_before: str, dry_run: bool) -> None:
    """Anonymise the callers of tickets closed before a date (statistics unchanged).

    Works in batches, each committed: safe to interrupt and run again."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from hotline.db import Database
    from hotline.privacy import maintenance

    settings = Settings()
    try:
        day = date.fromisoformat(closed_before)
    except ValueError:
        raise click.UsageError("--closed-before takes a date such as 2025-01-01") from None
    cutoff = datetime.combine(day, datetime.min.time(), ZoneInfo(settings.timezone))
    scope = maintenance.PurgeScope(closed_before=cutoff)
    db = Database(settings.database_url)

    async def count() -> int:
        return await maintenance.count_to_purge(db, scope)

    async def job(progress: Callable[[int], None]) -> int:
        return await maintenance.purge_callers(db, scope, SystemClock().now(), progress)

    total, done = _in_batches(db, "anonymising", count, None if dry_run else job)
    if dry_run:
        click.echo(f"{total} tickets closed before {day} would have their caller anonymised")
    else:
        click.echo(f"anonymised the callers of {done} tickets closed before {day}")


@main.group()
def calendar() -> None:
    """China's working-day calendar."""


@calendar.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--year",
    type=int,
    default=None,
    help="The year (default: the file's 'year', else the year of its dates).",
)
def calendar_import(file: Path, year: int | None) -> None:
    """Enter a year's schedule from FILE: PUT /v1/calendar/{year}'s body,
    {"holidays": [date], "workdays": [date]}, with an optional "year"."""
    from pydantic import ValidationError

    from hotline.db import Database
    from hotline.sla import service as sla
    from hotline.sla.calendar import WorkingCalendar
    from hotline.sla.router import YearIn

    try:
        data = json.loads(file.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.UsageError(f"{file} is not JSON text: {exc}") from None
    if not isinstance(data, dict):
        raise click.UsageError(
            f'{file} must hold an object: {{"holidays": [...], "workdays": [...]}}'
        )
    try:
        body = YearIn.model_validate(data)  # as PUT /v1/calendar/{year} reads it
    except ValidationError as exc:
        wrong = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise click.UsageError(f"{file}: {wrong}") from None
    holidays, workdays = body.holidays, body.workdays
    named = data.get("year")
    if named is not None and not isinstance(named, int):
        raise click.UsageError(f"{file}: year must be a number such as 2027")
    years = {d.year for d in (*holidays, *workdays)}
    year = year or named or (years.pop() if len(years) == 1 else None)
    if not isinstance(year, int):
        raise click.UsageError(
            "name the year with --year or a 'year' field in the file "
            "(its dates name no single year)"
        )

    async def run() -> None:
        settings = Settings()
        db = Database(settings.database_url)
        try:
            async with db.transaction() as session:
                await sla.configure_year(
                    session,
                    WorkingCalendar(settings.timezone),
                    year,
                    holidays,
                    workdays,
                    SystemClock().now(),
                )
        finally:
            await db.dispose()

    try:
        asyncio.run(run())
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(
        jsonutil.dumps_str({"year": year, "holidays": len(holidays), "workdays": len(workdays)})
    )
