"""``nurture run|migrate|outbox|tasks`` on the example workspace (no Prefect: ``--no-prefect``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.cli import main
from engine.db import Database
from engine.models import Enrollment, OutboxMessage, Task

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "recruiting"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "recruiting"
    shutil.copytree(EXAMPLE, root)
    for name in ("NURTURE_DATABASE_URL", "SENDGRID_API_KEY", "TWILIO_AUTH_TOKEN",
                 "NURTURE_EMAIL_CHANNEL", "NURTURE_SMS_CHANNEL"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NURTURE_WORKSPACE", str(root))
    monkeypatch.setenv("NURTURE_SECRET_KEY", "t" * 32)
    assert main(["talents", "import", str(root / "talents.csv")]) == 0
    return root


def _count(root: Path, model: type, *where: object) -> int:
    db = Database(f"sqlite:///{root / 'nurture.db'}")
    with db.session() as session:
        found = session.scalar(select(func.count()).select_from(model).where(*where))  # type: ignore[arg-type]
    db.dispose()
    return int(found or 0)


def test_dry_run_prints_the_plan_and_writes_nothing(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "backend-engineers-q1", "--now", "2026-03-02T09:30", "--dry-run", "--json"])
    assert code == 0
    out = capsys.readouterr().out
    assert '"dry_run": true' in out and '"step": "intro"' in out
    assert _count(workspace, Enrollment) == 0 and _count(workspace, OutboxMessage) == 0
    assert not (workspace / "outbox").exists()


def test_run_sends_through_the_file_channel_and_never_twice(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["run", "backend-engineers-q1", "--now", "2026-03-02T09:30", "--no-prefect", "--json"]
    assert main(args) == 0
    written = sorted((workspace / "outbox").iterdir())
    sent = _count(workspace, OutboxMessage, OutboxMessage.status == "sent")
    assert sent > 0 and len(written) == sent
    assert main(args) == 0  # the same tick again sends nothing new
    assert sorted((workspace / "outbox").iterdir()) == written
    capsys.readouterr()
    assert main(["outbox", "list", "--in-doubt"]) == 0
    assert main(["migrate", "backend-engineers-q1"]) == 0
    assert "moved 0 enrollment(s)" in capsys.readouterr().out


def test_unknown_campaign_and_task_are_user_errors(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "no-such-campaign", "--no-prefect"]) == 1
    assert "unknown campaign 'no-such-campaign'" in capsys.readouterr().err
    assert main(["tasks", "done", "42"]) == 1
    assert "no task 42" in capsys.readouterr().err
    assert main(["run", "backend-engineers-q1", "--now", "yesterday"]) == 1
    assert _count(workspace, Task) == 0
    assert main(["tasks", "list"]) == 0
