"""The shared resources of one running service, built in the app's lifespan."""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from datetime import datetime

from hotline.auth.service import Actor
from hotline.clock import Clock
from hotline.config import Settings
from hotline.db import Database
from hotline.limiter import RateLimiter
from hotline.privacy.vault import Vault
from hotline.sla.calendar import WorkingCalendar


@dataclass
class Runtime:
    settings: Settings
    db: Database
    clock: Clock
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    keys: Vault | None = None
    # When this process last looked for calendar years entered elsewhere, and the newest seen.
    calendar_checked: float = 0.0
    calendar_seen: datetime | None = None
    limiter: RateLimiter | None = None
    # Verified tokens, briefly: token hash -> (actor, monotonic time the entry lapses,
    # the token's own expiry, checked against the service's clock).
    tokens: dict[str, tuple[Actor, float, datetime | None]] = field(default_factory=dict)

    @property
    def vault(self) -> Vault:
        if self.keys is None:
            raise RuntimeError("no data key loaded: build the runtime with start_runtime()")
        return self.keys


# A request allocates thousands of short-lived objects (rows, dicts, SQLAlchemy state): with
# CPython's default first threshold (700) the collector ran dozens of times per request and
# walked the start-up objects again each time it reached the older generations.
GC_THRESHOLDS = (20_000, 50, 100)


def settle_gc() -> None:
    """Once a long-running process has started (modules, app, runtime built): move what exists
    now out of the collector's sight for good (``gc.freeze``) and collect less often. Not for
    tests, which build many apps in one process."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
