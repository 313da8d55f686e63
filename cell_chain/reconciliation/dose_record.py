"""Everything known about one dose, for its read-only page: state, lot and donor, custody
(current holder and the whole chain), labels printed and verified, allocation, infusion and
the dose's history from the audit trail. A fixed number of queries whatever the dose's life."""
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import lazyload

from cell_chain.accounts.models import User
from cell_chain.batches.models import Dose
from cell_chain.batches.visibility import dose_site_id
from cell_chain.core.audit import AuditEvent
from cell_chain.core.db import db
from cell_chain.core.errors import NotFound
from cell_chain.infusions.models import Infusion
from cell_chain.labels.models import PrintedLabel, PrintJob
from cell_chain.patients.models import Allocation
from cell_chain.shipments import custody
from cell_chain.shipments.models import CustodyEvent, Shipment, ShipmentItem
from cell_chain.web.words import N_

# The dose's history in words; other events read as their action.
ACTION_WORDS = {
    "dose.prepared": N_("Filled and prepared"), "dose.rejected_at_fill": N_("Rejected at fill"),
    "dose.bag_label_verified": N_("Bag label scanned back and verified"),
    "dose.available": N_("Available for allocation"), "dose.allocated": N_("Allocated to a patient's visit"),
    "dose.deallocated": N_("Taken back from the visit"), "dose.packed": N_("Packed into a shipment"),
    "dose.unpacked": N_("Taken out of a shipment before dispatch"), "dose.in_transit": N_("Dispatched"),
    "dose.received": N_("Received at the site pharmacy"),
    "dose.received_in_quarantine": N_("Received at the site pharmacy, in quarantine"),
    "dose.thawed": N_("Thawed"), "dose.dispensed": N_("Dispensed to the ward"),
    "dose.administered": N_("Administered"), "dose.destroyed": N_("Destroyed"),
    "dose.returned": N_("Returned to the manufacturer"), "dose.quarantined": N_("Quarantined"),
    "dose.quarantine_lifted": N_("Quarantine lifted"),
    "allocation.label_verified": N_("Assignment label scanned back and verified"),
    "shipment.dose_packed": N_("Packed into a shipment"),
    "shipment.dose_removed": N_("Taken out of a shipment before dispatch"),
    "shipment.dose_accepted": N_("Accepted at receipt"), "shipment.dose_missing": N_("Missing at receipt"),
    "custody.handover": N_("Changed hands"), "infusion.recorded": N_("Infusion recorded"),
    "infusion.corrected": N_("Infusion record corrected"),
}


@dataclass
class HistoryEntry:
    at: datetime
    action: str
    who: str
    status: tuple[str | None, str | None] | None  # old → new, when the event moved the dose
    reason: str | None


@dataclass
class DoseRecord:
    dose: Dose
    site_id: int | None
    allocation: Allocation | None
    custodian: str
    chain: list[CustodyEvent]
    chain_unbroken: bool
    printed: list[tuple[PrintedLabel, PrintJob]]
    infusion: Infusion | None
    shipments: list[tuple[ShipmentItem, Shipment]]
    history: list[HistoryEntry] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)


def _status_change(changes: str) -> tuple[Any, Any] | None:
    try:
        parsed = json.loads(changes)
    except ValueError:
        return None
    moved = parsed.get("status") if isinstance(parsed, dict) else None
    return (moved[0], moved[1]) if isinstance(moved, list) and len(moved) == 2 else None


def _one_entry_per_act(entries: list[HistoryEntry]) -> list[HistoryEntry]:
    """One act writes an event for each record it changes (allocating: the allocation and the
    dose; packing: the box's item and the dose): the history shows it once, with the dose's
    status change and whichever reason was given."""
    shown: list[HistoryEntry] = []
    for entry in entries:
        last = shown[-1] if shown else None
        if last is not None and (last.at, last.who, ACTION_WORDS.get(last.action, last.action)) == (
                entry.at, entry.who, ACTION_WORDS.get(entry.action, entry.action)):
            last.status = last.status or entry.status
            last.reason = last.reason or entry.reason
            continue
        shown.append(entry)
    return shown


def dose_record(code: str, *, actor: User) -> DoseRecord:
    """The dose with this code (any case), or 404 — also for site staff asking about a dose
    that is not their site's, as every site page answers."""
    dose = db.session.scalar(select(Dose).where(Dose.code == code.strip().upper()))
    site_id = dose_site_id(dose) if dose is not None else None
    if dose is None or (actor.site_id is not None and site_id != actor.site_id):
        raise NotFound(N_("No such dose."))
    allocation = db.session.scalar(select(Allocation).where(Allocation.dose_id == dose.id)
                                   .order_by(Allocation.active.desc(), Allocation.id.desc()).limit(1))
    chain = custody.events_of([dose.id])[dose.id]
    printed = list(db.session.execute(
        select(PrintedLabel, PrintJob).join(PrintJob, PrintJob.id == PrintedLabel.job_id)
        .where(PrintedLabel.dose_id == dose.id).order_by(PrintJob.printed_at, PrintedLabel.id)))
    infusion = db.session.scalar(select(Infusion).where(Infusion.dose_id == dose.id))
    shipments = list(db.session.execute(
        select(ShipmentItem, Shipment).join(Shipment, Shipment.id == ShipmentItem.shipment_id)
        .where(ShipmentItem.dose_id == dose.id).order_by(ShipmentItem.id)
        .options(lazyload(Shipment.items))))  # the page shows the box, not its other doses
    record = DoseRecord(dose, site_id, allocation, chain[-1].to_party if chain else custody.lab_party(), chain,
                        custody.check_chain(chain, custody.lab_party()).unbroken, printed, infusion, shipments)
    related = [and_(AuditEvent.entity_type == "doses", AuditEvent.entity_id == str(dose.id))]
    for entity, ids in (("allocations", [allocation.id] if allocation else []),
                        ("shipment_items", [item.id for item, _ in shipments]),
                        ("custody_events", [e.id for e in chain]),
                        ("infusions", [infusion.id] if infusion else [])):
        if ids:
            related.append(and_(AuditEvent.entity_type == entity, AuditEvent.entity_id.in_([str(i) for i in ids])))
    events = db.session.scalars(select(AuditEvent).where(or_(*related)).order_by(AuditEvent.seq)).all()
    record.history = _one_entry_per_act([
        HistoryEntry(e.occurred_at, e.action, e.actor_username,
                     _status_change(e.changes) if e.entity_type == "doses" else None, e.reason) for e in events])
    user_ids = {e.recorded_by_id for e in chain} | {job.printed_by_id for _, job in printed}
    if infusion is not None:
        user_ids |= {infusion.nurse_id, infusion.witness_id}
    if user_ids:
        record.names = {i: name for i, name in db.session.execute(select(User.id, User.display_name).where(User.id.in_(user_ids)))}
    return record
