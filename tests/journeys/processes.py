"""Processes of the journeys that start long-running commands (``serve``, a killed ``run``):
free ports, bounded polling, and the Prefect servers left on the machine, read from /proc."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for(condition: Callable[[], object], timeout: float, every: float = 0.5) -> bool:
    """Poll ``condition`` until it is true or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return bool(condition())


def _read(proc: Path) -> tuple[bytes, bytes, int] | None:
    try:
        cmdline = (proc / "cmdline").read_bytes()
        environ = (proc / "environ").read_bytes()
        parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None  # not a process, or gone meanwhile
    return cmdline, environ, parent


def prefect_servers(env: dict[str, str]) -> dict[int, int]:
    """``{pid: parent pid}`` of the Prefect API servers started under this test's
    PREFECT_HOME (found in their own environment)."""
    home = f"PREFECT_HOME={env['PREFECT_HOME']}".encode()
    found = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and (read := _read(proc)):
            cmdline, environ, parent = read
            if b"prefect.server.api.server" in cmdline and home in environ.split(b"\0"):
                found[int(proc.name)] = parent
    return found


def children(pid: int) -> dict[int, bytes]:
    """``{pid: command line}`` of the processes whose parent is ``pid``."""
    found = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and (read := _read(proc)) and read[2] == pid:
            found[int(proc.name)] = read[0]
    return found


def alive(processes: dict[int, bytes]) -> dict[int, bytes]:
    """Those of ``processes`` still running (same pid, same command line: not a reused pid)."""
    still = {}
    for pid, cmdline in processes.items():
        read = _read(Path(f"/proc/{pid}"))
        if read and read[0] == cmdline:  # a zombie has an empty command line
            still[pid] = cmdline
    return still
