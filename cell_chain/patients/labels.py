"""The patient-side labels: the assignment label (COI + DIN + product) and the wristband,
plugged into the label print jobs, the print-then-scan check and the dose view."""
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import select

from cell_chain.accounts.models import User
from cell_chain.accounts.roles import Role
from cell_chain.batches.models import Dose
from cell_chain.core import audit
from cell_chain.core.db import db
from cell_chain.core.errors import NotFound
from cell_chain.core.isbt128 import Parsed, assignment_compound
from cell_chain.labels import rendering
from cell_chain.labels.dose_view import register_dose_sites, register_dose_view
from cell_chain.labels.payloads import bag_payloads
from cell_chain.labels.services import (
    LabelItem,
    LabelSource,
    register_label_check,
    register_label_source,
    register_named_dose,
    register_pack_check,
)
from cell_chain.patients.allocation import active_allocation_of_dose, coi_from_code
from cell_chain.patients.errors import NotAllocated
from cell_chain.patients.models import Allocation, Patient, Visit
from cell_chain.web.words import N_
from cell_chain.core.messages import _l


def wristband_payload(patient: Patient) -> str:
    """The wristband carries the pseudonymous subject ID, nothing else (21 CFR 1271.290)."""
    return patient.subject_id


def assignment_payload(allocation: Allocation) -> str:
    bag = bag_payloads(allocation.dose)
    return assignment_compound(coi_from_code(allocation.coi), bag.din, bag.product)


def _assignment_expected(dose: Dose) -> str | None:
    allocation = active_allocation_of_dose(dose)
    return assignment_payload(allocation) if allocation else None


def _assignment_verified(dose: Dose, actor: User, now: datetime) -> None:
    allocation = active_allocation_of_dose(dose)
    assert allocation is not None  # a match implies an active allocation
    allocation.assignment_label_verified_at = now
    audit.record_change(allocation, "allocation.label_verified", actor=actor, at=now)


def _assignment_verified_at(dose: Dose) -> datetime | None:
    allocation = active_allocation_of_dose(dose)
    return allocation.assignment_label_verified_at if allocation else None


def _assignment_items(target: str, actor: User, now: datetime) -> list[LabelItem]:
    dose = db.session.scalar(select(Dose).where(Dose.code == target))
    if dose is None:
        raise NotFound(N_("No such dose."))
    allocation = active_allocation_of_dose(dose)
    if allocation is not None and actor.site_id not in (None, allocation.visit.patient.site_id):
        raise NotFound(N_("No such dose."))  # another site's patient: not revealed
    if allocation is None:
        raise NotAllocated(_l("Dose %(code)s is not allocated to a patient: no assignment label.", code=dose.code))
    visit, bag = allocation.visit, bag_payloads(dose)
    data = rendering.AssignmentLabel(
        subject_id=visit.patient.subject_id, initials=visit.patient.initials,
        coi=coi_from_code(allocation.coi), visit_number=visit.number, din=bag.din,
        product=bag.product, dose_code=dose.code, bilingual=visit.patient.site.language == "zh_Hans")
    return [LabelItem(dose.code, data, (assignment_payload(allocation),), dose.id)]


def _wristband_items(target: str, actor: User, now: datetime) -> list[LabelItem]:
    patient = db.session.scalar(select(Patient).where(Patient.subject_id == target))
    if patient is None or actor.site_id not in (None, patient.site_id):
        raise NotFound(N_("No such patient."))
    payload = wristband_payload(patient)
    data = rendering.WristbandLabel(subject_id=patient.subject_id, initials=patient.initials,
                                    birth_year=patient.birth_year, payload=payload,
                                    bilingual=patient.site.language == "zh_Hans")
    return [LabelItem(patient.subject_id, data, (payload,))]


def _assignment_label_verified(dose: Dose) -> bool:
    allocation = active_allocation_of_dose(dose)
    return allocation is not None and allocation.assignment_label_verified_at is not None


def _dose_view(dose: Dose, view: dict[str, Any]) -> None:
    allocation = active_allocation_of_dose(dose)
    if allocation is not None:
        view["subject_id"] = allocation.visit.patient.subject_id
        view["visit"] = allocation.visit.number
        view["coi"] = allocation.coi
        view["barcodes"]["assignment"] = assignment_payload(allocation)
        view["assignment_label_verified"] = allocation.assignment_label_verified_at is not None


# Who prints (and scans back) each label: the label service checks these roles, the pages ask them.
ASSIGNMENT_SOURCE = register_label_source(
    "assignment", LabelSource("assignment", (Role.COORDINATOR, Role.LAB), _assignment_items))
WRISTBAND_SOURCE = register_label_source(
    "wristband", LabelSource("wristband", (Role.COORDINATOR, Role.NURSE), _wristband_items))
register_label_check("assignment", _assignment_expected, _assignment_verified, _assignment_verified_at)
register_pack_check(_assignment_label_verified)


def _dose_named_by_coi(parsed: Parsed) -> Dose | None:
    """The dose a COI was issued for, even when that allocation was taken back: an old
    assignment label still names its dose, and scanning it back is then a mismatch."""
    assert parsed.coi is not None  # an assignment label always carries its COI
    allocation = db.session.scalar(select(Allocation).where(Allocation.coi == parsed.coi.code))
    return allocation.dose if allocation else None


def _dose_sites(doses: Collection[Dose]) -> dict[int, int]:
    """The site of each allocated dose's patient, all in one statement."""
    rows = db.session.execute(
        select(Allocation.dose_id, Patient.site_id)
        .join(Visit, Visit.id == Allocation.visit_id)
        .join(Patient, Patient.id == Visit.patient_id)
        .where(Allocation.active, Allocation.dose_id.in_({dose.id for dose in doses}))
    )
    return {dose_id: site_id for dose_id, site_id in rows}


register_dose_view(_dose_view)
register_dose_sites(_dose_sites)
register_named_dose("assignment", _dose_named_by_coi)
