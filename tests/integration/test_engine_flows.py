"""One campaign tick through Prefect itself (a temporary Prefect server: ~15 s)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.cli.app import main
from engine.runs.flows import transient_only
from engine.store.database import Database
from engine.store.models import CampaignState, OutboxMessage

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "recruiting"


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    """One temporary Prefect server (PREFECT_API_URL points at it) for this module's tests."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        yield


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "recruiting"
    shutil.copytree(EXAMPLE, root)
    for name in ("NURTURE_DATABASE_URL", "SENDGRID_API_KEY", "TWILIO_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NURTURE_WORKSPACE", str(root))
    monkeypatch.setenv("NURTURE_SECRET_KEY", "p" * 32)
    return root


@pytest.mark.prefect
# Prefect's temporary server leaves a loopback client socket for the garbage collector.
@pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.usefixtures("prefect_server")
class TestThroughPrefect:
    def test_one_tick_runs_as_a_prefect_flow(self, workspace: Path) -> None:
        from engine.runs.flows import campaign_tick

        root = workspace
        assert main(["talents", "import", str(root / "talents.csv")]) == 0
        summary = asyncio.run(
            campaign_tick("backend-engineers-q1", str(root), "2026-03-02T09:30:00+00:00")
        )
        db = Database(f"sqlite:///{root / 'nurture.db'}")
        with db.session() as session:
            sent = set(
                session.scalars(
                    select(OutboxMessage.message_id).where(OutboxMessage.status == "sent")
                )
            )
        db.dispose()
        assert summary["enrolled"] > 0
        assert summary["dispatch"]["sent"] == len(sent) > 0
        assert {path.stem for path in (root / "outbox").iterdir()} == sent

    def test_deploy_registers_each_campaign_on_its_schedule(
        self, workspace: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`nurture deploy --pool P`: what process workers on other machines will run."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.actions import WorkPoolCreate

        from campaigns.workspace import load_workspace

        async def create_pool() -> None:
            async with get_client() as client:
                await client.create_work_pool(WorkPoolCreate(name="nurture", type="process"))

        async def registered() -> list[Any]:
            async with get_client() as client:
                return list(await client.read_deployments())

        asyncio.run(create_pool())
        # workers of several machines share one PostgreSQL talent base (deploy refuses SQLite)
        monkeypatch.setenv("NURTURE_DATABASE_URL", "postgresql+psycopg://nurture@db.internal/n")
        assert main(["deploy", "--pool", "nurture"]) == 0
        campaigns = load_workspace(workspace).campaigns
        every = asyncio.run(registered())
        found = {d.name: d for d in every if d.entrypoint == "engine.runs.flows.campaign_tick"}
        assert set(found) == set(campaigns)
        # the runs a tick spreads over the pool (NURTURE_TICK_SHARDS): unscheduled, unlimited
        shards = {d.name: d for d in every if d.entrypoint == "engine.runs.shards.campaign_shard"}
        assert set(shards) == set(campaigns) and len(every) == 2 * len(campaigns)
        for name, shard in shards.items():
            assert shard.work_pool_name == "nurture" and shard.schedules == []
            assert shard.parameters == {"campaign": name, "workspace": str(workspace),
                                        "deployed": True}  # fmt: skip
            assert shard.global_concurrency_limit is None
        for name, deployment in found.items():
            assert deployment.work_pool_name == "nurture"
            assert deployment.entrypoint == "engine.runs.flows.campaign_tick"  # importable anywhere
            assert deployment.parameters == {"campaign": name, "workspace": str(workspace),
                                             "deployed": True}  # fmt: skip
            limit = deployment.global_concurrency_limit
            assert limit is not None and limit.limit == 1  # one tick of a campaign at a time
            [schedule] = [s.schedule for s in deployment.schedules]
            assert schedule.cron == campaigns[name].schedule.cron
            assert schedule.timezone == campaigns[name].schedule.timezone

    def test_a_scheduled_tick_leaves_a_pause_and_nurture_run_lifts_it(
        self, workspace: Path
    ) -> None:
        from engine.outbox.dispatch import pause
        from engine.runs.flows import campaign_tick

        assert main(["talents", "import", str(workspace / "talents.csv")]) == 0
        db = Database(f"sqlite:///{workspace / 'nurture.db'}")
        at = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
        with db.session() as session:
            pause(session, "backend-engineers-q1", "email channel: HTTP 401", now=at)
        now = "2026-03-02T09:30:00+00:00"
        summary = asyncio.run(campaign_tick("backend-engineers-q1", str(workspace), now))
        assert summary["paused"] == "email channel: HTTP 401"
        assert summary["dispatch"]["sent"] == summary["enrolled"] == 0
        assert main(["run", "backend-engineers-q1", "--now", now]) == 0
        with db.session() as session:
            state = session.get(CampaignState, "backend-engineers-q1")
            sent = session.scalar(select(func.count()).where(OutboxMessage.status == "sent"))
        db.dispose()
        assert state is not None and not state.paused
        assert sent


def test_deploy_without_a_pool_is_a_usage_error(workspace: Path) -> None:
    assert main(["deploy"]) == 1


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


def _sigint_handler_in_a_runner_child(queue: Any) -> None:
    import signal

    from engine.runs.flows import _leave_ctrl_c_to_the_runner

    _leave_ctrl_c_to_the_runner()
    queue.put(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)


def test_a_flow_run_process_leaves_ctrl_c_to_the_runner_that_spawned_it() -> None:
    """``nurture serve``'s runner runs each tick in a spawned process of its process group: a
    Ctrl-C is the runner's to handle, not a traceback in the child as it exits."""
    import multiprocessing
    import signal

    context = multiprocessing.get_context("spawn")  # as Prefect's run_flow_in_subprocess
    queue = context.Queue()
    child = context.Process(target=_sigint_handler_in_a_runner_child, args=(queue,))
    child.start()
    try:
        assert queue.get(timeout=60) is True
    finally:
        child.join(timeout=60)
    from engine.runs.flows import _leave_ctrl_c_to_the_runner

    before = signal.getsignal(signal.SIGINT)
    _leave_ctrl_c_to_the_runner()  # the CLI's own process (nurture run): Ctrl-C stays
    assert signal.getsignal(signal.SIGINT) is before
