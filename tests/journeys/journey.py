"""Journeys: the ``nurture`` command run the way a person runs it.

Each test starts from a fresh ``nurture init`` workspace and drives the installed
``nurture`` console script in a subprocess (its own process, its own imports, its real exit
code and output), or the webhook app over ASGI, never the functions underneath.

- ``ws``: a fresh workspace on the default embedded setup (SQLite file inside it).
- ``ws_db``: the same on each configured backend (SQLite, and PostgreSQL when
  ``NURTURE_TEST_DATABASE_URL`` is set), through ``NURTURE_DATABASE_URL``.

``ws.nurture("validate")`` runs ``nurture validate`` with the workspace as the current folder
and returns a :class:`Ran`; ``check=True`` (the default) fails the test, showing the output,
when the exit code is not 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

NURTURE = Path(sys.executable).with_name("nurture")

# One email to everyone, at any hour: the sequence of the journeys that count sends.
ONE_SHOT = """\
sequence: one-shot
settings:
  timezone: UTC
  send_window: {days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "23:59"}
steps:
  - id: hello
    channel: email
    subject: "Hello {{ talent.first_name }}"
    body: "Hello {{ talent.first_name }}, {{ company.name }} is hiring."
    on: [{exit: done}]
"""
# Variables a developer's shell may carry that would change what a fresh workspace does.
CLEAN_ENV = (
    "NURTURE_WORKSPACE", "NURTURE_DATABASE_URL", "NURTURE_PUBLIC_URL", "NURTURE_API_KEY",
    "SENDGRID_API_KEY", "SENDGRID_WEBHOOK_PUBLIC_KEY", "NURTURE_INBOUND_DOMAIN",
    "NURTURE_INBOUND_SECRET", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN",
    "NURTURE_SENDGRID_BASE_URL", "NURTURE_TWILIO_BASE_URL", "NURTURE_EMAIL_CHANNEL",
    "NURTURE_SMS_CHANNEL", "PREFECT_API_URL", "NURTURE_TICK_PROCESSES", "NURTURE_TICK_SHARDS",
)  # fmt: skip


@dataclass(frozen=True)
class Ran:
    """One finished command: its arguments, exit code and output."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def __str__(self) -> str:
        return f"$ nurture {' '.join(self.args)}\nexit {self.code}\n{self.out}\n{self.err}"


@dataclass
class Workspace:
    """A workspace made by ``nurture init``, and the environment its commands run in."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    def nurture(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 180,
        env: dict[str, str] | None = None,
    ) -> Ran:  # fmt: skip
        """Run ``nurture ARGS`` in the workspace folder, as a person at a terminal would."""
        done = subprocess.run(
            [str(NURTURE), *args], cwd=self.root, env={**self.env, **(env or {})},
            input=input, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        ran = Ran(tuple(args), done.returncode, done.stdout, done.stderr)
        if check and ran.code != 0:
            pytest.fail(f"command failed:\n{ran}")
        return ran

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path


def base_env(tmp_path: Path) -> dict[str, str]:
    """The caller's environment without nurture's variables; Prefect's home kept apart."""
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    return env


def init(tmp_path: Path, env: dict[str, str]) -> Workspace:
    root = tmp_path / "workspace"
    subprocess.run([str(NURTURE), "init", str(root)], env=env, check=True, capture_output=True)
    return Workspace(root, env)


def call_app(
    ws: Workspace, method: str, route: str, *, now: datetime, **request: Any
) -> httpx.Response:
    """One request to the webhook app of ``ws`` over ASGI (no server), its clock at ``now``;
    it carries the bearer ``NURTURE_API_KEY`` of ``ws.env``."""
    from engine.config import Config
    from engine.core.clock import ManualClock
    from engine.store.database import Database
    from engine.web.app import create_app

    config = Config.load(ws.root, env=ws.env)
    db = Database(config.database_url)
    key = ws.env.get("NURTURE_API_KEY", "")
    headers = {"Authorization": f"Bearer {key}", **request.pop("headers", {})}

    async def send() -> httpx.Response:
        app = create_app(config, db, ManualClock(now))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=config.public_url) as http:
            return await http.request(method, route, headers=headers, **request)

    try:
        return asyncio.run(send())
    finally:
        db.dispose()


def rows(ws: Workspace, sql: str) -> list[tuple[Any, ...]]:
    """The rows ``sql`` reads from the workspace's database (its SQLite file by default)."""
    import sqlalchemy as sa

    url = ws.env.get("NURTURE_DATABASE_URL") or f"sqlite:///{ws.root / 'nurture.db'}"
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(sql))]
    finally:
        engine.dispose()
