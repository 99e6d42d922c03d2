"""Moving enrollments: run the interpreter on a trigger and carry out its decisions.

One path for every caller: :func:`step_rows` advances a batch of enrollment rows (frozen
:class:`~engine.store.rows.EnrollmentRow` values) and writes them back with one UPDATE;
:func:`step_enrollment` is a batch of one. What a ``SendStep`` does is said by the caller,
not by a missing argument: :class:`PlanMessages` (a campaign tick) renders and plans the
outbox row at once; :class:`LeavePending` (a webhook, a recruiter's command without the
tick's runtime) leaves the enrollment ``pending`` on that step, due now, and the next tick
plans it with the campaign's sender and links.

The caller owns the transaction; everything here happens inside it. The answers a batch
looks up once (:class:`Lookups`) and the rows it writes at its end
(:class:`~engine.talents.timeline.Writes`) travel in a :class:`Batch`, passed as an argument.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any, assert_never, cast

from sqlalchemy import Row, Table, delete, func, select
from sqlalchemy.orm import Session

from campaigns.workspace import Workspace
from engine.core import interpreter as machine
from engine.core.calendar import calendar_for
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
from engine.store.dialect import among, update_rows
from engine.store.models import Enrollment, OutboxMessage, Talent, TalentLabel, Task
from engine.store.rows import EnrollmentRow
from engine.talents.addresses import is_suppressed, suppressed
from engine.talents.moves import change_stage
from engine.talents.timeline import Writes, batched
from sequences.document import SequenceDocument
from sequences.errors import RenderError
from sequences.model import EmailStep, SmsStep, WhatsappStep
from sequences.templates import inline_label, render_step

_log = logging.getLogger("nurture.engine")


@dataclass(frozen=True)
class PlanMessages:
    """A send step renders its message and plans the outbox row at once (a campaign tick,
    a receipt, a recruiter's command with the tick's runtime)."""

    rt: Runtime

    @property
    def workspace(self) -> Workspace:
        return self.rt.workspace

    def document(self, session: Session, content_hash: str) -> SequenceDocument:
        return self.rt.document(session, content_hash)


@dataclass(frozen=True)
class LeavePending:
    """A send step leaves the enrollment ``pending`` on it, due now: the next tick plans the
    message (a webhook applying an event). ``load_workspace`` gives guards and tasks the
    campaign's sender and company; it is called only when one needs them, so an event
    that moves no such step reads no workspace file."""

    load_workspace: Callable[[], Workspace | None] = lambda: None

    @property
    def workspace(self) -> Workspace | None:
        return self.load_workspace()

    def document(self, session: Session, content_hash: str) -> SequenceDocument:
        return load_document(session, content_hash)


Sends = PlanMessages | LeavePending

_LAST_PASS = func.max(OutboxMessage.pass_number)


@dataclass
class Lookups:
    """Answers looked up once for a batch so that advancing N enrollments costs a few
    queries, not N: suppressed addresses, and the steps already in the outbox. What was
    not looked up beforehand is asked when needed."""

    addresses: set[str] = field(default_factory=set)  # the addresses looked up
    suppressed: set[str] = field(default_factory=set)
    planned: dict[tuple[int, str], int] = field(default_factory=dict)  # -> passes planned
    enrollments: set[int] = field(default_factory=set)  # the enrollments looked up

    @classmethod
    def prefetch(cls, session: Session, ids: list[int], talents: Iterable[Talent]) -> Lookups:
        """What ``unreachable`` and the planner would ask one by one, for this batch."""
        addresses = {a for t in talents for a in (t.email, t.phone) if a}
        planned = session.execute(
            select(OutboxMessage.enrollment_id, OutboxMessage.step_id, _LAST_PASS)
            .where(among(session, OutboxMessage.enrollment_id, ids))
            .group_by(OutboxMessage.enrollment_id, OutboxMessage.step_id)
        )
        return cls(
            addresses,
            suppressed(session, addresses),
            {(e, s): number for e, s, number in planned},
            set(ids),
        )

    def passes(self, session: Session, enrollment_id: int, step_id: str) -> int:
        """How many passes of the enrollment through ``step_id`` planned a message so far."""
        key = (enrollment_id, step_id)
        if key not in self.planned and enrollment_id not in self.enrollments:
            found = session.scalar(
                select(_LAST_PASS).where(
                    OutboxMessage.enrollment_id == enrollment_id, OutboxMessage.step_id == step_id
                )
            )
            self.planned[key] = found or 0
        return self.planned.get(key, 0)

    def is_suppressed(self, session: Session, address: str) -> bool:
        if address not in self.addresses:
            self.addresses.add(address)
            if is_suppressed(session, address):
                self.suppressed.add(address)
        return address in self.suppressed


@dataclass(frozen=True)
class Batch:
    """One transaction's advancing of enrollments: what a send step does, the answers
    looked up for the batch, and the rows written at its end."""

    session: Session
    sends: Sends
    writes: Writes
    lookups: Lookups = field(default_factory=Lookups)


class _Talent:
    """The talent an enrollment is about: its id at once, the model when a decision or a
    guard needs more (most receipts' transitions need nothing else)."""

    def __init__(self, session: Session, talent_id: int, model: Talent | None) -> None:
        self._session, self.id, self._model = session, talent_id, model

    def model(self) -> Talent:
        if self._model is None:
            self._model = self._session.get_one(Talent, self.id)
        return self._model


@dataclass
class _Move:
    """One enrollment being advanced: its row as it stands now (a frozen value, replaced
    at each change) and its talent."""

    row: EnrollmentRow
    talent: _Talent


def state_of(enrollment: EnrollmentRow) -> State:
    return State(
        status=enrollment.status,  # type: ignore[arg-type]
        step_id=enrollment.step_id,
        due_at=enrollment.due_at,
        step_sent_at=enrollment.step_sent_at,
        wait_goto=enrollment.wait_goto,
        outcome=enrollment.outcome,
    )


def _store(move: _Move, state: State, now: datetime) -> None:
    exited = state.status == "exited" and move.row.exited_at is None
    move.row = replace(
        move.row, status=state.status, step_id=state.step_id, due_at=state.due_at,
        step_sent_at=state.step_sent_at, wait_goto=state.wait_goto, outcome=state.outcome,
        updated_at=now, exited_at=now if exited else move.row.exited_at,
    )  # fmt: skip


def _context(sends: Sends, move: _Move) -> dict[str, Any]:
    talent, workspace = move.talent.model(), sends.workspace
    if workspace is not None and move.row.campaign in workspace.campaigns:
        return campaign_context(workspace, workspace.campaigns[move.row.campaign], talent)
    return {"talent": talent_context(talent)}


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


# The columns a transition changes, written back for a whole batch with one UPDATE.
_STATE = ("status", "step_id", "variant", "due_at", "step_sent_at", "wait_goto", "outcome",
          "updated_at", "exited_at")  # fmt: skip
ENROLLMENTS = cast(Table, Enrollment.__table__)


def step_rows(
    batch: Batch,
    rows: Sequence[EnrollmentRow],
    trigger: Trigger,
    *,
    now: datetime,
    talents: Mapping[int, Talent],
) -> list[tuple[EnrollmentRow, Transition]]:
    """Feed ``trigger`` to each enrollment, carry out the decisions, and write the rows back
    with one UPDATE; each row as written, with its transition. ``talents`` are the models
    the caller has (planning renders messages); any other talent is loaded only when a
    guard reads it or a decision needs more than its id."""
    session = batch.session
    missing = {row.talent_id for row in rows} - talents.keys()
    zones: dict[int, str | None] = {}
    if missing:
        found = session.execute(
            select(Talent.id, Talent.timezone).where(among(session, Talent.id, missing))
        )
        zones = {talent_id: zone for talent_id, zone in found}
    done = []
    for row in rows:
        model = talents.get(row.talent_id)
        move = _Move(row, _Talent(session, row.talent_id, model))
        zone = model.timezone if model is not None else zones.get(row.talent_id)
        transition = _step(batch, move, trigger, now=now, zone=zone)
        done.append((move.row, transition))
    _write_back(session, [row for row, _ in done])
    return done


def _step(
    batch: Batch, move: _Move, trigger: Trigger, *, now: datetime, zone: str | None
) -> Transition:
    doc = batch.sends.document(batch.session, move.row.content_hash)
    context = _LazyContext(partial(_context, batch.sends, move))
    calendar = calendar_for(doc.sequence.settings, zone)

    def feed(trigger: Trigger) -> Transition:
        """The interpreter run on the enrollment's current state."""
        state = state_of(move.row)
        return machine.advance(doc.sequence, state, context, trigger, now=now, calendar=calendar)

    return _perform(batch, move, doc, feed(trigger), feed, context, now=now)


def _write_back(session: Session, rows: Sequence[EnrollmentRow]) -> None:
    written = [{"id": row.id, **{name: getattr(row, name) for name in _STATE}} for row in rows]
    update_rows(session, ENROLLMENTS, written)


def step_many(batch: Batch, moves: Sequence[tuple[int, str, Trigger]], *, now: datetime) -> None:
    """Feed each ``(enrollment id, step id, trigger)`` to its enrollment when it is still
    sending that step: :func:`step_rows` for a batch of receipts."""
    session = batch.session
    ids = sorted({move[0] for move in moves})
    # Locked (PostgreSQL), in id order: an event applied to one of them at the same time
    # (a reply) is either seen here or waits, never written over.
    found = session.execute(
        select(ENROLLMENTS).where(among(session, ENROLLMENTS.c.id, ids)).order_by(ENROLLMENTS.c.id)
        .with_for_update()
    )  # fmt: skip
    rows = {row.id: EnrollmentRow.from_row(row) for row in found}
    by_trigger: dict[Trigger, list[EnrollmentRow]] = {}
    for enrollment_id, step_id, trigger in moves:
        row = rows.get(enrollment_id)
        if row is not None and row.status == "sending" and row.step_id == step_id:
            by_trigger.setdefault(trigger, []).append(row)
    for trigger, group in by_trigger.items():
        step_rows(batch, group, trigger, now=now, talents={})


@contextmanager
def _one(
    session: Session, enrollment: Enrollment, talent: Talent, sends: Sends
) -> Iterator[tuple[Batch, _Move]]:
    """A batch of one for an enrollment model: its pending changes (and the timeline rows
    added before) are flushed first, and the model is re-read as written afterwards."""
    session.flush()
    with batched(session) as writes:
        lookups = Lookups.prefetch(session, [enrollment.id], [talent])
        move = _Move(EnrollmentRow.from_row(enrollment), _Talent(session, talent.id, talent))
        yield Batch(session, sends, writes, lookups), move
    session.expire(enrollment)


def step_enrollment(
    session: Session,
    enrollment: Enrollment,
    talent: Talent,
    trigger: Trigger,
    *,
    now: datetime,
    sends: Sends,
) -> Transition:
    """:func:`step_rows` for one enrollment model (a webhook's event, a completed task)."""
    with _one(session, enrollment, talent, sends) as (batch, move):
        talents = {talent.id: talent}
        ((_, transition),) = step_rows(batch, [move.row], trigger, now=now, talents=talents)
    return transition


_Feed = Callable[[Trigger], Transition]


def _perform(
    batch: Batch,
    move: _Move,
    doc: SequenceDocument,
    transition: Transition,
    feed: _Feed,
    context: Mapping[str, Any],
    *,
    now: datetime,
) -> Transition:
    """Carry out ``transition``; a message that cannot go is fed back to the interpreter as
    ``NotSent``, in a loop rather than a recursion: a chain of a thousand steps the talent
    cannot get (no phone for any SMS) moves on without deepening the stack. A template
    failing for this talent parks this enrollment alone in ``error`` (rendering comes
    before any row of the message is added)."""
    while True:
        try:
            reason = _carry_out(batch, move, doc, transition, context, now=now)
        except RenderError as exc:
            transition = machine.failed(move.row.step_id or "", exc)
            continue
        if reason is None:
            return transition
        if reason in HARD_STOPS:
            return _stop(batch, move, reason, now=now)
        transition = feed(machine.NotSent(reason))


def _carry_out(
    batch: Batch,
    move: _Move,
    doc: SequenceDocument,
    transition: Transition,
    context: Mapping[str, Any],
    *,
    now: datetime,
) -> str | None:
    """Perform the decisions; why the message they end with cannot go, or None."""
    for decision in transition.decisions:
        if isinstance(decision, SendStep):
            return _send(batch, move, doc, transition, decision, now=now)
        if isinstance(decision, Goto):
            # later records name the step they are about
            move.row = replace(move.row, step_id=decision.step_id)
        if isinstance(decision, CreateTask):
            _apply(batch, move, rendered_task(doc, decision, context), now=now)
            continue
        if isinstance(decision, StepFailed):
            _record_failure(batch, move, doc, decision, now=now)
            continue
        _apply(batch, move, decision, now=now)
    _store(move, transition.state, now)
    return None


def _failure_text(doc: SequenceDocument, failure: StepFailed) -> str:
    """``step 'intro': templates/intro.md.j2:3:1: template: ...`` (a guard: its sequence)."""
    guard = inline_label(doc, "if")
    problems = [
        replace(p, file=guard) if p.file == "<guard>" else p for p in failure.error.problems
    ]
    return f"step {failure.step_id!r}: " + "; ".join(map(str, problems))


def _record_failure(
    batch: Batch, move: _Move, doc: SequenceDocument, failure: StepFailed, *, now: datetime
) -> None:
    text = _failure_text(doc, failure)
    _log.info("enrollment %s (talent %s) of %s in error: %s", move.row.id, move.talent.id,
              move.row.campaign, text)  # fmt: skip
    batch.writes.record("error", at=now, talent_id=move.talent.id, enrollment=move.row,
                        step_id=failure.step_id, detail=text, data={"error": text})  # fmt: skip


def _send(
    batch: Batch,
    move: _Move,
    doc: SequenceDocument,
    transition: Transition,
    send: SendStep,
    *,
    now: datetime,
) -> str | None:
    """The last decision of a chain: plan the message, or say why it cannot go."""
    _store(move, transition.state, now)
    talent = move.talent.model()
    if (reason := _unreachable(batch, talent, send.channel)) is not None:
        return reason
    sends = batch.sends
    if isinstance(sends, LeavePending) or move.row.campaign not in sends.workspace.campaigns:
        _store(move, State("pending", send.step_id, due_at=now), now)
        return None
    step = doc.sequence.step(send.step_id)
    assert isinstance(step, EmailStep | SmsStep | WhatsappStep)
    number = batch.lookups.passes(batch.session, move.row.id, step.id) + 1
    move.row = plan_message(
        batch.session, batch.writes, sends.rt, move.row, talent, doc, step,
        due_at=send.not_before, now=now, pass_number=number,
    )  # fmt: skip
    batch.lookups.planned[move.row.id, step.id] = number
    return None


HARD_STOPS = ("do_not_contact", "suppressed", "erased")


def not_sent(
    session: Session,
    enrollment: Enrollment,
    talent: Talent,
    reason: str,
    *,
    now: datetime,
    sends: Sends,
) -> Transition:
    """The current step's message cannot go: skip the step, or exit when nobody may write."""
    if reason not in HARD_STOPS:
        trigger = machine.NotSent(reason)
        return step_enrollment(session, enrollment, talent, trigger, now=now, sends=sends)
    with _one(session, enrollment, talent, sends) as (batch, move):
        stopped = _stop(batch, move, reason, now=now)
        _write_back(session, [move.row])
    return stopped


def _stop(batch: Batch, move: _Move, reason: str, *, now: datetime) -> Transition:
    skipped = SkipStep(move.row.step_id or "", reason)
    _apply(batch, move, skipped, now=now)
    exited = _exit(batch, move, reason, now=now)
    return Transition(exited.state, (skipped, *exited.decisions))


def exit_enrollment(
    session: Session, enrollment: Enrollment, talent: Talent, outcome: str, *, now: datetime
) -> Transition:
    """Exit ``enrollment`` now with ``outcome``, on the timeline (the caller withdraws any
    planned message)."""
    with _one(session, enrollment, talent, LeavePending()) as (batch, move):
        exited = _exit(batch, move, outcome, now=now)
        _write_back(session, [move.row])
    return exited


def _exit(batch: Batch, move: _Move, outcome: str, *, now: datetime) -> Transition:
    _apply(batch, move, Exit(outcome), now=now)
    exited = State("exited", move.row.step_id, outcome=outcome)
    _store(move, exited, now)
    return Transition(exited, (Exit(outcome),))


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


def _unreachable(batch: Batch, talent: Talent, channel: str) -> str | None:
    """Why ``talent`` may not get a message on ``channel`` now, or None when they may."""
    if (reason := blocked(talent, channel)) is not None:
        return reason
    if batch.lookups.is_suppressed(batch.session, address(talent, channel) or ""):
        return "suppressed"
    return None


def _apply(batch: Batch, move: _Move, decision: Decision, *, now: datetime) -> None:
    record = batch.writes.record
    where: dict[str, Any] = {"at": now, "talent_id": move.talent.id, "enrollment": move.row}
    match decision:
        case SkipStep(step_id=step_id, reason=reason):
            record("skipped", step_id=step_id, data={"reason": reason}, **where)
        case CreateTask():
            _task(batch, move, decision, now)
        case WaitUntil(until=until, goto=goto, reason=reason):
            data = {"until": until.isoformat(), "goto": goto, "reason": reason}
            record("waited", step_id=move.row.step_id, data=data, **where)
        case Goto():
            pass  # the step entered next records itself (planned, skipped, task_created)
        case Exit(outcome=outcome):
            record("exited", step_id=move.row.step_id, data={"outcome": outcome}, **where)
        case SetStage(stage=stage):
            batch.writes.flush()  # the stage change's own timeline row comes after these
            change_stage(
                batch.session, move.talent.model(), stage, at=now, reason="sequence",
                campaign=move.row.campaign, enrollment_id=move.row.id,
            )  # fmt: skip
        case SetTags(add=add, remove=remove):
            set_tags(batch.session, move.talent.model(), add, remove)
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


def _task(batch: Batch, move: _Move, decision: CreateTask, now: datetime) -> None:
    enrollment = move.row
    task = Task(
        talent_id=move.talent.id, enrollment_id=enrollment.id, campaign=enrollment.campaign,
        step_id=decision.step_id, title=decision.title, body=decision.body,
        due_at=decision.due_at, created_at=now,
    )  # fmt: skip
    batch.session.add(task)
    batch.session.flush([task])
    data = {"task_id": task.id, "title": decision.title}
    batch.writes.record("task_created", at=now, talent_id=move.talent.id, enrollment=enrollment,
                        step_id=decision.step_id, channel="task", data=data)  # fmt: skip
