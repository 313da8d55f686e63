"""Shipments: draft → packed (scan each dose) → dispatched (e-signed) → in transit (courier
hand-offs) → received | partially received; temperature and QA disposition of excursions."""
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select

from cell_chain.accounts.models import Site, User
from cell_chain.accounts.permissions import require_role
from cell_chain.accounts.signatures import Meaning, SignatureInput, sign
from cell_chain.batches import services as batches
from cell_chain.batches import workflow as batch_rules
from cell_chain.batches.models import Dose
from cell_chain.batches.workflow import DOSE_LIFECYCLE
from cell_chain.core import audit
from cell_chain.core.db import db, lock_row
from cell_chain.core.errors import ReasonRequired, ValidationFailed
from cell_chain.core.scanning import UnrecognizedBarcode, read_scan
from cell_chain.labels.services import labels_verified
from cell_chain.patients.allocation import active_allocation_of_dose
from cell_chain.shipments import custody
from cell_chain.shipments.errors import NoExcursion, NotInShipment, PackRefused, ShipmentState, UnknownDose
from cell_chain.shipments.excursions import CRYO, FRESH, find_excursions
from cell_chain.shipments.loggers import LoggerFileError, LoggerTrace, parse_logger_file
from cell_chain.shipments.models import Excursion, Shipment, ShipmentItem, TemperatureRecord, UnexpectedItem
from cell_chain.shipments.workflow import EXCURSION_LIFECYCLE, RECEIVED_STATES, SHIPMENT_LIFECYCLE
from cell_chain.web.words import N_
from cell_chain.core.messages import _l, state

STORAGE_OF_PRESENTATION = {"fresh": "2-8C", "cryopreserved": "cryo"}
# Creating a draft box is the packers' work.
CREATORS = SHIPMENT_LIFECYCLE.roles("pack")
PACKING_STATES = SHIPMENT_LIFECYCLE.transitions["pack"].sources
RECEIVABLE_STATES = SHIPMENT_LIFECYCLE.transitions["receive"].sources


def _require_reason(reason: str | None) -> str:
    if not reason or not reason.strip():
        raise ReasonRequired(N_("Give the reason (field 'reason')."))
    return reason.strip()


def create_shipment(*, site_code: str, storage: str, actor: User, now: datetime) -> Shipment:
    """A draft shipment to one site at one storage condition."""
    require_role(actor, CREATORS)
    site = db.session.scalar(select(Site).where(Site.code == site_code))
    if site is None:
        raise ValidationFailed({"site_code": [_l("No site %(site)s.", site=site_code)]})
    if storage not in STORAGE_OF_PRESENTATION.values():
        raise ValidationFailed({"storage": [N_("Storage is 2-8C or cryo.")]})
    shipment = Shipment(code=f"SHP-{site.code}-{secrets.token_hex(3).upper()}", site_id=site.id,
                        storage=storage, status="draft", created_by_id=actor.id, created_at=now)
    audit.record_created(shipment, "shipment.created", actor=actor, at=now)
    return shipment


def dose_from_scan(payload: str) -> Dose:
    scan = read_scan(payload)
    if scan.kind != "dose":
        raise UnrecognizedBarcode(_l("This is a %(kind)s barcode, not a dose label.", kind=state(scan.kind)))
    if scan.obj is None:
        raise UnknownDose(N_("No dose with this label is known. Check that this is one of our bag labels."))
    return scan.obj


def pack_dose(shipment: Shipment, *, scan: str, actor: User, now: datetime) -> ShipmentItem:
    """Add the scanned dose; refused (409, with its own code) for the wrong site, state,
    storage, expiry, unverified labels or a second scan of the same dose."""
    require_role(actor, SHIPMENT_LIFECYCLE.roles("pack"))
    lock_row(shipment)
    if not SHIPMENT_LIFECYCLE.can("pack", shipment.status):
        raise ShipmentState(_l("Shipment %(code)s is %(status)s: nothing more can be packed.", code=shipment.code,
                               status=state(shipment.status)))
    dose = dose_from_scan(scan)
    lock_row(dose)
    if any(item.dose_id == dose.id for item in shipment.items):
        raise PackRefused("PACK_DUPLICATE", _l("Dose %(code)s is already in this shipment.", code=dose.code))
    allocation = active_allocation_of_dose(dose)
    if dose.status != "allocated" or allocation is None:
        raise PackRefused("PACK_WRONG_STATE", _l("Dose %(code)s is %(status)s: only doses allocated to a patient "
                                                 "are shipped.", code=dose.code, status=state(dose.status)),
                          dose_status=dose.status)
    if allocation.visit.patient.site_id != shipment.site_id:
        raise PackRefused("PACK_WRONG_SITE", _l("Dose %(code)s is for %(subject)s at another site, not %(site)s.",
                                                code=dose.code, subject=allocation.visit.patient.subject_id,
                                                site=shipment.site.code))
    if dose.lot.status != "released":
        raise PackRefused("PACK_WRONG_STATE", _l("Dose %(code)s's lot is %(status)s.", code=dose.code,
                                                 status=state(dose.lot.status)))
    if batch_rules.is_expired(dose.expires_at, now):
        raise PackRefused("PACK_EXPIRED", _l("Dose %(code)s expired at %(time)s.", code=dose.code, time=dose.expires_at))
    if STORAGE_OF_PRESENTATION[dose.lot.presentation] != shipment.storage:
        raise PackRefused("PACK_WRONG_STORAGE", _l("Dose %(code)s is %(presentation)s; this box travels at %(storage)s.",
                                                   code=dose.code, presentation=state(dose.lot.presentation),
                                                   storage=shipment.storage))
    if not labels_verified(dose):
        raise PackRefused("PACK_LABELS_NOT_VERIFIED", _l("Dose %(code)s's bag and assignment labels must both be "
                                                         "scanned back before packing.", code=dose.code))
    item = ShipmentItem(shipment=shipment, dose_id=dose.id, packed_at=now, packed_by_id=actor.id)
    audit.record_created(item, "shipment.dose_packed", actor=actor, at=now)
    DOSE_LIFECYCLE.apply(dose, "pack")
    audit.record_change(dose, "dose.packed", actor=actor, at=now)
    if shipment.status == "draft":
        SHIPMENT_LIFECYCLE.apply(shipment, "pack")
        audit.record_change(shipment, "shipment.packed", actor=actor, at=now)
    return item


def unpack_dose(shipment: Shipment, *, dose_code: str, reason: str | None, actor: User,
                now: datetime) -> ShipmentItem:
    """Take a mis-packed dose out of a box that has not left the lab: the item is marked
    removed (never deleted), the dose goes back to allocated, and the last dose out leaves a
    draft box. Refused (409) once the box is dispatched."""
    require_role(actor, SHIPMENT_LIFECYCLE.roles("unpack"))
    why = _require_reason(reason)
    lock_row(shipment)
    if not SHIPMENT_LIFECYCLE.can("unpack", shipment.status):
        raise ShipmentState(_l("Shipment %(code)s is %(state)s: a dose can be taken out only before the box "
                                "is dispatched.", code=shipment.code, state=state(shipment.status)))
    code = (dose_code or "").strip().upper()
    item = next((i for i in shipment.items if i.dose.code == code), None)
    if item is None:
        raise NotInShipment(_l("Dose %(code)s is not in shipment %(shipment)s.", code=code or "(none)",
                               shipment=shipment.code))
    dose = item.dose
    lock_row(dose)
    item.removed_at, item.removed_by_id, item.removal_reason = now, actor.id, why
    audit.record_change(item, "shipment.dose_removed", actor=actor, at=now, reason=why)
    if dose.status == "quarantined":  # recalled while in the box: it stays quarantined
        DOSE_LIFECYCLE.apply_aside(dose, "unpack")
    else:
        DOSE_LIFECYCLE.apply(dose, "unpack")
    audit.record_change(dose, "dose.unpacked", actor=actor, at=now, reason=why)
    db.session.flush()
    db.session.expire(shipment, ["items"])  # the box's contents reload without the removed item
    if not shipment.items:
        SHIPMENT_LIFECYCLE.apply(shipment, "empty")
        audit.record_change(shipment, "shipment.emptied", actor=actor, at=now, reason=why)
    db.session.flush()
    return item


def dispatch(shipment: Shipment, *, courier: str, logger_id: str, signature: SignatureInput,
             actor: User, now: datetime) -> Shipment:
    """Hand the box to the courier with the lab's e-signature: custody lab → courier."""
    require_role(actor, SHIPMENT_LIFECYCLE.roles("dispatch"))
    lock_row(shipment)
    if not SHIPMENT_LIFECYCLE.can("dispatch", shipment.status) or not shipment.items:
        raise ShipmentState(_l("Shipment %(code)s is %(status)s: only a packed box is dispatched.", code=shipment.code,
                               status=state(shipment.status)))
    errors = {}
    if not courier.strip():
        errors["courier"] = [_l("Name the courier company or person.")]
    if not logger_id.strip():
        errors["logger_id"] = [_l("Give the temperature logger's serial number.")]
    if errors:
        raise ValidationFailed(errors)
    SHIPMENT_LIFECYCLE.apply(shipment, "dispatch")
    shipment.courier, shipment.logger_id = courier.strip(), logger_id.strip()
    shipment.dispatched_at = now
    audit.record_change(shipment, "shipment.dispatched", actor=actor, at=now)
    for item in shipment.items:
        DOSE_LIFECYCLE.apply(item.dose, "dispatch")
        audit.record_change(item.dose, "dose.in_transit", actor=actor, at=now)
        custody.record_handover(item.dose, kind="dispatch", to_party=custody.courier_party(shipment.courier),
                                place=current_app.config["FACILITY_NAME"], actor=actor, now=now,
                                shipment_id=shipment.id)
    sign(shipment, signer=actor, given=signature, meaning=Meaning.DISPATCHED, at=now)
    return shipment


def handoff(shipment: Shipment, *, from_party: str, to_party: str, place: str, actor: User,
            now: datetime) -> Shipment:
    """A courier hand-off of the whole box, recorded for every dose in it."""
    require_role(actor, SHIPMENT_LIFECYCLE.roles("handoff"))
    lock_row(shipment)
    if not SHIPMENT_LIFECYCLE.can("handoff", shipment.status):
        raise ShipmentState(_l("Shipment %(code)s is %(status)s: no hand-off to record.", code=shipment.code,
                               status=state(shipment.status)))
    if not (from_party.strip() and to_party.strip() and place.strip()):
        raise ValidationFailed({"to_party": [N_("Give who handed over, who took the box and where.")]})
    for item in shipment.items:
        custody.record_handover(item.dose, kind="handoff", from_party=custody.courier_party(from_party),
                                to_party=custody.courier_party(to_party), place=place.strip(),
                                actor=actor, now=now, shipment_id=shipment.id)
    if shipment.status == "dispatched":
        SHIPMENT_LIFECYCLE.apply(shipment, "handoff")
        audit.record_change(shipment, "shipment.in_transit", actor=actor, at=now)
    return shipment


@dataclass
class ReceiptResult:
    shipment: Shipment
    accepted: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.shipment.status

    @property
    def complete(self) -> bool:
        """Every dose arrived, nothing else did, and none is held in quarantine."""
        return self.shipment.status == "received" and not self.quarantined


def receipt_result(shipment: Shipment) -> ReceiptResult:
    result = ReceiptResult(shipment)
    for item in shipment.items:
        {"accepted": result.accepted, "missing": result.missing,
         "quarantined": result.quarantined}.get(item.receipt or "", []).append(item.dose.code)
    result.unexpected = [u.payload for u in db.session.scalars(
        select(UnexpectedItem).where(UnexpectedItem.shipment_id == shipment.id).order_by(UnexpectedItem.id))]
    return result


def receive(shipment: Shipment, *, scans: list[str], seal_intact: bool, signature: SignatureInput,
            actor: User, now: datetime) -> ReceiptResult:
    """The site pharmacist scans every dose in the box. Idempotent: a received shipment
    answers its recorded result. The shipment row is locked, so two pharmacists receiving
    at once count once."""
    require_role(actor, SHIPMENT_LIFECYCLE.roles("receive"))
    lock_row(shipment)
    if shipment.status in RECEIVED_STATES:
        return receipt_result(shipment)
    if not SHIPMENT_LIFECYCLE.can("receive", shipment.status):
        raise ShipmentState(_l("Shipment %(code)s is %(status)s: it has not been dispatched.", code=shipment.code,
                               status=state(shipment.status)))
    expected = {item.dose_id: item for item in shipment.items}
    scanned: set[int] = set()
    unexpected: list[tuple[str, int | None]] = []
    for payload in scans:
        try:
            dose = dose_from_scan(payload)
        except (UnrecognizedBarcode, UnknownDose):
            unexpected.append((str(payload)[:512], None))
            continue
        if dose.id in expected:
            scanned.add(dose.id)
        elif all(dose.id != d for _, d in unexpected):
            unexpected.append((dose.code, dose.id))
    place = shipment.site.name
    for dose_id, item in expected.items():
        dose = item.dose
        if dose_id not in scanned:
            item.receipt = "missing"
            audit.record_change(item, "shipment.dose_missing", actor=actor, at=now)
            continue
        custody.record_handover(dose, kind="receipt", to_party=custody.site_party(shipment.site.code),
                                place=place, actor=actor, now=now, shipment_id=shipment.id,
                                condition="seal intact" if seal_intact else "seal broken")
        quarantined = dose.status == "quarantined"
        if not quarantined:
            DOSE_LIFECYCLE.apply(dose, "receive")
            audit.record_change(dose, "dose.received", actor=actor, at=now)
        else:
            DOSE_LIFECYCLE.apply_aside(dose, "receive")
            audit.record_change(dose, "dose.received_in_quarantine", actor=actor, at=now)
        if not seal_intact and not quarantined:
            batches.quarantine_dose(dose, cause="seal_broken", reason="shipment seal broken on receipt", actor=actor, now=now)
            quarantined = True
        item.receipt = "quarantined" if quarantined else "accepted"
        audit.record_change(item, f"shipment.dose_{item.receipt}", actor=actor, at=now)
    for payload, dose_id in unexpected:
        audit.record_created(UnexpectedItem(shipment_id=shipment.id, payload=payload, dose_id=dose_id,
                                            recorded_at=now), "shipment.unexpected_item", actor=actor, at=now)
    complete = len(scanned) == len(expected) and not unexpected
    SHIPMENT_LIFECYCLE.apply(shipment, "receive" if complete else "receive_partially")
    shipment.seal_intact, shipment.received_at, shipment.received_by_id = seal_intact, now, actor.id
    audit.record_change(shipment, f"shipment.{shipment.status}", actor=actor, at=now)
    sign(shipment, signer=actor, given=signature, meaning=Meaning.RECEIVED, at=now)
    db.session.flush()
    return receipt_result(shipment)


# ---- temperature -------------------------------------------------------------------------------

def read_logger_file(data: bytes, filename: str | None) -> LoggerTrace:
    """The readings of an uploaded logger file (seconds of CPU for a large one): callers run
    it before their transaction writes anything. Raises LoggerFileError."""
    return parse_logger_file(data, filename)


@dataclass(frozen=True)
class PreparedTemperature:
    """What a logger file means for one shipment, computed before any write: the readings of
    its journey (as stored), and the excursions among them."""

    window: tuple[datetime, datetime | None]
    storage: str
    source_format: str
    readings_count: int
    readings_json: str
    readings_sha256: str
    found: list[Any]


def prepare_temperature(shipment: Shipment, trace: LoggerTrace, *, now: datetime) -> PreparedTemperature:
    """The journey's readings and excursions (pure CPU: callers run it before writing).
    Raises LoggerFileError when no reading falls within the journey."""
    if not SHIPMENT_LIFECYCLE.can("record_temperature", shipment.status) or shipment.dispatched_at is None:
        raise ShipmentState(N_("Upload the logger file once the shipment has left the lab."))
    # Only the time the doses travelled counts: a logger started in a warm room before packing,
    # or left running after receipt, is not an excursion of this shipment.
    until = shipment.received_at or now
    readings = [r for r in trace.readings if shipment.dispatched_at <= r.at <= until]
    if not readings:
        raise LoggerFileError(N_("The file has no readings between dispatch and receipt of this shipment."))
    allowed = FRESH if shipment.storage == "2-8C" else CRYO
    found = find_excursions(readings, allowed,
                            allowance_minutes=current_app.config["EXCURSION_ALLOWANCE_MINUTES"])
    readings_json = json.dumps([[r.at.isoformat(), r.celsius] for r in readings])
    return PreparedTemperature(
        window=(shipment.dispatched_at, shipment.received_at), storage=shipment.storage,
        source_format=trace.source_format, readings_count=len(readings), readings_json=readings_json,
        readings_sha256=hashlib.sha256(readings_json.encode()).hexdigest(), found=list(found))


def record_temperature(shipment: Shipment, *, data: bytes | None = None, filename: str | None, actor: User,
                       now: datetime, trace: LoggerTrace | None = None,
                       prepared: PreparedTemperature | None = None) -> tuple[TemperatureRecord, list[Excursion]]:
    """Store the logger's readings (`prepared` by prepare_temperature, else from `trace` or the
    file's `data`) and the excursions outside the storage range; an excursion quarantines the
    shipment's doses until QA decides. Raises LoggerFileError, ShipmentState."""
    require_role(actor, SHIPMENT_LIFECYCLE.roles("record_temperature"))
    if not SHIPMENT_LIFECYCLE.can("record_temperature", shipment.status):
        raise ShipmentState(N_("Upload the logger file once the shipment has left the lab."))
    if prepared is None or prepared.window != (shipment.dispatched_at, shipment.received_at) \
            or prepared.storage != shipment.storage:
        if trace is None:
            trace = read_logger_file(data or b"", filename)
        prepared = prepare_temperature(shipment, trace, now=now)
    record = TemperatureRecord(
        shipment_id=shipment.id, source_format=prepared.source_format,
        filename=(filename or "")[:200] or None, readings_count=prepared.readings_count,
        readings_json=prepared.readings_json, readings_sha256=prepared.readings_sha256,
        uploaded_by_id=actor.id, uploaded_at=now)
    audit.record_created(record, "shipment.temperature_recorded", actor=actor, at=now)
    excursions = []
    for found_one in prepared.found:
        excursion = Excursion(shipment_id=shipment.id, record_id=record.id, start=found_one.start,
                              end=found_one.end, minutes=found_one.minutes,
                              extreme_celsius=found_one.extreme_celsius, status="open")
        audit.record_created(excursion, "shipment.excursion", actor=actor, at=now)
        excursions.append(excursion)
    if excursions:
        for item in shipment.items:
            batches.quarantine_dose(item.dose, cause="excursion", reason=f"temperature excursion in shipment {shipment.code}",
                                    actor=actor, now=now)
    return record, excursions


def open_excursions(shipment: Shipment) -> list[Excursion]:
    return list(db.session.scalars(select(Excursion).where(
        Excursion.shipment_id == shipment.id, Excursion.status == "open").order_by(Excursion.start)))


def dispose_excursion(shipment: Shipment, *, decision: str, reason: str | None,
                      signature: SignatureInput, actor: User, now: datetime) -> list[Excursion]:
    """QA accepts (doses back in use) or rejects (doses stay quarantined for destruction or
    return) every open excursion of the shipment, with reason and e-signature."""
    require_role(actor, SHIPMENT_LIFECYCLE.roles("dispose_excursion"))
    why = _require_reason(reason)
    if decision not in ("accept", "reject"):
        raise ValidationFailed({"decision": [N_("Decide accept or reject.")]})
    lock_row(shipment)
    excursions = open_excursions(shipment)
    if not excursions:
        raise NoExcursion(_l("Shipment %(code)s has no excursion awaiting a decision.", code=shipment.code))
    for excursion in excursions:
        EXCURSION_LIFECYCLE.apply(excursion, decision)
        excursion.decision_reason, excursion.decided_by_id, excursion.decided_at = why, actor.id, now
        audit.record_change(excursion, f"excursion.{excursion.status}", actor=actor, at=now, reason=why)
    if decision == "accept":
        for item in shipment.items:
            dose = item.dose
            if dose.status == "quarantined" and dose.quarantine_cause == "excursion":
                batches.lift_quarantine(dose, reason=f"excursion accepted: {why}", actor=actor, now=now)
                if item.receipt == "quarantined":
                    item.receipt = "accepted"
                    audit.record_change(item, "shipment.dose_accepted", actor=actor, at=now, reason=why)
    sign(shipment, signer=actor, given=signature, meaning=Meaning.DISPOSITIONED, at=now)
    return excursions
