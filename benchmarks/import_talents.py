"""Import 100,000 generated talents from CSV; compare with a raw Core executemany floor.

    python benchmarks/import_talents.py [--rows 100000] [--database-url URL]

Prints JSON: rows/s of ``import_talents`` (parse, validate, normalise, dedupe, insert talents,
labels and timeline in one transaction) beside rows/s of a bare executemany of the same
talent rows into an empty table, measured in the same run on the same database.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

from engine.db import Database
from engine.models import Talent
from engine.talents import import_talents, read_csv

CITIES = [("Berlin", "DE", "030 2"), ("Paris", "FR", "01 4"), ("Madrid", "ES", "")]
SKILLS = ["python", "go", "rust", "java", "sql", "react", "kubernetes"]


def generate(rows: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    lines = ["First Name,Last Name,Email,Phone,City,Country,Skills,Tags,Title"]
    for i in range(rows):
        city, country, prefix = rng.choice(CITIES)
        number = f"{prefix}{1000000 + i}" if prefix else ""  # unique, valid local numbers
        skills = "|".join(rng.sample(SKILLS, 2))
        lines.append(
            f"First{i},Last{i},person{i}@example.com,{number},{city},{country},{skills},"
            f"{'backend' if i % 2 else 'frontend'},Engineer"
        )
    return ("\n".join(lines) + "\n").encode()


def bench_import(url: str, data: bytes) -> tuple[float, int]:
    db = Database(url)
    _, rows = read_csv(data)
    start = time.perf_counter()
    with db.session() as session:
        report = import_talents(session, rows, now=datetime.now(UTC), region=None)
    elapsed = time.perf_counter() - start
    db.dispose()
    return elapsed, report.created


def bench_floor(url: str, count: int) -> float:
    db = Database(url)
    now = datetime.now(UTC)
    values = [
        {"email": f"person{i}@example.com", "first_name": f"First{i}", "last_name": f"Last{i}",
         "city": "Berlin", "country": "DE", "title": "Engineer", "links": {}, "attributes": {},
         "stage": "person", "created_at": now, "updated_at": now}
        for i in range(count)
    ]  # fmt: skip
    start = time.perf_counter()
    with db.session() as session:
        session.execute(insert(Talent), values)
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
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default=os.environ.get("NURTURE_BENCH_DATABASE_URL"))
    args = parser.parse_args()
    data = generate(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        import_s, created = bench_import(_fresh_url(args.database_url, "import", Path(tmp)), data)
        floor_s = bench_floor(_fresh_url(args.database_url, "floor", Path(tmp)), args.rows)
    backend = "postgresql" if args.database_url else "sqlite"
    print(
        json.dumps(
            {
                "benchmark": "import_talents",
                "database": backend,
                "rows": args.rows,
                "created": created,
                "import_seconds": round(import_s, 2),
                "import_rows_per_s": round(args.rows / import_s),
                "floor_raw_executemany_rows_per_s": round(args.rows / floor_s),
                "ratio_to_floor": round(floor_s / import_s, 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
