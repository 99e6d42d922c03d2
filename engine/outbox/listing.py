"""Outbox messages as a person reads them (``nurture outbox list`` and the desk's Outbox)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store.models import OutboxMessage


def outbox_rows(
    session: Session, *, status: str | None = None, campaign: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Messages newest first, with their whole message ids; only ``status``/``campaign``."""
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if status:
        query = query.where(OutboxMessage.status == status)
    if campaign:
        query = query.where(OutboxMessage.campaign == campaign)
    return [_outbox_row(row) for row in session.scalars(query)]


def _outbox_row(row: OutboxMessage) -> dict[str, Any]:
    when = {
        name: value.isoformat() if (value := getattr(row, name)) else None
        for name in ("due_at", "claimed_at", "sent_at")
    }
    return {"message_id": row.message_id, "campaign": row.campaign, "step": row.step_id,
            "variant": row.variant, "channel": row.channel, "to": row.to, "status": row.status,
            **when, "attempts": row.attempts, "error": row.error}  # fmt: skip
