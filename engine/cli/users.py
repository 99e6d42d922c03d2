"""``nurture users add|remove EMAIL``: the recruiters who sign in to the desk.

Heavy imports stay inside the commands, so ``nurture --help`` stays fast.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from engine.cli.options import NowOption

users = typer.Typer(help="Accounts of the web desk (nurture serve): add and remove recruiters.")
EmailArgument = Annotated[str, typer.Argument(help="The recruiter's email (their sign-in).")]


def register(app: typer.Typer) -> None:
    app.add_typer(users, name="users")


@users.command("add")
def add_command(
    ctx: typer.Context,
    email: EmailArgument,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin (scripts).")
    ] = False,
    now: NowOption = None,
) -> None:
    """Add a recruiter; the password is asked twice (or read from stdin)."""
    from engine.core.clock import clock_from_option
    from engine.web.desk.accounts import add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with ctx.obj.db.session(immediate=True) as session:
        user = add_user(session, email, password, now=clock_from_option(now)())
        added = user.email
    ctx.obj.console.print(f"{added} can sign in at the desk (nurture serve)", highlight=False)


@users.command("remove")
def remove_command(ctx: typer.Context, email: EmailArgument) -> None:
    """Remove a recruiter's account; their sessions end at once."""
    from engine.web.desk.accounts import remove_user

    with ctx.obj.db.session(immediate=True) as session:
        remove_user(session, email)
    ctx.obj.console.print(f"{email} removed", highlight=False)
