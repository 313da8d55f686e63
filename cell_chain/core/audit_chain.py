"""Verifying the audit hash chain at scale, and the checkpoints that keep pages and the API
bounded.

Each event's hash depends only on its own fields and its stored `prev_hash`, so every hash is
recomputed independently — inside PostgreSQL with `sha256()` over the same canonical JSON the
writer hashes, elsewhere in Python over plain rows — and the links are checked with a window
over `seq`. The chain is cut into seq ranges that are checked in parallel; the first broken
event of the lowest range is the first broken event of the chain.

A full verification (`flask audit verify`) records a checkpoint: verified through seq N whose
hash is H. The checkpoint row is written with its own audit event at seq N + 1, so an edited
checkpoint no longer matches the event that recorded it. Pages and the API verify the
checkpoint and at most a fixed number of events after it.
"""
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import String, func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Session, mapped_column

from cell_chain.core import audit
from cell_chain.core.audit import GENESIS_HASH, AuditEvent, event_hash
from cell_chain.core.db import UtcDateTime, db
from cell_chain.core.records import snapshot

CHECKPOINT_ACTION = "audit.checkpoint"
CHUNK_EVENTS = 100_000
# Events a page or an API call may recompute after the last checkpoint.
DEFAULT_REQUEST_BOUND = 20_000

_GAP = "sequence jumps from {before} to {seq}: events missing or reordered"
_LINK = "prev_hash does not match the previous event: an event was removed or reordered"
_EDITED = "content does not match its hash: the event was edited"


class AuditCheckpoint(db.Model):
    """Every event up to `through_seq` was recomputed and linked; the last one's hash is
    `through_hash`. Append-only, like the events."""

    __tablename__ = "audit_checkpoints"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    through_seq: Mapped[int]
    through_hash: Mapped[str] = mapped_column(String(64))
    events: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    verified_at: Mapped[datetime] = mapped_column(UtcDateTime())

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "through_seq": self.through_seq, "through_hash": self.through_hash,
                "verified_at": self.verified_at}


@dataclass(frozen=True)
class RangeCheck:
    """One seq range: its rows, its last row, and its first broken event if any."""
    events: int
    last_seq: int
    last_hash: str
    broken: dict[str, Any] | None


@dataclass(frozen=True)
class FullVerification:
    ok: bool
    events: int
    first_broken: dict[str, Any] | None
    through_seq: int
    through_hash: str
    checkpoint: AuditCheckpoint | None = None


@dataclass(frozen=True)
class ChainStatus:
    """What a page or an API call can say within its bound."""
    ok: bool
    events: int
    first_broken: dict[str, Any] | None
    complete: bool
    verified_through: int | None
    checked: int
    unverified: int
    checkpoint: dict[str, Any] | None


def _broken(seq: int, reason: str, row: Any | None) -> dict[str, Any]:
    return {"id": row.id if row is not None else None, "seq": seq,
            "action": row.action if row is not None else None, "reason": reason}


def _first(*candidates: dict[str, Any] | None) -> dict[str, Any] | None:
    found = [c for c in candidates if c is not None]
    return min(found, key=lambda c: c["seq"]) if found else None


# ---- one range, in PostgreSQL ---------------------------------------------------------

# The writer hashes prev_hash + json.dumps(fields, sort_keys=True, separators=(",", ":"),
# ensure_ascii=False). to_json(text) escapes exactly as json.dumps does (\" \\ \b \f \n \r \t,
# other control characters as \u00xx, everything else verbatim); occurred_at is Python's
# isoformat() of the UTC time, with microseconds only when there are any.
_PG_CANONICAL = (
    "'{\"action\":' || to_json(action)::text"
    " || ',\"actor\":' || to_json(actor_username)::text"
    " || ',\"changes\":' || to_json(changes)::text"
    " || ',\"entity_id\":' || to_json(entity_id)::text"
    " || ',\"entity_type\":' || to_json(entity_type)::text"
    # The fraction is the format's last part: '.000000' can only be whole seconds.
    " || ',\"occurred_at\":\"' || replace(to_char(occurred_at AT TIME ZONE 'UTC',"
    " 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '') || '+00:00\"'"
    " || ',\"reason\":' || coalesce(to_json(reason)::text, 'null')"
    " || ',\"seq\":' || seq::text || '}'"
)
# Two passes over the range, each cheaper than one: the hashes need no order, the links carry
# only seq and the two hashes through the window (with every column it spills to disk).
_PG_CONTENT = f"""
SELECT count(*) AS events,
       min(seq) FILTER (WHERE hash <> encode(sha256(convert_to(prev_hash || {_PG_CANONICAL},
                                                               'UTF8')), 'hex')) AS edited_seq
FROM audit_events WHERE {{lower}} seq <= :upto
"""
_PG_LINKS = """
SELECT max(seq) AS last_seq,
       min(seq) FILTER (WHERE seq <> before_seq + 1) AS gap_seq,
       min(seq) FILTER (WHERE prev_hash <> before_hash) AS link_seq
FROM (SELECT seq, prev_hash,
             coalesce(lag(seq) OVER w, :after_seq) AS before_seq,
             coalesce(lag(hash) OVER w, :after_hash) AS before_hash
      FROM audit_events WHERE {lower} seq <= :upto
      WINDOW w AS (ORDER BY seq)) AS ev
"""
# Without and with a lower bound rather than an OR on a parameter: both plan as index ranges.
_PG_STATEMENTS = {
    from_start: (text(_PG_CONTENT.replace("{lower}", lower)), text(_PG_LINKS.replace("{lower}", lower)))
    for from_start, lower in ((True, ""), (False, "seq > :after_seq AND"))
}


def _row_at(conn: Connection | Session, seq: int) -> Any:
    cols = AuditEvent.__table__.c
    return conn.execute(select(cols.id, cols.seq, cols.action, cols.hash, cols.entity_type,
                               cols.entity_id, cols.changes).where(cols.seq == seq)).first()


def _sql_range(conn: Connection | Session, after_seq: int | None, after_hash: str,
               upto: int) -> RangeCheck:
    content, links = _PG_STATEMENTS[after_seq is None]
    params = {"after_seq": after_seq or 0, "after_hash": after_hash, "upto": upto}
    counted = conn.execute(content, params).one()
    linked = conn.execute(links, params).one()
    row = SimpleNamespace(events=counted.events, edited_seq=counted.edited_seq,
                          last_seq=linked.last_seq, gap_seq=linked.gap_seq, link_seq=linked.link_seq)
    last_seq = row.last_seq if row.last_seq is not None else (after_seq or 0)
    last_hash = _row_at(conn, last_seq).hash if row.last_seq is not None else after_hash
    first = min((s for s in (row.gap_seq, row.link_seq, row.edited_seq) if s is not None), default=None)
    if first is None:
        return RangeCheck(row.events, last_seq, last_hash, None)
    if first == row.gap_seq:
        cols = AuditEvent.__table__.c
        lower = [] if after_seq is None else [cols.seq > after_seq]
        before = conn.execute(select(func.max(cols.seq)).where(cols.seq < first, *lower)).scalar()
        reason = _GAP.format(before=before if before is not None else (after_seq or 0), seq=first)
    else:
        reason = _LINK if first == row.link_seq else _EDITED
    return RangeCheck(row.events, last_seq, last_hash, _broken(first, reason, _row_at(conn, first)))


# ---- one range, in Python (SQLite, and a cross-check on PostgreSQL) ----------------------

def _python_range(conn: Connection | Session, after_seq: int | None, after_hash: str,
                  upto: int) -> RangeCheck:
    cols = AuditEvent.__table__.c
    stmt = select(cols.id, cols.seq, cols.occurred_at, cols.actor_username, cols.action,
                  cols.entity_type, cols.entity_id, cols.changes, cols.reason, cols.prev_hash,
                  cols.hash).where(cols.seq <= upto).order_by(cols.seq)
    if after_seq is not None:
        stmt = stmt.where(cols.seq > after_seq)
    before_seq, before_hash, count, broken = after_seq or 0, after_hash, 0, None
    result = conn.execute(stmt.execution_options(yield_per=5000))
    try:
        for ev in result:
            count += 1
            if broken is None:
                if ev.seq != before_seq + 1:
                    broken = _broken(ev.seq, _GAP.format(before=before_seq, seq=ev.seq), ev)
                elif ev.prev_hash != before_hash:
                    broken = _broken(ev.seq, _LINK, ev)
                elif ev.hash != event_hash(ev):
                    broken = _broken(ev.seq, _EDITED, ev)
            before_seq, before_hash = ev.seq, ev.hash
    finally:
        result.close()
    return RangeCheck(count, before_seq, before_hash, broken)


def _in_database(conn: Connection | Session) -> bool:
    bind = conn if isinstance(conn, Connection) else conn.get_bind()
    return bind.dialect.name == "postgresql"


def check_range(conn: Connection | Session, after_seq: int | None, after_hash: str, upto: int,
                *, method: str | None = None) -> RangeCheck:
    """Events with after_seq < seq ≤ upto (all up to `upto` when after_seq is None), the
    first of which must link to `after_hash`."""
    in_database = (method or ("sql" if _in_database(conn) else "python")) == "sql"
    return (_sql_range if in_database else _python_range)(conn, after_seq, after_hash, upto)


# ---- checkpoints ------------------------------------------------------------------------

def _checkpoint_problem(cp: AuditCheckpoint, marker: Any | None, through: Any | None) -> dict[str, Any] | None:
    """The checkpoint must match the audit event that recorded it, right after the events it
    covers, and the event it verified through must still carry the hash it had."""
    marker_seq = cp.through_seq + 1
    if marker is None:
        return _broken(marker_seq, f"checkpoint {cp.id} has no audit event: the checkpoint was "
                                   "edited or events were removed", None)
    recorded = {field: value[1] for field, value in json.loads(marker.changes).items()}
    if marker.seq != marker_seq or recorded != snapshot(cp):
        return _broken(marker.seq, f"checkpoint {cp.id} does not match its audit event: "
                                   "the checkpoint was edited", marker)
    if through is None or through.hash != cp.through_hash:
        return _broken(cp.through_seq, f"does not match checkpoint {cp.id}: the event was edited "
                                       "or removed after it was verified", through)
    return None


def _marker(session: Session, cp: AuditCheckpoint) -> Any | None:
    cols = AuditEvent.__table__.c
    return session.execute(
        select(cols.id, cols.seq, cols.action, cols.hash, cols.changes)
        .where(cols.entity_type == AuditCheckpoint.__tablename__, cols.entity_id == str(cp.id),
               cols.action == CHECKPOINT_ACTION)
        .order_by(cols.seq).limit(1)).first()


def _checkpoints_with_through_events(session: Session) -> list[tuple[AuditCheckpoint, Any]]:
    cols = AuditEvent.__table__.c
    rows = session.execute(
        select(AuditCheckpoint, cols.id, cols.seq, cols.action, cols.hash)
        .outerjoin(AuditEvent.__table__, cols.seq == AuditCheckpoint.through_seq)
        .order_by(AuditCheckpoint.id))
    return [(row[0], SimpleNamespace(id=row.id, seq=row.seq, action=row.action, hash=row.hash)
             if row.seq is not None else None) for row in rows]


def _all_checkpoint_problems(session: Session, checkpoints: list[tuple[AuditCheckpoint, Any]],
                             head: int) -> dict[str, Any] | None:
    """Every checkpoint against its event, and every checkpoint event against its row.
    `checkpoints` were read before `head`, so each one's event is at or below it."""
    cols = AuditEvent.__table__.c
    markers = {row.entity_id: row for row in session.execute(
        select(cols.id, cols.seq, cols.action, cols.hash, cols.entity_type, cols.entity_id,
               cols.changes).where(cols.entity_type == AuditCheckpoint.__tablename__,
                                   cols.action == CHECKPOINT_ACTION, cols.seq <= head))}
    problems = []
    for cp, through in checkpoints:
        marker = markers.pop(str(cp.id), None)
        problems.append(_checkpoint_problem(cp, marker, through))
    for marker in markers.values():
        problems.append(_broken(marker.seq, f"checkpoint {marker.entity_id} was recorded here but "
                                            "its row is gone: the checkpoint was deleted", marker))
    return _first(*problems)


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    return session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)).first()


def head_seq(conn: Connection | Session) -> int:
    return conn.execute(select(func.max(AuditEvent.__table__.c.seq))).scalar() or 0


# ---- full verification ------------------------------------------------------------------

def verify_full(*, jobs: int = 2, chunk: int = CHUNK_EVENTS, method: str | None = None,
                progress: Callable[[int], None] | None = None) -> FullVerification:
    """Recompute every event up to the current head in seq ranges (in parallel on
    PostgreSQL) and check every checkpoint; name the first broken event. Records nothing."""
    session = db.session
    checkpoints = _checkpoints_with_through_events(session)
    head = head_seq(session)
    uppers = list(range(chunk, head, chunk)) + [head]
    starts: list[int | None] = [None] + uppers[:-1]
    parallel = _in_database(session) and jobs > 1 and len(uppers) > 1 and method != "python"

    def run(conn: Connection | Session, start: int | None, upto: int) -> RangeCheck:
        size, after_hash = upto - (start or 0), GENESIS_HASH
        if start is not None:  # the stored row before the range (a removed one shows as a gap)
            before = conn.execute(select(AuditEvent.__table__.c.seq, AuditEvent.__table__.c.hash)
                                  .where(AuditEvent.__table__.c.seq <= start)
                                  .order_by(AuditEvent.__table__.c.seq.desc()).limit(1)).first()
            start, after_hash = (before.seq, before.hash) if before else (None, GENESIS_HASH)
        checked = check_range(conn, start, after_hash, upto, method=method)
        if progress:
            progress(size)
        return checked

    if parallel:
        engine = session.get_bind()

        def in_own_connection(bounds: tuple[int | None, int]) -> RangeCheck:
            with engine.connect() as conn:
                return run(conn, *bounds)

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            ranges = list(pool.map(in_own_connection, zip(starts, uppers)))
    else:
        ranges = [run(session, start, upto) for start, upto in zip(starts, uppers)]
    events = sum(r.events for r in ranges)
    broken = _first(*(r.broken for r in ranges), _all_checkpoint_problems(session, checkpoints, head))
    last = ranges[-1]
    return FullVerification(broken is None, events, broken, last.last_seq, last.last_hash)


def record_checkpoint(result: FullVerification, *, started_at: datetime,
                      now: datetime) -> FullVerification:
    """Record what an intact full verification found, with its audit event (the caller
    commits). Events appended while it ran are checked under the chain lock first, so the
    checkpoint covers the head its event is written after."""
    if not result.ok:
        raise ValueError("a broken chain gets no checkpoint")
    session = db.session
    head, head_hash = audit._chain_head(session)  # takes the chain lock until commit
    events = result.events
    if head < result.through_seq or (head == result.through_seq and head_hash != result.through_hash):
        broken = _broken(head, "the newest events changed while the chain was verified", None)
        return FullVerification(False, events, broken, result.through_seq, result.through_hash)
    if head > result.through_seq:
        tail = check_range(session, result.through_seq, result.through_hash, head)
        if tail.broken:
            return FullVerification(False, events + tail.events, tail.broken, result.through_seq,
                                    result.through_hash)
        events += tail.events
    checkpoint = AuditCheckpoint(through_seq=head, through_hash=head_hash, events=events,
                                 started_at=started_at, verified_at=now)
    audit.record_created(checkpoint, CHECKPOINT_ACTION, actor=None, at=now)
    return FullVerification(True, events, None, head, head_hash, checkpoint)


# ---- bounded verification (pages, API) -------------------------------------------------

def verify_recent(*, bound: int = DEFAULT_REQUEST_BOUND) -> ChainStatus:
    """The last checkpoint and at most `bound` events after it: what a request can afford.
    `complete` is false when newer events remain for the next full verification."""
    session = db.session
    head = head_seq(session)
    checkpoint = latest_checkpoint(session)
    problem = None
    start, start_hash = None, GENESIS_HASH
    if checkpoint is not None:
        problem = _checkpoint_problem(checkpoint, _marker(session, checkpoint),
                                      _row_at(session, checkpoint.through_seq))
        start, start_hash = checkpoint.through_seq, checkpoint.through_hash
    upto = min(head, (start or 0) + bound)
    checked = check_range(session, start, start_hash, upto)
    broken = _first(problem, checked.broken)
    return ChainStatus(
        ok=broken is None, events=head, first_broken=broken, complete=upto >= head,
        verified_through=upto if broken is None else None, checked=checked.events,
        unverified=max(head - upto, 0),
        checkpoint=checkpoint.summary() if checkpoint is not None else None)


def request_bound(config: dict[str, Any]) -> int:
    return int(config.get("AUDIT_VERIFY_MAX_EVENTS", DEFAULT_REQUEST_BOUND))


def verify_chain() -> audit.ChainReport:
    """Recompute the whole chain; name the first event whose order, link or content is wrong.
    Records nothing (`flask audit verify` also records a checkpoint)."""
    result = verify_full()
    return audit.ChainReport(result.ok, result.events, result.first_broken)
