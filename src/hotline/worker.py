"""The background loop that runs in `hotline serve` (unless --no-worker) and `hotline worker`:
every HOTLINE_SWEEP_INTERVAL seconds it sweeps SLA timers and prunes old idempotency keys."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

import structlog

from hotline import idempotency
from hotline.runtime import Runtime
from hotline.sla import sweeper

log = structlog.get_logger(__name__)
PRUNE_EVERY = 3600.0


class Worker:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.stop = asyncio.Event()
        self._last_prune: datetime | None = None

    async def tick(self) -> sweeper.SweepReport:
        """One round of background work (tests call it directly)."""
        report = await sweeper.sweep(self.runtime)
        now = self.runtime.clock.now()
        if self._last_prune is None or (now - self._last_prune).total_seconds() >= PRUNE_EVERY:
            async with self.runtime.db.transaction() as session:
                await idempotency.prune(session, before=now - self.runtime.settings.idempotency_ttl)
            self._last_prune = now
        return report

    async def run(self) -> None:
        interval = self.runtime.settings.sweep_interval
        log.info("worker_started", interval=interval)
        while not self.stop.is_set():
            try:
                await self.tick()
            except Exception as exc:  # a failed round is retried on the next one
                log.error("worker_round_failed", error_type=type(exc).__name__, exc_info=exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=interval)
        log.info("worker_stopped")
