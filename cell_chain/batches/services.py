"""The only code that changes donors, lots and doses. Each verb checks the actor's role,
applies the workflow, writes its audit event (and signature) and flushes; callers commit."""
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, insert, select, update

from cell_chain.accounts.models import User
from cell_chain.accounts.permissions import require_role
from cell_chain.accounts.roles import Role
from cell_chain.accounts.signatures import Meaning, SignatureInput, sign
from cell_chain.batches import workflow as wf
from cell_chain.batches.errors import (
    DonorIneligible,
    ReleaseBlocked,
    ScreeningIncomplete,
    SegregationOfDuties,
)
from cell_chain.batches.models import (
    MARKERS,
    PRESENTATIONS,
    SCREENING_RESULTS,
    DinSequence,
    Donor,
    Dose,
    Lot,
    ReleaseSpec,
    ScreeningResult,
    TestResult,
)
from cell_chain.core import audit
from cell_chain.core.db import db, is_postgres, lock_row, refuse_duplicate
from cell_chain.core.errors import InvalidTransition, ReasonRequired, ValidationFailed
from cell_chain.core.isbt128 import Din
from cell_chain.core.records import canonical_json
from cell_chain.web.words import N_
from cell_chain.core.messages import Joined, _l, state

LAB = (Role.LAB,)
QA = (Role.QA,)


# ---- DIN ----------------------------------------------------------------------------------

def issue_din(now: datetime) -> str:
    """The next DIN of this facility and year; the sequence row is locked, so concurrent
    issuers never get the same number, and the DIN columns are unique as a second guard."""
    facility, year = current_app.config["FACILITY_FIN"], now.year % 100
    if is_postgres():
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        db.session.execute(pg_insert(DinSequence).values(facility=facility, year=year, last_sequence=0)
                           .on_conflict_do_nothing())
    elif db.session.get(DinSequence, (facility, year)) is None:
        db.session.execute(insert(DinSequence).values(facility=facility, year=year, last_sequence=0))
    sequence = db.session.execute(
        update(DinSequence)
        .where(DinSequence.facility == facility, DinSequence.year == year)
        .values(last_sequence=DinSequence.last_sequence + 1)
        .returning(DinSequence.last_sequence)
    ).scalar_one()
    return Din(facility=facility, year=year, sequence=sequence).code


# ---- donors -------------------------------------------------------------------------------

def register_donor(*, donor_code: str, collected_on: date, actor: User, now: datetime) -> Donor:
    """Register a cord donor and give the donation its DIN. Raises ValidationFailed."""
    require_role(actor, LAB)
    code = (donor_code or "").strip()
    if not code:
        raise ValidationFailed({"donor_code": [N_("Give the donor code.")]})
    if db.session.scalar(select(Donor.id).where(Donor.donor_code == code)):
        raise ValidationFailed({"donor_code": [_l("Donor %(code)s is already registered.", code=code)]})
    if collected_on > now.date():
        raise ValidationFailed({"collected_on": [N_("The collection date cannot be in the future.")]})
    donor = Donor(donor_code=code, din=issue_din(now), collected_on=collected_on,
                  status="registered", registered_by_id=actor.id, registered_at=now)
    with refuse_duplicate(Donor.donor_code, ValidationFailed({"donor_code": [_l("Donor %(code)s is already registered.", code=code)]})):
        db.session.add(donor)
    audit.record_created(donor, "donor.registered", actor=actor, at=now)
    return donor


def record_screening(donor: Donor, *, marker: str, result: str, tested_on: date,
                     reason: str | None, actor: User, now: datetime) -> ScreeningResult:
    """Enter a screening marker result; changing an entered one is a correction (reason)."""
    require_role(actor, wf.DONOR_LIFECYCLE.roles("enter_screening"))
    errors = {}
    if marker not in MARKERS:
        errors["marker"] = [_l("Markers are: %(markers)s.", markers=", ".join(MARKERS))]
    if result not in SCREENING_RESULTS:
        errors["result"] = [_l("Results are: %(results)s.", results=", ".join(SCREENING_RESULTS))]
    if errors:
        raise ValidationFailed(errors)
    if not wf.DONOR_LIFECYCLE.can("enter_screening", donor.status):
        raise InvalidTransition(_l("The donor is already %(status)s: screening results are locked.", status=state(donor.status)))
    if tested_on > now.date():
        raise ValidationFailed({"tested_on": [N_("The test date cannot be in the future.")]})
    existing = next((r for r in donor.results if r.marker == marker), None)
    if existing is None:
        entry = ScreeningResult(donor=donor, marker=marker, result=result, tested_on=tested_on,
                                entered_by_id=actor.id, entered_at=now)
        audit.record_created(entry, "screening.entered", actor=actor, at=now)
        return entry
    existing.result, existing.tested_on = result, tested_on
    existing.entered_by_id, existing.entered_at = actor.id, now
    audit.record_change(existing, "screening.corrected", actor=actor, at=now, reason=reason,
                        correction=True)
    return existing


def determine_eligibility(donor: Donor, *, signature: SignatureInput, actor: User,
                          now: datetime) -> Donor:
    """QA's e-signed eligibility determination. Raises ScreeningIncomplete, InvalidTransition."""
    require_role(actor, wf.DONOR_LIFECYCLE.roles("determine_eligible"))
    lock_row(donor)
    facts = [wf.ScreeningFact(r.marker, r.result, r.tested_on) for r in donor.results]
    outcome, missing = wf.eligibility_outcome(facts, donor.collected_on, MARKERS)
    if outcome is None:
        raise ScreeningIncomplete(
            _l("Results are missing, or were tested more than 7 days from collection, for: %(tests)s.",
               tests=", ".join(missing)), missing=missing)
    wf.DONOR_LIFECYCLE.apply(donor, f"determine_{outcome}")
    donor.determined_at = now
    audit.record_change(donor, f"donor.{outcome}", actor=actor, at=now)
    sign(donor, signer=actor, given=signature, meaning=Meaning.DETERMINED, at=now)
    return donor


# ---- release specification ------------------------------------------------------------------

def current_spec(*, now: datetime, persist: bool = False) -> ReleaseSpec:
    """The release specification in force; version 1 holds DESIGN's defaults. Reading never
    writes: version 1 is stored (with its audit event) by the first write that cites it."""
    spec = db.session.scalar(select(ReleaseSpec).order_by(ReleaseSpec.version.desc()).limit(1))
    if spec is None:
        spec = ReleaseSpec(version=1, limits_json=canonical_json(wf.DEFAULT_SPEC), created_at=now)
        if persist:
            audit.record_created(spec, "release_spec.published", actor=None, at=now)
    return spec


def publish_spec(limits: dict[str, dict[str, Any]], *, reason: str | None, actor: User,
                 now: datetime) -> ReleaseSpec:
    """A new version of the release specification (QA). Raises ValidationFailed."""
    require_role(actor, QA)
    why = _required_reason(reason)
    errors = {}
    for test, limit in limits.items():
        if test not in wf.DEFAULT_SPEC:
            errors[test] = [_l("Unknown test; tests are: %(tests)s.", tests=", ".join(wf.TESTS))]
        elif not limit or set(limit) - {"equals", "min", "max"}:
            errors[test] = [_l("Give 'equals', or 'min' and/or 'max'.")]
    if errors:
        raise ValidationFailed(errors)
    version = current_spec(now=now, persist=True).version + 1
    spec = ReleaseSpec(version=version, limits_json=canonical_json(limits), created_at=now,
                       created_by_id=actor.id)
    audit.record_created(spec, "release_spec.published", actor=actor, at=now, reason=why)
    return spec


# ---- lots ---------------------------------------------------------------------------------

def create_lot(*, donor: Donor, lot_number: str, manufactured_on: date, passage: int,
               presentation: str, actor: User, now: datetime) -> Lot:
    """Start a lot from a donor's cord; it gets its own DIN. Raises DonorIneligible,
    ValidationFailed."""
    require_role(actor, wf.DONOR_LIFECYCLE.roles("start_lot"))
    if not wf.DONOR_LIFECYCLE.can("start_lot", donor.status):
        raise DonorIneligible(_l("Donor %(donor)s is ineligible: no lot can be made from it.", donor=donor.donor_code))
    number = (lot_number or "").strip()
    errors: dict[str, list[str]] = {}
    if presentation not in PRESENTATIONS:
        errors["presentation"] = [_l("Presentation is one of: %(presentations)s.", presentations=", ".join(PRESENTATIONS))]
    if not 0 <= passage <= 50:
        errors["passage"] = [_l("Passage is a whole number from 0 to 50.")]
    if not number:
        errors["lot_number"] = [_l("Give the lot number.")]
    elif db.session.scalar(select(Lot.id).where(Lot.lot_number == number)):
        errors["lot_number"] = [_l("Lot %(number)s already exists.", number=number)]
    if manufactured_on < donor.collected_on:
        errors["manufactured_on"] = [_l("Manufacture cannot precede the cord's collection.")]
    if manufactured_on > now.date():
        errors["manufactured_on"] = [_l("The manufacturing date cannot be in the future.")]
    if errors:
        raise ValidationFailed(errors)
    cfg = current_app.config
    fresh = presentation == "fresh"
    lot = Lot(
        lot_number=number, donor_id=donor.id, din=issue_din(now), manufactured_on=manufactured_on,
        passage=passage, presentation=presentation, product_code=cfg["PRODUCT_DESCRIPTION_CODE"],
        shelf_life_hours=cfg["FRESH_SHELF_LIFE_HOURS"] if fresh else None,
        shelf_life_months=None if fresh else cfg["CRYO_SHELF_LIFE_MONTHS"],
        post_thaw_hours=None if fresh else cfg["POST_THAW_HOURS"],
        status="in_process", created_by_id=actor.id, created_at=now,
    )
    with refuse_duplicate(Lot.lot_number, ValidationFailed({"lot_number": [_l("Lot %(number)s already exists.", number=number)]})):
        db.session.add(lot)
    audit.record_created(lot, "lot.created", actor=actor, at=now)
    return lot


def complete_lot(lot: Lot, *, actor: User, now: datetime) -> Lot:
    """Manufacturing is finished: the lot waits in quarantine for release testing."""
    require_role(actor, wf.LOT_LIFECYCLE.roles("complete"))
    wf.LOT_LIFECYCLE.apply(lot, "complete")
    audit.record_change(lot, "lot.completed", actor=actor, at=now)
    return lot


def record_result(lot: Lot, *, test: str, value: Any, performed_on: date, method: str | None,
                  analyst: str | None, reason: str | None, actor: User, now: datetime) -> TestResult:
    """Enter a release test result; pass/fail is computed from the current specification.
    Changing an entered result is a correction and needs a reason."""
    require_role(actor, wf.LOT_LIFECYCLE.roles("enter_result"))
    if test not in wf.TESTS:
        raise ValidationFailed({"test": [_l("Unknown test; tests are: %(tests)s.", tests=", ".join(wf.TESTS))]})
    if not wf.LOT_LIFECYCLE.can("enter_result", lot.status):
        raise InvalidTransition(_l("The lot is %(status)s: results are locked.", status=state(lot.status)))
    try:
        parsed = wf.parse_result_value(test, value)
    except ValueError as error:
        raise ValidationFailed({"value": [str(error)]}) from None
    if performed_on > now.date():
        raise ValidationFailed({"performed_on": [N_("The test date cannot be in the future.")]})
    spec = current_spec(now=now, persist=True)
    passed = wf.result_passes(spec.limits[test], parsed) if test in spec.limits else True
    stored = parsed if isinstance(parsed, str) else f"{parsed:g}"
    existing = next((r for r in lot.results if r.test == test), None)
    if existing is None:
        result = TestResult(lot=lot, test=test, value=stored, passed=passed,
                            spec_version=spec.version, performed_on=performed_on, method=method,
                            analyst=analyst, entered_by_id=actor.id, entered_at=now)
        audit.record_created(result, "result.entered", actor=actor, at=now)
        return result
    existing.value, existing.passed, existing.spec_version = stored, passed, spec.version
    existing.performed_on, existing.method, existing.analyst = performed_on, method, analyst
    existing.entered_by_id, existing.entered_at = actor.id, now
    audit.record_change(existing, "result.corrected", actor=actor, at=now, reason=reason,
                        correction=True)
    return existing


def release_readiness(lot: Lot, *, now: datetime,
                      spec: ReleaseSpec | None = None) -> list[wf.Blocker]:
    """Every blocker of the lot's release; pass `spec` when checking many lots at once."""
    limits = (spec or current_spec(now=now)).limits
    results = {r.test: wf.parse_result_value(r.test, r.value) for r in lot.results}
    accepted = sum(1 for d in lot.doses if d.status != "rejected")
    return wf.release_blockers(lot_status=lot.status, donor_status=lot.donor.status, spec=limits,
                               results=results, accepted_doses=accepted)


def release_lot(lot: Lot, *, signature: SignatureInput, actor: User, now: datetime) -> Lot:
    """QA releases the lot with an e-signature; its unexpired doses become available.
    Raises SegregationOfDuties, ReleaseBlocked, InvalidTransition."""
    require_role(actor, wf.LOT_LIFECYCLE.roles("release"))
    lock_row(lot)
    if any(r.entered_by_id == actor.id for r in lot.results):
        raise SegregationOfDuties(N_("You entered results for this lot; another QA person must release it."))
    if blockers := release_readiness(lot, now=now):
        raise ReleaseBlocked(Joined(b.message for b in blockers),
                             blocking=[b.key for b in blockers])
    wf.LOT_LIFECYCLE.apply(lot, "release")
    audit.record_change(lot, "lot.released", actor=actor, at=now)
    for dose in lot.doses:
        make_available_if_ready(dose, actor=actor, now=now)
    sign(lot, signer=actor, given=signature, meaning=Meaning.RELEASED, at=now)
    return lot


def make_available_if_ready(dose: Dose, *, actor: User, now: datetime) -> bool:
    """Move a prepared dose to available when its lot is released and its bag label verified;
    called by release and by label verification, whichever comes last."""
    if not wf.can_become_available(dose_status=dose.status, lot_status=dose.lot.status,
                                   bag_label_verified=dose.bag_label_verified_at is not None,
                                   expires_at=dose.expires_at, now=now):
        return False
    wf.DOSE_LIFECYCLE.apply(dose, "make_available")
    audit.record_change(dose, "dose.available", actor=actor, at=now)
    return True


def quarantine_dose(dose: Dose, *, cause: str, reason: str, actor: User, now: datetime) -> bool:
    """Take a dose out of use wherever it is (recall, excursion, damage); False when it is
    already quarantined or beyond it (administered, destroyed)."""
    if not wf.DOSE_LIFECYCLE.can("quarantine", dose.status):
        return False
    wf.DOSE_LIFECYCLE.apply(dose, "quarantine")
    dose.quarantine_cause, dose.quarantine_reason, dose.quarantined_at = cause, reason, now
    audit.record_change(dose, "dose.quarantined", actor=actor, at=now, reason=reason)
    return True


def lift_quarantine(dose: Dose, *, reason: str, actor: User, now: datetime) -> None:
    """QA accepted what quarantined the dose: it goes back to where it was."""
    if dose.status != "quarantined" or dose.status_before_quarantine is None:
        raise InvalidTransition(_l("Dose %(code)s is not in quarantine.", code=dose.code))
    if dose.lot.status != "released":
        raise InvalidTransition(_l("Dose %(code)s's lot is %(status)s: it stays in quarantine.", code=dose.code,
                                       status=state(dose.lot.status)))
    wf.DOSE_LIFECYCLE.apply(dose, "lift_quarantine")
    dose.quarantine_cause = dose.quarantine_reason = dose.quarantined_at = None
    audit.record_change(dose, "dose.quarantine_lifted", actor=actor, at=now, reason=reason)


def _quarantine_doses(lot: Lot, *, cause: str, reason: str, actor: User, now: datetime) -> list[Dose]:
    return [dose for dose in lot.doses if quarantine_dose(dose, cause=cause, reason=reason, actor=actor, now=now)]


def _required_reason(reason: str | None) -> str:
    if not reason or not reason.strip():
        raise ReasonRequired(N_("Give the reason (field 'reason')."))
    return reason.strip()


def _take_lot_out_of_use(lot: Lot, action: str, *, reason: str | None, signature: SignatureInput,
                         meaning: Meaning, actor: User, now: datetime) -> list[Dose]:
    """Reject or recall (QA, reason, e-signature): the lot ends, and every dose of it not yet
    in a patient is quarantined wherever it is. Returns the doses quarantined now."""
    require_role(actor, wf.LOT_LIFECYCLE.roles(action))
    why = _required_reason(reason)
    lock_row(lot)
    state = wf.LOT_LIFECYCLE.apply(lot, action)
    lot.status_reason = why
    audit.record_change(lot, f"lot.{state}", actor=actor, at=now, reason=why)
    cause = {"reject": "lot_rejected", "recall": "recall"}[action]
    quarantined = _quarantine_doses(lot, cause=cause, reason=f"lot {state}: {why}", actor=actor, now=now)
    sign(lot, signer=actor, given=signature, meaning=meaning, at=now)
    return quarantined


def reject_lot(lot: Lot, *, reason: str | None, signature: SignatureInput, actor: User,
               now: datetime) -> Lot:
    """QA rejects a lot; its doses are quarantined until destroyed."""
    _take_lot_out_of_use(lot, "reject", reason=reason, signature=signature, meaning=Meaning.REJECTED,
                         actor=actor, now=now)
    return lot


@dataclass
class RecallOutcome:
    lot: Lot
    quarantined_doses: list[str] = field(default_factory=list)
    administered_doses: list[dict[str, Any]] = field(default_factory=list)
    affected_patients: list[str] = field(default_factory=list)


# The infusion record tells which patient received a dose; it registers here (batches must
# not import the later domains).
_PATIENT_OF_DOSES: list[Any] = []


def register_lookback(patients_of_doses: Any) -> None:
    _PATIENT_OF_DOSES.append(patients_of_doses)


def administered_doses_of(lot: Lot) -> list[dict[str, Any]]:
    """Doses of the lot already in a patient, with the patient (the lookback list)."""
    rows = db.session.execute(
        select(Dose.id, Dose.code).where(Dose.lot_id == lot.id, Dose.status == "administered").order_by(Dose.number)
    ).all()
    subjects: dict[int, str] = {}
    for lookup in _PATIENT_OF_DOSES:
        subjects.update(lookup([row.id for row in rows]))
    return [{"code": row.code, "subject_id": subjects.get(row.id)} for row in rows]


def recall_lot(lot: Lot, *, reason: str | None, signature: SignatureInput, actor: User,
               now: datetime) -> RecallOutcome:
    """QA recalls a released lot: every dose not yet administered is quarantined wherever it
    is; the answer lists the doses already given and their patients."""
    quarantined = _take_lot_out_of_use(lot, "recall", reason=reason, signature=signature,
                                       meaning=Meaning.RECALLED, actor=actor, now=now)
    administered = administered_doses_of(lot)
    patients = sorted({d["subject_id"] for d in administered if d["subject_id"]})
    return RecallOutcome(lot, [d.code for d in quarantined], administered, patients)


# ---- doses ----------------------------------------------------------------------------------

def _tolerance() -> wf.DoseTolerance:
    cfg = current_app.config
    return wf.DoseTolerance(cells=cfg["DOSE_CELLS"], cells_pct=cfg["DOSE_CELLS_TOLERANCE_PCT"],
                            volume_ml=cfg["DOSE_VOLUME_ML"],
                            volume_delta_ml=cfg["DOSE_VOLUME_TOLERANCE_ML"],
                            min_viability_pct=cfg["DOSE_MIN_VIABILITY_PCT"])


def prepare_dose(lot: Lot, *, cells: float, volume_ml: float, viability_pct: float,
                 actor: User, now: datetime) -> Dose:
    """Fill a dose from the lot. Out of tolerance it is kept as `rejected` with its reasons,
    for accountability. Raises InvalidTransition."""
    require_role(actor, wf.LOT_LIFECYCLE.roles("prepare_dose"))
    lock_row(lot)
    if not wf.LOT_LIFECYCLE.can("prepare_dose", lot.status):
        raise InvalidTransition(_l("The lot is %(status)s: doses are filled only while it is in process or quarantine.",
                                   status=state(lot.status)))
    number = (db.session.scalar(select(func.max(Dose.number)).where(Dose.lot_id == lot.id)) or 0) + 1
    reasons = wf.dose_rejection_reasons(cells, volume_ml, viability_pct, _tolerance())
    dose = Dose(
        code=f"{lot.din}-{number:06d}", lot=lot, number=number, division=wf.division_for(number),
        cells=cells, volume_ml=volume_ml, viability_pct=viability_pct,
        status="rejected" if reasons else "prepared",
        rejection_reasons="; ".join(reasons) or None, prepared_at=now, prepared_by_id=actor.id,
        expires_at=wf.dose_expiry(now, shelf_life_hours=lot.shelf_life_hours,
                                  shelf_life_months=lot.shelf_life_months),
    )
    audit.record_created(dose, "dose.rejected_at_fill" if reasons else "dose.prepared", actor=actor, at=now)
    return dose
