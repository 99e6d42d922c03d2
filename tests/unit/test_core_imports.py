"""The engine's core is pure: importing every module of engine/core/ pulls in no database,
web, HTTP or Prefect stack, and no other room of the engine."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import engine.core

FORBIDDEN = ("prefect", "sqlalchemy", "alembic", "httpx", "fastapi", "uvicorn", "channels")
ROOMS = ("store", "talents", "enrollments", "outbox", "inbound", "runs", "web", "cli", "demo")


def test_engine_core_imports_no_io_stack_and_no_other_room() -> None:
    modules = sorted(f"engine.core.{m.name}" for m in pkgutil.iter_modules(engine.core.__path__))
    assert "engine.core.interpreter" in modules and "engine.core.calendar" in modules
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(result.stdout))
    packages = {name.split(".")[0] for name in loaded}
    assert packages.isdisjoint(FORBIDDEN), sorted(packages & set(FORBIDDEN))
    rooms = {name.split(".")[1] for name in loaded if name.startswith("engine.")}
    assert rooms.isdisjoint(ROOMS), sorted(rooms & set(ROOMS))
