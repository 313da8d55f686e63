"""What needs each role now, for their home page: a few bounded queries per role, whatever
the size of the trial, each item naming the place to act. `now` is passed in; site staff see
their own site only."""
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import lazyload

from cell_chain.accounts.models import User
from cell_chain.accounts.roles import Role
from cell_chain.batches.models import Dose, Lot
from cell_chain.core.clock import site_date
from cell_chain.core.db import db
from cell_chain.patients.models import Allocation, Patient, Visit
from cell_chain.reconciliation.discrepancies import list_discrepancies
from cell_chain.shipments.models import CustodyEvent, Excursion, Shipment

LIMIT = 20  # a home page lists the most pressing; the linked pages list the rest
SOON = timedelta(days=14)  # a visit window opening within this counts as due soon
NOT_GIVEN_AFTER = timedelta(hours=2)  # a dose dispensed this long ago and not given is chased


@dataclass(frozen=True)
class Need:
    """One thing to do: `kind` picks the sentence, `code` names the thing, `endpoint` and
    `args` the page to act on, `when` the date or time that makes it pressing."""

    kind: str
    code: str
    endpoint: str
    args: dict[str, Any] = field(default_factory=dict)
    when: datetime | date | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def _dispensed_at() -> Any:
    """Each dose's latest hand-over to a ward, as a subquery (dose_id, at)."""
    return (select(CustodyEvent.dose_id, func.max(CustodyEvent.occurred_at).label("at"))
            .where(CustodyEvent.kind == "dispense").group_by(CustodyEvent.dose_id).subquery())


def _site_doses(site_id: int) -> Any:
    """Dose ids allocated (actively) to this site's patients."""
    return (select(Allocation.dose_id).join(Visit, Visit.id == Allocation.visit_id)
            .join(Patient, Patient.id == Visit.patient_id)
            .where(Allocation.active, Patient.site_id == site_id))


def _dispensed(site_id: int, *, before: datetime | None = None) -> list[tuple[str, datetime]]:
    dispensed = _dispensed_at()
    stmt = (select(Dose.code, dispensed.c.at).join(dispensed, dispensed.c.dose_id == Dose.id)
            .where(Dose.status == "dispensed", Dose.id.in_(_site_doses(site_id)))
            .order_by(dispensed.c.at).limit(LIMIT))
    if before is not None:
        stmt = stmt.where(dispensed.c.at <= before)
    return list(db.session.execute(stmt.options(lazyload("*"))))


def _site_today(actor: User, now: datetime) -> date:
    """Today on the calendar of the actor's hospital, in which visit windows are counted."""
    return site_date(now, actor.site.time_zone if actor.site is not None else None)


def coordinator_needs(actor: User, now: datetime) -> list[Need]:
    """Visits whose window is open or opens soon and that have no dose allocated."""
    today = _site_today(actor, now)
    allocated = exists().where(Allocation.visit_id == Visit.id, Allocation.active)
    rows = db.session.execute(
        select(Patient.subject_id, Visit.number, Visit.window_start, Visit.window_end)
        .join(Patient, Patient.id == Visit.patient_id)
        .where(Patient.site_id == actor.site_id, Patient.status == "active", Patient.arm == "msc",
               Visit.recorded == "open", Visit.window_start <= today + SOON, Visit.window_end >= today, ~allocated)
        .order_by(Visit.window_start, Patient.subject_id).limit(LIMIT))
    return [Need("visit_opens" if start > today else "visit_due", subject_id, "patient_pages.allocate",
                 {"subject_id": subject_id, "number": number}, start if start > today else end,
                 {"number": number})
            for subject_id, number, start, end in rows]


def pharmacist_needs(actor: User, now: datetime) -> list[Need]:
    """Boxes on their way here, doses dispensed 2 h ago and not given, and frozen doses in
    stock for visits whose window is open today, not yet thawed."""
    needs = [Need("box_coming", code, "shipment_pages.receive", {"shipment_id": shipment_id}, dispatched_at)
             for shipment_id, code, dispatched_at in db.session.execute(
                 select(Shipment.id, Shipment.code, Shipment.dispatched_at)
                 .where(Shipment.site_id == actor.site_id, Shipment.status.in_(("dispatched", "in_transit")))
                 .order_by(Shipment.dispatched_at).limit(LIMIT))]
    needs += [Need("not_given", code, "shipment_pages.dose_page", {"code": code}, at)
              for code, at in _dispensed(actor.site_id, before=now - NOT_GIVEN_AFTER)]
    today = _site_today(actor, now)
    thaw = db.session.execute(
        select(Dose.code, Patient.subject_id, Visit.number)
        .join(Allocation, and_(Allocation.dose_id == Dose.id, Allocation.active))
        .join(Visit, Visit.id == Allocation.visit_id).join(Patient, Patient.id == Visit.patient_id)
        .join(Lot, Lot.id == Dose.lot_id)
        .where(Patient.site_id == actor.site_id, Dose.status == "received", Dose.thawed_at.is_(None),
               Lot.presentation == "cryopreserved", Visit.recorded == "open",
               Visit.window_start <= today, Visit.window_end >= today)
        .order_by(Visit.window_end, Dose.code).limit(LIMIT).options(lazyload("*")))
    needs += [Need("to_thaw", code, "shipment_pages.thaw", {"code": code}, None,
                   {"subject_id": subject_id, "number": number}) for code, subject_id, number in thaw]
    return needs


def nurse_needs(actor: User, now: datetime) -> list[Need]:
    """Doses dispensed to this site's wards, waiting for the bedside."""
    return [Need("at_ward", code, "bedside_pages.scan", {}, at) for code, at in _dispensed(actor.site_id)]


def qa_needs(actor: User, now: datetime) -> list[Need]:
    """Lots in quarantine awaiting the release decision; open excursions awaiting a decision."""
    needs = [Need("lot_to_release", lot_number, "batches_pages.lot_page", {"lot_id": lot_id})
             for lot_id, lot_number in db.session.execute(
                 select(Lot.id, Lot.lot_number).where(Lot.status == "quarantine").order_by(Lot.id).limit(LIMIT))]
    needs += [Need("excursion", code, "shipment_pages.shipment_page",
                   {"shipment_id": shipment_id, "_anchor": "disposition"}, start)
              for shipment_id, code, start in db.session.execute(
                  select(Shipment.id, Shipment.code, func.min(Excursion.start))
                  .join(Excursion, Excursion.shipment_id == Shipment.id).where(Excursion.status == "open")
                  .group_by(Shipment.id, Shipment.code).order_by(func.min(Excursion.start)).limit(LIMIT))]
    return needs


def lab_needs(actor: User, now: datetime) -> list[Need]:
    """Lots being made with no dose prepared yet, released lots with bag labels not verified,
    and boxes not yet dispatched."""
    has_doses = exists().where(Dose.lot_id == Lot.id)
    needs = [Need("no_doses", lot_number, "batches_pages.lot_page", {"lot_id": lot_id})
             for lot_id, lot_number in db.session.execute(
                 select(Lot.id, Lot.lot_number).where(Lot.status.in_(("in_process", "quarantine")), ~has_doses)
                 .order_by(Lot.id).limit(LIMIT))]
    needs += [Need("labels_unverified", lot_number, "batches_pages.lot_page", {"lot_id": lot_id, "_anchor": "labels"},
                   None, {"count": count})
              for lot_id, lot_number, count in db.session.execute(
                  select(Lot.id, Lot.lot_number, func.count(Dose.id)).join(Dose, Dose.lot_id == Lot.id)
                  .where(Lot.status == "released", Dose.status == "prepared", Dose.bag_label_verified_at.is_(None))
                  .group_by(Lot.id, Lot.lot_number).order_by(Lot.id).limit(LIMIT))]
    needs += [Need("box_open", code, "shipment_pages.shipment_page", {"shipment_id": shipment_id}, created_at,
                   {"status": status})
              for shipment_id, code, status, created_at in db.session.execute(
                  select(Shipment.id, Shipment.code, Shipment.status, Shipment.created_at)
                  .where(Shipment.status.in_(("draft", "packed"))).order_by(Shipment.created_at).limit(LIMIT))]
    return needs


_TARGETS = {"dose": ("dose_pages.dose_page", "code"), "patient": ("patient_pages.patient_page", "subject_id"),
            "lot": ("batches_pages.lot_page", "lot_id"), "shipment": ("shipment_pages.shipment_page", "shipment_id")}


def monitor_needs(actor: User, now: datetime) -> list[Need]:
    """Open discrepancies, each linked to the first thing it is about."""
    needs = []
    for found in list_discrepancies(actor, now)[:LIMIT]:
        target = next((o for o in found.objects if o.type in _TARGETS), None)
        endpoint, key = _TARGETS[target.type] if target else ("monitor_pages.index", None)
        value: Any = (int(target.id) if key in ("lot_id", "shipment_id") else target.id) if target else None
        needs.append(Need("discrepancy", target.label if target else found.site_code or "", endpoint,
                          {key: value} if key else {}, found.occurred_at, {"title": found.title}))
    return needs


NEEDS: dict[str, Callable[[User, datetime], list[Need]]] = {
    Role.COORDINATOR: coordinator_needs, Role.PHARMACIST: pharmacist_needs, Role.NURSE: nurse_needs,
    Role.QA: qa_needs, Role.LAB: lab_needs, Role.MONITOR: monitor_needs,
}


def needs_for(actor: User, now: datetime) -> list[Need] | None:
    """What needs this person now; None for a role with no such list (admin)."""
    find = NEEDS.get(actor.role)
    return find(actor, now) if find else None
