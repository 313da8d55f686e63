"""Database faults injected into a transaction: the driver's own error raised at the Nth
statement, as a dropped connection, a full disk or a killed backend would."""
import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select, text
from sqlalchemy.engine import Engine

from cell_chain.core.audit_chain import verify_chain
from cell_chain.core.db import db
from tests.conftest import make_site, make_user

MARK = "injected fault"


class Fault:
    """Raises the DB-API's OperationalError (or another of its errors) before this thread's
    Nth statement once armed; SQLAlchemy wraps it exactly as it wraps a real one."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.at = 0
        self.count = 0
        self.fired: str | None = None
        self.error = "OperationalError"
        self.thread: int | None = None

    def arm(self, at: int, error: str = "OperationalError") -> None:
        self.at, self.count, self.fired, self.error = at, 0, None, error
        self.thread = threading.get_ident()

    def disarm(self) -> None:
        self.thread = None

    def _before_execute(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.thread != threading.get_ident():
            return
        self.count += 1
        if self.count == self.at:
            self.fired = statement
            self.thread = None
            raise getattr(conn.dialect.dbapi, self.error)(f"{MARK} at statement {self.at}")

    @contextmanager
    def listening(self) -> Iterator["Fault"]:
        event.listen(self.engine, "before_cursor_execute", self._before_execute)
        try:
            yield self
        finally:
            event.remove(self.engine, "before_cursor_execute", self._before_execute)


@pytest.fixture
def fault(app: Flask) -> Iterator[Fault]:
    with Fault(db.engine).listening() as injector:
        yield injector


@pytest.fixture
def ward(app: Flask) -> None:
    """One site with its coordinator, two pharmacists and two nurses."""
    make_site("LZ")
    for name, role in (("coordinator", "coordinator"), ("pharmacist", "pharmacist"), ("pharmacist2", "pharmacist"),
                       ("nurse", "nurse"), ("nurse2", "nurse")):
        make_user(f"lz-{name}", role, "LZ")


Snapshot = dict[str, tuple[int, str]]


def snapshot(engine: Engine | None = None) -> Snapshot:
    """Every table's committed rows as (count, digest), read on a connection of its own."""
    engine = engine or db.engine
    tables = db.metadata.sorted_tables
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            # One round trip, hashed by the server: this runs after every injected fault.
            rows = conn.execute(text(" UNION ALL ".join(
                f"SELECT '{t.name}', count(*), coalesce(md5(string_agg(r::text, '|' ORDER BY r::text)), '') "
                f"FROM {t.name} AS r" for t in tables))).all()
            result = {name: (count, digest) for name, count, digest in rows}
        else:
            result = {}
            for table in tables:
                found = conn.execute(select(table).order_by(*table.primary_key.columns)).all()
                result[table.name] = (len(found), hashlib.sha256(repr(found).encode()).hexdigest())
        conn.rollback()
    return result


def assert_no_transaction_left(engine: Engine | None = None) -> None:
    """Nothing still holds the database: no session idles in a transaction (PostgreSQL) and
    the write lock is free (SQLite)."""
    engine = engine or db.engine
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            stuck = conn.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"))
            assert stuck == 0, f"{stuck} connection(s) left idle in a transaction"
        else:
            conn.exec_driver_sql("SELECT 1")  # begins IMMEDIATE: fails if a writer holds the lock
        conn.rollback()


def changed(before: Snapshot, after: Snapshot) -> list[str]:
    return sorted(name for name in before if before[name] != after[name])


@dataclass
class Outcome:
    statements: int
    result: Any
    changed_tables: list[str]


def fail_each_statement(call: Callable[[], Any], *, fault: Fault, error: str = "OperationalError",
                        audited: bool = True) -> Outcome:
    """Run `call` and its commit with statement 1, then 2, … failing, until it gets through.
    After every fault the call must have raised, and after the rollback every table must be
    as before, no audit event added, the chain intact and nothing left locked."""
    db.session.commit()
    db.session.expire_all()
    before = snapshot()
    chain = verify_chain()
    assert chain.ok, chain.first_broken
    at = 1
    while True:
        fault.arm(at, error)
        try:
            result = call()
            db.session.commit()
        except Exception as raised:  # noqa: BLE001 - checked: it must be the injected fault
            fault.disarm()
            assert fault.fired, f"statement {at}: {raised!r} was not the injected fault"
            assert MARK in str(raised), f"statement {at}: the fault surfaced as {raised!r}"
            db.session.rollback()
            assert_no_transaction_left()
            after = snapshot()
            assert after == before, (f"fault at statement {at} ({fault.fired[:80]!r}) left "
                                     f"changes in {changed(before, after)}")
            at += 1
            continue
        finally:
            fault.disarm()
        assert fault.fired is None, f"statement {at} failed but the call went on as if not"
        # every statement of the path that got through had its turn to fail
        assert fault.count == at - 1, (fault.count, at)
        break
    db.session.expire_all()
    after = snapshot()
    if audited:
        assert after["audit_events"][0] > before["audit_events"][0], "the completed call wrote no audit event"
    report = verify_chain()
    assert report.ok and report.events == after["audit_events"][0], report
    return Outcome(at - 1, result, changed(before, after))
