"""Semantic checks of a structurally valid sequence: ids, gotos, threads, variants, the graph.

How the engine walks a sequence (these checks encode it):

- a step's ``on`` list is ordered; a branch with ``when`` waits for an event, one with
  ``after`` is the timeout, one with neither is taken as soon as the step is done;
- a branch with neither ``goto`` nor ``exit`` keeps the step waiting (e.g. tag on ``opened``);
- a step with no neither-branch, no ``after`` and no ``when`` falls through to the next
  written step once done; after the last step the enrollment exits with outcome ``completed``;
- a false ``if`` guard skips the step: it takes its neither-branch, else its first ``after``
  at once, else falls through (``sequences.flow``, which the interpreter calls too);
- a loop must pass through a wait (an event, an ``after`` or a ``wait``); a recruiter's
  task is not one: a loop of tasks and skipped steps alone is an error;
- ``completed`` is the event of task steps, which are done when the recruiter completes them.
"""

from __future__ import annotations

from collections.abc import Iterator

from sequences.errors import Problem
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
from sequences.source import Path as DataPath
from sequences.source import Source
from sequences.suggest import did_you_mean

AnyStep = EmailStep | SmsStep | WhatsappStep | TaskStep
AnyBranch = EventBranch | TimeoutBranch | NextBranch


def check_sequence(sequence: Sequence, source: Source) -> list[Problem]:
    """Every semantic problem of ``sequence``, located in ``source``."""
    problems = [*_kind(sequence, source), *_duplicates(sequence, source)]
    ids = [step.id for step in sequence.steps]
    for index, step in enumerate(sequence.steps):
        problems += _branches(step, index, ids, source)
        problems += _variants(step, index, source)
        if isinstance(step, EmailStep):
            problems += _thread(sequence, step, index, source)
    if not any(p.severity == "error" and "unknown step" in p.message for p in problems):
        problems += _unreachable(sequence, source)
        problems += _instant_loops(sequence, source)
    return problems


def _kind(sequence: Sequence, source: Source) -> list[Problem]:
    if sequence.kind == "inbound" and sequence.trigger is None:
        message = "an inbound sequence needs a 'trigger': the event that enrolls a talent"
        return [source.problem(("kind",), message)]
    if sequence.kind == "outbound" and sequence.trigger is not None:
        message = "only inbound sequences have a 'trigger': add 'kind: inbound' or remove it"
        return [source.problem(("trigger",), message, key=True)]
    return []


def _duplicates(sequence: Sequence, source: Source) -> list[Problem]:
    seen: dict[str, int] = {}
    problems = []
    for index, step in enumerate(sequence.steps):
        if step.id in seen:
            first = source.at(("steps", seen[step.id], "id"))[0]
            message = f"duplicate step id {step.id!r} (first used at line {first})"
            problems.append(source.problem(("steps", index, "id"), message))
        seen.setdefault(step.id, index)
    return problems


def _branches(step: AnyStep, index: int, ids: list[str], source: Source) -> list[Problem]:
    problems = []
    taken_first: int | None = None
    for number, branch in enumerate(step.on):
        path = ("steps", index, "on", number)
        if branch.goto is not None and branch.goto not in ids:
            hint = did_you_mean(branch.goto, ids)
            problems.append(source.problem((*path, "goto"), f"unknown step {branch.goto!r}{hint}"))
        if taken_first is not None:
            message = "this branch is never taken: the branch without 'when'/'after' before it"
            problems.append(source.problem(path, f"{message} is taken first", severity="warning"))
        if isinstance(branch, NextBranch) and taken_first is None:
            taken_first = number
        if isinstance(branch, EventBranch):
            problems += _event(step, branch, (*path, "when"), source)
    return problems + _stuck(step, index, source)


def _event(step: AnyStep, branch: EventBranch, path: DataPath, source: Source) -> list[Problem]:
    if isinstance(step, TaskStep) and branch.when != "completed":
        message = f"a task step has only the 'completed' event, not {branch.when!r}"
        return [source.problem(path, message)]
    if not isinstance(step, TaskStep) and branch.when == "completed":
        message = (
            f"'completed' is the event of task steps; {_article(step.channel)} {step.channel}"
            " step never fires it"
        )
        return [source.problem(path, message)]
    if isinstance(step, SmsStep) and branch.when == "opened":
        message = "SMS has no open tracking: 'opened' never arrives for an sms step"
        return [source.problem(path, message, severity="warning")]
    return []


def _stuck(step: AnyStep, index: int, source: Source) -> list[Problem]:
    timeouts = [b for b in step.on if isinstance(b, TimeoutBranch | NextBranch)]
    if timeouts and not any(b.goto or b.exit for b in timeouts):
        message = (
            f"step {step.id!r} never moves on by itself: no 'after' branch has a 'goto' or"
            " 'exit', so only an event can end the wait"
        )
        return [source.problem(("steps", index, "on"), message, severity="warning")]
    return []


def _variants(step: AnyStep, index: int, source: Source) -> list[Problem]:
    variants = getattr(step, "variants", ())
    path = ("steps", index, "variants")
    problems = []
    seen: set[str] = set()
    for number, variant in enumerate(variants):
        if variant.id in seen:
            message = f"duplicate variant id {variant.id!r}"
            problems.append(source.problem((*path, number, "id"), message))
        seen.add(variant.id)
        if variant.weight == 0:
            message = f"variant {variant.id!r} has weight 0: it is never chosen"
            problems.append(source.problem((*path, number, "weight"), message, severity="warning"))
        if variant.subject is not None and not isinstance(step, EmailStep):
            message = f"{step.channel} messages have no subject"
            problems.append(source.problem((*path, number, "subject"), message, key=True))
    if variants and sum(variant.weight for variant in variants) == 0:
        message = "every variant has weight 0: give one a weight"
        problems.append(source.problem(path, message, key=True))
    return problems


def _thread(sequence: Sequence, step: EmailStep, index: int, source: Source) -> list[Problem]:
    ids = [s.id for s in sequence.steps]
    if step.thread is None:
        if step.subject is None:
            message = f"email step {step.id!r} needs a 'subject' (or a 'thread' to reply in)"
            return [source.problem(("steps", index), message)]
        return []
    path = ("steps", index, "thread")
    if step.thread not in ids:
        hint = did_you_mean(step.thread, ids)
        return [source.problem(path, f"unknown step {step.thread!r}{hint}")]
    target = ids.index(step.thread)
    target_step = sequence.steps[target]
    if target >= index:
        message = (
            f"'thread' must name an earlier email step; {step.thread!r} is not before {step.id!r}"
        )
        return [source.problem(path, message)]
    if not isinstance(target_step, EmailStep):
        channel = target_step.channel
        message = (
            f"'thread' must name an email step; {step.thread!r} is {_article(channel)}"
            f" {channel} step"
        )
        return [source.problem(path, message)]
    return []


def _article(channel: str) -> str:
    return "an" if channel in ("email", "sms") else "a"


def _edges(sequence: Sequence, index: int, *, instant: bool) -> Iterator[tuple[int, int | None]]:
    """``(target index, branch number or None for a fall-through)`` leaving step ``index``:
    every edge, or when ``instant`` only those taken at once (no event, ``after`` or
    ``wait`` between): a plain branch, a fall-through, a skip, a completed task's branch."""
    step = sequence.steps[index]
    for number, branch in enumerate(step.on):
        if instant and not (isinstance(branch, NextBranch) and branch.wait is None):
            continue
        yield from _target(sequence, index, branch, number)
        if instant:
            break  # only the first plain branch is ever taken
    if done_branch(step) is None and not holds(step) and index + 1 < len(sequence.steps):
        yield index + 1, None
    if step.if_ is not None:
        yield from _skip(sequence, index, instant=instant)


def _skip(sequence: Sequence, index: int, *, instant: bool) -> Iterator[tuple[int, int | None]]:
    """Where a step whose guard is false goes (``sequences.flow.skip_branch``)."""
    step = sequence.steps[index]
    branch = skip_branch(step)
    if branch is None:
        if index + 1 < len(sequence.steps):
            yield index + 1, None
    elif not (instant and branch.wait is not None):
        yield from _target(sequence, index, branch, step.on.index(branch))


def _target(
    sequence: Sequence, index: int, branch: AnyBranch, number: int
) -> Iterator[tuple[int, int | None]]:
    """The step a taken branch leads to: its goto, else (without exit) the next step."""
    positions = sequence.positions
    if branch.goto is not None:
        if branch.goto in positions:
            yield positions[branch.goto], number
    elif (
        branch.exit is None
        and not isinstance(branch, EventBranch)
        and index + 1 < len(sequence.steps)
    ):
        yield index + 1, number


def _unreachable(sequence: Sequence, source: Source) -> list[Problem]:
    seen = {0}
    todo = [0]
    while todo:
        for target, _ in _edges(sequence, todo.pop(), instant=False):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    problems = []
    for index, step in enumerate(sequence.steps):
        if index not in seen:
            message = (
                f"step {step.id!r} cannot be reached: no goto leads to it"
                " and no step falls through to it"
            )
            problems.append(source.problem(("steps", index, "id"), message))
    return problems


def _instant_loops(sequence: Sequence, source: Source) -> list[Problem]:
    """Cycles of steps that follow each other at once: they would resend without end.

    A depth-first walk with its own stack (a chain of thousands of steps must not hit
    Python's recursion limit); ``trail`` is the current path, ``done`` the steps fully seen.
    """
    problems: list[Problem] = []
    done: set[int] = set()
    for start in range(len(sequence.steps)):
        if start in done:
            continue
        trail = [start]
        stack = [_edges(sequence, start, instant=True)]
        while stack:
            edge = next(stack[-1], None)
            if edge is None:
                done.add(trail.pop())
                stack.pop()
                continue
            target, number = edge
            if target in trail:
                loop = trail[trail.index(target) :]
                problems.append(_loop_problem(sequence, source, loop, trail[-1], number))
            elif target not in done:
                trail.append(target)
                stack.append(_edges(sequence, target, instant=True))
    return problems


def _loop_problem(
    sequence: Sequence, source: Source, loop: list[int], index: int, number: int | None
) -> Problem:
    names = " -> ".join(repr(sequence.steps[i].id) for i in [*loop, loop[0]])
    message = f"steps {names} loop without any wait: add an 'after' or a 'wait' to the loop"
    if any(sequence.steps[i].if_ is not None for i in loop):
        message += " (a step skipped by its 'if' takes its 'after' branch without waiting)"
    path = ("steps", index, "on", number, "goto") if number is not None else ("steps", index, "id")
    return source.problem(path, message)
