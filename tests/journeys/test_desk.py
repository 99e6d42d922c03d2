"""The recruiter's desk, driven over ASGI the way a browser drives it: a fresh ``nurture
init`` workspace, an account made with ``nurture users add``, a campaign run with ``nurture
run``, a reply posted to the Inbound Parse webhook; then sign-in, pages and forms.

Every page refuses a request without a session (303 to the sign-in form) and every action
refuses one without a session or with a forged CSRF token (403), writing nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from journey import Workspace, rows

from engine.config import Config
from engine.core.clock import Clock, ManualClock, fixed_clock
from engine.store.database import Database
from engine.web.app import create_app

pytestmark = [pytest.mark.anyio, pytest.mark.db]

MONDAY = "2026-03-02T10:00:00+00:00"
TUESDAY = datetime.fromisoformat("2026-03-03T10:00:00+00:00")
SECRET, DOMAIN = "inbound-secret-for-the-desk", "reply.acme.example"
CAMPAIGN, MAYA, ANN = "backend-engineers-q1", "maya.fischer@example.net", "ann@acme.example"
PASSWORD = "correct horse battery"
PAGES = ["/", "/campaigns", "/people", "/people?q=maya", "/people/1", "/people/1/erase",
         "/replies", "/tasks", "/outbox", "/sequences", "/sequences/backend-outbound"]  # fmt: skip
ACTIONS = [
    ("/campaigns/backend-engineers-q1/pause", {}), ("/campaigns/backend-engineers-q1/resume", {}),
    ("/people/1/stage", {"stage": "candidate"}), ("/people/1/tag", {"tag": "vip"}),
    ("/people/1/opt-out", {"channel": "email"}), ("/people/1/stop", {"campaign": CAMPAIGN}),
    ("/people/1/erase", {"confirm": MAYA}), ("/replies/1/intent", {"intent": "interested"}),
    ("/tasks/1/done", {}), ("/outbox/abc/settle", {"outcome": "sent"}), ("/signout", {}),
]  # fmt: skip


def _env(ws: Workspace) -> dict[str, str]:
    return {**ws.env, "NURTURE_INBOUND_SECRET": SECRET, "NURTURE_INBOUND_DOMAIN": DOMAIN}


@asynccontextmanager
async def _browser(
    ws: Workspace, base_url: str = "http://desk.test", clock: Clock | None = None
) -> AsyncIterator[Any]:
    config = Config.load(ws.root, env=_env(ws))
    db = Database(config.database_url)
    app = create_app(config, db, clock or fixed_clock(TUESDAY))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url=base_url) as http:  # fmt: skip
            yield http
    finally:
        db.dispose()


async def _sign_in(
    http: httpx.AsyncClient, password: str = PASSWORD, email: str = ANN
) -> httpx.Response:
    form = await http.get("/signin")
    token = _csrf(form.text)
    data = {"email": email, "password": password, "csrf": token, "next": "/people"}
    return await http.post("/signin", data=data)


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


async def _post(http: httpx.AsyncClient, path: str, **data: str) -> httpx.Response:
    token = _csrf((await http.get("/campaigns")).text)
    return await http.post(path, data={"csrf": token, **data})


def _started(ws: Workspace) -> None:
    """An account, the talents, the backend campaign's first tick (Maya's intro email)."""
    ws.nurture("users", "add", ANN, "--password-stdin", input=PASSWORD + "\n")
    ws.nurture("talents", "import", "talents.csv")
    ws.nurture("run", CAMPAIGN, "--now", MONDAY, "--no-prefect")


async def _reply(ws: Workspace, text: str) -> dict[str, Any]:
    """Maya answers her intro email, posted as SendGrid Inbound Parse does."""
    ((message_id, subject),) = rows(ws, "SELECT message_id, subject FROM outbox WHERE "
                                    f"\"to\" = '{MAYA}' AND step_id = 'intro'")  # fmt: skip
    to = f"reply+{message_id}@{DOMAIN}"
    fields = {
        "headers": f"From: Maya <{MAYA}>\nTo: {to}\nSubject: Re: {subject}\n"
        "Message-ID: <r-1@mail.example.net>\n",
        "from": f"Maya <{MAYA}>", "to": to, "subject": f"Re: {subject}", "text": text,
        "envelope": json.dumps({"to": [to], "from": MAYA}),
    }  # fmt: skip
    async with _browser(ws) as http:
        files = {name: (None, value.encode()) for name, value in fields.items()}
        response = await http.post(f"/webhooks/sendgrid/inbound/{SECRET}", files=files)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _counts(ws: Workspace) -> list[Any]:
    tables = ["talents", "talent_labels", "engagements", "enrollments", "outbox", "tasks",
              "campaign_state", "desk_sessions"]  # fmt: skip
    return [rows(ws, f"SELECT count(*) FROM {table}")[0][0] for table in tables]


async def test_every_page_and_action_refuses_anonymous_and_forged_requests(
    ws_db: Workspace,
) -> None:
    _started(ws_db)
    before = _counts(ws_db)
    async with _browser(ws_db) as http:
        for page in PAGES:
            response = await http.get(page)
            assert response.status_code == 303, page
            assert response.headers["location"].startswith("/signin?next=/"), page
        for path, data in ACTIONS:
            anonymous = await http.post(path, data={**data, "csrf": "x"})
            assert anonymous.status_code == 403, path
        assert (await _sign_in(http)).status_code == 303
        signed_in = _counts(ws_db)
        for page in PAGES:
            response = await http.get(page)
            assert response.status_code == 200 or response.headers["location"] == "/campaigns"
        for path, data in ACTIONS:
            for forged in ({**data, "csrf": "forged-token"}, data):
                response = await http.post(path, data=forged)
                assert response.status_code == 403, path
                assert "not from your desk session" in response.text
    assert _counts(ws_db) == signed_in
    assert signed_in[:-1] == before[:-1]  # only the session was written


async def test_sign_in_sets_a_guarded_cookie_and_sign_out_ends_the_session(
    ws_db: Workspace,
) -> None:
    ws_db.nurture("users", "add", ANN, "--password-stdin", input=PASSWORD + "\n")
    async with _browser(ws_db) as http:
        wrong = await _sign_in(http, "not the password")
        assert wrong.status_code == 401 and "wrong email or password" in wrong.text
        assert "nurture_desk" not in http.cookies
        right = await _sign_in(http)
        assert (right.status_code, right.headers["location"]) == (303, "/people")
        cookie = next(c for c in right.headers.get_list("set-cookie") if "nurture_desk=" in c)
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
        assert (await http.get("/people")).status_code == 200
        out = await _post(http, "/signout")
        assert (out.status_code, out.headers["location"]) == (303, "/signin")
        assert (await http.get("/people")).status_code == 303
    async with _browser(ws_db) as http:  # behind a proxy that terminates HTTPS: Secure
        form = await http.get("/signin", headers={"X-Forwarded-Proto": "https"})
        assert "Secure" in form.headers["set-cookie"]
    async with _browser(ws_db, "https://desk.test") as http:  # served over HTTPS: Secure
        right = await _sign_in(http)
        cookie = next(c for c in right.headers.get_list("set-cookie") if "nurture_desk=" in c)
        assert "Secure" in cookie
    assert rows(ws_db, "SELECT count(*) FROM desk_sessions")[0][0] == 1  # signed out: gone


async def test_sign_in_is_refused_with_429_after_repeated_failures(ws_db: Workspace) -> None:
    """Five wrong passwords for one account, or twenty from one address, within 15 minutes:
    429 with the wait in words, even for the right password, until the window moves on."""
    ws_db.nurture("users", "add", ANN, "--password-stdin", input=PASSWORD + "\n")
    clock = ManualClock(TUESDAY)
    async with _browser(ws_db, clock=clock) as http:
        for _ in range(5):
            assert (await _sign_in(http, "not the password")).status_code == 401
            clock.advance(minutes=1)
        refused = await _sign_in(http)  # the right password, too late
        assert refused.status_code == 429, refused.text
        assert (
            "too many failed sign-ins" in refused.text and "try again in 10 minute" in refused.text
        )
        assert refused.headers["retry-after"] == str(10 * 60)
        assert "nurture_desk" not in http.cookies
        clock.advance(minutes=10)  # the first failure has left the window
        assert (await _sign_in(http)).status_code == 303
        for n in range(16):  # other accounts from this address: its 20th failure in 15 min
            assert (await _sign_in(http, "guess", email=f"x{n}@acme.example")).status_code == 401
        assert (await _sign_in(http, "guess", email="y@acme.example")).status_code == 429
    assert rows(ws_db, "SELECT count(*) FROM desk_sessions")[0][0] == 1


async def test_pausing_a_campaign_in_the_desk_pauses_its_ticks(ws_db: Workspace) -> None:
    _started(ws_db)
    async with _browser(ws_db) as http:
        await _sign_in(http)
        page = (await http.get("/campaigns")).text
        assert f'data-campaign="{CAMPAIGN}"' in page and "all steps" in page  # the funnel
        # Tuesday 10:00 UTC is 11:00 in Berlin: the */15 cron ticks next at 11:15 there.
        assert 'datetime="2026-03-03T10:15:00+00:00">2026-03-03 10:15 UTC' in page
        assert "in Europe/Berlin" in page
        sent = int(rows(ws_db, "SELECT count(*) FROM engagements WHERE kind = 'sent'")[0][0])
        assert sent and f"<title>2026-03-02: {sent} sent</title>" in page  # Monday's bar
        assert "<title>2026-03-03: 0 sent</title>" in page and f"{sent} sent<" in page
        paused = await _post(http, f"/campaigns/{CAMPAIGN}/pause")
        assert paused.status_code == 303 and "notice=" in paused.headers["location"]
    listed = {c["campaign"]: c for c in ws_db.nurture("campaigns", "list", "--json").json()}
    assert listed[CAMPAIGN]["status"] == "paused"
    assert ANN in listed[CAMPAIGN]["reason"]
    async with _browser(ws_db) as http:
        await _sign_in(http)
        await _post(http, f"/campaigns/{CAMPAIGN}/resume")
    listed = {c["campaign"]: c for c in ws_db.nurture("campaigns", "list", "--json").json()}
    assert listed[CAMPAIGN]["status"] == "running"


async def test_correcting_a_held_reply_takes_its_branch_and_its_task_is_done(
    ws_db: Workspace,
) -> None:
    settings = (ws_db.root / "nurture.yaml").read_text(encoding="utf-8")
    ws_db.write("nurture.yaml", settings.replace("replies:\n", "replies:\n  review_below: 0.8\n"))
    _started(ws_db)
    stored = await _reply(ws_db, "Yes.")
    assert stored["intent"] == "interested"  # held: too unsure to act on its own
    async with _browser(ws_db) as http:
        await _sign_in(http)
        replies = (await http.get("/replies")).text
        assert f'data-reply="{stored["reply_id"]}"' in replies and "held for review" in replies
        tasks = (await http.get("/tasks")).text
        (task_id,) = re.findall(r'data-task="(\d+)"', tasks)
        assert "Check this reply from" in tasks
        done = await _post(http, f"/replies/{stored['reply_id']}/intent", intent="interested")
        assert "error=" not in done.headers["location"]
        ((step,),) = rows(ws_db, "SELECT e.step_id FROM enrollments e JOIN talents t ON "
                          f"t.id = e.talent_id WHERE t.email = '{MAYA}'")  # fmt: skip
        assert step == "book_call"  # the branch of replied.interested
        assert "set by " + ANN in (await http.get("/replies")).text
        finished = await _post(http, f"/tasks/{task_id}/done")
        assert "notice=task" in finished.headers["location"]
        assert f'data-task="{task_id}"' not in (await http.get("/tasks")).text
        again = await _post(http, f"/tasks/{task_id}/done")
        assert "already%20completed" in again.headers["location"]  # said, not a 500
    ((completed,),) = rows(ws_db, f"SELECT completed_at FROM tasks WHERE id = {task_id}")
    assert completed is not None


async def test_people_are_found_changed_stopped_and_erased_from_the_desk(
    ws_db: Workspace,
) -> None:
    _started(ws_db)
    ((maya_id,),) = rows(ws_db, f"SELECT id FROM talents WHERE email = '{MAYA}'")
    async with _browser(ws_db) as http:
        await _sign_in(http)
        for query in ("q=Maya", f"q={MAYA}", "stage=prospect&q=fisch"):
            found = (await http.get(f"/people?{query}")).text
            assert f'href="/people/{maya_id}"' in found, query
        assert "Nobody matches" in (await http.get("/people?q=nobody-like-this")).text
        bad = await http.get("/people?stage=famous")
        assert bad.status_code == 200 and "unknown stage &#39;famous&#39;" in bad.text
        person = (await http.get(f"/people/{maya_id}")).text
        assert CAMPAIGN in person and ">sent<" in person and "Opt out of sms" in person
        await _post(http, f"/people/{maya_id}/tag", tag="Shortlist")
        await _post(http, f"/people/{maya_id}/stage", stage="candidate")
        stopped = await _post(http, f"/people/{maya_id}/stop", campaign=CAMPAIGN)
        assert "stopped%20in" in stopped.headers["location"]
        person = (await http.get(f"/people/{maya_id}")).text
        assert "shortlist" in person and "stage_changed" in person and ">stopped<" in person
        wrong = await _post(http, f"/people/{maya_id}/erase", confirm="maya")
        assert "error=type" in wrong.headers["location"]
        assert (await http.get(f"/people?q={MAYA}")).text.count(f"/people/{maya_id}") == 1
        await _post(http, f"/people/{maya_id}/erase", confirm=MAYA.upper())
        assert "Nobody matches" in (await http.get(f"/people?q={MAYA}")).text
    assert rows(ws_db, f"SELECT email, stage FROM talents WHERE id = {maya_id}") == [
        (None, "do_not_contact")
    ]


async def test_an_in_doubt_message_is_settled_from_the_outbox_page(ws_db: Workspace) -> None:
    _started(ws_db)
    # A crash between the provider's answer and our commit leaves a row in doubt.
    db = Database(ws_db.env.get("NURTURE_DATABASE_URL") or f"sqlite:///{ws_db.root}/nurture.db")
    with db.session() as session:
        message_id = session.execute(sa.text(
            "UPDATE outbox SET status = 'in_doubt' WHERE id = (SELECT min(id) FROM outbox "
            "WHERE status = 'sent') RETURNING message_id")).scalar_one()  # fmt: skip
    db.dispose()
    async with _browser(ws_db) as http:
        await _sign_in(http)
        assert f'data-message="{message_id}"' in (await http.get("/outbox")).text
        settled = await _post(http, f"/outbox/{message_id}/settle", outcome="sent")
        assert "notice=" in settled.headers["location"]
        assert f'data-message="{message_id}"' not in (await http.get("/outbox")).text
        twice = await _post(http, f"/outbox/{message_id}/settle", outcome="sent")
        assert "not%20in%20doubt" in twice.headers["location"]
    assert rows(ws_db, f"SELECT status FROM outbox WHERE message_id = '{message_id}'") == [
        ("sent",)
    ]


async def test_the_sequence_page_draws_the_edges_of_nurture_graph(ws: Workspace) -> None:
    from campaigns.workspace import load_workspace
    from sequences.graph import edges

    ws.nurture("users", "add", ANN, "--password-stdin", input=PASSWORD + "\n")
    expected = {(e.source, e.target) for e in edges(
        load_workspace(ws.root).sequences["backend-outbound"].sequence)}  # fmt: skip
    async with _browser(ws) as http:
        await _sign_in(http)
        page = (await http.get("/sequences/backend-outbound")).text
        missing = await http.get("/sequences/nope")
    drawn = set(re.findall(r'class="edge" data-source="([^"]+)" data-target="([^"]+)"', page))
    assert drawn == expected and len(expected) > 4
    assert 'data-step="intro"' in page and "Subject:" in page  # the rendered preview
    assert missing.status_code == 404
    out = ws.nurture("graph", "backend-outbound", "--format", "html", "--out", "flow.html").out
    html = (ws.root / "flow.html").read_text(encoding="utf-8")
    assert "wrote flow.html" in out and "<script" not in html and "http" not in html.replace(
        "http://www.w3.org/2000/svg", "")  # fmt: skip
    assert set(re.findall(r'data-source="([^"]+)" data-target="([^"]+)"', html)) == expected


def test_users_add_refuses_a_taken_email_and_a_short_password(ws: Workspace) -> None:
    ws.nurture("users", "add", ANN, "--password-stdin", input=PASSWORD + "\n")
    taken = ws.nurture("users", "add", ANN.upper(), "--password-stdin", input="another-one\n",
                       check=False)  # fmt: skip
    assert taken.code == 1 and "already has an account" in taken.err
    short = ws.nurture("users", "add", "bo@acme.example", "--password-stdin", input="abc\n",
                       check=False)  # fmt: skip
    assert short.code == 1 and "at least 8 characters" in short.err
    assert "Traceback" not in taken.err + short.err
    ((stored,),) = rows(ws, "SELECT password_hash FROM desk_users")
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    ws.nurture("users", "remove", ANN)
    assert rows(ws, "SELECT count(*) FROM desk_users") == [(0,)]
