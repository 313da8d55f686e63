"""Racing writers on a real database: threads released together by a barrier, each with its
own test client (so its own app context, session and connection), and on PostgreSQL a
rendezvous that holds every racer just before the statement where they must collide."""
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from cell_chain.core.audit import GENESIS_HASH, AuditEvent
from cell_chain.core.audit_chain import verify_chain
from cell_chain.core.db import db
from tests.conftest import api_token, make_site, make_user

ROUNDS = 5
# The first statement that writes or takes a row lock: where two writers of one record meet.
FIRST_WRITE = r"^\s*(INSERT|UPDATE|DELETE)\b|\bFOR\s+(NO\s+KEY\s+)?UPDATE\b"
# The audit trail's chain-head lock: where every audited writer meets every other.
CHAIN_LOCK = r"pg_advisory_xact_lock"


@pytest.fixture
def ward(app: Flask) -> None:
    """Two sites, each with two coordinators, pharmacists and nurses."""
    for code in ("LZ", "BJ"):
        make_site(code)
        for role in ("coordinator", "pharmacist", "nurse"):
            make_user(f"{code.lower()}-{role}", role, code)
            make_user(f"{code.lower()}-{role}2", role, code)


def tokens(app: Flask, *usernames: str) -> list[dict[str, str]]:
    client = app.test_client()
    return [api_token(client, name) for name in usernames]


class Rendezvous:
    """Holds each armed thread at its first statement matching `pattern` until every racer
    is there, so their transactions overlap where one must wait for, or see, the other.
    Off on SQLite: BEGIN IMMEDIATE already serialises writers, so a racer holding the write
    lock would wait here for one that waits for the lock."""

    def __init__(self, engine: Engine, parties: int, pattern: str) -> None:
        self.active = engine.dialect.name == "postgresql"
        self.engine = engine
        self.barrier = threading.Barrier(parties)
        self.pattern = re.compile(pattern, re.IGNORECASE | re.MULTILINE)
        self.local = threading.local()
        self.missed = 0

    def arm(self) -> None:
        self.local.armed = True

    def _before_execute(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if getattr(self.local, "armed", False) and self.pattern.search(statement):
            self.local.armed = False
            try:
                self.barrier.wait(timeout=5)
            except threading.BrokenBarrierError:
                self.missed += 1

    @contextmanager
    def listening(self) -> Iterator["Rendezvous"]:
        if not self.active:
            yield self
            return
        event.listen(self.engine, "before_cursor_execute", self._before_execute)
        try:
            yield self
        finally:
            event.remove(self.engine, "before_cursor_execute", self._before_execute)


@dataclass
class Answer:
    status: int
    body: Any

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None


def race(app: Flask, actions: list[Callable[[Any], Any]], *, meet_at: str = FIRST_WRITE) -> list[Answer]:
    """Run each action(client) in its own thread, all released by one barrier; answers in
    the order of `actions`. Any exception (a 500 propagates in testing) fails the race."""
    # The test's own session must not hold SQLite's write lock (or stale rows) meanwhile.
    db.session.rollback()
    start = threading.Barrier(len(actions))
    rendezvous = Rendezvous(db.engine, len(actions), meet_at)
    answers: list[Answer | None] = [None] * len(actions)
    errors: list[BaseException] = []

    def run(index: int, action: Callable[[Any], Any]) -> None:
        client = app.test_client()
        try:
            start.wait(timeout=10)
            rendezvous.arm()
            response = action(client)
            answers[index] = Answer(response.status_code, response.get_json(silent=True))
        except BaseException as error:  # noqa: BLE001 - reported in the main thread
            errors.append(error)

    with rendezvous.listening():
        threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a racer is stuck"
    assert not errors, errors
    assert all(a is not None and a.status < 500 for a in answers), answers
    # On PostgreSQL every racer reached the meeting point together: the race really happened.
    assert rendezvous.missed == 0, f"{rendezvous.missed} racer(s) never reached {meet_at!r}"
    db.session.expire_all()
    return [a for a in answers if a is not None]


def assert_chain_linear() -> int:
    """The audit trail verifies and is one line: seq 1..n without gaps, each event linked to
    the one before. Returns n."""
    db.session.expire_all()
    report = verify_chain()
    assert report.ok, report.first_broken
    rows = db.session.execute(select(AuditEvent.seq, AuditEvent.prev_hash, AuditEvent.hash)
                              .order_by(AuditEvent.seq)).all()
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    previous = GENESIS_HASH
    for row in rows:
        assert row.prev_hash == previous, f"event {row.seq} does not follow event {row.seq - 1}"
        previous = row.hash
    assert report.events == len(rows)
    return len(rows)


def audit_count(action: str, entity_type: str | None = None, entity_id: str | None = None) -> int:
    stmt = select(AuditEvent.id).where(AuditEvent.action == action)
    if entity_type is not None:
        stmt = stmt.where(AuditEvent.entity_type == entity_type)
    if entity_id is not None:
        stmt = stmt.where(AuditEvent.entity_id == entity_id)
    return len(db.session.scalars(stmt).all())
