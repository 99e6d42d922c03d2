"""``nurture enrollments stop TALENT CAMPAIGN``: take one person out of one campaign by hand.

Heavy imports stay inside the command, so ``nurture --help`` stays fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

enrollments = typer.Typer(help="One talent in one campaign: stop an enrollment by hand.")


def register(app: typer.Typer) -> None:
    app.add_typer(enrollments, name="enrollments")


@enrollments.command("stop")
def stop_command(
    ctx: typer.Context,
    talent: Annotated[str, typer.Argument(help="The talent's email, phone or name.")],
    campaign: Annotated[str, typer.Argument(help="Campaign id.")],
    now: Annotated[
        str | None, typer.Option("--now", help="Pretend it is this ISO time (simulation).")
    ] = None,
) -> None:
    """Exit the talent's active enrollment in the campaign; its planned messages are withdrawn."""
    from engine.core.clock import clock_from_option
    from engine.runs.runtime import Runtime
    from engine.talents.edits import find_one, stop_enrollment
    from sequences.errors import InputError

    with ctx.obj.db.session(immediate=True) as session:
        person = find_one(session, talent)
        stopped = stop_enrollment(session, person, campaign, now=clock_from_option(now)())
        label = person.email or person.phone
    if stopped is None:
        Runtime.load(ctx.obj.config).campaign(campaign)  # an unknown campaign says so first
        raise InputError(f"{label} has no active enrollment in {campaign}")
    step, withdrawn = stopped
    ctx.obj.console.print(
        f"stopped {label} in {campaign} at step {step}; {withdrawn} planned message(s) withdrawn",
        highlight=False,
    )
