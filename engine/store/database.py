"""The database: engine creation, SQLite pragmas, Alembic upgrades, sessions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from sqlalchemy import (
    JSON,
    ColumnElement,
    DateTime,
    Engine,
    Table,
    any_,
    bindparam,
    create_engine,
    event,
    insert,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    import psycopg

MIGRATIONS = Path(__file__).parent / "migrations"

JSONType = JSON().with_variant(JSONB(), "postgresql")


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
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    # SQLite stores SQLAlchemy's text format, "YYYY-MM-DD HH:MM:SS.ffffff". Writing and
    # reading it in one step each (isoformat, fromisoformat: C) instead of through the
    # SQLite DATETIME type's Python formatting saves a tenth of the engine's database time:
    # a step binds about 20 datetimes and reads about 40.

    def bind_processor(self, dialect: Any) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            naive = self.process_bind_param(value, dialect)
            return None if naive is None else naive.isoformat(" ", "microseconds")

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        def process(value: str | None) -> datetime | None:
            parsed = None if value is None else datetime.fromisoformat(value)
            return self.process_result_value(parsed, dialect)

        return process


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
    }


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
    dbapi_connection.create_function("nurture_address_hash", 1, _address_hash, deterministic=True)


def _address_hash(address: str | None) -> str | None:
    """SQLite's ``nurture_address_hash()``: :func:`engine.talents.addresses.address_hash` in SQL."""
    from engine.talents.addresses import address_hash

    return None if address is None else address_hash(address)


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql(conn.info.pop("begin", "BEGIN"))


def make_engine(url: str, **kwargs: Any) -> Engine:
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


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (run on first use by the CLI)."""
    from alembic import command  # a third of a second: only when a database is opened
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def among(session: Session, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN (values)``; on PostgreSQL ``column = ANY(:values)``, one array parameter.

    An IN list is one parameter per value, cast, sent and parsed each time: for the
    engine's batches of 1,000 ids that cost about 4 ms more a statement than one array."""
    values = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return cast(
            "ColumnElement[bool]", column == any_(bindparam(None, values, ARRAY(column.type)))
        )
    return cast("ColumnElement[bool]", column.in_(values))


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT ``rows`` (each naming the same columns) in the session's transaction.

    On PostgreSQL, rows that name every column but the key go through ``COPY``: psycopg's
    ``executemany`` costs about 25 µs a row in this process (SQLAlchemy's parameters, then
    one Bind/Execute each), COPY about 3. The values pass the columns' own bind processors
    first, so they are what an INSERT would have written. Other rows: :func:`execute_many`."""
    if not rows:
        return
    names = list(rows[0])
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql" or set(names) != _copy_columns(table):
        execute_many(session, insert(table), rows)
        return
    session.flush()  # as session.execute would: pending ORM changes go first
    columns = [table.c[name] for name in names]
    slots = [(True, column.name, None, _processor(column.type, dialect)) for column in columns]
    quote = dialect.identifier_preparer
    listed = ", ".join(quote.format_column(column) for column in columns)
    sql = f"COPY {quote.format_table(table)} ({listed}) FROM STDIN"
    connection = cast("psycopg.Connection[Any]", session.connection().connection.dbapi_connection)
    with connection.cursor() as cursor, cursor.copy(sql) as copy:
        for values in _bound(rows, slots):
            copy.write_row(values)


RAW_ROWS = 100


def execute_many(session: Session, statement: UpdateBase, rows: list[dict[str, Any]]) -> None:
    """``session.execute(statement, rows)`` for rows that each name the same parameters.

    On SQLite the statement is compiled once and each row goes to the driver as a tuple,
    through its parameters' own bind processors. SQLAlchemy's own handling of each row
    (``construct_params``, then the processors, then the tuple) cost 3 µs more a row on an
    INSERT of the timeline and 5 on the UPDATE of an enrollment, about a tenth of the row,
    and a step writes eight rows. A statement that needs SQLAlchemy row by row (a Python-side
    default, an expanding IN) takes the plain path, as do PostgreSQL and batches under
    :data:`RAW_ROWS` rows: compiling (0.3 ms, where SQLAlchemy reuses its cached form) costs
    what a hundred rows save."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    if dialect.name != "sqlite" or len(rows) < RAW_ROWS:
        session.execute(statement, rows)
        return
    compiled = statement.compile(dialect=dialect, column_keys=list(rows[0]))
    order = compiled.positiontup
    if (
        order is None or compiled.insert_prefetch or compiled.update_prefetch
        or compiled.post_compile_params or compiled.escaped_bind_names
    ):  # fmt: skip
        session.execute(statement, rows)
        return
    fixed = compiled.construct_params(rows[0])  # the statement's own values, with the row's
    slots: list[_Slot] = []
    for name in order:
        given, process = name in rows[0], _processor(compiled.binds[name].type, dialect)
        value = process(fixed[name]) if process is not None and not given else fixed[name]
        slots.append((given, name, value, process))
    params = list(_bound(rows, slots))
    session.flush()  # as session.execute would: pending ORM changes go first
    session.connection().exec_driver_sql(compiled.string, params)


# A parameter as the driver gets it: whether each row gives it, its name, its value
# otherwise (already processed), and its bind processor.
_Slot = tuple[bool, str, Any, "Callable[[Any], Any] | None"]


def _bound(rows: list[dict[str, Any]], slots: list[_Slot]) -> Iterator[tuple[Any, ...]]:
    """Each row's values in slot order, through their bind processors."""
    for row in rows:
        yield tuple(
            (row[name] if process is None else process(row[name])) if given else value
            for given, name, value, process in slots
        )


def _processor(type_: Any, dialect: Any) -> Callable[[Any], Any] | None:
    return cast("Callable[[Any], Any] | None", type_.dialect_impl(dialect).bind_processor(dialect))


def _copy_columns(table: Table) -> set[str]:
    """The columns a COPY must name: all but an autoincrement key (defaults do not apply)."""
    return {column.name for column in table.c if column is not table.autoincrement_column}


class Database:
    """An engine plus its session factory; created once per process from the Config."""

    def __init__(self, url: str, *, migrate: bool = True, **engine_kwargs: Any) -> None:
        self.engine = make_engine(url, **engine_kwargs)
        if migrate:
            upgrade(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self, *, immediate: bool = False) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error.

        ``immediate`` takes SQLite's write lock at BEGIN (``BEGIN IMMEDIATE``), so that a
        read-then-write transaction such as an outbox claim cannot interleave with another.
        """
        if immediate and self.engine.dialect.name == "sqlite":
            with self.engine.connect() as connection:
                connection.info["begin"] = "BEGIN IMMEDIATE"
                with Session(bind=connection, expire_on_commit=False) as session, session.begin():
                    yield session
            return
        with self.sessions.begin() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        """:meth:`session` (``immediate``) for a coroutine whose work is short and CPU-bound.

        Waiting for a pooled connection and for SQLite's write lock happens in a thread; the
        statements then run on the event loop. A thread per transaction would make the loop
        and the thread take turns at the GIL, which cost the dispatcher a quarter of its
        throughput; a wait on the loop would stall every send in flight. (PostgreSQL row
        locks are still waited for on the loop: only other short transactions hold them.)
        """
        with self.session(immediate=True) as session:
            await asyncio.to_thread(session.connection)
            yield session

    def checkpoint(self) -> bool:
        """SQLite: copy the WAL into the database file and empty it, so that what an erasure
        overwrote is gone from ``*.db-wal`` too; False when a reader kept it from completing.
        Nothing to do on PostgreSQL."""
        if self.engine.dialect.name != "sqlite":
            return True
        raw = self.engine.raw_connection()  # no BEGIN: a checkpoint runs outside transactions
        try:
            busy, _, _ = raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            raw.close()
        return not busy

    def dispose(self) -> None:
        self.engine.dispose()
