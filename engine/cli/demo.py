"""``nurture demo``: watch a recruiting campaign happen over simulated weeks."""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TimeElapsedColumn


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    workspace: Annotated[
        Path | None,
        typer.Option("--workspace", "-w", help="Folder for the demo workspace (kept)."),
    ] = None,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the temporary workspace afterwards.")
    ] = False,
    seed: Annotated[
        int, typer.Option(help="Seed of the simulated people (same seed, same outcome).")
    ] = 1,
) -> None:
    """Run a recruiting campaign over three simulated weeks: sends, replies, a funnel."""
    from engine.runs.prefect_server import prefect_api, sigterm_interrupts

    console = Console()
    root = workspace or Path(tempfile.mkdtemp(prefix="nurture-demo-"))
    try:
        kept = workspace is not None or keep
        with sigterm_interrupts(), prefect_api():  # the same temporary server as `nurture run`
            asyncio.run(_demo(console, root.resolve(), seed, kept=kept))
    finally:
        if workspace is None and not keep:
            shutil.rmtree(root, ignore_errors=True)
        elif workspace is None:
            console.print(f"workspace kept in {root}")


async def _demo(console: Console, root: Path, seed: int, *, kept: bool) -> None:
    from engine.cli.scaffold import prepare_workspace
    from engine.demo.simulation import CAMPAIGN, DAYS, Simulation

    started = time.perf_counter()
    prepare_workspace(root)
    console.rule("[bold]nurture demo[/bold]: people first, candidates later")
    console.print(f"workspace  {root}  (copied from examples/recruiting)")
    sim = Simulation(root, seed)
    try:
        console.print(f"talents    {sim.import_talents()} imported from talents.csv")
        console.print(
            f"campaign   {CAMPAIGN}: {DAYS} simulated days as Prefect flow runs; "
            "messages go to outbox/ (file channel)"
        )
        tick = _prefect_tick(sim)
        with Progress(
            "[progress.description]{task.description}", BarColumn(), TimeElapsedColumn(),
            console=console, transient=True,
        ) as bar:  # fmt: skip
            task = bar.add_task("starting Prefect", total=1.0)

            def progress(done: float) -> None:
                day = sim.clock().strftime("%a %d %b %H:%M UTC")
                bar.update(task, completed=done, description=f"simulating {day}")

            await sim.run(tick, progress)
        _summary(console, sim, time.perf_counter() - started, kept=kept)
    finally:
        await sim.aclose()


def _prefect_tick(sim: Any) -> Any:
    """A Prefect flow running one campaign tick with the simulation's engine objects."""
    from prefect import flow

    from engine.core.clock import clock_from_option
    from engine.runs.flows import run_tick

    for name in ("prefect", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)

    @flow(name="campaign-tick", persist_result=False)
    async def campaign_tick(campaign: str, now: str) -> dict[str, Any]:
        summary = await run_tick(sim.db, sim.rt, sim.channels, campaign, clock_from_option(now))
        return summary.as_dict()

    return campaign_tick


def _summary(console: Console, sim: Any, elapsed: float, *, kept: bool) -> None:
    from sqlalchemy import select

    from engine.cli.replies import funnel_table
    from engine.cli.talents import print_talent
    from engine.demo.simulation import CAMPAIGN
    from engine.reports.funnel import funnel
    from engine.store.models import Engagement, Talent
    from engine.talents.privacy import export

    outbox = sim.config.workspace / "outbox"
    console.print(
        f"done       {sim.result.ticks} ticks, {sim.result.webhooks} signed webhooks, "
        f"{len(list(outbox.iterdir())) if outbox.exists() else 0} messages in outbox/, "
        f"{elapsed:.0f} s"
    )
    with sim.db.session() as session:
        console.print(funnel_table(funnel(session, CAMPAIGN), CAMPAIGN))
        candidate = session.scalar(select(Talent.email).where(Talent.stage == "candidate"))
        opted_out = session.scalar(  # who chose to (a bounce opts an address out too)
            select(Talent.email)
            .join(Engagement, Engagement.talent_id == Talent.id)
            .where(Engagement.kind.in_(("unsubscribed", "opted_out")))
            .order_by(Engagement.id)
            .limit(1)
        )
        for title, email in (("became a candidate", candidate), ("opted out", opted_out)):
            if email:
                console.rule(f"{email}: {title}")
                print_talent(console, export(session, email))
    explore(console, sim.config.workspace if kept else None, candidate)


def explore(console: Console, workspace: Path | None, email: str | None) -> None:
    """Commands to look around the demo's workspace; ``None``: it is deleted on exit."""
    from engine.demo.simulation import CAMPAIGN

    console.rule("explore further")
    if workspace is None:
        console.print("  this workspace is deleted now; keep one with `nurture demo --keep`, then:",
                      highlight=False, soft_wrap=True)  # fmt: skip
    ws = f"--workspace {workspace or 'DIR'}"
    for command in (
        f"nurture {ws} report {CAMPAIGN}",
        f"nurture {ws} outbox list",
        f"nurture {ws} tasks list",
        f"nurture {ws} talents show {email or 'EMAIL'}",
        f"nurture {ws} graph backend-outbound --format mermaid",
        f"nurture {ws} users add you@example.com",
        f"nurture {ws} serve --no-schedules",
    ):
        console.print(f"  {command}", highlight=False, soft_wrap=True)
    console.print("  then open the recruiter's desk: http://127.0.0.1:8000/", highlight=False)
