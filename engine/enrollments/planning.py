"""Planning a message: render the step for one talent and write its outbox row.

Runs inside the transaction that advances the enrollment, so the row exists exactly when
the enrollment says it is ``sending``. Threaded email steps reuse the subject of the
thread step's message (``Re: ...``) and point In-Reply-To/References at its Message-ID.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from campaigns.model import Campaign
from engine.core.links import unsubscribe_url
from engine.runs.runtime import Runtime, render_context
from engine.store.models import OutboxMessage, Talent
from engine.store.rows import EnrollmentRow
from engine.talents.timeline import Writes
from sequences.document import SequenceDocument
from sequences.model import EmailStep, SmsStep, WhatsappStep
from sequences.templates import choose_variant, render_step

MessageStep = EmailStep | SmsStep | WhatsappStep


def address(talent: Talent | Row[Any], channel: str) -> str | None:
    """Where a message on ``channel`` goes for this talent (None when there is no address)."""
    return talent.email if channel == "email" else talent.phone


def sender_address(campaign: Campaign, channel: str) -> str:
    sender = campaign.sender
    if channel == "email":
        return str(sender.email)
    if channel == "whatsapp":
        return sender.whatsapp_from or sender.sms_from or ""
    return sender.sms_from or sender.messaging_service_sid or ""


def _thread(session: Session, enrollment: EnrollmentRow, step: MessageStep) -> OutboxMessage | None:
    if not isinstance(step, EmailStep) or step.thread is None:
        return None
    return session.scalar(  # the latest pass of the thread's step, when the sequence loops
        select(OutboxMessage)
        .where(OutboxMessage.enrollment_id == enrollment.id, OutboxMessage.step_id == step.thread)
        .order_by(OutboxMessage.pass_number.desc())
        .limit(1)
    )


def _headers(message_id: str, domain: str, parent: OutboxMessage | None) -> dict[str, str]:
    headers = {"Message-ID": f"<{message_id}@{domain}>"}
    if parent is not None:
        parent_id = parent.headers.get("Message-ID") or f"<{parent.message_id}@{domain}>"
        references = " ".join(filter(None, [parent.headers.get("References"), parent_id]))
        headers |= {"In-Reply-To": parent_id, "References": references}
    return headers


def _subject(rendered: str | None, parent: OutboxMessage | None) -> str | None:
    if parent is None or not parent.subject:
        return rendered
    return parent.subject if parent.subject.startswith("Re: ") else f"Re: {parent.subject}"


def plan_message(
    session: Session,
    writes: Writes,
    rt: Runtime,
    enrollment: EnrollmentRow,
    talent: Talent,
    doc: SequenceDocument,
    step: MessageStep,
    *,
    due_at: datetime,
    now: datetime,
    pass_number: int = 1,
) -> EnrollmentRow:
    """Render ``step`` for ``talent`` and add its outbox row (status ``planned``) to
    ``writes``; the enrollment with the variant it got. ``pass_number`` counts the
    enrollment's passes through the step (a sequence may loop through a wait)."""
    campaign = rt.campaign(enrollment.campaign)
    variant = choose_variant(step, f"{enrollment.campaign}:{talent.id}") if step.variants else None
    message_id = uuid.uuid4().hex
    unsubscribe = unsubscribe_url(rt.config, rt.secret, talent.id, step.channel, message_id)
    context = render_context(
        rt, campaign, talent, step_id=step.id, channel=step.channel, unsubscribe=unsubscribe
    )
    rendered = render_step(doc, step.id, variant, context)
    parent = _thread(session, enrollment, step)
    to = address(talent, step.channel) or ""
    email = step.channel == "email"
    row = {
        "message_id": message_id, "enrollment_id": enrollment.id, "talent_id": talent.id,
        "campaign": enrollment.campaign, "step_id": step.id, "pass_number": pass_number,
        "variant": variant,
        "channel": step.channel, "to": to,
        "domain": to.rpartition("@")[2].lower() if email else None,
        "sender": sender_address(campaign, step.channel), "sender_name": campaign.sender.name,
        "subject": _subject(rendered.subject, parent) if email else None,
        "text": rendered.text, "html": rendered.html,
        "headers": _headers(message_id, rt.email_domain(campaign), parent) if email else {},
        "unsubscribe_url": unsubscribe, "status": "planned", "due_at": due_at, "attempts": 0,
        "provider_message_id": None, "claimed_at": None, "lease_until": None, "error": None,
        "sent_at": None, "created_at": now,
    }  # fmt: skip
    writes.insert(OutboxMessage.__table__, row)
    enrollment = replace(enrollment, variant=variant)
    writes.record("planned", at=now, talent_id=talent.id, enrollment=enrollment,
                  step_id=step.id, channel=step.channel, message_id=message_id)  # fmt: skip
    return enrollment
