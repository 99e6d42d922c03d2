"""``nurture report``: the funnel of each campaign, read by a recruiter without a legend."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from journey import Workspace, call_app

JOINED_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Berlin
TICK = "2026-03-02T09:05:00+00:00"
KEYS = {
    "campaign", "step", "variant", "enrolled", "sent", "delivered", "opened", "clicked",
    "replied", "interested", "converted", "bounced", "unsubscribed", "rates",
}  # fmt: skip


@pytest.fixture
def joined(ws_db: Workspace) -> Workspace:
    """Two people joined the talent community through the API; one tick sent the welcome."""
    ws_db.env["NURTURE_API_KEY"] = "journey-api-key"
    for first_name in ("Lena", "Jan"):
        talent = {"email": f"{first_name.lower()}@example.net", "first_name": first_name}
        payload = {"event": "talent_community.joined", "talent": talent}
        response = call_app(ws_db, "POST", "/api/events", now=JOINED_AT, json=payload)
        assert response.status_code == 202, response.text
    ws_db.nurture("run", "talent-community", "--now", TICK, "--no-prefect")
    return ws_db


def test_enrollments_made_by_the_api_count_on_their_first_step(joined: Workspace) -> None:
    rows = joined.nurture("report", "talent-community", "--json").json()
    assert [(row["step"], row["variant"]) for row in rows] == [("*", "*"), ("welcome", "")]
    total, welcome = rows
    assert (total["enrolled"], total["sent"]) == (2, 2)
    assert (welcome["enrolled"], welcome["sent"]) == (2, 2)  # no phantom step holds them
    assert {key for row in rows for key in row} == KEYS  # the JSON keys stay as they were
    assert joined.nurture("report", "--format", "json").json() == rows


def test_the_table_is_headed_with_words(joined: Workspace) -> None:
    """Read top to bottom as a funnel, one column per step, in 80 columns."""
    table = joined.nurture("report", "talent-community", env={"COLUMNS": "80"}).out
    lines = table.splitlines()
    assert lines[1].split() == ["all", "steps", "welcome"], table  # no phantom '-' step
    labels = [line.split()[0] for line in lines[2:12]]
    assert labels == ["enrolled", "sent", "delivered", "opened", "clicked", "replied",
                      "interested", "candidates", "bounced", "unsubscribed"]  # fmt: skip
    assert lines[2].split() == ["enrolled", "2", "2"], table
    assert lines[3].split() == ["sent", "2", "2"], table
    assert max(map(len, lines)) <= 80, table


def test_report_mistakes_exit_1_without_a_traceback(joined: Workspace) -> None:
    clash = joined.nurture("report", "--json", "--format", "csv", check=False)
    assert clash.code == 1 and "--json and --format csv" in clash.err, clash
    unknown = joined.nurture("report", "talent-comunity", check=False)
    assert unknown.code == 1, unknown
    assert "no campaign 'talent-comunity' has run; did you mean 'talent-community'?" in unknown.err
    assert "Traceback" not in clash.err + unknown.err
