"""The benchmarks, short. The scale-out proof (bench/scale.py --seconds 5: two API
processes, two workers, one killed with SIGKILL) must find every check passing, and
bench/calls.py must measure every operation. PostgreSQL only: the first is about several
processes sharing one PostgreSQL, which the embedded SQLite does not offer."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_postgres

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_two_apis_two_workers_one_killed_lose_and_double_nothing() -> None:
    asyncio.run(require_postgres("the scale-out check is NOT run"))
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scale.py"), "--seconds", "5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-4000:]
    assert result.stdout.count("PASS ") == 6, result.stdout


def test_calls_benchmark_runs_and_reports_every_operation() -> None:
    """bench/calls.py, short: both apps answer every operation (it raises on any other
    status) and the table has a row per operation. PostgreSQL only, as the benchmark is."""
    asyncio.run(require_postgres("bench/calls.py is NOT run"))
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "calls.py"), "--requests", "10", "--seed", "100"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-4000:]
    rows = [line.split("|")[1].strip() for line in result.stdout.splitlines() if line[:2] == "| "]
    assert rows[1:] == ["healthz", "create", "get", "list", "accept", "bare POST", "bare GET"]
