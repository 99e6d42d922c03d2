"""Send windows, time zones and business days (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from engine.core.calendar import SendCalendar, calendar_for
from sequences.model import Duration, Settings

PARIS = ZoneInfo("Europe/Paris")
FR = SendCalendar(zone=PARIS, holidays="FR")


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (paris(2026, 3, 2, 10, 0), paris(2026, 3, 2, 10, 0)),  # open: unchanged
        (paris(2026, 3, 2, 7, 0), paris(2026, 3, 2, 9, 0)),  # before the window
        (paris(2026, 3, 2, 17, 30), paris(2026, 3, 3, 9, 0)),  # the window is [from, to)
        (paris(2026, 3, 6, 18, 0), paris(2026, 3, 9, 9, 0)),  # Friday evening -> Monday
        (paris(2026, 4, 3, 18, 0), paris(2026, 4, 7, 9, 0)),  # Easter Monday is skipped
        (paris(2026, 12, 24, 20, 0), paris(2026, 12, 28, 9, 0)),  # Christmas, then a weekend
    ],
)
def test_next_open(at: datetime, expected: datetime) -> None:
    assert FR.next_open(at) == expected.astimezone(UTC)


@pytest.mark.parametrize(
    ("at", "duration", "expected"),
    [
        (paris(2026, 4, 2, 9, 0), "3 business days", paris(2026, 4, 8, 9, 0)),
        (paris(2026, 3, 6, 16, 0), "1 business days", paris(2026, 3, 9, 16, 0)),
        (paris(2026, 3, 6, 16, 0), "2 hours", paris(2026, 3, 9, 9, 0)),  # 18:00 is closed
        (paris(2026, 3, 2, 9, 0), "5 days", paris(2026, 3, 9, 9, 0)),  # Saturday -> Monday
        (paris(2026, 3, 2, 9, 0), "1 weeks", paris(2026, 3, 9, 9, 0)),
        (paris(2026, 3, 2, 9, 0), "30 minutes", paris(2026, 3, 2, 9, 30)),
    ],
)
def test_add(at: datetime, duration: str, expected: datetime) -> None:
    assert FR.add(at, Duration.parse(duration)) == expected.astimezone(UTC)


def test_daylight_saving_keeps_local_time() -> None:
    # Paris moves to summer time on Sunday 29 March 2026: 9:00 stays 9:00 local.
    friday = paris(2026, 3, 27, 9, 0)
    monday = FR.add(friday, Duration.parse("1 business days"))
    assert monday.astimezone(PARIS) == paris(2026, 3, 30, 9, 0)
    assert monday.hour == 7 and friday.astimezone(UTC).hour == 8


def test_calendar_for_talent_zone_and_fallback() -> None:
    settings = Settings.model_validate(
        {"default_timezone": "Europe/Paris",
         "send_window": {"days": ["mon", "sat"], "from": "08:00", "to": "12:00"}}
    )  # fmt: skip
    tokyo = calendar_for(settings, "Asia/Tokyo")
    assert tokyo.zone == ZoneInfo("Asia/Tokyo") and tokyo.days == frozenset({0, 5})
    assert (tokyo.start, tokyo.end) == (time(8, 0), time(12, 0))
    assert calendar_for(settings, None).zone == PARIS
    assert calendar_for(settings, "Not/AZone").zone == PARIS
    fixed = Settings.model_validate({"timezone": "America/New_York"})
    assert calendar_for(fixed, "Asia/Tokyo").zone == ZoneInfo("America/New_York")
