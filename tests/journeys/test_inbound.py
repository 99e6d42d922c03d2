"""Inbound campaigns: people enter through their trigger event (``POST /api/events``, a
career site's "join our talent community" form), never from the talent base."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path

import pytest
from journey import Workspace, call_app
from sqlalchemy import func, select

from engine.config import Config
from engine.store.database import Database
from engine.store.models import Engagement, Enrollment, Talent

MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 10:00 in Berlin: inside the send window
AT = MONDAY.isoformat()
LATER = "2026-03-02T09:05:00+00:00"
LENA = {"email": "lena.vogel@example.net", "first_name": "Lena", "timezone": "Europe/Berlin"}


@pytest.fixture
def api(ws_db: Workspace) -> Workspace:
    """The ``nurture init`` workspace with its talent base imported and the API key set."""
    ws_db.env["NURTURE_API_KEY"] = "journey-api-key"
    ws_db.nurture("talents", "import", "talents.csv")
    return ws_db


def _join(ws: Workspace, event: str = "talent_community.joined") -> dict[str, object]:
    response = call_app(ws, "POST", "/api/events", now=MONDAY,
                        json={"event": event, "talent": LENA})  # fmt: skip
    assert response.status_code in (202, 400), response.text
    return {"status": response.status_code, **response.json()}


def _sent(ws: Workspace) -> list[tuple[str, str]]:
    """(To, Subject) of every email the file channel wrote to the workspace's outbox/."""
    mails = [message_from_bytes(p.read_bytes()) for p in sorted(ws.root.glob("outbox/*.eml"))]
    return sorted((m["To"], str(make_header(decode_header(m["Subject"])))) for m in mails)


def _rows(ws: Workspace) -> dict[str, int]:
    """How many talents, enrollments and timeline rows the workspace's database holds."""
    database = Database(Config.load(ws.root, env=ws.env).database_url)
    try:
        with database.session() as session:
            return {
                model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
                for model in (Talent, Enrollment, Engagement)
            }
    finally:
        database.dispose()


def test_a_tick_of_an_inbound_campaign_enrolls_nobody_from_the_base(api: Workspace) -> None:
    dry = api.nurture("run", "talent-community", "--dry-run", "--now", AT, "--no-prefect")
    assert "enrolled 0, advanced 0, planned 0" in dry.out, dry
    assert "Welcome" not in dry.out
    ran = api.nurture("run", "talent-community", "--now", AT, "--no-prefect")
    assert "enrolled 0, advanced 0, planned 0" in ran.out, ran
    assert "sent 0" in ran.out
    assert "enter through its trigger 'talent_community.joined'" in " ".join(ran.out.split())
    assert _sent(api) == []
    maya = api.nurture("talents", "show", "maya.fischer@example.net")
    assert "talent-community" not in maya.out and "entered" not in maya.out
    assert _rows(api)["enrollments"] == 0


def test_the_trigger_event_enrolls_and_the_next_tick_sends_the_welcome(api: Workspace) -> None:
    joined = _join(api)
    assert (joined["status"], joined["enrolled"]) == (202, ["talent-community"])
    dry = api.nurture("run", "talent-community", "--dry-run", "--now", LATER, "--no-prefect")
    assert "enrolled 0, advanced 1, planned 1" in dry.out, dry  # her welcome, nobody else's
    assert dry.out.count("@example") == 1 and LENA["email"] in dry.out
    ran = api.nurture("run", "talent-community", "--now", LATER, "--no-prefect")
    assert "enrolled 0, advanced 1, planned 1" in ran.out and "sent 1," in ran.out, ran
    assert _sent(api) == [
        ("lena.vogel@example.net", "Welcome to the Acme Robotics talent community, Lena")
    ]
    again = api.nurture("run", "talent-community", "--now", LATER, "--no-prefect")
    assert "sent 0," in again.out and len(_sent(api)) == 1  # the welcome goes out once


def test_an_event_no_sequence_triggers_gets_400_and_writes_nothing(api: Workspace) -> None:
    before = _rows(api)
    typo = _join(api, event="talent_community.joinde")
    assert typo["status"] == 400
    assert "no sequence is triggered by 'talent_community.joinde'" in typo["detail"]
    assert "did you mean 'talent_community.joined'?" in typo["detail"]
    assert _rows(api) == before
    missing = api.nurture("talents", "show", LENA["email"], check=False)
    assert missing.code == 1 and "Traceback" not in missing.err


def test_an_audience_on_an_inbound_campaign_is_a_validation_error(api: Workspace) -> None:
    path = Path("campaigns/talent-community.yaml")
    text = (api.root / path).read_text(encoding="utf-8")
    api.write(str(path), text + "audience:\n  stage: [person]\n")
    line = text.count("\n") + 1
    checked = api.nurture("validate", check=False)
    assert checked.code == 1, checked
    assert f"{path}:{line}:1:" in checked.out + checked.err
    assert "'talent_community.joined'" in checked.out + checked.err
    assert "Traceback" not in checked.err
    ran = api.nurture("run", "talent-community", "--now", AT, "--no-prefect", check=False)
    assert ran.code == 1 and _sent(api) == []
