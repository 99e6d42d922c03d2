"""One campaign tick without Prefect: expire leases, enroll, advance due enrollments,
dispatch the outbox. ``engine.flows`` runs the same steps as Prefect tasks.

``dry_run`` enrolls and plans inside a transaction that is rolled back, and reports the
messages it would have planned: nothing is written, nothing is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from channels.base import Channel
from engine.clock import Clock, system_clock
from engine.db import Database
from engine.enrollments import advance_due, enroll_audience
from engine.models import OutboxMessage
from engine.outbox import DispatchReport, dispatch, expire_leases, paused, resume
from engine.runtime import Runtime
from engine.workers import run_workers

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
    in_doubt: int = 0
    dispatch: DispatchReport = field(default_factory=DispatchReport)
    paused: str | None = None
    dry_run: bool = False
    preview: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data


def expire_step(db: Database, rt: Runtime, *, now: datetime) -> int:
    with db.session(immediate=True) as session:
        return expire_leases(session, now=now, rt=rt)


def enroll_step(db: Database, rt: Runtime, campaign_id: str, *, now: datetime) -> int:
    with db.session(immediate=True) as session:
        return enroll_audience(session, rt.workspace, campaign_id, now=now)


def advance_step(
    db: Database, rt: Runtime, campaign_id: str, *, now: datetime, summary: TickSummary
) -> None:
    """Advance due enrollments batch by batch, one transaction per batch."""
    while True:
        with db.session(immediate=True) as session:
            done = advance_due(session, rt, campaign_id, now=now, limit=ADVANCE_BATCH)
        summary.advanced += done.advanced
        summary.planned += done.planned
        summary.exited += done.exited
        if done.advanced < ADVANCE_BATCH:
            return


def pause_state(
    db: Database, campaign_id: str, *, now: datetime, resume_paused: bool
) -> str | None:
    with db.session(immediate=True) as session:
        if resume_paused:
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
) -> TickSummary:
    """Run one tick of ``campaign_id`` at ``clock()``."""
    now = clock()
    rt.campaign(campaign_id)  # an unknown campaign is an InputError before anything runs
    summary = TickSummary(campaign_id, now, dry_run=dry_run)
    if dry_run:
        return plan_preview(db, rt, campaign_id, summary)
    summary.in_doubt = expire_step(db, rt, now=now)
    summary.paused = pause_state(db, campaign_id, now=now, resume_paused=resume_paused)
    if summary.paused is not None:
        return summary
    summary.enrolled = enroll_step(db, rt, campaign_id, now=now)
    if rt.config.tick_processes > 1:
        await workers_step(rt, campaign_id, clock=clock, summary=summary, batch_size=batch_size)
        return summary
    advance_step(db, rt, campaign_id, now=now, summary=summary)
    summary.dispatch = await dispatch(
        db, rt, channels, campaign_id, clock=clock, batch_size=batch_size, concurrency=concurrency
    )
    summary.paused = summary.dispatch.paused
    return summary


async def workers_step(
    rt: Runtime, campaign_id: str, *, clock: Clock, summary: TickSummary, batch_size: int = 500
) -> None:
    """Plan and send in ``NURTURE_TICK_PROCESSES`` worker processes (:mod:`engine.workers`)."""
    now = None if clock is system_clock else clock()
    done = await run_workers(
        rt.config, campaign_id, now=now, processes=rt.config.tick_processes, batch_size=batch_size
    )
    summary.advanced, summary.planned, summary.exited = done.advanced, done.planned, done.exited
    summary.dispatch, summary.paused = done.dispatch, done.dispatch.paused


def plan_preview(db: Database, rt: Runtime, campaign_id: str, summary: TickSummary) -> TickSummary:
    """Enroll and plan in a transaction that is rolled back; list what would be planned."""
    now = summary.at
    with db.sessions() as session:
        try:
            summary.enrolled = enroll_audience(session, rt.workspace, campaign_id, now=now)
            done = advance_due(session, rt, campaign_id, now=now, limit=10**9)
            summary.advanced, summary.planned, summary.exited = (
                done.advanced, done.planned, done.exited)  # fmt: skip
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
