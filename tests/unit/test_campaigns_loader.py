"""Campaign files and whole workspaces: every error located, across files too."""

# ruff: noqa: E501  (YAML tables and messages read best one per line)

from __future__ import annotations

from pathlib import Path

import pytest

from campaigns.loader import check_campaign_text, load_campaign
from campaigns.workspace import check_workspace, load_workspace
from sequences import DefinitionError

SENDER = "sender: {name: Ada Roe, email: ada@acme.example}\n"

CASES: list[tuple[str, str, list[tuple[int, int, str]]]] = [
    (
        "misspelled keys",
        f"campaign: c\nsequence: s\n{SENDER}audiense: {{}}\nlimits: {{per_dya: 3}}\n",
        [
            (4, 1, "unknown key 'audiense'; did you mean 'audience'?"),
            (5, 10, "unknown key 'per_dya'; did you mean 'per_day'?"),
        ],
    ),
    (
        "cron and zone",
        f"campaign: c\nsequence: s\n{SENDER}schedule: {{cron: '61 * * * *', timezone: Europe/Berln}}\n",
        [
            (4, 18, "invalid cron expression '61 * * * *': Bad minute"),
            (4, 42, "unknown time zone 'Europe/Berln'; did you mean 'Europe/Berlin'?"),
        ],
    ),
    (
        "sender numbers and email",
        "campaign: c\nsequence: s\nsender:\n  name: Ada\n  email: not-an-email\n"
        "  sms_from: 0151 1234 5678\n  whatsapp_from: '+33 6 12 34 56 78'\n",
        [
            (
                5,
                10,
                "email: value is not a valid email address: An email address must have an @-sign.",
            ),
            (6, 13, "'0151 1234 5678' is not a phone number in E.164 form (+4915112345678)"),
            (7, 18, "write the phone number in E.164 form: '+33612345678'"),
        ],
    ),
    (
        "audience",
        f"campaign: c\nsequence: s\n{SENDER}audience:\n  stage: [persn]\n"
        "  not_contacted_for: 3 business days\n  created_after: last week\n",
        [
            (
                5,
                11,
                "stage item: 'persn' is not one of 'person', 'prospect', 'engaged', 'candidate',"
                " 'interviewing', 'hired', 'not_interested' or 'do_not_contact'; did you mean"
                " 'person'?",
            ),
            (6, 22, "not_contacted_for takes days or weeks, not business days"),
            (7, 18, "created_after should be a date (YYYY-MM-DD)"),
        ],
    ),
    (
        "missing sender",
        "campaign: c\nsequence: s\n",
        [(1, 1, "missing required key 'sender'")],
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_campaign_errors_are_located(text: str, expected: list[tuple[int, int, str]]) -> None:
    campaign, _, problems = check_campaign_text(text, "c.yaml")
    assert campaign is None
    assert [(p.line, p.column, p.message) for p in problems] == expected


def test_pace_warning(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"campaign: c\nsequence: s\n{SENDER}limits: {{per_day: 10, per_hour: 20}}\n")
    assert load_campaign(path).limits.per_hour == 20
    _, _, problems = check_campaign_text(path.read_text(), "c.yaml")
    assert [str(p) for p in problems] == [
        "c.yaml:4:33: warning: per_hour (20) is above per_day (10): per_day wins"
    ]


def _workspace(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


SMS_SEQUENCE = "sequence: nudge\nsteps:\n  - {id: a, channel: sms, body: hi}\n"


def test_workspace_reports_every_file_and_cross_file_problems(tmp_path: Path) -> None:
    root = _workspace(
        tmp_path,
        {
            "nurture.yaml": "company: {name: Acme}\nsms_segment_limt: 2\n",
            "sequences/nudge.yaml": SMS_SEQUENCE,
            "sequences/copy.yaml": SMS_SEQUENCE,
            "sequences/broken.yaml": "sequence: broken\nsteps: [{id: a, channel: fax, body: x}]\n",
            "campaigns/a.yaml": f"campaign: a\nsequence: nuge\n{SENDER}",
            "campaigns/b.yaml": f"campaign: b\nsequence: nudge\n{SENDER}",
        },
    )
    workspace, problems = check_workspace(root)
    assert workspace is None
    assert [str(p).replace(str(root), "") for p in problems] == [
        "/campaigns/a.yaml:2:11: unknown sequence 'nuge'; did you mean 'nudge'?",
        "/campaigns/b.yaml:3:1: sequence 'nudge' sends SMS: the sender needs 'sms_from'",
        "/nurture.yaml:2:1: unknown key 'sms_segment_limt'; did you mean 'sms_segment_limit'?",
        "/sequences/broken.yaml:2:26: unknown channel 'fax'; expected 'email', 'sms', 'whatsapp' or 'task'",
        "/sequences/nudge.yaml:1:11: sequence id 'nudge' is already used by /sequences/copy.yaml",
    ]
    with pytest.raises(DefinitionError) as caught:
        load_workspace(root)
    assert len(caught.value.problems) == 5


def test_a_valid_workspace_loads_with_its_settings(tmp_path: Path) -> None:
    root = _workspace(
        tmp_path,
        {
            "nurture.yaml": "company: {name: Acme, website: https://acme.example}\n"
            "frequency_cap: {touches: 2, per: 3 days}\nreplies: {phrases: {interested: [gerne]}}\n",
            "sequences/nudge.yaml": SMS_SEQUENCE,
            "campaigns/b.yaml": "campaign: b\nsequence: nudge\n"
            "sender: {name: Ada Roe, email: ada@acme.example, sms_from: '+4915112345678'}\n",
        },
    )
    workspace = load_workspace(root)
    assert workspace.settings.company.name == "Acme"
    assert str(workspace.settings.frequency_cap.per) == "3 days"
    assert workspace.settings.replies.phrases == {"interested": ("gerne",)}
    assert list(workspace.sequences) == ["nudge"] and list(workspace.campaigns) == ["b"]
    assert workspace.campaigns["b"].sender.first_name == "Ada"
    assert workspace.warnings == ()
