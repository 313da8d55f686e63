"""Enrolment, withdrawal and reading patients (site-scoped)."""
from datetime import date, datetime

from flask import current_app
from sqlalchemy import select, update

from cell_chain.accounts.models import Site, User
from cell_chain.accounts.permissions import require_role
from cell_chain.accounts.roles import Role
from cell_chain.accounts.signatures import Meaning, SignatureInput, sign
from cell_chain.core import audit
from cell_chain.core.clock import local_date, zone_named
from cell_chain.core.db import db, is_postgres
from cell_chain.core.errors import Forbidden, InvalidTransition, NotFound, ReasonRequired, ValidationFailed
from cell_chain.patients import schedule
from cell_chain.patients.allocation import end_allocation_of_visit
from cell_chain.patients.models import ARMS, Patient, SubjectSequence, Visit
from cell_chain.patients.workflow import PATIENT_LIFECYCLE, VISIT_LIFECYCLE
from cell_chain.web.words import N_
from cell_chain.core.messages import _l

ENROLLERS = (Role.COORDINATOR,)
WITHDRAWERS = PATIENT_LIFECYCLE.roles("withdraw")


def _next_subject_id(site: Site) -> str:
    if is_postgres():
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        db.session.execute(pg_insert(SubjectSequence).values(site_id=site.id, last_number=0)
                           .on_conflict_do_nothing())
    elif db.session.get(SubjectSequence, site.id) is None:
        db.session.add(SubjectSequence(site_id=site.id, last_number=0))
        db.session.flush()
    number = db.session.execute(
        update(SubjectSequence).where(SubjectSequence.site_id == site.id)
        .values(last_number=SubjectSequence.last_number + 1).returning(SubjectSequence.last_number)
    ).scalar_one()
    return f"{site.code}-{number:04d}"


def _site_today(site: Site, now: datetime) -> date:
    """The site's calendar day: a Lanzhou patient enrolled at 01:00 on 4 Dec is enrolled on 4 Dec."""
    try:
        return local_date(now, zone_named(site.time_zone))
    except ValueError:
        return now.date()


def enrol_patient(*, site_code: str, arm: str, enrolled_on: date, initials: str, birth_year: int,
                  actor: User, now: datetime) -> Patient:
    """Enrol at the coordinator's own site; the MSC arm gets its four visits. Raises
    ValidationFailed (age, initials, dates), NotFound (another site)."""
    require_role(actor, ENROLLERS)
    site = db.session.scalar(select(Site).where(Site.code == site_code))
    if site is None or site.id != actor.site_id:
        raise NotFound(_l("No site %(site)s among yours.", site=site_code))
    errors: dict[str, list[str]] = {}
    if arm not in ARMS:
        errors["arm"] = [_l("Arm is msc or control, as the randomisation assigned.")]
    clean = (initials or "").strip().upper()
    if not (2 <= len(clean) <= 4 and clean.isascii() and clean.isalpha()):
        errors["initials"] = [_l("Give 2 to 4 letters (initials only: no names are stored).")]
    if enrolled_on > _site_today(site, now):
        errors["enrolled_on"] = [_l("The enrolment date cannot be in the future.")]
    if problem := schedule.age_problem(birth_year, enrolled_on):
        errors["birth_year"] = [problem]
    if errors:
        raise ValidationFailed(errors)
    patient = Patient(subject_id=_next_subject_id(site), site_id=site.id, arm=arm, initials=clean,
                      birth_year=birth_year, enrolled_on=enrolled_on, status="active",
                      enrolled_by_id=actor.id, created_at=now)
    audit.record_created(patient, "patient.enrolled", actor=actor, at=now)
    if arm == "msc":
        for planned in schedule.plan_visits(enrolled_on, current_app.config["VISIT_WINDOW_DAYS"]):
            visit = Visit(patient=patient, number=planned.number, target_date=planned.target_date,
                          window_start=planned.window_start, window_end=planned.window_end,
                          recorded="open")
            audit.record_created(visit, "visit.planned", actor=actor, at=now)
    return patient


def visit_state(visit: Visit, today: date) -> str:
    following = next((v for v in visit.patient.visits if v.number == visit.number + 1), None)
    return schedule.visit_state(recorded=visit.recorded, window_start=visit.window_start,
                                window_end=visit.window_end,
                                next_window_start=following.window_start if following else None,
                                today=today)


def withdraw_patient(patient: Patient, *, reason: str | None, signature: SignatureInput,
                     actor: User, now: datetime) -> Patient:
    """Withdraw with reason and e-signature; open visits are skipped and their undispatched
    doses released back to stock."""
    require_role(actor, WITHDRAWERS)
    if actor.site_id != patient.site_id:
        raise Forbidden(N_("Only the patient's own site withdraws them."))
    if not reason or not reason.strip():
        raise ReasonRequired(N_("Give the reason for withdrawal."))
    if patient.status == "withdrawn":
        raise InvalidTransition(N_("The patient is already withdrawn."))
    PATIENT_LIFECYCLE.apply(patient, "withdraw")
    patient.withdrawn_at, patient.withdrawal_reason = now, reason.strip()
    audit.record_change(patient, "patient.withdrawn", actor=actor, at=now, reason=reason.strip())
    for visit in patient.visits:
        if VISIT_LIFECYCLE.can("skip", visit.recorded):
            end_allocation_of_visit(visit, reason=f"patient withdrawn: {reason.strip()}", actor=actor, now=now)
            VISIT_LIFECYCLE.apply(visit, "skip")
            visit.skip_reason = "patient withdrawn"
            audit.record_change(visit, "visit.skipped", actor=actor, at=now, reason="patient withdrawn")
    sign(patient, signer=actor, given=signature, meaning=Meaning.WITHDRAWN, at=now)
    return patient
