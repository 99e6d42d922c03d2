"""The desk's page timings on a talent base of 100,000 people.

    python -m benchmarks.web [--talents 100000] [--backend sqlite|postgresql|all]

For each backend (PostgreSQL when NURTURE_BENCH_DATABASE_URL or NURTURE_TEST_DATABASE_URL is
set): a workspace made like ``nurture init``'s, N talents (a tenth tagged ``backend``, a
task to call for one in ten), N enrollments of the backend campaign with their ``entered``
and ``sent`` timeline rows and a reply for one in twenty; on PostgreSQL then the
``VACUUM ANALYZE`` autovacuum would run after such a load; then a signed-in desk over ASGI
(the whole app: session check, queries, Jinja2), each page asked for 5 times: the median
and the slowest, in ms.
Targets: search and a person's page under 200 ms, the campaign page under 500 ms.
Prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.engine import database_url, drop_database

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
CAMPAIGN = "backend-engineers-q1"
TARGETS = {"search by name": 200, "search by email": 200, "search by tag and stage": 200,
           "person": 200, "campaigns": 500}  # fmt: skip
RUNS = 5


def _fill(db: Any, count: int) -> None:
    from engine.store.dialect import insert_rows
    from engine.store.models import (
        Engagement,
        Enrollment,
        SequenceSnapshot,
        Talent,
        TalentLabel,
        Task,
    )

    stages = ("person", "prospect", "engaged", "candidate")
    with db.session() as session:
        session.add(SequenceSnapshot(content_hash="0" * 64, sequence="backend-outbound",
                                     document={}, created_at=T0))  # fmt: skip
    for start in range(0, count, 20_000):
        ids = range(start + 1, min(start + 20_000, count) + 1)
        with db.session() as session:
            insert_rows(session, Talent.__table__, [  # type: ignore[arg-type]
                {"id": i, "email": f"person{i}@example{i % 97}.com", "phone": None,
                 "first_name": f"First{i}", "last_name": f"Last{i % 5000}", "timezone": None,
                 "country": "DE", "city": "Berlin", "company": f"Company {i % 3000}",
                 "title": "Engineer", "links": {}, "source": "bench", "attributes": {},
                 "stage": stages[i % 4], **_empty_times(), "created_at": T0, "updated_at": T0}
                for i in ids])  # fmt: skip
            insert_rows(
                session,
                TalentLabel.__table__,
                [  # type: ignore[arg-type]
                    {"talent_id": i, "kind": "tag", "value": "backend"} for i in ids if i % 10 == 0
                ],
            )
            insert_rows(session, Enrollment.__table__, [  # type: ignore[arg-type]
                {"id": i, "talent_id": i, "campaign": CAMPAIGN, "sequence": "backend-outbound",
                 "content_hash": "0" * 64, "kind": "inbound", "status": "waiting",
                 "step_id": "intro", "variant": "ab"[i % 2], "due_at": T0 + timedelta(days=3),
                 "step_sent_at": T0, "wait_goto": None, "outcome": None, "entered_at": T0,
                 "exited_at": None, "updated_at": T0} for i in ids])  # fmt: skip
            insert_rows(session, Task.__table__, [  # type: ignore[arg-type]
                {"talent_id": i, "enrollment_id": i, "campaign": CAMPAIGN, "step_id": "call",
                 "title": f"Call First{i}", "body": None, "due_at": T0, "created_at": T0,
                 "completed_at": None} for i in ids if i % 10 == 5])  # fmt: skip
            events = [("entered", 1), ("sent", 1), ("opened", 3), ("replied", 20)]
            insert_rows(session, Engagement.__table__, [  # type: ignore[arg-type]
                {"talent_id": i, "kind": kind, "occurred_at": T0 + timedelta(minutes=n),
                 "channel": "email", "campaign": CAMPAIGN, "enrollment_id": i,
                 "step_id": "intro", "variant": "ab"[i % 2], "message_id": None,
                 "provider": None, "provider_event_id": None, "detail": None,
                 "data": {"intent": "interested"} if kind == "replied" else {}}
                for i in ids for n, (kind, every) in enumerate(events) if i % every == 0
            ])  # fmt: skip


def _settle(url: str) -> None:
    """After a bulk load, what PostgreSQL's autovacuum soon does: statistics for the planner,
    and the visibility map that lets index-only scans skip the table."""
    if not url.startswith("postgresql"):
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def _empty_times() -> dict[str, None]:
    names = (
        "stage_changed_at",
        "recontact_after",
        "email_consent_at",
        "email_opted_out_at",
        "sms_consent_at",
        "sms_opted_out_at",
        "whatsapp_consent_at",
        "whatsapp_opted_out_at",
        "last_contacted_at",
        "snoozed_until",
        "erased_at",
    )
    return dict.fromkeys(names)  # fmt: skip


async def _timings(app: Any, count: int) -> dict[str, Any]:
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://desk") as http:
        form = await http.get("/signin")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        account = {"email": "bench@acme.example", "password": "bench-password", "csrf": token}
        signed = await http.post("/signin", data=account)
        assert signed.status_code == 303, signed.text
        middle = count // 2
        pages = {
            "search by name": f"/people?q=First{middle}",
            "search by email": f"/people?q=person{middle}@",
            "search by tag and stage": "/people?tag=backend&stage=person&page=20",
            "person": f"/people/{middle}",
            "campaigns": "/campaigns",
        }
        result: dict[str, Any] = {}
        for name, path in pages.items():
            times = []
            for _ in range(RUNS):
                started = time.perf_counter()
                response = await http.get(path)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (path, response.status_code)
            median = statistics.median(times)
            result[name] = {"path": path, "median_ms": round(median, 1),
                            "max_ms": round(max(times), 1), "target_ms": TARGETS[name],
                            "ok": median < TARGETS[name]}  # fmt: skip
        return result


def run(backend: str, count: int) -> dict[str, Any]:
    from engine.cli.scaffold import prepare_workspace
    from engine.config import Config
    from engine.core.clock import fixed_clock
    from engine.store.database import Database
    from engine.web.app import create_app
    from engine.web.desk.accounts import add_user

    with tempfile.TemporaryDirectory() as folder:
        root = prepare_workspace(Path(folder) / "workspace")
        url = database_url(backend, Path(folder))
        try:
            config = Config.load(root, env={"NURTURE_DATABASE_URL": url})
            db = Database(config.database_url)
            started = time.perf_counter()
            _fill(db, count)
            _settle(url)
            filled = time.perf_counter() - started
            with db.session() as session:
                add_user(session, "bench@acme.example", "bench-password", now=T0)
            app = create_app(config, db, fixed_clock(T0 + timedelta(days=1)))
            pages = asyncio.run(_timings(app, count))
            db.dispose()
        finally:
            drop_database(url)
    return {"backend": backend, "talents": count, "fill_s": round(filled, 1), "pages": pages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--talents", type=int, default=100_000)
    parser.add_argument("--backend", default="all", choices=["sqlite", "postgresql", "all"])
    args = parser.parse_args()
    has_pg = bool(os.environ.get("NURTURE_BENCH_DATABASE_URL")
                  or os.environ.get("NURTURE_TEST_DATABASE_URL"))  # fmt: skip
    backends = ["sqlite", "postgresql"] if args.backend == "all" else [args.backend]
    results = [run(b, args.talents) for b in backends if b == "sqlite" or has_pg]
    load = [round(x, 1) for x in os.getloadavg()]  # a busy machine slows every page
    json.dump({"benchmark": "web desk pages", "runs_per_page": RUNS, "cores": os.cpu_count(),
               "load_average": load, "results": results}, sys.stdout, indent=2)  # fmt: skip
    print()


if __name__ == "__main__":
    main()
