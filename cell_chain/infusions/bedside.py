"""Bedside verification and the infusion record (DESIGN §5): one pure decision over the
loaded facts, every stop by its stable code in a fixed order, re-run under the dose's row
lock when the infusion is recorded."""
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import cache
from typing import Any

from flask import current_app
from flask_babel import gettext
from sqlalchemy import Insert, Select, and_, bindparam, delete, func, insert, literal_column, select

from cell_chain.accounts.models import Site, User
from cell_chain.accounts.permissions import require_role
from cell_chain.accounts.roles import Role
from cell_chain.accounts.services import user_by_username
from cell_chain.accounts.signatures import Meaning, SignatureInput, WitnessInput, sign, witness
from cell_chain.batches.models import Dose, Lot
from cell_chain.batches.workflow import DOSE_LIFECYCLE
from cell_chain.core import audit
from cell_chain.core.clock import local_date, zone_named
from cell_chain.core.db import db, is_postgres, lock_row
from cell_chain.core.errors import DomainError, ValidationFailed
from cell_chain.core.messages import Message, _l
from cell_chain.core.scanning import Identified, UnrecognizedBarcode, identify_scan
from cell_chain.infusions.models import BedsideCheck, Infusion, InfusionDraft
from cell_chain.labels.scans import LabelDose, LabelLot, bag_label_matches
from cell_chain.patients import schedule
from cell_chain.patients.models import Allocation, Patient, Visit
from cell_chain.patients.scans import LabelAllocation, assignment_label_matches
from cell_chain.patients.workflow import VISIT_LIFECYCLE
from cell_chain.shipments.custody import record_handover
from cell_chain.shipments.models import CustodyEvent, Excursion, ShipmentItem, TemperatureRecord
from cell_chain.shipments.parties import Party
from cell_chain.web.words import N_

STOP_ORDER = ("UNRECOGNIZED_BARCODE", "UNKNOWN_PATIENT", "UNKNOWN_DOSE", "WRONG_SITE", "WRONG_PATIENT",
              "PATIENT_NOT_IN_MSC_ARM", "DOSE_NOT_RELEASED", "DOSE_QUARANTINED", "DOSE_RECALLED",
              "DOSE_EXPIRED", "NOT_RECEIVED", "NOT_DISPENSED", "NOT_THAWED", "ALREADY_ADMINISTERED",
              "TEMPERATURE_EXCURSION", "TOO_SOON")
WARNING_CODES = ("OUT_OF_WINDOW",)
MESSAGES = {
    "UNRECOGNIZED_BARCODE": N_("A scan is not a wristband or a dose label. Scan the patient's wristband and the dose bag."),
    "UNKNOWN_PATIENT": N_("This wristband is not a patient of this trial."),
    "UNKNOWN_DOSE": N_("This dose label is not known. Do not give it; call the pharmacy."),
    "WRONG_SITE": N_("This patient or dose belongs to another hospital."),
    "WRONG_PATIENT": N_("This dose is for another patient. Do not give it."),
    "PATIENT_NOT_IN_MSC_ARM": N_("This patient receives no (further) MSC doses: control arm, withdrawn, or all four given."),
    "DOSE_NOT_RELEASED": N_("The dose's lot is not released by QA."),
    "DOSE_QUARANTINED": N_("The dose is in quarantine."),
    "DOSE_RECALLED": N_("The dose's lot has been recalled."),
    "DOSE_EXPIRED": N_("The dose has expired."),
    "NOT_RECEIVED": N_("The dose is not in this hospital's custody: the pharmacy has not received it."),
    "NOT_DISPENSED": N_("The pharmacy has not handed this dose to the ward (or it was given back). "
                        "Do not give it: ask the pharmacy to dispense it to you first."),
    "NOT_THAWED": N_("No thaw is recorded for this frozen dose. Do not give it: ask the pharmacy to thaw it "
                   "and record the thaw, then scan again."),
    "ALREADY_ADMINISTERED": N_("This dose has already been given."),
    "TEMPERATURE_EXCURSION": N_("The dose's shipment had a temperature excursion that QA has not cleared."),
    "TOO_SOON": N_("The last dose was given too recently."),
    "OUT_OF_WINDOW": N_("Today is outside this visit's window: giving the dose is a protocol deviation."),
}


def message(code: str) -> str:
    """What a stop or warning code means, in the reader's language (the code stays English)."""
    return gettext(MESSAGES[code])


# What happened after the infusion started: never a stop, but the record is flagged (lookback).
LATER_WORDS = {
    "DOSE_RECALLED": "lot recalled",
    "DOSE_QUARANTINED": "dose quarantined",
    "TEMPERATURE_EXCURSION": "temperature excursion found",
}
NURSES = DOSE_LIFECYCLE.roles("administer")
WITNESSES = (Role.NURSE, Role.PHARMACIST)


@dataclass(frozen=True)
class PatientFacts:
    """The scanned wristband's patient."""

    id: int
    subject_id: str
    site_id: int
    arm: str
    status: str
    initials: str
    birth_year: int


@dataclass(frozen=True)
class DoseFacts:
    """The scanned label's dose and its lot."""

    id: int
    code: str
    status: str
    lot_status: str
    lot_number: str
    expires_at: datetime
    thawed_at: datetime | None
    presentation: str = "fresh"
    quarantined_at: datetime | None = None


@dataclass(frozen=True)
class AllocationFacts:
    """The dose's active allocation: the visit and the patient (and site) it is for."""

    id: int
    coi: str
    patient_id: int
    site_id: int
    site_code: str
    visit_number: int
    target_date: date
    window_start: date
    window_end: date


@dataclass(frozen=True)
class Facts:
    """Everything the decision needs, as values loaded in one statement."""

    nurse_site_id: int | None
    scans_readable: bool
    patient: PatientFacts | None = None
    dose: DoseFacts | None = None
    allocation: AllocationFacts | None = None
    custodian: str | None = None
    # When the first unresolved excursion of the dose's shipment became known (its logger
    # upload); None: no open excursion.
    excursion_known_at: datetime | None = None
    infusions_given: int = 0
    last_infusion_at: datetime | None = None


@dataclass
class Decision:
    stops: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Conditions that arose after the moment judged (after the infusion started): no stop,
    # but the record is flagged for lookback.
    later: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.stops


def decide(facts: Facts, *, now: datetime, min_interval: timedelta, zone: tzinfo = UTC) -> Decision:
    """Pure: the stops and warnings for these facts at the moment of giving, `now` (the
    bedside check's time, or the infusion's start when it is recorded), in STOP_ORDER. What
    became true only after that moment is listed in `later`, never a stop."""
    found: set[str] = set()
    later: list[str] = []
    warnings: list[str] = []
    patient, dose, allocation = facts.patient, facts.dose, facts.allocation
    if not facts.scans_readable:
        found.add("UNRECOGNIZED_BARCODE")
    if facts.scans_readable and patient is None:
        found.add("UNKNOWN_PATIENT")
    if facts.scans_readable and dose is None:
        found.add("UNKNOWN_DOSE")
    if patient is not None and patient.site_id != facts.nurse_site_id:
        found.add("WRONG_SITE")
    if dose is not None and allocation is not None and allocation.site_id != facts.nurse_site_id:
        found.add("WRONG_SITE")
    if dose is not None and patient is not None and (allocation is None or allocation.patient_id != patient.id):
        found.add("WRONG_PATIENT")
    if patient is not None and (patient.arm != "msc" or patient.status != "active"
                                or facts.infusions_given >= len(schedule.VISIT_MONTHS)):
        found.add("PATIENT_NOT_IN_MSC_ARM")
    if dose is not None:
        lot_status = dose.lot_status
        if lot_status in ("in_process", "quarantine", "rejected"):
            found.add("DOSE_NOT_RELEASED")
        # A quarantine (a recall's too) counts from when it was put on the dose.
        set_aside_later = (dose.status == "quarantined" and dose.quarantined_at is not None
                           and dose.quarantined_at > now)
        if lot_status == "recalled":
            (later.append if set_aside_later else found.add)("DOSE_RECALLED")
        elif dose.status == "quarantined":
            (later.append if set_aside_later else found.add)("DOSE_QUARANTINED")
        if now >= dose.expires_at:
            found.add("DOSE_EXPIRED")
        if dose.status == "administered":
            found.add("ALREADY_ADMINISTERED")
        elif not _at_site(facts):
            found.add("NOT_RECEIVED")
        else:
            # At the hospital: was it handed to the ward, and thawed before the moment judged?
            if not _on_ward(facts):
                found.add("NOT_DISPENSED")
            if dose.presentation == "cryopreserved" and (dose.thawed_at is None or dose.thawed_at > now):
                found.add("NOT_THAWED")
        if facts.excursion_known_at is not None:
            (found.add if facts.excursion_known_at <= now else later.append)("TEMPERATURE_EXCURSION")
    if facts.last_infusion_at is not None and now - facts.last_infusion_at < min_interval:
        found.add("TOO_SOON")
    # The window is days of the hospital's calendar (`zone`), not of UTC.
    if allocation is not None and not schedule.in_window(local_date(now, zone), allocation.window_start,
                                                         allocation.window_end):
        warnings.append("OUT_OF_WINDOW")
    return Decision([code for code in STOP_ORDER if code in found], warnings, later)


def site_zone(actor: User) -> tzinfo:
    """The zone of the nurse's hospital, whose calendar the visit windows are counted in."""
    try:
        return zone_named(actor.site.time_zone) if actor.site is not None else UTC
    except ValueError:
        return UTC


def _at_site(facts: Facts) -> bool:
    if facts.custodian is None or facts.allocation is None:
        return False
    site = facts.allocation.site_code
    return Party.parse(facts.custodian).held_at_site(site)


def _on_ward(facts: Facts) -> bool:
    """In the ward's custody: the pharmacy dispensed it to a nurse of the dose's hospital."""
    assert facts.custodian is not None and facts.allocation is not None
    return Party.parse(facts.custodian).kind == "ward"


def _classify(first: Any, second: Any) -> tuple[Identified | None, Identified | None]:
    """(patient scan, dose scan) whichever order they came in; (None, None) unless exactly
    one of each. No query: what the scans name is loaded afterwards, in one statement."""
    try:
        scans = [identify_scan(first), identify_scan(second)]
    except UnrecognizedBarcode:
        return None, None
    patients = [s for s in scans if s.kind == "patient"]
    doses = [s for s in scans if s.kind == "dose"]
    if len(patients) != 1 or len(doses) != 1:
        return None, None
    return patients[0], doses[0]


def load_facts(patient_scan: Any, dose_scan: Any, *, nurse: User, log_only: bool = False) -> Facts:
    """The facts behind a decision: the two scans are identified without a query, then the
    patient, the dose, its allocation, custodian and open excursions and the patient's
    infusions come in one statement. `log_only`: this transaction writes nothing but the
    bedside check log (see verify_infusion)."""
    patient_read, dose_read = _classify(patient_scan, dose_scan)
    if patient_read is None or dose_read is None:
        return Facts(nurse.site_id, False)
    # As an ORM query would: the facts include this transaction's pending changes.
    db.session.flush()
    if dose_read.label == "assignment":
        params = {"subject_id": patient_read.key, "coi": dose_read.key}
    else:
        din, number = dose_read.key
        params = {"subject_id": patient_read.key, "din": din, "number": number}
    statement = facts_statement(dose_read.label, asynchronous_commit=log_only and is_postgres())
    row = db.session.connection().execute(statement, params).one()
    patient = None if row.patient_id is None else PatientFacts(
        row.patient_id, row.subject_id, row.patient_site_id, row.arm, row.patient_status, row.initials,
        row.birth_year)
    given, last = row.infusions_given or 0, _utc(row.last_infusion_at)
    if row.dose_id is None or not _names_dose(dose_read, row):
        return Facts(nurse.site_id, True, patient, None, None, None, None, given, last)
    dose = DoseFacts(row.dose_id, row.dose_code, row.dose_status, row.lot_status, row.lot_number, row.expires_at,
                     row.thawed_at, row.presentation, row.quarantined_at)
    allocation = None if row.allocation_id is None else AllocationFacts(
        row.allocation_id, row.coi, row.allocated_patient_id, row.allocated_site_id, row.allocated_site_code,
        row.visit_number, row.target_date, row.window_start, row.window_end)
    custodian = row.custodian or f"lab:{current_app.config['FACILITY_FIN']}"
    return Facts(nurse.site_id, True, patient, dose, allocation, custodian, _utc(row.excursion_known_at), given,
                 last)


def _names_dose(read: Identified, row: Any) -> bool:
    """The scan is exactly the label printed for the dose the row found (a label with a
    forged or stale part names no dose)."""
    label_dose = LabelDose(LabelLot(row.din, row.product_code, row.shelf_life_hours, row.shelf_life_months),
                           row.dose_number, row.division, row.prepared_at, row.expires_at)
    if read.label == "assignment":
        return row.coi is not None and assignment_label_matches(read.payload, LabelAllocation(row.coi, label_dose))
    return bag_label_matches(read.payload, label_dose)


def _utc(value: Any) -> datetime | None:
    if value is None or (isinstance(value, datetime) and value.tzinfo is not None):
        return value
    # SQLite may return the aggregate without the column's type.
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


@cache
def facts_statement(dose_label: str | None, *, asynchronous_commit: bool = False) -> Select[Any]:
    """The one statement behind load_facts, built once per label kind: the wristband's
    patient and the dose named by a bag label (DIN and dose number) or an assignment label
    (COI), each LEFT JOINed to a one-row anchor so that an unknown one is NULLs, not no row.
    `asynchronous_commit` (PostgreSQL only) also sets SET LOCAL synchronous_commit = off, as
    set_config, without a round trip of its own."""
    patients, doses, lots = Patient.__table__, Dose.__table__, Lot.__table__
    allocations, visits, infusions = Allocation.__table__, Visit.__table__, Infusion.__table__
    allocated, sites = Patient.__table__.alias("allocated"), Site.__table__.alias("allocated_site")
    custody, items, excursions = CustodyEvent.__table__, ShipmentItem.__table__, Excursion.__table__
    records = TemperatureRecord.__table__
    anchor = select(literal_column("1").label("one")).subquery("scan")
    joined = anchor.outerjoin(patients, patients.c.subject_id == bindparam("subject_id"))
    if dose_label == "assignment":
        joined = (joined.outerjoin(allocations, and_(allocations.c.coi == bindparam("coi"), allocations.c.active))
                  .outerjoin(doses, doses.c.id == allocations.c.dose_id)
                  .outerjoin(lots, lots.c.id == doses.c.lot_id))
    else:
        joined = (joined.outerjoin(lots, lots.c.din == bindparam("din"))
                  .outerjoin(doses, and_(doses.c.lot_id == lots.c.id, doses.c.number == bindparam("number")))
                  .outerjoin(allocations, and_(allocations.c.dose_id == doses.c.id, allocations.c.active)))
    joined = (joined.outerjoin(visits, visits.c.id == allocations.c.visit_id)
              .outerjoin(allocated, allocated.c.id == visits.c.patient_id)
              .outerjoin(sites, sites.c.id == allocated.c.site_id))
    # Constants written into the SQL, not bound: PostgreSQL then plans the prepared statement
    # once (a generic plan) instead of on every execution (it cannot cost LIMIT $1).
    custodian = (select(custody.c.to_party).where(custody.c.dose_id == doses.c.id)
                 .order_by(custody.c.occurred_at.desc(), custody.c.id.desc()).limit(literal_column("1"))
                 .scalar_subquery())
    excursion_known_at = (select(func.min(records.c.uploaded_at))
                          .select_from(excursions)
                          .join(items, and_(items.c.shipment_id == excursions.c.shipment_id, items.c.removed_at.is_(None)))
                          .join(records, records.c.id == excursions.c.record_id)
                          .where(items.c.dose_id == doses.c.id, excursions.c.status == literal_column("'open'"))
                          .scalar_subquery())
    given = select(func.count(infusions.c.id)).where(infusions.c.patient_id == patients.c.id).scalar_subquery()
    last = select(func.max(infusions.c.started_at)).where(infusions.c.patient_id == patients.c.id).scalar_subquery()
    columns = [
        patients.c.id.label("patient_id"), patients.c.subject_id, patients.c.site_id.label("patient_site_id"),
        patients.c.arm, patients.c.status.label("patient_status"), patients.c.initials, patients.c.birth_year,
        doses.c.id.label("dose_id"), doses.c.code.label("dose_code"), doses.c.status.label("dose_status"),
        doses.c.number.label("dose_number"), doses.c.division, doses.c.prepared_at, doses.c.expires_at,
        doses.c.thawed_at, doses.c.quarantined_at, lots.c.presentation, lots.c.status.label("lot_status"), lots.c.lot_number, lots.c.din, lots.c.product_code,
        lots.c.shelf_life_hours, lots.c.shelf_life_months,
        allocations.c.id.label("allocation_id"), allocations.c.coi, visits.c.number.label("visit_number"),
        visits.c.target_date, visits.c.window_start, visits.c.window_end,
        visits.c.patient_id.label("allocated_patient_id"), allocated.c.site_id.label("allocated_site_id"),
        sites.c.code.label("allocated_site_code"),
        custodian.label("custodian"), excursion_known_at.label("excursion_known_at"),
        given.label("infusions_given"), last.label("last_infusion_at"),
    ]
    if asynchronous_commit:
        columns.append(func.set_config("synchronous_commit", "off", True).label("synchronous_commit"))
    return select(*columns).select_from(joined)


def _min_interval() -> timedelta:
    return timedelta(days=current_app.config["MIN_DOSE_INTERVAL_DAYS"])


@dataclass
class Verification:
    decision: Decision
    facts: Facts

    @property
    def ok(self) -> bool:
        return self.decision.ok


def verify_infusion(patient_scan: Any, dose_scan: Any, *, actor: User, now: datetime) -> Verification:
    """Check a wristband and a dose bag, in either order. Changes no record; the check itself
    is logged (countable stops, and the proof of a bedside scan for recording)."""
    require_role(actor, NURSES)
    # The check log is not a GMP record: losing the last few on a server crash only means the
    # nurse scans again, so on PostgreSQL its commit does not wait for the disk (the setting
    # rides on the facts statement; an unreadable pair, which loads nothing, commits as usual).
    facts = load_facts(patient_scan, dose_scan, nurse=actor, log_only=True)
    decision = decide(facts, now=now, min_interval=_min_interval(), zone=site_zone(actor))
    # A plain insert: the log row is never read back in this request, so it needs no entity.
    db.session.connection().execute(_check_log_statement(), {
        "nurse_id": actor.id, "site_id": actor.site_id, "patient_id": facts.patient.id if facts.patient else None,
        "dose_id": facts.dose.id if facts.dose else None, "ok": decision.ok, "stops": ",".join(decision.stops),
        "warnings": ",".join(decision.warnings), "checked_at": now})
    return Verification(decision, facts)


@cache
def _check_log_statement() -> Insert:
    return insert(BedsideCheck.__table__).inline()  # inline: no RETURNING of the new id


class InfusionStopped(DomainError):
    status, title = 409, "The infusion must not go ahead"

    def __init__(self, decision: Decision) -> None:
        super().__init__(message(decision.stops[0]),
                         stops=[{"code": c, "message": message(c)} for c in decision.stops])
        self.code = decision.stops[0]


class VerificationRequired(DomainError):
    status, code, title = 409, "VERIFICATION_REQUIRED", "Scan the wristband and the dose at the bedside first"


class WarningNotAcknowledged(DomainError):
    status, code, title = 422, "WARNING_NOT_ACKNOWLEDGED", "Acknowledge each warning with a reason"


@dataclass(frozen=True)
class InfusionInput:
    started_at: datetime
    ended_at: datetime
    volume_ml: float
    tolerance_grade: int
    adverse_events: str | None
    serious: bool
    acknowledged_warnings: dict[str, str]
    partial_reason: str | None = None
    # The nurse confirms a duration outside INFUSION_MIN_MINUTES … INFUSION_MAX_MINUTES.
    confirm_duration: bool = False


def unusual_duration(started_at: datetime, ended_at: datetime) -> bool:
    """Shorter or longer than an infusion of 40 ml usually runs (configurable)."""
    config = current_app.config
    length = ended_at - started_at
    return not (timedelta(minutes=config["INFUSION_MIN_MINUTES"]) <= length
                <= timedelta(minutes=config["INFUSION_MAX_MINUTES"]))


def record_problems(given: InfusionInput, now: datetime, *, duration_changed: bool = True) -> dict[str, list[Any]]:
    """What is wrong with an infusion's facts as recorded or corrected, by field: times in
    order and not in the future, the volume, grade and serious event described, a partial
    infusion explained, an unusual duration confirmed (`duration_changed`: when the times
    are new; a correction that leaves them keeps the confirmation given with them)."""
    errors: dict[str, list[Any]] = {}
    full = current_app.config["DOSE_VOLUME_ML"]
    if given.ended_at < given.started_at:
        errors["ended_at"] = [_l("The infusion cannot end before it started.")]
    if given.ended_at > now + timedelta(minutes=1):
        errors["ended_at"] = [_l("The end time is in the future.")]
    if not 0 < given.volume_ml <= 45:
        errors["volume_ml"] = [_l("Give the volume infused in ml (up to 45).")]
    if given.tolerance_grade not in range(5):
        errors["tolerance_grade"] = [_l("Tolerance grade is 0 (no discomfort) to 4 (life-threatening).")]
    if given.serious and not (given.adverse_events or "").strip():
        errors["adverse_events"] = [_l("Describe the serious adverse event.")]
    if 0 < given.volume_ml < full and not (given.partial_reason or "").strip():
        errors["partial_reason"] = [_l("Less than %(volume)s ml was given: say why (partial infusion).", volume=f"{full:g}")]
    if (duration_changed and given.ended_at >= given.started_at
            and unusual_duration(given.started_at, given.ended_at) and not given.confirm_duration):
        config = current_app.config
        errors["confirm_duration"] = [
            _l("The infusion lasted %(lasted)s, outside the usual %(minimum)s minutes to %(maximum)s hours: check "
               "the start and end times, and confirm them if they are right.",
               lasted=_minutes(given.ended_at - given.started_at), minimum=config["INFUSION_MIN_MINUTES"],
               maximum=f"{config['INFUSION_MAX_MINUTES'] / 60:g}")]
    return errors


def _validate(given: InfusionInput, now: datetime) -> None:
    errors = record_problems(given, now)
    if given.started_at < now - timedelta(hours=24):
        errors["started_at"] = [_l("Record the infusion on the day it is given.")]
    if errors:
        raise ValidationFailed(errors)


def _minutes(length: timedelta) -> Message:
    minutes = length.total_seconds() / 60
    if minutes >= 1:
        return _l("%(count)s minutes", count=f"{minutes:.0f}")
    return _l("%(count)s seconds", count=f"{length.total_seconds():.0f}")


def _at(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _lookback_reason(decision: Decision, facts: Facts, started_at: datetime) -> str | None:
    """Words for what happened after the start (the record stands; the patient is followed up)."""
    if not decision.later:
        return None
    assert facts.dose is not None
    parts = []
    for code in decision.later:
        moment = facts.excursion_known_at if code == "TEMPERATURE_EXCURSION" else facts.dose.quarantined_at
        parts.append(LATER_WORDS[code] + (f" at {_at(moment)}" if moment else ""))
    return f"{'; '.join(parts).capitalize()}, after the infusion started at {_at(started_at)}: lookback."


def verified_before_start(*, nurse_id: int, patient_id: int, dose_id: int, started_at: datetime,
                          now: datetime) -> bool:
    """This nurse's bedside check of this patient and dose passed within
    VERIFICATION_VALID_MINUTES before the infusion started (a start typed to the minute
    covers that whole minute); the record itself may come at the end of the infusion."""
    window = timedelta(minutes=current_app.config["VERIFICATION_VALID_MINUTES"])
    latest = min(started_at + timedelta(minutes=1), now)
    return bool(db.session.scalar(select(func.count(BedsideCheck.id)).where(
        BedsideCheck.nurse_id == nurse_id, BedsideCheck.patient_id == patient_id,
        BedsideCheck.dose_id == dose_id, BedsideCheck.ok, BedsideCheck.checked_at >= started_at - window,
        BedsideCheck.checked_at <= latest)))


def record_infusion(patient_scan: Any, dose_scan: Any, *, given: InfusionInput, signature: SignatureInput,
                    witnessed_by: WitnessInput, actor: User, now: datetime) -> Infusion:
    """Record the infusion, usually when it ends. The decision is re-run with the dose row
    locked (two nurses at once: the second gets ALREADY_ADMINISTERED) and judged at the
    infusion's start: the same nurse must have verified this patient and dose in the minutes
    before it; what happened after the start (a recall) never refuses the record but flags
    it for lookback. Warnings need reasons, a partial infusion its reason, an unusual
    duration a confirmation; nurse signs and a witness signs."""
    require_role(actor, NURSES)
    _validate(given, now)
    facts = load_facts(patient_scan, dose_scan, nurse=actor)
    if facts.dose is not None:
        lock_row(db.session.get(Dose, facts.dose.id))
        facts = load_facts(patient_scan, dose_scan, nurse=actor)
    decision = decide(facts, now=given.started_at, min_interval=_min_interval(), zone=site_zone(actor))
    if not decision.ok:
        raise InfusionStopped(decision)
    assert facts.patient is not None and facts.dose is not None and facts.allocation is not None
    if not verified_before_start(nurse_id=actor.id, patient_id=facts.patient.id, dose_id=facts.dose.id,
                                 started_at=given.started_at, now=now):
        minutes = current_app.config["VERIFICATION_VALID_MINUTES"]
        raise VerificationRequired(_l("Scan %(subject)s's wristband and the dose bag at the bedside (within "
                                      "%(minutes)s minutes before the infusion starts) first.",
                                      subject=facts.patient.subject_id, minutes=minutes))
    missing = [w for w in decision.warnings if not (given.acknowledged_warnings.get(w) or "").strip()]
    if missing:
        raise WarningNotAcknowledged(_l("Give a reason for: %(warnings)s.", warnings=", ".join(missing)), warnings=missing)
    # No stop, so the dose is allocated to the scanned patient: its records, to change.
    dose, allocation = db.session.get(Dose, facts.dose.id), db.session.get(Allocation, facts.allocation.id)
    visit = allocation.visit
    patient = visit.patient
    out_of_window = "OUT_OF_WINDOW" in decision.warnings
    partial = given.volume_ml < current_app.config["DOSE_VOLUME_ML"]
    infusion = Infusion(
        dose_id=dose.id, patient_id=patient.id, visit_id=visit.id, coi=allocation.coi,
        started_at=given.started_at, ended_at=given.ended_at, volume_ml=given.volume_ml,
        partial=partial, partial_reason=(given.partial_reason or "").strip() or None if partial else None,
        duration_confirmed=given.confirm_duration and unusual_duration(given.started_at, given.ended_at),
        tolerance_grade=given.tolerance_grade,
        adverse_events=(given.adverse_events or "").strip() or None, serious=given.serious,
        out_of_window=out_of_window,
        deviation_reason=given.acknowledged_warnings.get("OUT_OF_WINDOW", "").strip() or None if out_of_window else None,
        lookback_reason=_lookback_reason(decision, facts, given.started_at),
        nurse_id=actor.id, witness_id=0, recorded_at=now)
    witness_user = _witness_user(witnessed_by)
    infusion.witness_id = witness_user.id if witness_user else actor.id
    audit.record_created(infusion, "infusion.recorded", actor=actor, at=now,
                         reason=infusion.deviation_reason)
    if dose.status == "quarantined":
        # Set aside only after the infusion began (the decision said so): the dose is in the patient.
        DOSE_LIFECYCLE.apply(dose, "administer_quarantined")
        dose.status_before_quarantine = dose.quarantine_cause = dose.quarantine_reason = dose.quarantined_at = None
    else:
        DOSE_LIFECYCLE.apply(dose, "administer")
    audit.record_change(dose, "dose.administered", actor=actor, at=now, reason=infusion.lookback_reason)
    VISIT_LIFECYCLE.apply(visit, "record_infusion_out_of_window" if out_of_window else "record_infusion")
    audit.record_change(visit, f"visit.{visit.recorded}", actor=actor, at=now, reason=infusion.deviation_reason)
    record_handover(dose, kind="administer", to_party=str(Party.patient(patient.subject_id)),
                    place=patient.site.name, actor=actor, now=now)
    signed = sign(infusion, signer=actor, given=signature, meaning=Meaning.ADMINISTERED, at=now)
    witness(infusion, given=witnessed_by, signer_signature=signed, allowed_roles=WITNESSES, at=now)
    db.session.execute(delete(InfusionDraft).where(InfusionDraft.dose_id == dose.id))
    return infusion


def _witness_user(given: WitnessInput) -> User | None:
    return user_by_username(given.username or "")


def _patients_of_doses(dose_ids: list[int]) -> dict[int, str]:
    if not dose_ids:
        return {}
    rows = db.session.execute(select(Infusion.dose_id, Patient.subject_id)
                              .join(Patient, Patient.id == Infusion.patient_id)
                              .where(Infusion.dose_id.in_(dose_ids))).all()
    return {row.dose_id: row.subject_id for row in rows}


from cell_chain.batches.services import register_lookback  # noqa: E402

register_lookback(_patients_of_doses)
