"""The temporary Prefect server behind ``nurture run`` and ``nurture serve``.

Without ``PREFECT_API_URL`` Prefect would start its own "ephemeral" server on first use, wait
20 s for it, and leave it running when the command is killed. nurture starts it itself, as
Prefect does (uvicorn in a subprocess), with three differences: a generous startup timeout,
a one-line error saying what to do when it does not come up, and a server that dies with
its parent, even when the parent is killed with SIGKILL (Linux: ``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sequences.errors import NurtureError

STARTUP_TIMEOUT = 120
"""Seconds to wait for the server unless PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS is
set: Prefect's own default (20) is too short on a loaded machine (its database migrations)."""
_PR_SET_PDEATHSIG = 1


class PrefectUnavailable(NurtureError):
    """The temporary Prefect server did not start (or no Prefect server answers)."""


def _dies_with(parent: int) -> Callable[[], None]:
    """A ``preexec_fn``: the child gets SIGTERM when the thread that started it dies."""

    def arm() -> None:
        if sys.platform.startswith("linux"):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl: nobody would stop us
            os._exit(1)

    return arm


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _server(port: int, *, scheduler: bool) -> Any:
    """Prefect's own subprocess server, spawned so that it cannot outlive nurture. An
    "ephemeral" server runs no services; ``scheduler`` keeps them (the scheduler turns the
    deployments' cron schedules into flow runs)."""
    import prefect
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import get_current_settings

    class Server(SubprocessASGIServer):
        def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
            # Prefect's arguments and environment (server/api/server.py), plus preexec_fn.
            app = ["--app-dir", str(prefect.__module_path__.parent), "--factory",
                   "prefect.server.api.server:create_app"]  # fmt: skip
            address = ["--host", "127.0.0.1", "--port", str(self.port)]
            settings = get_current_settings().to_environment_variables(exclude_unset=True)
            mode = {} if scheduler else {"PREFECT__SERVER_EPHEMERAL": "1"}
            env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_FINAL": "1",
                   **mode, **settings}  # fmt: skip
            return subprocess.Popen(
                [sys.executable, "-m", "uvicorn", *app, *address, "--log-level", "error",
                 "--lifespan", "on"],
                env=env, preexec_fn=_dies_with(os.getpid()),  # noqa: PLW1509
                process_group=0,  # a terminal's Ctrl-C reaches nurture, which stops it last
            )  # fmt: skip

    return Server(port)


def _startup_timeout() -> int:
    from prefect.settings import get_current_settings

    ephemeral = get_current_settings().server.ephemeral
    if "startup_timeout_seconds" in ephemeral.model_fields_set:
        return ephemeral.startup_timeout_seconds
    return STARTUP_TIMEOUT


@contextmanager
def prefect_api(*, scheduler: bool = False) -> Iterator[str]:
    """The Prefect API to use: ``PREFECT_API_URL`` when set, else a temporary server started
    here (from the main thread: the parent-death signal follows the thread that spawned it)
    and stopped on the way out; ``scheduler``: one that runs deployments' schedules."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if url := PREFECT_API_URL.value():
        _check_answers(url)
        yield url
        return
    server = _server(_free_port(), scheduler=scheduler)
    timeout = _startup_timeout()
    try:  # stopped however we leave, a Ctrl-C during its startup included
        try:
            server.start(timeout=timeout)
        except (RuntimeError, OSError) as exc:
            raise PrefectUnavailable(
                f"the temporary Prefect server did not start within {timeout} s: run with "
                "--no-prefect, point PREFECT_API_URL at a Prefect server, or raise "
                "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
            ) from exc
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            yield server.api_url
            _drain()
    finally:
        server.stop()


def _drain() -> None:
    """Send the logs and events still queued while the server is up (else Prefect prints
    "Error logging to API" at exit)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=5)


def _check_answers(url: str) -> None:
    import httpx

    try:
        httpx.get(f"{url.rstrip('/')}/health", timeout=10).raise_for_status()
    except httpx.HTTPError as exc:
        raise PrefectUnavailable(
            f"no Prefect server answers at PREFECT_API_URL={url} ({exc}): start it or fix "
            "PREFECT_API_URL (nurture run --no-prefect needs no Prefect server)"
        ) from exc


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (systemd, Docker, ``kill``) raises KeyboardInterrupt as Ctrl-C does, so that
    ``finally`` blocks run: the temporary server is stopped, claims are left to expire."""
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
