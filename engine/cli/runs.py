"""``nurture run|serve|deploy|migrate``: running campaigns from the command line."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from engine.cli.options import NowOption
from sequences.errors import InputError

if TYPE_CHECKING:
    from engine.config import Config
    from engine.core.clock import Clock
    from engine.runs.runtime import Runtime
    from engine.runs.tick import TickSummary

# Each command imports the engine when it runs: `nurture --help` loads none of it.


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("serve")(serve)
    app.command("deploy")(deploy)
    app.command("migrate")(migrate)


def run(
    ctx: typer.Context,
    campaign: Annotated[str, typer.Argument(help="Campaign id (see campaigns/*.yaml).")],
    now: NowOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Plan and print; write nothing, send nothing.")
    ] = False,
    prefect: Annotated[
        bool, typer.Option(help="Run the tick as a Prefect flow (ephemeral, nothing to start).")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run one tick of a campaign now: enroll, advance, send, expire leases.

    A pause after a channel error is lifted (the configuration is fixed, presumably); a
    pause by hand is not: `nurture campaigns resume CAMPAIGN` lifts it."""
    from engine.core.clock import clock_from_option
    from engine.enrollments.enroll import trigger_event
    from engine.runs.runtime import Runtime
    from engine.runs.workers import freeze_heap

    clock = clock_from_option(now)
    rt = Runtime.load(ctx.obj.config, dry_run=dry_run)
    freeze_heap()
    event = trigger_event(rt.workspace.sequences[rt.campaign(campaign).sequence])
    if dry_run and (missing := _missing_sqlite_file(ctx.obj.config.database_url)):
        ctx.obj.console.print(f"nothing to plan: no talent base at {missing} yet "
                              "(nurture talents import FILE.csv)")  # fmt: skip
        return
    if prefect and not dry_run:
        summary = _prefect_tick(ctx.obj.config, campaign, now)
    else:
        summary = _tick(ctx, rt, campaign, clock, dry_run=dry_run).as_dict()
    _print_summary(ctx.obj.console, summary, as_json=as_json)
    if event and not as_json:
        ctx.obj.console.print(f"inbound: people enter through its trigger {event!r} "
                              "(POST /api/events), never from the talent base")  # fmt: skip
    if code := _exit_code(summary["dispatch"]):
        raise typer.Exit(code)


def _exit_code(sent: dict[str, Any]) -> int:
    """Not 0 when the tick did not finish its work: stopped by a signal (128 + its number,
    as a shell reports it), or receipts that could not be written (1)."""
    import signal

    if sent.get("stopped"):
        return 128 + int(signal.Signals[sent["stopped"]])
    return 1 if sent.get("unrecorded") else 0


def _prefect_tick(config: Config, campaign: str, now: str | None) -> dict[str, Any]:
    """One tick as a Prefect flow run; a temporary Prefect server unless PREFECT_API_URL is
    set, never left behind (not on error, SIGTERM or Ctrl-C either)."""
    from engine.outbox.adapters import check_public_url
    from engine.runs.prefect_server import prefect_api, sigterm_interrupts

    check_public_url(config)  # here, not inside the flow: one line, no Prefect traceback
    with sigterm_interrupts(), prefect_api():
        from engine.runs.flows import campaign_tick

        data: dict[str, Any] = asyncio.run(
            campaign_tick(campaign, str(config.workspace), now, True)
        )
    return data


def _missing_sqlite_file(url: str) -> Path | None:
    """The SQLite file ``url`` names when it does not exist (a dry run does not create it)."""
    from engine.store.dialect import sqlite_file

    path = sqlite_file(url)
    return None if path is None or path.exists() else path


def _tick(
    ctx: typer.Context, rt: Runtime, campaign: str, clock: Clock, *, dry_run: bool
) -> TickSummary:
    from engine.outbox.adapters import build_channels, close_channels
    from engine.runs.tick import tick

    async def once() -> TickSummary:
        channels = {} if dry_run else build_channels(ctx.obj.config, clock)
        try:
            return await tick(ctx.obj.db, rt, channels, campaign, clock=clock, dry_run=dry_run,
                              resume_paused=True)  # fmt: skip
        finally:
            await close_channels(channels)

    return asyncio.run(once())


def _print_summary(console: Console, summary: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(summary, default=str))
        return
    sent = summary["dispatch"]
    label = " (dry run: nothing written or sent)" if summary["dry_run"] else ""
    console.print(f"[bold]{summary['campaign']}[/] at {summary['at']}{label}")
    console.print(
        f"enrolled {summary['enrolled']}, advanced {summary['advanced']}, planned "
        f"{summary['planned']}, exited {summary['exited']}; sent {sent['sent']}, deferred "
        f"{sent['deferred']}, retried {sent['retried']}, failed {sent['failed']}, cancelled "
        f"{sent['cancelled']}, in doubt "
        f"{summary['in_doubt'] + sent['in_doubt'] + sent.get('unrecorded', 0)}"
    )
    if sent.get("stopped"):
        console.print(
            f"[yellow]stopped by {sent['stopped']}:[/] the requests in flight finished and "
            f"were recorded; {sent['released']} claimed message(s) went back to the queue "
            "for the next run"
        )
    if sent.get("unrecorded"):
        console.print(
            f"[red]error:[/] {sent['unrecorded']} message(s) went to the provider but their "
            "receipts could not be written (the database failed): they are in doubt until "
            "their lease expires and a provider event or `nurture outbox settle` settles them"
        )
    if summary.get("errors"):
        console.print(
            f"[yellow]warning:[/] {summary['errors']} enrollment(s) of {summary['campaign']} in"
            " error (a template failed for that talent; the others went on): see nurture report"
        )
    if summary["paused"]:
        console.print(f"[red]paused:[/] {summary['paused']}")
    if summary["preview"]:
        table = Table("due", "to", "step", "variant", "subject")
        for row in summary["preview"]:
            table.add_row(row["due_at"], row["to"], row["step"], row["variant"] or "",
                          row["subject"] or "")  # fmt: skip
        console.print(table)


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address the webhook app listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the webhook app.")] = 8000,
    schedules: Annotated[
        bool, typer.Option(help="Run every campaign on its cron schedule (Prefect).")
    ] = True,
) -> None:
    """Serve the webhook app, and every campaign on its cron schedule (a temporary Prefect
    server unless PREFECT_API_URL is set). SIGTERM or Ctrl-C stops both gracefully."""
    import uvicorn

    from engine.core.clock import system_clock
    from engine.runs.runtime import Runtime
    from engine.runs.workers import freeze_heap
    from engine.web.app import create_app, redact_access_log

    config = ctx.obj.config
    app = create_app(config, ctx.obj.db, system_clock)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info"))
    redact_access_log()  # after uvicorn.Config, which configures its loggers
    if not schedules:
        asyncio.run(_serve_web(server))
        return
    from engine.outbox.adapters import check_public_url
    from engine.runs.prefect_server import prefect_api, sigterm_interrupts

    check_public_url(config)  # every scheduled tick would fail on it
    rt = Runtime.load(config)
    freeze_heap()
    with sigterm_interrupts(), prefect_api(scheduler=True):
        asyncio.run(_serve_scheduled(ctx.obj.console, server, config, rt))


async def _serve_web(server: Any) -> None:
    """The web app alone; a signal is a clean stop (exit 0), not re-raised by uvicorn."""
    web = asyncio.create_task(server.serve())
    await asyncio.sleep(0)  # the server began and set its signal handlers: replace them
    _stop_on_signals(server)
    await web


async def _serve_scheduled(console: Console, server: Any, config: Config, rt: Runtime) -> None:
    """The web app and a Prefect runner that starts each campaign's ticks on its cron; a
    signal stops the web app, then the runner (which stops its flow runs)."""
    from prefect.runner import Runner

    from engine.runs.flows import deployments

    runner = Runner(name="nurture-serve")
    for deployment in await deployments(config, rt):
        await runner.aadd_deployment(deployment)
        cron = deployment.schedules[0].schedule
        console.print(f"campaign {deployment.name}: a tick on {cron.cron} ({cron.timezone})")
    console.print(f"webhook app on http://{server.config.host}:{server.config.port}")
    web = asyncio.create_task(server.serve())
    polling = asyncio.create_task(runner.start())
    await asyncio.sleep(0)  # both tasks began and set their signal handlers: replace them
    _stop_on_signals(server)
    try:
        await web
    finally:  # bounded: a server already gone (killed with its cgroup) must not hang us
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            if runner.started:
                await asyncio.wait_for(runner.astop(), timeout=10)
            await asyncio.wait_for(polling, timeout=30)


def _stop_on_signals(server: Any) -> None:
    """SIGINT and SIGTERM ask uvicorn to shut down, without its re-raising the signal after
    (which would kill the process before the runner and the Prefect server are stopped)."""
    import signal

    def stop(_signal: int, _frame: Any) -> None:
        server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)


def deploy(
    ctx: typer.Context,
    pool: Annotated[str, typer.Option("--pool", help="Prefect work pool (type: process).")],
    workspace_dir: Annotated[
        str | None,
        typer.Option(
            "--workspace-dir",
            help="Where the workers find the workspace (a shared mount or each machine's "
            "checkout); default: this workspace's own path.",
        ),
    ] = None,
) -> None:
    """Register one deployment per campaign on the Prefect server (PREFECT_API_URL); the
    talent base must be PostgreSQL, shared by the workers of every machine.

    Deploying again updates the deployments and keeps what an operator paused on the
    server. A deployed tick's worker refuses to run without NURTURE_DATABASE_URL, without
    the workspace, or without the provider keys its campaign needs."""
    import httpx
    from prefect.client.orchestration import get_client
    from prefect.deployments.runner import adeploy
    from prefect.settings import PREFECT_API_URL
    from prefect.types.entrypoint import EntrypointType

    from engine.runs.flows import deployments
    from engine.runs.prefect_server import prefect_api
    from engine.runs.runtime import Runtime
    from engine.runs.schedules import FLOW_NAME as TICK_FLOW
    from engine.runs.schedules import keep_pause_state

    config = ctx.obj.config
    _check_deployable(config, PREFECT_API_URL.value())
    rt = Runtime.load(config)

    async def register() -> list[Any]:
        found = await deployments(config, rt, pool=pool,
                                  entrypoint_type=EntrypointType.MODULE_PATH)  # fmt: skip
        async with get_client() as client:
            for deployment in found:
                deployment.parameters["deployed"] = True  # engine.runs.preflight
                if workspace_dir:
                    deployment.parameters["workspace"] = workspace_dir
                if deployment.flow_name == TICK_FLOW:  # shards have no schedule to keep
                    await keep_pause_state(client, deployment)
        ids = await adeploy(*found, work_pool_name=pool, build=False, push=False,
                            print_next_steps_message=False, ignore_warnings=True)  # fmt: skip
        return list(zip(found, ids, strict=True))

    try:
        with prefect_api():
            registered = asyncio.run(register())
    except (httpx.HTTPError, RuntimeError, ValueError) as exc:
        raise InputError(f"could not deploy to the Prefect server at {PREFECT_API_URL.value()}: "
                         f"{_one_line(exc)}") from exc  # fmt: skip
    for deployment, deployment_id in registered:
        paused = deployment.paused or (
            bool(deployment.schedules) and not any(s.active for s in deployment.schedules)
        )
        state = " (paused, as it was)" if paused else ""
        ctx.obj.console.print(f"deployed {deployment.full_name} ({deployment_id}){state}")
    ctx.obj.console.print(f"start a worker on each machine: prefect worker start --pool {pool}")


def _check_deployable(config: Config, api_url: str | None) -> None:
    """Workers on other machines need a Prefect server to poll and one shared talent base."""
    from engine.store.dialect import shared_by_machines

    if not api_url:
        raise InputError(
            "nurture deploy registers on a Prefect server: set PREFECT_API_URL "
            "(e.g. http://prefect.internal:4200/api); nurture serve needs none"
        )
    if not shared_by_machines(config.database_url):
        raise InputError(
            "workers on several machines need one shared talent base: set "
            "NURTURE_DATABASE_URL to PostgreSQL (postgresql+psycopg://...), not SQLite"
        )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def migrate(
    ctx: typer.Context,
    campaign: Annotated[str, typer.Argument(help="Campaign id.")],
    now: NowOption = None,
) -> None:
    """Move in-flight enrollments to the sequence's current version where their step exists,
    and retry enrollments in error (after fixing the template or the talent's data)."""
    from engine.core.clock import clock_from_option
    from engine.enrollments.enroll import migrate as migrate_enrollments
    from engine.runs.runtime import Runtime

    rt = Runtime.load(ctx.obj.config)
    rt.campaign(campaign)
    with ctx.obj.db.session(immediate=True) as session:
        result = migrate_enrollments(session, rt.workspace, campaign, now=clock_from_option(now)())
    console: Console = ctx.obj.console
    console.print(f"moved {result.moved} enrollment(s) to the current version")
    if result.retried:
        console.print(f"retried {result.retried} enrollment(s) in error: the next tick sends them")
    for enrollment_id, why in result.kept:
        console.print(f"kept enrollment {enrollment_id} on its version: {why}")
