"""`nurture --help` (and any command's --help) loads no database, web, template or Prefect
stack: each command imports the engine when it runs, so the help answers at once."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("sqlalchemy", "alembic", "prefect", "jinja2", "fastapi", "httpx", "uvicorn")


@pytest.mark.parametrize("argv", [["--help"], ["talents", "--help"], ["run", "--help"]])
def test_help_imports_no_heavy_package(argv: list[str]) -> None:
    script = (
        "import contextlib, io, json, sys\n"
        "from engine.cli.app import main\n"
        f"with contextlib.redirect_stdout(io.StringIO()): main({argv!r})\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
