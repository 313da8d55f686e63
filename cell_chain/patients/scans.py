"""Recognising the assignment label (COI + DIN + product) and the wristband."""
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import lazyload

from cell_chain.core.db import db
from cell_chain.core.isbt128 import Isbt128Error, parse
from cell_chain.core.scanning import Identified, Scan, register_recogniser
from cell_chain.labels.scans import LabelDose
from cell_chain.patients.labels import assignment_payload
from cell_chain.patients.models import Allocation, Patient

SUBJECT_ID = re.compile(r"[A-Z]{2,8}-[0-9]{4}")
# Our assignment label is the only compound message of three structures: a payload whose
# header does not declare three cannot be one, so it is not parsed here (the bag recogniser
# reads it).
_ASSIGNMENT_HEADER = "=+03"


def _identify_assignment(text: str) -> Identified | None:
    if not text.startswith(_ASSIGNMENT_HEADER):
        return None
    try:
        parsed = parse(text)
    except Isbt128Error:
        return None
    if parsed.label != "assignment":
        return None
    return Identified("dose", parsed.payload, parsed.coi.code, "assignment", parsed)


@dataclass(frozen=True)
class LabelAllocation:
    """The allocation fields an assignment label is printed from (same names as on
    Allocation), when a query loaded values."""

    coi: str
    dose: LabelDose


def assignment_label_matches(payload: str, allocation: Allocation | LabelAllocation) -> bool:
    """A COI that is no longer active, or a message that is not the allocation's exact label,
    names no dose: never a wrong match."""
    return assignment_payload(allocation) == payload  # type: ignore[arg-type]  # duck-typed


def _find_assignment(identified: Identified) -> Scan:
    allocation = db.session.scalar(select(Allocation).where(Allocation.coi == identified.key, Allocation.active))
    if allocation is None or not assignment_label_matches(identified.payload, allocation):
        return Scan("dose", identified.payload, None, label="assignment")
    return Scan("dose", identified.payload, allocation.dose, label="assignment",
                details={"subject_id": allocation.visit.patient.subject_id, "coi": allocation.coi})


def _identify_wristband(text: str) -> Identified | None:
    if not SUBJECT_ID.fullmatch(text):
        return None
    return Identified("patient", text, text)


def _find_wristband(identified: Identified) -> Scan:
    # The schedule is not needed to say whose wristband this is.
    patient = db.session.scalar(select(Patient).options(lazyload(Patient.visits))
                                .where(Patient.subject_id == identified.key))
    return Scan("patient", identified.payload, patient)


register_recogniser(_identify_assignment, _find_assignment)
register_recogniser(_identify_wristband, _find_wristband)
