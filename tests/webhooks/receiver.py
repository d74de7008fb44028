"""A real HTTP receiver on 127.0.0.1 for webhook tests, scripted answer by answer."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.responses import Response


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str = ""
    received: list[Received] = field(default_factory=list)
    # Answers to give, in order: a status, or (status, headers); then 204 for ever.
    script: list[Any] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=dict)
    overlaps: int = 0
    delay: float = 0.0

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        body = await request.body()
        msg_id = request.headers.get("webhook-id", "")
        self.in_flight[msg_id] = self.in_flight.get(msg_id, 0) + 1
        if self.in_flight[msg_id] > 1:
            self.overlaps += 1
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            self.received.append(Received(dict(request.headers), body))
            answer = self.script.pop(0) if self.script else 204
            status, headers = answer if isinstance(answer, tuple) else (answer, {})
            await Response(status_code=status, headers=headers)(scope, receive, send)
        finally:
            self.in_flight[msg_id] -= 1


@asynccontextmanager
async def running_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    receiver.url = f"http://127.0.0.1:{port}/hook"
    server = uvicorn.Server(
        uvicorn.Config(receiver.app, log_level="error", lifespan="off", interface="asgi3")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield receiver
    finally:
        server.should_exit = True
        await task
        sock.close()
