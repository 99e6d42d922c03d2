"""``nurture init | validate | preview | graph | schema``: the sequence language, from the CLI.

Errors are located (``file:line:column: message``) on stderr with exit 1; warnings are
printed on stderr too but do not fail.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from sequences.errors import DefinitionError, InputError, Problem
from sequences.source import sorted_problems
from sequences.suggest import did_you_mean

if TYPE_CHECKING:
    from campaigns.workspace import Workspace
    from sequences.document import SequenceDocument

err = Console(stderr=True, soft_wrap=True, highlight=False)


class GraphFormat(StrEnum):
    mermaid = "mermaid"
    dot = "dot"
    html = "html"


def register(app: typer.Typer) -> None:
    """Add this module's commands to the nurture app."""
    app.command("init")(init)
    app.command("validate")(validate)
    app.command("preview")(preview)
    app.command("graph")(graph)
    app.command("schema")(schema)


def _display(path: Path) -> Path:
    """``path`` relative to the current folder when inside it, for readable locations."""
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


def _workspace_root(ctx: typer.Context) -> Path:
    return _display(ctx.obj.config.workspace)


def init(
    directory: Annotated[
        Path, typer.Argument(help="New folder, or an empty one (a .git folder may be there).")
    ],
) -> None:
    """Write a working workspace: sequences, campaigns, templates, schemas, sample talents."""
    from engine.cli.scaffold import prepare_workspace

    root = _display(prepare_workspace(directory))
    typer.echo(f"workspace ready in {root}; its README.md shows the first commands:")
    typer.echo(f"  cd {root} && nurture validate && nurture talents import talents.csv")


def validate(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files or workspace folders (default: the whole workspace)."),
    ] = None,
) -> None:
    """Check sequences, campaigns and templates; every error with file:line:column."""
    from campaigns.workspace import check_workspace

    root = _workspace_root(ctx)
    problems: list[Problem] = []
    summaries = []
    for path in paths or [root]:
        if not path.exists():
            raise InputError(f"no such file or folder: {path}")
        if _is_workspace(path):
            workspace, found = check_workspace(_display(path))
            problems += found
            if workspace is not None:
                summaries.append(_summary(path, workspace))
            continue
        files = sorted(path.glob("*.y*ml")) if path.is_dir() else [path]
        for file in files:
            problems += _check_file(_display(file), root)
            summaries.append(str(_display(file)))
    _report(problems)
    ctx.obj.console.print(f"[green]valid:[/green] {escape(', '.join(summaries))}")


def _is_workspace(path: Path) -> bool:
    names = ("sequences", "campaigns", "nurture.yaml", "nurture.yml")
    return path.is_dir() and any((path / name).exists() for name in names)


def _summary(path: Path, workspace: Workspace) -> str:
    return f"{path} ({len(workspace.sequences)} sequences, {len(workspace.campaigns)} campaigns)"


def _check_file(path: Path, root: Path) -> list[Problem]:
    from campaigns.loader import check_campaign_file
    from campaigns.workspace import check_workspace_settings
    from sequences.loader import check_sequence_file

    settings, problems = check_workspace_settings(root)
    if path.name in ("nurture.yaml", "nurture.yml"):
        return problems if path.parent == root else check_workspace_settings(path.parent)[1]
    if _is_campaign(path):
        campaign, source, found = check_campaign_file(path)
        return found + _sequence_reference(campaign, source, root)
    limit = settings.sms_segment_limit
    return check_sequence_file(path, root, sms_segment_limit=limit)[1]


def _is_campaign(path: Path) -> bool:
    try:
        head = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return "campaigns" in path.parts[-2:-1] or any(
        line.startswith("campaign:") for line in head.splitlines()
    )


def _sequence_reference(campaign: Any, source: Any, root: Path) -> list[Problem]:
    """A single campaign file: its sequence must be one of the workspace's sequence ids."""
    from campaigns.workspace import sequence_ids

    if campaign is None or source is None:
        return []
    known = sequence_ids(root)
    if campaign.sequence in known:
        return []
    message = f"unknown sequence {campaign.sequence!r}{did_you_mean(campaign.sequence, known)}"
    return [source.problem(("sequence",), message)]


def _report(problems: list[Problem]) -> None:
    problems = sorted_problems(problems)
    if any(problem.severity == "error" for problem in problems):
        raise DefinitionError(problems)
    for problem in problems:
        err.print(str(problem), style="yellow", markup=False)


def preview(
    ctx: typer.Context,
    sequence: Annotated[str, typer.Argument(help="Sequence id.")],
    talent: Annotated[
        str | None, typer.Option("--talent", help="Render for this talent (email or phone).")
    ] = None,
    sample: Annotated[bool, typer.Option("--sample", help="Render for a sample talent.")] = False,
    campaign: Annotated[
        str | None, typer.Option("--campaign", help="Sender and campaign to render with.")
    ] = None,
) -> None:
    """Every step and variant rendered: subject, text, HTML outline, SMS segments."""
    from campaigns.preview import preview_context
    from campaigns.workspace import load_workspace
    from sequences.templates import sample_context

    if (talent is None) == (not sample):
        raise InputError("give either --talent EMAIL or --sample")
    workspace = load_workspace(_workspace_root(ctx))
    document = _document(workspace, sequence)
    context = preview_context(workspace, sample_context(), sequence, campaign)
    if talent is not None:
        context["talent"] = _talent_context(ctx, talent)
    failures = _print_steps(ctx.obj.console, document, context)
    if failures:
        raise DefinitionError(failures)


def _document(workspace: Workspace, sequence_id: str) -> SequenceDocument:
    document = workspace.sequences.get(sequence_id)
    if document is None:
        hint = did_you_mean(sequence_id, workspace.sequences)
        known = ", ".join(sorted(workspace.sequences)) or "none"
        raise InputError(f"unknown sequence {sequence_id!r}{hint} (sequences: {known})")
    return document


def _talent_context(ctx: typer.Context, address: str) -> dict[str, Any]:
    from engine.runs.runtime import talent_context
    from engine.talents.addresses import find_talent

    with ctx.obj.db.session() as session:
        return talent_context(find_talent(session, address))


def _print_steps(
    console: Console, document: SequenceDocument, context: dict[str, Any]
) -> list[Problem]:
    from sequences.templates import evaluate_guard, render_step

    failures: list[Problem] = []
    for step in document.sequence.steps:
        variants = getattr(step, "variants", ())
        for variant in [None] if not variants else [v.id for v in variants]:
            weight = next((f" (weight {v.weight})" for v in variants if v.id == variant), "")
            suffix = f" · variant {variant}{weight}" if variant else ""
            title = f"{step.id} · {step.channel}{suffix}"
            console.rule(escape(title))
            try:
                if step.if_ is not None:
                    shown = evaluate_guard(step.if_, context)
                    console.print(f"if {escape(step.if_)}: {'sent' if shown else 'skipped'}")
                _print_message(console, render_step(document, step.id, variant, context))
            except DefinitionError as exc:
                failures += exc.problems
                console.print(f"[red]{escape(str(exc))}[/red]")
    return failures


def _print_message(console: Console, message: Any) -> None:
    if message.subject is not None:
        console.print(f"[bold]Subject:[/bold] {escape(message.subject)}")
    console.print(escape(message.text), highlight=False)
    if message.html is not None:
        console.print(f"[dim]HTML: {escape(_outline(message.html))}[/dim]")
    if message.segments is not None:
        console.print(f"[dim]{message.segments} segment(s), {message.encoding}[/dim]")


def _outline(html: str) -> str:
    """The block structure of an HTML body: ``p, p, ul(2 li), p; 1 link``."""
    import re

    blocks = re.findall(r"<(p|ul|ol|h[1-6]|pre|blockquote|hr|table)\b", html)
    links = len(re.findall(r"<a\s", html))
    return f"{', '.join(blocks) or 'empty'}; {links} link(s); {len(html)} bytes"


def graph(
    ctx: typer.Context,
    sequence: Annotated[str, typer.Argument(help="Sequence id.")],
    format: Annotated[GraphFormat, typer.Option("--format", help="Output format.")] = (
        GraphFormat.mermaid
    ),
    out: Annotated[
        Path | None, typer.Option("--out", help="Write it to this file instead of stdout.")
    ] = None,
) -> None:
    """Draw the flow of a sequence as Mermaid, Graphviz DOT or a standalone HTML page with
    its picture (offline: no script, no network), on stdout or in ``--out``."""
    from campaigns.workspace import load_workspace
    from sequences.graph import to_dot, to_mermaid
    from sequences.picture import to_html

    document = _document(load_workspace(_workspace_root(ctx)), sequence)
    render = {GraphFormat.mermaid: to_mermaid, GraphFormat.dot: to_dot, GraphFormat.html: to_html}
    text = render[format](document.sequence)
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {_display(out)}")


def schema(
    check: Annotated[
        bool, typer.Option("--check", help="Fail when the committed schema files are stale.")
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write into this folder instead.")
    ] = None,
) -> None:
    """Write the JSON Schemas of sequences, campaigns and nurture.yaml (YAML completion)."""
    from campaigns.schema import stale_schemas, write_schemas

    if check:
        stale = stale_schemas(out)
        if stale:
            names = ", ".join(os.fspath(_display(p)) for p in stale)
            raise InputError(f"schema files out of date: {names}; run 'nurture schema'")
        typer.echo("schema files are current")
        return
    for path in write_schemas(out):
        typer.echo(f"wrote {_display(path)}")
