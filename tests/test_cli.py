"""The `hotline` command as ops scripts use it: real processes, real ports, real files."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import DATA_KEY, Env

ROOT = Path(__file__).resolve().parents[1]
HOTLINE = str(Path(sys.executable).parent / "hotline")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """Environment for a fresh embedded service in a temporary folder."""
    return {
        **os.environ,
        "HOTLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}",
        "HOTLINE_BOOTSTRAP_TOKEN": "cli-admin-token",
        "HOTLINE_SWEEP_INTERVAL": "0.2",
        "HOTLINE_LOG_LEVEL": "INFO",
    }


def run(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [HOTLINE, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture
def served(home: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [HOTLINE, "serve", "--port", str(port)],
        env=home,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail(
                "hotline serve did not become ready: " + (tmp_path / "serve.log").read_text()
            )
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        log.close()


def test_migrate_then_token_create(home: dict[str, str]) -> None:
    out = run(home, "migrate").stdout
    assert "database at revision" in out
    token = run(home, "token", "create", "--role", "operator", "--name", "接线员").stdout.strip()
    assert token.startswith("htl_")
    bad = run(home, "token", "create", "--role", "department", "--name", "x", check=False)
    assert bad.returncode != 0 and "--department" in bad.stderr


def test_serve_runs_the_api_and_the_sweeper(
    served: tuple[str, subprocess.Popen[str]], tmp_path: Path
) -> None:
    base, proc = served
    admin = {"Authorization": "Bearer cli-admin-token"}
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    r = httpx.post(
        f"{base}/v1/departments",
        headers=admin,
        json={"code": "water", "name": "供水", "platform": "convenience"},
    )
    assert r.status_code == 201, r.text
    httpx.post(
        f"{base}/v1/routing-rules",
        headers=admin,
        json={"topic": "water_supply", "department_code": "water", "callback_sla": "PT1S"},
    )
    t = httpx.post(
        f"{base}/v1/tickets",
        headers=admin,
        json={
            "kind": "petition",
            "channel": "hotline",
            "category": "help",
            "topic": "water_supply",
            "content": "停水",
            "caller": {"phone": "13800001111"},
        },
    ).json()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        got = httpx.get(f"{base}/v1/tickets/{t['id']}", headers=admin).json()
        if got["overdue"]:
            break
        time.sleep(0.3)
    assert got["overdue"] is True  # the worker inside `serve` breached the callback
    assert "data_key_generated" in (tmp_path / "serve.log").read_text()
    assert (tmp_path / "hotline.db.key").exists()
    assert oct((tmp_path / "hotline.db.key").stat().st_mode & 0o777) == "0o600"
    proc.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
    assert "worker_stopped" in (tmp_path / "serve.log").read_text()


def test_worker_runs_alone_and_stops_on_sigterm(home: dict[str, str]) -> None:
    run(home, "migrate")
    proc = subprocess.Popen(
        [HOTLINE, "worker"], env=home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    said: list[str] = []
    try:
        deadline = threading.Timer(30, proc.kill)  # a worker that never says it runs
        deadline.start()
        for line in proc.stdout:  # until it runs (or dies)
            said.append(line)
            if "worker_started" in line:
                break
        deadline.cancel()
        assert proc.poll() is None, "".join(said)
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
        out = "".join(said) + rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert "worker_started" in out and "worker_stopped" in out


def test_openapi_command_prints_the_committed_document(home: dict[str, str]) -> None:
    printed = json.loads(run(home, "openapi").stdout)
    committed = json.loads((ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8"))
    assert printed == committed


def test_calendar_import_and_keys_and_purge(home: dict[str, str], tmp_path: Path) -> None:
    run(home, "migrate")
    schedule = tmp_path / "2031.json"
    schedule.write_text(
        json.dumps({"year": 2031, "holidays": ["2031-01-01"], "workdays": ["2031-01-04"]})
    )
    out = run(home, "calendar", "import", str(schedule)).stdout
    assert json.loads(out) == {"year": 2031, "holidays": 1, "workdays": 1}
    # PUT /v1/calendar/{year}'s body as it is: the year is its dates'.
    body = tmp_path / "put-body.json"
    body.write_text(json.dumps({"holidays": ["2032-01-02"], "workdays": []}))
    out = run(home, "calendar", "import", str(body)).stdout
    assert json.loads(out) == {"year": 2032, "holidays": 1, "workdays": 0}
    body.write_text(json.dumps({"holidays": [], "workdays": []}))
    assert run(home, "calendar", "import", str(body), check=False).returncode != 0
    wrong = tmp_path / "bad.json"
    wrong.write_text(json.dumps({"year": 2031, "holidays": ["2030-12-31"]}))
    assert run(home, "calendar", "import", str(wrong), check=False).returncode != 0
    unknown = run(
        home,
        "token",
        "create",
        "--role",
        "department",
        "--department",
        "ghost",
        "--name",
        "x",
        check=False,
    )
    assert unknown.returncode != 0 and "unknown department 'ghost'" in unknown.stderr
    key = run(home, "keys", "generate").stdout.strip()
    assert len(key) == 44
    out = run(home, "pii", "purge", "--closed-before", "2026-01-01", "--dry-run").stdout
    assert "0 tickets" in out
    out = run(home, "keys", "rotate").stdout
    assert "re-encrypted 0 rows" in out
    out = run(home, "webhooks", "replay", "--since", "2026-01-01T00:00:00+08:00").stdout
    assert "0 deliveries" in out


def test_postgresql_without_a_data_key_refuses_to_start(home: dict[str, str]) -> None:
    env = {**home, "HOTLINE_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/none"}
    env.pop("HOTLINE_DATA_KEY", None)
    result = run(env, "serve", "--no-migrate", "--port", str(free_port()), check=False)
    assert result.returncode != 0
    assert "HOTLINE_DATA_KEY is not set" in result.stdout + result.stderr


async def test_batch_maintenance_runs_whole_on_both_databases(env: Env) -> None:
    """``pii purge`` and ``keys rotate`` count, then work, in one event loop: on PostgreSQL
    a pooled connection cannot pass from one loop to the next (they failed every time)."""
    environ = {
        **os.environ,
        "HOTLINE_DATABASE_URL": env.settings.database_url,  # emptied by the fixture
        "HOTLINE_DATA_KEY": DATA_KEY,
        "HOTLINE_LOG_LEVEL": "WARNING",
    }
    purge = ("pii", "purge", "--closed-before", "2000-01-01")
    for args, says in (
        ((*purge, "--dry-run"), "0 tickets closed before 2000-01-01 would have"),
        (purge, "anonymised the callers of 0 tickets"),
        (("keys", "rotate"), "re-encrypted 0 rows"),
    ):
        result = run(environ, *args)
        assert says in result.stdout, (args, result.stdout)
        assert "Traceback" not in result.stderr and "Exception" not in result.stderr, (
            args,
            result.stderr,
        )


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ({"HOTLINE_DATABASE_URL": "garbage"}, "HOTLINE_DATABASE_URL is not a database"),
        ({"HOTLINE_SWEEP_INTERVAL": "abc"}, "HOTLINE_SWEEP_INTERVAL"),
        ({"HOTLINE_TIMEZONE": "Mars/Base"}, "HOTLINE_TIMEZONE"),
        ({"HOTLINE_LOG_LEVEL": "LOUD"}, "HOTLINE_LOG_LEVEL"),
        ({"HOTLINE_RATE_LIMIT": "lots"}, "HOTLINE_RATE_LIMIT"),
    ],
)
def test_a_bad_setting_is_one_line_not_a_traceback(
    home: dict[str, str], setting: dict[str, str], says: str
) -> None:
    result = run({**home, **setting}, "migrate", check=False)
    assert result.returncode != 0
    assert says in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_a_database_not_migrated_says_so(home: dict[str, str]) -> None:
    for args in (("worker",), ("token", "create", "--role", "operator", "--name", "x")):
        result = run(home, *args, check=False)
        assert result.returncode != 0
        assert "run `hotline migrate` first" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr, result.stderr


def test_bad_files_and_arguments_are_usage_errors(home: dict[str, str], tmp_path: Path) -> None:
    """What an ops script gets wrong is named in one line (exit 2), never a traceback."""
    run(home, "migrate")
    bad = tmp_path / "bad.json"
    for content, says in (
        (b"{not json", "is not JSON text"),
        (b"[]", "must hold an object"),
        (b"\xff\xfe", "is not JSON text"),
        (b'{"holidays": "2027-01-01"}', "holidays"),
        (b'{"holidays": ["2027-13-01"]}', "holidays.0"),
        (b'{"year": "x", "holidays": ["2027-01-01"]}', "year must be a number"),
    ):
        bad.write_bytes(content)
        result = run(home, "calendar", "import", str(bad), check=False)
        assert result.returncode == 2 and says in result.stderr, (content, result.stderr)
        assert "Traceback" not in result.stderr
    result = run(home, "token", "create", "--role", "operator", "--name", " ", check=False)
    assert result.returncode == 2 and "1 to 200 characters" in result.stderr, result.stderr
    unknown = "00000000-0000-0000-0000-000000000000"
    result = run(
        home,
        "webhooks",
        "replay",
        "--since",
        "2026-01-01T00:00:00Z",
        "--subscription",
        unknown,
        check=False,
    )
    assert result.returncode == 2 and f"no webhook subscription {unknown}" in result.stderr
