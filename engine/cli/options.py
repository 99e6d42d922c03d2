"""Options several commands share."""

from __future__ import annotations

from typing import Annotated

import typer

NowOption = Annotated[
    str | None, typer.Option("--now", help="Pretend it is this ISO time (simulation).")
]
