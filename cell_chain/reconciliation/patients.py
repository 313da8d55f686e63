"""Per patient: each planned dose against what happened to it (DESIGN §6), with the dose, lot
and DIN behind each infusion, tolerance grades and SAEs; totals per site and for the scope.
Three statements whatever the number of patients."""
from collections.abc import Iterable, Iterator
from itertools import chain
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, select
from sqlalchemy.orm import aliased

from cell_chain.accounts.models import Site
from cell_chain.batches.models import Dose, Lot
from cell_chain.core.db import db
from cell_chain.infusions.models import Infusion
from cell_chain.patients.models import Allocation, Patient, Visit
from cell_chain.reconciliation import rules
from cell_chain.reconciliation.bulk import without_gc
from cell_chain.reconciliation.evidence import Records, SignedBy, as_ids, by_record, signatures_of
from cell_chain.reconciliation.scope import Scope

# What happened to a planned dose. Given: in window, out of window, or partial (whatever the
# window); not given: skipped, missed, or still on its way (pending = no dose yet).
OUTCOMES = ("administered_in_window", "administered_out_of_window", "partial", "missed", "skipped",
            "pending", "allocated", "in_transit", "at_site", "quarantined")
GRADES = range(5)
# planned = administered + NOT_GIVEN: every planned dose is counted once.
NOT_GIVEN = ("missed", "skipped", "pending", "allocated", "in_transit", "at_site", "quarantined")
VISIT_FIELDS = ("planned", "administered", *OUTCOMES, "serious_adverse_events", *(f"grade_{g}" for g in GRADES))
TOTAL_FIELDS = ("patients", "msc_patients", "control_patients", "withdrawn", *VISIT_FIELDS)


@dataclass(slots=True)
class InfusionFacts:
    started_at: datetime
    ended_at: datetime
    volume_ml: float
    partial: bool
    out_of_window: bool
    deviation_reason: str | None
    tolerance_grade: int
    adverse_events: str | None
    serious: bool
    signatures: list[SignedBy] = field(default_factory=list)


@dataclass(slots=True)
class VisitLine:
    number: int
    target_date: date
    window_start: date
    window_end: date
    schedule_state: str
    outcome: str
    skip_reason: str | None
    dose_code: str | None
    dose_status: str | None
    lot_number: str | None
    din: str | None
    cells: float | None
    dose_volume_ml: float | None
    infusion: InfusionFacts | None


@dataclass(slots=True)
class PatientLine:
    subject_id: str
    site_code: str
    arm: str
    status: str
    enrolled_on: date
    withdrawal_reason: str | None
    planned: int
    administered: int
    visits: list[VisitLine]
    withdrawal_signatures: list[SignedBy] = field(default_factory=list)


@dataclass(frozen=True)
class PatientTotals:
    site_code: str | None
    counts: dict[str, int]

    def __getitem__(self, key: str) -> int:
        return self.counts[key]


@dataclass(frozen=True)
class PatientsReconciliation:
    generated_at: datetime
    scope: Scope
    total_patients: int
    patients: Iterable[PatientLine]  # a list, or an iterator when streamed
    sites: list[PatientTotals]
    total: PatientTotals


_FOLLOWING = rules.following_visit()
# Rows fetched at a time from a streamed report's cursor.
STREAM_ROWS = 2000


def _visit_joins(stmt: Select[Any]) -> Select[Any]:
    """From Patient (already in the statement) to its visits, the next visit, the infusion,
    the active allocation and the dose behind either."""
    return (stmt.outerjoin(Visit, Visit.patient_id == Patient.id)
            .outerjoin(_FOLLOWING, rules.next_visit_join(Visit, _FOLLOWING))
            .outerjoin(Infusion, Infusion.visit_id == Visit.id)
            .outerjoin_from(Visit, Allocation, and_(Allocation.visit_id == Visit.id, rules.allocation_active()))
            .outerjoin(Dose, Dose.id == func.coalesce(Infusion.dose_id, Allocation.dose_id)))


def _state(today: date | rules.SiteDays) -> ColumnElement[str]:
    return rules.visit_state_sql(Visit, _FOLLOWING, today, Patient.site_id)


def outcome_sql(today: date | rules.SiteDays) -> ColumnElement[str]:
    """One of OUTCOMES for a joined visit: the infusion decides when there is one, then the
    schedule (skipped, missed), then where the allocated dose is."""
    where_dose_is = case(
        (Dose.status.in_(("allocated", "packed")), "allocated"),
        (Dose.status == "in_transit", "in_transit"),
        (Dose.status.in_(("received", "dispensed")), "at_site"),
        (Dose.status == "quarantined", "quarantined"),
        else_="pending",
    )
    # CASE state WHEN …: the schedule's state is worked out once per visit, not once per test.
    return case(
        (Infusion.id.is_not(None), case((Infusion.partial, "partial"),
                                        (Infusion.out_of_window, "administered_out_of_window"),
                                        else_="administered_in_window")),
        else_=case({"skipped": "skipped", "missed": "missed"}, value=_state(today), else_=where_dose_is),
    )


def _in_scope(stmt: Select[Any], scope: Scope, site_id: Any) -> Select[Any]:
    return stmt if scope.site_id is None else stmt.where(site_id == scope.site_id)


def _add_visits(counts: dict[str, int], outcome: str, grade: int | None, serious: bool | None, visits: int,
                given: int) -> None:
    """Adds `visits` visits with this outcome (`given` of them infused, with this grade and SAE
    flag) to a site's counts: the one rule for what each visit counts towards."""
    counts["planned"] += visits
    counts["administered"] += given
    counts[outcome] += visits
    if serious:
        counts["serious_adverse_events"] += given
    if grade in GRADES:
        counts[f"grade_{grade}"] += given


def _people(scope: Scope) -> list[tuple[int, PatientTotals]]:
    """Each site of the scope (by site code) with its patients counted and its visit counts at
    zero, to be added up by `_add_visits`."""

    def count(condition: ColumnElement[bool]) -> Any:
        return func.count(case((condition, 1)))

    people = {
        "patients": func.count(Patient.id),
        "msc_patients": count(Patient.arm == "msc"),
        "control_patients": count(Patient.arm == "control"),
        "withdrawn": count(Patient.status == "withdrawn"),
    }
    sites_stmt = (select(Site.id, Site.code, *(c for c in people.values())).select_from(Site)
                  .outerjoin(Patient, Patient.site_id == Site.id).group_by(Site.id, Site.code).order_by(Site.code))
    return [(site_id, PatientTotals(code, {**dict(zip(people, map(int, head), strict=True)),
                                           **dict.fromkeys(VISIT_FIELDS, 0)}))
            for site_id, code, *head in db.session.execute(_in_scope(sites_stmt, scope, Site.id))]


def _totals(scope: Scope, today: rules.SiteDays) -> list[PatientTotals]:
    """Counts per site: patients counted over the patients alone, and visits grouped by site
    and by what decides their counts (outcome, grade, SAE) and added up here. Each visit's
    outcome is then worked out once, not once per count (a conditional count per outcome
    repeats the whole outcome rule for every visit); the groups are a few hundred rows."""
    sites = _people(scope)
    by_site = dict(sites)
    outcome = outcome_sql(today).label("outcome")
    grade, serious = Infusion.tolerance_grade.label("grade"), Infusion.serious.label("serious")
    groups = _in_scope(_visit_joins(select(Patient.site_id, outcome, grade, serious, func.count(Visit.id),
                                           func.count(Infusion.id)).select_from(Patient)), scope, Patient.site_id)
    for site_id, what, graded, sae, visits, given in db.session.execute(
            groups.group_by(Patient.site_id, outcome, grade, serious)):
        if visits:  # (a patient without visits counts nothing)
            _add_visits(by_site[site_id].counts, what, graded, sae, visits, given)
    return [totals for _, totals in sites]


def _whole(sites: list[PatientTotals]) -> PatientTotals:
    return PatientTotals(None, {k: sum(s.counts[k] for s in sites) for k in TOTAL_FIELDS})


def reconcile_patients(scope: Scope, *, now: datetime, limit: int | None = None, offset: int = 0,
                       streamed: bool = False, download: bool = False) -> PatientsReconciliation:
    """The per-patient reconciliation of `scope` (patients in subject ID order, a page of
    them when `limit` is given; totals always over the whole scope). `streamed`: the patients
    come as an iterator over a server-side cursor, each built as its rows arrive (a download
    writes them as they come instead of holding the whole trial).

    Without `limit` every visit of the scope passes by anyway, so the visit counts of the
    totals are added up from those rows rather than by a statement of their own; streamed,
    `sites` and `total` are complete once the patients have been read.

    `download`: only what the per-patient download prints is read; the infusion's times, the
    visit's target day, the enrolment day and the dose's cells and DIN come back as None
    (128,000 rows at 100× the trial: each column left out is a conversion per row saved)."""
    today = rules.site_days(now)  # (each visit's window on its hospital's calendar)
    if limit is None:
        sites = [totals for _, totals in _people(scope)]
        tally: dict[str, dict[str, int]] | None = {totals.site_code or "": totals.counts for totals in sites}
    else:
        sites, tally = _totals(scope, today), None
    total = _whole(sites)
    def unread(column: Any) -> Any:
        return literal(None).label(column.key) if download else column

    page_query = _in_scope(select(Patient.id, Patient.subject_id), scope, Patient.site_id).order_by(Patient.subject_id)
    if limit is not None:
        page_query = page_query.limit(limit).offset(offset)
    page = page_query.subquery("page")
    stmt = _visit_joins(
        select(Patient.id.label("patient_id"), Patient.subject_id, Site.code.label("site_code"), Patient.arm,
               Patient.status, unread(Patient.enrolled_on), Patient.withdrawal_reason,
               Visit.number, unread(Visit.target_date), Visit.window_start, Visit.window_end, Visit.skip_reason,
               _state(today).label("state"), outcome_sql(today).label("outcome"),
               Dose.code.label("dose_code"), Dose.status.label("dose_status"), unread(Dose.cells),
               Dose.volume_ml.label("dose_volume_ml"), Lot.lot_number, unread(Lot.din),
               Infusion.id.label("infusion_id"), unread(Infusion.started_at), unread(Infusion.ended_at),
               Infusion.volume_ml.label("infused_ml"), Infusion.partial, Infusion.out_of_window,
               Infusion.deviation_reason, Infusion.tolerance_grade, Infusion.adverse_events, Infusion.serious)
        .select_from(page).join(Patient, Patient.id == page.c.id).join(Site, Site.id == Patient.site_id)
    ).outerjoin(Lot, Lot.id == Dose.lot_id).order_by(page.c.subject_id, Visit.number)
    given = aliased(Infusion)
    signed = by_record(signatures_of({
        "infusions": Records(select(as_ids(Infusion.id)).where(Infusion.patient_id.in_(select(page.c.id))),
                             select(Dose.code).join(given, given.dose_id == Dose.id), given.id),
        "patients": Records(select(as_ids(page.c.id)), select(Patient.subject_id), Patient.id),
    }))

    def tallied(lines: Iterator[PatientLine]) -> Iterator[PatientLine]:
        yield from lines
        total.counts.update(_whole(sites).counts)

    if streamed:
        streaming = stmt.execution_options(stream_results=True, yield_per=STREAM_ROWS)
        # (a batch of rows at a time: a fetch per row costs more than the row's own work)
        rows = chain.from_iterable(db.session.connection().execute(streaming).partitions())
        return PatientsReconciliation(now, scope, total.counts["patients"],
                                      tallied(_patient_lines(rows, signed, tally)), sites, total)
    with without_gc():
        patients = list(tallied(_patient_lines(db.session.connection().execute(stmt).all(), signed, tally)))
    return PatientsReconciliation(now, scope, total.counts["patients"], patients, sites, total)


def _patient_lines(rows: Any, signed: dict[tuple[str, str], list[SignedBy]],
                   tally: dict[str, dict[str, int]] | None = None) -> Iterator[PatientLine]:
    """Patients with their visits from the joined rows, in the rows' order (a patient's rows
    are consecutive), each as soon as its last row is read. The rows come positionally through
    the connection: tens of thousands of them, no ORM loading. `tally`: counts by site code,
    to which each visit is added."""
    current: PatientLine | None = None
    current_id = None
    counts: dict[str, int] = {}
    for (patient_id, *head, number, target, start, end, skip, state, outcome, dose_code, dose_status, cells,
         dose_ml, lot_number, din, infusion_id, started, ended, infused_ml, partial, late, deviation, grade,
         events, serious) in rows:
        if patient_id != current_id:
            if current is not None:
                yield current
            current_id = patient_id
            current = PatientLine(*head, 0, 0, [], signed.get(("patients", str(patient_id)), []))
            if tally is not None:
                counts = tally[current.site_code]
        if number is None:
            continue  # control arm: no visits
        if tally is not None:
            _add_visits(counts, outcome, grade, serious, 1, 0 if infusion_id is None else 1)
        infusion = None
        if infusion_id is not None:
            infusion = InfusionFacts(started, ended, infused_ml, bool(partial), bool(late), deviation, grade, events,
                                     bool(serious), signed.get(("infusions", str(infusion_id)), []))
            current.administered += 1
        current.planned += 1
        current.visits.append(VisitLine(number, target, start, end, state, outcome, skip, dose_code,
                                        dose_status, lot_number, din, cells, dose_ml, infusion))
    if current is not None:
        yield current
