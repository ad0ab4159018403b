"""The consent database: engine set-up, transactions and schema migrations (Alembic).

SQLite in the instance folder by default, PostgreSQL through `MARKETPLACE_DATABASE_URL`
(`Settings.database_url`).
Every change happens in `Database.write()`, one transaction that commits or rolls back as a
whole; pages that only look use `Database.read()`.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import DateTime, Engine, Executable, Table, create_engine, event, inspect, make_url
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool
from sqlalchemy.types import TypeDecorator

from consent_app.instance import create_private

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_FILE_NAME = "marketplace.sqlite3"
BUSY_TIMEOUT_MS = 15_000
"""How long a SQLite writer waits for another one before giving up."""
AUDIT_KEY = "audit_key"
"""`Session.info` key: the audit log's HMAC key (see `consent_app.audit`)."""


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC (the only kind of time this app stores)."""
    return datetime.now(UTC)


CLOCK = "clock"
"""`Session.info` key: the clock of the backend the session belongs to (tests inject one)."""


def session_now(session: Session) -> datetime:
    """Now, by the clock of the backend that opened `session` (`utcnow` without one), so every
    time a transaction writes agrees with the clock its rules used."""
    clock = session.info.get(CLOCK)
    return clock() if clock is not None else utcnow()


# --- statements built once ---------------------------------------------------------------------
#
# Through a session, each statement costs Python twice over: building it (every `==` in a
# where clause is an object, and its cache key is computed again) and the ORM's execution
# layer around the connection's. A customer's decision runs about twenty, which made it most
# of the request's CPU (benchmarks page, "One accept, in process"). The statements the busy
# paths run are built once, with `bindparam` for what varies, and run on the session's
# connection (`run`); the rows they only append go in together, one INSERT per table for all
# of a transaction's (`append_row`).


def run(
    session: Session, statement: Executable, params: Mapping[str, Any] | None = None
) -> CursorResult[Any]:
    """Execute a Core statement built once (`bindparam` for what varies) in the session's
    transaction, on its connection. What the session holds unwritten (its objects, the rows
    `append_row` holds) is written first, as an ORM query would, so the statement sees every
    change the transaction made."""
    session.flush()
    write_appended(session)
    return session.connection().execute(statement, params)


def per_dialect(build: Callable[[Any], Executable]) -> Callable[[Session], Executable]:
    """An INSERT … ON CONFLICT built once for each database this app runs on (`build` is
    given that database's `insert`); called with a session, the one for its database."""
    built = {"sqlite": build(sqlite_insert), "postgresql": build(postgresql_insert)}

    def statement(session: Session) -> Executable:
        return built[session.connection().dialect.name]

    return statement


Model = TypeVar("Model")


@dataclass(frozen=True)
class _Insert:
    statement: Executable  # INSERT INTO the table
    columns: tuple[tuple[str, str, Any], ...]  # attribute, column, scalar default (or None)


_INSERTS: dict[type[Any], _Insert] = {}


def _insert_of(model: type[Any]) -> _Insert:
    found = _INSERTS.get(model)
    if found is None:
        mapper = inspect(model)
        columns = []
        for attribute in mapper.column_attrs:
            column = attribute.columns[0]
            if column.server_default is not None or not (
                column.default is None or column.default.is_scalar
            ):  # the object is to say what the row holds: only a scalar default can
                raise TypeError(f"append_row: {column} has a default it cannot fill in")
            default = column.default.arg if column.default is not None else None
            columns.append((attribute.key, column.key, default))
        table: Table = mapper.local_table
        found = _INSERTS[model] = _Insert(table.insert(), tuple(columns))
    return found


def _row_values(insert: _Insert, row: Any) -> dict[str, Any]:
    """The columns a new object's INSERT gives, its scalar defaults filled in (on the object
    too). None is left out, so the column is NULL: given None, a JSON column would hold the
    JSON text 'null' (and `payload IS NULL` would no longer find it)."""
    values = {}
    for attribute, column, default in insert.columns:
        value = getattr(row, attribute)
        if value is None and default is not None:
            value = default
            setattr(row, attribute, value)
        if value is not None:
            values[column] = value
    return values


_APPENDED = "appended_rows"
"""`Session.info` key: the rows `append_row` holds for the transaction, in order."""


def append_row(session: Session, row: Model) -> Model:
    """Hold a new model object's row for the session's transaction: `write_appended` writes
    what is held, one executemany per table, before the session's next statement and before the
    commit. For rows a transaction appends and that no other appended row refers to (audit
    events, outbox messages, role rows): a decision appends seven, and an INSERT of each
    costs as much Python as the rest of its row's work. The object stays outside the
    session, its scalar defaults filled in; it gets no generated key."""
    if session.in_nested_transaction():  # a savepoint rolled back would keep them held
        raise RuntimeError("rows are not appended inside a savepoint")
    insert = _insert_of(type(row))
    session.info.setdefault(_APPENDED, []).append((insert, _row_values(insert, row)))
    return row


def write_appended(session: Session) -> None:
    """Write the rows `append_row` holds, table by table (none refers to another appended
    row): a table's rows in the order they were appended, those with the same columns in one
    executemany (SQLite's; psycopg's sends one INSERT a row, pipelined)."""
    held: list[tuple[_Insert, dict[str, Any]]] | None = session.info.pop(_APPENDED, None)
    if not held:
        return
    if session.in_nested_transaction():
        # Written inside a savepoint, they would be lost with it: hold no rows across one.
        raise RuntimeError("rows appended before a savepoint are written inside it")
    tables: dict[int, list[tuple[_Insert, dict[str, Any]]]] = {}
    for item in held:
        tables.setdefault(id(item[0]), []).append(item)
    connection = session.connection()
    for rows in tables.values():
        for _, same in groupby(rows, key=lambda item: tuple(item[1])):
            batch = list(same)
            connection.execute(batch[0][0].statement, [values for _, values in batch])


@event.listens_for(Session, "do_orm_execute")
def _appended_before_query(execute_state: ORMExecuteState) -> None:
    write_appended(execute_state.session)  # the statement may read them


@event.listens_for(Session, "before_commit")
def _appended_before_commit(session: Session) -> None:
    if not session.in_nested_transaction():  # a savepoint's release: held for the commit
        write_appended(session)


@event.listens_for(Session, "after_transaction_end")
def _appended_dropped(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # rolled back (a commit wrote them): they never were
        session.info.pop(_APPENDED, None)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database (SQLite keeps no zone, so add it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use consent_app.db.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def normalized_url(url: str) -> str:
    """Let operators write `postgresql://…` (as libpq does) and still get the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def _create_sqlite_file(engine: Engine) -> None:
    """Create a new SQLite database file readable by its owner only (SQLite's own default is
    0644). Its WAL, shared-memory and journal files take the database file's mode, so they are
    private too."""
    name = engine.url.database
    if not name or name == ":memory:" or name.startswith("file:"):
        return
    path = Path(name)
    if path.parent.is_dir():
        # An existing database keeps the mode its operator gave it.
        with suppress(FileExistsError):
            os.close(create_private(path))


SQLITE_AT_LEAST = (3, 35)
"""The oldest SQLite the backend runs on: its writes use RETURNING (3.35, March 2021)."""


def _check_sqlite_version() -> None:
    import sqlite3

    if sqlite3.sqlite_version_info < SQLITE_AT_LEAST:
        wanted = ".".join(map(str, SQLITE_AT_LEAST))
        raise RuntimeError(
            f"this Python's SQLite is {sqlite3.sqlite_version}; the backend needs {wanted} or "
            "newer (RETURNING): use a newer Python or system SQLite, or PostgreSQL"
        )


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout, and BEGIN IMMEDIATE for writing transactions.

    pysqlite's own transaction handling starts a transaction only at the first write, so a
    transaction that reads then writes can fail with "database is locked" when another writer
    got in between. Taking over BEGIN (the recipe in SQLAlchemy's SQLite dialect docs) lets a
    writing transaction take the write lock up front and wait its turn instead.
    """

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # FULL: a commit survives a power cut too; consent records are worth the fsync.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class _WriterQueue:
    """Makes SQLite writers wait their turn in the kernel instead of polling.

    SQLite lets one writer in at a time; a writer that finds the lock taken sleeps in growing
    steps (up to 100 ms) before it looks again, which under load turned into second-long
    tails. Threads of one process queue on a lock; processes (gunicorn workers) queue on an
    flock of a file beside the database. SQLite's own locking still guarantees correctness;
    this only makes the waiting orderly.
    """

    def __init__(self, lock_file: Path | None) -> None:
        self._threads = threading.Lock()
        self._lock_file = lock_file
        self._descriptor: int | None = None

    def __enter__(self) -> None:
        self._threads.acquire()
        if self._lock_file is None:
            return
        try:
            if self._descriptor is None:
                self._descriptor = os.open(self._lock_file, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._descriptor, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            if self._descriptor is not None:
                fcntl.flock(self._descriptor, fcntl.LOCK_UN)
        finally:
            self._threads.release()


POOL_SIZE = 20
"""Connections a process keeps open: as many as its threads use at once (`serve`'s and a
gunicorn worker's request threads, mail and webhook delivery). SQLAlchemy's default keeps 5 and
opens and closes the others request by request: under load, opening SQLite connections (the
file, WAL and pragmas) took a tenth of an accept's time. Ten more may be open briefly."""


def _pooled(url: str, engine_options: dict[str, Any]) -> bool:
    """True when `url` gets SQLAlchemy's queue pool (a file database, a server): not an
    in-memory SQLite database, nor a caller's own pool."""
    if "poolclass" in engine_options or "pool" in engine_options:
        return False
    parsed = make_url(url)
    # What create_engine asks; DefaultDialect has it, the Dialect interface does not say so.
    pool_class = parsed.get_dialect().get_pool_class(parsed)  # type: ignore[attr-defined]
    return bool(pool_class is QueuePool)


class Database:
    """One database: an engine and sessions for reading and for writing."""

    def __init__(self, url: str, audit_key: bytes | None = None, **engine_options: Any) -> None:
        self.url = url
        self.audit_key = audit_key
        if _pooled(url, engine_options):
            engine_options = {"pool_size": POOL_SIZE, "max_overflow": 10} | engine_options
        self.engine = create_engine(url, **engine_options)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        if self.is_sqlite:
            _check_sqlite_version()
            _create_sqlite_file(self.engine)
            _configure_sqlite(self.engine)
        # Every session carries the audit key, so whoever records an event need not pass it.
        info = {AUDIT_KEY: audit_key} if audit_key else {}
        self._read = sessionmaker(self.engine, expire_on_commit=False, info=info)
        self._write = sessionmaker(
            self.engine.execution_options(write=True), expire_on_commit=False, info=info
        )
        self._sqlite_writer: AbstractContextManager[Any] = nullcontext()
        if self.is_sqlite:
            database = self.engine.url.database
            self._sqlite_writer = _WriterQueue(
                None if not database or database == ":memory:" else Path(database + "-writers")
            )

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that changes data: committed when the block ends, else rolled back."""
        with self._sqlite_writer, self._write() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A transaction that only reads."""
        with self._read() as session, session.begin():
            yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def alembic_config(database: Database) -> Any:
    """An Alembic configuration for `database`, migrations from `consent_app/migrations`."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = database.engine
    config.attributes[AUDIT_KEY] = database.audit_key  # migration 0004 re-chains the log with it
    return config


def upgrade(database: Database) -> None:
    """Create the schema or bring it to the newest revision."""
    from alembic import command

    command.upgrade(alembic_config(database), "head")


def current_revision(database: Database) -> str | None:
    """The revision the database is at (None before the first upgrade)."""
    from alembic.runtime.migration import MigrationContext

    with database.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest revision this code knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None
    return head
