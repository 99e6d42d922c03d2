"""The pooled httpx client the adapters build when none is injected.

httpcore's connection pool does work proportional to the *square* of its connections on
every request event (httpcore 1.0.x scans every connection for every queued request and,
for idle ones, counts them all again). With one large pool that CPU, not the provider,
bounds how fast a client sends. Several small pools behind one transport keep that cost
flat: :class:`ShardedTransport` gives each request to the least busy of
``ceil(connections / per_pool)`` pools of at most ``per_pool`` connections (5, the
cheapest size ``benchmarks/dispatch.py`` found; the figures are in benchmarks/README.md).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable

import httpx

from channels.errors import DeliveryError, InDoubtError, TransientError

# The request never left: no connection, or one that failed while the request was written
# (a provider does not act on a request it did not receive whole).
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteError,
             httpx.WriteTimeout, httpx.UnsupportedProtocol, httpx.ProxyError)  # fmt: skip


def transport_error(provider: str, exc: httpx.TransportError) -> DeliveryError:
    """What an httpx failure means for the message: retry it if the request never left;
    otherwise (read timeout, connection lost before the response) it may have been sent."""
    if isinstance(exc, _NOT_SENT):
        return TransientError(f"{provider} unreachable: {exc!r}", code="connect")
    if isinstance(exc, httpx.TimeoutException):
        return InDoubtError(f"{provider} did not answer in time: {exc!r}", code="timeout")
    return InDoubtError(f"{provider} closed the connection before answering: {exc!r}",
                        code="transport")  # fmt: skip


class _ReleasingStream(httpx.AsyncByteStream):
    """A response body that frees its pool slot once read and closed."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            self._release()


class ShardedTransport(httpx.AsyncBaseTransport):
    """``connections`` keep-alive connections split over small httpcore pools."""

    def __init__(self, connections: int, *, per_pool: int = 5) -> None:
        count = max(1, math.ceil(connections / per_pool))
        size = math.ceil(connections / count)
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        tls = httpx.create_ssl_context()  # one certificate store for every pool
        self._pools = [httpx.AsyncHTTPTransport(limits=limits, verify=tls) for _ in range(count)]
        self._busy = [0] * count

    @property
    def pools(self) -> int:
        return len(self._pools)

    def _releaser(self, index: int) -> Callable[[], None]:
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._busy[index] -= 1

        return release

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = min(range(len(self._pools)), key=self._busy.__getitem__)
        self._busy[index] += 1
        release = self._releaser(index)
        try:
            response = await self._pools[index].handle_async_request(request)
        except BaseException:
            release()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_ReleasingStream(response.stream, release),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


def pooled_client(connections: int, timeout: float) -> httpx.AsyncClient:
    """An AsyncClient for a provider API: ``connections`` kept alive, one timeout."""
    return httpx.AsyncClient(
        transport=ShardedTransport(connections), timeout=httpx.Timeout(timeout)
    )
