"""One tick spread over a work pool: a Prefect server, a process worker, two shards.

What ``nurture deploy --pool`` sets up, run for real: the tick deployment and the campaign's
``campaign-shard`` deployment on a process pool, one ``prefect worker start`` polling it,
``NURTURE_TICK_SHARDS=2``. The tick works as shard 0 and starts one shard run, which the
worker runs in a process of its own; a fake SendGrid counts every message (slow: ~60 s).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from channels.testing import FakeProvider
from engine.config import Config
from engine.runs.runtime import Runtime
from engine.runs.shards import UNSTARTED, _shard_reports
from engine.store.database import Database
from engine.store.models import OutboxMessage
from tests.integration.test_engine_dispatch import T0, _talents, _workspace

ROOT = Path(__file__).resolve().parents[2]
TALENTS = 1200  # more than a batch (500): the shards share the tick batch by batch
pytestmark = [
    pytest.mark.slow,
    pytest.mark.prefect,
    # Prefect's temporary server leaves a loopback client socket for the garbage collector.
    pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning"),
]


def _register(root: Path, env: dict[str, str]) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.deployments.runner import adeploy
    from prefect.types.entrypoint import EntrypointType

    from engine.runs.flows import deployments

    config = Config.load(root, env=env)

    async def register() -> None:
        async with get_client() as client:
            await client.create_work_pool(WorkPoolCreate(name="shards", type="process"))
        found = await deployments(config, Runtime.load(config), pool="shards",
                                  entrypoint_type=EntrypointType.MODULE_PATH)  # fmt: skip
        await adeploy(*found, work_pool_name="shards", build=False, push=False,
                      print_next_steps_message=False)  # fmt: skip

    asyncio.run(register())


def _run_tick() -> tuple[Any, list[Any]]:
    """Trigger the tick as a schedule would; wait for it; the tick's run and its shards'."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("campaign-tick/blast")
        run = client.create_flow_run_from_deployment(
            deployment.id, parameters={"now": T0.isoformat()}
        )
        deadline = time.monotonic() + 120
        while not ((tick := client.read_flow_run(run.id)).state and tick.state.is_final()):
            assert time.monotonic() < deadline, f"the tick is still {tick.state}"
            time.sleep(0.5)
        shards = [
            r for r in client.read_flow_runs() if r.name.startswith("blast-") and r.id != run.id
        ]
    return tick, shards


def test_a_two_shard_tick_on_a_process_worker_sends_each_email_once(
    tmp_path: Path, db_url: str, db: Database
) -> None:
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    root = _workspace(tmp_path / "ws")
    _talents(db, TALENTS)
    with FakeProvider(latency=0.1) as fake, prefect_test_harness(server_startup_timeout=180):
        env = {**os.environ, **fake.env(), "PYTHONPATH": str(ROOT),
               "PREFECT_API_URL": str(PREFECT_API_URL.value()), "NURTURE_DATABASE_URL": db_url,
               "NURTURE_EMAIL_CHANNEL": "sendgrid", "SENDGRID_API_KEY": "SG.test",
               "NURTURE_PUBLIC_URL": "https://hooks.example", "NURTURE_SECRET_KEY": "s" * 32,
               "NURTURE_TICK_SHARDS": "2", "PREFECT_WORKER_QUERY_SECONDS": "1"}  # fmt: skip
        _register(root, env)
        worker = subprocess.Popen(
            [str(Path(sys.executable).with_name("prefect")), "worker", "start", "--pool", "shards",
             "--type", "process"],
            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        try:
            tick, shards = _run_tick()
            reports = asyncio.run(_shard_reports([r.id for r in shards]))
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        counts = fake.counts()

    assert tick.state is not None and tick.state.is_completed(), tick.state
    [shard] = shards  # one shard run besides the tick's own work
    assert shard.parent_task_run_id is not None  # shown under the tick in Prefect's UI
    assert shard.state is not None
    if shard.state.is_completed():
        assert shard.id in reports  # what it did, read back from its artifact
    else:  # it had not started when the tick's own shard ran out of work
        assert shard.state.is_cancelled() and shard.state.message == UNSTARTED
    assert len(counts) == TALENTS and set(counts.values()) == {1}  # each person, one email
    with db.session() as session:
        statuses = dict(
            session.execute(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
            )
            .tuples()
            .all()
        )
    assert statuses == {"sent": TALENTS}
