"""The sequence language is pure: importing every module of sequences/ pulls in no I/O stack."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import sequences

FORBIDDEN = ("prefect", "sqlalchemy", "httpx", "fastapi", "engine", "channels", "campaigns")


def test_sequences_imports_no_prefect_sqlalchemy_or_httpx() -> None:
    modules = sorted(f"sequences.{m.name}" for m in pkgutil.iter_modules(sequences.__path__))
    assert "sequences.loader" in modules and "sequences.templates" in modules
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(result.stdout))
    assert loaded.isdisjoint(FORBIDDEN), loaded & set(FORBIDDEN)
