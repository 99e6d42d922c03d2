"""``nurture run CAMPAIGN`` through Prefect (the default): a temporary Prefect server that
starts under load, says what to do when it cannot, and never outlives the command."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
from journey import NURTURE, Workspace
from processes import prefect_servers, wait_for

NOW = "2026-03-02T09:30:00+00:00"  # a Monday inside the example's send window
CAMPAIGN = "backend-engineers-q1"


def test_run_through_prefect_sends_and_leaves_no_server(ws: Workspace) -> None:
    ws.nurture("talents", "import", "talents.csv")
    ran = ws.nurture("run", CAMPAIGN, "--now", NOW)
    assert f"{CAMPAIGN} at 2026-03-02T09:30:00+00:00" in ran.out
    assert "sent 0," not in ran.out and "sent " in ran.out, ran
    assert "Error logging to API" not in ran.err, ran  # logs went out before the server went
    assert list((ws.root / "outbox").glob("*.eml"))
    assert prefect_servers(ws.env) == {}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_a_killed_run_leaves_no_prefect_server(ws: Workspace, sig: signal.Signals) -> None:
    """SIGTERM and Ctrl-C stop the server on the way out; after a SIGKILL the kernel tells
    the server its parent died (PR_SET_PDEATHSIG) and it stops too."""
    ws.nurture("talents", "import", "talents.csv")
    args = [str(NURTURE), "run", CAMPAIGN, "--now", NOW]
    run = subprocess.Popen(args, cwd=ws.root, env=ws.env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)  # fmt: skip
    try:
        assert wait_for(lambda: run.pid in prefect_servers(ws.env).values(), 120)
        children = set(prefect_servers(ws.env))
        os.kill(run.pid, sig)
        output, _ = run.communicate(timeout=60)
    finally:
        run.kill()
    assert b"Traceback" not in output or sig is signal.SIGKILL, output.decode()
    assert wait_for(lambda: not children & set(prefect_servers(ws.env)), 30)


def test_a_server_that_does_not_start_is_one_line_saying_what_to_do(ws: Workspace) -> None:
    slow = {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "0"}  # gives up at once
    ran = ws.nurture("run", CAMPAIGN, "--now", NOW, check=False, env=slow)
    assert ran.code == 1, ran
    assert "Traceback" not in ran.err
    [line] = [line for line in ran.err.splitlines() if line.startswith("error:")]
    assert "--no-prefect" in line and "PREFECT_API_URL" in line
    assert wait_for(lambda: prefect_servers(ws.env) == {}, 30)


def test_an_unreachable_prefect_server_is_one_line(ws: Workspace) -> None:
    away = {"PREFECT_API_URL": "http://127.0.0.1:9/api"}  # the discard port: nobody listens
    ran = ws.nurture("run", CAMPAIGN, "--now", NOW, check=False, env=away)
    assert ran.code == 1, ran
    assert "Traceback" not in ran.err
    assert "http://127.0.0.1:9/api" in ran.err and "--no-prefect" in ran.err
