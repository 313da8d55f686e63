"""Reading the audit trail (the writing side lives in cell_chain.core.audit): filtered by
record, person, action and dates, in pages of a fixed size ordered by sequence, counted, and
read in bounded batches for export. Every read is bounded; a page costs the same number of
statements whatever its size."""
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, String, and_, cast, false, func, literal, or_, select, union_all

from cell_chain.core.audit import AuditEvent
from cell_chain.core.db import db

PAGE_SIZE = 50
EXPORT_BATCH = 500
MAX_RECORD_TEXT = 64

# A record people name (table, naming column), as the filter finds it.
NAMED_RECORDS = (("doses", "code"), ("lots", "lot_number"), ("patients", "subject_id"),
                 ("shipments", "code"), ("donors", "donor_code"), ("donors", "din"), ("lots", "din"))
# The rows whose events belong to a record's history: (table, column holding the record's id).
RELATED = {
    "doses": (("allocations", "dose_id"), ("shipment_items", "dose_id"), ("custody_events", "dose_id"),
              ("infusions", "dose_id"), ("label_verifications", "dose_id"), ("unexpected_items", "dose_id")),
    "lots": (("test_results", "lot_id"),),
    "patients": (("visits", "patient_id"), ("infusions", "patient_id")),
    "shipments": (("shipment_items", "shipment_id"), ("excursions", "shipment_id"),
                  ("temperature_records", "shipment_id"), ("temperature_waivers", "shipment_id"),
                  ("unexpected_items", "shipment_id"), ("custody_events", "shipment_id")),
    "donors": (("screening_results", "donor_id"),),
}
_SUBJECT = re.compile(r"([A-Z]{2,8})[\s\-_]*([0-9]{4})")
_SPACES = re.compile(r"[\s\u00a0\u3000]+")


@dataclass(frozen=True)
class AuditFilter:
    """What the reader asked for; dates are the reader's local dates, both ends included."""

    record: str | None = None
    person: str | None = None
    action: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    zone: ZoneInfo = ZoneInfo("UTC")

    def is_empty(self) -> bool:
        return not (self.record or self.person or self.action or self.date_from or self.date_to)


def record_spellings(text: str) -> tuple[str, ...]:
    """How a typed record name may be stored: as typed (case aside), with its spaces as
    hyphens, without spaces, and as a subject ID ("lz 0001" → "LZ-0001")."""
    upper = _SPACES.sub(" ", text.strip().upper())
    spellings = [upper, upper.replace(" ", "-"), upper.replace(" ", "")]
    if subject := _SUBJECT.fullmatch(upper):
        spellings.append(f"{subject[1]}-{subject[2]}")
    return tuple(dict.fromkeys(spellings))


def find_records(text: str) -> list[tuple[str, int]]:
    """The records named `text` (a dose code, lot number, subject ID, shipment code, donor code
    or DIN), as (table, id): one statement."""
    spellings = record_spellings(text)
    parts = []
    for table_name, column in NAMED_RECORDS:
        table = db.metadata.tables[table_name]
        parts.append(select(literal(table_name).label("kind"), table.c.id.label("id"))
                     .where(func.upper(table.c[column]).in_(spellings)))
    return sorted({(kind, record_id) for kind, record_id in db.session.execute(union_all(*parts))})


def _events_of(records: list[tuple[str, int]]) -> ColumnElement[bool]:
    """Events of the records, of the rows belonging to them, and the signatures on either."""
    owned: list[tuple[str, Any]] = []
    for table_name, record_id in records:
        owned.append((table_name, [str(record_id)]))
        for child, column in RELATED.get(table_name, ()):
            table = db.metadata.tables[child]
            owned.append((child, select(cast(table.c.id, String)).where(table.c[column] == record_id)))
    signatures = db.metadata.tables["signatures"]
    signed = select(cast(signatures.c.id, String)).where(or_(*(
        and_(signatures.c.entity_type == t, signatures.c.entity_id.in_(ids)) for t, ids in owned)))
    return or_(*(and_(AuditEvent.entity_type == t, AuditEvent.entity_id.in_(ids)) for t, ids in owned),
               and_(AuditEvent.entity_type == "signatures", AuditEvent.entity_id.in_(signed)))


def local_day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def conditions(given: AuditFilter, records: list[tuple[str, int]] | None) -> list[ColumnElement[bool]]:
    """The WHERE of a filtered trail; `records` are the record filter's matches (none: the
    filter matches no event)."""
    where: list[ColumnElement[bool]] = []
    if given.record:
        where.append(_events_of(records) if records else false())
    if given.person:
        where.append(AuditEvent.actor_username == given.person)
    if given.action:
        where.append(AuditEvent.action == given.action)
    if given.date_from:
        where.append(AuditEvent.occurred_at >= local_day_start(given.date_from, given.zone))
    if given.date_to:
        where.append(AuditEvent.occurred_at < local_day_start(given.date_to + timedelta(days=1), given.zone))
    return where


def filtered(where: list[ColumnElement[bool]]) -> Select[tuple[AuditEvent]]:
    return select(AuditEvent).where(*where).order_by(AuditEvent.seq.desc())


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    total: int
    page: int
    pages: int

    @property
    def first_shown(self) -> int:
        return (self.page - 1) * PAGE_SIZE + 1 if self.events else 0

    @property
    def last_shown(self) -> int:
        return (self.page - 1) * PAGE_SIZE + len(self.events)


def page_of(where: list[ColumnElement[bool]], page: int) -> AuditPage:
    """One page, newest first by sequence, and the count: two statements. A page past the end
    shows the last one."""
    total = db.session.scalar(select(func.count()).select_from(AuditEvent).where(*where)) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)
    events = list(db.session.scalars(filtered(where).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    return AuditPage(events, total, page, pages)


def batches(where: list[ColumnElement[bool]], *, limit: int | None = None) -> Iterator[list[AuditEvent]]:
    """Every matching event in batches (keyset on seq, newest first): memory and each
    statement stay bounded however long the trail is. `limit` stops after that many."""
    before: int | None = None
    sent = 0
    while limit is None or sent < limit:
        size = EXPORT_BATCH if limit is None else min(EXPORT_BATCH, limit - sent)
        stmt = filtered(where)
        if before is not None:
            stmt = stmt.where(AuditEvent.seq < before)
        batch = list(db.session.scalars(stmt.limit(size)))
        if not batch:
            return
        yield batch
        sent += len(batch)
        before = batch[-1].seq
        if len(batch) < size:
            return


def list_events(*, entity_type: str | None = None, entity_id: str | None = None,
                limit: int = 50, offset: int = 0) -> list[AuditEvent]:
    stmt = select(AuditEvent).order_by(AuditEvent.seq.desc())
    if entity_type:
        stmt = stmt.where(AuditEvent.entity_type == entity_type)
    if entity_id:
        stmt = stmt.where(AuditEvent.entity_id == entity_id)
    return list(db.session.scalars(stmt.limit(limit).offset(offset)))
