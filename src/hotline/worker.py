"""The background work that runs in `hotline serve` (unless --no-worker) and in
`hotline worker`: the SLA sweep every HOTLINE_SWEEP_INTERVAL seconds, webhook
deliveries every HOTLINE_WEBHOOK_POLL_INTERVAL, and pruning old idempotency keys."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import date, datetime

import httpx
import structlog

from hotline import idempotency
from hotline.runtime import Runtime
from hotline.sla import sweeper
from hotline.sla.service import refresh_calendar, warn_missing_calendar
from hotline.webhooks.dispatcher import Dispatcher
from hotline.webhooks.egress import new_client

log = structlog.get_logger(__name__)
PRUNE_EVERY = 3600.0


class Worker:
    def __init__(
        self,
        runtime: Runtime,
        client: httpx.AsyncClient | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.runtime = runtime
        self.stop = stop or asyncio.Event()
        self._client = client
        self._last_prune: datetime | None = None
        self._calendar_day: date | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = new_client(self.runtime.settings)
        return self._client

    @property
    def dispatcher(self) -> Dispatcher:
        return Dispatcher(self.runtime, self.client)

    async def sweep(self) -> sweeper.SweepReport:
        # Calendar years entered through an API process since (a case's escalation and
        # every clock the sweep computes count on them), looked for every 30 s at most.
        async with self.runtime.db.reading() as session:
            await refresh_calendar(session, self.runtime)
        report = await sweeper.sweep(self.runtime)
        now = self.runtime.clock.now()
        today = now.date()
        if self._calendar_day != today:  # the missing-year warning, once a day
            self._calendar_day = today
            warn_missing_calendar(self.runtime.calendar, now, self.runtime.settings.timezone)
        if self._last_prune is None or (now - self._last_prune).total_seconds() >= PRUNE_EVERY:
            async with self.runtime.db.transaction() as session:
                await idempotency.prune(session, before=now - self.runtime.settings.idempotency_ttl)
            self._last_prune = now
        return report

    async def tick(self) -> sweeper.SweepReport:
        """One round of everything (tests call it directly): sweep, then deliver what is due."""
        report = await self.sweep()
        await self.dispatcher.drain()
        return report

    async def _loop(
        self, name: str, interval: float, step: Callable[[], Awaitable[object]]
    ) -> None:
        while not self.stop.is_set():
            try:
                await step()
            except Exception as exc:  # a failed round is retried on the next one
                log.error(f"{name}_failed", error_type=type(exc).__name__, exc_info=exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=interval)

    async def run(self) -> None:
        settings = self.runtime.settings
        log.info("worker_started", sweep_interval=settings.sweep_interval)
        try:
            await asyncio.gather(
                self._loop("sweep", settings.sweep_interval, self.sweep),
                self._loop("deliver", settings.webhook_poll_interval, self.dispatcher.drain),
            )
        finally:
            await self.close()
            log.info("worker_stopped")

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
