"""The enrollment state machine (pure): decisions for each trigger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine.core.calendar import SendCalendar, zone
from engine.core.interpreter import (
    CreateTask,
    Due,
    Event,
    Exit,
    Goto,
    NotSent,
    SendStep,
    Sent,
    SetStage,
    SkipStep,
    State,
    WaitUntil,
    advance,
    match_branch,
    start,
)
from sequences.graph import edges
from sequences.model import Sequence

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # Monday
ALWAYS = SendCalendar(zone=zone("UTC"), days=frozenset(range(7)))
SEQUENCE = Sequence.model_validate(
    {
        "sequence": "s",
        "settings": {"stop_on": ["replied", "unsubscribed"]},
        "steps": [
            {"id": "intro", "channel": "email", "subject": "Hi", "body": "Hi",
             "on": [{"when": "replied.interested", "set": {"stage": "candidate"}, "goto": "call"},
                    {"when": "replied", "exit": "replied_generic"},
                    {"when": "replied.out_of_office", "wait": "2 days", "goto": "sms"},
                    {"when": "opened", "set": {"tags": {"add": ["warm"]}}},
                    {"after": "3 days", "goto": "sms"}]},
            {"id": "sms", "channel": "sms", "if": "talent.phone", "body": "Hi",
             "on": [{"after": "1 days", "exit": "no_response"}]},
            {"id": "call", "channel": "task", "title": "Call",
             "on": [{"when": "completed", "exit": "called"}]},
        ],
    }
)  # fmt: skip


def step(
    state: State, trigger: Any, talent: dict[str, Any] | None = None, now: datetime = NOW
) -> Any:
    context = {"talent": talent or {"phone": None}}
    return advance(SEQUENCE, state, context, trigger, now=now, calendar=ALWAYS)


def test_a_new_enrollment_plans_its_first_step() -> None:
    transition = step(start(SEQUENCE, now=NOW), Due())
    assert transition.decisions == (SendStep("intro", "email", NOW),)
    assert transition.state.status == "sending"


def test_timeouts_count_from_the_actual_send_time() -> None:
    sent_at = NOW + timedelta(hours=5)
    waiting = step(State("sending", "intro"), Sent(sent_at)).state
    assert (waiting.status, waiting.due_at) == ("waiting", sent_at + timedelta(days=3))
    assert step(waiting, Due(), now=sent_at + timedelta(days=2)).decisions == ()


def test_a_false_guard_skips_the_step_and_takes_its_timeout_branch_at_once() -> None:
    waiting = State("waiting", "intro", due_at=NOW, step_sent_at=NOW - timedelta(days=3))
    transition = step(waiting, Due())
    assert transition.decisions == (
        Goto("sms", "timeout"), SkipStep("sms", "guard false"), Exit("no_response"),
    )  # fmt: skip
    planned = step(waiting, Due(), talent={"phone": "+33612345678"})
    assert planned.decisions[-1] == SendStep("sms", "sms", NOW)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ("replied.interested", (SetStage("candidate"), Goto("call", "replied.interested"))),
        ("replied.question", (Exit("replied_generic"),)),  # `replied` matches every intent
        ("replied.not_interested", (Exit("replied_generic"),)),
        ("unsubscribed", (Exit("unsubscribed"),)),  # stop_on
        ("clicked", ()),  # no branch, not in stop_on: nothing happens
    ],
)
def test_the_most_specific_branch_wins(event: str, expected: tuple[Any, ...]) -> None:
    waiting = State("waiting", "intro", due_at=NOW + timedelta(days=1), step_sent_at=NOW)
    assert step(waiting, Event(event)).decisions[: len(expected)] == expected


def test_the_exact_intent_beats_a_generic_branch_listed_before_it() -> None:
    branch = match_branch(SEQUENCE.step("intro"), "replied.out_of_office")
    assert branch is not None and branch.wait is not None


def test_wait_then_goto() -> None:
    waiting = State("waiting", "intro", due_at=NOW + timedelta(days=1), step_sent_at=NOW)
    parked = step(waiting, Event("replied.out_of_office"))
    assert parked.decisions == (WaitUntil(NOW + timedelta(days=2), "sms", "replied.out_of_office"),)
    assert parked.state.wait_goto == "sms"
    later = step(parked.state, Due(), talent={"phone": "+1"}, now=NOW + timedelta(days=2))
    assert later.decisions[0] == Goto("sms", "wait over")
    assert later.decisions[-1] == SendStep("sms", "sms", NOW + timedelta(days=2))


def test_task_steps_wait_for_completion() -> None:
    transition = step(State("pending", "call", due_at=NOW), Due())
    assert transition.decisions == (CreateTask("call", "Call", None, None),)
    assert step(transition.state, Event("completed")).decisions == (Exit("called"),)


def test_a_withdrawn_message_skips_its_step_and_stale_triggers_are_ignored() -> None:
    skipped = step(State("sending", "intro"), NotSent("opted_out"))
    assert skipped.decisions[0] == SkipStep("intro", "opted_out")
    exited = State("exited", "intro", outcome="done")
    assert step(exited, Event("replied")).state == exited
    assert step(State("waiting", "intro"), Sent(NOW)).decisions == ()


def test_a_goto_loop_of_skipped_steps_ends() -> None:
    looping = Sequence.model_validate(
        {"sequence": "loop", "steps": [
            {"id": "a", "channel": "sms", "if": "false", "body": "x", "on": [{"goto": "b"}]},
            {"id": "b", "channel": "sms", "if": "false", "body": "x", "on": [{"goto": "a"}]}]}
    )  # fmt: skip
    transition = advance(looping, start(looping, now=NOW), {}, Due(), now=NOW, calendar=ALWAYS)
    assert transition.state.outcome == "loop"


class _Unreadable:
    def __bool__(self) -> bool:
        raise ValueError("this value cannot be read")


def test_a_guard_failing_on_this_talents_data_parks_the_enrollment_in_error() -> None:
    from engine.core.interpreter import StepFailed

    waiting = State("waiting", "intro", due_at=NOW, step_sent_at=NOW - timedelta(days=3))
    transition = step(waiting, Due(), talent={"phone": _Unreadable()})
    failure = transition.decisions[-1]
    assert isinstance(failure, StepFailed) and failure.step_id == "sms"
    assert "ValueError: this value cannot be read" in str(failure.error)
    assert transition.state == State("error", "sms")
    assert step(transition.state, Due(), now=NOW + timedelta(days=9)).decisions == ()


@pytest.mark.parametrize(
    "branches",
    [
        [{"goto": "d"}, {"after": "1 days", "goto": "c"}],
        [{"when": "replied", "exit": "replied"}, {"after": "1 days", "goto": "d"}],
        [{"after": "1 days", "exit": "gone"}],
        [{"after": "1 days", "set": {"stage": "engaged"}}],
        [{"when": "replied", "goto": "d"}],
        [],
    ],
)
def test_the_graph_draws_a_skip_where_the_interpreter_goes(branches: list[Any]) -> None:
    steps = [
        {"id": id_, "channel": "email", "subject": "s", "body": "b"} for id_ in ("a", "c", "d")
    ]
    guarded = {"id": "b", "channel": "sms", "if": "talent.phone", "body": "b", "on": branches}
    sequence = Sequence.model_validate({"sequence": "s", "steps": [steps[0], guarded, *steps[1:]]})
    done = advance(
        sequence, start(sequence, "b", now=NOW), {"talent": {}}, Due(), now=NOW, calendar=ALWAYS
    )
    went = next(
        d.step_id if isinstance(d, SendStep) else f"exit:{d.outcome}"
        for d in done.decisions
        if isinstance(d, SendStep | Exit)
    )
    drawn = [edge.target for edge in edges(sequence) if edge.source == "b" and edge.dashed]
    assert drawn == [went]
