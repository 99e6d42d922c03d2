"""``nurture serve`` as a real process: uvicorn serving the real app on a loopback port.

The other webapp tests call the ASGI app in-process; this one proves that the command wires
that same app to a socket, to the workspace and database named in the environment, and
that it shuts down gracefully on SIGTERM (what systemd, Docker and Kubernetes send).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import select
from webapp_support import REPO, SIGNING_KEY, counts, sg_event, signed_batch

from channels.sendgrid import event_webhook_public_key
from engine.store.database import Database
from engine.store.models import Engagement, Enrollment, Talent

API_KEY = "serve-test-api-key"
STARTUP = 90.0  # seconds: imports and migrations on a loaded 2-core machine
SHUTDOWN = 15.0
PROVIDER_ENV = (
    "NURTURE_DATABASE_URL", "NURTURE_PUBLIC_URL", "NURTURE_API_KEY", "SENDGRID_API_KEY",
    "SENDGRID_WEBHOOK_PUBLIC_KEY", "NURTURE_INBOUND_DOMAIN", "NURTURE_INBOUND_SECRET",
    "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "NURTURE_SENDGRID_BASE_URL",
    "NURTURE_TWILIO_BASE_URL", "NURTURE_EMAIL_CHANNEL", "NURTURE_SMS_CHANNEL",
    "NURTURE_WORKSPACE", "NURTURE_SECRET_KEY",
)  # fmt: skip


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    database_url: str

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _environment(workspace: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PROVIDER_ENV}
    return env | {
        "NURTURE_WORKSPACE": str(workspace),
        "NURTURE_DATABASE_URL": database_url,
        "NURTURE_SECRET_KEY": "s" * 32,
        "NURTURE_API_KEY": API_KEY,
        "SENDGRID_WEBHOOK_PUBLIC_KEY": event_webhook_public_key(SIGNING_KEY),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }


def _wait_until_up(process: subprocess.Popen[bytes], url: str) -> bool:
    """True once /healthz answers; False if the process ended first (a port taken meanwhile)."""
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"nurture serve did not answer on {url} within {STARTUP} s")


@contextmanager
def serve(tmp_path: Path) -> Iterator[Served]:
    """``nurture serve --no-schedules`` on a copy of the example workspace, until stopped."""
    workspace = tmp_path / "recruiting"
    shutil.copytree(REPO / "examples" / "recruiting", workspace)
    database_url = f"sqlite:///{tmp_path / 'talents.db'}"
    env = _environment(workspace, database_url)
    for attempt in range(3):
        port = _free_port()  # free now; another process may take it before uvicorn binds
        log = tmp_path / f"serve-{attempt}.log"
        argv = [sys.executable, "-m", "engine.cli", "serve", "--no-schedules",
                "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv, env=env, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=out, stderr=out
            )
        served = Served(process, f"http://127.0.0.1:{port}", log, database_url)
        try:
            if _wait_until_up(process, served.url):
                yield served
                return
            assert "address already in use" in served.output().lower(), served.output()
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
    raise AssertionError("no free port for nurture serve after 3 attempts")


def test_serve_answers_with_the_real_app_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    with serve(tmp_path) as served, httpx.Client(base_url=served.url, timeout=30) as http:
        health = http.get("/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "ok", "database": "ok"})
        assert http.get("/docs").status_code == 404  # Swagger needs a CDN: off
        routes = set(http.get("/openapi.json").json()["paths"])
        assert {"/webhooks/sendgrid/events", "/webhooks/twilio/messages", "/api/events"} <= routes

        db = Database(served.database_url, migrate=False)  # the server migrated it
        try:
            before = counts(db)
            body, headers = signed_batch([sg_event("delivered", "serve-1", now)], now)
            forged = http.post("/webhooks/sendgrid/events", content=body.replace(b"serve-1", b"x"),
                               headers=headers)  # fmt: skip
            assert (forged.status_code, forged.json()["error"]) == (403, "forbidden")
            assert http.post("/api/events", json={"event": "x", "talent": {}}).status_code == 401
            assert counts(db) == before  # refused: nothing written

            signed = http.post("/webhooks/sendgrid/events", content=body, headers=headers)
            assert signed.json() == {"received": 1, "stored": 1, "duplicates": 0}, signed.text
            joined = http.post(
                "/api/events",
                headers={"Authorization": f"Bearer {API_KEY}"},
                json={"event": "talent_community.joined",
                      "talent": {"email": "lena@example.net", "first_name": "Lena"}},
            )  # fmt: skip
            assert joined.status_code == 202, joined.text
            assert joined.json()["enrolled"] == ["talent-community"]  # the example's campaign
            with db.session() as session:
                lena = session.scalars(select(Talent)).one()
                enrollment = session.scalars(select(Enrollment)).one()
                assert (lena.email, enrollment.talent_id) == ("lena@example.net", lena.id)
                kinds = set(session.scalars(select(Engagement.kind)))
            assert {"delivered", "triggered"} <= kinds, kinds
        finally:
            db.dispose()

        served.process.send_signal(signal.SIGTERM)
        code = served.process.wait(timeout=SHUTDOWN)
        output = served.output()
    # uvicorn shuts down gracefully, then re-raises the signal it caught: exit 0 or -SIGTERM
    assert code in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output and "Finished server process" in output
    assert "Traceback" not in output, output
