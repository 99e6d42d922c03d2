"""One tick spread by Prefect over the workers of a work pool (``NURTURE_TICK_SHARDS``).

A tick that runs from a work pool (``nurture deploy --pool``) enrolls, then works in its
own process (shard 0) while it starts N-1 runs of the campaign's ``campaign-shard``
deployment on the same pool, which any worker of the pool picks up, on any machine. Each
shard plans a batch of due enrollments, dispatches what is due and again, until neither
finds work (:func:`engine.runs.workers.work`), so a shard that starts late or runs on a
slower machine simply does less. The shards share nothing but the database: the outbox
claim (``FOR UPDATE SKIP LOCKED``) keeps every message to one send whoever runs what.

Once the tick's own shard finds no more work, shard runs that no worker took yet are
cancelled (they would find none either; waiting could wait forever when every worker is
busy) and the tick waits for those that started.

A shard reports what it did as a table artifact of its flow run (visible in Prefect's UI),
which the tick reads back: results would otherwise need storage shared by every machine.
Without a work pool (``nurture run``, ``nurture serve``) the shards are local processes,
as ``NURTURE_TICK_PROCESSES`` ran them (:func:`engine.runs.workers.run_workers`).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import flow
from prefect.artifacts import acreate_table_artifact
from prefect.exceptions import ObjectNotFound

from engine.config import Config
from engine.core.clock import Clock, clock_from_option, system_clock
from engine.enrollments.enroll import Advanced
from engine.outbox.dispatch import DispatchReport
from engine.runs import observe
from engine.runs.preflight import refusal
from engine.runs.runtime import Runtime
from engine.runs.workers import WorkReport, fewer_collections, run_workers, work
from engine.store.database import Database
from sequences.errors import InputError

SHARD_FLOW = "campaign-shard"
POLL_SECONDS = 1.0  # how often the tick asks whether its shards ended


@flow(name=SHARD_FLOW)
async def campaign_shard(
    campaign: str,
    workspace: str | None = None,
    now: str | None = None,
    shard: int = 1,
    deployed: bool = False,
) -> dict[str, Any] | Any:
    """One shard of a tick of ``campaign``, started by the tick (:func:`fan_out`). A shard
    sends too: its worker checks what it needs first, as the tick's does (``deployed``)."""
    observe.send_logs_to_runs()
    if deployed and (refused := refusal(campaign, workspace, os.environ)) is not None:
        return refused  # a Failed shard run, listed in the tick's errors; nothing claimed
    config = Config.load(Path(workspace) if workspace else None)
    clock = clock_from_option(now)
    db = Database(config.database_url, migrate=False)  # the tick migrated it
    try:
        rt = Runtime.load(config)
        with fewer_collections():
            report = await work(db, rt, campaign, clock=clock)
    finally:
        db.dispose()
    await acreate_table_artifact(
        _rows(report), description=f"what shard {shard} of a tick of {campaign} did"
    )
    return asdict(report)


def _rows(report: WorkReport) -> list[dict[str, Any]]:
    return [{"part": "moved", **asdict(report.moved)},
            {"part": "dispatch", **asdict(report.dispatch)}]  # fmt: skip


def _report(rows: list[dict[str, Any]]) -> WorkReport:
    parts = {row.pop("part"): row for row in rows}
    return WorkReport(Advanced(**parts["moved"]), DispatchReport(**parts["dispatch"]))


def _tick_run() -> tuple[str | None, dict[str, Any]]:
    """The work pool of the flow run we are in (None outside one, or when it came from no
    pool: ``nurture run``/``serve``) and its parameters."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return None, {}
    return context.flow_run.work_pool_name, dict(context.flow_run.parameters)


async def fan_out(
    db: Database, rt: Runtime, campaign_id: str, clock: Clock, batch_size: int
) -> WorkReport:
    """The tick's ``workers`` step in a flow: ``NURTURE_TICK_SHARDS`` shards, this process
    and N-1 shard runs on the tick's work pool, or N local processes without a pool."""
    pool, parameters = _tick_run()
    if pool is None:
        now = None if clock is system_clock else clock()
        shards = rt.config.tick_shards
        return await run_workers(
            rt.config, campaign_id, now=now, processes=shards, batch_size=batch_size
        )
    from prefect.deployments.flow_runs import arun_deployment

    now_text = None if clock is system_clock else clock().isoformat()
    stamp = clock().strftime("%Y%m%dT%H%M%S")
    try:
        runs = [
            await arun_deployment(
                f"{SHARD_FLOW}/{campaign_id}",
                # the tick's own workspace parameter: a worker given none reads NURTURE_WORKSPACE
                parameters={
                    "campaign": campaign_id,
                    "workspace": parameters.get("workspace"),
                    "now": now_text,
                    "shard": shard,
                },
                flow_run_name=f"{campaign_id}-{stamp}-shard-{shard}",
                timeout=0,  # started, not awaited: this process works meanwhile
            )
            for shard in range(1, rt.config.tick_shards)
        ]
    except ObjectNotFound as exc:  # deployed by a nurture without shards
        raise InputError(
            f"NURTURE_TICK_SHARDS={rt.config.tick_shards} but {SHARD_FLOW}/{campaign_id} is not "
            f"deployed on the Prefect server: run `nurture deploy --pool {pool}` again"
        ) from exc
    with fewer_collections():
        total = await work(db, rt, campaign_id, clock=clock, batch_size=batch_size)
    ended = await _settle([run.id for run in runs])
    reports = await _shard_reports([run.id for run in ended if _completed(run)])
    for shard, run in enumerate(ended, start=1):
        if run.id in reports:
            total.add(reports[run.id])
        elif not _cancelled_unstarted(run):
            state = run.state.name if run.state else "unknown"
            total.dispatch.errors.append(
                f"shard {shard} ({run.name}) ended {state}: what it had claimed becomes "
                "in_doubt when its lease ends"
            )
    return total


UNSTARTED = "the tick's work was done before this shard started"


async def _settle(ids: list[UUID]) -> list[Any]:
    """Wait for the shard runs that started; cancel those no worker took yet. The tick's
    own shard found no more work, so a shard that has not started would find none either,
    and waiting for it could wait forever (every worker busy, or the pool's only worker
    running this very tick)."""
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled

    ended: dict[UUID, Any] = {}
    async with get_client() as client:
        while len(ended) < len(ids):
            for run_id in ids:
                if run_id in ended:
                    continue
                run = await client.read_flow_run(run_id)
                if run.state is not None and run.state.is_scheduled():
                    # refused (ABORT/REJECT) if a worker took it meanwhile: then we wait for it
                    await client.set_flow_run_state(run_id, Cancelled(message=UNSTARTED))
                    run = await client.read_flow_run(run_id)
                if run.state is not None and run.state.is_final():
                    ended[run_id] = run
            if len(ended) < len(ids):
                await asyncio.sleep(POLL_SECONDS)
    return [ended[run_id] for run_id in ids]


def _completed(run: Any) -> bool:
    return run.state is not None and run.state.is_completed()


def _cancelled_unstarted(run: Any) -> bool:
    return run.state is not None and run.state.is_cancelled() and run.state.message == UNSTARTED


async def _shard_reports(ids: list[UUID]) -> dict[UUID, WorkReport]:
    import json

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    if not ids:
        return {}
    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=ids))
        )
    return {a.flow_run_id: _report(json.loads(str(a.data))) for a in found if a.flow_run_id}


async def shard_deployments(
    config: Config, rt: Runtime, *, pool: str, entrypoint_type: Any = None
) -> list[Any]:
    """One ``campaign-shard`` deployment per campaign, on ``pool``, without a schedule: the
    campaign's tick starts its runs."""
    result = []
    for campaign_id in sorted(rt.workspace.campaigns):
        result.append(
            await campaign_shard.ato_deployment(
                name=campaign_id,
                parameters={"campaign": campaign_id, "workspace": str(config.workspace)},
                work_pool_name=pool,
                tags=["nurture", f"campaign:{campaign_id}", "shard"],
                **({"entrypoint_type": entrypoint_type} if entrypoint_type else {}),
            )
        )
    return result
