"""Site pharmacy actions on doses in its custody: thaw, dispense to the ward, destroy, return."""
from datetime import datetime, timedelta

from cell_chain.accounts.models import User
from cell_chain.accounts.permissions import require_role
from cell_chain.accounts.roles import Role
from cell_chain.accounts.services import user_by_username
from cell_chain.accounts.signatures import Meaning, SignatureInput, WitnessInput, sign, witness
from cell_chain.batches import workflow as batch_rules
from cell_chain.batches.models import Dose
from cell_chain.core import audit
from cell_chain.core.db import lock_row
from cell_chain.core.errors import InvalidTransition, ReasonRequired, ValidationFailed
from cell_chain.patients.allocation import active_allocation_of_dose
from cell_chain.shipments import custody
from cell_chain.shipments.errors import NotInCustody
from cell_chain.shipments.parties import Party
from cell_chain.web.words import N_

LIFE = batch_rules.DOSE_LIFECYCLE
PHARMACY_ACTIONS = ("thaw", "dispense", "destroy", "return")


def dose_site_code(dose: Dose) -> str | None:
    """The site a dose belongs to: its patient's (allocation decides where it may go)."""
    allocation = active_allocation_of_dose(dose)
    return allocation.visit.patient.site.code if allocation else None


def _in_my_custody(dose: Dose, actor: User) -> str:
    site_code = actor.site.code if actor.site else None
    held_by = custody.current_custodian(dose)
    if not Party.parse(held_by).held_at_site(site_code):
        raise NotInCustody(f"Dose {dose.code} is held by {held_by}, not by your pharmacy.")
    return site_code


def _reason(reason: str | None) -> str:
    if not reason or not reason.strip():
        raise ReasonRequired("Give the reason (field 'reason').")
    return reason.strip()


def thaw(dose: Dose, *, thawed_at: datetime, actor: User, now: datetime) -> Dose:
    """Record the thaw of a cryopreserved dose: it must now be infused within the post-thaw
    window, so its expiry becomes the earlier of the two."""
    require_role(actor, LIFE.roles("thaw"))
    lock_row(dose)
    _in_my_custody(dose, actor)
    if dose.lot.presentation != "cryopreserved" or dose.lot.post_thaw_hours is None:
        raise InvalidTransition(f"Dose {dose.code} is fresh product: there is nothing to thaw.")
    if dose.thawed_at is not None:
        raise InvalidTransition(f"Dose {dose.code} was already thawed at {dose.thawed_at:%Y-%m-%d %H:%M} UTC.")
    if not LIFE.can("thaw", dose.status):
        raise InvalidTransition(f"Dose {dose.code} is {dose.status}: only a dose in the pharmacy is thawed.")
    if thawed_at > now or thawed_at < now - timedelta(hours=dose.lot.post_thaw_hours):
        raise ValidationFailed({"thawed_at": [N_("The thaw time must be within the post-thaw window before now.")]})
    dose.thawed_at = thawed_at
    dose.expires_at = min(dose.expires_at, (thawed_at + timedelta(hours=dose.lot.post_thaw_hours))
                          .replace(second=0, microsecond=0))
    audit.record_change(dose, "dose.thawed", actor=actor, at=now)
    return dose


def dispense(dose: Dose, *, to: str, actor: User, now: datetime) -> Dose:
    """Hand the dose to the nurse who takes it to the ward: custody pharmacy → ward."""
    require_role(actor, LIFE.roles("dispense"))
    lock_row(dose)
    site_code = _in_my_custody(dose, actor)
    if not LIFE.can("dispense", dose.status):
        raise InvalidTransition(f"Dose {dose.code} is {dose.status}: only a received dose is dispensed.")
    if batch_rules.is_expired(dose.expires_at, now):
        raise InvalidTransition(f"Dose {dose.code} expired at {dose.expires_at:%Y-%m-%d %H:%M} UTC.")
    nurse = user_by_username(to or "")
    if nurse is None or nurse.role != Role.NURSE or nurse.site_id != actor.site_id or not nurse.active:
        raise ValidationFailed({"to": [N_("Give the username of an active nurse at your site.")]})
    LIFE.apply(dose, "dispense")
    audit.record_change(dose, "dose.dispensed", actor=actor, at=now)
    custody.record_handover(dose, kind="dispense", to_party=custody.ward_party(site_code, nurse.username),
                            place=actor.site.name, actor=actor, now=now)
    return dose


def destroy(dose: Dose, *, reason: str | None, signature: SignatureInput, witnessed_by: WitnessInput,
            actor: User, now: datetime) -> Dose:
    """Destroy a dose at the site (reason, e-signature and a witness)."""
    require_role(actor, LIFE.roles("destroy"))
    why = _reason(reason)
    lock_row(dose)
    site_code = _in_my_custody(dose, actor)
    if not LIFE.can("destroy", dose.status):
        raise InvalidTransition(f"Dose {dose.code} is {dose.status}: it cannot be destroyed here.")
    LIFE.apply(dose, "destroy")
    audit.record_change(dose, "dose.destroyed", actor=actor, at=now, reason=why)
    custody.record_handover(dose, kind="destroy", to_party=str(Party.destroyed(site_code)), place=actor.site.name,
                            actor=actor, now=now, condition=why)
    signed = sign(dose, signer=actor, given=signature, meaning=Meaning.DESTROYED, at=now)
    witness(dose, given=witnessed_by, signer_signature=signed,
            allowed_roles={Role.PHARMACIST, Role.NURSE}, at=now)
    return dose


def return_to_manufacturer(dose: Dose, *, reason: str | None, signature: SignatureInput, actor: User,
                           now: datetime) -> Dose:
    """Send a dose back to the manufacturer (reason, e-signature): custody pharmacy → lab."""
    require_role(actor, LIFE.roles("return"))
    why = _reason(reason)
    lock_row(dose)
    _in_my_custody(dose, actor)
    if not LIFE.can("return", dose.status):
        raise InvalidTransition(f"Dose {dose.code} is {dose.status}: it cannot be returned.")
    LIFE.apply(dose, "return")
    audit.record_change(dose, "dose.returned", actor=actor, at=now, reason=why)
    custody.record_handover(dose, kind="return", to_party=custody.lab_party(), place=actor.site.name,
                            actor=actor, now=now, condition=why)
    sign(dose, signer=actor, given=signature, meaning=Meaning.RETURNED, at=now)
    return dose


def can_thaw(dose: Dose) -> bool:
    """Only cryopreserved product is thawed, once."""
    return (dose.lot.presentation == "cryopreserved" and dose.lot.post_thaw_hours is not None
            and dose.thawed_at is None)


def dose_actions(dose: Dose, role: str, now: datetime) -> list[str]:
    """What this role may do to a dose held by its pharmacy now: the dose's table, then the
    facts each action needs (the services refuse on the same rules)."""
    facts = {"thaw": can_thaw(dose), "dispense": not batch_rules.is_expired(dose.expires_at, now)}
    return [action for action in PHARMACY_ACTIONS
            if LIFE.allowed(action, dose.status, role) and facts.get(action, True)]
