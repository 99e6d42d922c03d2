"""A tick's planning and sending spread over processes (``NURTURE_TICK_PROCESSES``).

One Python process sends about as fast as one core runs httpx; a tick with
``NURTURE_TICK_PROCESSES=N`` (N > 1) enrolls in its own process, then starts N workers::

    python -m engine.runs.workers CAMPAIGN --workspace DIR [--now ISO] [--batch-size N]

Each worker plans a batch of due enrollments, dispatches what is due, and again, until
neither finds work; then it prints what it did as one JSON line. While one worker holds
the database to plan, the others send. They share nothing but the database: the claim
protocol that lets dispatchers on several machines run at once (``FOR UPDATE SKIP LOCKED``
on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) keeps every message to one send. A worker
builds its channels from the configuration, so the tick's own channels are not used.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.config import Config
from engine.core.clock import Clock, clock_from_option
from engine.enrollments.enroll import Advanced, advance_due
from engine.outbox.adapters import build_channels, close_channels
from engine.outbox.dispatch import DispatchReport, dispatch
from engine.runs.runtime import Runtime
from engine.store.database import Database


@dataclass
class WorkReport:
    """What one or more workers did: the tick adds these to its summary."""

    moved: Advanced = field(default_factory=Advanced)
    dispatch: DispatchReport = field(default_factory=DispatchReport)

    def add(self, other: WorkReport) -> None:
        self.moved += other.moved
        self.dispatch.add(other.dispatch)

    @classmethod
    def from_json(cls, line: str) -> WorkReport:
        data: dict[str, Any] = json.loads(line)
        return cls(Advanced(**data["moved"]), DispatchReport(**data["dispatch"]))


_collecting: list[tuple[int, int, int]] = []  # the threshold each running tick found


def freeze_heap() -> None:
    """For a process entry point that ticks (``nurture run``/``serve``, a worker), once its
    runtime is loaded: everything alive now (Prefect, SQLAlchemy, the workspace) lives as
    long as the process, so freeze it out of the cyclic collector, whose full passes would
    otherwise walk it again and again while a tick churns through rows.
    A library call never does this: the process is not its own."""
    gc.freeze()


@contextmanager
def fewer_collections(young: int = 10_000) -> Iterator[None]:
    """Run CPython's cycle collector less often while a tick works.

    A tick allocates each batch's rows, contexts and payloads, and reference counting frees
    them: the collector finds almost nothing, yet at the default threshold (700 new
    objects) it runs many times per batch. A higher one runs it far less often, at no cost
    in memory (``benchmarks/engine.py``; figures in benchmarks/README.md). Ticks that overlap
    in one process (``nurture serve``) put the first one's threshold back when the last ends.
    """
    _collecting.append(gc.get_threshold())
    gc.set_threshold(young, *_collecting[0][1:])
    try:
        yield
    finally:
        gc.set_threshold(*_collecting.pop())


async def work(
    db: Database, rt: Runtime, campaign_id: str, *, clock: Clock, batch_size: int = 500
) -> WorkReport:
    """Plan a batch, dispatch what is due, and again until neither finds work."""
    report = WorkReport()
    channels = build_channels(rt.config, clock)
    try:
        while report.dispatch.paused is None:
            with db.session(immediate=True) as session:
                done = advance_due(session, rt, campaign_id, now=clock(), limit=batch_size)
            report.moved += done
            sent = await dispatch(db, rt, channels, campaign_id, clock=clock, batch_size=batch_size)
            report.dispatch.add(sent)
            if done.advanced == 0 and sent.claimed == 0:
                return report
    finally:
        await close_channels(channels)
    return report


async def run_workers(
    config: Config, campaign_id: str, *, now: datetime | None, processes: int, batch_size: int
) -> WorkReport:
    """Run ``processes`` workers at once and add up their reports. ``now`` freezes their
    clock (``--now``); None leaves them the system clock. A worker that fails is reported
    in ``dispatch.errors``: what it had claimed becomes ``in_doubt`` when its lease ends."""
    command = [sys.executable, "-m", "engine.runs.workers", campaign_id,
               "--workspace", str(config.workspace), "--batch-size", str(batch_size)]  # fmt: skip
    if now is not None:
        command += ["--now", now.isoformat()]
    children = [
        await asyncio.create_subprocess_exec(
            *command, env=dict(config.env), stdout=asyncio.subprocess.PIPE
        )
        for _ in range(processes)
    ]
    outputs = await asyncio.gather(*(child.communicate() for child in children))
    total = WorkReport()
    for child, (out, _) in zip(children, outputs, strict=True):
        lines = out.decode().strip().splitlines()
        if child.returncode != 0 or not lines:
            total.dispatch.errors.append(f"a tick worker exited with status {child.returncode}")
            continue
        total.add(WorkReport.from_json(lines[-1]))
    return total


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One worker of a campaign tick.")
    parser.add_argument("campaign")
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--now")
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args(argv)
    config = Config.load(Path(args.workspace))
    clock = clock_from_option(args.now)
    db = Database(config.database_url, migrate=False)
    try:
        rt = Runtime.load(config)
        freeze_heap()
        with fewer_collections():
            report = asyncio.run(
                work(db, rt, args.campaign, clock=clock, batch_size=args.batch_size)
            )
    finally:
        db.dispose()
    print(json.dumps(asdict(report)), flush=True)


if __name__ == "__main__":
    main()
