"""The recruiter's to-dos: task steps and interested replies, as ``nurture tasks`` lists them.

A task reads as written for its talent ("Call Maya Fischer"), says how to reach them, and
an interested reply gives one task, never two.
"""

from __future__ import annotations

import asyncio
import email
from datetime import UTC, datetime
from email.message import Message
from typing import Any

import httpx
from journey import Workspace

MONDAY = "2026-03-02T10:00:00+00:00"  # 11:00 in Berlin: inside the send window
SECRET = "journey-inbound-secret"
INBOUND = {"NURTURE_INBOUND_DOMAIN": "reply.acme.example", "NURTURE_INBOUND_SECRET": SECRET}
MAYA = {"name": "Maya Fischer", "email": "maya.fischer@example.net", "phone": "+4915123456701"}
CALLS = """\
sequence: calls
settings: {timezone: talent, default_timezone: Europe/Berlin}
steps:
  - id: call
    channel: task
    title: "Call {{ talent.full_name }} about {{ company.name }}"
    body: "{{ sender.first_name }}: ask {{ talent.first_name }} about {{ talent.company }}."
    due: 1 business days
    on: [{when: completed, exit: called}]
"""
CALLS_CAMPAIGN = """\
campaign: calls
sequence: calls
sender: {name: Charlotte Bellet, email: charlotte@acme.example}
audience: {stage: [person, prospect], tags_any: [backend]}
"""
CALL_STEP = """\
  - id: call
    channel: task
    title: "Call {{ talent.full_name }}: interested in the backend role"
    body: "{{ sender.first_name }}, they replied yes. Book 20 minutes."
    on: [{when: completed, goto: book_call}]
"""


def _tasks(ws: Workspace, *args: str) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = ws.nurture("tasks", "list", "--json", *args).json()
    return tasks


def _contacted(ws: Workspace) -> Message:
    """The email the tick wrote to Maya (the file channel's ``outbox/``)."""
    for path in sorted((ws.root / "outbox").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes())
        if message["To"] == MAYA["email"]:
            return message
    raise AssertionError(f"no email to {MAYA['email']} in {ws.root / 'outbox'}")


def _reply(ws: Workspace, to: Message, text: str) -> dict[str, Any]:
    """Maya answers ``to`` from her mail client: SendGrid Inbound Parse posts it to the app."""
    from engine.config import Config
    from engine.core.clock import ManualClock
    from engine.store.database import Database
    from engine.web.app import create_app

    headers = {"From": f"Maya Fischer <{MAYA['email']}>", "To": to["Reply-To"],
               "Subject": f"Re: {to['Subject']}", "Message-ID": "<maya-1@mail.example.net>",
               "In-Reply-To": to["Message-ID"], "References": to["Message-ID"]}  # fmt: skip
    form = {
        "headers": "".join(f"{k}: {v}\n" for k, v in headers.items()),
        "from": headers["From"], "to": headers["To"], "subject": headers["Subject"],
        "text": text, "envelope": f'{{"to": ["{to["Reply-To"]}"], "from": "{MAYA["email"]}"}}',
    }  # fmt: skip
    config = Config.load(ws.root, env=ws.env)
    db = Database(config.database_url)
    app = create_app(config, db, ManualClock(datetime(2026, 3, 2, 13, tzinfo=UTC)))

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hooks") as http:
            files = {name: (None, value) for name, value in form.items()}
            return await http.post(f"/webhooks/sendgrid/inbound/{SECRET}", files=files)

    try:
        response = asyncio.run(post())
    finally:
        db.dispose()
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _interested_reply(ws: Workspace) -> dict[str, Any]:
    ws.env.update(INBOUND)
    ws.nurture("talents", "import", "talents.csv")
    ws.nurture("run", "backend-engineers-q1", "--no-prefect", "--now", MONDAY)
    reply = _reply(ws, _contacted(ws), "Yes, happy to chat! Thursday afternoon works for me.")
    assert (reply["matched_by"], reply["intent"]) == ("reply_token", "interested"), reply
    return reply


def test_a_task_step_reads_as_written_for_its_talent(ws_db: Workspace) -> None:
    ws_db.write("sequences/calls.yaml", CALLS)
    ws_db.write("campaigns/calls.yaml", CALLS_CAMPAIGN)
    ws_db.nurture("validate")
    ws_db.nurture("talents", "import", "talents.csv")
    ws_db.nurture("run", "calls", "--no-prefect", "--now", MONDAY)

    tasks = _tasks(ws_db)
    assert tasks and all("{{" not in t["title"] + (t["body"] or "") for t in tasks)
    (maya,) = [t for t in tasks if t["email"] == MAYA["email"]]
    assert maya["title"] == "Call Maya Fischer about Acme Robotics"
    assert maya["body"] == "Charlotte: ask Maya about Northwind Analytics."
    assert (maya["talent"], maya["phone"]) == (MAYA["name"], MAYA["phone"])
    assert maya["campaign"] == "calls"
    assert maya["due_at"].startswith("2026-03-03T")  # one business day later
    table = ws_db.nurture("tasks", "list").out
    line = next(line for line in table.splitlines() if "Call Maya Fischer" in line)
    assert MAYA["phone"] in line and MAYA["email"] in line and "calls" in line


def test_an_interested_reply_gives_the_recruiter_one_follow_up_task(ws_db: Workspace) -> None:
    # backend-outbound answers "interested" with an email (book_call): no task step of its
    # own, so the engine adds the follow-up, carrying the reply.
    reply = _interested_reply(ws_db)

    tasks = [t for t in _tasks(ws_db) if t["talent_id"] == reply["talent_id"]]
    assert len(tasks) == 1, tasks
    (task,) = tasks
    assert task["title"] == "Reply from Maya Fischer: follow up"
    assert "Thursday afternoon" in task["body"]
    assert (task["talent"], task["email"], task["phone"]) == tuple(MAYA.values())
    assert task["campaign"] == "backend-engineers-q1"


def _call_on_interest(ws: Workspace, branch: str) -> None:
    """backend-outbound with the intro's "interested" branch leading to a call task."""
    path = ws.root / "sequences" / "backend-outbound.yaml"
    text = path.read_text(encoding="utf-8").replace(
        "{when: replied.interested, set: {stage: candidate}, goto: book_call}",
        f"{{when: replied.interested, set: {{stage: candidate}}, {branch}}}",
    )
    path.write_text(text + CALL_STEP, encoding="utf-8")


def test_an_interested_reply_to_a_sequence_with_a_call_step_gives_only_that_task(
    ws_db: Workspace,
) -> None:
    _call_on_interest(ws_db, "goto: call")
    reply = _interested_reply(ws_db)

    (task,) = [t for t in _tasks(ws_db) if t["talent_id"] == reply["talent_id"]]
    assert task["title"] == "Call Maya Fischer: interested in the backend role"
    assert task["body"] == "Charlotte, they replied yes. Book 20 minutes."
    assert (task["step_id"], task["enrollment_id"]) == ("call", reply["enrollment_id"])
    assert (task["email"], task["phone"]) == (MAYA["email"], MAYA["phone"])

    done = ws_db.nurture("tasks", "done", str(task["id"]), "--now", "2026-03-02T14:00:00+00:00")
    assert f"task {task['id']} done: Call Maya Fischer" in done.out
    assert _tasks(ws_db) == []
    (completed,) = _tasks(ws_db, "--all")
    assert completed["completed_at"].startswith("2026-03-02T14:00")


def test_a_call_step_after_a_wait_is_the_only_task_once_the_wait_is_over(ws: Workspace) -> None:
    _call_on_interest(ws, "wait: 1 days, goto: call")
    reply = _interested_reply(ws)
    assert [t for t in _tasks(ws) if t["talent_id"] == reply["talent_id"]] == []

    ws.nurture("run", "backend-engineers-q1", "--no-prefect", "--now", "2026-03-03T14:00:00Z")
    (task,) = [t for t in _tasks(ws) if t["talent_id"] == reply["talent_id"]]
    assert task["title"] == "Call Maya Fischer: interested in the backend role"


def test_tasks_done_with_a_wrong_id_is_a_clear_error(ws: Workspace) -> None:
    for wrong, message in (("42", "no task 42"), ("call-maya", "Invalid value for 'task_id'")):
        ran = ws.nurture("tasks", "done", wrong, check=False)
        assert ran.code == 1 and message in ran.err, str(ran)
        assert "Traceback" not in ran.err
