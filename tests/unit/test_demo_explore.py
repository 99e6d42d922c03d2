"""The demo's closing hint: commands that work on the workspace the demo leaves behind."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from engine.cli.demo import explore


def _printed(workspace: Path | None) -> str:
    console = Console(record=True, width=200)
    explore(console, workspace, "maya@example.net")
    return console.export_text()


def test_a_kept_workspace_is_named_in_every_command(tmp_path: Path) -> None:
    text = _printed(tmp_path)
    commands = [line.strip() for line in text.splitlines() if line.strip().startswith("nurture")]
    assert len(commands) == 7
    assert all(c.startswith(f"nurture --workspace {tmp_path} ") for c in commands)
    assert "talents show maya@example.net" in text and "--keep" not in text
    assert text.rstrip().endswith("then open the recruiter's desk: http://127.0.0.1:8000/")


def test_a_deleted_workspace_is_not_offered_but_kept_on_request() -> None:
    text = _printed(None)
    assert "nurture demo --keep" in text
    assert "--workspace DIR report" in text and "/tmp/" not in text
