"""The project's own checks, part of the suite so that one command runs everything:
lint, types, the Dockerfile, the OpenAPI document, and the migration chain."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from hotline import migrate

from conftest import Env

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def tool(name: str) -> str:
    found = BIN / name
    if found.exists():
        return str(found)
    located = shutil.which(name)
    assert located is not None, f"{name} is not installed (pip install -e '.[test]')"
    return located


def test_ruff_lint_and_format() -> None:
    lint = run(tool("ruff"), "check", "src", "tests", "migrations", "bench")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = run(tool("ruff"), "format", "--check", "src", "tests", "migrations", "bench")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_mypy_strict() -> None:
    result = run(tool("mypy"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_passes_hadolint() -> None:
    result = run(tool("hadolint"), "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_openapi_document_matches_the_app(app_env: Env) -> None:
    committed = json.loads((ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8"))
    assert committed == app_env.app.openapi(), (
        "openapi/openapi.json is stale: run `hotline openapi > openapi/openapi.json`"
    )


async def assert_no_drift(url: str) -> None:
    """Alembic's autogenerate finds no difference between the database and the models."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:

            def check(sync_conn: object) -> None:
                config = migrate.alembic_config(url)
                config.attributes["connection"] = sync_conn
                command.check(config)

            await conn.run_sync(check)
    finally:
        await engine.dispose()


def test_every_api_write_declares_idempotency_key(app_env: Env) -> None:
    """API.md: keys cover every write of the API. Each POST, PUT, PATCH and DELETE under
    /v1 declares the header once (Open311 follows its specification, and the console's
    session is a login, not an API write)."""
    missing = [
        f"{method.upper()} {path}"
        for path, operations in app_env.app.openapi()["paths"].items()
        if path.startswith("/v1/")
        for method, operation in operations.items()
        if method in ("post", "put", "patch", "delete")
        and [p["name"] for p in operation.get("parameters", [])].count("Idempotency-Key") != 1
    ]
    assert missing == []


async def test_migrations_build_the_schema_of_the_models(database_url: str) -> None:
    """The session's database was built by upgrading from empty; autogenerate sees no drift."""
    assert await migrate.current(database_url) == migrate.head()
    await assert_no_drift(database_url)


async def test_upgrade_is_idempotent(database_url: str) -> None:
    await migrate.upgrade(database_url)
    assert await migrate.current(database_url) == migrate.head()


def revisions() -> list[str]:
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite+aiosqlite://"))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


@pytest.mark.parametrize("start", revisions())
async def test_upgrade_from_every_earlier_revision(start: str, tmp_path: Path) -> None:
    """A database left at any revision upgrades to head and matches the models."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'chain.db'}"
    await migrate.upgrade(url, start)
    assert await migrate.current(url) == start
    await migrate.upgrade(url)
    assert await migrate.current(url) == migrate.head()
    await assert_no_drift(url)


@pytest.mark.parametrize("name", ["README.md", "Dockerfile", ".ci/run", "alembic.ini"])
def test_project_files_exist(name: str) -> None:
    assert (ROOT / name).is_file()
