"""Helpers shared by the benchmarks in this folder: a throw-away PostgreSQL database,
processes on free 127.0.0.1 ports, readiness waits, peak RSS from /proc, and a small
synchronous admin client that sets up departments, rules, principals and subscriptions.

Nothing here sends traffic anywhere but 127.0.0.1.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HOTLINE = str(BIN / "hotline")
PG_HOST = os.environ.get("HOTLINE_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("HOTLINE_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("HOTLINE_TEST_PG_USER", "postgres")
PG_ADMIN_DB = os.environ.get("HOTLINE_TEST_PG_DATABASE", "test")
LOCAL = "127.0.0.1"


def say(*parts: object) -> None:
    """One line on stdout, flushed (the benchmarks report as they go)."""
    sys.stdout.write(" ".join(str(p) for p in parts) + "\n")
    sys.stdout.flush()


# -- PostgreSQL ----------------------------------------------------------------------


def pg_dsn(database: str) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


def sqlalchemy_url(database: str) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


async def pg_problem() -> str | None:
    """Why PostgreSQL cannot be used (None when it answers)."""
    try:
        conn = await asyncpg.connect(pg_dsn(PG_ADMIN_DB), timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


async def create_database(prefix: str) -> str:
    """A new, empty database named ``<prefix>_<pid>_<random>``."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    conn = await asyncpg.connect(pg_dsn(PG_ADMIN_DB))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def new_database(prefix: str) -> str | None:
    """A new database for one benchmark run (``create_database``), or None after saying why
    PostgreSQL cannot be used."""
    problem = await pg_problem()
    if problem is not None:
        say(f"PostgreSQL is not reachable ({problem})")
        return None
    return await create_database(prefix)


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(pg_dsn(PG_ADMIN_DB))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def new_data_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def hotline_env(database: str, admin_token: str, data_key: str, **extra: str) -> dict[str, str]:
    """The environment of a ``hotline`` process on ``database`` (HOTLINE_* from the caller's
    environment are dropped so that a developer's settings do not leak into a run)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(
        HOTLINE_DATABASE_URL=sqlalchemy_url(database),
        HOTLINE_BOOTSTRAP_TOKEN=admin_token,
        HOTLINE_DATA_KEY=data_key,
        HOTLINE_WEBHOOK_ALLOW_PRIVATE="true",
        HOTLINE_LOG_LEVEL="INFO",
        HOTLINE_LOG_JSON="true",
    )
    env.update(extra)
    return env


# -- processes -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOCAL, 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    """A child process whose output goes to a log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def base(self) -> str:
        return f"http://{LOCAL}:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def start(
    name: str,
    argv: Sequence[str],
    env: dict[str, str],
    log_dir: Path,
    *,
    port: int | None = None,
    cwd: Path = ROOT,
) -> Proc:
    log_path = log_dir / f"{name}.log"
    log = log_path.open("wb")
    try:
        popen = subprocess.Popen(list(argv), env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()  # the child holds its own descriptor
    return Proc(name, popen, log_path, port)


def wait_ready(proc: Proc, path: str = "/healthz", timeout: float = 60.0) -> None:
    """Poll ``path`` until it answers 200 (bounded); raise with the log's tail otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited early:\n{proc.log_tail()}")
        try:
            if httpx.get(proc.base + path, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} was not ready within {timeout:.0f} s:\n{proc.log_tail()}")


def stop(proc: Proc, timeout: float = 20.0) -> None:
    """SIGTERM, then SIGKILL if it does not go within ``timeout``."""
    if proc.popen.poll() is not None:
        return
    proc.popen.send_signal(signal.SIGTERM)
    try:
        proc.popen.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.popen.kill()
        proc.popen.wait(timeout=timeout)


@contextmanager
def stopping(procs: list[Proc]) -> Iterator[list[Proc]]:
    """Stop every process in ``procs`` (as it is when the block ends), last started first."""
    try:
        yield procs
    finally:
        for proc in reversed(procs):
            stop(proc)


def proc_status(pid: int, field_name: str) -> int | None:
    """A ``kB`` field of /proc/<pid>/status (VmHWM, VmRSS) in bytes."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used (from /proc/<pid>/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0, writing 5 to clear_refs)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def mib(n: int | None) -> str:
    return "?" if n is None else f"{n / 1048576:.0f} MiB"


# -- setting up through the API ------------------------------------------------------


@dataclass
class Admin:
    """A synchronous client speaking as the bootstrap admin (set-up only)."""

    base: str
    token: str
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )

    def close(self) -> None:
        self.client.close()

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(path, json=body)
        if response.status_code not in (200, 201):
            raise RuntimeError(f"POST {path}: {response.status_code} {response.text}")
        out: dict[str, Any] = response.json()
        return out

    def department(self, code: str, name: str) -> None:
        self.post("/v1/departments", {"code": code, "name": name, "platform": "convenience"})

    def rule(self, **fields: Any) -> str:
        return str(self.post("/v1/routing-rules", fields)["id"])

    def principal(self, role: str, name: str, **fields: Any) -> str:
        return str(self.post("/v1/principals", {"name": name, "role": role, **fields})["token"])

    def subscription(self, url: str, events: list[str]) -> dict[str, Any]:
        return self.post("/v1/webhook-subscriptions", {"url": url, "events": events})


def ticket_body(topic: str, n: int = 0, external_ref: str | None = None) -> dict[str, Any]:
    """A petition as an operator registers it (a real-looking caller, Chinese text)."""
    body: dict[str, Any] = {
        "kind": "petition",
        "channel": "hotline",
        "category": "help",
        "topic": topic,
        "content": f"水管破裂,请尽快处理 (bench {n})",
        "caller": {"name": "张三", "phone": "13800000000"},
        "location": {"grid": "G-07", "address": "幸福路1号"},
    }
    if external_ref is not None:
        body["external_ref"] = external_ref
    return body
