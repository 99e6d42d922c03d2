"""Replies a person reviews: the verdict kept on the timeline, held replies, corrections.

Every reply's timeline row (``kind="replied"``) carries in ``data`` the intent, the
classifier's confidence and reason, and how the reply was matched to our message
(``matched_by``; ``verified`` when by our message id, reply token or thread headers, or by
the sender's address the provider vouches for: see ``engine.inbound.matching``).

A verdict less sure than ``nurture.yaml`` ``replies.review_below`` (intents that act on their
own only: not ``other``, never an opt-out, which is honoured at once) is *held*: the reply
takes no branch, and the recruiter gets a task "check this reply". ``correct`` is how a
person settles it (``nurture replies set``): the corrected intent's effects and, when the
enrollment still waits at the step the reply answered, its branch; the timeline records who
changed what, and the reply becomes a labelled example (``labelled_examples``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from channels.base import InboundEvent
from engine.inbound.events import apply_corrected_intent
from engine.inbound.intent import Verdict
from engine.inbound.matching import Match
from engine.store.models import Engagement, Enrollment, Talent, Task
from engine.talents.timeline import record
from sequences.errors import InputError
from sequences.model import INTENTS

if TYPE_CHECKING:
    from campaigns.workspace import Workspace

NEVER_HELD = frozenset({"other", "unsubscribe"})


def held(verdict: Verdict, review_below: float) -> bool:
    """Whether a person should read this reply before the sequence acts on it."""
    return verdict.intent not in NEVER_HELD and verdict.confidence < review_below


def note_verdict(
    session: Session, event: InboundEvent, verdict: Verdict, match: Match, *, hold: bool
) -> Engagement | None:
    """Keep the verdict on the reply's timeline row (and hand a held one to the recruiter)."""
    reply = session.scalar(
        select(Engagement).where(
            Engagement.provider == event.provider,
            Engagement.provider_event_id == event.provider_event_id,
        )
    )
    if reply is None:
        return None
    reply.data = {
        **reply.data,
        "intent": verdict.intent,
        "confidence": verdict.confidence,
        "reason": verdict.reason,
        "matched_by": match.how,
        "verified": match.verified,
        # An unverified reply waits for a person too, without a task: only they can vouch.
        **({"held": True} if hold or not match.verified else {}),
    }
    if hold:
        _check_task(session, reply, verdict)
    return reply


def _check_task(session: Session, reply: Engagement, verdict: Verdict) -> None:
    talent = session.get(Talent, reply.talent_id) if reply.talent_id else None
    who = (talent.full_name or talent.email or talent.phone) if talent else None
    task = Task(
        talent_id=reply.talent_id, enrollment_id=reply.enrollment_id, campaign=reply.campaign,
        step_id=None,  # done or not, it moves no enrollment: `nurture replies set` does
        title=f"Check this reply from {who or 'an unknown sender'}: reads as {verdict.intent} "
        f"({verdict.confidence:.2f}); confirm with `nurture replies set {reply.id} INTENT`",
        body=reply.detail, due_at=reply.occurred_at, created_at=reply.occurred_at,
    )  # fmt: skip
    session.add(task)
    session.flush([task])
    record(session, "task_created", at=reply.occurred_at, talent_id=reply.talent_id,
           campaign=reply.campaign, enrollment_id=reply.enrollment_id,
           data={"task_id": task.id, "title": task.title, "reply_id": reply.id})  # fmt: skip


@dataclass(frozen=True)
class ReplyRow:
    """One reply as a recruiter reviews it."""

    id: int
    at: datetime
    talent_id: int | None
    talent: str | None
    campaign: str | None
    step: str | None
    channel: str | None
    intent: str | None
    confidence: float | None
    reason: str | None
    verified: bool
    held: bool
    corrected_by: str | None
    text: str

    @classmethod
    def from_row(cls, reply: Engagement, talent: Talent | None) -> ReplyRow:
        data: dict[str, Any] = reply.data or {}
        return cls(
            id=reply.id, at=reply.occurred_at, talent_id=reply.talent_id,
            talent=(talent.full_name or talent.email or talent.phone) if talent else None,
            campaign=reply.campaign, step=reply.step_id, channel=reply.channel,
            intent=data.get("intent"), confidence=data.get("confidence"),
            reason=data.get("reason"), verified=bool(data.get("verified", False)),
            held=bool(data.get("held", False)), corrected_by=data.get("corrected_by"),
            text=reply.detail or "",
        )  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "at": self.at.isoformat()}


def recent_replies(
    session: Session, *, intent: str | None = None, unverified: bool = False, limit: int = 50
) -> list[ReplyRow]:
    """Replies, newest first; ``unverified``: those not matched by our ids or thread."""
    if intent is not None and intent not in INTENTS:
        raise InputError(f"--intent {intent!r}: expected one of {', '.join(INTENTS)}")
    query = select(Engagement, Talent).outerjoin(Talent, Talent.id == Engagement.talent_id)
    query = query.where(Engagement.kind == "replied")
    if intent is not None:
        query = query.where(Engagement.data["intent"].as_string() == intent)
    if unverified:
        verified = Engagement.data["verified"].as_boolean()
        query = query.where(or_(verified.is_(None), verified.is_(False)))
    query = query.order_by(Engagement.id.desc()).limit(limit)
    return [ReplyRow.from_row(reply, talent) for reply, talent in session.execute(query)]


def correct(
    session: Session,
    reply_id: int,
    intent: str,
    *,
    by: str,
    now: datetime,
    workspace: Workspace | None = None,
) -> ReplyRow:
    """Set a reply's intent (a person read it); InputError for an unknown reply or intent.

    ``workspace`` gives a task the branch creates its campaign's sender and company."""
    if intent not in INTENTS:
        raise InputError(f"intent {intent!r}: expected one of {', '.join(INTENTS)}")
    reply = session.get(Engagement, reply_id)
    if reply is None or reply.kind != "replied":
        raise InputError(f"no reply {reply_id} (see `nurture replies list`)")
    before, was_held = (reply.data or {}).get("intent"), bool((reply.data or {}).get("held"))
    reply.data = {**reply.data, "intent": intent, "confidence": 1.0, "held": False,
                  "reason": f"set by {by}", "corrected_by": by, "corrected_from": before,
                  "corrected_at": now.isoformat()}  # fmt: skip
    record(session, "reply_corrected", at=now, talent_id=reply.talent_id,
           campaign=reply.campaign, enrollment_id=reply.enrollment_id, step_id=reply.step_id,
           channel=reply.channel, detail=f"{before or 'none'} -> {intent} by {by}",
           data={"reply_id": reply.id, "from": before, "to": intent, "by": by})  # fmt: skip
    talent = session.get(Talent, reply.talent_id) if reply.talent_id else None
    if intent != before or was_held:  # a held reply has had no effect yet
        apply_corrected_intent(session, _event_of(reply, talent), intent, now=now,
                               still_waiting=_still_waiting(session, reply),
                               workspace=lambda: workspace)  # fmt: skip
    return ReplyRow.from_row(reply, talent)


def _still_waiting(session: Session, reply: Engagement) -> bool:
    """Whether the enrollment still waits at the step the reply answered."""
    enrollment = session.get(Enrollment, reply.enrollment_id) if reply.enrollment_id else None
    return bool(
        enrollment and enrollment.status == "waiting" and enrollment.step_id == reply.step_id
    )


def _event_of(reply: Engagement, talent: Talent | None) -> InboundEvent:
    """The reply as an event again; an unverified one answers no message of ours, and is
    about its talent (a person read it and vouches for it)."""
    channel = reply.channel or "email"
    address = (talent.email if channel == "email" else talent.phone) if talent else None
    return InboundEvent(
        kind="replied", provider=reply.provider or "nurture",
        provider_event_id=reply.provider_event_id or f"reply:{reply.id}",
        occurred_at=reply.occurred_at, channel=channel,  # type: ignore[arg-type]
        message_id=reply.message_id, text=reply.detail, address=address,
    )  # fmt: skip


def labelled_examples(session: Session) -> list[dict[str, Any]]:
    """Corrected replies as corpus lines (``tests/corpus/replies/intent.jsonl`` fields)."""
    query = select(Engagement).where(
        Engagement.kind == "replied", Engagement.data["corrected_by"].as_string().is_not(None)
    )
    return [
        {"text": reply.detail or "", "intent": reply.data["intent"], "lang": "",
         "source": f"nurture replies set (reply {reply.id})", "licence": "yours", "split": "tune"}
        for reply in session.scalars(query.order_by(Engagement.id))
    ]  # fmt: skip
