"""Rows as small frozen values at the storage boundary: what a batch path reads with Core
statements (no ORM object per row) and hands on, changed only by ``dataclasses.replace``.

Writes of one row at a time (a failed send, a row settled by hand) still go through the
models' unit of work; what leaves the store to be read travels as one of these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Column, Table

from engine.store.models import OutboxMessage, OutboxStatus


@dataclass(frozen=True, slots=True)
class EnrollmentRow:
    """The columns of an ``enrollments`` row that advancing it reads or writes."""

    id: int
    talent_id: int
    campaign: str
    content_hash: str
    status: str
    step_id: str | None
    variant: str | None
    due_at: datetime | None
    step_sent_at: datetime | None
    wait_goto: str | None
    outcome: str | None
    exited_at: datetime | None
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> EnrollmentRow:
        """From a Core row of the table or an ``Enrollment`` model (its current values)."""
        return cls(*(getattr(row, name) for name in _ENROLLMENT_FIELDS))


_ENROLLMENT_FIELDS = tuple(f.name for f in fields(EnrollmentRow))

OUTBOX = cast(Table, OutboxMessage.__table__)
# The message itself: only sending reads it, so receipts, events and limits leave it out.
CONTENT = ("subject", "text", "html", "headers")
ENVELOPE: list[Column[Any]] = [column for column in OUTBOX.c if column.name not in CONTENT]


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """An ``outbox`` row as read: every column, the content ones None when the statement
    selected only the :data:`ENVELOPE` (a value built from fewer columns fails loudly)."""

    id: int
    message_id: str
    enrollment_id: int
    talent_id: int
    campaign: str
    step_id: str
    pass_number: int
    variant: str | None
    channel: str
    to: str
    domain: str | None
    sender: str
    sender_name: str | None
    unsubscribe_url: str | None
    status: OutboxStatus
    due_at: datetime
    claimed_at: datetime | None
    lease_until: datetime | None
    attempts: int
    provider_message_id: str | None
    error: str | None
    sent_at: datetime | None
    created_at: datetime
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    headers: dict[str, Any] | None = None

    @classmethod
    def from_row(cls, row: Any) -> OutboxRow:
        """From a Core row of all the outbox's columns or of its :data:`ENVELOPE`, or from
        an ``OutboxMessage`` model (its current values)."""
        names = getattr(row, "_fields", None)
        if names is None:
            return cls(*(getattr(row, name) for name in _OUTBOX_FIELDS))
        pick = _PICKS.get(names) or _pick(names)
        return cls(*pick((*row, None)))


_OUTBOX_FIELDS = tuple(f.name for f in fields(OutboxRow))
# Per shape of Core row (its column names): which of its values fills each field, by
# position; a claim or a batch of receipts reads hundreds of rows of one shape.
_PICKS: dict[tuple[str, ...], Callable[[tuple[Any, ...]], tuple[Any, ...]]] = {}


def _pick(names: tuple[str, ...]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """The positions of ``names`` in field order; a content column not read is the None
    appended after the row's values. Any other column missing is a TypeError."""
    missing = [n for n in _OUTBOX_FIELDS if n not in names and n not in CONTENT]
    if missing:
        raise TypeError(f"an outbox row needs the columns {', '.join(missing)}")
    none = len(names)
    pick = itemgetter(*(names.index(n) if n in names else none for n in _OUTBOX_FIELDS))
    _PICKS[names] = pick
    return pick
