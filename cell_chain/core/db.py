"""SQLAlchemy base, the shared `db` handle and column types used by every model."""
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# Stable constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


MAX_ID = 2**31 - 1  # integer primary keys on both databases


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        # The driver's own transaction handling is replaced by `_sqlite_begin` below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()


# SQLite's one write lock. Outside requests (CLI, jobs) every transaction begins IMMEDIATE:
# writers are serial, which gives the no-double-infusion guarantees row locks give on
# PostgreSQL. A request that only reads (GET) begins deferred, holding no lock, and a request
# with a slow part (a logger file) parses outside any transaction, prepares in a deferred one
# and then writes in a short IMMEDIATE one (web.busy_retry sets the modes).
_DEFERRED: ContextVar[bool] = ContextVar("sqlite_deferred", default=False)
_NEXT: ContextVar[str | None] = ContextVar("sqlite_next_begin", default=None)


def read_mostly(deferred: bool) -> None:
    """The request's default: deferred transactions (reads) or IMMEDIATE ones."""
    _DEFERRED.set(deferred)
    _NEXT.set(None)


def restore_request_mode() -> None:
    """After a short write of its own: the request's next transaction begins as its kind does."""
    _NEXT.set(None)


def begin_for_read() -> None:
    """End the session's transaction; the next one begins deferred (no lock on SQLite)."""
    db.session.rollback()
    _NEXT.set("BEGIN")


def begin_for_write() -> None:
    """End the session's transaction; the next one takes SQLite's write lock at once
    (BEGIN IMMEDIATE, waiting its turn), so that its reads cannot be outdated before it writes.
    On PostgreSQL only the transaction ends."""
    db.session.rollback()
    _NEXT.set("BEGIN IMMEDIATE")


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn: Any) -> None:
    if conn.dialect.name == "sqlite":
        statement = _NEXT.get() or ("BEGIN" if _DEFERRED.get() else "BEGIN IMMEDIATE")
        _NEXT.set(None)
        conn.exec_driver_sql(statement)


def is_postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def lock_row(obj: Any) -> None:
    """Take `obj`'s row lock for the rest of the transaction and reload it, so a racing
    writer waits and then sees this one's result. SQLite transactions are already serial."""
    if not is_postgres():
        return
    from sqlalchemy import inspect, select

    mapper = inspect(type(obj))
    key = mapper.primary_key_from_instance(obj)
    criteria = [column == value for column, value in zip(mapper.primary_key, key, strict=True)]
    db.session.execute(select(*mapper.primary_key).where(*criteria).with_for_update())
    db.session.refresh(obj)


@contextmanager
def refuse_duplicate(column: Any, refusal: Exception) -> Iterator[None]:
    """Flush the inserts made inside. A service checks a unique value before inserting, but
    two writers can pass that check together; the later one's insert then violates
    `column`'s unique constraint, which is `refusal` (its "already exists"), not a server
    fault. The transaction is spoilt either way: the caller rolls back, as after any refusal.
    Any other integrity error still raises."""
    table, name = column.class_.__tablename__, column.key
    try:
        yield
        db.session.flush()
    except IntegrityError as error:
        diag = getattr(error.orig, "diag", None)
        violated = (getattr(diag, "constraint_name", None) == f"uq_{table}_{name}"
                    or f"UNIQUE constraint failed: {table}.{name}" in str(error.orig))
        if not violated:
            raise
        raise refusal from None
