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
from datetime import datetime
from typing import Any, cast

from sqlalchemy import FromClause, Table
from sqlalchemy.orm import Session

from engine.store.dialect import insert_rows
from engine.store.models import Engagement, Enrollment, OutboxMessage

_BUFFER = "nurture.batched"  # session.info key of the rows a batched() block holds back


def values(
    kind: str,
    *,
    at: datetime,
    talent_id: int | None,
    enrollment: Enrollment | None = None,
    message: OutboxMessage | Any = None,  # the model, a row or a namespace of its columns
    step_id: str | None = None,
    channel: str | None = None,
    detail: str | None = None,
    data: dict[str, Any] | None = None,
    campaign: str | None = None,
    enrollment_id: int | None = None,
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
        "variant": variant, "message_id": message.message_id if message else None,
        "provider": None, "provider_event_id": None, "detail": detail, "data": data or {},
    }  # fmt: skip


def entry(kind: str, **fields: Any) -> Engagement:
    return Engagement(**values(kind, **fields))


def record(session: Session, kind: str, **fields: Any) -> None:
    """Add a timeline row: now, or at the end of the enclosing :func:`batched` block."""
    if _BUFFER in session.info:
        insert_later(session, Engagement.__table__, values(kind, **fields))
    else:
        session.add(entry(kind, **fields))


def insert_later(session: Session, table: FromClause, row: dict[str, Any]) -> None:
    """Insert ``row`` into ``table`` at the end of the enclosing :func:`batched` block, or
    at once outside one."""
    buffer = session.info.get(_BUFFER)
    if buffer is None:
        insert_rows(session, cast(Table, table), [row])
    else:
        buffer.setdefault(table, []).append(row)


@contextmanager
def batched(session: Session) -> Iterator[None]:
    """Rows added inside (timeline rows, planned outbox rows) are written with one
    multi-row INSERT per table when it ends: no ORM object each on the hot paths."""
    buffer: dict[FromClause, list[dict[str, Any]]] = {}
    session.info[_BUFFER] = buffer
    try:
        yield
    finally:
        del session.info[_BUFFER]
    for table, rows in buffer.items():
        insert_rows(session, cast(Table, table), rows)
