"""Per-principal rate limits (the `limits` package): in memory by default, shared across
processes through Redis with HOTLINE_RATE_LIMIT_STORAGE=redis://..."""

from __future__ import annotations

import math
import time

import limits
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from hotline import errors


def _async_uri(uri: str) -> str:
    return uri if uri.startswith("async+") else f"async+{uri}"


class RateLimiter:
    def __init__(self, limit: str, storage_uri: str) -> None:
        try:
            self.item = limits.parse(limit)
        except ValueError as exc:
            raise ValueError(f"HOTLINE_RATE_LIMIT {limit!r}: {exc}") from None
        uri = _async_uri(storage_uri)
        # Redis through redis-py (a dependency already), not limits' default coredis.
        options = {"implementation": "redispy"} if "redis" in uri.split("://", 1)[0] else {}
        self.storage = storage_from_string(uri, **options)
        self.strategy = SlidingWindowCounterRateLimiter(self.storage)

    async def aclose(self) -> None:
        """Close a Redis connection pool, if the storage has one."""
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        if client is not None and hasattr(client, "aclose"):
            await client.aclose()

    async def check(self, principal: str) -> None:
        """Count one request; 429 with Retry-After once the principal is over its limit."""
        if await self.strategy.hit(self.item, "principal", principal):
            return
        stats = await self.strategy.get_window_stats(self.item, "principal", principal)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise errors.RateLimited(
            f"More than {self.item} requests; retry in {retry_after} s.", retry_after
        )
