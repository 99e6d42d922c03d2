"""Outbox messages as a person reads them (``nurture outbox list`` and the desk's Outbox)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store.rows import OUTBOX, OutboxRow


def outbox_rows(
    session: Session, *, status: str | None = None, campaign: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Messages newest first, with their whole message ids; only ``status``/``campaign``."""
    query = select(OUTBOX).order_by(OUTBOX.c.id.desc()).limit(limit)
    if status:
        query = query.where(OUTBOX.c.status == status)
    if campaign:
        query = query.where(OUTBOX.c.campaign == campaign)
    return [_outbox_row(OutboxRow.from_row(row)) for row in session.execute(query)]


def _outbox_row(row: OutboxRow) -> dict[str, Any]:
    when = {
        name: value.isoformat() if (value := getattr(row, name)) else None
        for name in ("due_at", "claimed_at", "sent_at")
    }
    return {"message_id": row.message_id, "campaign": row.campaign, "step": row.step_id,
            "variant": row.variant, "channel": row.channel, "to": row.to, "status": row.status,
            **when, "attempts": row.attempts, "error": row.error,
            **({"explain": _explain(row)} if row.status == "in_doubt" else {})}  # fmt: skip


def _explain(row: OutboxRow) -> str:
    """Why a message is in doubt and what settles it."""
    claimed = f"{row.claimed_at:%Y-%m-%d %H:%M} UTC" if row.claimed_at else "an unknown time"
    lookup = "the X-Nurture-Message-Id header" if row.channel == "email" else "the recipient"
    return (
        f"its request to the provider started (claimed {claimed}) but no answer was recorded"
        f" ({row.error or 'unknown'}); it is never sent again by itself. A provider event"
        f" carrying its id settles it; otherwise find it in the provider's log by {lookup}"
        f" and run `nurture outbox settle {row.message_id} --sent` (it left) or `--resend`"
    )
