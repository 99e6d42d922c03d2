"""One campaign tick spread by Prefect over 1, 2, 3 process workers; a killed worker; the peer.

    NURTURE_BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        python -m benchmarks.scale [--talents 30000] [--workers 1,2,3] [--peer 500] [--no-kill]

What an operator would run, on one machine: a Prefect server (``prefect server start``) on a
PostgreSQL database of its own (created here, dropped at the end), a process work pool, and
``prefect worker start`` processes, each in its own folder with its own copy of the workspace
(``NURTURE_WORKSPACE``), as on another machine. The talent base is a fresh PostgreSQL schema
per phase (benchmarks/engine.py's one-step campaign and talents); a fake SendGrid with 20 ms
latency (``channels.testing.FakeProvider``) counts each of our message ids.

For each worker count W: ``nurture deploy --pool``, W workers with ``NURTURE_TICK_SHARDS=W``,
one tick triggered through the API; prints emails/s (the tick run's own time, and from the
trigger), the flow-run start latency (tick and shards), which worker ran which run, and the
duplicates (must be 0). Then, with 2 workers: SIGKILL one worker (and its flow-run processes,
as a machine dying would) mid-tick, mark its runs crashed, and run the next tick past the
lease (``--now`` 11 minutes later): prints what was in doubt and that everyone else got one
email. The peer (``--peer N``): a Prefect flow with one task per message calling the sendgrid
SDK against the same fake and saving a row with the SQLAlchemy ORM, in the same run.

Workers poll every second (``PREFECT_WORKER_QUERY_SECONDS=1``; Prefect's default is 10 s,
which adds up to 10 s to each start). Prints one JSON document; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import DateTime, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from benchmarks.engine import T0, _insert_talents, _workspace, database_url, drop_database

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
POOL = "scale"
LATENCY = 0.02
KILL_AT = 0.3  # SIGKILL a worker when this share of the campaign has reached the provider


def _log(*what: Any) -> None:
    print(*what, file=sys.stderr, flush=True)


# --- processes ------------------------------------------------------------------------------


class Processes:
    """Every process started here, each in its own session; all stopped on the way out."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, command: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> Any:
        with log.open("ab") as out:
            child = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=out,
                                     start_new_session=True)  # fmt: skip
        self.started.append(child)
        return child

    def stop(self, child: subprocess.Popen[bytes], grace: float = 15) -> None:
        _kill_tree(child.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            child.wait(timeout=grace)
        _kill_tree(child.pid, signal.SIGKILL)
        child.wait()

    def stop_all(self) -> None:
        for child in reversed(self.started):
            if child.poll() is None or _descendants(child.pid):
                self.stop(child)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (a process worker starts each flow run in a session of
    its own, so killing the worker's process group would spare them)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rpartition(")")[2].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill_tree(pid: int, sig: signal.Signals) -> None:
    for target in [pid, *_descendants(pid)]:
        with suppress(ProcessLookupError):
            os.kill(target, sig)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --- the Prefect server and its own database --------------------------------------------------


@contextmanager
def prefect_database(base: str) -> Iterator[str]:
    """A new PostgreSQL database for the Prefect server (asyncpg URL), dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"prefect_scale_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(base).set(query={}), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(base).set(drivername="postgresql+asyncpg", database=name, query={})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def start_server(procs: Processes, folder: Path, database: str) -> str:
    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(folder / "prefect-home"),
           "PREFECT_API_DATABASE_CONNECTION_URL": database,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "0"}  # fmt: skip
    env.pop("PREFECT_API_URL", None)
    command = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port",
               str(port), "--no-ui", "--no-scheduler"]  # fmt: skip
    procs.start(command, cwd=folder, env=env, log=folder / "server.log")
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the Prefect server did not start: see {folder / 'server.log'}")


# --- one phase: W workers, one tick -----------------------------------------------------------


class Phase:
    """A fresh talent base and workspace, deployed, with ``workers`` workers polling."""

    def __init__(self, procs: Processes, folder: Path, api: str, fake: Any, talents: int,
                 workers: int) -> None:  # fmt: skip
        from engine.store.database import Database

        self.procs, self.folder, self.api, self.fake = procs, folder, api, fake
        self.talents, self.workers = talents, workers
        folder.mkdir(parents=True)
        self.db_url = database_url("postgresql", folder)
        db = Database(self.db_url)
        _insert_talents(db, talents)
        db.dispose()
        self.workspace = _workspace(folder / "ws")
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "PREFECT_API_URL": api,
                    "NURTURE_DATABASE_URL": self.db_url, "NURTURE_EMAIL_CHANNEL": "sendgrid",
                    "SENDGRID_API_KEY": "SG.bench", "NURTURE_SENDGRID_BASE_URL": fake.url,
                    "NURTURE_PUBLIC_URL": "https://hooks.bench.example",
                    "NURTURE_SMS_CHANNEL": "file", "NURTURE_SECRET_KEY": "b" * 32,
                    "NURTURE_TICK_SHARDS": str(workers),
                    "PREFECT_WORKER_QUERY_SECONDS": "1"}  # fmt: skip
        deploy = subprocess.run(
            [str(BIN / "nurture"), "--workspace", str(self.workspace), "deploy", "--pool", POOL],
            env=self.env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if deploy.returncode != 0:
            raise RuntimeError(f"nurture deploy failed: {deploy.stderr}")
        self.logs: list[Path] = []
        self.children: list[Any] = []
        for index in range(1, workers + 1):
            home = folder / f"worker{index}"  # another machine: its own copy of the workspace
            shutil.copytree(self.workspace, home / "ws")
            env = {**self.env, "NURTURE_WORKSPACE": str(home / "ws"),
                   "PREFECT_HOME": str(home / ".prefect")}  # fmt: skip
            log = home / "worker.log"
            # --limit 1: a worker busy with a run leaves the next shard to another (without
            # it, the first worker to poll takes every shard: the machines share nothing)
            command = [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--type",
                       "process", "--name", f"{folder.name}-w{index}", "--limit", "1"]  # fmt: skip
            self.children.append(self.procs.start(command, cwd=home, env=env, log=log))
            self.logs.append(log)
        deadline = time.monotonic() + 120
        while not all("started" in log.read_text() for log in self.logs):
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers did not start: see {folder}/worker*/worker.log")
            time.sleep(0.5)

    def trigger(self, now: datetime) -> tuple[Any, datetime]:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name("campaign-tick/bench")
            at = datetime.now(UTC)
            run = client.create_flow_run_from_deployment(
                deployment.id,
                parameters={"campaign": "bench", "workspace": None, "now": now.isoformat()},
            )
        return run, at

    def wait(self, run_id: Any, timeout: float = 3600) -> Any:
        from prefect.client.orchestration import get_client

        deadline = time.monotonic() + timeout
        with get_client(sync_client=True) as client:
            while True:
                run = client.read_flow_run(run_id)
                if run.state is not None and run.state.is_final():
                    return run
                if time.monotonic() > deadline:
                    raise RuntimeError(f"flow run {run.name} still {run.state} after {timeout} s")
                time.sleep(0.5)

    def wait_done(self, run_id: Any) -> bool:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            state = client.read_flow_run(run_id).state
        return state is not None and state.is_final()

    def runs_since(self, at: datetime) -> list[Any]:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(limit=200)
        return [run for run in runs if run.created and run.created >= at]

    def where(self, run_id: Any) -> str | None:
        """Which worker started a run (its log says it submitted it, and did not abort: two
        workers may try the same run; the tick's own output names its shards too)."""
        for index, log in enumerate(self.logs, start=1):
            text = log.read_text()
            if f"submitting flow run '{run_id}'" in text and f"of flow run '{run_id}'" not in text:
                return f"w{index}"
        return None

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = self.fake.counts()
        return counts

    def outbox(self) -> dict[str, str]:
        from sqlalchemy import select

        from engine.store.database import Database
        from engine.store.models import OutboxMessage

        db = Database(self.db_url, migrate=False)
        with db.session() as session:
            query = select(OutboxMessage.message_id, OutboxMessage.status)
            rows = dict(session.execute(query).tuples().all())
        db.dispose()
        return {str(key): str(value) for key, value in rows.items()}

    def close(self) -> None:
        for child in self.children:
            self.procs.stop(child)
        drop_database(self.db_url)


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return round((later - earlier).total_seconds(), 2)


def one_tick(phase: Phase) -> dict[str, Any]:
    from engine.runs.shards import _shard_reports  # imports prefect: after PREFECT_API_URL is set

    phase.fake.reset()
    run, at = phase.trigger(T0)
    tick = phase.wait(run.id)
    runs = phase.runs_since(at)
    shards = [r for r in runs if r.id != tick.id]
    reports = asyncio.run(_shard_reports([r.id for r in shards]))
    counts = phase.counts()
    sent = sum(1 for n in counts.values() if n)
    run_seconds = _seconds(tick.end_time, tick.start_time) or 0.0
    return {
        "workers": phase.workers,
        "shards": phase.workers,
        "tick_state": tick.state.name if tick.state else None,
        "emails": sent,
        "duplicates": sum(n - 1 for n in counts.values() if n > 1),
        "tick_run_seconds": run_seconds,
        "emails_per_s": round(sent / run_seconds) if run_seconds else None,
        "trigger_to_end_seconds": _seconds(tick.end_time, at),
        "emails_per_s_from_trigger": round(sent / (_seconds(tick.end_time, at) or 1)),
        "tick_start_latency_s": _seconds(tick.start_time, at),
        "shard_start_latency_s": [_seconds(r.start_time, r.created) for r in shards],
        "shard_states": [r.state.name if r.state else None for r in shards],
        "sent_by_shard_runs": [
            reports[r.id].dispatch.sent if r.id in reports else 0 for r in shards
        ],
        "ran_on": {"tick": phase.where(tick.id), "shards": [phase.where(r.id) for r in shards]},
        "all_sent_once": sent == phase.talents and all(n == 1 for n in counts.values()),
    }


def killed_worker(phase: Phase) -> dict[str, Any]:
    """SIGKILL a worker running a shard mid-tick; crash its runs; the next tick sends the rest."""
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    phase.fake.reset()
    run, at = phase.trigger(T0)
    while True:  # a shard run busy on another worker than the tick's: kill that worker
        time.sleep(0.5)
        runs = phase.runs_since(at)
        tick_on = phase.where(run.id)
        busy = [
            phase.where(r.id) for r in runs if r.id != run.id and r.state and r.state.is_running()
        ]
        others = [w for w in busy if w and w != tick_on]
        if others and sum(phase.counts().values()) >= KILL_AT * phase.talents:
            break
        if phase.wait_done(run.id):
            raise RuntimeError("the tick ended before a shard ran on another worker")
    time.sleep(3)  # mid-batch
    victim = others[0]
    assert victim is not None
    index = int(victim.removeprefix("w")) - 1
    _kill_tree(phase.children[index].pid, signal.SIGKILL)
    killed_at = sum(phase.counts().values())
    _log(f"killed worker {victim} at {killed_at} emails")
    settled = -1  # wait for the survivors to finish what they can
    while (now_sent := sum(phase.counts().values())) != settled:
        settled = now_sent
        time.sleep(3)
    crashed = []
    with get_client(sync_client=True) as client:
        for r in [client.read_flow_run(r.id) for r in runs]:
            if r.state is not None and not r.state.is_final() and phase.where(r.id) == victim:
                client.set_flow_run_state(r.id, Crashed(message="its worker was SIGKILLed"))
                crashed.append(r.name)
    first = phase.wait(run.id, timeout=600)
    before = Counter(phase.outbox().values())
    counts_before = phase.counts()
    next_run, next_at = phase.trigger(T0 + timedelta(minutes=11))  # past the 10-min lease
    second = phase.wait(next_run.id, timeout=900)
    statuses = phase.outbox()
    counts = phase.counts()
    in_doubt = [m for m, s in statuses.items() if s == "in_doubt"]
    return {
        "workers": phase.workers,
        "killed": {
            "worker": victim,
            "ran_tick": victim == tick_on,
            "emails_when_killed": killed_at,
            "runs_marked_crashed": crashed,
        },
        "first_tick_state": first.state.name if first.state else None,
        "outbox_before_next_tick": dict(before),
        "next_tick": {
            "state": second.state.name if second.state else None,
            "start_latency_s": _seconds(second.start_time, next_at),
            "emails": sum(counts.values()) - sum(counts_before.values()),
        },
        "in_doubt": len(in_doubt),
        "in_doubt_that_reached_the_provider": sum(1 for m in in_doubt if counts.get(m)),
        "outbox_after": dict(Counter(statuses.values())),
        "duplicates": sum(n - 1 for n in counts.values() if n > 1),
        "everyone_else_once": all(counts.get(m) == 1 for m, s in statuses.items() if s == "sent")
        and sum(1 for s in statuses.values() if s == "sent") + len(in_doubt) == phase.talents,
    }


# --- the peer: one Prefect task per message, the sendgrid SDK, the ORM -------------------------


class PeerBase(DeclarativeBase):
    pass


class PeerSent(PeerBase):
    """The peer's record of a sent email (the ORM, as the obvious code would have it)."""

    __tablename__ = "peer_sent"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    to: Mapped[str] = mapped_column(String(320))
    provider_id: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def peer_child(messages: int, fake: str, db_url: str) -> dict[str, Any]:
    """What a Python team would write first (run in a child process, on the same server)."""
    from prefect import flow, task
    from sendgrid import SendGridAPIClient
    from sendgrid.helpers.mail import CustomArg, Mail
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    engine = create_engine(db_url)
    PeerBase.metadata.create_all(engine)
    client = SendGridAPIClient(api_key="SG.peer", host=fake)

    @task
    def send_one(index: int) -> None:
        body = f"Hi T{index},\n\nAcme hires engineers.\n\nCharlotte"
        subject = f"T{index}, a question about Initech"
        mail = Mail("charlotte@acme.example", f"t{index}@example.com", subject, body)
        mail.custom_arg = CustomArg("message_id", f"peer-{index}")
        response = client.send(mail)
        with Session(engine) as session:
            session.add(PeerSent(message_id=f"peer-{index}", to=f"t{index}@example.com",
                             provider_id=response.headers.get("X-Message-Id"),
                             sent_at=datetime.now(UTC)))  # fmt: skip
            session.commit()

    @flow(name="peer-send")
    def send_all(count: int) -> None:
        for future in send_one.map(range(count)):
            future.result()

    started = time.perf_counter()
    send_all(messages)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return {"messages": messages, "seconds": round(elapsed, 2),
            "emails_per_s": round(messages / elapsed, 1)}  # fmt: skip


def peer(api: str, fake: Any, messages: int, folder: Path) -> dict[str, Any]:
    url = database_url("postgresql", folder)
    fake.reset()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PREFECT_API_URL": api}
    command = [sys.executable, "-m", "benchmarks.scale", "--peer-child", str(messages),
               "--fake", fake.url, "--db", url]  # fmt: skip
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    finally:
        drop_database(url)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-3:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    counts = fake.counts()
    result["duplicates"] = sum(n - 1 for n in counts.values() if n > 1)
    result["all_sent_once"] = len(counts) == messages and set(counts.values()) == {1}
    return result


# --- main -----------------------------------------------------------------------------------


def phases(args: argparse.Namespace, procs: Processes, folder: Path, api: str, fake: Any,
           results: dict[str, Any]) -> None:  # fmt: skip
    for workers in [int(w) for w in args.workers.split(",") if w]:
        phase = Phase(procs, folder / f"w{workers}", api, fake, args.talents, workers)
        try:
            results["ticks"].append(one_tick(phase))
        finally:
            phase.close()
        _log(json.dumps(results["ticks"][-1]))
    if not args.no_kill:
        phase = Phase(procs, folder / "kill", api, fake, args.talents, args.kill_workers)
        try:
            results["killed_worker"] = killed_worker(phase)
        finally:
            phase.close()
        _log(json.dumps(results["killed_worker"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--talents", type=int, default=30_000)
    parser.add_argument("--workers", default="1,2,3", help="worker counts, one phase each")
    parser.add_argument("--kill-workers", type=int, default=2, help="workers of the kill phase")
    parser.add_argument("--peer", type=int, default=500, help="messages for the peer (0: none)")
    parser.add_argument("--no-kill", action="store_true", help="skip the killed-worker phase")
    parser.add_argument("--peer-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--fake", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer_child:
        print(json.dumps(peer_child(args.peer_child, args.fake, args.db)))
        return
    from channels.testing import FakeProvider

    base = os.environ.get("NURTURE_BENCH_DATABASE_URL") or os.environ["NURTURE_TEST_DATABASE_URL"]
    folder = Path(tempfile.mkdtemp(prefix="nurture-scale-"))
    procs = Processes()
    results: dict[str, Any] = {"talents": args.talents, "latency_ms": LATENCY * 1000,
                               "cores": os.cpu_count(), "ticks": []}  # fmt: skip
    try:
        with prefect_database(base) as database, FakeProvider(latency=LATENCY) as fake:
            started = time.perf_counter()
            api = start_server(procs, folder, database)
            results["server_start_s"] = round(time.perf_counter() - started, 1)
            os.environ["PREFECT_API_URL"] = api  # this process's client
            os.environ["PREFECT_HOME"] = str(folder / "prefect-home")
            pool = [str(BIN / "prefect"), "work-pool", "create", POOL, "--type", "process"]
            subprocess.run(pool, env=os.environ, check=True, capture_output=True)
            phases(args, procs, folder, api, fake, results)
            if args.peer:
                results["peer"] = peer(api, fake, args.peer, folder)
                engine = results["ticks"][0]["emails_per_s"] if results["ticks"] else None
                if engine and "emails_per_s" in results["peer"]:
                    results["engine_to_peer"] = round(engine / results["peer"]["emails_per_s"], 1)
    finally:
        procs.stop_all()
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
