"""Applying the Alembic migrations from code, once even when replicas start together."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from hotline.db import lock_key

MIGRATION_LOCK = lock_key("hotline", "migrate")
LOCK_POLL_SECONDS = 0.2


def migrations_dir() -> Path:
    packaged = Path(__file__).parent / "migrations"  # inside an installed wheel
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "migrations"  # a source checkout


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head(url: str = "sqlite+aiosqlite://") -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


async def _lock(conn: AsyncConnection) -> None:
    """Take the migration lock, polling. A blocked ``pg_advisory_lock`` would hold a
    snapshot while it waits, and ``CREATE INDEX CONCURRENTLY`` in the holder's migration
    waits for every older snapshot to end: PostgreSQL reports a deadlock. Between tries
    this connection is idle, outside any transaction."""
    while True:
        taken = (
            await conn.execute(sa.select(sa.func.pg_try_advisory_lock(MIGRATION_LOCK)))
        ).scalar_one()
        await conn.commit()
        if taken:
            return
        await asyncio.sleep(LOCK_POLL_SECONDS)


async def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade to ``revision``. On PostgreSQL a session advisory lock makes
    replicas that start together wait for the first, then find nothing to do."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                await _lock(conn)
            try:
                await conn.run_sync(_upgrade, url, revision)
                await conn.commit()
            finally:
                if conn.dialect.name == "postgresql":
                    await conn.execute(sa.select(sa.func.pg_advisory_unlock(MIGRATION_LOCK)))
                    await conn.commit()
    finally:
        await engine.dispose()


def _upgrade(connection: Connection, url: str, revision: str) -> None:
    config = alembic_config(url)
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def current(url: str) -> str | None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda c: MigrationContext.configure(c).get_current_revision()
            )
    finally:
        await engine.dispose()
