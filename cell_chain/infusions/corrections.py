"""Correcting a recorded infusion: the recording nurse or a coordinator of the patient's
hospital changes times, volume, grade or adverse events with a reason and an e-signature.
The record keeps its id; the original values stay in the audit trail (old → new)."""
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app

from cell_chain.accounts.models import User
from cell_chain.accounts.permissions import require_role
from cell_chain.accounts.roles import Role
from cell_chain.accounts.signatures import Meaning, SignatureInput, sign
from cell_chain.core import audit
from cell_chain.core.db import MAX_ID, db, lock_row
from cell_chain.core.errors import Forbidden, NotFound, ReasonRequired, ValidationFailed
from cell_chain.infusions.bedside import InfusionInput, record_problems, unusual_duration
from cell_chain.infusions.models import Infusion
from cell_chain.patients.models import Patient
from cell_chain.core.messages import _l

CORRECTORS = frozenset({Role.NURSE, Role.COORDINATOR})
FIELDS = ("started_at", "ended_at", "volume_ml", "tolerance_grade", "adverse_events", "serious", "partial_reason")


@dataclass(frozen=True)
class Correction:
    """Only the fields given change. New times outside the usual duration need
    `confirm_duration`, as when the infusion was recorded."""

    values: dict[str, Any]
    confirm_duration: bool = False


def infusion_at_site(infusion_id: int, actor: User) -> Infusion:
    """The infusion, if it is a patient's of the actor's hospital (else NotFound)."""
    infusion = db.session.get(Infusion, infusion_id) if 0 < infusion_id <= MAX_ID else None
    patient = db.session.get(Patient, infusion.patient_id) if infusion else None
    if infusion is None or patient is None or (actor.site_id is not None and patient.site_id != actor.site_id):
        raise NotFound(_l("There is no such infusion record at your hospital."))
    return infusion


def correct_infusion(infusion: Infusion, *, correction: Correction, reason: str | None,
                     signature: SignatureInput, actor: User, now: datetime) -> Infusion:
    """Correct a recorded infusion. Raises Forbidden (not the recording nurse nor a
    coordinator), ReasonRequired, ValidationFailed, SignatureInvalid."""
    require_role(actor, CORRECTORS)
    if actor.role == Role.NURSE and actor.id != infusion.nurse_id:
        raise Forbidden(_l("Only the nurse who recorded the infusion, or a study coordinator, corrects it."))
    why = (reason or "").strip()
    if not why:
        raise ReasonRequired(_l("Give the reason for the correction (field 'reason')."))
    lock_row(infusion)
    values = {name: correction.values[name] for name in FIELDS if name in correction.values}
    if not values:
        raise ValidationFailed({"_schema": [_l("Give at least one field to correct.")]})
    times_changed = "started_at" in values or "ended_at" in values
    corrected = InfusionInput(
        started_at=values.get("started_at", infusion.started_at), ended_at=values.get("ended_at", infusion.ended_at),
        volume_ml=values.get("volume_ml", infusion.volume_ml),
        tolerance_grade=values.get("tolerance_grade", infusion.tolerance_grade),
        adverse_events=values.get("adverse_events", infusion.adverse_events),
        serious=values.get("serious", infusion.serious), acknowledged_warnings={},
        partial_reason=values.get("partial_reason", infusion.partial_reason), confirm_duration=correction.confirm_duration)
    if errors := record_problems(corrected, now, duration_changed=times_changed):
        raise ValidationFailed(errors)
    full = current_app.config["DOSE_VOLUME_ML"]
    volume = corrected.volume_ml
    for name, value in values.items():
        setattr(infusion, name, value.strip() or None if isinstance(value, str) else value)
    infusion.partial = volume < full
    if not infusion.partial:
        infusion.partial_reason = None
    if times_changed:
        infusion.duration_confirmed = correction.confirm_duration and unusual_duration(corrected.started_at,
                                                                                       corrected.ended_at)
    infusion.corrected_at = now
    audit.record_change(infusion, "infusion.corrected", actor=actor, at=now, reason=why, correction=True)
    sign(infusion, signer=actor, given=signature, meaning=Meaning.CORRECTED, at=now)
    return infusion
