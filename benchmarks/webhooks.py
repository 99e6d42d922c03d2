"""Throughput of the webhook app: signed SendGrid Event Webhook batches, stored once each.

A SQLite (or ``--database-url``) talent base is seeded with ``--messages`` sent emails
(talents, enrollments waiting after their intro step, outbox rows). The SendGrid events
those emails would produce (processed and delivered for each, an open for half, a click for
one in ten) are signed with a generated EC key in batches of ``--batch`` events, the way
SendGrid signs them, and posted to the app served by uvicorn (its own process) on loopback,
``--concurrency`` batches in flight. Every event goes through signature check, parsing, and
``engine.inbound.events.apply_event`` (dedup, correlation, stage, branch). The batches are then
posted again: every replay must come back as a duplicate.

The floor, measured in the same run: the same number of timeline rows inserted raw
(executemany, one transaction per batch) into a fresh database of the same kind.

    .venv/bin/python -m benchmarks.webhooks [--messages 8000] [--batch 500] [--concurrency 2]

(run it as a module from the repository root: run as a file, ``benchmarks/engine.py`` would
shadow the ``engine`` package).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, insert, select

from campaigns.workspace import load_workspace
from channels.sendgrid import event_webhook_public_key, sign_event_webhook
from engine.enrollments.enroll import store_snapshot
from engine.store.database import Database
from engine.store.models import Engagement, Enrollment, OutboxMessage, Talent

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "recruiting"
CAMPAIGN, SEQUENCE = "backend-engineers-q1", "backend-outbound"


def serve_app() -> Any:
    """The uvicorn ``--factory`` entry point: the real app from the environment."""
    from engine.config import Config
    from engine.web.app import create_app

    config = Config.load()
    return create_app(config, Database(config.database_url, migrate=False))


# --- seeding -------------------------------------------------------------------------------


def seed(db: Database, count: int, now: datetime) -> list[str]:
    """``count`` talents, each with an enrollment waiting after a sent intro email."""
    with db.session() as session:
        content_hash = store_snapshot(session, load_workspace(EXAMPLE).sequences[SEQUENCE], now=now)
        session.execute(insert(Talent), [_talent(i, now) for i in range(count)])
        session.execute(
            insert(Enrollment), [_enrollment(i, content_hash, now) for i in range(count)]
        )
        message_ids = [uuid.uuid4().hex for _ in range(count)]
        session.execute(
            insert(OutboxMessage), [_message(i, m, now) for i, m in enumerate(message_ids)]
        )
    return message_ids


def _talent(i: int, now: datetime) -> dict[str, Any]:
    return {"id": i + 1, "email": f"talent{i}@example.net", "first_name": f"T{i}",
            "stage": "prospect", "links": {}, "attributes": {}, "timezone": "Europe/Berlin",
            "created_at": now, "updated_at": now, "last_contacted_at": now}  # fmt: skip


def _enrollment(i: int, content_hash: str, now: datetime) -> dict[str, Any]:
    return {"id": i + 1, "talent_id": i + 1, "campaign": CAMPAIGN, "sequence": SEQUENCE,
            "content_hash": content_hash, "kind": "outbound", "status": "waiting",
            "step_id": "intro", "variant": "ab"[i % 2], "due_at": now + timedelta(days=3),
            "step_sent_at": now, "entered_at": now, "updated_at": now}  # fmt: skip


def _message(i: int, message_id: str, now: datetime) -> dict[str, Any]:
    return {"message_id": message_id, "enrollment_id": i + 1, "talent_id": i + 1,
            "campaign": CAMPAIGN, "step_id": "intro", "variant": "ab"[i % 2], "channel": "email",
            "to": f"talent{i}@example.net", "domain": "example.net",
            "sender": "charlotte@acme.example", "subject": "Hello", "text": "Hello",
            "headers": {"Message-ID": f"<{message_id}@acme.example>"}, "status": "sent",
            "due_at": now, "sent_at": now, "attempts": 1, "created_at": now,
            "provider_message_id": f"sg{i}"}  # fmt: skip


def events_for(message_ids: list[str], at: datetime) -> list[dict[str, Any]]:
    """What SendGrid reports for these emails, in time order."""
    kinds = [("processed", 1), ("delivered", 1), ("open", 2), ("click", 10)]
    return [
        {"event": kind, "sg_event_id": f"{kind}-{i}", "sg_message_id": f"sg{i}.filter0001",
         "timestamp": int(at.timestamp()), "email": f"talent{i}@example.net",
         "message_id": message_id, "url": "https://acme.example/jobs"}
        for kind, every in kinds
        for i, message_id in enumerate(message_ids)
        if i % every == 0
    ]  # fmt: skip


# --- the server and the client -------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "uvicorn", "--factory", "benchmarks.webhooks:serve_app",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
               "--no-access-log"]  # fmt: skip
    server = subprocess.Popen(command, env={**os.environ, **env}, cwd=REPO)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("uvicorn did not start")


def sign(
    batches: list[bytes], key: ec.EllipticCurvePrivateKey
) -> list[tuple[bytes, dict[str, str]]]:
    stamp = str(int(time.time()))
    return [(b, {**sign_event_webhook(b, key, stamp), "Content-Type": "application/json"})
            for b in batches]  # fmt: skip


async def post_all(
    url: str, signed: list[tuple[bytes, dict[str, str]]], concurrency: int
) -> list[dict[str, int]]:
    queue = list(reversed(signed))
    results: list[dict[str, int]] = []
    async with httpx.AsyncClient(timeout=120) as client:

        async def worker() -> None:
            while queue:
                body, headers = queue.pop()
                response = await client.post(url, content=body, headers=headers)
                response.raise_for_status()
                results.append(response.json())

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


# --- the floor -----------------------------------------------------------------------------


def raw_floor(url: str, events: list[dict[str, Any]], batch: int) -> float:
    """Seconds to insert the same timeline rows raw, one transaction per batch."""
    db = Database(url)
    now = datetime.now(UTC)
    rows = [{"talent_id": None, "kind": e["event"], "occurred_at": now, "channel": "email",
             "campaign": CAMPAIGN, "enrollment_id": None, "step_id": "intro", "variant": "a",
             "message_id": e["message_id"], "provider": "sendgrid",
             "provider_event_id": e["sg_event_id"], "data": {}} for e in events]  # fmt: skip
    started = time.perf_counter()
    for start in range(0, len(rows), batch):
        with db.session() as session:
            session.execute(insert(Engagement), rows[start : start + batch])
    elapsed = time.perf_counter() - started
    db.dispose()
    return elapsed


def _count(db: Database) -> int:
    with db.session() as session:
        query = select(func.count()).where(Engagement.provider == "sendgrid")
        return int(session.scalar(query) or 0)


def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    url = args.database_url or f"sqlite:///{folder / 'nurture.db'}"
    floor_url = args.floor_database_url or f"sqlite:///{folder / 'floor.db'}"
    db = Database(url)
    now = datetime.now(UTC)
    events = events_for(seed(db, args.messages, now), now)
    batches = [
        json.dumps(events[i : i + args.batch]).encode() for i in range(0, len(events), args.batch)
    ]
    key = ec.generate_private_key(ec.SECP256R1())
    port = _free_port()
    env = {"NURTURE_DATABASE_URL": url, "NURTURE_WORKSPACE": str(EXAMPLE),
           "SENDGRID_WEBHOOK_PUBLIC_KEY": event_webhook_public_key(key),
           "NURTURE_SECRET_KEY": "bench"}  # fmt: skip
    server = start_server(env, port)
    try:
        endpoint = f"http://127.0.0.1:{port}/webhooks/sendgrid/events"
        started = time.perf_counter()
        first = asyncio.run(post_all(endpoint, sign(batches, key), args.concurrency))
        stored_s = time.perf_counter() - started
        started = time.perf_counter()
        replay = asyncio.run(post_all(endpoint, sign(batches, key), args.concurrency))
        replay_s = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(10)
    stored, rows = sum(r["stored"] for r in first), _count(db)
    assert stored == rows == len(events), (stored, rows, len(events))
    assert sum(r["duplicates"] for r in replay) == len(events)
    db.dispose()
    floor_s = raw_floor(floor_url, events, args.batch)
    return {
        "backend": db.engine.dialect.name,
        "events": len(events),
        "batch": args.batch,
        "concurrency": args.concurrency,
        "events_per_s": round(len(events) / stored_s),
        "replayed_events_per_s": round(len(events) / replay_s),
        "floor_raw_insert_events_per_s": round(len(events) / floor_s),
        "share_of_floor": round(floor_s / stored_s, 3),
        "target_events_per_s": 5000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=8000, help="sent emails to report on")
    parser.add_argument("--batch", type=int, default=500, help="events per signed post")
    parser.add_argument("--concurrency", type=int, default=2, help="posts in flight")
    parser.add_argument("--database-url", help="an empty database (default: SQLite file)")
    parser.add_argument("--floor-database-url", help="an empty database for the raw floor")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print(json.dumps(run(args, Path(folder)), indent=2))


if __name__ == "__main__":
    main()
