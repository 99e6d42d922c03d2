"""One campaign tick through Prefect itself (a temporary Prefect server: ~15 s)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.cli import main
from engine.db import Database
from engine.flows import transient_only
from engine.models import OutboxMessage

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "recruiting"


@pytest.mark.prefect
# Prefect's temporary server leaves a loopback client socket for the garbage collector.
@pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_one_tick_runs_as_a_prefect_flow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from engine.flows import campaign_tick

    root = tmp_path / "recruiting"
    shutil.copytree(EXAMPLE, root)
    for name in ("NURTURE_DATABASE_URL", "SENDGRID_API_KEY", "TWILIO_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NURTURE_WORKSPACE", str(root))
    monkeypatch.setenv("NURTURE_SECRET_KEY", "p" * 32)
    assert main(["talents", "import", str(root / "talents.csv")]) == 0
    with prefect_test_harness():
        summary = asyncio.run(
            campaign_tick("backend-engineers-q1", str(root), "2026-03-02T09:30:00+00:00")
        )
    db = Database(f"sqlite:///{root / 'nurture.db'}")
    with db.session() as session:
        sent = set(
            session.scalars(select(OutboxMessage.message_id).where(OutboxMessage.status == "sent"))
        )
    db.dispose()
    assert summary["enrolled"] > 0
    assert summary["dispatch"]["sent"] == len(sent) > 0
    assert {path.stem for path in (root / "outbox").iterdir()} == sent


class _State:
    def __init__(self, data: object) -> None:
        self.data = data


def test_tasks_retry_on_transient_errors_only() -> None:
    from sqlalchemy.exc import OperationalError

    from channels.errors import PermanentError, TransientError
    from sequences.errors import DefinitionError

    assert transient_only(None, None, _State(TransientError("503")))
    assert transient_only(None, None, _State(OperationalError("BEGIN", {}, Exception("locked"))))
    assert not transient_only(None, None, _State(PermanentError("invalid address")))
    assert not transient_only(None, None, _State(DefinitionError([])))
    assert not transient_only(None, None, _State(ValueError("bug")))
