"""Bedside verification and the infusion record (DESIGN §5): one pure decision over the
loaded facts, every stop by its stable code in a fixed order, re-run under the dose's row
lock when the infusion is recorded."""
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, null, select, text

from cell_chain.accounts.models import User
from cell_chain.accounts.permissions import require_role
from cell_chain.accounts.roles import Role
from cell_chain.batches.models import Dose
from cell_chain.core import audit
from cell_chain.core.db import db, is_postgres, lock_row
from cell_chain.core.errors import DomainError, ValidationFailed
from cell_chain.core.signatures import Meaning, SignatureInput, WitnessInput, sign, witness
from cell_chain.infusions import schedule
from cell_chain.infusions.models import Allocation, BedsideCheck, Infusion, Patient
from cell_chain.scanning import Scan, UnrecognizedBarcode, read_scan

STOP_ORDER = ("UNRECOGNIZED_BARCODE", "UNKNOWN_PATIENT", "UNKNOWN_DOSE", "WRONG_SITE", "WRONG_PATIENT",
              "PATIENT_NOT_IN_MSC_ARM", "DOSE_NOT_RELEASED", "DOSE_QUARANTINED", "DOSE_RECALLED",
              "DOSE_EXPIRED", "NOT_RECEIVED", "ALREADY_ADMINISTERED", "TEMPERATURE_EXCURSION", "TOO_SOON")
WARNING_CODES = ("OUT_OF_WINDOW",)
MESSAGES = {
    "UNRECOGNIZED_BARCODE": "A scan is not a wristband or a dose label. Scan the patient's wristband and the dose bag.",
    "UNKNOWN_PATIENT": "This wristband is not a patient of this trial.",
    "UNKNOWN_DOSE": "This dose label is not known. Do not give it; call the pharmacy.",
    "WRONG_SITE": "This patient or dose belongs to another hospital.",
    "WRONG_PATIENT": "This dose is for another patient. Do not give it.",
    "PATIENT_NOT_IN_MSC_ARM": "This patient receives no (further) MSC doses: control arm, withdrawn, or all four given.",
    "DOSE_NOT_RELEASED": "The dose's lot is not released by QA.",
    "DOSE_QUARANTINED": "The dose is in quarantine.",
    "DOSE_RECALLED": "The dose's lot has been recalled.",
    "DOSE_EXPIRED": "The dose has expired.",
    "NOT_RECEIVED": "The dose is not in this hospital's custody: the pharmacy has not received it.",
    "ALREADY_ADMINISTERED": "This dose has already been given.",
    "TEMPERATURE_EXCURSION": "The dose's shipment had a temperature excursion that QA has not cleared.",
    "TOO_SOON": "The last dose was given too recently.",
    "OUT_OF_WINDOW": "Today is outside this visit's window: giving the dose is a protocol deviation.",
}
NURSES = (Role.NURSE,)
WITNESSES = (Role.NURSE, Role.PHARMACIST)


@dataclass(frozen=True)
class Facts:
    """Everything the decision needs, loaded in a fixed number of queries."""

    nurse_site_id: int | None
    scans_readable: bool
    patient: Patient | None = None
    dose: Dose | None = None
    allocation: Allocation | None = None
    custodian: str | None = None
    open_excursion: bool = False
    infusions_given: int = 0
    last_infusion_at: datetime | None = None


@dataclass
class Decision:
    stops: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.stops


def decide(facts: Facts, *, now: datetime, min_interval: timedelta) -> Decision:
    """Pure: the stops and warnings for these facts, in STOP_ORDER."""
    found: set[str] = set()
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
    if dose is not None and allocation is not None and allocation.visit.patient.site_id != facts.nurse_site_id:
        found.add("WRONG_SITE")
    if dose is not None and patient is not None and (allocation is None or allocation.visit.patient_id != patient.id):
        found.add("WRONG_PATIENT")
    if patient is not None and (patient.arm != "msc" or patient.status != "active"
                                or facts.infusions_given >= len(schedule.VISIT_MONTHS)):
        found.add("PATIENT_NOT_IN_MSC_ARM")
    if dose is not None:
        lot_status = dose.lot.status
        if lot_status in ("in_process", "quarantine", "rejected"):
            found.add("DOSE_NOT_RELEASED")
        if lot_status == "recalled":
            found.add("DOSE_RECALLED")
        elif dose.status == "quarantined":
            found.add("DOSE_QUARANTINED")
        if now >= dose.expires_at:
            found.add("DOSE_EXPIRED")
        if dose.status == "administered":
            found.add("ALREADY_ADMINISTERED")
        elif not _at_site(facts):
            found.add("NOT_RECEIVED")
        if facts.open_excursion:
            found.add("TEMPERATURE_EXCURSION")
    if facts.last_infusion_at is not None and now - facts.last_infusion_at < min_interval:
        found.add("TOO_SOON")
    if allocation is not None and not schedule.in_window(now.date(), allocation.visit.window_start,
                                                         allocation.visit.window_end):
        warnings.append("OUT_OF_WINDOW")
    return Decision([code for code in STOP_ORDER if code in found], warnings)


def _at_site(facts: Facts) -> bool:
    if facts.custodian is None or facts.allocation is None:
        return False
    site = facts.allocation.visit.patient.site.code
    return facts.custodian == f"pharmacy:{site}" or facts.custodian.startswith(f"ward:{site}:")


def _classify(first: Any, second: Any) -> tuple[Scan | None, Scan | None, bool]:
    """(patient scan, dose scan, readable) whichever order they came in."""
    try:
        scans = [read_scan(first), read_scan(second)]
    except UnrecognizedBarcode:
        return None, None, False
    patients = [s for s in scans if s.kind == "patient"]
    doses = [s for s in scans if s.kind == "dose"]
    if len(patients) != 1 or len(doses) != 1:
        return None, None, False
    return patients[0], doses[0], True


def load_facts(patient_scan: Any, dose_scan: Any, *, nurse: User) -> Facts:
    """The facts behind a decision: the two scans (a query each), then the allocation,
    custodian, open excursions and the patient's infusions in one statement."""
    from cell_chain.shipments.models import CustodyEvent, Excursion, ShipmentItem

    patient_read, dose_read, readable = _classify(patient_scan, dose_scan)
    if not readable:
        return Facts(nurse.site_id, False)
    patient, dose = patient_read.obj, dose_read.obj
    if dose is None:
        given, last = _infusions_of(patient) if patient is not None else (0, None)
        return Facts(nurse.site_id, True, patient, None, None, None, False, given, last)
    holder = (select(CustodyEvent.to_party).where(CustodyEvent.dose_id == dose.id)
              .order_by(CustodyEvent.occurred_at.desc(), CustodyEvent.id.desc()).limit(1).scalar_subquery())
    excursion = (select(func.count(Excursion.id))
                 .join(ShipmentItem, ShipmentItem.shipment_id == Excursion.shipment_id)
                 .where(ShipmentItem.dose_id == dose.id, Excursion.status == "open").scalar_subquery())
    patient_id = patient.id if patient is not None else -1
    given_q = select(func.count(Infusion.id)).where(Infusion.patient_id == patient_id).scalar_subquery()
    last_q = select(func.max(Infusion.started_at)).where(Infusion.patient_id == patient_id).scalar_subquery()
    facts = (holder, excursion, given_q, last_q)
    found = db.session.execute(select(Allocation, *facts)
                               .where(Allocation.dose_id == dose.id, Allocation.active)).first()
    # An unallocated dose (a stop anyway) costs one more statement.
    row = found or db.session.execute(select(null(), *facts)).one()
    allocation = row[0]
    last = row[4]
    if last is not None and last.tzinfo is None:  # SQLite returns the aggregate without our type
        from datetime import UTC

        last = datetime.fromisoformat(str(last)).replace(tzinfo=UTC)
    return Facts(nurse.site_id, True, patient, dose, allocation, row[1] or f"lab:{current_app.config['FACILITY_FIN']}",
                 bool(row[2]), row[3] or 0, last)


def _infusions_of(patient: Patient) -> tuple[int, datetime | None]:
    given, last = db.session.execute(
        select(func.count(Infusion.id), func.max(Infusion.started_at)).where(Infusion.patient_id == patient.id)
    ).one()
    return given, last


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
    facts = load_facts(patient_scan, dose_scan, nurse=actor)
    decision = decide(facts, now=now, min_interval=_min_interval())
    if is_postgres():
        # The check log is not a GMP record: losing the last few on a server crash only means
        # the nurse scans again, so this commit does not wait for the disk.
        db.session.execute(text("SET LOCAL synchronous_commit = off"))
    db.session.add(BedsideCheck(nurse_id=actor.id, site_id=actor.site_id,
                                patient_id=facts.patient.id if facts.patient else None,
                                dose_id=facts.dose.id if facts.dose else None, ok=decision.ok,
                                stops=",".join(decision.stops), warnings=",".join(decision.warnings),
                                checked_at=now))
    return Verification(decision, facts)


class InfusionStopped(DomainError):
    status, title = 409, "The infusion must not go ahead"

    def __init__(self, decision: Decision) -> None:
        super().__init__(MESSAGES[decision.stops[0]],
                         stops=[{"code": c, "message": MESSAGES[c]} for c in decision.stops])
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


def _validate(given: InfusionInput, now: datetime) -> None:
    errors: dict[str, list[str]] = {}
    if given.ended_at < given.started_at:
        errors["ended_at"] = ["The infusion cannot end before it started."]
    if given.ended_at > now + timedelta(minutes=1):
        errors["ended_at"] = ["The end time is in the future."]
    if given.started_at < now - timedelta(hours=24):
        errors["started_at"] = ["Record the infusion on the day it is given."]
    if not 0 < given.volume_ml <= 45:
        errors["volume_ml"] = ["Give the volume infused in ml (up to 45)."]
    if given.tolerance_grade not in range(5):
        errors["tolerance_grade"] = ["Tolerance grade is 0 (no discomfort) to 4 (life-threatening)."]
    if given.serious and not (given.adverse_events or "").strip():
        errors["adverse_events"] = ["Describe the serious adverse event."]
    if errors:
        raise ValidationFailed(errors)


def record_infusion(patient_scan: Any, dose_scan: Any, *, given: InfusionInput, signature: SignatureInput,
                    witnessed_by: WitnessInput, actor: User, now: datetime) -> Infusion:
    """Record the infusion: the decision is re-run with the dose row locked (two nurses at
    once: the second gets ALREADY_ADMINISTERED), the same nurse must have verified this
    patient and dose moments before, warnings need reasons, nurse signs and a witness signs."""
    require_role(actor, NURSES)
    _validate(given, now)
    facts = load_facts(patient_scan, dose_scan, nurse=actor)
    if facts.dose is not None:
        lock_row(facts.dose)
        facts = load_facts(patient_scan, dose_scan, nurse=actor)
    decision = decide(facts, now=now, min_interval=_min_interval())
    if not decision.ok:
        raise InfusionStopped(decision)
    window = timedelta(minutes=current_app.config["VERIFICATION_VALID_MINUTES"])
    verified = db.session.scalar(select(func.count(BedsideCheck.id)).where(
        BedsideCheck.nurse_id == actor.id, BedsideCheck.patient_id == facts.patient.id,
        BedsideCheck.dose_id == facts.dose.id, BedsideCheck.ok, BedsideCheck.checked_at >= now - window,
        BedsideCheck.checked_at <= now))
    if not verified:
        raise VerificationRequired(f"Scan {facts.patient.subject_id}'s wristband and the dose bag at the bedside "
                                   f"(within {window.total_seconds() / 60:g} minutes) before recording.")
    missing = [w for w in decision.warnings if not (given.acknowledged_warnings.get(w) or "").strip()]
    if missing:
        raise WarningNotAcknowledged("Give a reason for: " + ", ".join(missing) + ".", warnings=missing)
    dose, allocation, visit = facts.dose, facts.allocation, facts.allocation.visit
    out_of_window = "OUT_OF_WINDOW" in decision.warnings
    infusion = Infusion(
        dose_id=dose.id, patient_id=facts.patient.id, visit_id=visit.id, coi=allocation.coi,
        started_at=given.started_at, ended_at=given.ended_at, volume_ml=given.volume_ml,
        partial=given.volume_ml < current_app.config["DOSE_VOLUME_ML"], tolerance_grade=given.tolerance_grade,
        adverse_events=(given.adverse_events or "").strip() or None, serious=given.serious,
        out_of_window=out_of_window,
        deviation_reason=given.acknowledged_warnings.get("OUT_OF_WINDOW", "").strip() or None if out_of_window else None,
        nurse_id=actor.id, witness_id=0, recorded_at=now)
    witness_user = _witness_user(witnessed_by)
    infusion.witness_id = witness_user.id if witness_user else actor.id
    audit.record_created(infusion, "infusion.recorded", actor=actor, at=now,
                         reason=infusion.deviation_reason)
    dose.status = "administered"
    audit.record_change(dose, "dose.administered", actor=actor, at=now)
    visit.recorded = "done_out_of_window" if out_of_window else "done"
    audit.record_change(visit, f"visit.{visit.recorded}", actor=actor, at=now, reason=infusion.deviation_reason)
    from cell_chain.shipments.custody import record_handover

    record_handover(dose, kind="administer", to_party=f"patient:{facts.patient.subject_id}",
                    place=facts.patient.site.name, actor=actor, now=now)
    signed = sign(infusion, signer=actor, given=signature, meaning=Meaning.ADMINISTERED, at=now)
    witness(infusion, given=witnessed_by, signer_signature=signed, allowed_roles=WITNESSES, at=now)
    return infusion


def _witness_user(given: WitnessInput) -> User | None:
    from cell_chain.accounts.services import user_by_username

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
