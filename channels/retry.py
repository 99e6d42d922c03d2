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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from channels.base import OutboundMessage, Receipt
from channels.errors import ChannelConfigError, DeliveryError, TransientError

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], datetime]
SendOne = Callable[[OutboundMessage], Awaitable["Sent"]]


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
    """One call of :func:`send_batch`: the semaphore and the configuration-error latch."""

    def __init__(self, send_one: SendOne, concurrency: int, policy: RetryPolicy) -> None:
        self.send_one = send_one
        self.semaphore = asyncio.Semaphore(concurrency)
        self.policy = policy
        self.config_error: ChannelConfigError | None = None

    async def attempt(self, message: OutboundMessage) -> Receipt:
        async with self.semaphore:
            if self.config_error is not None:
                return Receipt(message.message_id, error=self.config_error)
            try:
                sent = await self.send_one(message)
            except ChannelConfigError as exc:
                self.config_error = exc
                return Receipt(message.message_id, error=exc)
            except DeliveryError as exc:
                return Receipt(message.message_id, error=exc)
            return Receipt(message.message_id, sent.provider_id, segments=sent.segments)


async def send_batch(
    messages: Sequence[OutboundMessage],
    send_one: SendOne,
    *,
    concurrency: int,
    policy: RetryPolicy,
    sleep: Sleep = asyncio.sleep,
    rand: Callable[[], float] = random.random,
) -> list[Receipt]:
    """One receipt per message, in order; at most ``concurrency`` provider calls at once.

    The semaphore is held only during a provider call, never during a backoff wait.
    """
    batch = _Batch(send_one, concurrency, policy)

    async def one(message: OutboundMessage) -> Receipt:
        attempt = 0
        while True:
            receipt = await batch.attempt(message)
            error = receipt.error
            if not isinstance(error, TransientError) or attempt >= policy.max_retries:
                return receipt
            if error.retry_after is not None and error.retry_after > policy.max_wait:
                return receipt
            await sleep(policy.delay(attempt, error, rand))
            attempt += 1

    return list(await asyncio.gather(*(one(message) for message in messages)))
