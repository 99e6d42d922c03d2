"""Settling messages in doubt by asking the provider, before anyone is asked.

A channel that can look a message up (``lookup(message, since) -> provider id | None``:
Twilio's Messages API, by recipient, sender, body and time) settles an ``in_doubt`` row
it finds as ``sent``. A row it does not find stays in doubt, with a note saying so: the
recruiter decides (``nurture outbox settle``). SendGrid has no such lookup; its events,
which carry our message id, settle its rows (:mod:`engine.inbound.events`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import select

from channels.base import Channel
from channels.errors import ChannelError
from engine.enrollments.progress import PlanMessages
from engine.outbox.dispatch import mark_sent, outbound
from engine.runs.runtime import Runtime
from engine.store.database import Database
from engine.store.models import OutboxMessage, Talent
from engine.store.rows import OutboxRow

log = logging.getLogger("nurture.outbox")
SKEW = timedelta(minutes=5)  # our clock and Twilio's may disagree this much
BATCH = 100


async def reconcile(
    db: Database, rt: Runtime, channels: Mapping[str, Channel], campaign_id: str, *,
    now: datetime,
) -> int:  # fmt: skip
    """Look the campaign's messages in doubt up at their provider; returns how many it
    found sent."""
    with db.session() as session:
        query = (
            select(OutboxMessage.__table__)
            .where(OutboxMessage.campaign == campaign_id, OutboxMessage.status == "in_doubt")
            .order_by(OutboxMessage.id)
            .limit(BATCH)
        )
        rows = [OutboxRow.from_row(row) for row in session.execute(query)]
    found: dict[str, str] = {}
    missing: list[str] = []
    for row in rows:
        lookup = getattr(channels.get(row.channel), "lookup", None)
        if lookup is None:
            continue
        since = (row.claimed_at or row.due_at) - SKEW
        try:
            sid = await lookup(outbound(row, rt), since)
        except ChannelError as exc:  # the provider could not say: ask again next tick
            log.warning("could not look up %s: %s", row.message_id, exc)
            continue
        if sid is None:
            missing.append(row.message_id)
        else:
            found[row.message_id] = sid
    if not (found or missing):
        return 0
    with db.session(immediate=True) as session:
        models = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.message_id.in_([*found, *missing]),
                OutboxMessage.status == "in_doubt",
            )
        )
        for model in models:
            if model.message_id in missing:
                if "not found" not in (model.error or ""):
                    note = f"not found at the provider at {now:%Y-%m-%d %H:%M}"
                    model.error = f"{model.error}; {note}"
                continue
            model.sent_at = model.claimed_at  # when it left, as near as we know
            talent = session.get_one(Talent, model.talent_id)
            mark_sent(session, model, talent, now=now, provider_id=found[model.message_id],
                      sends=PlanMessages(rt))  # fmt: skip
    return len(found)
