"""Writing a talent's timeline: one ``Engagement`` row per decision, receipt or event.

Kinds used by the engine (the report counts them per campaign, step and variant):
entered, planned, sent, delivered, opened, clicked, replied, bounced, failed, opted_out,
opted_in, unsubscribed, skipped, waited, task_created, task_completed, stage_changed,
exited (``data.outcome``), in_doubt, reconciled.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine.models import Engagement, Enrollment, OutboxMessage


def entry(
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
) -> Engagement:
    """An Engagement filled from the enrollment and/or outbox message it is about."""
    return Engagement(
        talent_id=talent_id,
        kind=kind,
        occurred_at=at,
        channel=message.channel if message else channel,
        campaign=message.campaign if message else enrollment.campaign if enrollment else None,
        enrollment_id=message.enrollment_id if message else enrollment.id if enrollment else None,
        step_id=message.step_id if message else step_id,
        variant=message.variant if message else enrollment.variant if enrollment else None,
        message_id=message.message_id if message else None,
        detail=detail,
        data=data or {},
    )


def record(session: Session, kind: str, **fields: Any) -> Engagement:
    engagement = entry(kind, **fields)
    session.add(engagement)
    return engagement
