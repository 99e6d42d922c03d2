"""Erasure that holds, and a webhook app that survives what the internet posts to it.

A recruiter erases a person with ``nurture talents forget``: the address is gone from the
SQLite files themselves (not only from query results), a second ``forget`` succeeds, and a
reply or an event that arrives afterwards keeps nothing but a hash. ``nurture serve`` never
writes the Inbound Parse secret or an unsubscribe token to its access log.
"""

from __future__ import annotations

import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import httpx
from journey import NURTURE, Workspace, call_app, rows
from processes import free_port, wait_for

from engine.core.links import unsubscribe_token

NOW = "2026-03-02T09:30:00+00:00"  # a Monday inside the example's send window
MONDAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
MAYA = "maya.fischer@example.net"
SECRET = "journey-inbound-secret"
SECRET_KEY = "journey-unsubscribe-key"


def _files(root: Path) -> bytes:
    """The bytes of the workspace's SQLite database and its write-ahead log."""
    return b"".join(p.read_bytes() for p in sorted(root.glob("nurture.db*")))


def test_forget_leaves_no_bytes_behind_and_can_be_repeated(ws: Workspace) -> None:
    ws.nurture("talents", "import", "talents.csv")
    ws.nurture("run", "backend-engineers-q1", "--now", NOW, "--no-prefect")
    assert MAYA.encode() in _files(ws.root)  # her profile, her planned and sent emails
    ran = ws.nurture("talents", "forget", MAYA, "--yes")
    assert "erased talent #" in ran.out, ran
    held = _files(ws.root)
    for trace in (MAYA, "Fischer", "+4915123456701", "Northwind Analytics"):
        assert trace.encode() not in held, trace
    again = ws.nurture("talents", "forget", MAYA, "--yes")
    assert f"{MAYA} was already erased" in again.out, again
    nobody = ws.nurture("talents", "forget", "nobody@example.net", "--yes", check=False)
    assert nobody.code == 1 and "no talent with email nobody@example.net" in nobody.err


def test_a_reply_after_forget_keeps_only_a_hash(ws_db: Workspace) -> None:
    ws_db.env.update(NURTURE_INBOUND_SECRET=SECRET, NURTURE_PUBLIC_URL="https://hooks.example")
    ws_db.nurture("talents", "import", "talents.csv")
    ws_db.nurture("talents", "forget", MAYA, "--yes")
    form = {
        "from": f"Maya Fischer <{MAYA}>",
        "to": "reply@reply.example",
        "headers": f"From: {MAYA}\nMessage-ID: <late@mail.example.net>\nSubject: Re: hi\n",
        "text": "Yes, I'm interested after all! Call me on +4915123456701.",
    }
    files = {name: (None, value) for name, value in form.items()}
    route = f"/webhooks/sendgrid/inbound/{SECRET}"
    answered = call_app(ws_db, "POST", route, now=MONDAY, files=files)
    assert answered.status_code == 200, answered.text
    assert answered.json()["intent"] is None  # not read, not acted on
    stored = " ".join(str(r) for r in rows(ws_db, "SELECT detail, data FROM engagements"))
    assert MAYA not in stored and "interested" not in stored and "4915123456701" not in stored
    assert rows(ws_db, "SELECT count(*) FROM tasks") == [(0,)]


def test_a_hostile_reply_is_stored_cleaned(ws_db: Workspace) -> None:
    ws_db.env.update(NURTURE_INBOUND_SECRET=SECRET, NURTURE_PUBLIC_URL="https://hooks.example")
    message_id = "<" + "x" * 300 + "@mail.example.net>"
    form = {
        "from": "Someone <some\x00one@example.org>",
        "headers": f"From: someone@example.org\nMessage-ID: {message_id}\n",
        "text": "Hello\x00 there " + "and more " * 50_000,
        "attachment-info": '{"attachment1": 5}',
    }
    files = {name: (None, value) for name, value in form.items()}
    route = f"/webhooks/sendgrid/inbound/{SECRET}"
    answers = [call_app(ws_db, "POST", route, now=MONDAY, files=files) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200], answers[0].text
    assert answers[1].json()["duplicate"] is True
    [(event_id, size)] = rows(ws_db, "SELECT provider_event_id, length(detail) FROM engagements")
    # a reply is stored once under a hash of its (cleaned) Message-ID, sender and text
    assert event_id.startswith("reply:") and len(event_id) < 100 and size <= 100_000


def test_serve_keeps_secrets_out_of_its_access_log(ws: Workspace) -> None:
    ws.env.update(NURTURE_INBOUND_SECRET=SECRET, NURTURE_SECRET_KEY=SECRET_KEY)
    ws.nurture("talents", "import", "talents.csv")
    token = unsubscribe_token(SECRET_KEY.encode(), 1, "email")
    port, log = free_port(), ws.root.parent / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(NURTURE), "serve", "--port", str(port), "--no-schedules"],
                                   cwd=ws.root, env=ws.env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: _answers(url) or process.poll() is not None, 90), log.read_text()
        unsubscribed = httpx.post(f"{url}/unsubscribe/{token}?utm=x", timeout=10)
        parsed = httpx.post(f"{url}/webhooks/sendgrid/inbound/{SECRET}", timeout=10,
                            files={"from": (None, MAYA), "headers": (None, "")})  # fmt: skip
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    output = log.read_text()
    assert code == 0, output
    assert (unsubscribed.status_code, parsed.status_code) == (200, 200), output
    assert "POST /unsubscribe/… HTTP/1.1" in output and "/webhooks/sendgrid/inbound/…" in output
    assert SECRET not in output and token not in output, output


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False
