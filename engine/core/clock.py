"""The injectable clock: everything that reads the time takes one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def fixed_clock(at: datetime) -> Clock:
    """A clock frozen at ``at`` (aware; naive values are taken as UTC)."""
    frozen = at if at.tzinfo else at.replace(tzinfo=UTC)
    return lambda: frozen


class ManualClock:
    """A clock that tests and the demo advance by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start if start.tzinfo else start.replace(tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def clock_from_option(value: str | None) -> Clock:
    """The clock for a CLI ``--now ISO`` option: frozen there, else the system clock."""
    if value is None:
        return system_clock
    try:
        return fixed_clock(datetime.fromisoformat(value))
    except ValueError as exc:
        from sequences.errors import InputError

        message = f"--now {value!r} is not an ISO date-time such as 2026-03-02T09:00"
        raise InputError(message) from exc
