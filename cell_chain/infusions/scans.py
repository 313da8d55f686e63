"""Recognising the assignment label (COI + DIN + product) and the wristband."""
import re

from sqlalchemy import select
from sqlalchemy.orm import lazyload

from cell_chain.core.db import db
from cell_chain.core.isbt128 import Isbt128Error, parse
from cell_chain.infusions.labels import assignment_payload
from cell_chain.infusions.models import Allocation, Patient
from cell_chain.scanning import Scan, register_recogniser

SUBJECT_ID = re.compile(r"[A-Z]{2,8}-[0-9]{4}")


def _assignment(text: str) -> Scan | None:
    if not text.startswith("=+"):
        return None
    try:
        parsed = parse(text)
    except Isbt128Error:
        return None
    if parsed.label != "assignment":
        return None
    allocation = db.session.scalar(select(Allocation).where(Allocation.coi == parsed.coi.code,
                                                            Allocation.active))
    # A COI that is no longer active, or a message that is not the allocation's exact label,
    # names no dose: never a wrong match.
    if allocation is None or assignment_payload(allocation) != parsed.payload:
        return Scan("dose", parsed.payload, None, label="assignment")
    return Scan("dose", parsed.payload, allocation.dose, label="assignment",
                details={"subject_id": allocation.visit.patient.subject_id, "coi": allocation.coi})


def _wristband(text: str) -> Scan | None:
    if not SUBJECT_ID.fullmatch(text):
        return None
    # The schedule is not needed to say whose wristband this is.
    patient = db.session.scalar(select(Patient).options(lazyload(Patient.visits))
                                .where(Patient.subject_id == text))
    return Scan("patient", text, patient)


register_recogniser(_assignment)
register_recogniser(_wristband)
