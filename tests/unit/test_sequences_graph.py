"""Mermaid and DOT export follow the engine's transitions, exits included."""

from __future__ import annotations

from sequences.graph import to_dot, to_mermaid
from sequences.model import Sequence

SEQUENCE = Sequence.model_validate(
    {
        "sequence": "demo",
        "steps": [
            {
                "id": "intro",
                "channel": "email",
                "subject": "s",
                "body": "b",
                "on": [
                    {"when": "replied.interested", "set": {"stage": "candidate"}, "goto": "call"},
                    {"after": "3 business days", "goto": "nudge"},
                ],
            },
            {"id": "nudge", "channel": "sms", "if": "talent.phone", "body": "b"},
            {"id": "call", "channel": "task", "title": "t", "on": [{"exit": "converted"}]},
        ],
    }
)


def test_mermaid() -> None:
    assert to_mermaid(SEQUENCE) == (
        "flowchart TD\n"
        '    intro["✉ intro (email)"]\n'
        '    nudge["💬 nudge (sms)"]\n'
        '    call["☑ call (task)"]\n'
        '    exit_converted(["exit: converted"])\n'
        '    intro -->|"replied.interested / stage=candidate"| call\n'
        '    intro -->|"after 3 business days"| nudge\n'
        '    nudge -->|"done"| call\n'
        '    nudge -.->|"skip unless talent.phone"| call\n'
        '    call -->|"done"| exit_converted\n'
    )


def test_dot_and_completed_exit_after_the_last_step() -> None:
    last = Sequence.model_validate(
        {"sequence": "x", "steps": [{"id": "only", "channel": "sms", "body": "b"}]}
    )
    assert to_dot(last) == (
        'digraph "x" {\n    rankdir=TB;\n    node [shape=box];\n'
        '    "only" [label="only\\n(sms)"];\n'
        '    "exit:completed" [label="exit: completed", shape=oval];\n'
        '    "only" -> "exit:completed" [label="done"];\n}\n'
    )
    assert '"intro" -> "call" [label="replied.interested / stage=candidate"];' in to_dot(SEQUENCE)
