"""Engine throughput: N enrolled talents advanced through one email step.

    python benchmarks/engine.py [--talents 100000] [--enroll 1000000] [--backend NAME|all]

For each backend (PostgreSQL when NURTURE_BENCH_DATABASE_URL or NURTURE_TEST_DATABASE_URL is
set), in a fresh child process so peak memory is its own:
  - end to end: enroll N talents, plan + render each message, dispatch to a loopback fake
    SendGrid (channels.testing.FakeProvider, no latency), record receipts: steps/s; once in
    the tick's own process, once with NURTURE_TICK_SHARDS=--processes (default: cores);
  - the floor, in the same run as the one-process tick: render N messages, POST N bare
    requests to the same fake with the same concurrency, insert N outbox-like rows and 2N
    timeline rows raw; floor steps/s = N / (render + http + inserts), in one process,
    measured just before and just after the tick (the mean is the floor: this 2-core VM's
    speed drifts within a run); ratio = one-process end to end / floor;
  - peak RSS of the child (ru_maxrss), and of the largest worker process;
  - enroll: time to enroll an audience of M talents (one INSERT ... SELECT).
Prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# This file is named engine.py: keep its folder off sys.path so `engine` is the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SEQUENCE = """\
sequence: one-step
settings:
  timezone: UTC
  send_window: {days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "23:59"}
steps:
  - id: hello
    channel: email
    subject: "{{ talent.first_name }}, a question about {{ talent.company }}"
    body: "Hi {{ talent.first_name }},\\n\\n{{ company.name }} hires **engineers**.\\n\\n\\
      {{ sender.first_name }}"
    on: [{exit: done}]
"""
CAMPAIGN = """\
campaign: bench
sequence: one-step
sender: {name: Charlotte Bellet, email: charlotte@acme.example}
audience: {stage: [person]}
limits: {per_day: 10000000, per_hour: 10000000, per_domain_per_day: 10000000,
         enroll_per_run: 10000000}
"""


def _workspace(root: Path) -> Path:
    (root / "sequences").mkdir(parents=True)
    (root / "campaigns").mkdir()
    (root / "nurture.yaml").write_text(
        "company: {name: Acme}\nfrequency_cap: {touches: 100, per: 1 days}\n"
    )
    (root / "sequences" / "one-step.yaml").write_text(SEQUENCE)
    (root / "campaigns" / "bench.yaml").write_text(CAMPAIGN)
    return root


def _insert_talents(db: Any, count: int) -> None:
    from sqlalchemy import insert

    from engine.store.models import Talent

    chunk = 20000
    for start in range(0, count, chunk):
        rows = [
            {"email": f"t{i}@example{i % 50}.com", "first_name": f"T{i}", "company": "Initech",
             "links": {}, "attributes": {}, "stage": "person", "created_at": T0, "updated_at": T0}
            for i in range(start, min(start + chunk, count))
        ]  # fmt: skip
        with db.session() as session:
            session.execute(insert(Talent), rows)


def database_url(backend: str, folder: Path) -> str:
    """A fresh database: a SQLite file in ``folder``, or a new PostgreSQL schema."""
    if backend == "sqlite":
        return f"sqlite:///{folder / 'bench.db'}"
    base = os.environ.get("NURTURE_BENCH_DATABASE_URL") or os.environ["NURTURE_TEST_DATABASE_URL"]
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    from sqlalchemy import create_engine, text

    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"


def drop_database(url: str) -> None:
    """Drop the PostgreSQL schema :func:`database_url` made (a SQLite file goes with its folder)."""
    if "search_path" not in url:
        return
    from sqlalchemy import create_engine, text

    base, _, options = url.rpartition("options=-csearch_path%3D")
    admin = create_engine(base.rstrip("?&"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{options}" CASCADE'))
    admin.dispose()


def end_to_end(backend: str, talents: int, fake_url: str, processes: int = 1) -> dict[str, Any]:
    from campaigns.workspace import load_workspace
    from engine.config import Config
    from engine.core.clock import fixed_clock
    from engine.outbox.adapters import build_channels, close_channels
    from engine.runs.runtime import Runtime
    from engine.runs.tick import tick
    from engine.runs.workers import freeze_heap
    from engine.store.database import Database

    folder = Path(tempfile.mkdtemp())
    root = _workspace(folder / "ws")
    url = database_url(backend, folder)
    env = {"NURTURE_DATABASE_URL": url, "NURTURE_EMAIL_CHANNEL": "sendgrid",
           "SENDGRID_API_KEY": "SG.bench", "NURTURE_SENDGRID_BASE_URL": fake_url,
           "NURTURE_PUBLIC_URL": "https://hooks.bench.example",
           "NURTURE_SMS_CHANNEL": "file", "NURTURE_SECRET_KEY": "b" * 32,
           "NURTURE_TICK_SHARDS": str(processes),
           "PATH": os.environ.get("PATH", "")}  # fmt: skip
    config = Config.load(root, env=env)
    db = Database(url)
    _insert_talents(db, talents)
    rt = Runtime.load(config, load_workspace(root))
    freeze_heap()  # as `nurture run` does

    async def once() -> Any:
        channels = build_channels(config)
        try:
            return await tick(db, rt, channels, "bench", clock=fixed_clock(T0), batch_size=1000)
        finally:
            await close_channels(channels)

    before = _floor(db, rt, talents, fake_url) if processes == 1 else None
    started = time.perf_counter()
    summary = asyncio.run(once())
    elapsed = time.perf_counter() - started
    floor = None
    if before is not None:  # the floor brackets the tick: this VM's speed drifts
        after = _floor(db, rt, talents, fake_url)
        mean = round((before["steps_per_s"] + after["steps_per_s"]) / 2)
        floor = {"before": before, "after": after, "steps_per_s": mean}
    db.dispose()
    drop_database(url)
    assert summary.dispatch.sent == talents, summary
    steps = talents / elapsed
    result: dict[str, Any] = {
        "backend": backend,
        "talents": talents,
        "processes": processes,
        "seconds": round(elapsed, 2),
        "steps_per_s": round(steps),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    if floor is not None:
        result |= {"floor": floor, "ratio_to_floor": round(steps / floor["steps_per_s"], 3)}
    else:  # the tick's own process, plus its workers (each one's peak, the largest)
        worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        total = result["peak_rss_mb"] + processes * worker
        result |= {"worker_peak_rss_mb": round(worker), "total_peak_rss_mb": round(total)}
    return result


def _floor(db: Any, rt: Any, count: int, fake_url: str) -> dict[str, Any]:
    """Render + bare HTTP + raw inserts of the same amount of work."""
    from sequences.templates import render_step

    doc = rt.workspace.sequences["one-step"]
    started = time.perf_counter()
    context = {"talent": {"first_name": "T", "company": "Initech"}, "company": {"name": "Acme"},
               "sender": {"first_name": "Charlotte"}, "links": {"unsubscribe": "u"}}  # fmt: skip
    for i in range(count):
        render_step(
            doc, "hello", None, {**context, "talent": {"first_name": f"T{i}", "company": "Initech"}}
        )
    render = time.perf_counter() - started
    started = time.perf_counter()
    asyncio.run(_bare_http(fake_url, count))
    http = time.perf_counter() - started
    started = time.perf_counter()
    _raw_inserts(db, count)
    inserts = time.perf_counter() - started
    total = render + http + inserts
    return {"render_s": round(render, 2), "http_s": round(http, 2), "inserts_s": round(inserts, 2),
            "steps_per_s": round(count / total)}  # fmt: skip


async def _bare_http(url: str, count: int, concurrency: int = 50) -> None:
    import httpx

    from channels.transport import ShardedTransport

    queue = iter(range(count))
    headers = {"Authorization": "Bearer SG.bench"}
    # The engine's own pool (one httpcore pool of 50 is 3x slower: see channels.transport).
    transport = ShardedTransport(concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, transport=transport) as client:

        async def lane() -> None:
            for i in queue:
                payload = {"personalizations": [{"to": [{"email": f"t{i}@example.com"}],
                           "custom_args": {"message_id": f"floor{i}"}}],
                           "from": {"email": "charlotte@acme.example"}, "subject": "Hi",
                           "content": [{"type": "text/plain", "value": "Hi"}]}  # fmt: skip
                response = await client.post("/v3/mail/send", json=payload)
                response.raise_for_status()

        await asyncio.gather(*(lane() for _ in range(concurrency)))


def _raw_inserts(db: Any, count: int) -> None:
    from sqlalchemy import Column, Integer, MetaData, String, Table, Text, insert

    meta = MetaData()
    rows = Table("floor_rows", meta, Column("id", Integer, primary_key=True),
                 Column("message_id", String(32)), Column("body", Text))  # fmt: skip
    events = Table("floor_events", meta, Column("id", Integer, primary_key=True),
                   Column("kind", String(16)), Column("message_id", String(32)))  # fmt: skip
    meta.create_all(db.engine)
    chunk = 1000
    for start in range(0, count, chunk):
        ids = [uuid.uuid4().hex for _ in range(start, min(start + chunk, count))]
        with db.session() as session:
            session.execute(insert(rows), [{"message_id": m, "body": "Hi " * 30} for m in ids])
            session.execute(
                insert(events),
                [{"kind": k, "message_id": m} for m in ids for k in ("planned", "sent")],
            )


def enroll_time(backend: str, audience: int) -> dict[str, Any]:
    from campaigns.workspace import load_workspace
    from engine.enrollments.enroll import enroll_audience
    from engine.store.database import Database

    folder = Path(tempfile.mkdtemp())
    root = _workspace(folder / "ws")
    url = database_url(backend, folder)
    db = Database(url)
    _insert_talents(db, audience)
    workspace = load_workspace(root)
    started = time.perf_counter()
    with db.session(immediate=True) as session:
        enrolled = enroll_audience(session, workspace, "bench", now=T0, limit=audience)
    elapsed = time.perf_counter() - started
    db.dispose()
    drop_database(url)
    assert enrolled == audience
    return {
        "backend": backend,
        "audience": audience,
        "seconds": round(elapsed, 2),
        "enrollments_per_s": round(audience / elapsed),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def _child(args: argparse.Namespace) -> None:
    if args.what == "steps":
        print(json.dumps(end_to_end(args.backend, args.talents, args.fake, args.processes)))
    else:
        print(json.dumps(enroll_time(args.backend, args.enroll)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--talents", type=int, default=100_000)
    parser.add_argument("--enroll", type=int, default=1_000_000)
    parser.add_argument("--backend", default="all", choices=["sqlite", "postgresql", "all"])
    parser.add_argument("--child", dest="what", choices=["steps", "enroll"])
    parser.add_argument("--fake", default="")
    parser.add_argument(
        "--processes", type=int, default=os.cpu_count() or 1,
        help="NURTURE_TICK_SHARDS of the second run (the first runs in one process)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.what:
        _child(args)
        return
    from channels.testing import FakeProvider

    has_pg = bool(
        os.environ.get("NURTURE_BENCH_DATABASE_URL") or os.environ.get("NURTURE_TEST_DATABASE_URL")
    )
    backends = [b for b in ("sqlite", "postgresql") if args.backend in (b, "all")]
    backends = [b for b in backends if b == "sqlite" or has_pg]
    results: dict[str, Any] = {"steps": [], "enroll": []}
    runs = [("steps", 1), *([("steps", args.processes)] if args.processes > 1 else [])]
    runs.append(("enroll", 1))
    with FakeProvider(latency=0.0) as fake:
        for backend in backends:
            for what, processes in runs:
                command = [sys.executable, __file__, "--child", what, "--backend", backend,
                           "--talents", str(args.talents), "--enroll", str(args.enroll),
                           "--fake", fake.url, "--processes", str(processes)]  # fmt: skip
                done = subprocess.run(command, check=False, capture_output=True, text=True)
                lines = done.stdout.strip().splitlines()
                result = (
                    json.loads(lines[-1])
                    if done.returncode == 0 and lines
                    else {"backend": backend, "error": done.stderr.strip().splitlines()[-1:]}
                )
                print(json.dumps({what: result}), file=sys.stderr, flush=True)  # progress
                results[what].append(result)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
