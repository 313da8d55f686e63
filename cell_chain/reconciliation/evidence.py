"""The e-signatures behind report rows (printed name, meaning, UTC time, and on what), fetched
for a whole report in one statement."""
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, String, cast, select, union_all

from cell_chain.accounts.signatures import Signature
from cell_chain.core.db import db


@dataclass(slots=True)  # tens of thousands in a whole-trial report: not frozen, to build fast
class SignedBy:
    entity_type: str
    entity_id: str
    record: str  # the signed record's readable label (a dose code, shipment code, lot number …)
    printed_name: str
    meaning: str
    signed_at: datetime


def as_ids(column: Any) -> Any:
    """Signatures name their record by its primary key as text."""
    return cast(column, String)


@dataclass(frozen=True)
class Records:
    """Some records of one table: a select of their ids as text (`as_ids`), and how to name
    one: a select of its label, `key` its integer primary key (correlated to the signature)."""

    ids: Select[Any]
    label: Select[Any]
    key: Any


def signatures_of(sources: dict[str, Records], meanings: tuple[str, ...] | None = None) -> list[SignedBy]:
    """Signatures of the records of each source (entity_type → Records), in signing order.
    The ids filter goes through the signatures' (entity_type, entity_id) index; the label is
    looked up by primary key for the few signatures found."""
    parts = []
    for kind, records in sources.items():
        label = records.label.where(records.key == cast(Signature.entity_id, Integer)).scalar_subquery()
        part = (select(Signature.entity_type, Signature.entity_id, label.label("record"), Signature.printed_name,
                       Signature.meaning, Signature.signed_at, Signature.id)
                .where(Signature.entity_type == kind, Signature.entity_id.in_(records.ids)))
        if meanings is not None:
            part = part.where(Signature.meaning.in_(meanings))
        parts.append(part)
    if not parts:
        return []
    union = union_all(*parts).subquery("signed")
    stmt = select(union.c.entity_type, union.c.entity_id, union.c.record, union.c.printed_name, union.c.meaning,
                  union.c.signed_at).order_by(union.c.signed_at, union.c.id)
    return [SignedBy(*row) for row in db.session.execute(stmt)]


def by_record(signed: list[SignedBy]) -> dict[tuple[str, str], list[SignedBy]]:
    found: dict[tuple[str, str], list[SignedBy]] = defaultdict(list)
    for signature in signed:
        found[(signature.entity_type, signature.entity_id)].append(signature)
    return found
