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


def run_bench(script: str, *args: str, timeout: float, missing: str) -> str:
    """Run ``bench/<script>`` on PostgreSQL (skipped without it, failed under CI); its
    standard output, once it has exited 0."""
    asyncio.run(require_postgres(missing))
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-4000:]
    return result.stdout


@pytest.mark.slow
def test_two_apis_two_workers_one_killed_lose_and_double_nothing() -> None:
    out = run_bench(
        "scale.py", "--seconds", "5", timeout=170, missing="the scale-out check is NOT run"
    )
    assert out.count("PASS ") == 6, out


def test_calls_benchmark_runs_and_reports_every_operation() -> None:
    """bench/calls.py, short: the three apps answer every operation (it raises on any other
    status) and the table has a row per operation. PostgreSQL only, as the benchmark is."""
    out = run_bench(
        "calls.py",
        "--requests",
        "10",
        "--seed",
        "100",
        timeout=120,
        missing="bench/calls.py is NOT run",
    )
    rows = [line.split("|")[1].strip() for line in out.splitlines() if line[:2] == "| "]
    assert rows[1:] == [
        *("healthz", "create", "get", "list", "accept", "bare POST", "bare GET"),
        *("stack orm POST", "stack orm GET", "stack core POST", "stack core GET"),
    ]
