"""Every difference between SQLite and PostgreSQL, in one place.

Outside this module no code asks which database it is on (a test greps for it); it calls one
of these instead:

- connecting: :func:`create` (SQLite: WAL, a busy timeout, explicit BEGINs),
  :func:`sqlite_file`, :func:`shared_by_machines`,
  :func:`write_locked` (SQLite's write lock taken at BEGIN for a read-then-write transaction);
- types: :data:`JSONType`, :class:`UTCDateTime`;
- reading: :class:`json_equals` (a JSON attribute with its type), :func:`among` (an array
  parameter on PostgreSQL), :class:`starts_with` and its :func:`prefix_index` (a prefix
  search an index serves), :func:`serialize` (an advisory lock); row locks need nothing here:
  SQLAlchemy leaves ``FOR UPDATE [SKIP LOCKED]`` out on SQLite, whose transactions hold
  the database's write lock instead (:func:`write_locked`);
- writing: :func:`insert_selected` (``ON CONFLICT DO NOTHING``),
  :func:`insert_rows` (``COPY`` on PostgreSQL) and :func:`update_rows` (both: the driver's
  ``executemany`` on SQLite for large batches);
- the suppression-list key: :func:`address_hash` and its SQL form :class:`address_hash_of`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    Insert,
    Select,
    String,
    Table,
    any_,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    literal,
    make_url,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    import psycopg

JSONType = JSON().with_variant(postgresql.JSONB(), "postgresql")


def _on_sqlite(bind: Any) -> bool:
    """Whether ``bind`` (a session, connection, engine or dialect) is SQLite."""
    if isinstance(bind, Session):
        bind = bind.get_bind()
    return bool(getattr(bind, "dialect", bind).name == "sqlite")


# --- the suppression-list key ---------------------------------------------------------------


def address_hash(address: str) -> str:
    """The suppression-list key of a normalized email or E.164 phone.

    The one definition: SQLite calls this very function from SQL (registered on connect),
    PostgreSQL runs :class:`address_hash_of`'s translation of it, which a test holds equal on
    tricky addresses. Stored keys depend on it: never change what it returns."""
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()


class address_hash_of(FunctionElement[str]):
    """:func:`address_hash` of a column, in SQL."""

    type = String()
    inherit_cache = True


@compiles(address_hash_of, "sqlite")
def _address_hash_sqlite(element: address_hash_of, compiler: Any, **kw: Any) -> str:
    return f"nurture_address_hash({compiler.process(element.clauses, **kw)})"


# What ``str.strip()`` strips (no whitespace lies above U+3000), for PostgreSQL's btrim().
WHITESPACE = "".join(c for c in map(chr, range(0x3001)) if c.isspace())


@compiles(address_hash_of, "postgresql")
def _address_hash_postgresql(element: address_hash_of, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    spaces = compiler.process(literal(WHITESPACE), **kw)
    return f"encode(sha256(convert_to(lower(btrim({column}, {spaces})), 'UTF8')), 'hex')"


def _sqlite_address_hash(address: str | None) -> str | None:
    return None if address is None else address_hash(address)


# --- connecting -----------------------------------------------------------------------------


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy (not pysqlite) issue BEGIN, so BEGIN IMMEDIATE works for claims.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA secure_delete=ON")  # erased data is overwritten, not left in pages
    cursor.close()
    dbapi_connection.create_function(
        "nurture_address_hash", 1, _sqlite_address_hash, deterministic=True
    )


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql(conn.info.pop("begin", "BEGIN"))


def create(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and explicit BEGINs."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite ``url`` names; None for an in-memory or a server database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def shared_by_machines(url: str) -> bool:
    """Whether workers on several machines can share the database at ``url`` (not SQLite)."""
    return make_url(url).get_backend_name() != "sqlite"


def write_locked(engine: Engine) -> AbstractContextManager[Connection] | None:
    """A connection whose BEGIN takes SQLite's write lock (``BEGIN IMMEDIATE``), so that a
    read-then-write transaction cannot interleave with another; None on PostgreSQL, where
    ``FOR UPDATE`` row locks do that job."""
    return _immediate(engine) if _on_sqlite(engine) else None


@contextmanager
def _immediate(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        connection.info["begin"] = "BEGIN IMMEDIATE"
        yield connection


def one_writer_at_a_time(engine: Engine) -> bool:
    """Whether writers must queue for the database's single write lock (SQLite): an app
    serving concurrent requests takes turns instead of waiting on ``busy_timeout``."""
    return _on_sqlite(engine)


def checkpoint(engine: Engine) -> bool:
    """SQLite: copy the WAL into the database file and empty it, so that what an erasure
    overwrote is gone from ``*.db-wal`` too; False when a reader kept it from completing.
    Nothing to do on PostgreSQL."""
    if not _on_sqlite(engine):
        return True
    raw = engine.raw_connection()  # no BEGIN: a checkpoint runs outside transactions
    try:
        busy, _, _ = raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        raw.close()
    return not busy


def render_as_batch(connection: Connection) -> bool:
    """Whether Alembic must rebuild tables to alter them (SQLite's ALTER TABLE is limited)."""
    return _on_sqlite(connection)


# --- types ----------------------------------------------------------------------------------


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if _on_sqlite(dialect) else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    # SQLite stores SQLAlchemy's text format, "YYYY-MM-DD HH:MM:SS.ffffff". It is written
    # and read in one C call each (isoformat, fromisoformat) rather than through the SQLite
    # DATETIME type's formatting in Python: every step of an enrollment binds and reads
    # dozens of datetimes, so this conversion is among the engine's hottest code.

    def bind_processor(self, dialect: Any) -> Any:
        if not _on_sqlite(dialect):
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            naive = self.process_bind_param(value, dialect)
            return None if naive is None else naive.isoformat(" ", "microseconds")

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        if not _on_sqlite(dialect):
            return super().result_processor(dialect, coltype)

        def process(value: str | None) -> datetime | None:
            parsed = None if value is None else datetime.fromisoformat(value)
            return self.process_result_value(parsed, dialect)

        return process


# --- reading --------------------------------------------------------------------------------


def among(session: Session, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN (values)``; on PostgreSQL ``column = ANY(:values)``, one array parameter.

    An IN list is one parameter per value, each cast, sent and parsed: for the engine's
    batches of ids that is work in proportion to the batch, where an array is one value."""
    values = list(values)
    if _on_sqlite(session):
        return cast("ColumnElement[bool]", column.in_(values))
    array = bindparam(None, values, postgresql.ARRAY(column.type))
    return cast("ColumnElement[bool]", column == any_(array))


def serialize(session: Session, key: str) -> None:
    """Serialize this transaction with others on ``key`` (PostgreSQL: an advisory lock; on
    SQLite writers are serialized already)."""
    if not _on_sqlite(session):
        session.execute(select(func.pg_advisory_xact_lock(func.hashtext(key))))


class json_equals(ColumnElement[bool]):
    """``attributes[key]`` equals ``value`` with its JSON type (7 is not "7", true is not 1).

    SQLite: ``json_type`` and ``json_extract``; PostgreSQL: jsonb equality, which compares
    numbers by value (7 = 7.0). No cast can fail on a row holding another type.
    """

    inherit_cache = False
    type = Boolean()

    def __init__(self, column: Any, key: str, value: str | int | float | bool) -> None:
        self.column, self.key, self.value = column, key, value


_SQLITE_TYPES = {
    bool: "('true', 'false')",
    int: "('integer', 'real')",
    float: "('integer', 'real')",
}


@compiles(json_equals, "sqlite")
def _json_equals_sqlite(element: json_equals, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    path = compiler.process(literal(f'$."{element.key}"'), **kw)
    kinds = _SQLITE_TYPES.get(type(element.value), "('text')")
    value = int(element.value) if isinstance(element.value, bool) else element.value
    wanted = compiler.process(literal(value), **kw)
    return f"(json_type({column}, {path}) IN {kinds} AND json_extract({column}, {path}) = {wanted})"


@compiles(json_equals)
def _json_equals_jsonb(element: json_equals, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    key = compiler.process(literal(element.key), **kw)
    wanted = compiler.process(literal(json.dumps(element.value)), **kw)
    return f"(({column} -> {key}) = CAST({wanted} AS JSONB))"


class starts_with(ColumnElement[bool]):
    """``expression`` begins with ``prefix``, written so an index on ``expression`` serves it.

    SQLite compares a range (its ``LIKE`` uses no index on an expression, and compares
    case-insensitively); PostgreSQL says ``LIKE 'prefix%'``, which an index with
    ``text_pattern_ops`` serves whatever the database's collation (:func:`prefix_index`).
    """

    inherit_cache = False
    type = Boolean()
    _is_implicitly_boolean = True  # SQLite: no "= 1" after it, which would hide the index

    def __init__(self, expression: Any, prefix: str) -> None:
        self.searched, self.prefix = expression, prefix


@compiles(starts_with, "sqlite")
def _starts_with_sqlite(element: starts_with, compiler: Any, **kw: Any) -> str:
    expression = compiler.process(element.searched, **kw)
    low = compiler.process(literal(element.prefix), **kw)
    high = compiler.process(literal(element.prefix + "\U0010ffff"), **kw)  # above any next char
    return f"({expression} >= {low} AND {expression} < {high})"


@compiles(starts_with)
def _starts_with_like(element: starts_with, compiler: Any, **kw: Any) -> str:
    expression = compiler.process(element.searched, **kw)
    escaped = "".join("\\" + c if c in "\\%_" else c for c in element.prefix)
    pattern = compiler.process(literal(escaped + "%"), **kw)
    return f"({expression} LIKE {pattern})"


def prefix_index(connection: Connection, name: str, table: str, expression: str) -> None:
    """``CREATE INDEX name ON table (expression)`` for :class:`starts_with` (PostgreSQL: with
    ``text_pattern_ops``, so ``LIKE 'prefix%'`` uses it in any collation)."""
    ops = "" if _on_sqlite(connection) else " text_pattern_ops"
    connection.exec_driver_sql(f"CREATE INDEX {name} ON {table} (({expression}){ops})")


# --- writing --------------------------------------------------------------------------------


def _insert_ignoring(session: Session, table: Any) -> Insert:
    """``INSERT INTO table … ON CONFLICT DO NOTHING``."""
    if _on_sqlite(session):
        return sqlite.insert(table).on_conflict_do_nothing()
    return postgresql.insert(table).on_conflict_do_nothing()


ID_CHUNK = 20_000


def insert_selected(
    session: Session, table: Any, key: str, ids: Select[tuple[int]], values: dict[str, Any]
) -> None:
    """A row of ``table`` per id that ``ids`` selects (its column ``key``) with ``values``,
    skipping conflicts.

    SQLite: one INSERT ... SELECT. PostgreSQL: the ids first, then batched inserts, because
    inside one INSERT ... SELECT the planner sees an empty target table and checks each
    candidate with a scan of the rows the statement itself is adding (quadratic)."""
    statement = _insert_ignoring(session, table)
    if _on_sqlite(session):
        literals = [literal(value, table.c[name].type) for name, value in values.items()]
        source = ids.with_only_columns(*ids.selected_columns, *literals)
        session.execute(statement.from_select([key, *values], source))
        return
    found = list(session.scalars(ids))
    for start in range(0, len(found), ID_CHUNK):
        session.execute(statement, [{key: i, **values} for i in found[start : start + ID_CHUNK]])


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT ``rows`` (each naming the same columns) in the session's transaction.

    On PostgreSQL, rows that name every column but the key go through ``COPY``, one stream
    instead of a Bind/Execute per row; on SQLite, large batches go to the driver's
    ``executemany`` (:func:`_driver_many`). The values pass the columns' own bind
    processors first, so they are what an INSERT would have written. A row leaving out a
    column with a Python-side default takes SQLAlchemy's path, which fills it in."""
    if not rows:
        return
    names = list(rows[0])
    if _on_sqlite(session) or set(names) != _copy_columns(table):
        if not _driver_many(session, table, rows, _insert_sql, omitted=_computed(table, names)):
            session.execute(insert(table), rows)
        return
    session.flush()  # as session.execute would: pending ORM changes go first
    dialect = session.get_bind().dialect
    processors = [(name, _processor(table.c[name].type, dialect)) for name in names]
    quote = dialect.identifier_preparer
    listed = ", ".join(quote.format_column(table.c[name]) for name in names)
    sql = f"COPY {quote.format_table(table)} ({listed}) FROM STDIN"
    connection = cast("psycopg.Connection[Any]", session.connection().connection.dbapi_connection)
    with connection.cursor() as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(
                tuple(row[n] if process is None else process(row[n]) for n, process in processors)
            )


def update_rows(
    session: Session, table: Table, rows: list[dict[str, Any]], *, key: str = "id"
) -> None:
    """UPDATE ``table`` SET the other columns each row names WHERE ``key`` is the row's.

    Every row names the same columns, by their names; a value is a value, not an SQL
    expression (the same for every row is written in every row)."""
    if not rows:
        return
    names = list(rows[0])
    computed = _computed(table, names, "onupdate")
    if _driver_many(session, table, rows, partial(_update_sql, key=key), omitted=computed):
        return
    # SQLAlchemy forbids bind parameters named after the columns they set: prefix them.
    sets: dict[str, Any] = {name: bindparam(f"p_{name}") for name in names if name != key}
    statement = update(table).where(table.c[key] == bindparam(f"p_{key}")).values(sets)
    params = [{f"p_{name}": value for name, value in row.items()} for row in rows]
    session.execute(statement, params)


def _copy_columns(table: Table) -> set[str]:
    """The columns a COPY must name: all but an autoincrement key (defaults do not apply)."""
    return {column.name for column in table.c if column is not table.autoincrement_column}


def _computed(table: Table, names: list[str], kind: str = "default") -> bool:
    """Whether a column left out of ``names`` has a value SQLAlchemy computes in Python
    (its ``default`` on INSERT, its ``onupdate`` on UPDATE)."""
    return any(getattr(column, kind) is not None for column in table.c if column.name not in names)


RAW_ROWS = 100


def _driver_many(
    session: Session,
    table: Table,
    rows: list[dict[str, Any]],
    sql: Callable[[Any, Table, list[str]], str],
    *,
    omitted: bool = False,
) -> bool:
    """Run ``sql(preparer, table, names)`` (``:name`` parameters) through the driver's
    ``executemany`` on SQLite, each value through its column's bind processor; False
    (nothing done) on PostgreSQL, under :data:`RAW_ROWS` rows, or when a left-out column
    has a Python-side default (``omitted``).

    SQLAlchemy's own executemany builds each row's parameters in Python before processing
    them, on the path where the engine writes every batch; here each value is processed
    once and handed on. Under :data:`RAW_ROWS` rows SQLAlchemy's cached statement costs
    less than building the SQL."""
    if omitted or not _on_sqlite(session) or len(rows) < RAW_ROWS:
        return False
    dialect = session.get_bind().dialect
    names = list(rows[0])
    processed = [
        (name, process) for name in names if (process := _processor(table.c[name].type, dialect))
    ]
    params = []
    for row in rows:
        values = dict(row)
        for name, process in processed:
            values[name] = process(values[name])
        params.append(values)
    session.flush()  # as session.execute would: pending ORM changes go first
    sql_text = sql(dialect.identifier_preparer, table, names)
    session.connection().exec_driver_sql(sql_text, params)
    return True


def _insert_sql(quote: Any, table: Table, names: list[str]) -> str:
    columns = ", ".join(quote.format_column(table.c[name]) for name in names)
    values = ", ".join(f":{name}" for name in names)
    return f"INSERT INTO {quote.format_table(table)} ({columns}) VALUES ({values})"


def _update_sql(quote: Any, table: Table, names: list[str], *, key: str) -> str:
    sets = ", ".join(f"{quote.format_column(table.c[n])} = :{n}" for n in names if n != key)
    where = f"{quote.format_column(table.c[key])} = :{key}"
    return f"UPDATE {quote.format_table(table)} SET {sets} WHERE {where}"


def _processor(type_: Any, dialect: Any) -> Callable[[Any], Any] | None:
    return cast("Callable[[Any], Any] | None", type_.dialect_impl(dialect).bind_processor(dialect))
