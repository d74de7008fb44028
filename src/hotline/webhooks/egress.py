"""Outgoing connections for webhook deliveries that reach public addresses only (SSRF).

A receiver's name is resolved once per connection, every address it resolves to is
checked, and the connection goes to a checked address: a name that answers a public
address to a check and a private one to the connection (DNS rebinding) reaches nothing.
TLS still verifies the certificate against the URL's host name (httpcore starts TLS with
the origin's host, not the address connected to).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

from hotline.config import Settings
from hotline.webhooks.service import refused_address

Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, in the resolver's order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class PublicOnly(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that connects only to public addresses."""

    def __init__(self, resolver: Resolver = resolve) -> None:
        self._resolve = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await asyncio.wait_for(self._resolve(host, port), timeout)
        except (OSError, TimeoutError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        refused = [a for a in addresses if refused_address(a)]
        if refused or not addresses:
            raise httpcore.ConnectError(
                f"{host} resolves to a non-public address ({', '.join(refused) or 'none'})"
            )
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc  # the next address, as a resolver's order suggests
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks are delivered over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _PublicTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a pool that connects through :class:`PublicOnly`."""

    def __init__(self, limits: httpx.Limits, backend: PublicOnly) -> None:
        super().__init__(limits=limits)
        # httpx builds its pool without a way to name the network backend; the pool it
        # would build, with ours (httpcore's public constructor).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),  # SSL_CERT_FILE / _DIR as httpx reads them
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


LIMITS = httpx.Limits(max_connections=50, max_keepalive_connections=10)


def new_client(settings: Settings, resolver: Resolver = resolve) -> httpx.AsyncClient:
    """One client for all deliveries: redirects are never followed; unless
    HOTLINE_WEBHOOK_ALLOW_PRIVATE, only public addresses are reached, and no proxy from
    the environment is used (the check is on the connection itself)."""
    private = settings.webhook_allow_private
    transport = None if private else _PublicTransport(LIMITS, PublicOnly(resolver))
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.webhook_timeout),
        follow_redirects=False,
        limits=LIMITS,
        transport=transport,
    )
