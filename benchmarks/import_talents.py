"""Import generated talents from a CSV file; compare with a raw insert floor.

    python -m benchmarks.import_talents [--rows 1000000] [--database-url URL] [--csv PATH]

Prints JSON: rows/s and peak memory of ``import_talents`` reading the file as it goes
(parse, validate, normalise, dedupe across the whole file, insert talents, labels and
timeline in one transaction) beside rows/s of raw inserts of the same talent rows into an
empty table (executemany on SQLite, COPY on PostgreSQL), in batches, in the same run. One
row in ten has a note spanning two lines and one in a hundred repeats an earlier person.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.store.database import Database
from engine.store.dialect import insert_rows
from engine.store.models import Talent
from engine.talents.csv_import import import_talents, read_csv

CITIES = [("Berlin", "DE", "030 2"), ("Paris", "FR", "01 4"), ("Madrid", "ES", "")]
SKILLS = ["python", "go", "rust", "java", "sql", "react", "kubernetes"]
HEADER = "First Name,Last Name,Email,Phone,City,Country,Skills,Tags,Title,Note\n"
BATCH = 10_000


def person(i: int, rng: random.Random) -> str:
    """Row ``i``; one in a hundred is person ``i - 50`` again (a duplicate row)."""
    number = i - 50 if i % 100 == 99 else i
    city, country, prefix = CITIES[number % len(CITIES)]
    phone = f"{prefix}{1000000 + number}" if prefix else ""  # unique, valid local numbers
    skills = "|".join(rng.sample(SKILLS, 2))
    note = '"met at a meetup,\nwants remote"' if i % 10 == 0 else ""
    return (
        f"First{number},Last{number},person{number}@example.com,{phone},{city},{country},"
        f"{skills},{'backend' if number % 2 else 'frontend'},Engineer,{note}\n"
    )


def generate(rows: int, path: Path, seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        for i in range(rows):
            out.write(person(i, rng))


def peak_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_import(url: str, path: Path) -> tuple[float, dict[str, int]]:
    db = Database(url)
    start = time.perf_counter()
    with path.open("rb") as stream, db.session() as session:
        _, rows = read_csv(stream)
        report = import_talents(session, rows, now=datetime.now(UTC))
    elapsed = time.perf_counter() - start
    db.dispose()
    counts = {"created": report.created, "duplicates": report.duplicates}
    return elapsed, counts | {"rejected": len(report.rejected)}


def talent_rows(count: int) -> Iterator[list[dict[str, Any]]]:
    now = datetime.now(UTC)
    for start in range(0, count, BATCH):
        yield [
            {"email": f"person{i}@example.com", "phone": None, "first_name": f"First{i}",
             "last_name": f"Last{i}", "timezone": None, "country": "DE", "city": "Berlin",
             "company": None, "title": "Engineer", "links": {}, "source": None,
             "attributes": {}, "stage": "person", "stage_changed_at": None,
             "recontact_after": None, "email_consent_at": None, "email_opted_out_at": None,
             "sms_consent_at": None, "sms_opted_out_at": None, "whatsapp_consent_at": None,
             "whatsapp_opted_out_at": None, "last_contacted_at": None, "snoozed_until": None,
             "erased_at": None, "created_at": now, "updated_at": now}
            for i in range(start, min(start + BATCH, count))
        ]  # fmt: skip


def bench_floor(url: str, count: int) -> float:
    db = Database(url)
    start = time.perf_counter()
    with db.session() as session:
        for batch in talent_rows(count):
            insert_rows(session, Talent.__table__, batch)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - start
    db.dispose()
    return elapsed


def _fresh_url(base: str | None, name: str, tmp: Path) -> str:
    if base is None:
        return f"sqlite:///{tmp / name}.db"
    from sqlalchemy import create_engine, text

    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS bench_{name} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA bench_{name}"))
    engine.dispose()
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3Dbench_{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=os.environ.get("NURTURE_BENCH_DATABASE_URL"))
    parser.add_argument("--csv", type=Path, help="keep the generated file here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.csv or Path(tmp) / "talents.csv"
        if not path.exists():
            generate(args.rows, path)
        baseline = peak_mb()
        import_s, counts = bench_import(_fresh_url(args.database_url, "import", Path(tmp)), path)
        import_peak = peak_mb()
        floor_s = bench_floor(_fresh_url(args.database_url, "floor", Path(tmp)), args.rows)
    floor = "COPY" if args.database_url else "executemany"
    result = {
        "benchmark": "import_talents",
        "database": "postgresql" if args.database_url else "sqlite",
        "rows": args.rows,
        **counts,
        "import_seconds": round(import_s, 1),
        "import_rows_per_s": round(args.rows / import_s),
        "peak_mb_before_import": round(baseline),
        "peak_mb_after_import": round(import_peak),
        f"floor_raw_{floor}_rows_per_s": round(args.rows / floor_s),
        "ratio_to_floor": round(floor_s / import_s, 3),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
