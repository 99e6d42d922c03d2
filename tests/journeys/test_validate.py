"""``nurture validate`` reports every mistake of every file in one run, each where it was
written (``file:line:column``), and a misspelling as itself, not as what it left missing."""

from __future__ import annotations

from journey import Workspace

NEWS = """\
sequence: news
steps:
  - id: hello
    chanel: sms
    body: "Hi {{ talent.first_name }}"
    on: [{after: 3 days, goto: follow}]
  - id: follow
    channel: email
    subject: "Following up"
    body: "Any thoughts?"
"""

CAMPAIGN = """\
campaign: {campaign}
sequence: {sequence}
sender: {{name: Ann Lee, email: ann@acme.example, sms_from: "+4915112345678"}}
audience: {{tags_all: [news]}}
schedule: {{cron: "0 9 * * *"}}
"""


def _errors(ws: Workspace) -> list[str]:
    ran = ws.nurture("validate", check=False)
    assert ran.code == 1, str(ran)
    assert "Traceback" not in ran.err
    return [line for line in ran.err.splitlines() if line.strip()]


def test_a_misspelt_channel_is_the_unknown_key_not_a_missing_one(ws: Workspace) -> None:
    ws.write("sequences/news.yaml", NEWS)
    errors = _errors(ws)
    assert "sequences/news.yaml:4:5: unknown key 'chanel'; did you mean 'channel'?" in errors
    assert not any("missing required key" in line for line in errors), errors


def test_every_mistake_in_every_file_at_once(ws: Workspace) -> None:
    ws.write("sequences/news.yaml", NEWS.replace("sequence: news", "sequnce: news"))
    ws.write(
        "sequences/digest.yaml",
        "sequence: digest\n"
        "steps:\n"
        "  - id: weekly\n"
        "    channel: email\n"
        "    subjet: This week\n"
        "    body: Three new roles.\n"
        "    on: [{after: 7 dayz, goto: weekly}]\n"
        "  - id: nudge\n"
        "    channel: pigeon\n"
        "    bdy: Coo\n",
    )
    ws.write("campaigns/digest.yaml", CAMPAIGN.format(campaign="digest", sequence="digets"))
    errors = _errors(ws)
    for expected in (
        "campaigns/digest.yaml:2:11: unknown sequence 'digets'",
        "sequences/digest.yaml:5:5: unknown key 'subjet'; did you mean 'subject'?",
        "sequences/digest.yaml:7:18: invalid duration '7 dayz'",
        "sequences/digest.yaml:9:14: unknown channel 'pigeon'",
        "sequences/digest.yaml:10:5: unknown key 'bdy'; did you mean 'body'?",
        "sequences/news.yaml:1:1: unknown key 'sequnce'; did you mean 'sequence'?",
        "sequences/news.yaml:4:5: unknown key 'chanel'; did you mean 'channel'?",
    ):
        assert any(line.startswith(expected) for line in errors), (expected, errors)
    assert not any("missing required key" in line for line in errors), errors


def test_a_broken_sequence_does_not_make_its_campaign_unknown(ws: Workspace) -> None:
    ws.write("sequences/news.yaml", NEWS)
    ws.write("campaigns/news.yaml", CAMPAIGN.format(campaign="news", sequence="news"))
    errors = _errors(ws)
    assert not any("unknown sequence" in line for line in errors), errors
    assert any(line.startswith("sequences/news.yaml:4:5: unknown key 'chanel'") for line in errors)
