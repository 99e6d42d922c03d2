"""What a deployed tick checks before it opens the database: a worker that lacks what it
needs refuses with one line, and its flow run fails, rather than doing something else quietly.

A deployed run (``nurture deploy`` sets the flow's ``deployed`` parameter; ``nurture run``
and ``nurture serve`` leave it False) runs on a Prefect worker, often on another machine,
with that machine's environment and its copy of the workspace. There:

- ``NURTURE_DATABASE_URL`` must name the shared talent base: without it the worker would
  open a SQLite file of its own and send what the others already sent;
- the workspace folder must be there and readable (campaign YAML, sequences, templates);
- every channel the campaign's sequence sends on needs its provider: the file channel is
  used only when chosen explicitly (``NURTURE_EMAIL_CHANNEL=file``, ``NURTURE_SMS_CHANNEL=file``),
  never as the fallback of a missing key, which would mark messages sent that nobody got.

Secrets come from the worker's environment (see ``engine.config.ENVIRONMENT``); a Prefect
Secret block reaches it through the work pool's or deployment's ``env`` job variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.config import Config
from engine.runs.observe import refused
from engine.runs.runtime import Runtime
from engine.store.dialect import shared_by_machines
from sequences.errors import NurtureError
from sequences.model import EmailStep, SmsStep, WhatsappStep

NOTHING_CLAIMED = "nothing was claimed"
_KEYS = {"email": "SENDGRID_API_KEY", "sms": "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"}


class WorkerRefused(NurtureError):
    """A deployed tick's worker lacks what it needs; it claimed nothing."""


def refusal(campaign_id: str, workspace: str | None, env: Mapping[str, str]) -> Any | None:
    """None when this worker can run the tick, else a ``Failed`` state saying why."""
    try:
        check_worker(campaign_id, workspace, env)
    except WorkerRefused as exc:
        return refused(str(exc))
    return None


def check_worker(campaign_id: str, workspace: str | None, env: Mapping[str, str]) -> None:
    """Raise :class:`WorkerRefused` with one line when this worker cannot run the tick."""
    _check_database(env)
    root = Path(workspace or env.get("NURTURE_WORKSPACE") or ".").resolve()
    _check_workspace(root)
    config = Config.load(root, env)
    _check_channels(config, campaign_id, Runtime.load(config))


def _check_database(env: Mapping[str, str]) -> None:
    url = env.get("NURTURE_DATABASE_URL")
    if not url:
        raise WorkerRefused(
            "NURTURE_DATABASE_URL is not set on this worker: set it to the shared PostgreSQL "
            f"talent base (a worker never uses the workspace's SQLite file); {NOTHING_CLAIMED}"
        )
    if not shared_by_machines(url):
        raise WorkerRefused(
            "NURTURE_DATABASE_URL names SQLite on this worker: workers need the shared "
            f"PostgreSQL talent base; {NOTHING_CLAIMED}"
        )


def _check_workspace(root: Path) -> None:
    if not root.is_dir():
        raise WorkerRefused(
            f"workspace {root} does not exist on this worker: mount it there, check it out "
            f"there, or deploy with --workspace-dir; {NOTHING_CLAIMED}"
        )
    if not os.access(root, os.R_OK | os.X_OK):
        raise WorkerRefused(
            f"workspace {root} is not readable by this worker's user (uid {os.getuid()}); "
            f"{NOTHING_CLAIMED}"
        )


def channels_used(rt: Runtime, campaign_id: str) -> set[str]:
    """``{"email", "sms"}`` or part of it: what the campaign's sequence sends through
    (WhatsApp goes through the SMS channel, Twilio)."""
    steps = rt.workspace.sequences[rt.campaign(campaign_id).sequence].sequence.steps
    used = {"email"} if any(isinstance(s, EmailStep) for s in steps) else set()
    return used | ({"sms"} if any(isinstance(s, SmsStep | WhatsappStep) for s in steps) else set())


def _check_channels(config: Config, campaign_id: str, rt: Runtime) -> None:
    used = channels_used(rt, campaign_id)
    for served, variable, name in (
        ("email", "NURTURE_EMAIL_CHANNEL", config.email_channel),
        ("sms", "NURTURE_SMS_CHANNEL", config.sms_channel),
    ):
        if served in used and name == "file" and not config.env.get(variable):
            raise WorkerRefused(
                f"campaign {campaign_id} sends {served} but this worker has no {_KEYS[served]}: "
                f"set it (or {variable}=file to write the messages to files on purpose); "
                f"{NOTHING_CLAIMED}"
            )
