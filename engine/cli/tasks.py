"""``nurture tasks list|done``: task steps and follow-ups of interested replies."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from engine.cli.options import NowOption

# Each command imports the engine when it runs: `nurture --help` loads none of it.

tasks = typer.Typer(help="Recruiter to-dos: task steps and follow-ups of interested replies.")


def register(app: typer.Typer) -> None:
    app.add_typer(tasks, name="tasks")


@tasks.command("list")
def tasks_list(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Include completed tasks.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the tasks as JSON, with their ids.")
    ] = False,
) -> None:
    """List open recruiter tasks (soonest due first): whom to contact, and how."""
    from engine.enrollments.todos import open_tasks

    with ctx.obj.db.session() as session:
        found = open_tasks(session, include_done=all_)
    if as_json:
        ctx.obj.console.print_json(json.dumps([task.as_json() for task in found]))
        return
    table = Table("id", "due (UTC)", "talent", "phone", "email", "campaign", "title")
    if all_:
        table.add_column("done")
    for task in found:
        done = [f"{task.completed_at:%Y-%m-%d}" if task.completed_at else ""] if all_ else []
        table.add_row(str(task.id), f"{task.due_at:%Y-%m-%d %H:%M}" if task.due_at else "",
                      task.talent, task.phone or "", task.email or "", task.campaign or "",
                      task.title, *done)  # fmt: skip
    ctx.obj.console.print(table if found else "no tasks to do")


@tasks.command("done")
def tasks_done(
    ctx: typer.Context,
    task_id: Annotated[int, typer.Argument(help="Task id (see `nurture tasks list`).")],
    now: NowOption = None,
) -> None:
    """Complete a task; a waiting enrollment moves on (its `completed` branch)."""
    from engine.core.clock import clock_from_option
    from engine.enrollments.progress import PlanMessages
    from engine.enrollments.todos import complete_task
    from engine.runs.runtime import Runtime

    rt = Runtime.load(ctx.obj.config)
    with ctx.obj.db.session(immediate=True) as session:
        task = complete_task(session, task_id, now=clock_from_option(now)(), sends=PlanMessages(rt))
        ctx.obj.console.print(f"task {task.id} done: {task.title}")
