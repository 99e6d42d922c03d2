"""Sending limits: per sender per hour and per day, per recipient domain per day, and the
workspace's frequency cap per talent across campaigns.

A touch is an outbox row claimed (sent, in flight or in doubt) inside the window. A message
over a limit is not dropped: it is deferred to the moment a slot frees up (the oldest touch
in the window plus the window's length); the caller moves that into the send window.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from engine.models import OutboxMessage
from sequences.model import Duration

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
TOUCHED = ("claimed", "sent", "in_doubt")


@dataclass(frozen=True)
class Limits:
    per_hour: int
    per_day: int
    per_domain_per_day: int
    cap_touches: int | None = None
    cap_per: timedelta | None = None


@dataclass
class Verdict:
    allowed: list[Row[Any]] = field(default_factory=list)
    deferred: dict[int, datetime] = field(default_factory=dict)  # row id -> not before


def as_timedelta(duration: Duration) -> timedelta:
    days = {"minutes": 1 / 1440, "hours": 1 / 24, "days": 1, "business days": 1, "weeks": 7}
    return timedelta(days=days[duration.unit] * duration.amount)


@dataclass
class _Window:
    """Touches inside a sliding window: how many, and when the oldest frees its slot."""

    limit: int
    length: timedelta
    count: int = 0
    oldest: datetime | None = None

    def full(self) -> bool:
        return self.count >= self.limit

    def next_slot(self, now: datetime) -> datetime:
        return (self.oldest or now) + self.length

    def take(self, now: datetime) -> None:
        self.count, self.oldest = self.count + 1, self.oldest or now


def _touches(
    session: Session, column: Any, keys: Iterable[Any], since: datetime, *where: Any
) -> dict[Any, tuple[int, datetime]]:
    query = (
        select(column, func.count(), func.min(OutboxMessage.claimed_at))
        .where(OutboxMessage.status.in_(TOUCHED), OutboxMessage.claimed_at > since, *where)
        .where(column.in_(list(set(keys))))
        .group_by(column)
    )
    return {key: (int(count), oldest) for key, count, oldest in session.execute(query)}


def _windows(
    session: Session, column: Any, keys: list[Any], limit: int, length: timedelta,
    now: datetime, *where: Any,
) -> dict[Any, _Window]:  # fmt: skip
    found = _touches(session, column, keys, now - length, *where)
    return {key: _Window(limit, length, *found.get(key, (0, None))) for key in set(keys)}


def screen(
    session: Session, rows: list[Row[Any]], sender: str, limits: Limits, *, now: datetime
) -> Verdict:
    """Split due rows (all from ``sender``) into those that may go now and those deferred."""
    mine = OutboxMessage.sender == sender
    hour = _windows(session, OutboxMessage.sender, [sender], limits.per_hour, HOUR, now)[sender]
    day = _windows(session, OutboxMessage.sender, [sender], limits.per_day, DAY, now)[sender]
    domains = _windows(session, OutboxMessage.domain, [r.domain for r in rows],
                       limits.per_domain_per_day, DAY, now, mine)  # fmt: skip
    talents: dict[Any, _Window] = {}
    if limits.cap_touches is not None and limits.cap_per is not None:
        talents = _windows(session, OutboxMessage.talent_id, [r.talent_id for r in rows],
                           limits.cap_touches, limits.cap_per, now)  # fmt: skip
    verdict = Verdict()
    for row in rows:
        windows = [hour, day, *([domains[row.domain]] if row.domain else [])]
        windows += [talents[row.talent_id]] if talents else []
        blocking = [window.next_slot(now) for window in windows if window.full()]
        if blocking:
            verdict.deferred[row.id] = max(blocking)
            continue
        for window in windows:
            window.take(now)
        verdict.allowed.append(row)
    return verdict
