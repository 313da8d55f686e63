"""The nurse's infusion form kept on the server while the infusion runs: one draft per nurse
and dose, saved as she types, so that the end of her session loses nothing. A draft is a
working copy, never an infusion record: it holds no password and changes no dose."""
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from cell_chain.accounts.models import User
from cell_chain.accounts.permissions import require_role
from cell_chain.batches.models import Dose
from cell_chain.core.db import db
from cell_chain.core.errors import ValidationFailed
from cell_chain.infusions import bedside
from cell_chain.infusions.models import InfusionDraft
from cell_chain.patients.models import Allocation, Patient, Visit
from cell_chain.core.messages import _l

# What the form holds besides the passwords (never kept).
FIELDS = ("started_at", "ended_at", "volume_ml", "tolerance_grade", "adverse_events", "serious",
          "partial_reason", "confirm_duration", "witness_username",
          *(f"reason_{code}" for code in bedside.WARNING_CODES))
MAX_LENGTH = 4000


@dataclass(frozen=True)
class Draft:
    id: int
    dose_code: str
    subject_id: str
    patient_scan: str
    dose_scan: str
    fields: dict[str, str]
    saved_at: datetime


def _clean(fields: Any) -> dict[str, str]:
    if not isinstance(fields, dict):
        raise ValidationFailed({"fields": [_l("Send the form's fields as an object.")]})
    clean: dict[str, str] = {}
    for name in FIELDS:
        value = fields.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > MAX_LENGTH:
            raise ValidationFailed({name: [_l("Text of up to %(length)s characters.", length=MAX_LENGTH)]})
        clean[name] = value
    return clean


def save_draft(patient_scan: Any, dose_scan: Any, fields: Any, *, actor: User, now: datetime) -> InfusionDraft:
    """Keep the form as it stands for this nurse and the scanned dose (the caller commits).
    Raises ValidationFailed when the scans name no dose of this nurse's patient."""
    require_role(actor, bedside.NURSES)
    clean = _clean(fields)
    facts = bedside.load_facts(patient_scan, dose_scan, nurse=actor)
    if facts.dose is None or facts.patient is None or facts.patient.site_id != actor.site_id:
        raise ValidationFailed({"dose_scan": [_l("These scans name no dose for a patient of your hospital.")]})
    draft = db.session.scalar(select(InfusionDraft).where(InfusionDraft.nurse_id == actor.id,
                                                          InfusionDraft.dose_id == facts.dose.id))
    if draft is None:
        draft = InfusionDraft(nurse_id=actor.id, dose_id=facts.dose.id)
        db.session.add(draft)
    draft.patient_scan, draft.dose_scan = str(patient_scan), str(dose_scan)
    draft.fields_json, draft.saved_at = json.dumps(clean, sort_keys=True), now
    db.session.flush()
    return draft


def drafts_of(nurse: User) -> list[Draft]:
    """The nurse's unfinished infusion forms, newest first (doses not given yet)."""
    rows = db.session.execute(
        select(InfusionDraft, Dose.code, Patient.subject_id)
        .join(Dose, Dose.id == InfusionDraft.dose_id)
        .join(Allocation, (Allocation.dose_id == Dose.id) & Allocation.active)
        .join(Visit, Visit.id == Allocation.visit_id).join(Patient, Patient.id == Visit.patient_id)
        .where(InfusionDraft.nurse_id == nurse.id, Dose.status != "administered")
        .order_by(InfusionDraft.saved_at.desc(), InfusionDraft.id.desc())).all()
    return [Draft(d.id, code, subject, d.patient_scan, d.dose_scan, json.loads(d.fields_json), d.saved_at)
            for d, code, subject in rows]
