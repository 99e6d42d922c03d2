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
  :func:`insert_rows` (``COPY`` on PostgreSQL), :func:`execute_many` (the driver's
  ``executemany`` on SQLite);
- the suppression-list key: :func:`address_hash` and its SQL form :class:`address_hash_of`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
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
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import UpdateBase
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

    # SQLite stores SQLAlchemy's text format, "YYYY-MM-DD HH:MM:SS.ffffff". Writing and
    # reading it in one step each (isoformat, fromisoformat: C) instead of through the
    # SQLite DATETIME type's Python formatting saves a tenth of the engine's database time:
    # a step binds about 20 datetimes and reads about 40.

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

    An IN list is one parameter per value, cast, sent and parsed each time: for the
    engine's batches of 1,000 ids that cost about 4 ms more a statement than one array."""
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

    On PostgreSQL, rows that name every column but the key go through ``COPY``: psycopg's
    ``executemany`` costs about 25 µs a row in this process (SQLAlchemy's parameters, then
    one Bind/Execute each), COPY about 3. The values pass the columns' own bind processors
    first, so they are what an INSERT would have written. Other rows: :func:`execute_many`."""
    if not rows:
        return
    names = list(rows[0])
    if _on_sqlite(session) or set(names) != _copy_columns(table):
        execute_many(session, insert(table), rows)
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


def _copy_columns(table: Table) -> set[str]:
    """The columns a COPY must name: all but an autoincrement key (defaults do not apply)."""
    return {column.name for column in table.c if column is not table.autoincrement_column}


RAW_ROWS = 100


def execute_many(session: Session, statement: UpdateBase, rows: list[dict[str, Any]]) -> None:
    """``session.execute(statement, rows)`` for rows that each name the same parameters.

    On SQLite the statement is compiled once (``compile()``, named parameters) and the rows
    go to the driver's ``executemany`` as dicts, through their parameters' own bind
    processors. SQLAlchemy's own handling of each row (``construct_params``, then the
    processors) cost 3 µs more a row on an INSERT of the timeline and 20 on the UPDATE of
    an enrollment, and a step writes eight rows. A statement that needs SQLAlchemy row by
    row (a Python-side default, an expanding IN) takes the plain path, as do PostgreSQL and
    batches under :data:`RAW_ROWS` rows: compiling (0.3 ms, where SQLAlchemy reuses its
    cached form) costs what a hundred rows save."""
    if not rows:
        return
    if not _on_sqlite(session) or len(rows) < RAW_ROWS:
        session.execute(statement, rows)
        return
    dialect = session.get_bind().dialect
    compiled = statement.compile(dialect=_named(dialect), column_keys=list(rows[0]))
    if (
        compiled.insert_prefetch or compiled.update_prefetch or compiled.post_compile_params
        or not compiled.binds.keys() >= rows[0].keys()
    ):  # fmt: skip
        session.execute(statement, rows)
        return
    processors = {name: _processor(bind.type, dialect) for name, bind in compiled.binds.items()}
    own = {  # the statement's own values
        name: value if (process := processors[name]) is None else process(value)
        for name, value in compiled.construct_params(rows[0]).items() if name not in rows[0]
    }  # fmt: skip
    processed = [(name, process) for name in rows[0] if (process := processors[name])]
    params = []
    for row in rows:
        values = {**own, **row}
        for name, process in processed:
            values[name] = process(values[name])
        params.append(values)
    session.flush()  # as session.execute would: pending ORM changes go first
    session.connection().exec_driver_sql(compiled.string, params)


def _named(dialect: Any) -> Any:
    """The SQLite dialect with ``:name`` parameters, which sqlite3 reads from dicts."""
    return type(dialect)(paramstyle="named")


def _processor(type_: Any, dialect: Any) -> Callable[[Any], Any] | None:
    return cast("Callable[[Any], Any] | None", type_.dialect_impl(dialect).bind_processor(dialect))
