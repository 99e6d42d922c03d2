"""``nurture graph`` draws what the engine does: a step skipped by its ``if`` guard goes
where the interpreter sends it (its plain branch, else its first ``after``)."""

from __future__ import annotations

from journey import Workspace, rows

OUTREACH = """\
sequence: outreach
settings:
  timezone: Europe/Berlin
  send_window: {days: [mon, tue, wed, thu, fri], from: "08:00", to: "18:00"}
steps:
  - id: intro
    channel: email
    subject: "A question, {{ talent.first_name }}"
    body: "Open to a chat?"
    on:
      - {when: replied.interested, goto: book_call}
      - {after: 1 days, goto: nudge}
  - id: nudge
    channel: sms
    if: talent.phone
    body: "Hi {{ talent.first_name }}, did you see my email?"
    on:
      - {when: replied, exit: replied}
      - {after: 2 days, goto: breakup}
  - id: book_call
    channel: email
    thread: intro
    body: "Great, here is my calendar."
    on: [{exit: converted}]
  - id: breakup
    channel: email
    thread: intro
    body: "I will not write again."
    on: [{after: 5 days, exit: no_response}]
"""

CAMPAIGN = """\
campaign: outreach
sequence: outreach
sender: {name: Ann Lee, email: ann@acme.example, sms_from: "+4915112345678"}
audience: {tags_all: [outreach]}
schedule: {cron: "0 9 * * *"}
"""


def test_graph_draws_a_skipped_step_going_where_the_engine_goes(ws: Workspace) -> None:
    ws.write("sequences/outreach.yaml", OUTREACH)
    ws.write("campaigns/outreach.yaml", CAMPAIGN)
    graph = ws.nurture("graph", "outreach").out
    assert 'nudge -.->|"skip unless talent.phone"| breakup' in graph, graph
    assert 'nudge -.->|"skip unless talent.phone"| book_call' not in graph

    # The engine agrees: without a phone, the SMS is skipped straight to the breakup.
    ws.write("people.csv", "first_name,email,tags\nMia,mia@example.org,outreach\n")
    ws.nurture("talents", "import", "people.csv")
    for day in ("2026-03-02", "2026-03-05"):
        ws.nurture("run", "outreach", "--now", f"{day}T09:00:00+00:00", "--no-prefect")
    assert rows(ws, "SELECT step_id FROM outbox ORDER BY id") == [("intro",), ("breakup",)]
