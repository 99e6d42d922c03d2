"""The enrollment state machine: a pure function from (sequence, state, talent, trigger, now)
to a new state and the decisions the caller performs. No I/O, no clock of its own.

States: ``pending`` (enter ``step_id`` once due), ``sending`` (the step's message is in the
outbox), ``waiting`` (at ``step_id`` for an event, a task or the timeout at ``due_at``),
``error`` (a template failed for this talent at ``step_id``: parked, never due, until a fix
and ``nurture migrate`` set it ``pending`` again), ``exited``.

Rules, in the order they apply:
- Entering a step whose ``if`` guard is false skips it (``Skip``); a skipped step then
  takes its next branch, else its first ``after`` branch at once (no waiting), else falls
  through to the step written after it, else exits ``completed`` (``sequences.flow``
  holds these choices, shared with the graph and the checks).
- A message step plans a ``Send`` for the next opening of the send window; once sent,
  its ``after`` timeouts count from the actual send time. A step with a plain next branch
  (no ``when``/``after``) moves on as soon as it is sent; a step with no branch falls
  through. A task step creates a ``CreateTask`` and waits for ``completed``.
- An event is matched against the current step's ``when`` branches: an exact match first
  (``replied.interested``), then the generic one (``replied`` matches every intent), each
  in list order. Without a match, an event whose kind is in ``stop_on`` exits with that
  kind as the outcome; ``failed`` (a permanent delivery failure) always exits ``failed``.
- ``wait`` in a branch parks the enrollment until the wait is over, then goes to ``goto``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, assert_never

from engine.core.calendar import SendCalendar
from sequences.errors import RenderError
from sequences.flow import done_branch, holds, skip_branch
from sequences.model import (
    EmailStep,
    EventBranch,
    NextBranch,
    Sequence,
    SmsStep,
    TaskStep,
    TimeoutBranch,
    WhatsappStep,
)
from sequences.templates import evaluate_guard

Status = Literal["pending", "sending", "waiting", "error", "exited"]
AnyStep = EmailStep | SmsStep | WhatsappStep | TaskStep
AnyBranch = EventBranch | TimeoutBranch | NextBranch


@dataclass(frozen=True)
class State:
    status: Status
    step_id: str | None
    due_at: datetime | None = None
    step_sent_at: datetime | None = None
    wait_goto: str | None = None
    outcome: str | None = None


# --- triggers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    """The clock reached ``due_at`` (enter a pending step, or a timeout)."""


@dataclass(frozen=True)
class Sent:
    """The current step's message went out at ``at``."""

    at: datetime


@dataclass(frozen=True)
class Event:
    """An engagement: ``replied.interested``, ``opened``, ``completed``, ``unsubscribed``..."""

    name: str


@dataclass(frozen=True)
class NotSent:
    """The current step's message was withdrawn before sending (opted out at claim time)."""

    reason: str


Trigger = Due | Sent | Event | NotSent


# --- decisions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SendStep:
    step_id: str
    channel: str
    not_before: datetime


@dataclass(frozen=True)
class SkipStep:
    step_id: str
    reason: str


@dataclass(frozen=True)
class CreateTask:
    step_id: str
    title: str
    body: str | None
    due_at: datetime | None


@dataclass(frozen=True)
class WaitUntil:
    until: datetime
    goto: str | None
    reason: str


@dataclass(frozen=True)
class Goto:
    step_id: str
    reason: str


@dataclass(frozen=True)
class Exit:
    outcome: str


@dataclass(frozen=True)
class SetStage:
    stage: str


@dataclass(frozen=True)
class SetTags:
    add: tuple[str, ...]
    remove: tuple[str, ...]


@dataclass(frozen=True)
class StepFailed:
    """A template of ``step_id`` failed for this talent: the enrollment alone is parked."""

    step_id: str
    error: RenderError


Decision = (
    SendStep | SkipStep | CreateTask | WaitUntil | Goto | Exit | SetStage | SetTags | StepFailed
)


@dataclass(frozen=True)
class Transition:
    state: State
    decisions: tuple[Decision, ...] = ()


def failed(step_id: str, error: RenderError) -> Transition:
    """Park the enrollment in ``error`` at ``step_id``: never due until it is fixed."""
    return Transition(State("error", step_id), (StepFailed(step_id, error),))


# --- the machine --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Run:
    """What one call works with; ``budget`` stops a goto loop of skipped steps."""

    sequence: Sequence
    context: Mapping[str, Any]
    now: datetime
    calendar: SendCalendar
    budget: int


@dataclass(frozen=True)
class _Enter:
    """Enter ``step_id`` next, after ``decisions``: followed by the loop of ``_settle``, so a
    chain of skipped steps, however long, never deepens the stack."""

    step_id: str
    decisions: tuple[Decision, ...] = ()


_Move = Transition | _Enter


def start(sequence: Sequence, step_id: str | None = None, *, now: datetime) -> State:
    """The state of a new enrollment: due at once on its first step."""
    return State("pending", step_id or sequence.steps[0].id, due_at=now)


def advance(
    sequence: Sequence,
    state: State,
    context: Mapping[str, Any],
    trigger: Trigger,
    *,
    now: datetime,
    calendar: SendCalendar,
) -> Transition:
    """The next state of an enrollment given ``trigger``, and the decisions to carry out."""
    run = _Run(sequence, context, now, calendar, budget=2 * len(sequence.steps) + 4)
    if state.status == "exited" or state.step_id is None:
        return Transition(state)
    return _settle(run, _react(run, state, sequence.step(state.step_id), trigger))


def _react(run: _Run, state: State, step: AnyStep, trigger: Trigger) -> _Move:
    match trigger:
        case Due():
            return _on_due(run, state, step)
        case Sent(at=at):
            if state.status != "sending":
                return Transition(state)
            return _after_send(run, replace(state, step_sent_at=at), step)
        case Event(name=name):
            return _on_event(run, state, step, name)
        case NotSent(reason=reason):
            if state.status != "sending":
                return Transition(state)
            return _chain(SkipStep(step.id, reason), _after_skip(run, state, step))
        case _:
            assert_never(trigger)


def _settle(run: _Run, move: _Move) -> Transition:
    """Enter step after step until one sends, waits or exits (or the budget runs out)."""
    decisions: list[Decision] = []
    for _ in range(run.budget):
        if isinstance(move, Transition):
            break
        decisions += move.decisions
        move = _enter(run, move.step_id)
    if isinstance(move, _Enter):
        exited = State("exited", move.step_id, outcome="loop")
        return Transition(exited, (*decisions, *move.decisions, Exit("loop")))
    return Transition(move.state, (*decisions, *move.decisions))


def _chain(first: Decision | tuple[Decision, ...], then: _Move) -> _Move:
    head = first if isinstance(first, tuple) else (first,)
    if isinstance(then, _Enter):
        return _Enter(then.step_id, head + then.decisions)
    return Transition(then.state, head + then.decisions)


def _on_due(run: _Run, state: State, step: AnyStep) -> _Move:
    if state.due_at is None or state.due_at > run.now:
        return Transition(state)
    if state.status == "pending":
        return _Enter(step.id)
    if state.status != "waiting":
        return Transition(state)
    if state.wait_goto is not None:
        return _Enter(state.wait_goto, (Goto(state.wait_goto, "wait over"),))
    branch = _due_timeout(run, state, step)
    return Transition(state) if branch is None else _take(run, state, branch, "timeout")


def _due_timeout(run: _Run, state: State, step: AnyStep) -> TimeoutBranch | None:
    since = state.step_sent_at or run.now
    due = [
        (run.calendar.add(since, branch.after), index, branch)
        for index, branch in enumerate(step.on)
        if isinstance(branch, TimeoutBranch)
    ]
    ready = sorted((at, index, branch) for at, index, branch in due if at <= run.now)
    return ready[0][2] if ready else None


def _next_timeout(run: _Run, since: datetime, step: AnyStep) -> datetime | None:
    deadlines = [
        run.calendar.add(since, branch.after)
        for branch in step.on
        if isinstance(branch, TimeoutBranch)
    ]
    return min(deadlines) if deadlines else None


def _enter(run: _Run, step_id: str) -> _Move:
    step = run.sequence.step(step_id)
    try:
        guarded = step.if_ is not None and not evaluate_guard(step.if_, run.context)
    except RenderError as exc:
        return failed(step.id, exc)
    if guarded:
        waiting = State("waiting", step.id, step_sent_at=run.now)
        return _chain(SkipStep(step.id, "guard false"), _after_skip(run, waiting, step))
    match step:
        case EmailStep() | SmsStep() | WhatsappStep():
            send = SendStep(step.id, step.channel, run.calendar.next_open(run.now))
            return Transition(State("sending", step.id), (send,))
        case TaskStep():
            due = run.calendar.add(run.now, step.due) if step.due else None
            task = CreateTask(step.id, step.title, step.body, due)
            timeout = _next_timeout(run, run.now, step)
            state = State("waiting", step.id, due_at=timeout, step_sent_at=run.now)
            return Transition(state, (task,))
        case _:
            assert_never(step)


def _after_send(run: _Run, state: State, step: AnyStep) -> _Move:
    sent_at = state.step_sent_at or run.now
    if (branch := done_branch(step)) is not None:
        return _take(run, state, branch, "sent")
    if holds(step):
        timeout = _next_timeout(run, sent_at, step)
        return Transition(State("waiting", step.id, due_at=timeout, step_sent_at=sent_at))
    return _fall_through(run, step)


def _after_skip(run: _Run, state: State, step: AnyStep) -> _Move:
    branch = skip_branch(step)
    return _fall_through(run, step) if branch is None else _take(run, state, branch, "skipped")


def _fall_through(run: _Run, step: AnyStep) -> _Move:
    following = run.sequence.next_step_id(step.id)
    if following is None:
        return Transition(State("exited", step.id, outcome="completed"), (Exit("completed"),))
    return _Enter(following, (Goto(following, "next step"),))


def _on_event(run: _Run, state: State, step: AnyStep, name: str) -> _Move:
    branch = match_branch(step, name)
    if branch is not None:
        return _take(run, state, branch, name)
    kind = name.split(".", 1)[0]
    if _completes(state, step, name):
        return _after_send(run, replace(state, step_sent_at=run.now), step)
    if _stops(run.sequence, name):
        return Transition(replace(state, status="exited", outcome=kind), (Exit(kind),))
    return Transition(state)


def _completes(state: State, step: AnyStep, name: str) -> bool:
    return name == "completed" and isinstance(step, TaskStep) and state.status == "waiting"


def _stops(sequence: Sequence, name: str) -> bool:
    kind = name.split(".", 1)[0]
    return kind in sequence.settings.stop_on or kind == "failed"


def moved_by(sequence: Sequence, state: State, name: str) -> bool:
    """Whether ``Event(name)`` can change ``state`` (take a branch, complete a task, stop):
    the rule of :func:`advance` for events, asked without running it (batched webhooks)."""
    if state.status == "exited" or state.step_id is None:
        return False
    step = sequence.step(state.step_id)
    return (
        match_branch(step, name) is not None
        or _completes(state, step, name)
        or _stops(sequence, name)
    )


def match_branch(step: AnyStep, name: str) -> EventBranch | None:
    """The branch an event takes: exact ``when`` first, then the generic ``replied``."""
    events = [branch for branch in step.on if isinstance(branch, EventBranch)]
    for wanted in (name, name.split(".", 1)[0]):
        for branch in events:
            if branch.when == wanted:
                return branch
    return None


def _take(run: _Run, state: State, branch: AnyBranch, reason: str) -> _Move:
    effects: list[Decision] = []
    if branch.set is not None and branch.set.stage is not None:
        effects.append(SetStage(branch.set.stage))
    if branch.set is not None and branch.set.tags is not None:
        effects.append(SetTags(branch.set.tags.add, branch.set.tags.remove))
    if branch.wait is not None:
        until = run.calendar.add(run.now, branch.wait)
        waiting = State("waiting", state.step_id, due_at=until, wait_goto=branch.goto)
        return Transition(waiting, (*effects, WaitUntil(until, branch.goto, reason)))
    if branch.goto is not None:
        return _Enter(branch.goto, (*effects, Goto(branch.goto, reason)))
    if branch.exit is not None:
        exited = replace(state, status="exited", outcome=branch.exit, due_at=None)
        return Transition(exited, (*effects, Exit(branch.exit)))
    if isinstance(branch, EventBranch) or state.step_id is None:
        return Transition(state, tuple(effects))
    return _chain(tuple(effects), _fall_through(run, run.sequence.step(state.step_id)))
