"""``nurture talents ...`` end to end, in-process, on each database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli.app import main

MESSY = Path(__file__).resolve().parents[1] / "data" / "messy_talents.csv"


@pytest.fixture
def nurture(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NURTURE_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> int:
        return main(["--workspace", str(tmp_path), *args])

    return run


def test_import_reports_counts_and_rows(nurture, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    assert nurture("talents", "import", str(MESSY), "--dry-run") == 0
    ran = capsys.readouterr()
    assert "7 would be created" in ran.out and "dry run: nothing was written" in ran.out
    assert "messy_talents.csv:4: warning: email 'grace@@navy' is not valid" in ran.err
    assert nurture("talents", "import", str(MESSY)) == 0
    assert "7 created, 0 updated, 0 unchanged, 1 duplicate rows merged, 2 rejected" in (
        capsys.readouterr().out
    )
    assert nurture("talents", "export", "kenji@example.jp") == 0
    assert json.loads(capsys.readouterr().out)["talent"]["city"] == "Tokyo"
    assert nurture("talents", "show", "kenji@example.jp") == 0
    assert "Asia/Tokyo" in capsys.readouterr().out


def test_user_mistakes_exit_1_with_a_message(nurture, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    assert nurture("talents", "import", "missing.csv") == 1
    assert "missing.csv: no such file" in capsys.readouterr().err
    assert nurture("talents", "show", "nobody@example.com") == 1
    assert "error: no talent with email nobody@example.com" in capsys.readouterr().err
    assert nurture("talents", "import", str(MESSY), "--now", "yesterday") == 1
    assert "--now 'yesterday' is not an ISO date-time" in capsys.readouterr().err
    assert nurture("talents", "frobnicate") == 1


def test_forget_then_reimport_is_refused(nurture, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    nurture("talents", "import", str(MESSY))
    assert nurture("talents", "forget", "ada.lovelace@example.com", "--yes") == 0
    capsys.readouterr()
    nurture("talents", "import", str(MESSY))
    assert "messy_talents.csv:2: this address is suppressed" in capsys.readouterr().out
    assert nurture("talents", "show", "ada.lovelace@example.com") == 1
