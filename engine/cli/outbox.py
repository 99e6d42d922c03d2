"""``nurture outbox list|settle``: planned, sent and in-doubt messages."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table

from engine.cli.options import NowOption
from sequences.errors import InputError

# Each command imports the engine when it runs: `nurture --help` loads none of it.

outbox = typer.Typer(help="Inspect the outbox: planned, sent and in-doubt messages.")


def register(app: typer.Typer) -> None:
    app.add_typer(outbox, name="outbox")


class OutboxStatus(StrEnum):
    planned = "planned"
    claimed = "claimed"
    sending = "sending"
    sent = "sent"
    in_doubt = "in_doubt"
    failed = "failed"
    cancelled = "cancelled"


@outbox.command("list")
def outbox_list(
    ctx: typer.Context,
    status: Annotated[
        OutboxStatus | None, typer.Option("--status", help="Only messages in this state.")
    ] = None,
    in_doubt: Annotated[
        bool, typer.Option("--in-doubt", help="Only claims whose outcome is unknown.")
    ] = False,
    campaign: Annotated[str | None, typer.Option(help="Only this campaign.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows.", min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print the messages as JSON.")] = False,
) -> None:
    """List outbox messages, newest first, with their whole message ids."""
    from engine.outbox.listing import outbox_rows

    if in_doubt and status not in (None, OutboxStatus.in_doubt):
        raise InputError(f"--in-doubt and --status {status} ask for different messages")
    wanted = (status or OutboxStatus.in_doubt).value if in_doubt or status else None
    with ctx.obj.db.session() as session:
        rows = outbox_rows(session, status=wanted, campaign=campaign, limit=limit)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table(box=None, header_style="bold underline")
    table.add_column("message id", no_wrap=True, min_width=32)  # whole: settle takes it
    table.add_column("status", no_wrap=True, min_width=9)
    for name in ("to", "campaign", "step", "due"):
        table.add_column(name, no_wrap=True, overflow="ellipsis")
    table.add_column("claimed")  # these two give way first on a narrow terminal
    table.add_column("error", overflow="fold")
    for row in rows:
        table.add_row(row["message_id"], row["status"], row["to"], row["campaign"], row["step"],
                      _minute(row["due_at"]), _minute(row["claimed_at"]),
                      row["error"] or "")  # fmt: skip
    ctx.obj.console.print(table if rows else "no messages")


def _minute(iso: str | None) -> str:
    return iso[:16].replace("T", " ") if iso else ""


@outbox.command("settle")
def outbox_settle(
    ctx: typer.Context,
    message_ids: Annotated[
        list[str],
        typer.Argument(
            help="Message ids, or unique prefixes (see `nurture outbox list --in-doubt`)."
        ),
    ],
    sent: Annotated[
        bool, typer.Option("--sent", help="The provider's log shows they went out.")
    ] = False,
    resend: Annotated[
        bool, typer.Option("--resend", help="They never left: send them at the next tick.")
    ] = False,
    now: NowOption = None,
) -> None:
    """Settle in-doubt messages by hand, after looking them up in the provider's log."""
    from engine.core.clock import clock_from_option
    from engine.enrollments.progress import PlanMessages
    from engine.outbox.dispatch import settle
    from engine.runs.runtime import Runtime

    if sent == resend:
        raise InputError("say what happened: --sent or --resend")
    rt = Runtime.load(ctx.obj.config)
    with ctx.obj.db.session(immediate=True) as session:
        ids = [_message_id(session, prefix) for prefix in message_ids]
        now_at, sends = clock_from_option(now)(), PlanMessages(rt)
        rows = settle(session, ids, sent=sent, now=now_at, sends=sends)
        for row in rows:
            done = "sent" if sent else f"planned again for {row.due_at:%Y-%m-%d %H:%M}"
            ctx.obj.console.print(f"{row.message_id} ({row.campaign}:{row.step_id}): {done}")


def _message_id(session: Any, prefix: str) -> str:
    """The one message id starting with ``prefix`` (a whole id is its own prefix); an
    unknown one is kept, for ``settle`` to report with the other ids' problems."""
    from sqlalchemy import select

    from engine.store.models import OutboxMessage

    query = select(OutboxMessage.message_id).where(
        OutboxMessage.message_id.startswith(prefix, autoescape=True)
    )
    found = list(session.scalars(query.order_by(OutboxMessage.message_id).limit(6)))
    if prefix in found or len(found) <= 1:
        return found[0] if len(found) == 1 else prefix
    more = ", ..." if len(found) > 5 else ""
    raise InputError(f"{prefix} is ambiguous: {', '.join(found[:5])}{more}; give more characters")
