"""Prefect: one async flow per campaign tick, made of coarse batch tasks.

    campaign_tick(campaign)
      expire_leases  -> claims whose lease ran out become in_doubt
      enroll         -> the audience, in one INSERT ... SELECT
      advance        -> due enrollments, one transaction per 1,000
      dispatch       -> the outbox, in concurrent batches (never one task per message)
    or, with NURTURE_TICK_SHARDS=N, advance and dispatch in N shards: flow runs of
    campaign-shard on the tick's work pool (engine.runs.shards), else local processes

Tasks retry only on transient errors (a locked or lost database connection, a provider's
429/5xx that escaped the channel's own retries); a definition or configuration error
fails the run at once. Prefect is imported here and in ``engine.runs.shards`` only, so the
engine runs without it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from sqlalchemy.exc import DBAPIError, OperationalError

from channels.base import Channel
from channels.errors import TransientError
from engine.config import Config
from engine.core.clock import Clock, clock_from_option
from engine.outbox.adapters import build_channels, close_channels
from engine.runs import observe
from engine.runs.preflight import refusal
from engine.runs.runtime import Runtime
from engine.runs.shards import fan_out, shard_deployments
from engine.runs.tick import (
    Steps,
    TickSummary,
    advance_step,
    dispatch_step,
    enroll_step,
    expire_step,
    tick,
)
from engine.store.database import Database

TRANSIENT = (OperationalError, TransientError, TimeoutError, ConnectionError)


def transient_only(_task: Any, _run: Any, state: Any) -> bool:
    """Prefect's retry condition: retry a task only when it failed on a transient error."""
    error = state.data
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, TRANSIENT)


RETRY_DELAYS: list[float] = [2, 10, 30]


def _retried(name: str, fn: Any) -> Any:
    """``fn`` as a task retried on transient errors (each step's work is committed batch by
    batch, so a retry carries on where it stopped)."""
    return task(name=name, retries=len(RETRY_DELAYS), retry_delay_seconds=RETRY_DELAYS,
                retry_condition_fn=transient_only, cache_policy=NO_CACHE)(fn)  # fmt: skip


TASKS = Steps(
    expire=_retried("expire-leases", expire_step),
    enroll=_retried("enroll", enroll_step),
    advance=_retried("advance", advance_step),
    dispatch=_retried("dispatch", dispatch_step),
    workers=fan_out,  # not a task: its shards are flow runs of their own, or processes
)


async def run_tick(
    db: Database,
    rt: Runtime,
    channels: Mapping[str, Channel],
    campaign: str,
    clock: Clock,
    *,
    resume: bool = False,
) -> TickSummary:
    """:func:`engine.runs.tick.tick` with its steps as Prefect tasks (inside a flow run);
    ``resume`` lifts a pause."""
    return await tick(db, rt, channels, campaign, clock=clock, resume_paused=resume, steps=TASKS)


def _leave_ctrl_c_to_the_runner() -> None:
    """In a flow-run process that a runner spawned (``nurture serve``), ignore SIGINT.

    Ctrl-C at a terminal reaches the whole process group; the runner decides how its flow
    runs stop, and a dispatch in flight still stops gracefully (it installs its own SIGINT
    handler for the time it sends). Left at Python's default, a Ctrl-C landing as the
    process exits prints a KeyboardInterrupt traceback from Prefect's shutdown."""
    if multiprocessing.parent_process() is not None and (
        threading.current_thread() is threading.main_thread()
    ):
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@flow(name="campaign-tick", log_prints=True, flow_run_name=observe.run_name)
async def campaign_tick(
    campaign: str,
    workspace: str | None = None,
    now: str | None = None,
    resume: bool = False,
    deployed: bool = False,
) -> dict[str, Any] | Any:
    """One tick of ``campaign``: what a deployment runs on the campaign's cron schedule.

    Scheduled runs leave a paused campaign paused; ``nurture run`` (``resume``) lifts a pause
    after a channel error, not one made by hand (see ``engine.outbox.dispatch.PAUSED_BY_HAND``).
    ``deployed`` (set by ``nurture deploy``): the worker checks what it needs first, and a
    tick that did not do its work ends Failed or Cancelled (``engine.runs.observe``)."""
    _leave_ctrl_c_to_the_runner()
    observe.send_logs_to_runs()
    if deployed and (refused := refusal(campaign, workspace, os.environ)) is not None:
        return refused  # a Failed run saying why in one line: nothing opened or claimed
    config = Config.load(Path(workspace) if workspace else None)
    clock = clock_from_option(now)  # a bad --now fails before anything is opened
    db = Database(config.database_url)
    channels = build_channels(config, clock)
    try:
        rt = Runtime.load(config)
        summary = await run_tick(db, rt, channels, campaign, clock, resume=resume)
    finally:
        await close_channels(channels)
        db.dispose()
    return await observe.final_state(summary, deployed=deployed)


async def deployments(
    config: Config, rt: Runtime, *, pool: str | None = None, entrypoint_type: Any = None
) -> list[Any]:
    """One deployment per campaign, on the campaign's cron schedule and time zone (async:
    Prefect's ``to_deployment`` returns a coroutine when called inside an event loop)."""
    from prefect.schedules import Cron

    result = []
    for campaign_id, campaign in sorted(rt.workspace.campaigns.items()):
        schedule = Cron(campaign.schedule.cron, timezone=campaign.schedule.timezone)
        result.append(
            await campaign_tick.ato_deployment(
                name=campaign_id,
                schedules=[schedule],
                parameters={"campaign": campaign_id, "workspace": str(config.workspace)},
                work_pool_name=pool,
                tags=["nurture", f"campaign:{campaign_id}"],
                concurrency_limit=1,
                **({"entrypoint_type": entrypoint_type} if entrypoint_type else {}),
            )
        )
    if pool is not None:  # the runs a tick spreads over the pool's workers (NURTURE_TICK_SHARDS)
        result += await shard_deployments(config, rt, pool=pool, entrypoint_type=entrypoint_type)
    return result
