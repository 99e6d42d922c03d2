"""SMS keywords as a person texts them: the carriers' STOP words and their French, German
and Spanish kin opt out; "Yes!" answers a recruiter's question and re-subscribes only
someone who had opted out (Twilio's START/UNSTOP/YES, ``channels.keywords``).

Texts are posted to the webhook app over ASGI, signed as Twilio signs them, on a fresh
``nurture init`` workspace whose talent base was imported with ``nurture talents import``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from journey import Workspace, call_app, rows
from sqlalchemy import select

from channels.twilio import sign_request
from engine.config import Config
from engine.store.database import Database
from engine.store.models import Enrollment, OutboxMessage, SequenceSnapshot, Talent

MONDAY = datetime.fromisoformat("2026-03-02T10:00:00+00:00")
TOKEN = "twilio-token-for-journeys"
MAYA = "+4915123456701"  # Maya Fischer in the workspace's talents.csv
ROUTE = "/webhooks/twilio/messages"


@pytest.fixture
def texting(ws_db: Workspace) -> Workspace:
    ws_db.env["TWILIO_AUTH_TOKEN"] = TOKEN
    ws_db.nurture("talents", "import", "talents.csv")
    _texted_before(ws_db)
    return ws_db


def _texted_before(ws: Workspace) -> None:
    """A campaign texted Maya last week: her texts are verified (Twilio signs the sender and
    we wrote to that number); a number we never wrote to could only opt out."""
    url = ws.env.get("NURTURE_DATABASE_URL") or f"sqlite:///{ws.root / 'nurture.db'}"
    db, at = Database(url), MONDAY - timedelta(days=7)
    with db.session() as session:
        maya = session.scalars(select(Talent).where(Talent.phone == MAYA)).one()
        session.add(SequenceSnapshot(content_hash="s" * 64, sequence="s", document={},
                                     created_at=at))  # fmt: skip
        session.flush()
        enrollment = Enrollment(talent_id=maya.id, campaign="c", sequence="s",
                                content_hash="s" * 64, kind="outbound", status="exited",
                                step_id="text", entered_at=at, updated_at=at)  # fmt: skip
        session.add(enrollment)
        session.flush()
        session.add(OutboxMessage(message_id="sms1", enrollment_id=enrollment.id,
                                  talent_id=maya.id, campaign="c", step_id="text",
                                  channel="sms", to=MAYA, sender="+4915112345678", text="Hi",
                                  status="sent", due_at=at, sent_at=at, created_at=at))  # fmt: skip
    db.dispose()


class _Texts:
    """Maya's texts to the recruiter's number, one minute apart, each a new MessageSid."""

    def __init__(self, ws: Workspace) -> None:
        self.ws, self.sent = ws, 0

    def __call__(self, body: str) -> None:
        self.sent += 1
        params = {"MessageSid": f"SM{self.sent:032d}", "AccountSid": "AC" + "0" * 32,
                  "From": MAYA, "To": "+4915112345678", "Body": body, "NumMedia": "0"}  # fmt: skip
        url = f"{Config.load(self.ws.root, env=self.ws.env).public_url}{ROUTE}"
        response = call_app(
            self.ws, "POST", ROUTE, now=MONDAY + timedelta(minutes=self.sent), data=params,
            headers={"X-Twilio-Signature": sign_request(url, params, TOKEN)},
        )  # fmt: skip
        assert response.status_code == 200, response.text


def _opted_out(ws: Workspace) -> bool:
    ((at,),) = rows(ws, f"select sms_opted_out_at from talents where phone = '{MAYA}'")
    return at is not None


def _timeline(ws: Workspace) -> list[tuple[str, str | None]]:
    """(kind, intent) of Maya's timeline rows from Twilio, oldest first."""
    found = rows(ws, "select kind, data from engagements where provider = 'twilio' order by id")
    return [(kind, (json.loads(d) if isinstance(d, str) else d).get("intent")) for kind, d in found]


def test_stop_in_the_carriers_words_and_in_four_languages_opts_out(texting: Workspace) -> None:
    text = _Texts(texting)
    for stop in ("STOP", "Stop please", "ARRET", "Arrêt", "STOPP", "Parar", "stopall", "Quit."):
        text(stop)
        assert _opted_out(texting), stop
        text("START")
        assert not _opted_out(texting), f"START after {stop}"
    assert _timeline(texting) == [("opted_out", None), ("opted_in", None)] * 8


def test_yes_is_an_interested_reply_and_resubscribes_only_after_a_stop(
    texting: Workspace,
) -> None:
    text = _Texts(texting)
    text("Yes!")  # to "Would you be open to a chat about the role?"
    assert not _opted_out(texting)
    assert _timeline(texting) == [("replied", "interested")]  # no opt-in for one never out
    text("STOP")
    text("yes")
    assert not _opted_out(texting)
    assert _timeline(texting)[1:] == [("opted_out", None), ("replied", "interested")]
    text("Please stop by the office tomorrow, I will be there.")  # a sentence, not a keyword
    assert not _opted_out(texting)
