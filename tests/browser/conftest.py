"""The desk in a real Chromium (Debian's ``chromium`` driven by Playwright for Python).

One workspace per session, made the way a recruiter makes it: ``nurture init``, ``nurture
users add``, ``nurture talents import``, a tick of the backend campaign (``nurture run``),
and an unsure reply posted to the Inbound Parse webhook (held for review: a reply to
correct and a task to do). The app is served by uvicorn in a thread on a free port, its
clock fixed the day after the tick; the server stops with the session.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from desk_browser import (
    CAMPAIGN,
    CHROMIUM,
    DOMAIN,
    EMAIL,
    MAYA,
    MONDAY,
    NURTURE,
    PASSWORD,
    SECRET,
    TUESDAY,
    Desk,
)


def _nurture(root: Path, env: dict[str, str], *args: str, stdin: str | None = None) -> None:
    subprocess.run([str(NURTURE), *args], cwd=root, env=env, input=stdin, text=True,
                   check=True, capture_output=True, timeout=300)  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _reply(app: object) -> None:
    """Maya answers "Yes." to her intro email: interested, but too unsure to act alone."""
    from sqlalchemy import select

    from engine.store.models import OutboxMessage

    db = app.state.services.db  # type: ignore[attr-defined]
    with db.session() as session:
        sent = session.scalars(select(OutboxMessage).where(
            OutboxMessage.to == MAYA, OutboxMessage.step_id == "intro")).one()  # fmt: skip
    to = f"reply+{sent.message_id}@{DOMAIN}"
    fields = {"headers": f"From: Maya <{MAYA}>\nTo: {to}\nSubject: Re: {sent.subject}\n",
              "from": f"Maya <{MAYA}>", "to": to, "subject": f"Re: {sent.subject}",
              "text": "Yes.", "envelope": json.dumps({"to": [to], "from": MAYA})}  # fmt: skip

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://desk") as http:
            files = {k: (None, v.encode()) for k, v in fields.items()}
            return await http.post(f"/webhooks/sendgrid/inbound/{SECRET}", files=files)

    assert asyncio.run(post()).status_code == 200


@pytest.fixture(scope="session")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    if not CHROMIUM.exists() or shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    import uvicorn

    from engine.config import Config
    from engine.core.clock import fixed_clock
    from engine.store.database import Database
    from engine.web.app import create_app

    base = tmp_path_factory.mktemp("desk")
    root = base / "workspace"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NURTURE_", "SENDGRID_",
                                                                       "TWILIO_"))}  # fmt: skip
    env.update(PREFECT_HOME=str(base / "prefect"), NO_COLOR="1", NURTURE_INBOUND_SECRET=SECRET,
               NURTURE_INBOUND_DOMAIN=DOMAIN)  # fmt: skip
    subprocess.run([str(NURTURE), "init", str(root)], env=env, check=True, capture_output=True)
    settings = (root / "nurture.yaml").read_text(encoding="utf-8")
    (root / "nurture.yaml").write_text(
        settings.replace("replies:\n", "replies:\n  review_below: 0.8\n")
    )
    _nurture(root, env, "users", "add", EMAIL, "--password-stdin", stdin=PASSWORD + "\n")
    _nurture(root, env, "talents", "import", "talents.csv")
    _nurture(root, env, "run", CAMPAIGN, "--now", MONDAY, "--no-prefect")
    config = Config.load(root, env=env)
    db = Database(config.database_url)
    app = create_app(config, db, fixed_clock(TUESDAY))
    _reply(app)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield Desk(f"http://127.0.0.1:{port}", root, env)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        db.dispose()
