"""Sending a batch: bounded concurrency, retries of transient errors with backoff and jitter.

Every adapter hands :func:`send_batch` a coroutine that sends one message and returns the
provider id (raising a channel error otherwise). ``send_batch`` never raises for a message:
each failure ends up in that message's :class:`Receipt`. After a configuration error the
messages not yet started are not attempted (they get the same error): a rejected key must
not burn the queue.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Generic, Protocol, TypeVar

import httpx

from channels.base import OutboundMessage, Receipt
from channels.errors import ChannelConfigError, DeliveryError, TransientError
from channels.transport import pooled_client

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], datetime]
_SendOne = Callable[[OutboundMessage], Awaitable["Sent"]]


@dataclass(frozen=True)
class Sent:
    """What one successful provider call returns."""

    provider_id: str | None
    segments: int | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` retries after the first attempt; waits are capped by ``max_wait``.

    A provider asking for a longer wait (Retry-After) than ``max_wait`` gets no retry here:
    the receipt carries the TransientError and its ``retry_after`` for the engine.
    """

    max_retries: int = 3
    base_delay: float = 0.5
    max_wait: float = 30.0

    def delay(self, attempt: int, error: TransientError, rand: Callable[[], float]) -> float:
        """The wait before retry number ``attempt + 1``: Retry-After, else full-jitter backoff."""
        if error.retry_after is not None:
            return error.retry_after + rand() * self.base_delay
        return min(self.max_wait, self.base_delay * 2.0**attempt) * (0.5 + rand() / 2)


def utcnow() -> datetime:
    return datetime.now(UTC)


def retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date) or ``X-RateLimit-Reset``."""
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value:
        value = value.strip()
        if value.replace(".", "", 1).isdigit():
            return float(value)
        try:
            return max(0.0, (parsedate_to_datetime(value) - now).total_seconds())
        except (TypeError, ValueError):
            return None
    reset = headers.get("x-ratelimit-reset") or headers.get("X-RateLimit-Reset")
    if reset and reset.strip().isdigit():
        return max(0.0, int(reset) - now.timestamp())
    return None


class _Batch:
    """One call of :func:`send_batch`: the queue, the receipts, the configuration-error latch."""

    def __init__(
        self,
        messages: Sequence[OutboundMessage],
        send_one: _SendOne,
        policy: RetryPolicy,
        sleep: Sleep,
        rand: Callable[[], float],
        slots: Slots,
    ) -> None:
        self.messages, self.send_one, self.policy, self.slots = messages, send_one, policy, slots
        self.sleep, self.rand = sleep, rand
        self.receipts: list[Receipt | None] = [None] * len(messages)
        self.left = len(messages)
        self.finished = asyncio.Event()
        self.queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()  # (index, attempt)
        for index in range(len(messages)):
            self.queue.put_nowait((index, 0))
        self.config_error: ChannelConfigError | None = None
        self.backoffs: set[asyncio.Task[None]] = set()

    def settle(self, index: int, receipt: Receipt) -> None:
        self.receipts[index], self.left = receipt, self.left - 1
        if self.left == 0:
            self.finished.set()

    def failed(self, index: int, attempt: int, error: DeliveryError) -> None:
        """Retry a transient error after its backoff, or settle the message with it."""
        if (
            isinstance(error, TransientError)
            and attempt < self.policy.max_retries
            and (error.retry_after is None or error.retry_after <= self.policy.max_wait)
        ):
            wait = self.policy.delay(attempt, error, self.rand)
            task = asyncio.create_task(self._requeue(index, attempt + 1, wait))
            self.backoffs.add(task)
            task.add_done_callback(self.backoffs.discard)
        else:
            self.settle(index, Receipt(self.messages[index].message_id, error=error))

    async def _requeue(self, index: int, attempt: int, wait: float) -> None:
        await self.sleep(wait)
        self.queue.put_nowait((index, attempt))

    async def worker(self) -> None:
        while True:
            index, attempt = await self.queue.get()
            message = self.messages[index]
            if self.config_error is not None:  # a rejected key must not burn the queue
                self.settle(index, Receipt(message.message_id, error=self.config_error))
                continue
            try:
                async with self.slots():
                    sent = await self.send_one(message)
            except ChannelConfigError as exc:
                self.config_error = exc
                self.settle(index, Receipt(message.message_id, error=exc))
            except DeliveryError as exc:
                self.failed(index, attempt, exc)
            else:
                receipt = Receipt(message.message_id, sent.provider_id, segments=sent.segments)
                self.settle(index, receipt)

    async def run(self, concurrency: int) -> list[Receipt]:
        count = min(concurrency, len(self.messages))
        workers = [asyncio.create_task(self.worker()) for _ in range(count)]
        waiter = asyncio.create_task(self.finished.wait())
        try:
            done, _ = await asyncio.wait([waiter, *workers], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a worker ends only by raising: a bug, not a delivery error
        finally:
            for task in (waiter, *workers, *self.backoffs):
                task.cancel()
            await asyncio.gather(waiter, *workers, *self.backoffs, return_exceptions=True)
        return [receipt for receipt in self.receipts if receipt is not None]


async def send_batch(
    messages: Sequence[OutboundMessage],
    send_one: _SendOne,
    *,
    concurrency: int,
    policy: RetryPolicy,
    sleep: Sleep = asyncio.sleep,
    rand: Callable[[], float] = random.random,
    slots: Slots | None = None,
) -> list[Receipt]:
    """One receipt per message, in order; at most ``concurrency`` provider calls at once,
    or as many as ``slots`` (a channel's) allows across every batch it is sending.

    ``concurrency`` workers take the messages from one queue (a task per message would cost
    more than many a request); a transient failure goes back to the queue after its backoff,
    so no worker sits through a wait.
    """
    if not messages:
        return []
    slots = slots or Slots(concurrency)
    return await _Batch(messages, send_one, policy, sleep, rand, slots).run(concurrency)


class Slots:
    """A channel's limit of provider calls at once, shared by the batches it sends at the
    same time (the dispatcher's lanes): more calls than pooled connections only queue in
    the connection pool, whose bookkeeping grows with the queue.

    The slots are tokens in an ``asyncio.Queue``: taking one costs the same however many
    calls wait (``asyncio.Semaphore`` scans its waiters on every acquire in Python 3.11)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tokens: asyncio.Queue[None] = asyncio.Queue()

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a queue belongs to the loop it first waited in
            self._loop, self._tokens = loop, asyncio.Queue()
            for _ in range(self.limit):
                self._tokens.put_nowait(None)
        await self._tokens.get()
        try:
            yield
        finally:
            self._tokens.put_nowait(None)


class _Tuning(Protocol):
    """The settings a :class:`RetryingChannel` is tuned by (each provider's own model)."""

    @property
    def concurrency(self) -> int: ...
    @property
    def timeout(self) -> float: ...
    @property
    def max_retries(self) -> int: ...
    @property
    def max_retry_wait(self) -> float: ...


_T = TypeVar("_T", bound=_Tuning)


class RetryingChannel(Generic[_T]):
    """What a channel sending one HTTP request per message shares: its ``settings``, the
    pooled client (closed by :meth:`aclose` only when the channel built it; tests inject
    theirs), and :meth:`send` through :func:`send_batch` within the settings' concurrency
    and retries. A subclass sends one message in ``_send_one``, raising a channel error
    when it did not go out."""

    def __init__(
        self,
        settings: _T,
        client: httpx.AsyncClient | None = None,
        *,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = utcnow,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self._owns_client = client is None
        self._http = client or pooled_client(settings.concurrency, settings.timeout)
        self._slots = Slots(settings.concurrency)  # shared by the batches sent at once
        self._policy = RetryPolicy(settings.max_retries, max_wait=settings.max_retry_wait)
        self._sleep, self._clock, self._rand = sleep, clock, rand

    async def send(self, messages: Sequence[OutboundMessage]) -> list[Receipt]:
        return await send_batch(
            messages,
            self._send_one,
            concurrency=self.settings.concurrency,
            slots=self._slots,
            policy=self._policy,
            sleep=self._sleep,
            rand=self._rand,
        )

    async def _send_one(self, message: OutboundMessage) -> Sent:
        raise NotImplementedError

    async def aclose(self) -> None:
        if self._owns_client:
            await self._http.aclose()
