"""The operations a recruiter and an operator expect at the command line: look at the
outbox, the people and the campaigns, change a person, pause a campaign, stop an enrollment.
"""

from __future__ import annotations

from typing import Any

import pytest
from journey import Workspace

CAMPAIGN = "backend-engineers-q1"
IMPORTED = "2026-03-01T10:00:00+00:00"
MONDAY = "2026-03-02T09:00:00+01:00"  # the first tick: Berlin is in its send window
LATER = "2026-03-02T18:00:00+00:00"  # everyone's intro is due by then
NARROW = {"COLUMNS": "80"}  # a terminal as narrow as a pipe's default


@pytest.fixture
def ran(ws: Workspace) -> Workspace:
    """The sample people imported and one tick of the outbound campaign: some intros sent,
    the others planned for their own time zone's morning."""
    ws.nurture("talents", "import", "talents.csv", "--now", IMPORTED)
    ws.nurture("run", CAMPAIGN, "--now", MONDAY, "--no-prefect")
    return ws


def _sql(ws: Workspace, statement: str, **params: Any) -> None:
    """One SQL statement on the workspace's talent base: a state the CLI cannot reach, such
    as a claim left in doubt by a crash."""
    from sqlalchemy import create_engine, text

    url = ws.env.get("NURTURE_DATABASE_URL") or f"sqlite:///{ws.root / 'nurture.db'}"
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(statement), params)
    finally:
        engine.dispose()


def _outbox(ws: Workspace, *options: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = ws.nurture("outbox", "list", "--json", "--limit", "500",
                                            *options).json()  # fmt: skip
    return rows


def _timeline(ws: Workspace, email: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = ws.nurture("talents", "export", email).json()["timeline"]
    return events


def _fails(ws: Workspace, *args: str) -> str:
    """``nurture ARGS`` exits 1 with a message and no traceback; returns that message."""
    done = ws.nurture(*args, check=False)
    assert done.code == 1, str(done)
    assert "Traceback" not in done.err, str(done)
    return done.err


# --- outbox ---------------------------------------------------------------------------------


def test_outbox_list_shows_whole_ids_and_filters_by_status(ran: Workspace) -> None:
    rows = _outbox(ran)
    assert {row["status"] for row in rows} == {"sent", "planned"}
    table = ran.nurture("outbox", "list", "--limit", "500", env=NARROW).out
    assert all(row["message_id"] in table for row in rows)
    planned = _outbox(ran, "--status", "planned")
    assert planned and {row["status"] for row in planned} == {"planned"}
    assert len(planned) + len(_outbox(ran, "--status", "sent")) == len(rows)
    assert _outbox(ran, "--status", "in_doubt") == _outbox(ran, "--in-doubt") == []
    assert "--status" in _fails(ran, "outbox", "list", "--status", "lost")
    assert "--in-doubt and --status sent" in _fails(
        ran, "outbox", "list", "--in-doubt", "--status", "sent"
    )


def test_outbox_settle_takes_a_unique_prefix_of_the_message_id(ran: Workspace) -> None:
    doubtful = _outbox(ran, "--status", "sent")[0]["message_id"]
    _sql(ran, "UPDATE outbox SET status = 'in_doubt' WHERE message_id = :m", m=doubtful)
    assert [r["message_id"] for r in _outbox(ran, "--in-doubt")] == [doubtful]
    ids = [row["message_id"] for row in _outbox(ran)]
    shared = next(i[0] for i in ids if sum(j[0] == i[0] for j in ids) > 1)
    assert f"{shared} is ambiguous" in _fails(ran, "outbox", "settle", shared, "--sent")
    assert "zzzz: no such message" in _fails(ran, "outbox", "settle", "zzzz", "--sent")
    settled = ran.nurture("outbox", "settle", doubtful[:10], "--resend", "--now", LATER).out
    assert f"{doubtful} ({CAMPAIGN}:intro): planned again" in settled
    assert _outbox(ran, "--in-doubt") == []


# --- talents --------------------------------------------------------------------------------


def test_talents_list_filters_and_an_ambiguous_name_is_refused(ran: Workspace) -> None:
    everyone = ran.nurture("talents", "list", "--json", "--limit", "500").json()
    assert len(everyone) == 50
    prospects = ran.nurture("talents", "list", "--stage", "prospect", "--json").json()
    assert prospects and {t["stage"] for t in prospects} == {"prospect"}
    assert len(prospects) < len(everyone)
    tagged = ran.nurture("talents", "list", "--tag", "backend", "--json", "--limit", "500").json()
    assert tagged and all("backend" in t["tags"] for t in tagged) and len(tagged) < 50
    found = ran.nurture("talents", "list", "--search", "kiezbank", "--json").json()
    assert [t["company"] for t in found] == ["Kiezbank"]
    assert ran.nurture("talents", "list", "--search", "MAYA", "--json").json()[0]["first_name"]
    assert len(ran.nurture("talents", "list", "--limit", "3", "--json").json()) == 3
    table = ran.nurture("talents", "list", "--search", "kiezbank", env=NARROW).out
    assert found[0]["email"] in table and "1 talent(s)" in table
    assert "unknown stage 'lead'" in _fails(ran, "talents", "list", "--stage", "lead")
    err = _fails(ran, "talents", "set", "olivia", "--tag", "x")  # two Olivias
    assert "'olivia' matches 2 talents" in err and "give the email" in err
    assert err.count("@") >= 2
    assert "no talent matches 'nobody'" in _fails(ran, "talents", "set", "nobody", "--tag", "x")
    assert ran.nurture("talents", "list", "--tag", "x", "--json").json() == []


def test_talents_set_moves_a_stage_on_the_timeline_and_edits_tags(ran: Workspace) -> None:
    person = ran.nurture("talents", "list", "--search", "kiezbank", "--json").json()[0]
    email = person["email"]
    done = ran.nurture("talents", "set", "Kiezbank", "--stage", "candidate", "--tag", "Hot",
                       "--untag", "backend", "--now", LATER).out  # fmt: skip
    assert f"{email}: stage candidate; +hot; -backend" in done
    moved = [e for e in _timeline(ran, email) if e["kind"] == "stage_changed"][-1]
    assert moved["data"] == {"from": person["stage"], "to": "candidate", "reason": "by hand"}
    after = ran.nurture("talents", "list", "--search", "kiezbank", "--json").json()[0]
    assert after["stage"] == "candidate" and "hot" in after["tags"]
    assert "backend" not in after["tags"]
    assert "cannot move from candidate to person" in _fails(
        ran, "talents", "set", email, "--stage", "person"
    )
    assert "nothing to change" in _fails(ran, "talents", "set", email)


def test_talents_set_opt_out_withdraws_planned_messages(ran: Workspace) -> None:
    planned = _outbox(ran, "--status", "planned")[0]
    email = planned["to"]
    done = ran.nurture("talents", "set", email, "--opt-out", "email", "--now", LATER).out
    assert "opted out of email (1 planned message(s) withdrawn)" in done
    row = next(r for r in _outbox(ran) if r["message_id"] == planned["message_id"])
    assert (row["status"], row["error"]) == ("cancelled", "opted_out")
    kinds = [(e["kind"], e["channel"]) for e in _timeline(ran, email)]
    assert ("opted_out", "email") in kinds
    ran.nurture("talents", "set", email, "--opt-in", "email", "--now", LATER)
    assert ("opted_in", "email") in [(e["kind"], e["channel"]) for e in _timeline(ran, email)]
    assert "--opt-out" in _fails(ran, "talents", "set", email, "--opt-out", "fax")


# --- campaigns ------------------------------------------------------------------------------


def _campaign(ws: Workspace, campaign: str = CAMPAIGN) -> dict[str, Any]:
    rows: list[dict[str, Any]] = ws.nurture("campaigns", "list", "--json").json()
    return next(row for row in rows if row["campaign"] == campaign)


def test_campaigns_list_shows_kind_state_counts_and_last_activity(ws_db: Workspace) -> None:
    assert _campaign(ws_db)["enrolled"] == 0
    ws_db.nurture("talents", "import", "talents.csv", "--now", IMPORTED)
    ws_db.nurture("run", CAMPAIGN, "--now", MONDAY, "--no-prefect")
    row = _campaign(ws_db)
    assert row["sequence"] == "backend-outbound" and row["kind"] == "outbound"
    assert row["status"] == "running" and row["enrolled"] == row["active"] > 0
    assert row["last_activity_at"] == "2026-03-02T08:00:00+00:00"
    assert _campaign(ws_db, "talent-community")["kind"] == "inbound"
    table = ws_db.nurture("campaigns", "list", env=NARROW).out
    assert "backend-engineers-q1" in table and "silver-medalists-2026" in table


def test_a_paused_campaign_sends_nothing_until_resumed(ws_db: Workspace) -> None:
    ws_db.nurture("talents", "import", "talents.csv", "--now", IMPORTED)
    ws_db.nurture("campaigns", "pause", CAMPAIGN, "--now", IMPORTED)
    assert _campaign(ws_db)["status"] == "paused"
    assert "already paused" in ws_db.nurture("campaigns", "pause", CAMPAIGN).out
    ran = ws_db.nurture("run", CAMPAIGN, "--now", MONDAY, "--no-prefect", "--json").json()
    assert ran["paused"].startswith("by hand") and ran["enrolled"] == 0
    assert _outbox(ws_db) == []
    ws_db.nurture("campaigns", "resume", CAMPAIGN, "--now", MONDAY)
    assert _campaign(ws_db)["status"] == "running"
    ran = ws_db.nurture("run", CAMPAIGN, "--now", MONDAY, "--no-prefect", "--json").json()
    assert ran["paused"] is None and ran["dispatch"]["sent"] > 0
    assert "is not paused" in ws_db.nurture("campaigns", "resume", CAMPAIGN).out
    assert "unknown campaign 'nope'" in _fails(ws_db, "campaigns", "pause", "nope")
    assert "unknown campaign 'nope'" in _fails(ws_db, "campaigns", "resume", "nope")


# --- enrollments ----------------------------------------------------------------------------


def test_enrollments_stop_exits_and_withdraws_the_planned_message(ws_db: Workspace) -> None:
    ws_db.nurture("talents", "import", "talents.csv", "--now", IMPORTED)
    ws_db.nurture("run", CAMPAIGN, "--now", MONDAY, "--no-prefect")
    planned = _outbox(ws_db, "--status", "planned")[0]
    email = planned["to"]
    active = _campaign(ws_db)["active"]
    done = ws_db.nurture("enrollments", "stop", email, CAMPAIGN, "--now", LATER).out
    assert f"stopped {email} in {CAMPAIGN} at step intro; 1 planned message(s) withdrawn" in done
    row = next(r for r in _outbox(ws_db) if r["message_id"] == planned["message_id"])
    assert row["status"] == "cancelled"
    exited = [e for e in _timeline(ws_db, email) if e["kind"] == "exited"]
    assert [e["data"] for e in exited] == [{"outcome": "stopped"}]
    assert _campaign(ws_db)["active"] == active - 1
    ran = ws_db.nurture("run", CAMPAIGN, "--now", LATER, "--no-prefect")
    assert ran.code == 0
    assert not [r for r in _outbox(ws_db) if r["to"] == email and r["status"] == "sent"]
    assert "has no active enrollment" in _fails(ws_db, "enrollments", "stop", email, CAMPAIGN)
    assert "unknown campaign 'nope'" in _fails(ws_db, "enrollments", "stop", email, "nope")
    assert "no talent with email" in _fails(
        ws_db, "enrollments", "stop", "nobody@example.com", CAMPAIGN
    )


@pytest.mark.parametrize("argv", [("talents", "list"), ("campaigns", "pause", CAMPAIGN)])
def test_a_talent_base_that_does_not_answer_is_one_line_without_its_password(
    ws: Workspace, argv: tuple[str, ...]
) -> None:
    down = {"NURTURE_DATABASE_URL": "postgresql+psycopg://nurture:s3cret@127.0.0.1:9/talent"}
    ran = ws.nurture(*argv, check=False, env=down)
    assert ran.code == 1, ran
    [line] = ran.err.strip().splitlines()
    assert line.startswith("error: cannot open the talent base at "), line
    assert "nurture:***@127.0.0.1:9/talent" in line and "s3cret" not in ran.err + ran.out


def test_a_talent_base_newer_than_this_nurture_is_one_line(ws: Workspace) -> None:
    """A machine not yet upgraded, on a talent base a newer nurture migrated."""
    ws.nurture("talents", "list")  # creates and migrates the talent base
    _sql(ws, "UPDATE alembic_version SET version_num = '9999_from_the_future'")
    ran = ws.nurture("talents", "list", check=False)
    assert ran.code == 1 and "Traceback" not in ran.err, ran
    [line] = ran.err.strip().splitlines()
    assert "9999_from_the_future" in line and "upgrade nurture on this machine" in line, line
