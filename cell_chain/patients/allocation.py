"""Allocation: the bridge from a released, label-verified dose to one patient's visit, with
its Chain of Identity identifier and assignment label."""
from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Select, select, update

from cell_chain.accounts.models import User
from cell_chain.accounts.permissions import require_role
from cell_chain.batches.models import Dose, Lot
from cell_chain.batches.workflow import DOSE_LIFECYCLE
from cell_chain.core import audit
from cell_chain.core.clock import site_date
from cell_chain.core.db import db, is_postgres, lock_row
from cell_chain.core.errors import InvalidTransition, ReasonRequired
from cell_chain.core.isbt128 import Coi
from cell_chain.patients.errors import (
    DoseNotSuitable,
    NoSuitableDose,
    NotAllocated,
    NotTheNextVisit,
    PatientNotInMscArm,
    VisitAlreadyAllocated,
    VisitClosed,
)
from cell_chain.patients import schedule
from cell_chain.patients.models import Allocation, CoiSequence, Visit
from cell_chain.patients.next_action import VisitFacts, next_visit
from cell_chain.patients.workflow import VISIT_LIFECYCLE
from cell_chain.web.words import N_
from cell_chain.core.messages import Joined, _l, state

ALLOCATORS = DOSE_LIFECYCLE.roles("allocate")
# Doses that have left the lab cannot be re-allocated from here (custody decides).
REVERSIBLE_DOSE_STATES = DOSE_LIFECYCLE.transitions["deallocate"].sources


def next_visit_of(patient: Any, now: datetime) -> VisitFacts | None:
    """The visit the patient's next dose is for (next_action.next_visit), its states read on
    the calendar of the patient's hospital."""
    today = site_date(now, patient.site.time_zone)
    visits = sorted(patient.visits, key=lambda v: v.number)
    following = {v.number: v.window_start for v in visits}
    return next_visit([VisitFacts(v.number, schedule.visit_state(
        recorded=v.recorded, window_start=v.window_start, window_end=v.window_end,
        next_window_start=following.get(v.number + 1), today=today)) for v in visits])


def planned_infusion_at(visit: Visit, now: datetime) -> datetime:
    """The latest moment the dose must still be in date for: the end of the target day, or
    now when that has passed."""
    end_of_target = datetime.combine(visit.target_date, time(23, 59), tzinfo=UTC)
    return max(end_of_target, now)


def dose_problems(dose: Dose, visit: Visit, now: datetime) -> list[str]:
    """Why this dose cannot go to this visit (empty when it can)."""
    problems = []
    if dose.lot.status != "released":
        problems.append(f"its lot is {dose.lot.status}")
    if not DOSE_LIFECYCLE.can("allocate", dose.status):
        problems.append(f"the dose is {dose.status}" + ("" if dose.bag_label_verified_at else
                                                          " (bag label not verified)"))
    cutoff = timedelta(hours=current_app.config["DO_NOT_SHIP_CUTOFF_HOURS"])
    needed = planned_infusion_at(visit, now) + cutoff
    if dose.expires_at < needed:
        problems.append(f"it expires {dose.expires_at:%Y-%m-%d %H:%M} UTC, before the planned "
                        f"infusion plus {cutoff.total_seconds() / 3600:g} h transport cut-off")
    return problems


def _issue_coi(now: datetime) -> Coi:
    facility, year = current_app.config["FACILITY_FIN"], now.year % 100
    if is_postgres():
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        db.session.execute(pg_insert(CoiSequence).values(facility=facility, year=year, last_sequence=0)
                           .on_conflict_do_nothing())
    elif db.session.get(CoiSequence, (facility, year)) is None:
        db.session.add(CoiSequence(facility=facility, year=year, last_sequence=0))
        db.session.flush()
    sequence = db.session.execute(
        update(CoiSequence).where(CoiSequence.facility == facility, CoiSequence.year == year)
        .values(last_sequence=CoiSequence.last_sequence + 1).returning(CoiSequence.last_sequence)
    ).scalar_one()
    return Coi(facility=facility, year=year, sequence=sequence)


def coi_from_code(code: str) -> Coi:
    return Coi(facility=code[:5], year=int(code[5:7]), sequence=int(code[7:13]))


def active_allocation_of_dose(dose: Dose) -> Allocation | None:
    return db.session.scalar(select(Allocation).where(Allocation.dose_id == dose.id, Allocation.active))


def active_allocation_of_visit(visit: Visit) -> Allocation | None:
    return db.session.scalar(select(Allocation).where(Allocation.visit_id == visit.id, Allocation.active))


def _candidate_query(visit: Visit, now: datetime) -> Select[tuple[Dose]]:
    """Released, label-verified doses in date for the visit, earliest expiry first."""
    cutoff = timedelta(hours=current_app.config["DO_NOT_SHIP_CUTOFF_HOURS"])
    return (select(Dose).join(Lot, Dose.lot_id == Lot.id)
            .where(Dose.status == "available", Lot.status == "released",
                   Dose.bag_label_verified_at.is_not(None),
                   Dose.expires_at >= planned_infusion_at(visit, now) + cutoff)
            .order_by(Dose.expires_at, Dose.id))


def suggested_dose(visit: Visit, now: datetime) -> Dose | None:
    """The dose allocation would pick now, for the page to show: read-only (no row locks),
    each candidate confirmed by `dose_problems`."""
    stmt = _candidate_query(visit, now).limit(5)
    return next((d for d in db.session.scalars(stmt) if not dose_problems(d, visit, now)), None)


def _candidates(visit: Visit, now: datetime) -> list[Dose]:
    stmt = _candidate_query(visit, now).limit(20)
    if is_postgres():
        # Racing allocators skip each other's candidate instead of queueing on it.
        stmt = stmt.with_for_update(of=Dose, skip_locked=True)
    return list(db.session.scalars(stmt))


def allocate_dose(visit: Visit, *, dose: Dose | None, actor: User, now: datetime) -> Allocation:
    """Allocate the given dose, or the earliest-expiring suitable one, to an open visit of an
    active MSC-arm patient. Issues the COI. Raises PatientNotInMscArm, VisitClosed,
    VisitAlreadyAllocated, DoseNotSuitable, NoSuitableDose."""
    require_role(actor, ALLOCATORS)
    patient = visit.patient
    if patient.arm != "msc" or patient.status != "active":
        raise PatientNotInMscArm(_l("%(subject)s is withdrawn.", subject=patient.subject_id) if patient.status != "active"
                                 else _l("%(subject)s is in the control arm.", subject=patient.subject_id))
    lock_row(visit)
    if not VISIT_LIFECYCLE.can("allocate", visit.recorded):
        raise VisitClosed(_l("Visit %(number)s is %(status)s.", number=visit.number, status=state(visit.recorded)))
    if active_allocation_of_visit(visit) is not None:
        raise VisitAlreadyAllocated(_l("Visit %(number)s of %(subject)s already has a dose.", number=visit.number,
                                                 subject=patient.subject_id))
    following = next_visit_of(patient, now)
    if following is not None and following.number != visit.number:
        raise NotTheNextVisit(_l("The next dose of %(subject)s goes to visit %(number)s first.",
                                 subject=patient.subject_id, number=following.number))
    if dose is not None:
        lock_row(dose)
        if problems := dose_problems(dose, visit, now):
            raise DoseNotSuitable(_l("Dose %(code)s cannot be allocated: %(problems)s.", code=dose.code,
                                     problems=Joined(problems)),
                                  reasons=problems)
    else:
        candidates = _candidates(visit, now)
        if not candidates:
            raise NoSuitableDose(
                _l("No released, label-verified dose will still be in date for visit %(number)s (%(day)s).",
                   number=visit.number, day=visit.target_date))
        dose = candidates[0]
    allocation = Allocation(dose_id=dose.id, visit_id=visit.id, coi=_issue_coi(now).code,
                            active=True, allocated_by_id=actor.id, allocated_at=now)
    audit.record_created(allocation, "dose.allocated", actor=actor, at=now)
    DOSE_LIFECYCLE.apply(dose, "allocate")
    audit.record_change(dose, "dose.allocated", actor=actor, at=now)
    return allocation


def _end(allocation: Allocation, *, reason: str, actor: User, now: datetime) -> None:
    dose = allocation.dose
    lock_row(dose)
    if dose.status not in REVERSIBLE_DOSE_STATES:
        raise InvalidTransition(_l("Dose %(code)s is %(status)s: an allocation is reversible only before dispatch.",
                                   code=dose.code, status=state(dose.status)))
    allocation.active, allocation.ended_at, allocation.end_reason = False, now, reason
    audit.record_change(allocation, "dose.deallocated", actor=actor, at=now, reason=reason)
    DOSE_LIFECYCLE.apply(dose, "deallocate")
    audit.record_change(dose, "dose.deallocated", actor=actor, at=now, reason=reason)


def deallocate(visit: Visit, *, reason: str | None, actor: User, now: datetime) -> Allocation:
    """Reverse an allocation before dispatch, with a reason."""
    require_role(actor, ALLOCATORS)
    if not reason or not reason.strip():
        raise ReasonRequired(N_("Give the reason for taking the dose back."))
    allocation = active_allocation_of_visit(visit)
    if allocation is None:
        raise NotAllocated(_l("Visit %(number)s has no dose allocated.", number=visit.number))
    _end(allocation, reason=reason.strip(), actor=actor, now=now)
    return allocation


def end_allocation_of_visit(visit: Visit, *, reason: str, actor: User, now: datetime) -> None:
    """Release a withdrawn patient's dose back to stock if it has not left the lab; a dose
    already shipped stays allocated until the site returns or destroys it."""
    allocation = active_allocation_of_visit(visit)
    if allocation is not None and allocation.dose.status in REVERSIBLE_DOSE_STATES:
        _end(allocation, reason=reason, actor=actor, now=now)
