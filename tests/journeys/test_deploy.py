"""``nurture deploy`` on a Prefect server, and the deployed tick's worker.

- Re-deploying keeps what an operator paused on the server (a deployment's pause, a
  schedule's ``active`` flag); ``nurture campaigns pause|resume`` drives the deployment too,
  and an unreachable Prefect server is a warning, not a failure.
- A deployed tick refuses before it opens anything when its worker lacks the database URL,
  the workspace, or the provider key of a channel its campaign sends on: never the file
  channel as a silent fallback.
- A campaign paused by a channel error says so once, not once per message.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from journey import ONE_SHOT, Workspace
from processes import free_port, wait_for

from channels.testing import FakeProvider

CAMPAIGN = "produit-paris"  # an email campaign of the `nurture init` workspace
PREFECT = Path(sys.executable).with_name("prefect")
POSTGRES = "postgresql+psycopg://nurture@127.0.0.1:9/nurture"  # deploy does not connect


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Prefect server of its own (SQLite, no services) with a process pool ``nurture``."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": url}
    log = (home / "server.log").open("wb")
    server = subprocess.Popen(
        [str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port", str(port),
         "--no-ui", "--no-services"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        up = wait_for(lambda: _answers(url) or server.poll() is not None, 150)
        assert up and server.poll() is None, (home / "server.log").read_text()
        subprocess.run([str(PREFECT), "work-pool", "create", "nurture", "--type", "process"],
                       env=env, check=True, capture_output=True, timeout=120)  # fmt: skip
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _deployment(url: str, campaign: str) -> dict[str, Any]:
    found = httpx.get(f"{url}/deployments/name/campaign-tick/{campaign}", timeout=30)
    found.raise_for_status()
    data: dict[str, Any] = found.json()
    return data


def _deploy(ws: Workspace, url: str, *options: str) -> str:
    env = {"PREFECT_API_URL": url, "NURTURE_DATABASE_URL": POSTGRES}
    return ws.nurture("deploy", "--pool", "nurture", *options, env=env).out


@pytest.mark.slow
def test_deploy_again_keeps_what_an_operator_paused(ws: Workspace, prefect_server: str) -> None:
    url = prefect_server
    out = _deploy(ws, url, "--workspace-dir", "/srv/nurture/workspace")
    assert f"deployed campaign-tick/{CAMPAIGN}" in out
    first = _deployment(url, CAMPAIGN)
    assert first["parameters"] == {
        "campaign": CAMPAIGN, "workspace": "/srv/nurture/workspace", "deployed": True,
    }  # fmt: skip
    assert not first["paused"]

    # A recruiter pauses one campaign; an operator pauses another's schedule in Prefect.
    paused = ws.nurture("campaigns", "pause", CAMPAIGN, env={"PREFECT_API_URL": url})
    assert f"its Prefect deployment campaign-tick/{CAMPAIGN} is paused too" in paused.out
    other = _deployment(url, "backend-engineers-q1")
    [schedule] = other["schedules"]
    httpx.patch(f"{url}/deployments/{other['id']}/schedules/{schedule['id']}",
                json={"active": False}, timeout=30).raise_for_status()  # fmt: skip

    out = _deploy(ws, url)
    assert f"deployed campaign-tick/{CAMPAIGN}" in out and "(paused, as it was)" in out
    assert _deployment(url, CAMPAIGN)["paused"]
    assert [s["active"] for s in _deployment(url, "backend-engineers-q1")["schedules"]] == [False]
    assert not _deployment(url, "silver-medalists-2026")["paused"]

    resumed = ws.nurture("campaigns", "resume", CAMPAIGN, env={"PREFECT_API_URL": url})
    assert f"its Prefect deployment campaign-tick/{CAMPAIGN} is resumed too" in resumed.out
    assert not _deployment(url, CAMPAIGN)["paused"]


def test_campaigns_pause_warns_when_prefect_does_not_answer(ws: Workspace) -> None:
    away = {"PREFECT_API_URL": "http://127.0.0.1:9/api"}
    ran = ws.nurture("campaigns", "pause", CAMPAIGN, env=away)
    assert "warning: could not pause the Prefect deployment campaign-tick/produit-paris" in (
        " ".join(ran.out.split())
    )
    assert "Traceback" not in ran.err
    listed = {row["campaign"]: row for row in ws.nurture("campaigns", "list", "--json").json()}
    assert listed[CAMPAIGN]["status"] == "paused"  # the campaign's own pause stands


def test_campaigns_pause_without_prefect_says_nothing_of_it(ws: Workspace) -> None:
    ran = ws.nurture("campaigns", "pause", CAMPAIGN)
    assert "Prefect" not in ran.out


# --- the deployed tick's worker -----------------------------------------------------------


def _deployed_tick(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, workspace: Path | None = None, **env: str
) -> Any:
    """The flow body of a deployed tick, in this process, on a worker with ``env``."""
    from engine.runs.flows import campaign_tick

    for name in list(os.environ):
        if name.startswith(("NURTURE_", "SENDGRID_", "TWILIO_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    where = str(workspace or ws.root)
    return asyncio.run(campaign_tick.fn(CAMPAIGN, where, None, False, True))


def _refusal(state: Any) -> str:
    assert state.is_failed(), state
    message: str = state.message
    assert message.endswith("nothing was claimed") and "\n" not in message
    return message


def test_a_worker_without_the_database_url_refuses(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = _refusal(_deployed_tick(ws, monkeypatch, SENDGRID_API_KEY="SG.key"))
    assert line.startswith("NURTURE_DATABASE_URL is not set on this worker")
    assert not (ws.root / "nurture.db").exists()  # it never opened the workspace's SQLite


def test_a_worker_on_sqlite_refuses(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    sqlite = f"sqlite:///{ws.root / 'nurture.db'}"
    line = _refusal(_deployed_tick(ws, monkeypatch, NURTURE_DATABASE_URL=sqlite))
    assert "names SQLite on this worker" in line


def test_a_worker_without_the_workspace_refuses(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = ws.root.parent / "not-mounted"
    state = _deployed_tick(ws, monkeypatch, missing, NURTURE_DATABASE_URL=POSTGRES)
    assert f"workspace {missing} does not exist on this worker" in _refusal(state)


def test_a_worker_that_cannot_read_the_workspace_refuses(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(As root every folder is readable: the permission check is faked.)"""
    from engine.runs import preflight

    monkeypatch.setattr(preflight.os, "access", lambda _path, _mode: False)
    state = _deployed_tick(ws, monkeypatch, NURTURE_DATABASE_URL=POSTGRES)
    assert f"workspace {ws.root} is not readable by this worker's user" in _refusal(state)


def test_a_worker_without_the_provider_key_never_falls_back_to_files(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = _deployed_tick(ws, monkeypatch, NURTURE_DATABASE_URL=POSTGRES)
    line = _refusal(state)
    assert line.startswith(f"campaign {CAMPAIGN} sends email but this worker has no "
                           "SENDGRID_API_KEY")  # fmt: skip
    assert "NURTURE_EMAIL_CHANNEL=file" in line
    assert not (ws.root / "outbox").exists()


def test_the_file_channel_chosen_explicitly_is_accepted(ws: Workspace) -> None:
    from engine.runs.preflight import check_worker

    env = {"NURTURE_DATABASE_URL": POSTGRES, "NURTURE_EMAIL_CHANNEL": "file"}
    check_worker(CAMPAIGN, str(ws.root), env)  # no SMS in this campaign: no Twilio needed


# --- a pause after a channel error is one log line -----------------------------------------

BLAST = """\
campaign: blast
sequence: one-shot
sender: {name: Charlotte Bellet, email: charlotte@acme.example}
audience: {stage: [person], tags_any: [blast]}
limits: {per_day: 1000, per_hour: 1000, per_domain_per_day: 1000, enroll_per_run: 1000}
"""
PEOPLE = 40


def test_a_campaign_paused_by_a_rejected_key_says_so_once(ws: Workspace) -> None:
    addresses = [f"t{i}@example{i % 5}.com" for i in range(PEOPLE)]
    with FakeProvider(latency=0.0, failures=dict.fromkeys(addresses, 401)) as provider:
        ws.env.update(NURTURE_EMAIL_CHANNEL="sendgrid", SENDGRID_API_KEY="SG.revoked",
                      NURTURE_PUBLIC_URL="https://hooks.acme.example")  # fmt: skip
        ws.env.update(provider.env())
        ws.write("sequences/one-shot.yaml", ONE_SHOT)
        ws.write("campaigns/blast.yaml", BLAST)
        people = "\n".join(f"T{i},Blast,{a},blast" for i, a in enumerate(addresses))
        ws.write("blast.csv", f"first_name,last_name,email,tags\n{people}\n")
        ws.nurture("talents", "import", "blast.csv")
        ran = ws.nurture("run", "blast", "--no-prefect", "--now", "2026-03-02T10:00:00+00:00",
                         check=False)  # fmt: skip
    assert ran.code == 0, ran
    assert "paused" in ran.out, ran
    paused_lines = [line for line in ran.err.splitlines() if "campaign blast paused" in line]
    assert len(paused_lines) == 1, ran
