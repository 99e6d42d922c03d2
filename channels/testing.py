"""Test doubles shipped with the package (procrastinate-style ``testing`` module).

* :class:`MemoryChannel` (re-exported): an in-memory channel for engine tests and the demo.
* :class:`FakeProvider`: a loopback fake of SendGrid's ``/v3/mail/send`` and Twilio's
  ``Messages.json`` that answers after a set latency and counts every message it receives
  by *our* message id (SendGrid ``custom_args.message_id``, Twilio ``StatusCallback``'s
  ``message_id`` parameter). It runs in its own process, so it survives a crashing
  dispatcher and does not share its GIL; point nurture at it with :meth:`FakeProvider.env`.

Run one by hand: ``python -m channels.testing --port 8025 --latency 0.05``;
``GET /_counts`` returns ``{"counts": {message_id: n}, "requests": n}``, ``POST /_reset``
clears them. ``--fail ADDRESS=STATUS`` answers that status for that recipient.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import re
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from channels.memory import MemoryChannel

_TWILIO_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")
_TWILIO_CODES = {400: 21211, 401: 20003, 429: 20429, 500: 20500, 503: 20503}


@dataclass
class _State:
    latency: float
    failures: Mapping[str, int]
    counts: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    ids: itertools.count[int] = field(default_factory=itertools.count)


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    def encode(self) -> bytes:
        head = [f"HTTP/1.1 {self.status} {HTTPStatus(self.status).phrase}"]
        head += [f"{key}: {value}" for key, value in self.headers]
        head += [f"Content-Length: {len(self.body)}", "Content-Type: application/json", "", ""]
        return "\r\n".join(head).encode() + self.body


def _json(status: int, value: Any, *headers: tuple[str, str]) -> _Reply:
    return _Reply(status, json.dumps(value).encode(), headers)


def _sendgrid(state: _State, body: bytes, headers: Mapping[str, str]) -> _Reply:
    if not headers.get("authorization", "").startswith("Bearer "):
        return _json(401, {"errors": [{"message": "authorization required"}]})
    payload = json.loads(body)
    personalization = (payload.get("personalizations") or [{}])[0]
    args = {**personalization.get("custom_args", {}), **payload.get("custom_args", {})}
    state.counts[str(args.get("message_id"))] += 1
    to = (personalization.get("to") or [{}])[0].get("email", "")
    if status := state.failures.get(to):
        field_name = "personalizations.0.to.0.email" if status == 400 else None
        return _json(status, {"errors": [{"message": "fake failure", "field": field_name}]})
    return _Reply(202, headers=(("X-Message-Id", f"fake{next(state.ids):08d}"),))


def _twilio(state: _State, sid: str, body: bytes) -> _Reply:
    form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
    callback = parse_qs(urlsplit(form.get("StatusCallback", "")).query)
    state.counts[callback.get("message_id", ["None"])[0]] += 1
    if status := state.failures.get(form.get("To", "").removeprefix("whatsapp:")):
        code = _TWILIO_CODES.get(status, status)
        return _json(status, {"code": code, "message": "fake failure", "status": status})
    message_sid = f"SM{next(state.ids):032x}"
    record = {"sid": message_sid, "account_sid": sid, "status": "queued", "num_segments": "1"}
    return _json(201, {**record, "to": form.get("To"), "from": form.get("From")})


def _route(
    state: _State, method: str, path: str, headers: Mapping[str, str], body: bytes
) -> _Reply:
    if method == "GET" and path == "/_counts":
        return _json(200, {"counts": dict(state.counts), "requests": state.requests})
    if method == "POST" and path == "/_reset":
        state.counts.clear()
        state.requests = 0
        return _json(200, {})
    state.requests += 1
    if method == "POST" and path == "/v3/mail/send":
        return _sendgrid(state, body, headers)
    if method == "POST" and (match := _TWILIO_PATH.match(path)):
        return _twilio(state, match["sid"], body)
    return _json(404, {"message": f"no route {method} {path}"})


class _Connection(asyncio.Protocol):
    """Minimal HTTP/1.1 with keep-alive and Content-Length bodies: all httpx sends here."""

    def __init__(self, state: _State) -> None:
        self.state = state
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.pending: set[asyncio.Future[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            lines = self.buffer[:end].decode("latin-1").split("\r\n")
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
            }
            length = int(headers.get("content-length") or 0)
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            method, target, _ = lines[0].split(" ", 2)
            task = asyncio.ensure_future(self._answer(method, urlsplit(target).path, headers, body))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)

    async def _answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        if not path.startswith("/_"):
            await asyncio.sleep(self.state.latency)  # the provider's own latency
        reply = _route(self.state, method, path, headers, body)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(reply.encode())


async def serve(sock: socket.socket, latency: float, failures: Mapping[str, int]) -> None:
    """Serve the fake provider on an already bound socket until cancelled."""
    state = _State(latency, failures)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(state), sock=sock)
    async with server:
        await server.serve_forever()


class FakeProvider:
    """A fake SendGrid + Twilio API in a child process on 127.0.0.1.

    >>> with FakeProvider(latency=0.05) as fake:   # doctest: +SKIP
    ...     settings = SendgridSettings(api_key=SecretStr("x"), base_url=fake.url)
    ...     fake.counts()   # {"<message_id>": 1, ...}
    """

    def __init__(
        self, latency: float = 0.05, *, port: int = 0, failures: Mapping[str, int] | None = None
    ) -> None:
        self.latency, self.port, self.failures = latency, port, dict(failures or {})
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> FakeProvider:
        command = [sys.executable, "-m", "channels.testing", "--port", str(self.port)]
        command += ["--latency", str(self.latency)]
        command += [
            arg
            for address, status in self.failures.items()
            for arg in ("--fail", f"{address}={status}")
        ]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"fake provider did not start: {line!r}")
        self.url = line
        return self

    def env(self) -> dict[str, str]:
        """Environment variables that point nurture at this fake."""
        return {"NURTURE_SENDGRID_BASE_URL": self.url, "NURTURE_TWILIO_BASE_URL": self.url}

    def counts(self) -> dict[str, int]:
        """How many times each of our message ids reached the provider."""
        counts: dict[str, int] = httpx.get(f"{self.url}/_counts").json()["counts"]
        return counts

    def reset(self) -> None:
        httpx.post(f"{self.url}/_reset").raise_for_status()

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _failure(text: str) -> tuple[str, int]:
    address, _, status = text.rpartition("=")
    return address, int(status)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A fake SendGrid/Twilio API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds before each answer")
    parser.add_argument(
        "--fail", type=_failure, action="append", default=[], metavar="ADDRESS=STATUS"
    )
    args = parser.parse_args(argv)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    print(f"http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(sock, args.latency, dict(args.fail)))


__all__ = ["FakeProvider", "MemoryChannel", "serve"]

if __name__ == "__main__":
    main()
