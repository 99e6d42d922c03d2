"""``nurture replies classify|evaluate|list|set`` and ``nurture report``: replies and the funnel."""

from __future__ import annotations

import csv
import getpass
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from sequences.errors import InputError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.inbound.review import ReplyRow
    from engine.reports.funnel import FunnelRow, StepErrors

# Each command imports the engine when it runs: `nurture --help` loads none of it.

replies = typer.Typer(
    help="Reply intent: review and correct replies, classify a text, measure the classifier."
)


def register(app: typer.Typer) -> None:
    app.add_typer(replies, name="replies")
    app.command("report")(report_command)


@replies.command("classify")
def classify_command(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="The reply text (quoted history is ignored).")],
    subject: Annotated[str | None, typer.Option(help="The reply's subject line.")] = None,
    header: Annotated[
        list[str] | None,
        typer.Option("--header", "-H", help="A header of the reply, 'Name: value' (repeatable)."),
    ] = None,
) -> None:
    """Print the intent of a reply, its confidence and the reason."""
    from engine.inbound.intent import RuleClassifier, load_phrases

    headers = dict(_header(h) for h in header or [])
    classifier = RuleClassifier(load_phrases(ctx.obj.config.workspace))
    verdict = classifier.classify(text, subject=subject, headers=headers)
    console: Console = ctx.obj.console
    console.print(f"[bold]{verdict.intent}[/bold]  confidence {verdict.confidence:.2f}")
    console.print(f"reason: {verdict.reason}", markup=False, highlight=False)


def _header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise InputError(f"--header {text!r}: expected 'Name: value'")
    return name.strip(), value.strip()


@replies.command("evaluate")
def evaluate_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Labelled replies, JSON lines {text, intent}.")],
    show_misses: Annotated[bool, typer.Option("--misses", help="List the misses too.")] = False,
) -> None:
    """Measure the rules on labelled replies: accuracy, precision and recall per intent."""
    from engine.inbound.intent import RuleClassifier, evaluate, load_phrases, parse_samples

    if not file.is_file():
        raise InputError(f"{file}: no such file")
    samples = parse_samples(file.read_text(encoding="utf-8").splitlines(), str(file))
    result = evaluate(RuleClassifier(load_phrases(ctx.obj.config.workspace)), samples)
    console: Console = ctx.obj.console
    console.print(result.markdown(), markup=False, highlight=False)
    if show_misses and result.misses:
        console.print("\nMisses:\n")
    for sample, verdict in result.misses if show_misses else ():
        console.print(
            f"- [{sample.lang}] {sample.text!r}: {sample.intent} -> {verdict.intent}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


@replies.command("list")
def list_command(
    ctx: typer.Context,
    intent: Annotated[str | None, typer.Option(help="Only replies of this intent.")] = None,
    unverified: Annotated[
        bool,
        typer.Option(
            "--unverified",
            help="Only replies that prove nothing of their sender: no token, thread or SPF/DKIM.",
        ),
    ] = False,
    limit: Annotated[int, typer.Option(help="At most this many replies.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print them as a JSON list.")] = False,
) -> None:
    """Recent replies, newest first: their new text, intent, confidence and reason."""
    from engine.inbound.review import recent_replies

    with ctx.obj.db.session() as session:
        rows = recent_replies(session, intent=intent, unverified=unverified, limit=limit)
    console: Console = ctx.obj.console
    if as_json:
        console.print_json(data=[row.as_dict() for row in rows])
        return
    table = Table("id", "at", "talent", "campaign/step", "intent", "conf", "text", "reason")
    for row in rows:
        table.add_row(*_cells(row))
    console.print(table if rows else "no replies yet")


def _cells(row: ReplyRow) -> list[str]:
    flags = "".join(f" ({flag})" for flag, on in (("held", row.held), ("unverified",
                    not row.verified), ("set", row.corrected_by)) if on)  # fmt: skip
    return [
        str(row.id), f"{row.at:%Y-%m-%d %H:%M}", row.talent or "?",
        f"{row.campaign or '-'}/{row.step or '-'}", f"{row.intent or '-'}{flags}",
        "" if row.confidence is None else f"{row.confidence:.2f}",
        row.text if len(row.text) <= 80 else row.text[:79] + "…", row.reason or "",
    ]  # fmt: skip


@replies.command("set")
def set_command(
    ctx: typer.Context,
    reply_id: Annotated[int, typer.Argument(help="The reply's id (see `nurture replies list`).")],
    intent: Annotated[
        str, typer.Argument(help="The intent it should have (see `nurture replies list`).")
    ],
    by: Annotated[
        str | None, typer.Option(help="Who corrects it (default: your login name).")
    ] = None,
    now: Annotated[
        str | None, typer.Option("--now", help="Pretend it is this ISO time (simulation).")
    ] = None,
) -> None:
    """Correct a reply's intent: its enrollment takes that branch if it still waits."""
    from engine.core.clock import clock_from_option
    from engine.inbound.review import correct
    from engine.runs.runtime import Runtime

    who = by or getpass.getuser()
    workspace = Runtime.load(ctx.obj.config).workspace
    with ctx.obj.db.session() as session:
        row = correct(session, reply_id, intent, by=who, now=clock_from_option(now)(),
                      workspace=workspace)  # fmt: skip
    ctx.obj.console.print(
        f"reply {row.id} from {row.talent or 'an unknown sender'}: {intent} (set by {who})",
        markup=False,
        highlight=False,
    )


@replies.command("examples")
def examples_command(ctx: typer.Context) -> None:
    """Print corrected replies as labelled JSON lines (for `replies evaluate` and the corpus)."""
    from engine.inbound.review import labelled_examples

    with ctx.obj.db.session() as session:
        lines = [json.dumps(row, ensure_ascii=False) for row in labelled_examples(session)]
    for line in lines:
        ctx.obj.console.print(line, markup=False, highlight=False, soft_wrap=True)


ReportFormat = Literal["table", "json", "csv"]


def report_command(
    ctx: typer.Context,
    campaign: Annotated[str | None, typer.Argument(help="One campaign (default: all).")] = None,
    output: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="table (default), json or csv.")
    ] = "table",
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """The funnel per campaign, step and variant: enrolled, sent, delivered, opened, clicked,
    replied, interested, became a candidate, bounced, unsubscribed, with rates."""
    from engine.reports.funnel import campaigns_in, errors, funnel

    if as_json and output not in ("table", "json"):
        raise InputError(f"--json and --format {output}: choose one")
    output = "json" if as_json else output
    with ctx.obj.db.session() as session:
        rows = funnel(session, campaign)
        if campaign is not None and not rows:
            _check_campaign(session, campaign)
        stuck = errors(session, campaign)
    console: Console = ctx.obj.console
    if output == "json":
        console.print_json(data=[row.as_dict() for row in rows])
    elif output == "csv":
        console.print(_csv(rows), end="", markup=False, highlight=False, soft_wrap=True)
    elif not rows:
        console.print("nothing recorded yet: run a campaign first (nurture run CAMPAIGN)")
    for name in campaigns_in(rows) if output == "table" else ():
        console.print(funnel_table([row for row in rows if row.campaign == name], name))
        _print_errors(console, [item for item in stuck if item.campaign == name])


def _print_errors(console: Console, stuck: list[StepErrors]) -> None:
    """Enrollments in error, per step: a template failed for these talents."""
    if not stuck:
        return
    total = sum(item.count for item in stuck)
    campaign = stuck[0].campaign
    console.print(f"[yellow]in error: {total} enrollment(s)[/] (a template failed for them)")
    for item in stuck:
        console.print(f"  step {item.step}: {item.count}")
        for who, error in item.examples:
            console.print(f"    {who}: {error}", markup=False, highlight=False)
    console.print(
        f"  see one: nurture talents show EMAIL; after fixing the template or the data:"
        f" nurture migrate {campaign}",
        markup=False,
        highlight=False,
    )


def _check_campaign(session: Session, campaign: str) -> None:
    from sqlalchemy import select

    from engine.store.models import Enrollment
    from sequences.suggest import did_you_mean

    known = session.scalars(select(Enrollment.campaign).distinct()).all()
    if campaign not in known:
        names = ", ".join(sorted(known)) or "none yet"
        hint = did_you_mean(campaign, known)
        raise InputError(
            f"no campaign {campaign!r} has run{hint} (campaigns with enrollments: {names})"
        )


def _csv(rows: list[FunnelRow]) -> str:
    from engine.reports.funnel import METRICS

    buffer = io.StringIO()
    rated = [m for m in METRICS if m not in ("enrolled", "sent")]
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["campaign", "step", "variant", *METRICS, *(f"{m}_rate" for m in rated)])
    for row in rows:
        rates = ["" if row.rate(m) is None else f"{row.rate(m):.4f}" for m in rated]
        writer.writerow([row.campaign, row.step, row.variant, *map(row.count, METRICS), *rates])
    return buffer.getvalue()


def funnel_table(rows: list[FunnelRow], campaign: str) -> Table:
    """The funnel of one campaign as a Rich table (used by `report` and the demo): read top
    to bottom as a funnel, one column per step (and A/B variant), so it fits a terminal of
    80 columns; each rate beside its count."""
    from engine.reports.funnel import ALL, LABELS, METRICS

    table = Table(
        title=f"Funnel: {campaign}",
        caption="(%) of messages sent",
        box=None,
        header_style="bold underline",
        padding=(0, 1),
        pad_edge=False,
    )
    table.add_column("", no_wrap=True)
    for row in rows:
        variant = "" if row.variant in ("", "-", ALL) else f" {row.variant}"
        table.add_column("all steps" if row.step == ALL else row.step + variant,
                         justify="right", no_wrap=True)  # fmt: skip
    for metric in METRICS:
        table.add_row(LABELS[metric], *(_cell(row, metric) for row in rows))
    return table


def _cell(row: FunnelRow, metric: str) -> str:
    rate = row.rate(metric)
    return f"{row.count(metric)}" if rate is None else f"{row.count(metric)} ({rate:.0%})"
