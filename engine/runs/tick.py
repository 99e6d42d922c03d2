"""One campaign tick: expire leases, enroll, advance due enrollments, dispatch the outbox.
Each step is a plain call here; ``engine.runs.flows`` runs the same tick with each step as a
Prefect task (:class:`Steps`).

``dry_run`` enrolls and plans inside a transaction that is rolled back, and reports the
messages it would have planned: nothing is written, nothing is sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from channels.base import Channel
from engine.core.clock import Clock, system_clock
from engine.enrollments.enroll import Advanced, advance_due, enroll_audience
from engine.enrollments.progress import PlanMessages
from engine.outbox.dispatch import (
    PAUSED_BY_HAND,
    DispatchReport,
    dispatch,
    expire_leases,
    paused,
    resume,
)
from engine.outbox.reconcile import reconcile
from engine.runs.runtime import Runtime
from engine.runs.workers import WorkReport, fewer_collections, run_workers
from engine.store.database import Database
from engine.store.models import OutboxMessage

ADVANCE_BATCH = 1000


@dataclass
class TickSummary:
    """What one tick did, for the CLI, the flow's return value and the logs."""

    campaign: str
    at: datetime
    enrolled: int = 0
    advanced: int = 0
    planned: int = 0
    exited: int = 0
    errors: int = 0  # enrollments parked in ``error`` by this tick (a template failed)
    in_doubt: int = 0
    reconciled: int = 0  # in doubt, found sent at the provider (engine.outbox.reconcile)
    dispatch: DispatchReport = field(default_factory=DispatchReport)
    paused: str | None = None
    dry_run: bool = False
    preview: list[dict[str, Any]] = field(default_factory=list)

    def count(self, moved: Advanced) -> None:
        self.advanced, self.planned, self.exited = moved.advanced, moved.planned, moved.exited
        self.errors = moved.errors

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data


def expire_step(db: Database, rt: Runtime, clock: Clock) -> int:
    with db.session(immediate=True) as session:
        return expire_leases(session, now=clock(), sends=PlanMessages(rt))


def enroll_step(db: Database, rt: Runtime, campaign_id: str, clock: Clock) -> int:
    with db.session(immediate=True) as session:
        return enroll_audience(session, rt.workspace, campaign_id, now=clock())


def advance_step(db: Database, rt: Runtime, campaign_id: str, clock: Clock) -> Advanced:
    """Advance due enrollments batch by batch, one transaction per batch."""
    now, total = clock(), Advanced()
    while True:
        with db.session(immediate=True) as session:
            done = advance_due(session, rt, campaign_id, now=now, limit=ADVANCE_BATCH)
        total += done
        if done.advanced < ADVANCE_BATCH:
            return total


async def dispatch_step(
    db: Database, rt: Runtime, channels: Mapping[str, Channel], campaign_id: str, clock: Clock,
    batch_size: int, concurrency: int,
) -> DispatchReport:  # fmt: skip
    return await dispatch(
        db, rt, channels, campaign_id, clock=clock, batch_size=batch_size, concurrency=concurrency
    )


async def workers_step(
    _db: Database, rt: Runtime, campaign_id: str, clock: Clock, batch_size: int
) -> WorkReport:
    """Plan and send in ``NURTURE_TICK_SHARDS`` local processes (:mod:`engine.runs.workers`);
    in a flow run from a work pool, shard runs instead (:func:`engine.runs.shards.fan_out`)."""
    now = None if clock is system_clock else clock()
    return await run_workers(
        rt.config, campaign_id, now=now, processes=rt.config.tick_shards, batch_size=batch_size
    )


@dataclass(frozen=True)
class Steps:
    """How :func:`tick` runs each step: plain calls, or Prefect tasks (``engine.runs.flows``)."""

    expire: Callable[[Database, Runtime, Clock], int] = expire_step
    enroll: Callable[[Database, Runtime, str, Clock], int] = enroll_step
    advance: Callable[[Database, Runtime, str, Clock], Advanced] = advance_step
    dispatch: Callable[
        [Database, Runtime, Mapping[str, Channel], str, Clock, int, int],
        Awaitable[DispatchReport],
    ] = dispatch_step
    workers: Callable[[Database, Runtime, str, Clock, int], Awaitable[WorkReport]] = workers_step


PLAIN = Steps()


def pause_state(
    db: Database, campaign_id: str, *, now: datetime, resume_paused: bool
) -> str | None:
    with db.session(immediate=True) as session:
        if resume_paused and paused(session, campaign_id) != PAUSED_BY_HAND:
            resume(session, campaign_id, now=now)
        return paused(session, campaign_id)


async def tick(
    db: Database,
    rt: Runtime,
    channels: Mapping[str, Channel],
    campaign_id: str,
    *,
    clock: Clock,
    dry_run: bool = False,
    resume_paused: bool = False,
    concurrency: int = 4,
    batch_size: int = 500,
    steps: Steps = PLAIN,
) -> TickSummary:
    """Run one tick of ``campaign_id`` at ``clock()``."""
    now = clock()
    rt.campaign(campaign_id)  # an unknown campaign is an InputError before anything runs
    summary = TickSummary(campaign_id, now, dry_run=dry_run)
    if dry_run:
        return plan_preview(db, rt, campaign_id, summary)
    summary.in_doubt = steps.expire(db, rt, clock)
    summary.reconciled = await reconcile(db, rt, channels, campaign_id, now=now)
    summary.paused = pause_state(db, campaign_id, now=now, resume_paused=resume_paused)
    if summary.paused is not None:
        return summary
    summary.enrolled = steps.enroll(db, rt, campaign_id, clock)
    if rt.config.tick_shards > 1:
        work = await steps.workers(db, rt, campaign_id, clock, batch_size)
    else:
        with fewer_collections():
            done = steps.advance(db, rt, campaign_id, clock)
            sent = await steps.dispatch(
                db, rt, channels, campaign_id, clock, batch_size, concurrency
            )
        work = WorkReport(done, sent)
    summary.count(work.moved)
    summary.dispatch, summary.paused = work.dispatch, work.dispatch.paused
    return summary


def plan_preview(db: Database, rt: Runtime, campaign_id: str, summary: TickSummary) -> TickSummary:
    """Enroll and plan in a transaction that is rolled back; list what would be planned."""
    now = summary.at
    with db.sessions() as session:
        try:
            summary.enrolled = enroll_audience(session, rt.workspace, campaign_id, now=now)
            done = advance_due(session, rt, campaign_id, now=now, limit=10**9)
            summary.count(done)
            query = (
                select(OutboxMessage)
                .where(OutboxMessage.campaign == campaign_id, OutboxMessage.status == "planned")
                .order_by(OutboxMessage.due_at, OutboxMessage.id)
            )
            for row in session.scalars(query):
                summary.preview.append(_preview(row))
        finally:
            session.rollback()
    return summary


def _preview(row: OutboxMessage) -> dict[str, Any]:
    return {
        "to": row.to,
        "step": row.step_id,
        "variant": row.variant,
        "channel": row.channel,
        "subject": row.subject,
        "due_at": row.due_at.isoformat(),
    }
