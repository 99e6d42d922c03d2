"""``nurture serve``: the webhook app and every campaign on its cron, with nobody calling
``run``; stopped by SIGTERM or Ctrl-C with nothing left behind. And ``nurture deploy``."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from journey import NURTURE, Workspace
from processes import alive, children, free_port, prefect_servers, wait_for

SEQUENCE = """\
sequence: hello-now
kind: outbound
settings:
  send_window: {days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "23:59"}
steps:
  - id: hello
    channel: email
    subject: "Hello {{ talent.first_name }}"
    body: "Hi {{ talent.first_name }}, a quick hello."
    on: [{exit: done}]
"""
CAMPAIGN = """\
campaign: every-minute
sequence: hello-now
sender: {name: Charlotte Bellet, email: charlotte@acme.example}
audience: {stage: [person, prospect]}
schedule: {cron: "* * * * *"}
"""


def _every_minute(ws: Workspace) -> None:
    """The workspace's only campaign ticks every minute and may send at any hour."""
    for path in (ws.root / "campaigns").glob("*.yaml"):
        path.unlink()
    ws.write("sequences/hello-now.yaml", SEQUENCE)
    ws.write("campaigns/every-minute.yaml", CAMPAIGN)
    ws.nurture("validate")
    ws.nurture("talents", "import", "talents.csv")


def _serve(ws: Workspace, *options: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    log = ws.root.parent / "serve.log"
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen([str(NURTURE), "serve", "--port", str(port), *options],
                                   cwd=ws.root, env=ws.env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    return process, f"http://127.0.0.1:{port}", log


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _stop(process: subprocess.Popen[bytes], sig: signal.Signals) -> int:
    """``sig`` to serve's whole process group, as a terminal's Ctrl-C (SIGINT) or systemd's
    stop (SIGTERM to every process of the service) sends it."""
    os.killpg(process.pid, sig)
    try:
        return process.wait(timeout=60)
    finally:
        process.kill()


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_serve_sends_on_the_campaigns_cron_and_stops_cleanly(
    ws: Workspace, stop: signal.Signals
) -> None:
    _every_minute(ws)
    process, url, log = _serve(ws)
    outbox = ws.root / "outbox"
    try:
        sent = wait_for(lambda: any(outbox.glob("*.eml")) or process.poll() is not None, 150)
        assert sent and process.poll() is None, log.read_text()
        assert _healthy(url), log.read_text()
        spawned = children(process.pid)
        assert process.pid in prefect_servers(ws.env).values()
    finally:
        code = _stop(process, stop)
    output = log.read_text()
    assert code == 0, output
    assert "campaign every-minute: a tick on * * * * *" in output
    assert f"webhook app on {url}" in output
    assert "Traceback" not in output, output
    assert wait_for(lambda: not alive(spawned), 30), alive(spawned)
    assert prefect_servers(ws.env) == {}


def test_serve_without_schedules_serves_the_webhook_app(ws: Workspace) -> None:
    process, url, log = _serve(ws, "--no-schedules")
    try:
        assert wait_for(lambda: _healthy(url) or process.poll() is not None, 90)
        assert process.poll() is None, log.read_text()
    finally:
        code = _stop(process, signal.SIGINT)
    assert code == 0, log.read_text()
    assert prefect_servers(ws.env) == {}  # no schedules, no Prefect


def _deploy_error(ws: Workspace, **env: str) -> str:
    ran = ws.nurture("deploy", "--pool", "nurture", check=False, env=env)
    assert ran.code == 1, ran
    assert "Traceback" not in ran.err, ran
    [line] = ran.err.strip().splitlines()
    return line


def test_deploy_needs_a_prefect_server(ws: Workspace) -> None:
    assert "set PREFECT_API_URL" in _deploy_error(ws)


def test_deploy_refuses_a_sqlite_talent_base(ws: Workspace) -> None:
    line = _deploy_error(ws, PREFECT_API_URL="http://127.0.0.1:9/api")
    assert "PostgreSQL" in line and "NURTURE_DATABASE_URL" in line


def test_deploy_to_a_prefect_server_that_does_not_answer(ws: Workspace) -> None:
    postgres = "postgresql+psycopg://nurture@127.0.0.1:9/nurture"  # deploy does not connect
    away = "http://127.0.0.1:9/api"
    line = _deploy_error(ws, PREFECT_API_URL=away, NURTURE_DATABASE_URL=postgres)
    assert "no Prefect server answers at PREFECT_API_URL=http://127.0.0.1:9/api" in line
