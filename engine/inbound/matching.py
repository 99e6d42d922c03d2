"""Which of our messages a reply answers, so the engine can move the right enrollment.

    1. our message id already on the event (SendGrid custom_args, Twilio status callback)
    2. the reply token in the recipient address (``reply+<message_id>@inbound-domain``)
    3. In-Reply-To, then References (newest first): ``<message_id@domain>`` Message-IDs
    4. the sender's email or phone -> the talent -> their latest active enrollment's last
       sent message (the talent alone when nothing is active)
    5. nobody: the event is still recorded, on the unknown-sender list (``talent_id`` empty)

A match is *verified* when the reply proves it answers us: 1-3 carry ids only our mail
holds. By address (4), only when the provider vouches for the sender
(``InboundEvent.sender_authenticated``: SPF or DKIM passing for the From domain; a signed
Twilio webhook) and, for a phone, we sent to that number. An unverified reply is kept and
may opt its sender out, nothing more (``engine.inbound.events``).

Reading only; the caller writes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from channels.base import InboundEvent
from engine.store.models import Enrollment, OutboxMessage, Talent
from engine.store.rows import ENVELOPE, OutboxRow
from engine.talents.addresses import normalize_phone
from sequences.errors import InputError

How = Literal["message_id", "reply_token", "in_reply_to", "references", "address", "unmatched"]
_MESSAGE_ID = re.compile(r"<?\s*([^<>@\s]+)@[^<>\s]+\s*>?")


@dataclass(frozen=True)
class Match:
    """What a reply was matched to, and how; ``message_id`` is ours (an outbox row's)."""

    how: How
    message_id: str | None = None
    talent_id: int | None = None
    enrollment_id: int | None = None
    verified: bool = False


def match_event(session: Session, event: InboundEvent) -> Match:
    """The message (or at least the talent) ``event`` is about."""
    steps: tuple[tuple[How, list[str | None]], ...] = (
        ("message_id", [event.message_id]),
        ("reply_token", [event.reply_token]),
        ("in_reply_to", [*_local_parts([event.in_reply_to])]),
        ("references", [*_local_parts(reversed(event.references))]),
    )
    for how, candidates in steps:
        if found := _outbox(session, [c for c in candidates if c]):
            return Match(how, found.message_id, found.talent_id, found.enrollment_id, True)
    return _by_address(session, event)


def correlate(session: Session, event: InboundEvent) -> tuple[InboundEvent, Match]:
    """``event`` with our message id filled in when a match found one, and the match."""
    match = match_event(session, event)
    if match.message_id and match.message_id != event.message_id:
        event = dataclasses.replace(event, message_id=match.message_id)
    return event, match


def reply_key(event: InboundEvent, *, verified: bool) -> str:
    """The key a reply is stored once under: its Message-ID (or the provider's id) is the
    sender's to choose, so it is scoped by sender, text and verified-ness; a forged reply
    reusing a real one's Message-ID is stored beside it, never instead of it, while the
    provider's retries of one post still meet their first copy."""
    text = event.body or event.text or ""
    parts = (event.provider_event_id, event.address or "", str(verified), text)
    return f"reply:{hashlib.sha256(chr(0).join(parts).encode()).hexdigest()}"


def _local_parts(values: Iterable[str | None]) -> list[str]:
    """``abc`` from ``<abc@mail.example>``: our Message-IDs carry our message id."""
    return [found.group(1) for value in values for found in _MESSAGE_ID.finditer(value or "")]


def _outbox(session: Session, message_ids: list[str]) -> OutboxRow | None:
    """The first of ``message_ids`` that names one of our messages."""
    if not message_ids:
        return None
    query = select(*ENVELOPE).where(OutboxMessage.message_id.in_(message_ids))
    by_id = {row.message_id: OutboxRow.from_row(row) for row in session.execute(query)}
    return next((by_id[m] for m in message_ids if m in by_id), None)


def _by_address(session: Session, event: InboundEvent) -> Match:
    talent = _talent(session, event.address)
    if talent is None:
        return Match("unmatched")
    enrollment = session.scalar(
        select(Enrollment)
        .where(Enrollment.talent_id == talent.id, Enrollment.status != "exited")
        .order_by(Enrollment.entered_at.desc(), Enrollment.id.desc())
        .limit(1)
    )
    if enrollment is None:
        return Match("address", talent_id=talent.id, verified=_vouched(session, event, talent))
    message_id = session.scalar(
        select(OutboxMessage.message_id)
        .where(OutboxMessage.enrollment_id == enrollment.id, OutboxMessage.sent_at.is_not(None))
        .order_by(OutboxMessage.sent_at.desc(), OutboxMessage.id.desc())
        .limit(1)
    )
    verified = _vouched(session, event, talent)
    return Match("address", message_id, talent.id, enrollment.id, verified)


def _vouched(session: Session, event: InboundEvent, talent: Talent) -> bool:
    """The provider vouches for the sender and, for a phone, we sent to that number."""
    if not event.sender_authenticated:
        return False
    if talent.phone is None or event.address is None or "@" in event.address:
        return True
    sent = select(OutboxMessage.id).where(
        OutboxMessage.talent_id == talent.id,
        OutboxMessage.to.in_((talent.phone, f"whatsapp:{talent.phone}")),
        OutboxMessage.sent_at.is_not(None),
    )
    return session.scalar(sent.limit(1)) is not None


def _talent(session: Session, address: str | None) -> Talent | None:
    """The talent with this email or phone (``whatsapp:`` prefixes allowed), if any."""
    if not address or not address.strip():
        return None
    address = address.strip().removeprefix("whatsapp:")
    if "@" in address:
        return session.scalar(select(Talent).where(Talent.email == address.lower()))
    try:
        phone = normalize_phone(address)
    except InputError:
        return None
    return session.scalar(select(Talent).where(Talent.phone == phone))
