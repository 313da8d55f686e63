"""The append-only, hash-chained audit trail: every change of a GMP record writes one event
in the same transaction as the change."""
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, event, insert, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from cell_chain.core.db import UtcDateTime, db
from cell_chain.core.errors import ReasonRequired
from cell_chain.core.records import (
    canonical_json,
    entity_id,
    entity_type,
    pending_changes,
    sha256_hex,
    snapshot,
)
from cell_chain.core.messages import _l

GENESIS_HASH = "0" * 64
# Any constant works; it names the transaction-scoped lock that keeps the chain linear.
_CHAIN_LOCK_KEY = 0x63656C6C


class AuditEvent(db.Model):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(unique=True)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_username: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    changes: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_audit_events_entity", "entity_type", "entity_id"),)

    def hashed_fields(self) -> dict[str, Any]:
        return hashed_fields(self)

    def change_list(self) -> list[tuple[str, Any, Any]]:
        """(field, old, new) for display; events that are not field changes show their details."""
        data = json.loads(self.changes)
        return [(field, *value) if isinstance(value, list) and len(value) == 2 else (field, None, value)
                for field, value in sorted(data.items())]

    def compute_hash(self) -> str:
        return event_hash(self)


def hashed_fields(ev: Any) -> dict[str, Any]:
    """What an event's hash covers; `ev` is an AuditEvent or a plain row with its columns
    (the chain verifier hashes rows without building ORM objects)."""
    return {
        "seq": ev.seq,
        "occurred_at": ev.occurred_at.isoformat(),
        "actor": ev.actor_username,
        "action": ev.action,
        "entity_type": ev.entity_type,
        "entity_id": ev.entity_id,
        "changes": ev.changes,
        "reason": ev.reason,
    }


def event_hash(ev: Any) -> str:
    return sha256_hex(ev.prev_hash + canonical_json(hashed_fields(ev)))


def _chain_head(session: Session) -> tuple[int, str]:
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        # Held until commit, so the next writer reads the head this transaction wrote.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK_KEY})
    # SQLite: writers are serialised by the database's one write lock, and a transaction whose
    # snapshot is older than the last commit cannot take it (web.busy_retry runs it again).
    row = session.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    return (row.seq, row.hash) if row else (0, GENESIS_HASH)


def _append(
    *, action: str, etype: str, eid: str, changes: dict[str, Any], actor: Any,
    at: datetime, reason: str | None,
) -> AuditEvent:
    session = db.session
    seq, prev_hash = _chain_head(session)
    event_ = AuditEvent(
        seq=seq + 1,
        occurred_at=at,
        actor_id=actor.id if actor is not None else None,
        actor_username=actor.username if actor is not None else "system",
        action=action,
        entity_type=etype,
        entity_id=eid,
        changes=canonical_json(changes),
        reason=reason,
        prev_hash=prev_hash,
    )
    event_.hash = event_.compute_hash()
    session.add(event_)
    # Flushed at once so the next append in this transaction reads it as the head.
    session.flush()
    return event_


def _mark_covered(obj: Any) -> None:
    db.session.info.setdefault("audit_covered", set()).add((entity_type(obj), entity_id(obj)))


def record_created(obj: Any, action: str, *, actor: Any, at: datetime,
                   reason: str | None = None) -> AuditEvent:
    """Insert `obj` and write its creation event with every recorded field."""
    db.session.add(obj)
    db.session.flush()
    changes = {key: [None, value] for key, value in snapshot(obj).items()}
    audit_event = _append(action=action, etype=entity_type(obj), eid=entity_id(obj),
                          changes=changes, actor=actor, at=at, reason=reason)
    _mark_covered(obj)
    return audit_event


def record_change(
    obj: Any, action: str, *, actor: Any, at: datetime, reason: str | None = None,
    correction: bool = False,
) -> AuditEvent | None:
    """Write the event for `obj`'s unflushed changes (old → new). A correction of existing
    data needs a reason (REASON_REQUIRED); a workflow transition carries its own."""
    changes = pending_changes(obj)
    if correction and not (reason and reason.strip()):
        raise ReasonRequired(_l("Say why the existing data is being corrected (field 'reason')."))
    if not changes and correction:
        return None
    audit_event = _append(action=action, etype=entity_type(obj), eid=entity_id(obj),
                          changes=changes, actor=actor, at=at,
                          reason=reason.strip() if reason else None)
    _mark_covered(obj)
    return audit_event


def record_event(
    obj: Any, action: str, *, actor: Any, at: datetime, details: dict[str, Any] | None = None,
    reason: str | None = None,
) -> AuditEvent:
    """An event about `obj` that is not a field change (a lock-out, a print, a scan)."""
    return _append(action=action, etype=entity_type(obj), eid=entity_id(obj),
                   changes=details or {}, actor=actor, at=at, reason=reason)


@dataclass(frozen=True)
class BatchEvent:
    """One event of a bulk append (an import, a bulk job): the fields `_append` takes."""
    action: str
    entity_type: str
    entity_id: str
    changes: dict[str, Any]
    at: datetime
    actor_id: int | None = None
    actor_username: str = "system"
    reason: str | None = None


def record_batch(events: Iterable[BatchEvent]) -> int:
    """Append many events with one chain lock and multi-row inserts: the same hashes and links
    as one `_append` per event, without an ORM object each. Returns the new head's seq."""
    session = db.session
    seq, prev_hash = _chain_head(session)
    rows: list[dict[str, Any]] = []
    for item in events:
        seq += 1
        row = SimpleNamespace(
            seq=seq, occurred_at=item.at.astimezone(UTC), actor_id=item.actor_id,
            actor_username=item.actor_username, action=item.action, entity_type=item.entity_type,
            entity_id=item.entity_id, changes=canonical_json(item.changes), reason=item.reason,
            prev_hash=prev_hash)
        row.hash = prev_hash = event_hash(row)
        rows.append(vars(row))
    if rows:
        session.execute(insert(AuditEvent.__table__), rows)
    return seq


class UnauditedChange(RuntimeError):
    """A GMP record changed without its audit event: a programming error, never data."""


def _is_audited(obj: Any) -> bool:
    return getattr(type(obj), "__audited__", False)


@event.listens_for(Session, "after_flush")
def _collect_changed(session: Session, flush_context: Any) -> None:
    changed = session.info.setdefault("audit_changed", set())
    for obj in session.deleted:
        if _is_audited(obj):
            raise UnauditedChange(f"{type(obj).__name__} rows are never deleted; mark them void")
    for obj in session.new:
        if _is_audited(obj):
            changed.add((entity_type(obj), entity_id(obj)))
    for obj in session.dirty:
        if _is_audited(obj) and _has_recorded_changes(obj):
            changed.add((entity_type(obj), entity_id(obj)))


def _has_recorded_changes(obj: Any) -> bool:
    # After the flush the history is still readable until flush post-exec.
    return bool(pending_changes(obj))


@event.listens_for(Session, "before_commit")
def _refuse_unaudited(session: Session) -> None:
    # before_commit runs ahead of commit's own final flush; flush here so it is checked too.
    session.flush()
    missing = session.info.get("audit_changed", set()) - session.info.get("audit_covered", set())
    if missing:
        raise UnauditedChange(f"changed without an audit event: {sorted(missing)}")


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _reset(session: Session) -> None:
    session.info.pop("audit_changed", None)
    session.info.pop("audit_covered", None)


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events: int
    first_broken: dict[str, Any] | None
