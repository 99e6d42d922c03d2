"""``nurture talents import|show|forget|export``: the talent base from the command line."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from engine.cli.options import NowOption
from sequences.errors import InputError

if TYPE_CHECKING:
    from engine.talents.csv_import import ImportReport

# Each command imports the engine when it runs: `nurture --help` loads none of it.

talents = typer.Typer(help="Import, inspect, erase and export people in the talent base.")

AddressArgument = Annotated[str, typer.Argument(help="The talent's email (or phone).")]


def register(app: typer.Typer) -> None:
    app.add_typer(talents, name="talents")


@talents.command("import")
def import_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV file (comma, semicolon or tab separated).")],
    region: Annotated[
        str | None,
        typer.Option(help="Country for phone numbers written without +prefix, e.g. DE."),
    ] = None,
    source: Annotated[str | None, typer.Option(help="Where these people come from.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and count; write nothing.")
    ] = False,
    now: NowOption = None,
) -> None:
    """Import talents from a CSV file; people already known (same email or phone) are merged.

    A wrong phone, time zone, country or stage leaves the row without that field, with a
    warning on stderr; a row is rejected only when neither its email nor its phone is usable."""
    from engine.core.clock import clock_from_option
    from engine.talents.csv_import import country_code, import_talents, read_csv

    if not file.is_file():
        raise InputError(f"{file}: no such file")
    at = clock_from_option(now)()
    try:
        country = country_code(region) if region else None
    except InputError as exc:
        raise InputError(f"--region: {exc}") from exc
    try:  # the file is read twice, to count rows and to import: a broken one fails first
        total = _count_rows(file)
        with (
            file.open("rb") as stream,
            ctx.obj.db.session() as session,
            _progress(ctx.obj.console, total) as bar,
        ):
            _, rows = read_csv(stream)
            task = bar.add_task("importing", total=total)
            report = import_talents(
                session,
                rows,
                now=at,
                region=country,
                source_name=source or file.name,
                progress=lambda n: bar.advance(task, n),
            )
            if dry_run:
                session.rollback()
    except InputError as exc:  # the transaction was rolled back
        raise InputError(f"{file.name}: {exc}; nothing was imported") from exc
    except OSError as exc:  # unreadable: permissions, a folder, a vanished file
        raise InputError(f"{file}: cannot read it ({exc.strerror or exc})") from exc
    _print_warnings(file, report)
    _print_report(ctx.obj.console, file, report, dry_run)


def _count_rows(file: Path) -> int:
    """Rows (not lines: a quoted cell may hold a newline), for the progress bar's total."""
    from engine.talents.csv_import import read_csv

    with file.open("rb") as stream:
        _, rows = read_csv(stream)
        return sum(1 for _ in rows)


def _print_warnings(file: Path, report: ImportReport) -> None:
    err = Console(stderr=True, soft_wrap=True, highlight=False)
    for line, warning in report.warnings:
        err.print(f"  {file.name}:{line}: warning: {warning}", markup=False)
    if report.warned > len(report.warnings):
        err.print(f"  ... and {report.warned - len(report.warnings):,} more warnings")


def _progress(console: Console, total: int) -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=total < 5000,
    )


def _print_report(console: Console, file: Path, report: ImportReport, dry_run: bool) -> None:
    would = "would be " if dry_run else ""
    console.print(
        f"{file.name}: {report.created} {would}created, {report.updated} {would}updated, "
        f"{report.unchanged} unchanged, {report.duplicates} duplicate rows merged, "
        f"{len(report.rejected)} rejected",
        highlight=False,
    )
    for line, reason in report.rejected:
        console.print(
            f"  {file.name}:{line}: {reason}", markup=False, highlight=False, soft_wrap=True
        )
    if dry_run:
        console.print("dry run: nothing was written")


@talents.command("show")
def show_command(ctx: typer.Context, address: AddressArgument) -> None:
    """Show a talent's profile and timeline."""
    from engine.talents.privacy import export

    with ctx.obj.db.session() as session:
        data = export(session, address)
    print_talent(ctx.obj.console, data)


def print_talent(console: Console, data: dict[str, Any]) -> None:
    """A talent's profile and timeline, from ``engine.talents.privacy.export`` data."""
    talent = data["talent"]
    profile = Table.grid(padding=(0, 2))
    for key in ("email", "phone", "first_name", "last_name", "stage", "company", "title"):
        profile.add_row(key, str(talent[key] or ""))
    for key in ("city", "country", "timezone", "source", "last_contacted_at"):
        profile.add_row(key, str(talent[key] or ""))
    profile.add_row("tags", ", ".join(data["tags"]))
    profile.add_row("skills", ", ".join(data["skills"]))
    opted_out = [ch for ch in ("email", "sms", "whatsapp") if talent[f"{ch}_opted_out_at"]]
    profile.add_row("opted out", ", ".join(opted_out) or "-")
    console.print(profile)
    timeline = Table(title="timeline", box=None, header_style="bold underline")
    timeline.add_column("when (UTC)", no_wrap=True)
    timeline.add_column("what", no_wrap=True)
    timeline.add_column("campaign", no_wrap=True, overflow="ellipsis", max_width=16)
    timeline.add_column("step", no_wrap=True)
    timeline.add_column("detail", overflow="fold", ratio=1)
    for event in data["timeline"]:
        timeline.add_row(
            event["occurred_at"][:16].replace("T", " "),
            event["kind"],
            event["campaign"] or "",
            event["step_id"] or "",
            event["detail"] or "",
        )
    console.print(timeline)


@talents.command("forget")
def forget_command(
    ctx: typer.Context,
    address: AddressArgument,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    now: NowOption = None,
) -> None:
    """Erase a person (GDPR): personal data and timeline details go, a hashed suppression stays."""
    from engine.core.clock import clock_from_option
    from engine.talents.addresses import find_talent
    from engine.talents.privacy import erased, forget

    with ctx.obj.db.session() as session:
        again = erased(session, address)
        if not again:
            find_talent(session, address)  # fail before asking
    if not yes and not again:
        typer.confirm(f"Erase {address} for good?", abort=True)
    with ctx.obj.db.session() as session:
        tombstone = forget(session, address, now=clock_from_option(now)())
    if not ctx.obj.db.checkpoint():
        ctx.obj.console.print(
            "[yellow]warning:[/] the database's write-ahead log is in use (nurture serve?): "
            "the erased bytes leave it at its next checkpoint"
        )
    if tombstone is None:
        ctx.obj.console.print(f"{address} was already erased; nothing left to erase")
        return
    ctx.obj.console.print(
        f"erased talent #{tombstone}; the address is suppressed and will never be contacted again"
    )


@talents.command("export")
def export_command(
    ctx: typer.Context,
    address: AddressArgument,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the JSON here instead of stdout.")
    ] = None,
) -> None:
    """Everything held on a person, as JSON (GDPR access request)."""
    from engine.talents.privacy import export

    with ctx.obj.db.session() as session:
        text = json.dumps(export(session, address), indent=2, ensure_ascii=False, default=str)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        ctx.obj.console.print(f"wrote {out}")


class Channel(StrEnum):
    email = "email"
    sms = "sms"
    whatsapp = "whatsapp"


@talents.command("list")
def list_command(
    ctx: typer.Context,
    stage: Annotated[
        list[str] | None, typer.Option("--stage", help="Only talents at this stage (repeatable).")
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", help="Only talents with this tag (repeatable: all)."),
    ] = None,
    search: Annotated[
        str | None, typer.Option("--search", help="The start of a name, email or company.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many.", min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print the talents as JSON.")] = False,
) -> None:
    """List talents (oldest first), filtered by stage, tags and a search text."""
    from engine.talents.edits import talent_query

    query = talent_query(stages=stage or (), tags=tag or (), search=search).limit(limit)
    with ctx.obj.db.session() as session:
        found = [_listed(talent) for talent in session.scalars(query)]
    if as_json:
        typer.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    ctx.obj.console.print(_talent_table(found))
    ctx.obj.console.print(f"{len(found)} talent(s)", highlight=False)


def _talent_table(found: list[dict[str, Any]]) -> Table:
    table = Table(box=None, header_style="bold underline")
    contacts = [row["email"] or row["phone"] or "" for row in found]
    # whole addresses and stages, even on a narrow terminal: the other commands take them
    table.add_column("email or phone", no_wrap=True, min_width=max(map(len, contacts), default=5))
    stages = [row["stage"] for row in found]
    table.add_column("stage", no_wrap=True, min_width=max(map(len, stages), default=5))
    for name in ("name", "company", "city", "tags"):
        table.add_column(name, no_wrap=True, overflow="ellipsis")
    for contact, row in zip(contacts, found, strict=True):
        table.add_row(contact, row["stage"], _name(row),
                      row["company"] or "", row["city"] or "", ", ".join(row["tags"]))  # fmt: skip
    return table


def _listed(talent: Any) -> dict[str, Any]:
    contacted = talent.last_contacted_at
    return {
        "email": talent.email, "phone": talent.phone, "first_name": talent.first_name,
        "last_name": talent.last_name, "stage": talent.stage, "company": talent.company,
        "title": talent.title, "city": talent.city, "country": talent.country,
        "tags": talent.tags, "skills": talent.skills,
        "last_contacted_at": contacted.isoformat() if contacted else None,
    }  # fmt: skip


def _name(row: dict[str, Any]) -> str:
    return " ".join(part for part in (row["first_name"], row["last_name"]) if part)


@talents.command("set")
def set_command(
    ctx: typer.Context,
    who: Annotated[str, typer.Argument(help="The talent's email, phone or name.")],
    stage: Annotated[str | None, typer.Option("--stage", help="Move to this stage.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Add this tag.")] = None,
    untag: Annotated[list[str] | None, typer.Option("--untag", help="Remove this tag.")] = None,
    opt_out: Annotated[
        list[Channel] | None, typer.Option("--opt-out", help="Never contact on this channel.")
    ] = None,
    opt_in: Annotated[
        list[Channel] | None, typer.Option("--opt-in", help="Lift an opt-out on this channel.")
    ] = None,
    now: NowOption = None,
) -> None:
    """Change a talent by hand: stage, tags, per-channel opt-out; recorded on the timeline."""
    from engine.core.clock import clock_from_option
    from engine.talents.edits import Change, find_one, set_talent

    change = Change(stage, tuple(tag or ()), tuple(untag or ()),
                    tuple(opt_out or ()), tuple(opt_in or ()))  # fmt: skip
    if change.empty:
        raise InputError("nothing to change: give --stage, --tag, --untag, --opt-out or --opt-in")
    with ctx.obj.db.session(immediate=True) as session:
        talent = find_one(session, who)
        done = set_talent(session, talent, change, now=clock_from_option(now)())
        label = talent.email or talent.phone
    ctx.obj.console.print(f"{label}: {'; '.join(done) or 'nothing changed'}", highlight=False)
