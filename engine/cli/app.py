"""The ``nurture`` command line: one Typer app, commands registered from ``engine.cli``.

Configuration is read once here (``--workspace``, the environment) and handed down through
``typer.Context.obj``; user mistakes (any NurtureError) print one line on stderr and exit 1.
"""

from __future__ import annotations

import os
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from typer._click.exceptions import ClickException

from sequences.errors import DefinitionError, InputError, NurtureError

if TYPE_CHECKING:
    from engine.config import Config
    from engine.store.database import Database

app = typer.Typer(
    name="nurture",
    help="Multichannel outreach engine for recruiters: people first, candidates later.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
err = Console(stderr=True)


class Context:
    """What a command needs: the configuration, and the database opened on first use."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.console = Console()

    @cached_property
    def db(self) -> Database:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import OperationalError

        from engine.store.database import Database  # SQLAlchemy only for commands that need it

        try:
            return Database(self.config.database_url)
        except OperationalError as exc:  # the server is down or refuses us: one line, no trace
            where = make_url(self.config.database_url).render_as_string(hide_password=True)
            reason = str(exc.orig or exc).strip().splitlines()[0]
            raise InputError(f"cannot open the talent base at {where}: {reason}") from None

    def close(self) -> None:
        if "db" in self.__dict__:
            self.db.dispose()


@app.callback()
def _root(
    ctx: typer.Context,
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            help="Recruiter workspace folder (default: $NURTURE_WORKSPACE, else the current one).",
        ),
    ] = None,
) -> None:
    from engine.config import Config  # pydantic: not needed for --help

    ctx.obj = Context(Config.load(workspace))
    ctx.call_on_close(ctx.obj.close)


@cache
def _register() -> None:
    from engine.cli import (
        campaigns,
        demo,
        enrollments,
        outbox,
        replies,
        runs,
        sequences,
        talents,
        tasks,
        users,
    )

    for module in (
        talents,
        campaigns,
        enrollments,
        sequences,
        runs,
        outbox,
        tasks,
        replies,
        users,
        demo,
    ):
        module.register(app)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns the exit code."""
    # The temporary Prefect server of `run`, `serve` and `demo` sends no telemetry: the
    # machine may have no internet, and its heartbeat fails loudly on a busy SQLite file.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    _register()
    try:
        code = app(args=argv, standalone_mode=False)  # click returns a typer.Exit's code
    except NurtureError as exc:
        text = str(exc) if isinstance(exc, DefinitionError) else f"error: {exc}"
        err.print(text, style="red", markup=False, highlight=False, soft_wrap=True)
        return 1
    except typer.Abort:
        err.print("aborted")
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    except ClickException as exc:  # usage errors: click says 2, our contract says 1
        exc.show()
        return 1
    return code if isinstance(code, int) else 0
