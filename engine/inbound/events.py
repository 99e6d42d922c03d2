"""Applying a provider event (or a reply with its intent) to the talent base, exactly once.

Order: correlate (our message id, else the provider's, else the address), then write the
timeline row, which is unique on ``(provider, provider_event_id)``: a replay stops there.
Then the effects: reconcile an ``in_doubt`` row, opt-outs across all campaigns, stages,
the enrollment's branch, and the recruiter's task on an interested reply.

Branch event names: the kind (``replied``, ``opened``, ``clicked``, ``delivered``,
``bounced``, ``failed``), and ``replied.<intent>`` when an intent is known; a ``when:
replied`` branch matches every intent, the exact ``when: replied.<intent>`` wins over it
(see ``engine.core.interpreter.match_branch``). Opt-outs reach the enrollment as
``unsubscribed`` (a ``stop_on`` event).

Choices: "not interested" snoozes the talent and allows re-contact after
``RECONTACT_AFTER`` (26 weeks, half a year: long enough not to annoy, short enough that a
career moves on). An interested reply gives the recruiter one task: the sequence's own
when the branch it takes leads to a task step (at once, or after its ``wait``), else an
automatic "follow up" task carrying the reply. Events matched by address only are
recorded on the timeline but drive no branch (we cannot tell which message they answer),
except opt-outs, which reach every active enrollment of the talent as ``unsubscribed``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from campaigns.workspace import Workspace
from channels.base import InboundEvent
from engine.core import interpreter as machine
from engine.enrollments.progress import LeavePending, not_sent, step_enrollment
from engine.outbox.dispatch import UNSETTLED, mark_sent
from engine.runs.runtime import load_document
from engine.store.models import Engagement, Enrollment, OutboxMessage, Talent, Task
from engine.talents.moves import change_stage
from engine.talents.timeline import record, values
from sequences.model import TaskStep

log = logging.getLogger("nurture.replies")
RECONTACT_AFTER = timedelta(weeks=26)
OPT_OUT_KINDS = frozenset({"opted_out", "unsubscribed", "spam_report"})


@dataclass(frozen=True)
class Applied:
    """What applying one event did."""

    duplicate: bool = False
    talent_id: int | None = None
    enrollment_id: int | None = None
    matched: bool = False
    effects: tuple[str, ...] = ()


class _Applying(NamedTuple):
    """One event being applied: the talent it is about, the message it answers (None when
    it answers none of ours, or proves nothing of its sender) and the intent read in it."""

    session: Session
    event: InboundEvent
    row: OutboxMessage | None
    talent: Talent
    intent: str | None
    now: datetime


def _correlate(session: Session, event: InboundEvent) -> OutboxMessage | None:
    if event.message_id:
        row = session.scalar(
            select(OutboxMessage).where(OutboxMessage.message_id == event.message_id)
        )
        if row is not None:
            return row
    if event.provider_message_id:
        return session.scalar(
            select(OutboxMessage)
            .where(OutboxMessage.provider_message_id == event.provider_message_id)
            .limit(1)
        )
    return None


def _answered(session: Session, event: InboundEvent) -> tuple[OutboxMessage | None, Talent | None]:
    """The message ``event`` answers, and its talent (by the sender's address when no
    message of ours is matched)."""
    row = _correlate(session, event)
    talent = session.get(Talent, row.talent_id) if row else _by_address(session, event.address)
    return row, talent


def _by_address(session: Session, address: str | None) -> Talent | None:
    if not address:
        return None
    column = Talent.email if "@" in address else Talent.phone
    return session.scalar(select(Talent).where(column == address.strip().lower()))


def timeline_row(
    event: InboundEvent, row: Any, talent_id: int | None, intent: str | None = None
) -> dict[str, Any]:
    """The event's timeline row (its columns): ``row`` is the outbox message it is about, as
    the model or a row of its columns. The batch path inserts the same dict in bulk."""
    kind = "processed" if event.kind == "sent" else event.kind  # our own "sent" row counts sends
    data = {k: v for k, v in {"intent": intent, "url": event.url, "bounce_type":
            event.bounce_type, "reason": event.reason, "address": None if talent_id else
            event.address, "auto_reply": event.auto_reply or None}.items() if v}  # fmt: skip
    columns = values(
        kind, at=event.occurred_at, talent_id=talent_id, message=row,
        channel=event.channel, detail=event.text or event.reason, data=data,
    )  # fmt: skip
    return {**columns, "provider": event.provider, "provider_event_id": event.provider_event_id}


def engages(event: InboundEvent) -> bool:
    """Whether the event shows the person engaging: opened, clicked, replied by hand."""
    return event.kind in ("opened", "clicked", "replied") and not event.auto_reply


def apply_event(
    session: Session,
    event: InboundEvent,
    *,
    now: datetime,
    intent: str | None = None,
    workspace: Callable[[], Workspace | None] = lambda: None,
    branch: bool = True,
    verified: bool = True,
) -> Applied:
    """Apply ``event`` once; a replay returns ``Applied(duplicate=True)`` and changes nothing.

    ``branch=False`` (a reply held for a person to read) records it and moves no enrollment.
    ``verified=False`` (a reply that proves nothing of its sender, see
    ``engine.inbound.matching``) is recorded on the talent's timeline, answers no message,
    and acts only when it opts out: no stage, branch, task or re-subscription.
    ``workspace`` is called only when a task or guard the branch reaches needs the
    campaign's sender and company.
    """
    row, talent = _answered(session, event)
    row = row if verified else None
    try:
        with session.begin_nested():
            talent_id = talent.id if talent else None
            session.add(Engagement(**timeline_row(event, row, talent_id, intent)))
    except IntegrityError:
        return Applied(duplicate=True, talent_id=talent.id if talent else None)
    if talent is None:
        return Applied()
    if not verified and not _is_opt_out(event, intent):
        return Applied(talent_id=talent.id)
    applying = _Applying(session, event, row, talent, intent, now)
    return _act(applying, branch=branch, workspace=workspace, verified=verified)


def apply_corrected_intent(
    session: Session,
    event: InboundEvent,
    intent: str,
    *,
    now: datetime,
    still_waiting: bool,
    workspace: Callable[[], Workspace | None] = lambda: None,
) -> Applied:
    """A person set the intent of a reply already recorded: the intent's effects, and its
    branch when the enrollment ``still_waiting`` at the step the reply answered."""
    row, talent = _answered(session, event)
    if talent is None:
        return Applied()
    applying = _Applying(session, event, row, talent, intent, now)
    return _act(applying, branch=still_waiting, workspace=workspace)


def _act(
    applying: _Applying,
    *,
    branch: bool,
    workspace: Callable[[], Workspace | None],
    verified: bool = True,
) -> Applied:
    """The event's effects on the talent, then (``branch``) on the enrollment it answers."""
    effects = _effects(applying, verified=verified)
    answered = applying.row if branch else None
    enrollment, moves = _branch(applying, answered, effects, workspace)
    gives_task = any(_gives_task(applying.session, move) for move in moves)
    if applying.intent == "interested" and not gives_task:
        _follow_up(applying)
        effects.append("task")
    return Applied(
        talent_id=applying.talent.id,
        enrollment_id=enrollment.id if enrollment else None,
        matched=applying.row is not None,
        effects=tuple(effects),
    )


def _effects(applying: _Applying, *, verified: bool) -> list[str]:
    session, event, row, talent, intent, now = applying
    effects: list[str] = []
    if row is not None and row.status in UNSETTLED and event.kind != "failed":
        mark_sent(session, row, talent, now=now, provider_id=event.provider_message_id,
                  sends=LeavePending())  # fmt: skip
        effects.append("reconciled")
    if _is_opt_out(event, intent):
        opt_out(session, talent, event.channel, now=now)
        effects.append(f"opted_out:{event.channel}")
        if not verified:
            return effects
    elif event.kind == "opted_in" or _yes_after_stop(event, talent):
        setattr(talent, f"{event.channel}_opted_out_at", None)
        effects.append(f"opted_in:{event.channel}")
    effects += _stage(applying)
    return effects


def _yes_after_stop(event: InboundEvent, talent: Talent) -> bool:
    """An SMS "YES" re-subscribes (Twilio's opt-in keyword) only someone who had opted out;
    to anyone else it is just a reply (see ``channels.keywords``)."""
    yes = event.kind == "replied" and event.reason == "YES"
    return yes and getattr(talent, f"{event.channel}_opted_out_at", None) is not None


def _is_opt_out(event: InboundEvent, intent: str | None) -> bool:
    hard_bounce = event.kind == "bounced" and event.bounce_type == "hard"
    return event.kind in OPT_OUT_KINDS or hard_bounce or intent == "unsubscribe"


def opt_out(session: Session, talent: Talent, channel: str, *, now: datetime) -> int:
    """Opt ``talent`` out of ``channel`` everywhere; planned messages on it are withdrawn."""
    if getattr(talent, f"{channel}_opted_out_at", None) is None:
        setattr(talent, f"{channel}_opted_out_at", now)
    talent.updated_at = now
    planned = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.talent_id == talent.id,
            OutboxMessage.channel == channel,
            OutboxMessage.status == "planned",
        )
    )
    withdrawn = 0
    for message in planned:
        message.status, message.error = "cancelled", "opted_out"
        enrollment = session.get(Enrollment, message.enrollment_id, with_for_update=True)
        if enrollment and enrollment.status == "sending" and enrollment.step_id == message.step_id:
            not_sent(session, enrollment, talent, "opted_out", now=now, sends=LeavePending())
        withdrawn += 1
    return withdrawn


def _stage(applying: _Applying) -> list[str]:
    session, event, row, talent, intent, now = applying
    where = {"at": now, "campaign": row.campaign if row else None,
             "enrollment_id": row.enrollment_id if row else None}  # fmt: skip
    effects: list[str] = []
    if engages(event) and change_stage(session, talent, "engaged", reason=event.kind, **where):  # type: ignore[arg-type]
        effects.append("stage:engaged")
    if intent == "interested":
        if change_stage(session, talent, "candidate", reason="interested reply", **where):  # type: ignore[arg-type]
            effects.append("stage:candidate")
    elif intent == "not_interested":
        change_stage(session, talent, "not_interested", reason="not interested reply", **where)  # type: ignore[arg-type]
        talent.recontact_after = talent.snoozed_until = now + RECONTACT_AFTER
        effects.append("stage:not_interested")
    return effects


def _follow_up(applying: _Applying) -> None:
    session, event, row, talent, _, now = applying
    who = talent.full_name or talent.email or talent.phone or f"talent {talent.id}"
    task = Task(
        talent_id=talent.id, enrollment_id=row.enrollment_id if row else None,
        campaign=row.campaign if row else None, step_id=row.step_id if row else None,
        title=f"Reply from {who}: follow up", body=event.text, due_at=now, created_at=now,
    )  # fmt: skip
    session.add(task)
    session.flush([task])
    record(session, "task_created", at=now, talent_id=talent.id, message=row,
           data={"task_id": task.id, "title": task.title})  # fmt: skip
    log.info("interested reply from %s (campaign %s): task %s", who, task.campaign, task.id)


def branch_event(event: InboundEvent, intent: str | None) -> str:
    """The event name branches match: ``replied.<intent>``, ``unsubscribed``, or the kind."""
    if intent == "unsubscribe" or event.kind in OPT_OUT_KINDS:
        return "unsubscribed"
    if event.kind == "replied" and intent:
        return f"replied.{intent}"
    return "failed" if event.kind == "dropped" else event.kind


def _branch(
    applying: _Applying,
    answered: OutboxMessage | None,
    effects: list[str],
    workspace: Callable[[], Workspace | None],
) -> tuple[Enrollment | None, list[tuple[Enrollment, machine.Transition]]]:
    """Take the branch of the enrollment of the message ``answered`` (None for a reply held
    for a person, or one that answers none of ours); that enrollment and the moves.

    An opt-out is about the person, not one message: it reaches every active enrollment of
    the talent as ``unsubscribed`` (a ``stop_on`` event), even when it came by address or
    through the one-click link and answers no message of ours.
    """
    session, event, _, talent, intent, now = applying
    name = branch_event(event, intent)
    enrollment = (
        session.get(Enrollment, answered.enrollment_id, with_for_update=True) if answered else None
    )
    targets = [enrollment] if enrollment else []
    if name == "unsubscribed":
        others = select(Enrollment).where(
            Enrollment.talent_id == talent.id, Enrollment.status != "exited"
        )
        active = others.order_by(Enrollment.id).with_for_update()
        targets += [e for e in session.scalars(active) if e is not enrollment]
    moves = []
    for target in targets:
        if target.status == "exited":
            continue
        before = (target.status, target.step_id)
        trigger = machine.Event(name)
        sends = LeavePending(workspace)
        moved = step_enrollment(session, target, talent, trigger, now=now, sends=sends)
        moves.append((target, moved))
        if (target.status, target.step_id) != before:
            effects.append(f"enrollment:{target.status}:{target.step_id}")
        _cancel_left_behind(session, target, now)
    return enrollment, moves


def _gives_task(session: Session, move: tuple[Enrollment, machine.Transition]) -> bool:
    """Whether the sequence answers the reply with a task step: now, or after a ``wait``.

    Then that task is the recruiter's follow-up, and no automatic one is added."""
    enrollment, transition = move
    for decision in transition.decisions:
        if isinstance(decision, machine.CreateTask):
            return True
        if isinstance(decision, machine.WaitUntil) and decision.goto is not None:
            step = load_document(session, enrollment.content_hash).sequence.step(decision.goto)
            return isinstance(step, TaskStep)
    return False


def _cancel_left_behind(session: Session, enrollment: Enrollment, now: datetime) -> None:
    """A planned message of a step the enrollment has left is withdrawn."""
    planned = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.enrollment_id == enrollment.id, OutboxMessage.status == "planned"
        )
    )
    for message in planned:
        if enrollment.status == "exited" or message.step_id != enrollment.step_id:
            message.status, message.error = "cancelled", f"enrollment moved on ({now:%Y-%m-%d})"
