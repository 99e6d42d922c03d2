"""Writing a talent's timeline: one ``Engagement`` row per decision, receipt or event.

Kinds used by the engine (the report counts them per campaign, step and variant):
entered, planned, sent, delivered, opened, clicked, replied, bounced, failed, opted_out,
opted_in, unsubscribed, skipped, waited, task_created, task_completed, stage_changed,
exited (``data.outcome``), in_doubt, reconciled.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from engine.models import Engagement, Enrollment, OutboxMessage

_BUFFER = "nurture.timeline"  # session.info key of the rows a batched() block holds back


def values(
    kind: str,
    *,
    at: datetime,
    talent_id: int | None,
    enrollment: Enrollment | None = None,
    message: OutboxMessage | None = None,
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
    buffer = session.info.get(_BUFFER)
    if buffer is None:
        session.add(entry(kind, **fields))
    else:
        buffer.append(values(kind, **fields))


@contextmanager
def batched(session: Session) -> Iterator[None]:
    """Timeline rows recorded inside are written with one multi-row INSERT when it ends
    (no ORM object each: the hot paths write two or three rows per message)."""
    rows: list[dict[str, Any]] = []
    session.info[_BUFFER] = rows
    try:
        yield
    finally:
        del session.info[_BUFFER]
    if rows:
        session.execute(insert(Engagement.__table__), rows)  # type: ignore[arg-type]
