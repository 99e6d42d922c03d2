"""The flow of a sequence as a graph: Mermaid (for Markdown and GitHub) or Graphviz DOT.

Edges follow the engine's rules, computed by the functions the interpreter calls
(``sequences.flow``): each branch is an edge labelled with its event or timeout; a step
with no plain branch, no ``after`` and no event falls through ("done"); a false ``if``
guard skips the step the way the engine does (its plain branch, else its first ``after``,
else the next step); after the last step the enrollment completes.
"""

from __future__ import annotations

from dataclasses import dataclass

from sequences.flow import AnyStep, done_branch, holds, skip_branch
from sequences.model import EventBranch, NextBranch, Sequence, TimeoutBranch

_SHAPES = {"email": "✉", "sms": "💬", "whatsapp": "💬", "task": "☑"}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str  # a step id, or "exit:<outcome>"
    label: str
    dashed: bool = False


def edges(sequence: Sequence) -> list[Edge]:
    """Every transition of ``sequence``, in step and branch order."""
    result: list[Edge] = []
    for step in sequence.steps:
        fallback = sequence.next_step_id(step.id) or "exit:completed"
        for branch in step.on:
            target = _target(branch, fallback)
            if target is not None:
                result.append(Edge(step.id, target, _label(branch)))
        if done_branch(step) is None and not holds(step):
            result.append(Edge(step.id, fallback, "done"))
        if step.if_ is not None:
            result.append(_skip_edge(step, fallback))
    return result


def _target(branch: EventBranch | TimeoutBranch | NextBranch, fallback: str) -> str | None:
    """Where a taken branch leads; None when it keeps the step waiting (an event's tag)."""
    if branch.goto:
        return branch.goto
    if branch.exit:
        return f"exit:{branch.exit}"
    return None if isinstance(branch, EventBranch) else fallback


def _skip_edge(step: AnyStep, fallback: str) -> Edge:
    """Where the engine goes when the guard is false (``sequences.flow.skip_branch``)."""
    branch = skip_branch(step)
    target = fallback if branch is None else _target(branch, fallback) or fallback
    label = f"skip unless {step.if_}"
    if branch is not None and branch.wait is not None:
        label += f" / wait {branch.wait}"
    return Edge(step.id, target, label, dashed=True)


def _label(branch: EventBranch | TimeoutBranch | NextBranch) -> str:
    if isinstance(branch, EventBranch):
        label = branch.when
    elif isinstance(branch, TimeoutBranch):
        label = f"after {branch.after}"
    else:
        label = "done"
    if branch.set is not None and branch.set.stage:
        label += f" / stage={branch.set.stage}"
    if branch.wait is not None:
        label += f" / wait {branch.wait}"
    return label


def _node_id(name: str) -> str:
    return "".join(char if char.isalnum() else "_" for char in name)


def to_mermaid(sequence: Sequence) -> str:
    """A ``flowchart TD`` of the sequence."""
    lines = ["flowchart TD"]
    for step in sequence.steps:
        text = f"{_SHAPES[step.channel]} {step.id} ({step.channel})"
        lines.append(f'    {_node_id(step.id)}["{text}"]')
    for outcome in _exits(sequence):
        lines.append(f'    {_node_id("exit:" + outcome)}(["exit: {outcome}"])')
    for edge in edges(sequence):
        arrow = "-.->" if edge.dashed else "-->"
        label = edge.label.replace('"', "'")
        lines.append(f'    {_node_id(edge.source)} {arrow}|"{label}"| {_node_id(edge.target)}')
    return "\n".join(lines) + "\n"


def to_dot(sequence: Sequence) -> str:
    """A Graphviz ``digraph`` of the sequence."""
    lines = [f'digraph "{sequence.sequence}" {{', "    rankdir=TB;", "    node [shape=box];"]
    for step in sequence.steps:
        lines.append(f'    "{step.id}" [label="{step.id}\\n({step.channel})"];')
    for outcome in _exits(sequence):
        lines.append(f'    "exit:{outcome}" [label="exit: {outcome}", shape=oval];')
    for edge in edges(sequence):
        style = ", style=dashed" if edge.dashed else ""
        label = edge.label.replace('"', '\\"')
        lines.append(f'    "{edge.source}" -> "{edge.target}" [label="{label}"{style}];')
    return "\n".join(lines) + "\n}\n"


def _exits(sequence: Sequence) -> list[str]:
    outcomes = [e.target[5:] for e in edges(sequence) if e.target.startswith("exit:")]
    return list(dict.fromkeys(outcomes))
