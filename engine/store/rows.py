"""Rows as small frozen values at the storage boundary: what a batch path reads with Core
statements (no ORM object per row) and hands on, changed only by ``dataclasses.replace``."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any


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
