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

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

NURTURE = Path(sys.executable).with_name("nurture")
# Variables a developer's shell may carry that would change what a fresh workspace does.
CLEAN_ENV = (
    "NURTURE_WORKSPACE", "NURTURE_DATABASE_URL", "NURTURE_PUBLIC_URL", "NURTURE_API_KEY",
    "SENDGRID_API_KEY", "SENDGRID_WEBHOOK_PUBLIC_KEY", "NURTURE_INBOUND_DOMAIN",
    "NURTURE_INBOUND_SECRET", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN",
    "NURTURE_SENDGRID_BASE_URL", "NURTURE_TWILIO_BASE_URL", "NURTURE_EMAIL_CHANNEL",
    "NURTURE_SMS_CHANNEL", "PREFECT_API_URL", "NURTURE_TICK_PROCESSES",
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
