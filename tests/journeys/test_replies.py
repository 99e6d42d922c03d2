"""Replies read the way a recruiter reads them: the new text only, in its charset, and a
person in the loop (``nurture replies list|set``) when the reading is unsure.

Replies are posted to the webhook app over ASGI, signed the way SendGrid Inbound Parse
posts them (the secret in the URL, our ``reply+<message id>`` address); everything else is
the ``nurture`` command on a fresh ``nurture init`` workspace.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from functools import cache
from typing import Any

import httpx
from journey import Workspace
from sqlalchemy import select

from engine.config import Config
from engine.core.clock import fixed_clock
from engine.store.database import Database
from engine.store.models import Engagement, Enrollment, OutboxMessage, Talent
from engine.web.app import create_app

MONDAY = "2026-03-02T10:00:00+00:00"
TUESDAY = "2026-03-03T10:00:00+00:00"
SECRET = "inbound-secret-for-journeys"
DOMAIN = "reply.acme.example"
CAMPAIGN = "backend-engineers-q1"
MAYA = "maya.fischer@example.net"


def _started(ws: Workspace, review_below: float | None = None) -> OutboxMessage:
    """Talents imported, the backend campaign's first tick run: Maya's intro email."""
    if review_below is not None:
        settings = (ws.root / "nurture.yaml").read_text(encoding="utf-8")
        setting = f"replies:\n  review_below: {review_below}\n"
        ws.write("nurture.yaml", settings.replace("replies:\n", setting))
    ws.nurture("talents", "import", "talents.csv")
    ws.nurture("run", CAMPAIGN, "--now", MONDAY, "--no-prefect")
    with _db(ws).session() as session:
        return session.scalars(
            select(OutboxMessage).where(OutboxMessage.to == MAYA, OutboxMessage.step_id == "intro")
        ).one()


def _url(ws: Workspace) -> str:
    return ws.env.get("NURTURE_DATABASE_URL") or f"sqlite:///{ws.root / 'nurture.db'}"


def _db(ws: Workspace) -> Database:
    return _database(_url(ws))


@cache
def _database(url: str) -> Database:
    return Database(url)


def _post_reply(
    ws: Workspace, sent: OutboxMessage, text: bytes, charset: str = "UTF-8", token: bool = True
) -> Any:
    """Maya's reply to ``sent``, posted as Inbound Parse does (``text`` in ``charset``);
    without ``token``, to the recruiter's own address: matched by Maya's address only."""
    env = {"NURTURE_INBOUND_SECRET": SECRET, "NURTURE_INBOUND_DOMAIN": DOMAIN,
           "NURTURE_DATABASE_URL": _url(ws)}  # fmt: skip
    app = create_app(
        Config.load(ws.root, env=env), _db(ws), fixed_clock(datetime.fromisoformat(TUESDAY))
    )
    to = f"reply+{sent.message_id}@{DOMAIN}" if token else sent.sender
    fields = {
        "headers": f"From: Maya Fischer <{MAYA}>\nTo: {to}\nSubject: Re: {sent.subject}\n"
        f"Message-ID: <r-{abs(hash(text))}@mail.example.net>\n",
        "from": f"Maya Fischer <{MAYA}>", "to": to, "subject": f"Re: {sent.subject}",
        "envelope": json.dumps({"to": [to], "from": MAYA}),
        "charsets": json.dumps({"headers": "UTF-8", "text": charset, "subject": "UTF-8"}),
    }  # fmt: skip
    files: dict[str, Any] = {name: (None, value.encode()) for name, value in fields.items()}
    files["text"] = (None, text)

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://hooks.example") as http:
            return await http.post(f"/webhooks/sendgrid/inbound/{SECRET}", files=files)

    response = asyncio.run(post())
    assert response.status_code == 200, response.text
    return response.json()


def _quoted(sent: OutboxMessage) -> str:
    return "\n".join(f"> {line}" for line in sent.text.splitlines())


def _enrollment(ws: Workspace) -> Enrollment:
    with _db(ws).session() as session:
        talent = session.scalars(select(Talent).where(Talent.email == MAYA)).one()
        return session.scalars(select(Enrollment).where(Enrollment.talent_id == talent.id)).one()


def test_an_unsure_reply_waits_for_the_recruiter_who_sets_its_intent(ws_db: Workspace) -> None:
    """Held below review_below: no branch, a "check this reply" task; `replies set` branches."""
    sent = _started(ws_db, review_below=0.8)
    header = "On Mon, Mar 2, 2026 at 10:00 AM Charlotte <c@acme.example> wrote:"
    reply = f"Yes.\n\n{header}\n{_quoted(sent)}"
    stored = _post_reply(ws_db, sent, reply.encode())
    assert (stored["intent"], stored["matched_by"]) == ("interested", "reply_token")
    assert stored["confidence"] < 0.8
    assert _enrollment(ws_db).step_id == "intro" and _enrollment(ws_db).status == "waiting"
    tasks = ws_db.nurture("tasks", "list").out
    assert "Check this reply from Maya Fischer" in tasks

    (listed,) = ws_db.nurture("replies", "list", "--json").json()
    assert listed["id"] == stored["reply_id"]
    assert listed["text"] == "Yes."  # our quoted email is not part of it
    assert (listed["intent"], listed["held"], listed["verified"]) == ("interested", True, True)
    assert listed["reason"]
    assert ws_db.nurture("replies", "list", "--json", "--intent", "not_interested").json() == []
    assert ws_db.nurture("replies", "list", "--json", "--unverified").json() == []

    done = ws_db.nurture("replies", "set", str(listed["id"]), "interested", "--by",
                         "charlotte@acme.example", "--now", TUESDAY)  # fmt: skip
    assert "interested (set by charlotte@acme.example)" in done.out
    assert _enrollment(ws_db).step_id == "book_call"
    (after,) = ws_db.nurture("replies", "list", "--json").json()
    assert (after["held"], after["corrected_by"], after["confidence"]) == (
        False, "charlotte@acme.example", 1.0,
    )  # fmt: skip
    (example,) = map(json.loads, ws_db.nurture("replies", "examples").out.splitlines())
    assert (example["text"], example["intent"]) == ("Yes.", "interested")
    wednesday = "2026-03-04T10:05:00+00:00"  # after the frequency cap (1 message in 2 days)
    ws_db.nurture("run", CAMPAIGN, "--now", wednesday, "--no-prefect")
    with _db(ws_db).session() as session:
        booked = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.to == MAYA, OutboxMessage.step_id == "book_call"
            )
        ).one()
        assert booked.status == "sent"
        corrected = session.scalars(
            select(Engagement).where(Engagement.kind == "reply_corrected")
        ).one()
        assert corrected.data == {"reply_id": listed["id"], "from": "interested",
                                  "to": "interested", "by": "charlotte@acme.example"}  # fmt: skip


def test_setting_an_unknown_reply_or_intent_is_a_clear_error(ws: Workspace) -> None:
    ws.nurture("talents", "import", "talents.csv")
    missing = ws.nurture("replies", "set", "999", "interested", check=False)
    assert missing.code == 1 and "no reply 999" in missing.err and "Traceback" not in missing.err
    wrong = ws.nurture("replies", "set", "1", "keen", check=False)
    assert wrong.code == 1 and "intent 'keen': expected one of interested" in wrong.err
    listed = ws.nurture("replies", "list", "--intent", "keen", check=False)
    assert listed.code == 1 and "--intent 'keen'" in listed.err


def test_a_windows_1252_opt_out_is_read_in_its_charset(ws_db: Workspace) -> None:
    sent = _started(ws_db)
    stored = _post_reply(
        ws_db, sent, "I don’t want to receive any more emails".encode("cp1252"), "windows-1252"
    )
    assert stored["intent"] == "unsubscribe"
    (listed,) = ws_db.nurture("replies", "list", "--json").json()
    assert listed["text"] == "I don’t want to receive any more emails"
    assert _enrollment(ws_db).outcome is not None  # opted out: the sequence stopped


def test_nein_danke_above_our_quoted_question_is_not_interested(ws_db: Workspace) -> None:
    """Our own question, quoted under a German Gmail header, never decides the branch."""
    sent = _started(ws_db)
    reply = (
        "Nein danke.\n\nCharlotte Bellet <charlotte@acme.example> schrieb am Mo., 2. März 2026 "
        f"um 11:00 Uhr:\n\n{sent.text}\n"  # quoted without ">", as Outlook does
    )
    assert _post_reply(ws_db, sent, reply.encode())["intent"] == "not_interested"
    assert _enrollment(ws_db).outcome == "not_interested"


def test_our_message_quoted_under_an_unknown_polish_header_is_removed(ws_db: Workspace) -> None:
    sent = _started(ws_db)
    unwrapped = " ".join(sent.text.split())  # the client re-wrapped it, no ">" at all
    header = "Wiadomość napisana przez Charlotte w dniu 02.03.2026"
    reply = f"Proszę mnie usunąć z listy. Remove me.\n\n{header}\n\n{unwrapped}\n"
    stored = _post_reply(ws_db, sent, reply.encode())
    (listed,) = ws_db.nurture("replies", "list", "--json").json()
    assert listed["text"] == "Proszę mnie usunąć z listy. Remove me."
    assert stored["intent"] == "unsubscribe"


def test_a_reply_matched_by_the_address_alone_is_listed_as_unverified(ws: Workspace) -> None:
    sent = _started(ws)
    stored = _post_reply(ws, sent, b"Thanks, I will think about it.", token=False)
    assert stored["matched_by"] == "address"
    (listed,) = ws.nurture("replies", "list", "--unverified", "--json").json()
    assert (listed["id"], listed["verified"]) == (stored["reply_id"], False)
    table = ws.nurture("replies", "list").out
    assert "(unverified)" in table and "Thanks, I will think about it." in table
