"""Admission: at most so many requests at work at once, the rest served in arrival order.

Every request that reads or writes holds a pooled database connection, and a create a
second one for a moment (the day's ticket counter). SQLAlchemy's async pool waits on an
``asyncio.Queue``, which lets a newcomer take a returned connection ahead of a request
already waiting; under sustained overload (more requests in flight than connections) a
few requests lost that race again and again and waited seconds while the median stayed
at tens of milliseconds. Here requests queue on an ``asyncio.Semaphore`` instead, which
serves waiters first come, first served, and the pool (``HOTLINE_DB_POOL_SIZE`` plus as
many again as overflow) always has a connection for each admitted request, its second
one included, so nobody waits on the pool.

It sits inside the input guard, which reads a request's whole body first: a client that
trickles its body in holds no slot meanwhile.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

# Answered without the database: never queued behind work.
UNGATED = frozenset({"/healthz", "/metrics"})


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.slots = asyncio.Semaphore(limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNGATED:
            await self.app(scope, receive, send)
            return
        async with self.slots:
            await self.app(scope, receive, send)
