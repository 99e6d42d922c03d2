"""docs/reference is generated from the code; this fails when someone forgot to regenerate."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

GENERATE = Path(__file__).resolve().parents[2] / "docs" / "generate.py"


def test_reference_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("docs_generate", GENERATE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0, capsys.readouterr().err
    pages = {path.name: text for path, text in module.generate().items()}
    assert set(pages) == {"yaml.md", "cli.md", "environment.md", "http.md"}
    assert "`send_window`" in pages["yaml.md"] and "`nurture talents import`" in pages["cli.md"]
    assert "`/webhooks/sendgrid/events`" in pages["http.md"]
