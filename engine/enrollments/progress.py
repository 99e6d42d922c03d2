"""Moving one enrollment: run the interpreter on a trigger and carry out its decisions.

The caller owns the transaction; everything here happens inside it. With a ``Runtime``
(a campaign tick) a ``SendStep`` renders and plans the outbox row at once; without one
(a webhook applying an event) the enrollment is left ``pending`` on that step, due now,
and the next tick plans it with the campaign's sender and links.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from types import SimpleNamespace
from typing import Any, assert_never, cast

from sqlalchemy import Row, Table, bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from campaigns.workspace import Workspace
from engine.core import interpreter as machine
from engine.core.calendar import SendCalendar, calendar_for
from engine.core.interpreter import (
    CreateTask,
    Decision,
    Exit,
    Goto,
    SendStep,
    SetStage,
    SetTags,
    SkipStep,
    State,
    StepFailed,
    Transition,
    Trigger,
    WaitUntil,
)
from engine.enrollments.planning import address, plan_message
from engine.runs.runtime import Runtime, campaign_context, load_document, talent_context
from engine.store.dialect import among, execute_many
from engine.store.models import Enrollment, OutboxMessage, Talent, TalentLabel, Task
from engine.talents.addresses import is_suppressed, suppressed
from engine.talents.moves import change_stage
from engine.talents.timeline import record
from sequences.document import SequenceDocument
from sequences.errors import RenderError
from sequences.model import EmailStep, SmsStep, WhatsappStep
from sequences.templates import inline_label, render_step

_log = logging.getLogger("nurture.engine")


def state_of(enrollment: Enrollment) -> State:
    return State(
        status=enrollment.status,  # type: ignore[arg-type]
        step_id=enrollment.step_id,
        due_at=enrollment.due_at,
        step_sent_at=enrollment.step_sent_at,
        wait_goto=enrollment.wait_goto,
        outcome=enrollment.outcome,
    )


def _store(enrollment: Enrollment, state: State, now: datetime) -> None:
    enrollment.status, enrollment.step_id = state.status, state.step_id
    enrollment.due_at, enrollment.step_sent_at = state.due_at, state.step_sent_at
    enrollment.wait_goto, enrollment.outcome = state.wait_goto, state.outcome
    enrollment.updated_at = now
    if state.status == "exited" and enrollment.exited_at is None:
        enrollment.exited_at = now


def _context(
    rt: Runtime | None, enrollment: Enrollment, talent: Talent, workspace: Workspace | None = None
) -> dict[str, Any]:
    workspace = rt.workspace if rt is not None else workspace
    if workspace is not None and enrollment.campaign in workspace.campaigns:
        return campaign_context(workspace, workspace.campaigns[enrollment.campaign], talent)
    return {"talent": talent_context(talent)}


def step_enrollment(
    session: Session,
    enrollment: Enrollment,
    talent: Talent,
    trigger: Trigger,
    *,
    now: datetime,
    rt: Runtime | None = None,
    workspace: Workspace | None = None,
) -> Transition:
    """Feed ``trigger`` to the interpreter for this enrollment and perform the decisions.

    Without ``rt`` (a webhook), ``workspace`` gives tasks the campaign's sender and company.
    """
    doc = rt.document(session, enrollment.content_hash) if rt else None
    doc = doc or load_document(session, enrollment.content_hash)
    calendar = calendar_for(doc.sequence.settings, talent.timezone)
    context = _context(rt, enrollment, talent, workspace)
    feed = partial(_advance, doc, enrollment, context, now=now, calendar=calendar)
    return _perform(session, enrollment, talent, doc, feed(trigger), feed, context, now=now, rt=rt)


_Feed = Callable[[Trigger], Transition]


def _advance(
    doc: SequenceDocument,
    enrollment: Enrollment,
    context: Mapping[str, Any],
    trigger: Trigger,
    *,
    now: datetime,
    calendar: SendCalendar,
) -> Transition:
    """The interpreter run on the enrollment's current state."""
    state = state_of(enrollment)
    return machine.advance(doc.sequence, state, context, trigger, now=now, calendar=calendar)


def _perform(
    session: Session,
    enrollment: Enrollment,
    talent: Talent,
    doc: SequenceDocument,
    transition: Transition,
    feed: _Feed,
    context: Mapping[str, Any],
    *,
    now: datetime,
    rt: Runtime | None,
) -> Transition:
    """Carry out ``transition``; a message that cannot go is fed back to the interpreter as
    ``NotSent``, in a loop rather than a recursion: a chain of a thousand steps the talent
    cannot get (no phone for any SMS) moves on without deepening the stack. A template
    failing for this talent parks this enrollment alone in ``error`` (rendering comes
    before any row of the message is added)."""
    while True:
        try:
            reason = _carry_out(session, enrollment, talent, doc, transition, context, now=now,
                                rt=rt)  # fmt: skip
        except RenderError as exc:
            transition = machine.failed(enrollment.step_id or "", exc)
            continue
        if reason is None:
            return transition
        if reason in HARD_STOPS:
            return _stop(session, enrollment, talent, reason, now=now)
        transition = feed(machine.NotSent(reason))


def _carry_out(
    session: Session,
    enrollment: Enrollment,
    talent: Talent,
    doc: SequenceDocument,
    transition: Transition,
    context: Mapping[str, Any],
    *,
    now: datetime,
    rt: Runtime | None,
) -> str | None:
    """Perform the decisions; why the message they end with cannot go, or None."""
    for decision in transition.decisions:
        if isinstance(decision, SendStep):
            return _send(session, enrollment, talent, doc, transition, decision, now=now, rt=rt)
        if isinstance(decision, Goto):
            enrollment.step_id = decision.step_id  # later records name the step they are about
        if isinstance(decision, CreateTask):
            _apply(session, enrollment, talent, rendered_task(doc, decision, context), now=now)
            continue
        if isinstance(decision, StepFailed):
            _record_failure(session, enrollment, talent, doc, decision, now=now)
            continue
        _apply(session, enrollment, talent, decision, now=now)
    _store(enrollment, transition.state, now)
    return None


def _failure_text(doc: SequenceDocument, failure: StepFailed) -> str:
    """``step 'intro': templates/intro.md.j2:3:1: template: ...`` (a guard: its sequence)."""
    guard = inline_label(doc, "if")
    problems = [
        replace(p, file=guard) if p.file == "<guard>" else p for p in failure.error.problems
    ]
    return f"step {failure.step_id!r}: " + "; ".join(map(str, problems))


def _record_failure(
    session: Session,
    enrollment: Enrollment,
    talent: Talent,
    doc: SequenceDocument,
    failure: StepFailed,
    *,
    now: datetime,
) -> None:
    text = _failure_text(doc, failure)
    _log.info("enrollment %s (talent %s) of %s in error: %s", enrollment.id, talent.id,
                 enrollment.campaign, text)  # fmt: skip
    record(session, "error", at=now, talent_id=talent.id, enrollment=enrollment,
           step_id=failure.step_id, detail=text, data={"error": text})  # fmt: skip


def _send(
    session: Session,
    enrollment: Enrollment,
    talent: Talent,
    doc: SequenceDocument,
    transition: Transition,
    send: SendStep,
    *,
    now: datetime,
    rt: Runtime | None,
) -> str | None:
    """The last decision of a chain: plan the message, or say why it cannot go."""
    _store(enrollment, transition.state, now)
    if (reason := unreachable(session, talent, send.channel)) is not None:
        return reason
    if rt is None or enrollment.campaign not in rt.workspace.campaigns:
        _store(enrollment, State("pending", send.step_id, due_at=now), now)
        return None
    step = doc.sequence.step(send.step_id)
    assert isinstance(step, EmailStep | SmsStep | WhatsappStep)
    number = _passes(session, enrollment, step.id) + 1
    plan_message(
        session, rt, enrollment, talent, doc, step, due_at=send.not_before, now=now,
        pass_number=number,
    )  # fmt: skip
    if (known := _lookups(session)) is not None:
        known.planned[enrollment.id, step.id] = number
    return None


# Decisions that need nothing of the talent but its id: when a receipt's transition is made
# only of these, the talent is not loaded at all (guards load it when they read it).
_PLAIN = (WaitUntil, Exit, Goto, SkipStep)
# The columns a transition changes, written back for a whole batch with one UPDATE.
_STATE = ("status", "step_id", "variant", "due_at", "step_sent_at", "wait_goto", "outcome",
          "updated_at", "exited_at")  # fmt: skip
ENROLLMENTS = cast(Table, Enrollment.__table__)


class _LazyContext(Mapping[str, Any]):
    """A render context built (and its talent loaded) only when a guard reads it."""

    def __init__(self, build: Callable[[], Mapping[str, Any]]) -> None:
        self._build = build
        self._data: Mapping[str, Any] | None = None

    def _get(self) -> Mapping[str, Any]:
        if self._data is None:
            self._data = self._build()
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


def _lazy_context(
    rt: Runtime, enrollment: Enrollment, talent: Talent | None, load: Callable[[], Talent]
) -> dict[str, Any]:
    return _context(rt, enrollment, talent or load())


def step_rows(
    session: Session,
    rt: Runtime,
    rows: Sequence[Row[Any]],
    trigger: Trigger,
    *,
    now: datetime,
    talents: Mapping[int, Talent] | None = None,
) -> list[tuple[Enrollment, Transition]]:
    """:func:`step_enrollment` for a batch of enrollment rows (Core rows, not models).

    Each transition is carried out on a plain copy of its row, and the copies are written
    back with one UPDATE: no ORM object per enrollment. ``talents`` are the models when the
    caller has them (planning renders messages); otherwise a talent is loaded only when a
    guard reads it or a decision needs more than its id."""
    zones: Mapping[int, str | None] = {}
    if talents is None:
        found = session.execute(
            select(Talent.id, Talent.timezone).where(
                among(session, Talent.id, {r.talent_id for r in rows})
            )
        )
        zones = {talent_id: zone for talent_id, zone in found}
    done = []
    for row in rows:
        enrollment = cast(Enrollment, SimpleNamespace(**row._mapping))
        talent = talents[row.talent_id] if talents is not None else None
        load = partial(session.get_one, Talent, row.talent_id)
        doc = rt.document(session, row.content_hash)
        zone = talent.timezone if talent is not None else zones.get(row.talent_id)
        context = _LazyContext(partial(_lazy_context, rt, enrollment, talent, load))
        calendar = calendar_for(doc.sequence.settings, zone)
        feed = partial(_advance, doc, enrollment, context, now=now, calendar=calendar)
        transition = feed(trigger)
        if talent is None:
            plain = all(isinstance(decision, _PLAIN) for decision in transition.decisions)
            talent = cast(Talent, SimpleNamespace(id=row.talent_id)) if plain else load()
        performed = _perform(session, enrollment, talent, doc, transition, feed, context, now=now,
                             rt=rt)  # fmt: skip
        done.append((enrollment, performed))
    if done:
        values: dict[str, Any] = {name: bindparam(f"new_{name}") for name in _STATE}
        statement = update(ENROLLMENTS).where(ENROLLMENTS.c.id == bindparam("enrollment"))
        written = [
            {"enrollment": e.id, **{f"new_{name}": getattr(e, name) for name in _STATE}}
            for e, _ in done
        ]
        execute_many(session, statement.values(values), written)
    return done


def step_many(
    session: Session, rt: Runtime, moves: Sequence[tuple[int, str, Trigger]], *, now: datetime
) -> None:
    """Feed each ``(enrollment id, step id, trigger)`` to its enrollment when it is still
    sending that step: :func:`step_enrollment` for a batch of receipts."""
    ids = sorted({move[0] for move in moves})
    # Locked (PostgreSQL), in id order: an event applied to one of them at the same time
    # (a reply) is either seen here or waits, never written over.
    found = session.execute(
        select(ENROLLMENTS).where(among(session, ENROLLMENTS.c.id, ids)).order_by(ENROLLMENTS.c.id)
        .with_for_update()
    )  # fmt: skip
    rows = {row.id: row for row in found}
    by_trigger: dict[Trigger, list[Row[Any]]] = {}
    for enrollment_id, step_id, trigger in moves:
        row = rows.get(enrollment_id)
        if row is not None and row.status == "sending" and row.step_id == step_id:
            by_trigger.setdefault(trigger, []).append(row)
    for trigger, group in by_trigger.items():
        step_rows(session, rt, group, trigger, now=now)


HARD_STOPS = ("do_not_contact", "suppressed", "erased")


def not_sent(
    session: Session,
    enrollment: Enrollment,
    talent: Talent,
    reason: str,
    *,
    now: datetime,
    rt: Runtime | None,
) -> Transition:
    """The current step's message cannot go: skip the step, or exit when nobody may write."""
    if reason in HARD_STOPS:
        return _stop(session, enrollment, talent, reason, now=now)
    return step_enrollment(session, enrollment, talent, machine.NotSent(reason), now=now, rt=rt)


def _stop(
    session: Session, enrollment: Enrollment, talent: Talent, reason: str, *, now: datetime
) -> Transition:
    skipped = SkipStep(enrollment.step_id or "", reason)
    _apply(session, enrollment, talent, skipped, now=now)
    exited = exit_enrollment(session, enrollment, talent, reason, now=now)
    return Transition(exited.state, (skipped, *exited.decisions))


def exit_enrollment(
    session: Session, enrollment: Enrollment, talent: Talent, outcome: str, *, now: datetime
) -> Transition:
    """Exit ``enrollment`` now with ``outcome``, on the timeline (the caller withdraws any
    planned message)."""
    _apply(session, enrollment, talent, Exit(outcome), now=now)
    exited = State("exited", enrollment.step_id, outcome=outcome)
    _store(enrollment, exited, now)
    return Transition(exited, (Exit(outcome),))


_LOOKUPS = "nurture.lookups"


@dataclass
class Lookups:
    """Batch answers kept in ``session.info`` so that advancing N enrollments costs a few
    queries, not N: suppressed addresses, and the steps already in the outbox."""

    addresses: set[str] = field(default_factory=set)  # the addresses looked up
    suppressed: set[str] = field(default_factory=set)
    planned: dict[tuple[int, str], int] = field(default_factory=dict)  # -> passes planned
    enrollments: set[int] = field(default_factory=set)  # the enrollments looked up


def prefetch(session: Session, ids: list[int], talents: list[Talent]) -> None:
    """Answer, for this batch, what ``unreachable`` and the planner would ask one by one."""
    addresses = {a for t in talents for a in (t.email, t.phone) if a}
    planned = session.execute(
        select(OutboxMessage.enrollment_id, OutboxMessage.step_id, _LAST_PASS)
        .where(among(session, OutboxMessage.enrollment_id, ids))
        .group_by(OutboxMessage.enrollment_id, OutboxMessage.step_id)
    )
    session.info[_LOOKUPS] = Lookups(
        addresses,
        suppressed(session, addresses),
        {(e, s): number for e, s, number in planned},
        set(ids),
    )


def _lookups(session: Session) -> Lookups | None:
    found = session.info.get(_LOOKUPS)
    return found if isinstance(found, Lookups) else None


_LAST_PASS = func.max(OutboxMessage.pass_number)


def _passes(session: Session, enrollment: Enrollment, step_id: str) -> int:
    """How many passes of the enrollment through ``step_id`` planned a message so far."""
    known = _lookups(session)
    if known is not None and enrollment.id in known.enrollments:
        return known.planned.get((enrollment.id, step_id), 0)
    found = session.scalar(
        select(_LAST_PASS).where(
            OutboxMessage.enrollment_id == enrollment.id, OutboxMessage.step_id == step_id
        )
    )
    return found or 0


def _suppressed(session: Session, address: str) -> bool:
    known = _lookups(session)
    if known is not None and address in known.addresses:
        return address in known.suppressed
    return is_suppressed(session, address)


def blocked(talent: Talent | Row[Any], channel: str) -> str | None:
    """Why ``talent`` (the model, or a row of its columns) may not get a message on
    ``channel``, suppression aside; None when nothing in the talent's own record stops it."""
    if talent.erased_at is not None:
        return "erased"
    if talent.stage == "do_not_contact":
        return "do_not_contact"
    if getattr(talent, f"{channel}_opted_out_at") is not None:
        return "opted_out"
    if not address(talent, channel):
        return "no_address"
    return None


def unreachable(session: Session, talent: Talent, channel: str) -> str | None:
    """Why ``talent`` may not get a message on ``channel`` now, or None when they may."""
    if (reason := blocked(talent, channel)) is not None:
        return reason
    if _suppressed(session, address(talent, channel) or ""):
        return "suppressed"
    return None


def _apply(
    session: Session, enrollment: Enrollment, talent: Talent, decision: Decision, *, now: datetime
) -> None:
    where: dict[str, Any] = {"at": now, "talent_id": talent.id, "enrollment": enrollment}
    match decision:
        case SkipStep(step_id=step_id, reason=reason):
            record(session, "skipped", step_id=step_id, data={"reason": reason}, **where)
        case CreateTask(step_id=step_id, title=title, body=body, due_at=due_at):
            _task(session, enrollment, talent, step_id, title, body, due_at, now)
        case WaitUntil(until=until, goto=goto, reason=reason):
            data = {"until": until.isoformat(), "goto": goto, "reason": reason}
            record(session, "waited", step_id=enrollment.step_id, data=data, **where)
        case Goto():
            pass  # the step entered next records itself (planned, skipped, task_created)
        case Exit(outcome=outcome):
            record(
                session, "exited", step_id=enrollment.step_id, data={"outcome": outcome}, **where
            )
        case SetStage(stage=stage):
            change_stage(
                session, talent, stage, at=now, reason="sequence", campaign=enrollment.campaign,
                enrollment_id=enrollment.id,
            )  # fmt: skip
        case SetTags(add=add, remove=remove):
            set_tags(session, talent, add, remove)
        case SendStep():
            raise AssertionError("SendStep is performed by _send")
        case StepFailed():
            raise AssertionError("StepFailed is recorded by _record_failure")
        case _:
            assert_never(decision)


def set_tags(
    session: Session, talent: Talent, add: tuple[str, ...], remove: tuple[str, ...]
) -> None:
    if remove:
        session.execute(
            delete(TalentLabel).where(
                TalentLabel.talent_id == talent.id,
                TalentLabel.kind == "tag",
                TalentLabel.value.in_(remove),
            )
        )
    for tag in set(add) - set(talent.tags):
        session.add(TalentLabel(talent_id=talent.id, kind="tag", value=tag))
    session.expire(talent, ["labels"])


def rendered_task(
    doc: SequenceDocument, task: CreateTask, context: Mapping[str, Any]
) -> CreateTask:
    """The task step's title and body written for this talent, as ``nurture preview`` shows
    them; a template failing for this talent raises RenderError, as a message's does, and
    parks the enrollment in ``error`` (:func:`_perform`)."""
    shown = render_step(doc, task.step_id, None, context)
    return replace(task, title=shown.subject or task.title, body=shown.text or None)


def _task(
    session: Session,
    enrollment: Enrollment,
    talent: Talent,
    step_id: str,
    title: str,
    body: str | None,
    due_at: datetime | None,
    now: datetime,
) -> None:
    task = Task(
        talent_id=talent.id, enrollment_id=enrollment.id, campaign=enrollment.campaign,
        step_id=step_id, title=title, body=body, due_at=due_at, created_at=now,
    )  # fmt: skip
    session.add(task)
    session.flush([task])
    data = {"task_id": task.id, "title": title}
    record(session, "task_created", at=now, talent_id=talent.id, enrollment=enrollment,
           step_id=step_id, channel="task", data=data)  # fmt: skip
