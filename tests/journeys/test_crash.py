"""``nurture run`` stopped mid-send, as a deploy, a Ctrl-C or the OOM killer stops it.

A fake SendGrid answers every request after 20 ms and counts each of our message ids. One
run is stopped with SIGTERM, the next with SIGINT, the next with SIGKILL, each at a random
moment while it sends; a last run after the leases have expired sends the rest. Nobody gets
an email twice; after SIGTERM or SIGINT nothing is in doubt; after SIGKILL at most the
in-flight window is; in the end everyone not in doubt has exactly one email.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator

import pytest
from journey import NURTURE, ONE_SHOT, Workspace, rows
from processes import wait_for

from channels.testing import FakeProvider
from engine.outbox.dispatch import WINDOW

T0 = "2026-03-02T10:00:00+00:00"
LATER = "2026-03-02T10:30:00+00:00"  # every lease of T0 (10 minutes) has expired
CAMPAIGN = """\
campaign: blast
sequence: one-shot
sender: {name: Charlotte Bellet, email: charlotte@acme.example}
audience: {stage: [person], tags_any: [crash]}
schedule: {cron: "*/15 * * * *", timezone: UTC}
limits: {per_day: 100000, per_hour: 100000, per_domain_per_day: 100000, enroll_per_run: 100000}
"""


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    with FakeProvider(latency=0.02) as fake:
        yield fake


def _prepare(ws: Workspace, provider: FakeProvider, count: int) -> None:
    ws.env.update(
        NURTURE_EMAIL_CHANNEL="sendgrid", SENDGRID_API_KEY="SG.fake",
        NURTURE_PUBLIC_URL="https://hooks.acme.example", **provider.env(),
    )  # fmt: skip
    ws.write("sequences/one-shot.yaml", ONE_SHOT)
    ws.write("campaigns/blast.yaml", CAMPAIGN)
    people = "\n".join(f"T{i},Crash,t{i}@example{i % 7}.com,crash" for i in range(count))
    ws.write("crash.csv", f"first_name,last_name,email,tags\n{people}\n")
    ws.nurture("talents", "import", "crash.csv")
    provider.reset()


def _sent(provider: FakeProvider) -> int:
    return sum(provider.counts().values())


def _stopped(ws: Workspace, provider: FakeProvider, sig: signal.Signals, after: int) -> str:
    """Run a tick at T0 and send it ``sig`` once ``after`` more emails reached the provider;
    returns its output."""
    start = _sent(provider)
    args = [str(NURTURE), "run", "blast", "--now", T0, "--no-prefect"]
    run = subprocess.Popen(args, cwd=ws.root, env=ws.env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        assert wait_for(lambda: _sent(provider) >= start + after, 120, every=0.01)
        run.send_signal(sig)
        output, _ = run.communicate(timeout=60)
    finally:
        run.kill()
    expected = -signal.SIGKILL if sig is signal.SIGKILL else 128 + sig
    assert run.returncode == expected, output
    assert "Traceback" not in output, output
    return output


# A cancelled Prefect flow run: the runner sends SIGTERM to the flow run's process (then
# SIGKILL after its grace period), whose engine runs the async flow on the main thread's
# loop inside Prefect's SIGTERM bridge (prefect.utilities.engine.capture_sigterm). This
# runs the flow's tick the same way, without a Prefect server.
FLOW_RUN = f"""
import asyncio, json, signal
from prefect.utilities.engine import capture_sigterm
from engine.config import Config
from engine.core.clock import clock_from_option
from engine.outbox.adapters import build_channels, close_channels
from engine.runs.runtime import Runtime
from engine.runs.tick import tick
from engine.store.database import Database

async def flow_run():
    config = Config.load(None)
    db, channels = Database(config.database_url), build_channels(config)
    try:
        summary = await tick(db, Runtime.load(config), channels, "blast",
                             clock=clock_from_option("{T0}"))
    finally:
        await close_channels(channels)
        db.dispose()
    return summary

with capture_sigterm():
    summary = asyncio.run(flow_run())
    bridge = signal.getsignal(signal.SIGTERM).__name__
print(json.dumps({{"bridge": bridge, **summary.as_dict()["dispatch"]}}))
"""


def _statuses(ws: Workspace) -> Counter[str]:
    return Counter(status for (status,) in rows(ws, "SELECT status FROM outbox"))


def _crash_and_restart(ws: Workspace, provider: FakeProvider, count: int, seed: int) -> None:
    rng = random.Random(seed)
    for sig in (signal.SIGTERM, signal.SIGINT):
        output = _stopped(ws, provider, sig, rng.randint(1, count // 4))
        assert f"stopped by {sig.name}" in output, output
        statuses = _statuses(ws)
        assert statuses.keys() <= {"planned", "sent"}, statuses  # nothing in doubt
        assert statuses["sent"] == _sent(provider)
        assert set(provider.counts().values()) == {1}
    _stopped(ws, provider, signal.SIGKILL, rng.randint(1, count // 4))
    statuses = _statuses(ws)
    assert statuses["sending"] <= WINDOW, statuses  # only requests that were in flight
    assert statuses["in_doubt"] == 0
    ran = ws.nurture("run", "blast", "--now", LATER, "--no-prefect", "--json", timeout=600)
    summary = ran.json()
    assert summary["in_doubt"] == statuses["sending"]  # the lease expired: now in doubt
    counts = provider.counts()
    assert set(counts.values()) == {1}, "an email went out twice"
    final = _statuses(ws)
    assert final.keys() <= {"sent", "in_doubt"} and final["in_doubt"] <= WINDOW, final
    in_doubt = {m for (m,) in rows(ws, "SELECT message_id FROM outbox WHERE status='in_doubt'")}
    sent = {m for (m,) in rows(ws, "SELECT message_id FROM outbox WHERE status='sent'")}
    assert sent <= counts.keys() and len(sent) + len(in_doubt) == count
    assert counts.keys() - sent <= in_doubt  # the provider got some of those in doubt
    listed = ws.nurture("outbox", "list", "--in-doubt", "--json", "--limit", "1000").json()
    assert {row["message_id"] for row in listed} == in_doubt
    for row in listed:
        assert "lease expired" in row["explain"] and "outbox settle" in row["explain"], row


def test_stopped_runs_send_everyone_once(ws_db: Workspace, provider: FakeProvider) -> None:
    _prepare(ws_db, provider, 400)
    _crash_and_restart(ws_db, provider, 400, seed=17)


@pytest.mark.slow
def test_stopped_runs_send_three_thousand_once(ws_db: Workspace, provider: FakeProvider) -> None:
    _prepare(ws_db, provider, 3000)
    _crash_and_restart(ws_db, provider, 3000, seed=3000)


def test_a_cancelled_flow_run_stops_cleanly(ws_db: Workspace, provider: FakeProvider) -> None:
    _prepare(ws_db, provider, 400)
    run = subprocess.Popen([sys.executable, "-c", FLOW_RUN], cwd=ws_db.root, env=ws_db.env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert wait_for(lambda: _sent(provider) >= 50, 120, every=0.01)
        run.send_signal(signal.SIGTERM)  # what Prefect's runner does to cancel the run
        output, errors = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == 0, errors
    dispatch = json.loads(output.splitlines()[-1])
    assert dispatch["stopped"] == "SIGTERM" and dispatch["released"] > 0, dispatch
    assert dispatch["bridge"] == "_prefect_sigterm_handler"  # Prefect's again, after dispatch
    statuses = _statuses(ws_db)
    assert statuses.keys() == {"planned", "sent"}, statuses  # nothing in doubt
    assert statuses["sent"] == dispatch["sent"] == _sent(provider)
    assert set(provider.counts().values()) == {1}
