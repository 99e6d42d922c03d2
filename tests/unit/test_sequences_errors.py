"""Every error class of the sequence language: exact line, column and message.

Each case is a small YAML file; ``(line, column, message)`` lists every error expected,
in the order they are reported (file order), so a case also proves that all errors come
at once and that nothing else is reported.
"""

# ruff: noqa: E501  (tables of YAML and messages read best one per line)

from __future__ import annotations

from pathlib import Path

import pytest

from sequences import DefinitionError, load_sequence
from sequences.loader import check_sequence_text

OK_STEP = "  - {id: a, channel: sms, body: x}\n"

CASES: list[tuple[str, str, list[tuple[int, int, str]]]] = [
    (
        "yaml syntax",
        "sequence: s\nsteps: [\n",
        [
            (
                3,
                1,
                "invalid YAML: while parsing a flow node expected the node content,"
                " but found '<stream end>'",
            )
        ],
    ),
    (
        "a misspelt key and a meaning error, both at once",
        "sequence: s\nsteps:\n  - id: a\n    channel: sms\n    bdy: x\n    body: y\n"
        "    on: [{after: 1 days, goto: b}]\n",
        [(5, 5, "unknown key 'bdy'; did you mean 'body'?"), (7, 32, "unknown step 'b'")],
    ),
    (
        "a misspelt tag is the unknown key, and the step's other keys are still checked",
        "sequence: s\nsteps:\n  - id: a\n    chanel: sms\n    bdy: x\n    on: [{after: 1 days, goto: b}]\n",
        [
            (4, 5, "unknown key 'chanel'; did you mean 'channel'?"),
            (5, 5, "unknown key 'bdy'; did you mean 'body'?"),
            (6, 32, "unknown step 'b'"),
        ],
    ),
    (
        "a misspelt required key is not also missing",
        "sequnce: s\nsteps:\n" + OK_STEP,
        [(1, 1, "unknown key 'sequnce'; did you mean 'sequence'?")],
    ),
    (
        "a loop of a task and a skipped step has no wait",
        "sequence: s\nsteps:\n  - {id: a, channel: task, title: t, on: [{goto: b}]}\n"
        "  - {id: b, channel: sms, if: talent.phone, body: x, on: [{after: 1 days, goto: a}]}\n",
        [
            (
                4,
                81,
                "steps 'a' -> 'b' -> 'a' loop without any wait: add an 'after' or a 'wait' to the"
                " loop (a step skipped by its 'if' takes its 'after' branch without waiting)",
            )
        ],
    ),
    (
        "duplicate key",
        "sequence: s\nsteps:\n  - id: a\n    channel: sms\n    body: x\n    body: y\n",
        [(6, 5, "duplicate key 'body' (first written at line 5)")],
    ),
    (
        "not a mapping",
        "- a\n- b\n",
        [(1, 1, "a sequence file is a mapping with at least 'sequence' and 'steps'")],
    ),
    (
        "misspelled key",
        "sequence: s\nsteps:\n  - id: a\n    channel: email\n    subjet: Hi\n    body: x\n",
        [(5, 5, "unknown key 'subjet'; did you mean 'subject'?")],
    ),
    (
        "missing key",
        "sequence: s\nsteps:\n  - {id: a, channel: sms}\n",
        [(3, 5, "missing required key 'body'")],
    ),
    (
        "unknown channel and kind",
        "sequence: s\nkind: outbund\nsteps:\n  - {id: a, channel: emial, body: x}\n",
        [
            (
                2,
                7,
                "kind: 'outbund' is not one of 'outbound' or 'inbound'; did you mean 'outbound'?",
            ),
            (4, 22, "unknown channel 'emial'; did you mean 'email'?"),
        ],
    ),
    (
        "invalid id and no steps",
        "sequence: S S\nsteps: []\n",
        [
            (
                1,
                11,
                "sequence: 'S S' is not a valid name: use lower-case letters, digits, '-' and"
                " '_', starting with a letter or digit",
            ),
            (2, 8, "a sequence needs at least one step"),
        ],
    ),
    (
        "misspelled event and intent, bad duration",
        "sequence: s\nsteps:\n  - id: a\n    channel: sms\n    body: x\n    on:\n"
        "      - {when: replied.intrested, exit: yes_}\n      - {when: opend, exit: o}\n"
        "      - {after: 3 dys, exit: late}\n",
        [
            (7, 16, "unknown event 'replied.intrested'; did you mean 'replied.interested'?"),
            (8, 16, "unknown event 'opend'; did you mean 'opened'?"),
            (
                9,
                17,
                "invalid duration '3 dys': expected 'N minutes|hours|days|business days|weeks'",
            ),
        ],
    ),
    (
        "wait without goto",
        f"sequence: s\nsteps:\n{OK_STEP}  - {{id: b, channel: sms, body: x, on: [{{wait: 2 days}}]}}\n",
        [(4, 41, "'wait' needs a 'goto': where to go once the wait is over")],
    ),
    (
        "settings: zones, holidays, window, stop_on",
        "sequence: s\nsettings:\n  timezone: Europe/Pari\n  default_timezone: Mars/Base\n"
        "  holidays: XX\n  send_window: {from: '18:00', to: '09:00'}\n  stop_on: [replyed]\n"
        f"steps:\n{OK_STEP}",
        [
            (3, 13, "unknown time zone 'Europe/Pari'; did you mean 'Europe/Paris'?"),
            (4, 21, "unknown time zone 'Mars/Base'"),
            (5, 13, "unknown holiday country 'XX': use an ISO code like 'FR'"),
            (6, 16, "send_window 'from' must be before 'to'"),
            (7, 12, "stop_on: unknown event 'replyed'; did you mean 'replied'?"),
        ],
    ),
    (
        "holiday subdivision",
        f"sequence: s\nsettings: {{holidays: DE-XY}}\nsteps:\n{OK_STEP}",
        [(2, 22, "unknown subdivision 'XY' of DE")],
    ),
    (
        "invalid time",
        f"sequence: s\nsettings: {{send_window: {{from: '25:00'}}}}\nsteps:\n{OK_STEP}",
        [(2, 32, "hour must be in 0..23")],
    ),
    (
        "duplicate step id, unknown goto",
        "sequence: s\nsteps:\n  - id: a\n    channel: sms\n    body: x\n    on:\n"
        "      - {after: 3 days, goto: folowup}\n"
        "  - {id: followup, channel: sms, body: x}\n  - {id: followup, channel: sms, body: y}\n",
        [
            (7, 31, "unknown step 'folowup'; did you mean 'followup'?"),
            (9, 10, "duplicate step id 'followup' (first used at line 8)"),
        ],
    ),
    (
        "unreachable step",
        "sequence: s\nsteps:\n  - {id: a, channel: sms, body: x, on: [{exit: done}]}\n"
        "  - {id: b, channel: sms, body: x}\n",
        [
            (
                4,
                10,
                "step 'b' cannot be reached: no goto leads to it and no step falls through to it",
            )
        ],
    ),
    (
        "loop without wait",
        "sequence: s\nsteps:\n  - {id: a, channel: sms, body: x, on: [{goto: b}]}\n"
        "  - {id: b, channel: sms, body: x, on: [{goto: a}]}\n",
        [
            (
                4,
                48,
                "steps 'a' -> 'b' -> 'a' loop without any wait: add an 'after' or a 'wait' to the loop",
            )
        ],
    ),
    (
        "threads",
        "sequence: s\nsteps:\n  - {id: a, channel: sms, body: x}\n"
        "  - {id: b, channel: email, thread: a, body: x}\n"
        "  - {id: c, channel: email, thread: d, body: x}\n"
        "  - {id: d, channel: email, subject: s, body: x}\n"
        "  - {id: e, channel: email, thread: zz, body: x}\n"
        "  - {id: f, channel: email, body: x}\n",
        [
            (4, 37, "'thread' must name an email step; 'a' is an sms step"),
            (5, 37, "'thread' must name an earlier email step; 'd' is not before 'c'"),
            (7, 37, "unknown step 'zz'"),
            (8, 5, "email step 'f' needs a 'subject' (or a 'thread' to reply in)"),
        ],
    ),
    (
        "variants",
        "sequence: s\nsteps:\n  - id: a\n    channel: sms\n    body: x\n    variants:\n"
        "      - {id: v, weight: 0, subject: s}\n      - {id: v, weight: 0}\n",
        [
            (6, 5, "every variant has weight 0: give one a weight"),
            (7, 28, "sms messages have no subject"),
            (8, 14, "duplicate variant id 'v'"),
        ],
    ),
    (
        "inbound without trigger",
        f"sequence: s\nkind: inbound\nsteps:\n{OK_STEP}",
        [(2, 7, "an inbound sequence needs a 'trigger': the event that enrolls a talent")],
    ),
    (
        "outbound with trigger",
        f"sequence: s\ntrigger: {{event: talent.joined}}\nsteps:\n{OK_STEP}",
        [(2, 1, "only inbound sequences have a 'trigger': add 'kind: inbound' or remove it")],
    ),
    (
        "task events",
        "sequence: s\nsteps:\n  - {id: a, channel: task, title: t, on: [{when: replied, goto: b}]}\n"
        "  - {id: b, channel: sms, body: x, on: [{when: completed, exit: x}]}\n",
        [
            (3, 50, "a task step has only the 'completed' event, not 'replied'"),
            (4, 48, "'completed' is the event of task steps; an sms step never fires it"),
        ],
    ),
    (
        "templates inline",
        "sequence: s\nsteps:\n  - id: a\n    channel: email\n"
        '    subject: "Hi {{ talent.frist_name }}"\n    body: |\n'
        "      Hello {{ talent.first_name }},\n      {{ sendr.name }}\n"
        '  - {id: b, channel: sms, if: talent.phon, body: "{% if %}"}\n',
        [
            (5, 21, "'talent' has no 'frist_name'; did you mean 'first_name'?"),
            (8, 10, "unknown variable 'sendr'; did you mean 'sender'?"),
            (9, 31, "'talent' has no 'phon'; did you mean 'phone'?"),
            (9, 51, "template syntax: Expected an expression, got 'end of statement block'"),
        ],
    ),
    (
        "template file missing",
        "sequence: s\nsteps:\n  - {id: a, channel: email, subject: x, body: templates/intro.md}\n",
        [
            (
                3,
                47,
                "template file 'templates/intro.md' not found in the workspace;"
                " did you mean 'templates/intro.md.j2'?",
            )
        ],
    ),
]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "intro.md.j2").write_text("Hi {{ talent.first_name }}\n")
    return tmp_path


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_error_is_reported_at_its_line_and_column(
    workspace: Path, text: str, expected: list[tuple[int, int, str]]
) -> None:
    _, problems = check_sequence_text(text, "s.yaml", workspace)
    errors = [(p.line, p.column, p.message) for p in problems if p.severity == "error"]
    assert errors == expected


def test_template_file_errors_name_the_template_file_and_line(workspace: Path) -> None:
    (workspace / "templates" / "bad.md.j2").write_text(
        "Hello {{ talent.first_name }},\n\nBest, {{ sender.nmae }}\n{% for x in %}\n"
    )
    text = (
        "sequence: s\nsteps:\n  - {id: a, channel: email, subject: x, body: templates/bad.md.j2}\n"
    )
    _, problems = check_sequence_text(text, "s.yaml", workspace)
    assert [str(p) for p in problems] == [
        f"{workspace / 'templates/bad.md.j2'}:4:1: template syntax: Expected an expression,"
        " got 'end of statement block'"
    ]
    (workspace / "templates" / "bad.md.j2").write_text("Hello,\n\nBest, {{ sender.nmae }}\n")
    _, problems = check_sequence_text(text, "s.yaml", workspace)
    assert [str(p) for p in problems] == [
        f"{workspace / 'templates/bad.md.j2'}:3:10: 'sender' has no 'nmae'; did you mean 'name'?"
    ]


def test_a_template_path_may_not_leave_the_workspace(workspace: Path) -> None:
    text = "sequence: s\nsteps:\n  - {id: a, channel: sms, body: ../secrets.txt}\n"
    _, problems = check_sequence_text(text, "s.yaml", workspace)
    assert [(p.line, p.column, p.message) for p in problems] == [
        (3, 33, "template '../secrets.txt' is outside the workspace")
    ]


WARNINGS = [
    (
        "weight 0",
        "sequence: s\nsteps:\n  - id: a\n    channel: sms\n    body: x\n    variants:\n"
        "      - {id: v, weight: 0}\n      - {id: w, weight: 1}\n",
        [(7, 25, "variant 'v' has weight 0: it is never chosen")],
    ),
    (
        "sms opened, branch shadowed, never moves",
        "sequence: s\nsteps:\n  - id: a\n    channel: sms\n    body: x\n    on:\n"
        "      - {when: opened, goto: b}\n      - {goto: b}\n      - {after: 1 days, exit: x}\n"
        "  - {id: b, channel: email, subject: s, body: x, on: [{after: 2 days, set: {stage: engaged}}]}\n",
        [
            (7, 16, "SMS has no open tracking: 'opened' never arrives for an sms step"),
            (
                9,
                9,
                "this branch is never taken: the branch without 'when'/'after' before it"
                " is taken first",
            ),
            (
                10,
                54,
                "step 'b' never moves on by itself: no 'after' branch has a 'goto' or 'exit',"
                " so only an event can end the wait",
            ),
        ],
    ),
    (
        "sms too long",
        "sequence: s\nsteps:\n  - id: a\n    channel: sms\n    body: '{{ talent.first_name }}"
        + " ☀" * 150
        + "'\n",
        [(5, 11, "this SMS is 5 segments (UCS-2) for the sample talent, above the limit of 3")],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in WARNINGS], ids=[c[0] for c in WARNINGS]
)
def test_warnings_are_located_and_do_not_fail(
    workspace: Path, text: str, expected: list[tuple[int, int, str]]
) -> None:
    document, problems = check_sequence_text(text, "s.yaml", workspace)
    assert document is not None
    assert [(p.line, p.column, p.message) for p in problems] == expected
    assert {p.severity for p in problems} == {"warning"}


def test_load_sequence_raises_every_error_located(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("sequence: s\nkind: outbund\nsteps:\n  - {id: a, channel: emial, body: x}\n")
    with pytest.raises(DefinitionError) as caught:
        load_sequence(path, tmp_path)
    assert str(caught.value).splitlines() == [
        f"{path}:2:7: kind: 'outbund' is not one of 'outbound' or 'inbound'; did you mean 'outbound'?",
        f"{path}:4:22: unknown channel 'emial'; did you mean 'email'?",
    ]


def test_yaml_11_traps_are_closed(tmp_path: Path) -> None:
    """``on:`` is a key (not True), ``NO`` is Norway, 09:00 is a time, +49... is text."""
    text = (
        "sequence: s\nsettings:\n  holidays: NO\n  send_window: {from: 09:00, to: 17:30}\n"
        "steps:\n  - id: a\n    channel: sms\n    body: x\n    on:\n      - {after: 2 days, exit: done}\n"
    )
    document, problems = check_sequence_text(text, "s.yaml", tmp_path)
    assert problems == []
    assert document is not None
    settings = document.sequence.settings
    assert (settings.holidays, str(settings.send_window.from_)) == ("NO", "09:00:00")
    assert document.sequence.steps[0].on[0].exit == "done"


def test_alias_bombs_are_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    _, problems = check_sequence_text("\n".join(lines) + "\n", "s.yaml", tmp_path)
    assert [p.message for p in problems] == ["invalid YAML: aliases expand too far or recurse"]
