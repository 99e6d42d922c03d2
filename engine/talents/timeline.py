"""Writing a talent's timeline: one ``Engagement`` row per decision, receipt or event.

Kinds used by the engine (the report counts them per campaign, step and variant):
entered, planned, sent, delivered, opened, clicked, replied, bounced, failed, opted_out,
opted_in, unsubscribed, skipped, waited, task_created, task_completed, stage_changed,
exited (``data.outcome``), in_doubt, reconciled, error (a template failed for this talent:
``detail`` names the step and the template's file:line).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import FromClause, Table
from sqlalchemy.orm import Session

from engine.store.dialect import insert_rows
from engine.store.models import Engagement, Enrollment, OutboxMessage
from engine.store.rows import EnrollmentRow, OutboxRow


def values(
    kind: str,
    *,
    at: datetime,
    talent_id: int | None,
    enrollment: Enrollment | EnrollmentRow | None = None,
    message: OutboxMessage | OutboxRow | None = None,
    step_id: str | None = None,
    channel: str | None = None,
    detail: str | None = None,
    data: dict[str, Any] | None = None,
    campaign: str | None = None,
    enrollment_id: int | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """An Engagement's columns, filled from the enrollment and/or outbox message it is about."""
    if message is not None:
        campaign, enrollment_id = message.campaign, message.enrollment_id
        step_id, channel, variant = message.step_id, message.channel, message.variant
    elif enrollment is not None:
        campaign, enrollment_id, variant = enrollment.campaign, enrollment.id, enrollment.variant
    else:
        variant = None
    return {
        "talent_id": talent_id, "kind": kind, "occurred_at": at, "channel": channel,
        "campaign": campaign, "enrollment_id": enrollment_id, "step_id": step_id,
        "variant": variant, "message_id": message.message_id if message else message_id,
        "provider": None, "provider_event_id": None, "detail": detail, "data": data or {},
    }  # fmt: skip


def entry(kind: str, **fields: Any) -> Engagement:
    return Engagement(**values(kind, **fields))


def record(session: Session, kind: str, **fields: Any) -> None:
    """Add a timeline row (an ORM object, flushed with the session); a batch path writes
    its rows through :class:`Writes` instead."""
    session.add(entry(kind, **fields))


@dataclass
class Writes:
    """Rows held back by a batch (timeline rows, planned outbox rows) and written with one
    multi-row INSERT per table when it ends: no ORM object each on the hot paths."""

    session: Session
    rows: dict[FromClause, list[dict[str, Any]]] = field(default_factory=dict)

    def insert(self, table: FromClause, row: dict[str, Any]) -> None:
        self.rows.setdefault(table, []).append(row)

    def record(self, kind: str, **fields: Any) -> None:
        """:func:`record`, written at the end of the batch."""
        self.insert(Engagement.__table__, values(kind, **fields))

    def flush(self) -> None:
        """Write the rows held so far (before a statement that must come after them)."""
        rows, self.rows = self.rows, {}
        for table, held in rows.items():
            insert_rows(self.session, cast(Table, table), held)


@contextmanager
def batched(session: Session) -> Iterator[Writes]:
    """The rows written through the yielded :class:`Writes` are inserted when the block
    ends without an error (with one, the transaction is rolled back anyway)."""
    writes = Writes(session)
    yield writes
    writes.flush()
