"""Send windows, time zones and business days: when a message may go out. Pure, no I/O.

A :class:`SendCalendar` is one talent's view of a sequence's settings: the zone the talent
lives in, the send window's days and hours, and the public holidays of the configured
country. Every instant it returns is an aware UTC datetime.

Rules:
- ``next_open(at)``: ``at`` itself when inside the window on a business day, else the next
  window opening.
- ``add(at, duration)``: ``minutes``/``hours``/``days``/``weeks`` are added as elapsed time;
  ``business days`` move the local date forward over business days only (window days that
  are not holidays), keeping the local time of day. Either way the result is then moved
  into the send window with ``next_open``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

from sequences.model import WEEKDAYS, Duration, Settings

_SEARCH_DAYS = 400  # a window with at least one day always opens within a year


@lru_cache(maxsize=64)
def _holidays(spec: str) -> holidays_lib.HolidayBase:
    country, _, subdivision = spec.partition("-")
    return holidays_lib.country_holidays(country.upper(), subdiv=subdivision or None)


@lru_cache(maxsize=512)
def zone(name: str | None, default: str = "UTC") -> ZoneInfo:
    """The zone called ``name``, else ``default`` (unknown or empty names fall back)."""
    for candidate in (name, default):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


@dataclass(frozen=True)
class SendCalendar:
    """When messages may go out for one talent."""

    zone: ZoneInfo
    days: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    start: time = time(9, 0)
    end: time = time(17, 30)
    holidays: str | None = None  # ISO country, optionally "-SUBDIVISION"

    def is_business_day(self, day: date) -> bool:
        if day.weekday() not in self.days:
            return False
        return self.holidays is None or day not in _holidays(self.holidays)

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.zone)

    def _at(self, day: date, moment: time) -> datetime:
        return datetime.combine(day, moment, self.zone).astimezone(UTC)

    def is_open(self, at: datetime) -> bool:
        local = self.local(at)
        return self.is_business_day(local.date()) and self.start <= local.time() < self.end

    def next_open(self, at: datetime) -> datetime:
        """``at`` when the window is open then, else the next opening of the window."""
        if self.is_open(at):
            return at.astimezone(UTC)
        local = self.local(at)
        day = local.date()
        if local.time() >= self.start:
            day += timedelta(days=1)
        for _ in range(_SEARCH_DAYS):
            if self.is_business_day(day):
                return self._at(day, self.start)
            day += timedelta(days=1)
        raise ValueError("the send window never opens")  # pragma: no cover - days is non-empty

    def add_business_days(self, at: datetime, count: int) -> datetime:
        local = self.local(at)
        day, moved = local.date(), 0
        while moved < count:
            day += timedelta(days=1)
            moved += self.is_business_day(day)
        return datetime.combine(day, local.time().replace(tzinfo=None), self.zone).astimezone(UTC)

    def add(self, at: datetime, duration: Duration) -> datetime:
        """``at`` plus ``duration`` in this talent's time, moved into the send window."""
        if duration.unit == "business days":
            return self.next_open(self.add_business_days(at, duration.amount))
        step = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}[duration.unit]
        return self.next_open(at + timedelta(seconds=step * duration.amount))


def calendar_for(settings: Settings, talent_timezone: str | None) -> SendCalendar:
    """The calendar of a sequence's ``settings`` for a talent living in ``talent_timezone``."""
    name = talent_timezone if settings.timezone == "talent" else settings.timezone
    window = settings.send_window
    return SendCalendar(
        zone=zone(name, settings.default_timezone),
        days=frozenset(WEEKDAYS.index(day) for day in window.days),
        start=window.from_,
        end=window.to,
        holidays=settings.holidays,
    )
