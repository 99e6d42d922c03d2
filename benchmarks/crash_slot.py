"""How long a crashed flow run keeps its deployment's concurrency slot (Prefect's lease).

A campaign's deployment runs one tick at a time (``concurrency_limit=1``). This starts a
Prefect server of its own (SQLite, with its services), a process work pool and worker,
and a deployment whose flow sleeps; a second run waits for the slot; then the first run
is killed with SIGKILL and the time until the second run is Running is measured:

- ``worker_alive``: only the flow run's process dies; its worker reports it Crashed;
- ``machine_lost``: the worker dies with it; a new worker starts at once;
- ``machine_lost_heartbeats``: the same, with 30 s flow-run heartbeats and the automation
  of docs/how-to/production.md that crashes a run without a heartbeat for 90 s.

Prints the seconds of each as JSON. Takes about ten minutes (Prefect's 300 s lease).

    python benchmarks/crash_slot.py
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from prefect import flow

BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent
POOL = "crash-slot"
DOC = HERE.parent / "docs" / "how-to" / "production.md"
AUTOMATION = re.compile(r"<!-- file: crash-runs-of-lost-workers.yaml -->\n```yaml\n(.*?)```", re.S)


@flow(name="sleeper")
async def sleeper(seconds: float = 900) -> None:
    await asyncio.sleep(seconds)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _ours(home: str) -> list[int]:
    """Every process started with our PREFECT_HOME (server, workers, flow runs)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            if f"PREFECT_HOME={home}".encode() in Path(f"/proc/{pid}/environ").read_bytes():
                found.append(int(pid))
    return [pid for pid in found if pid != os.getpid()]


def _flow_processes(run_id: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            if run_id.encode() in Path(f"/proc/{pid}/environ").read_bytes():
                found.append(int(pid))
    return found


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--type", "process"]
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip


async def _until(client: Any, run_id: Any, *states: str) -> None:
    """Poll the Prefect API until the run is in one of ``states`` (at most 15 minutes)."""
    async with asyncio.timeout(900):
        while (await client.read_flow_run(run_id)).state.name not in states:  # noqa: ASYNC110
            await asyncio.sleep(1)


async def _measure(env: dict[str, str], scenario: str, log: Path) -> float:
    from prefect.client.orchestration import get_client

    workers = [_worker(env, log)]
    try:
        async with get_client() as client:
            deployment = await client.read_deployment_by_name("sleeper/one")
            first = await client.create_flow_run_from_deployment(deployment.id)
            await _until(client, first.id, "Running")
            second = await client.create_flow_run_from_deployment(
                deployment.id, parameters={"seconds": 1}
            )
            await asyncio.sleep(10)  # the second run finds the slot taken
            if scenario != "worker_alive":
                workers[0].kill()
            for pid in _flow_processes(str(first.id)):
                os.kill(pid, signal.SIGKILL)
            killed = time.monotonic()
            if scenario != "worker_alive":
                workers.append(_worker(env, log))
            await _until(client, second.id, "Running", "Completed")
            return round(time.monotonic() - killed)
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()


async def _deploy() -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.deployments.runner import adeploy
    from prefect.types.entrypoint import EntrypointType

    crash_slot = importlib.import_module("crash_slot")  # this file, importable by workers

    async with get_client() as client:
        await client.create_work_pool(WorkPoolCreate(name=POOL, type="process"))
    deployment = await crash_slot.sleeper.ato_deployment(
        name="one", concurrency_limit=1, work_pool_name=POOL,
        entrypoint_type=EntrypointType.MODULE_PATH,
    )  # fmt: skip
    await adeploy(deployment, work_pool_name=POOL, build=False, push=False,
                  print_next_steps_message=False, ignore_warnings=True)  # fmt: skip


def _automation(env: dict[str, str], home: Path) -> None:
    """The automation docs/how-to/production.md shows, created as the page says."""
    found = AUTOMATION.search(DOC.read_text(encoding="utf-8"))
    assert found is not None, f"no crash-runs-of-lost-workers.yaml in {DOC}"
    spec = home / "crash-runs-of-lost-workers.yaml"
    spec.write_text(found.group(1))
    subprocess.run([str(BIN / "prefect"), "automation", "create", "--from-file", str(spec)],
                   env=env, check=True, capture_output=True)  # fmt: skip


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="nurture-crash-slot-"))
    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL":
           f"http://127.0.0.1:{port}/api", "PYTHONPATH": str(HERE)}  # fmt: skip
    log = home / "prefect.log"
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port),
         "--no-ui"], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        import httpx
        from prefect.settings import PREFECT_API_URL, temporary_settings

        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{env['PREFECT_API_URL']}/health", timeout=5).is_success:
                    break
            time.sleep(1)
        sys.path.insert(0, str(HERE))
        with temporary_settings({PREFECT_API_URL: env["PREFECT_API_URL"]}):  # not a temporary one
            asyncio.run(_deploy())
            result = {"worker_alive": asyncio.run(_measure(env, "worker_alive", log))}
            result["machine_lost"] = asyncio.run(_measure(env, "machine_lost", log))
            _automation(env, home)
            env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] = "30"
            result["machine_lost_heartbeats"] = asyncio.run(
                _measure(env, "machine_lost_heartbeats", log)
            )
        print(json.dumps({"seconds_from_kill_to_next_run": result}))
    finally:
        for pid in _ours(str(home)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        server.wait()


if __name__ == "__main__":
    main()
