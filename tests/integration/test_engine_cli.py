"""``nurture run|migrate|outbox|tasks`` on the example workspace (no Prefect: ``--no-prefect``)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.cli.app import main
from engine.store.database import Database
from engine.store.models import Engagement, Enrollment, OutboxMessage, Talent, Task

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


def test_a_dry_run_on_a_fresh_workspace_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "fresh"
    shutil.copytree(EXAMPLE, root)
    for name in ("NURTURE_DATABASE_URL", "NURTURE_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NURTURE_WORKSPACE", str(root))
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    assert main(["run", "backend-engineers-q1", "--dry-run", "--now", "2026-03-02T09:30"]) == 0
    assert "nothing to plan: no talent base" in capsys.readouterr().out
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # no db, no key


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


def _db(root: Path) -> Database:
    return Database(f"sqlite:///{root / 'nurture.db'}")


def _one_in_doubt(root: Path) -> tuple[str, str]:
    """Run a tick, then make its first message in doubt: (that id, a sent one's id)."""
    assert main(["run", "backend-engineers-q1", "--now", "2026-03-02T09:30", "--no-prefect"]) == 0
    db = _db(root)
    with db.session() as session:
        doubtful, sure = session.scalars(select(OutboxMessage).limit(2)).all()
        doubtful.status, doubtful.error = "in_doubt", "lease expired before a receipt"
        ids = doubtful.message_id, sure.message_id
    db.dispose()
    return ids


def test_outbox_list_in_doubt_shows_only_the_claims_in_doubt(
    workspace: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # whole ids and addresses in the table
    ids = _one_in_doubt(workspace)
    capsys.readouterr()
    assert main(["outbox", "list", "--in-doubt"]) == 0
    out = capsys.readouterr().out
    assert ids[0] in out and ids[1] not in out and "in_doubt" in out
    assert main(["outbox", "list", "--limit", "500"]) == 0
    assert ids[1] in capsys.readouterr().out


def test_outbox_settle_plans_an_in_doubt_message_again_and_refuses_anything_else(
    workspace: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # the errors name whole ids on one line
    ids = _one_in_doubt(workspace)
    capsys.readouterr()
    assert main(["outbox", "settle", ids[0]]) == 1
    assert "--sent or --resend" in capsys.readouterr().err
    assert main(["outbox", "settle", ids[0], ids[1], "nope", "--sent"]) == 1
    err = capsys.readouterr().err
    assert f"{ids[1]} is sent, not in doubt" in err and "nope: no such message" in err
    assert _count(workspace, OutboxMessage, OutboxMessage.status == "in_doubt") == 1  # untouched
    now = "2026-03-02T11:00"
    assert main(["outbox", "settle", ids[0], "--resend", "--now", now]) == 0
    assert f"{ids[0]} (backend-engineers-q1:" in capsys.readouterr().out
    db = _db(workspace)
    with db.session() as session:
        row = session.scalars(select(OutboxMessage).where(OutboxMessage.message_id == ids[0])).one()
        assert (row.status, row.due_at, row.claimed_at) == (
            "planned",
            datetime(2026, 3, 2, 11, tzinfo=UTC),
            None,
        )
    db.dispose()


def test_tasks_list_then_done_completes_the_task_once(
    workspace: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    db = _db(workspace)
    with db.session() as session:
        talent = session.scalars(select(Talent).order_by(Talent.id)).first()
        assert talent is not None
        when = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
        task = Task(talent_id=talent.id, title="Call Ada about the role", created_at=when,
                    due_at=when)  # fmt: skip
        session.add(task)
        session.flush()
        task_id = task.id
    capsys.readouterr()
    assert main(["tasks", "list"]) == 0
    assert "Call Ada about the role" in capsys.readouterr().out
    assert main(["tasks", "done", str(task_id), "--now", "2026-03-03T10:00"]) == 0
    assert f"task {task_id} done" in capsys.readouterr().out
    assert main(["tasks", "list"]) == 0
    assert "Call Ada" not in capsys.readouterr().out
    assert main(["tasks", "done", str(task_id)]) == 1
    assert "already completed on 2026-03-03" in capsys.readouterr().err
    with db.session() as session:
        kinds = session.scalars(
            select(Engagement.kind).where(Engagement.talent_id == talent.id)
        ).all()
    db.dispose()
    assert kinds.count("task_completed") == 1
