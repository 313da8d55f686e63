"""The monitor's dashboard: trial-wide progress (doses given per visit number and site), the
visits overdue and due soon, and the open discrepancies. Set-based: a fixed number of
statements whatever the size of the trial; it reads and changes nothing."""
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

from sqlalchemy import and_, func, or_, select

from cell_chain.accounts.models import Site, User
from cell_chain.accounts.permissions import require_role
from cell_chain.accounts.roles import Role
from cell_chain.batches.models import Dose
from cell_chain.core.clock import local_date
from cell_chain.core.db import db
from cell_chain.infusions.models import Infusion
from cell_chain.patients.models import Allocation, Patient, Visit
from cell_chain.patients.schedule import VISIT_MONTHS
from cell_chain.reconciliation import rules
from cell_chain.reconciliation.discrepancies import TITLES, Code, Discrepancy, list_discrepancies

# Monitors, QA and admins follow the whole trial; a study coordinator follows their own site.
DASHBOARD_READERS = (Role.MONITOR, Role.QA, Role.ADMIN, Role.COORDINATOR)
VISIT_NUMBERS = tuple(range(1, len(VISIT_MONTHS) + 1))
# "Due soon": in its window now, or its window opens within this many days (time to allocate
# and ship a dose: shipments take days, cryopreserved doses are thawed at the site).
DUE_SOON = timedelta(days=14)


@dataclass(frozen=True)
class SiteProgress:
    site_code: str
    site_name: str
    msc_patients: int
    control_patients: int
    given: dict[int, int]  # visit number → doses given

    @property
    def total_given(self) -> int:
        return sum(self.given.values())


@dataclass(frozen=True)
class VisitLine:
    subject_id: str
    site_code: str
    number: int
    target_date: date
    window_start: date
    window_end: date
    state: str  # due, overdue or upcoming (schedule.visit_state)
    dose_code: str | None
    dose_status: str | None


@dataclass
class Dashboard:
    today: date
    site_code: str | None  # the one site shown, or None for the whole trial
    sites: list[SiteProgress]
    overdue: list[VisitLine]
    due_soon: list[VisitLine]
    discrepancies: list[Discrepancy]
    discrepancy_counts: list[tuple[Code, str, int]] = field(default_factory=list)

    @property
    def given_per_visit(self) -> dict[int, int]:
        return {n: sum(s.given.get(n, 0) for s in self.sites) for n in VISIT_NUMBERS}

    @property
    def msc_patients(self) -> int:
        return sum(s.msc_patients for s in self.sites)

    @property
    def control_patients(self) -> int:
        return sum(s.control_patients for s in self.sites)

    @property
    def total_given(self) -> int:
        return sum(s.total_given for s in self.sites)


def _sites(actor: User) -> list[Site]:
    stmt = select(Site).order_by(Site.code)
    if actor.site_id is not None:
        stmt = stmt.where(Site.id == actor.site_id)
    return list(db.session.scalars(stmt))


def site_progress(actor: User) -> list[SiteProgress]:
    """Patients per arm and doses given per visit number, per site (three statements)."""
    sites = _sites(actor)
    ids = [s.id for s in sites]
    arms = Counter({(r.site_id, r.arm): r.patients for r in db.session.execute(
        select(Patient.site_id, Patient.arm, func.count(Patient.id).label("patients"))
        .where(Patient.site_id.in_(ids)).group_by(Patient.site_id, Patient.arm))})
    given = Counter({(r.site_id, r.number): r.given for r in db.session.execute(
        select(Patient.site_id, Visit.number, func.count(Infusion.id).label("given"))
        .select_from(Infusion).join(Visit, Visit.id == Infusion.visit_id).join(Patient, Patient.id == Infusion.patient_id)
        .where(Patient.site_id.in_(ids)).group_by(Patient.site_id, Visit.number))})
    return [SiteProgress(s.code, s.name, arms[(s.id, "msc")], arms[(s.id, "control")],
                         {n: given[(s.id, n)] for n in VISIT_NUMBERS}) for s in sites]


def visits_needing_doses(actor: User, today: date) -> tuple[list[VisitLine], list[VisitLine]]:
    """(overdue, due soon) open visits of active patients, in one statement: overdue is the
    schedule's state (window closed, next window not yet open); due soon is due now or with a
    window opening within DUE_SOON. Each with the dose allocated to it, if any."""
    following = rules.following_visit()
    state = rules.visit_state_sql(Visit, following, today).label("state")
    stmt = (select(Patient.subject_id, Site.code.label("site_code"), Visit.number, Visit.target_date,
                   Visit.window_start, Visit.window_end, state, Dose.code.label("dose_code"),
                   Dose.status.label("dose_status"))
            .select_from(Visit)
            .join(Patient, Patient.id == Visit.patient_id).join(Site, Site.id == Patient.site_id)
            .outerjoin(following, rules.next_visit_join(Visit, following))
            .outerjoin(Allocation, and_(Allocation.visit_id == Visit.id, Allocation.active))
            .outerjoin(Dose, Dose.id == Allocation.dose_id)
            .where(Patient.status == "active",
                   or_(state.in_(("overdue", "due")),
                       and_(state == "upcoming", Visit.window_start <= today + DUE_SOON)))
            .order_by(Visit.window_end, Patient.subject_id, Visit.number))
    if actor.site_id is not None:
        stmt = stmt.where(Patient.site_id == actor.site_id)
    lines = [VisitLine(r.subject_id, r.site_code, r.number, r.target_date, r.window_start, r.window_end, r.state,
                       r.dose_code, r.dose_status) for r in db.session.execute(stmt)]
    return [v for v in lines if v.state == "overdue"], [v for v in lines if v.state != "overdue"]


def build_dashboard(actor: User, now: datetime, zone: tzinfo = UTC) -> Dashboard:
    """Everything the dashboard shows, for the actor's scope; "today" (due and overdue visits)
    is the day on the reader's clock in `zone`. Raises Forbidden."""
    require_role(actor, DASHBOARD_READERS)
    today = local_date(now, zone)
    overdue, due_soon = visits_needing_doses(actor, today)
    found = list_discrepancies(actor, now)
    counts = Counter(d.code for d in found)
    return Dashboard(today=today, site_code=actor.site_code, sites=site_progress(actor), overdue=overdue,
                     due_soon=due_soon, discrepancies=found,
                     discrepancy_counts=[(code, TITLES[code], counts[code]) for code in Code if counts[code]])
