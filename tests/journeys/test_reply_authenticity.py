"""A reply acts only when it proves it answers us: our reply token, a thread header of
ours, or a sender SPF or DKIM vouches for. Anyone can write ``From: maya@...``; such a
reply is kept, listed as unverified, and may only opt its sender out.

Replies are posted to the webhook app over ASGI the way SendGrid Inbound Parse posts them
(the secret in the URL, SendGrid's ``SPF`` and ``dkim`` verdicts as form fields); the rest is
the ``nurture`` command on a fresh ``nurture init`` workspace, on each database backend.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import httpx
from journey import Workspace
from sqlalchemy import func, select

from engine.config import Config
from engine.core.clock import fixed_clock
from engine.store.database import Database
from engine.store.models import Engagement, Enrollment, OutboxMessage, Talent, Task
from engine.web.app import create_app

MONDAY = "2026-03-02T10:00:00+00:00"
TUESDAY = "2026-03-03T10:00:00+00:00"
SECRET = "inbound-secret-for-journeys"
DOMAIN = "reply.acme.example"
CAMPAIGN = "backend-engineers-q1"
MAYA = "maya.fischer@example.net"
FORGED = {"SPF": "fail", "dkim": "none"}  # what SendGrid reports for a spoofed From


def _url(ws: Workspace) -> str:
    return ws.env.get("NURTURE_DATABASE_URL") or f"sqlite:///{ws.root / 'nurture.db'}"


def _started(ws: Workspace) -> OutboxMessage:
    """Talents imported, the backend campaign's first tick run: Maya's intro email."""
    ws.nurture("talents", "import", "talents.csv")
    ws.nurture("run", CAMPAIGN, "--now", MONDAY, "--no-prefect")
    return _read(ws, lambda s: s.scalars(select(OutboxMessage).where(
        OutboxMessage.to == MAYA, OutboxMessage.step_id == "intro")).one())  # fmt: skip


def _read(ws: Workspace, query: Any) -> Any:
    database = Database(_url(ws))
    try:
        with database.session() as session:
            found = query(session)
            session.expunge_all()
            return found
    finally:
        database.dispose()


def _state(ws: Workspace) -> dict[str, Any]:
    """What a reply could change: Maya's stage and opt-out, her enrollment, tasks, outbox."""

    def read(session: Any) -> dict[str, Any]:
        maya = session.scalars(select(Talent).where(Talent.email == MAYA)).one()
        enrollment = session.scalars(
            select(Enrollment).where(Enrollment.talent_id == maya.id)
        ).one()
        return {
            "stage": maya.stage, "opted_out": maya.email_opted_out_at is not None,
            "enrollment": (enrollment.status, enrollment.step_id, enrollment.outcome),
            "tasks": session.scalar(select(func.count()).select_from(Task)),
            "outbox": session.scalar(select(func.count()).select_from(OutboxMessage)),
        }  # fmt: skip

    return _read(ws, read)  # type: ignore[no-any-return]


def _post(
    ws: Workspace,
    text: str,
    *,
    to: str,
    message_id: str,
    checks: dict[str, str] | None = None,
    headers: str = "",
) -> dict[str, Any]:
    """A reply from Maya's address, as Inbound Parse posts it; ``checks`` are SendGrid's
    ``SPF`` and ``dkim`` verdicts (by default: her provider signed it)."""
    env = {"NURTURE_INBOUND_SECRET": SECRET, "NURTURE_INBOUND_DOMAIN": DOMAIN,
           "NURTURE_DATABASE_URL": _url(ws)}  # fmt: skip
    checks = checks if checks is not None else {"SPF": "pass", "dkim": "{@example.net : pass}"}
    fields = {
        "headers": f"From: Maya Fischer <{MAYA}>\nTo: {to}\nSubject: Re: your email\n"
        f"Message-ID: {message_id}\n{headers}",
        "from": f"Maya Fischer <{MAYA}>", "to": to, "subject": "Re: your email", "text": text,
        "envelope": json.dumps({"to": [to], "from": MAYA}),
        "charsets": json.dumps({"headers": "UTF-8", "text": "UTF-8", "subject": "UTF-8"}),
        **checks,
    }  # fmt: skip
    database = Database(_url(ws))
    app = create_app(
        Config.load(ws.root, env=env), database, fixed_clock(datetime.fromisoformat(TUESDAY))
    )

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://hooks.example") as http:
            files = {name: (None, value.encode()) for name, value in fields.items()}
            return await http.post(f"/webhooks/sendgrid/inbound/{SECRET}", files=files)

    try:
        response = asyncio.run(post())
    finally:
        database.dispose()
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _to_recruiter(sent: OutboxMessage) -> str:
    return sent.sender  # no reply token: her own mail client's "new message"


def test_a_forged_interested_reply_is_kept_unverified_and_changes_nothing(
    ws_db: Workspace,
) -> None:
    sent = _started(ws_db)
    before = _state(ws_db)
    stored = _post(ws_db, "Yes! Very interested, call me any time.", to=_to_recruiter(sent),
                   message_id="<forged-1@attacker.example>", checks=FORGED)  # fmt: skip
    assert (stored["matched_by"], stored["verified"], stored["intent"]) == (
        "address", False, "interested"
    )  # fmt: skip
    assert _state(ws_db) == before  # no candidate, no task, no branch, nothing sent
    assert ws_db.nurture("tasks", "list", "--json").json() == []
    (listed,) = ws_db.nurture("replies", "list", "--unverified", "--json").json()
    assert (listed["id"], listed["verified"], listed["intent"]) == (
        stored["reply_id"], False, "interested"
    )  # fmt: skip
    assert "(unverified)" in ws_db.nurture("replies", "list").out
    ws_db.nurture("run", CAMPAIGN, "--now", TUESDAY, "--no-prefect")
    to_maya = _read(ws_db, lambda s: s.scalars(select(OutboxMessage.step_id).where(
        OutboxMessage.to == MAYA)).all())  # fmt: skip
    assert to_maya == ["intro"]  # the sequence did not move on for her: nothing sent
    ws_db.nurture("replies", "set", str(stored["reply_id"]), "interested",
                  "--by", "charlotte@acme.example", "--now", TUESDAY)  # fmt: skip
    assert _state(ws_db)["stage"] == "candidate"  # a person read it and vouches for it
    assert ws_db.nurture("tasks", "list", "--json").json() != []


def test_a_forged_opt_out_is_honoured(ws_db: Workspace) -> None:
    sent = _started(ws_db)
    stored = _post(ws_db, "Please remove me from your list.", to=_to_recruiter(sent),
                   message_id="<forged-2@attacker.example>", checks=FORGED)  # fmt: skip
    assert (stored["verified"], stored["intent"]) == (False, "unsubscribe")
    after = _state(ws_db)
    assert after["opted_out"] and after["enrollment"] == ("exited", "intro", "unsubscribed")
    assert after["tasks"] == 0


def test_a_real_reply_with_our_token_acts_whatever_spf_says(ws_db: Workspace) -> None:
    """The token is in the address only our email carried: proof enough, even when the
    sender's domain publishes no SPF or DKIM at all."""
    sent = _started(ws_db)
    stored = _post(ws_db, "Yes, happy to chat! Thursday works.",
                   to=f"reply+{sent.message_id}@{DOMAIN}",
                   message_id="<real-1@mail.example.net>", checks=FORGED)  # fmt: skip
    assert (stored["matched_by"], stored["verified"], stored["intent"]) == (
        "reply_token", True, "interested"
    )  # fmt: skip
    after = _state(ws_db)
    assert after["stage"] == "candidate" and after["enrollment"][1] == "book_call"
    assert ws_db.nurture("replies", "list", "--unverified", "--json").json() == []


def test_a_reply_by_address_that_dkim_vouches_for_acts(ws_db: Workspace) -> None:
    sent = _started(ws_db)
    stored = _post(ws_db, "Yes, happy to chat! Thursday works.", to=_to_recruiter(sent),
                   message_id="<real-2@mail.example.net>",
                   checks={"SPF": "softfail", "dkim": "{@example.net : pass}"})  # fmt: skip
    assert (stored["matched_by"], stored["verified"]) == ("address", True)
    assert _state(ws_db)["stage"] == "candidate"


def test_a_forged_reply_reusing_a_real_message_id_neither_hides_nor_replaces_it(
    ws_db: Workspace,
) -> None:
    """The Message-ID is the sender's to write: a forgery that copies the real reply's,
    before or after it, is stored beside it; the provider's retry is still one row."""
    sent = _started(ws_db)
    reused = "<CAFx-real-3@mail.gmail.com>"
    forged = _post(ws_db, "Not interested, do not call.", to=_to_recruiter(sent),
                   message_id=reused, checks=FORGED)  # fmt: skip
    real = _post(ws_db, "Yes, happy to chat! Thursday works.",
                 to=f"reply+{sent.message_id}@{DOMAIN}", message_id=reused)  # fmt: skip
    retried = _post(ws_db, "Yes, happy to chat! Thursday works.",
                    to=f"reply+{sent.message_id}@{DOMAIN}", message_id=reused)  # fmt: skip
    forged_again = _post(ws_db, "Not interested, do not call.", to=_to_recruiter(sent),
                         message_id=reused, checks=FORGED)  # fmt: skip
    assert (forged["duplicate"], real["duplicate"]) == (False, False)
    assert (retried["duplicate"], forged_again["duplicate"]) == (True, True)
    assert real["intent"] == "interested" and real["verified"]
    after = _state(ws_db)
    assert after["stage"] == "candidate" and after["enrollment"][1] == "book_call"
    replied = select(Engagement).where(Engagement.kind == "replied").order_by(Engagement.id)
    replies = _read(ws_db, lambda s: s.scalars(replied).all())
    assert [(r.data["verified"], r.data["intent"]) for r in replies] == [
        (False, "not_interested"), (True, "interested")
    ]  # fmt: skip
