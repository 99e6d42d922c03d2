"""Loops: a sequence that comes back to a step after a wait is a recurring touch; one that
comes back with no wait is refused by ``validate``; a very long chain is no problem."""

from __future__ import annotations

from pathlib import Path

from journey import Workspace, rows

WEEKLY = """\
sequence: weekly-digest
settings:
  timezone: Europe/Berlin
  send_window: {days: [mon, tue, wed, thu, fri, sat, sun], from: "08:00", to: "20:00"}
steps:
  - id: digest
    channel: email
    subject: "This week at Acme, {{ talent.first_name }}"
    body: "Three new roles this week."
    on:
      - {when: replied, exit: replied}
      - {after: 7 days, goto: digest}
"""

CAMPAIGN = """\
campaign: {campaign}
sequence: {sequence}
sender: {{name: Ann Lee, email: ann@acme.example, sms_from: "+4915112345678"}}
audience: {{tags_all: [digest]}}
schedule: {{cron: "0 9 * * *"}}
"""

PEOPLE = """\
first_name,last_name,email,phone,tags
Mia,Kern,mia.kern@example.org,,digest
"""


def _setup(ws: Workspace, sequence: str, name: str, campaign: str) -> None:
    ws.write(f"sequences/{name}.yaml", sequence)
    ws.write(f"campaigns/{campaign}.yaml", CAMPAIGN.format(campaign=campaign, sequence=name))
    ws.write("people.csv", PEOPLE)
    ws.nurture("validate")
    ws.nurture("talents", "import", "people.csv")


def _outbox(ws: Workspace) -> list[tuple[str, int, str]]:
    """``(step, pass, status)`` of every outbox row, in planning order."""
    return rows(ws, "SELECT step_id, pass_number, status FROM outbox ORDER BY id")


def _messages(ws: Workspace) -> list[Path]:
    return sorted((ws.root / "outbox").glob("*.eml"))


def test_a_loop_through_a_wait_sends_once_per_pass(ws_db: Workspace) -> None:
    _setup(ws_db, WEEKLY, "weekly-digest", "digest")
    days = ["2026-03-02", "2026-03-04", "2026-03-09", "2026-03-12", "2026-03-16", "2026-03-23"]
    sent = []
    for day in days:
        ran = ws_db.nurture("run", "digest", "--now", f"{day}T09:00:00+00:00", "--no-prefect")
        assert ran.code == 0 and "Traceback" not in ran.err, str(ran)
        sent.append(len(_messages(ws_db)))
    assert sent == [1, 1, 2, 2, 3, 4]  # one per weekly pass, nothing in between
    assert _outbox(ws_db) == [("digest", n, "sent") for n in (1, 2, 3, 4)]
    # the same tick again plans nothing more: each pass is planned once
    again = ws_db.nurture("run", "digest", "--now", "2026-03-23T09:30:00+00:00", "--no-prefect")
    assert again.code == 0 and len(_messages(ws_db)) == 4


def test_a_loop_through_two_steps_comes_back_after_its_wait(ws: Workspace) -> None:
    looped = WEEKLY.replace(
        "      - {after: 7 days, goto: digest}\n",
        "      - {after: 7 days, goto: reminder}\n"
        "  - id: reminder\n    channel: email\n    thread: digest\n"
        '    body: "Still curious?"\n    on: [{after: 7 days, goto: digest}]\n',
    )
    _setup(ws, looped, "weekly-digest", "digest")
    for day in ("2026-03-02", "2026-03-09", "2026-03-16", "2026-03-23"):
        ws.nurture("run", "digest", "--now", f"{day}T09:00:00+00:00", "--no-prefect")
    planned = _outbox(ws)
    assert [(step, n) for step, n, _ in planned] == [
        ("digest", 1), ("reminder", 1), ("digest", 2), ("reminder", 2)
    ]  # fmt: skip


def test_a_loop_with_no_wait_is_a_located_error(ws: Workspace) -> None:
    ws.write(
        "sequences/spin.yaml",
        "sequence: spin\n"
        "steps:\n"
        "  - id: call\n"
        "    channel: task\n"
        "    title: Call {{ talent.first_name }}\n"
        "    on: [{goto: text}]\n"
        "  - id: text\n"
        "    channel: sms\n"
        "    if: talent.phone\n"
        "    body: Hi\n"
        "    on: [{after: 2 days, goto: call}]\n",
    )
    ran = ws.nurture("validate", check=False)
    assert ran.code == 1, str(ran)
    assert "sequences/spin.yaml:11:32: steps 'call' -> 'text' -> 'call' loop without any wait" in (
        ran.err
    ), str(ran)
    assert "Traceback" not in ran.err


def _chain(length: int) -> str:
    """``length`` SMS steps (every other one guarded) falling through to a last email."""
    lines = ["sequence: long-chain", "steps:"]
    for number in range(length):
        guard = "    if: talent.phone\n" if number % 2 == 0 else ""
        lines.append(f"  - id: s{number}\n    channel: sms\n{guard}    body: Text {number}")
    lines.append('  - id: last\n    channel: email\n    subject: "At last"\n    body: "The end."')
    return "\n".join(lines) + "\n"


def test_a_chain_of_1200_steps_validates_graphs_and_runs(ws: Workspace) -> None:
    _setup(ws, _chain(1200), "long-chain", "chain")
    graph = ws.nurture("graph", "long-chain")
    assert 's1199 -->|"done"| last' in graph.out
    ran = ws.nurture("run", "chain", "--now", "2026-03-02T09:00:00+00:00", "--no-prefect")
    assert ran.code == 0 and "Traceback" not in ran.err, str(ran)
    # no phone: the 1,200 SMS steps are skipped, the email at the end goes out
    assert _outbox(ws) == [("last", 1, "sent")]
