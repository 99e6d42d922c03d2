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

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from engine.store.dialect import among
from engine.store.models import OutboxMessage, OutboxStatus
from engine.store.rows import OutboxRow
from sequences.model import Duration

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
TOUCHED: tuple[OutboxStatus, ...] = ("claimed", "sending", "sent", "in_doubt")


@dataclass(frozen=True)
class Limits:
    per_hour: int
    per_day: int
    per_domain_per_day: int
    cap_touches: int | None = None
    cap_per: timedelta | None = None


@dataclass
class Verdict:
    allowed: list[OutboxRow] = field(default_factory=list)
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

    def add(self, count: int, oldest: datetime | None) -> None:
        """Count ``count`` earlier touches, the oldest of them at ``oldest``."""
        self.count += count
        if oldest is not None:
            self.oldest = oldest if self.oldest is None else min(self.oldest, oldest)


def _talent_windows(
    session: Session, talent_ids: Iterable[int], limit: int, length: timedelta, now: datetime
) -> dict[int, _Window]:
    """The frequency cap's window of each talent.

    Only the talent and the time are filtered on, both in ``ix_outbox_talent_claimed``;
    the status is checked in the aggregates. With the status in the WHERE, PostgreSQL
    without statistics (a first tick after a bulk load) scanned every touched row of the
    status index instead, a cost that grew with the outbox."""
    keys = set(talent_ids)
    touched = OutboxMessage.status.in_(TOUCHED)
    query = (
        select(OutboxMessage.talent_id, func.count(case((touched, 1))),
               func.min(case((touched, OutboxMessage.claimed_at))))
        .where(among(session, OutboxMessage.talent_id, keys),
               OutboxMessage.claimed_at > now - length)
        .group_by(OutboxMessage.talent_id)
    )  # fmt: skip
    found = {key: (int(count), oldest) for key, count, oldest in session.execute(query)}
    return {key: _Window(limit, length, *found.get(key, (0, None))) for key in keys}


def _out_of_reach(session: Session, limit: int) -> bool:
    """Whether no window can fill up to ``limit`` in this batch, so none needs counting.

    A window's touches and the batch's rows are distinct outbox rows, so together they are
    at most the highest outbox id: if that is within the limit, the touches plus the batch
    taken so far stay below it. A sender far from its limits then costs one index lookup,
    not a scan of its last day (which grows with its volume)."""
    return (session.scalar(select(func.max(OutboxMessage.id))) or 0) <= limit


def _sender_windows(
    session: Session, sender: str, domains: Iterable[str], limits: Limits, now: datetime
) -> tuple[_Window, _Window, dict[str, _Window]]:
    """The sender's hour and day windows and its day window per recipient domain, from one
    scan of its last day of touches (index-only: ``ix_outbox_sender_window``)."""
    recent = case((OutboxMessage.claimed_at > now - HOUR, OutboxMessage.claimed_at))
    query = (
        select(OutboxMessage.domain, func.count(), func.min(OutboxMessage.claimed_at),
               func.count(recent), func.min(recent))
        .where(OutboxMessage.sender == sender, OutboxMessage.claimed_at > now - DAY,
               OutboxMessage.status.in_(TOUCHED))
        .group_by(OutboxMessage.domain)
    )  # fmt: skip
    hour, day = _Window(limits.per_hour, HOUR), _Window(limits.per_day, DAY)
    by_domain = {domain: _Window(limits.per_domain_per_day, DAY) for domain in domains}
    if _out_of_reach(session, min(limits.per_hour, limits.per_day, limits.per_domain_per_day)):
        return hour, day, by_domain
    for domain, count, oldest, recent_count, recent_oldest in session.execute(query):
        day.add(int(count), oldest)
        hour.add(int(recent_count), recent_oldest)
        if domain in by_domain:
            by_domain[domain].add(int(count), oldest)
    return hour, day, by_domain


def screen(
    session: Session, rows: list[OutboxRow], sender: str, limits: Limits, *, now: datetime
) -> Verdict:
    """Split due rows (all from ``sender``) into those that may go now and those deferred."""
    hour, day, domains = _sender_windows(
        session, sender, {row.domain for row in rows if row.domain}, limits, now
    )
    talents: dict[Any, _Window] = {}
    if limits.cap_touches is not None and limits.cap_per is not None:
        talents = _talent_windows(
            session, [r.talent_id for r in rows], limits.cap_touches, limits.cap_per, now
        )
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
