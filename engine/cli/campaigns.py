"""``nurture campaigns list|pause|resume``: the campaigns of the workspace and their state.

A campaign paused here stays paused: its scheduled ticks and ``nurture run`` enroll, plan
and send nothing until ``nurture campaigns resume``. With ``PREFECT_API_URL`` set, its Prefect
deployment (``nurture deploy``) is paused and resumed with it. Heavy imports stay inside the
commands, so ``nurture --help`` stays fast.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from engine.cli.options import NowOption

campaigns = typer.Typer(help="List campaigns, pause and resume them.")
CampaignArgument = Annotated[str, typer.Argument(help="Campaign id (see campaigns/*.yaml).")]


def register(app: typer.Typer) -> None:
    app.add_typer(campaigns, name="campaigns")


@campaigns.command("list")
def list_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the campaigns as JSON.")] = False,
) -> None:
    """Every campaign: its sequence, kind, state, enrollments and last activity."""
    from engine.reports.campaigns import campaign_overview
    from engine.runs.runtime import Runtime

    rt = Runtime.load(ctx.obj.config)
    with ctx.obj.db.session() as session:
        rows = campaign_overview(session, rt.workspace)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    console = ctx.obj.console
    console.print(_table(rows))
    for row in rows:
        if row["reason"] is not None:
            console.print(f"{row['campaign']} is paused: {row['reason']}", highlight=False)


def _table(rows: list[dict[str, Any]]) -> Table:
    table = Table(box=None, header_style="bold underline", padding=(0, 1), pad_edge=False)
    # Whole ids (the other commands take them) even on a narrow terminal; names may shrink.
    widest = max((len(row["campaign"]) for row in rows), default=8)
    table.add_column("campaign", no_wrap=True, min_width=widest)
    table.add_column("sequence", no_wrap=True, overflow="ellipsis", max_width=18)
    table.add_column("kind", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("enrolled", justify="right", min_width=8)
    table.add_column("active", justify="right", min_width=6)
    table.add_column("last activity", no_wrap=True, min_width=16)
    for row in rows:
        last = (row["last_activity_at"] or "")[:16].replace("T", " ")
        counts = str(row["enrolled"]), str(row["active"])
        table.add_row(row["campaign"], row["sequence"], row["kind"], row["status"], *counts, last)
    return table


@campaigns.command("pause")
def pause_command(ctx: typer.Context, campaign: CampaignArgument, now: NowOption = None) -> None:
    """Pause a campaign: no enrolling, planning or sending until it is resumed."""
    from engine.core.clock import clock_from_option
    from engine.outbox.dispatch import PAUSED_BY_HAND, pause, paused
    from engine.runs.runtime import Runtime

    Runtime.load(ctx.obj.config).campaign(campaign)  # an unknown id fails here
    with ctx.obj.db.session(immediate=True) as session:
        if paused(session, campaign) == PAUSED_BY_HAND:
            ctx.obj.console.print(f"{campaign} is already paused")
            return
        pause(session, campaign, PAUSED_BY_HAND, now=clock_from_option(now)())
    ctx.obj.console.print(f"{campaign} paused: its ticks send nothing until "
                          f"`nurture campaigns resume {campaign}`", highlight=False)  # fmt: skip
    _follow_on_prefect(ctx, campaign, paused=True)


@campaigns.command("resume")
def resume_command(ctx: typer.Context, campaign: CampaignArgument, now: NowOption = None) -> None:
    """Resume a paused campaign (by hand, or after a channel error); its next tick sends."""
    from engine.core.clock import clock_from_option
    from engine.outbox.dispatch import paused, resume
    from engine.runs.runtime import Runtime

    Runtime.load(ctx.obj.config).campaign(campaign)
    with ctx.obj.db.session(immediate=True) as session:
        if paused(session, campaign) is None:
            ctx.obj.console.print(f"{campaign} is not paused")
            return
        resume(session, campaign, now=clock_from_option(now)())
    ctx.obj.console.print(f"{campaign} resumed")
    _follow_on_prefect(ctx, campaign, paused=False)


def _follow_on_prefect(ctx: typer.Context, campaign: str, *, paused: bool) -> None:
    """The campaign's Prefect deployment follows (PREFECT_API_URL set): an unreachable
    server is a warning; the pause in the talent base is what stops sending."""
    from engine.runs.schedules import follow_pause

    if line := follow_pause(campaign, paused=paused):
        ctx.obj.console.print(line, highlight=False)
