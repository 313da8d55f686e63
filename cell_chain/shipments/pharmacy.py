"""Site pharmacy actions on doses in its custody: thaw, dispense to the ward, destroy, return;
and which of them a dose allows now (the dose's life cycle, then the facts each action needs)."""
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

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
from cell_chain.core.scanning import read_scan
from cell_chain.patients.allocation import active_allocation_of_dose
from cell_chain.shipments import custody
from cell_chain.shipments.errors import AwaitingQaDecision, BagMismatch, NotInCustody
from cell_chain.shipments.parties import Party
from cell_chain.shipments.temperature_data import DoseJourney, journey_of, require_temperature_data
from cell_chain.web.words import N_
from cell_chain.core.messages import _l, state

LIFE = batch_rules.DOSE_LIFECYCLE
# The dose's next step on its way to the patient: the page's main action.
MAIN_ACTIONS = ("thaw", "dispense")
# Taking the dose out of use: offered apart from the main action, never beside it.
DISPOSAL_ACTIONS = ("destroy", "return")
PHARMACY_ACTIONS = MAIN_ACTIONS + DISPOSAL_ACTIONS


@dataclass(frozen=True)
class DoseFacts:
    """What the pharmacy's rules need to know of a dose, beyond its state."""

    status: str
    expired: bool
    frozen: bool  # cryopreserved and not thawed yet
    journey: DoseJourney
    quarantine_cause: str | None = None

    @property
    def awaiting_qa(self) -> bool:
        """Quarantined for an excursion QA has not decided on: QA's decision comes first. A
        recall, a rejected lot or excursion, a broken seal or an expiry is a settled reason."""
        return (self.status == "quarantined" and self.quarantine_cause == "excursion"
                and self.journey.open_excursion and not self.expired)


def action_blockers(action: str, facts: DoseFacts) -> list[str]:
    """Why the action cannot be taken now, as codes (empty: the facts allow it). The state and
    the role are the dose life cycle's to decide; these are the facts on top."""
    blockers = []
    if action == "thaw":
        if not facts.frozen:
            blockers.append("NOT_FROZEN")
        # Past its expiry a dose is not prepared for a patient: only destroyed or returned.
        if facts.expired:
            blockers.append("DOSE_EXPIRED")
    if action == "dispense":
        if facts.expired:
            blockers.append("DOSE_EXPIRED")
        if not facts.journey.temperature_known:
            blockers.append("TEMPERATURE_DATA_MISSING")
    if action in DISPOSAL_ACTIONS and facts.awaiting_qa:
        blockers.append("AWAITING_QA_DECISION")
    return blockers


def actions_for(facts: DoseFacts, role: str) -> list[str]:
    """What this role may do to a dose held by its pharmacy now: the dose life cycle's actions
    for its state and the role, less those the facts block. Pages draw exactly these."""
    return [action for action in LIFE.actions_for(facts.status, role)
            if action in PHARMACY_ACTIONS and not action_blockers(action, facts)]


def blocked_actions(facts: DoseFacts, role: str) -> dict[str, list[str]]:
    """The actions the dose's state and the role would allow but the facts hold back, with why
    (the page says it in words: the logger file to upload, QA's decision to wait for)."""
    return {action: blockers for action in LIFE.actions_for(facts.status, role)
            if action in PHARMACY_ACTIONS and (blockers := action_blockers(action, facts))}


def facts_of(dose: Dose, now: datetime, journey: DoseJourney | None = None) -> DoseFacts:
    return DoseFacts(status=dose.status, expired=batch_rules.is_expired(dose.expires_at, now),
                     frozen=can_thaw(dose), journey=journey if journey is not None else journey_of(dose.id),
                     quarantine_cause=dose.quarantine_cause)


def dose_site_code(dose: Dose) -> str | None:
    """The site a dose belongs to: its patient's (allocation decides where it may go)."""
    allocation = active_allocation_of_dose(dose)
    return allocation.visit.patient.site.code if allocation else None


def _in_my_custody(dose: Dose, actor: User) -> str:
    site_code = actor.site.code if actor.site else None
    held_by = custody.current_custodian(dose)
    if not Party.parse(held_by).held_at_site(site_code):
        raise NotInCustody(_l("Dose %(code)s is held by %(holder)s, not by your pharmacy.", code=dose.code, holder=held_by))
    return site_code


def _reason(reason: str | None) -> str:
    if not reason or not reason.strip():
        raise ReasonRequired(_l("Give the reason (field 'reason')."))
    return reason.strip()


def thaw(dose: Dose, *, thawed_at: datetime, actor: User, now: datetime) -> Dose:
    """Record the thaw of a cryopreserved dose at its real time: it must be infused within
    the post-thaw window, so its expiry becomes the earlier of the two. A thaw recorded late
    is recorded all the same; if its window has passed the dose is expired from then on (it
    can only be destroyed or returned)."""
    require_role(actor, LIFE.roles("thaw"))
    lock_row(dose)
    _in_my_custody(dose, actor)
    if dose.lot.presentation != "cryopreserved" or dose.lot.post_thaw_hours is None:
        raise InvalidTransition(_l("Dose %(code)s is fresh product: there is nothing to thaw.", code=dose.code))
    if dose.thawed_at is not None:
        raise InvalidTransition(_l("Dose %(code)s was already thawed at %(time)s.", code=dose.code, time=dose.thawed_at))
    if not LIFE.can("thaw", dose.status):
        raise InvalidTransition(_l("Dose %(code)s is %(status)s: only a dose in the pharmacy is thawed.", code=dose.code,
                                   status=state(dose.status)))
    if thawed_at > now:
        raise ValidationFailed({"thawed_at": [N_("The thaw time is in the future: give the time the thaw ended.")]})
    if thawed_at < datetime.combine(dose.lot.manufactured_on, time(), UTC):
        raise ValidationFailed({"thawed_at": [N_("The thaw time is before the dose's lot was made: check the date.")]})
    dose.thawed_at = thawed_at
    dose.expires_at = min(dose.expires_at, (thawed_at + timedelta(hours=dose.lot.post_thaw_hours))
                          .replace(second=0, microsecond=0))
    late = batch_rules.is_expired(dose.expires_at, now)
    audit.record_change(dose, "dose.thawed", actor=actor, at=now,
                        reason=f"thaw recorded late: the post-thaw window ended at {dose.expires_at:%Y-%m-%d %H:%M} "
                               "UTC, the dose is expired" if late else None)
    return dose


def confirm_bag(dose: Dose, scan: str) -> None:
    """The bag in the pharmacist's hand is this dose: its bag or assignment label, scanned.
    Raises UnrecognizedBarcode, BagMismatch."""
    found = read_scan(scan)
    if found.kind != "dose" or found.obj is None or found.obj.id != dose.id:
        named = f"dose {found.obj.code}" if found.kind == "dose" and found.obj is not None else f"a {found.kind} label"
        raise BagMismatch(_l("The label scanned is %(named)s, not dose %(code)s. Take the bag of dose %(code)s "
                             "and scan it again.", named=named, code=dose.code))


def dispense(dose: Dose, *, to: str, actor: User, now: datetime, bag_scan: str | None = None) -> Dose:
    """Hand the dose to the nurse who takes it to the ward: custody pharmacy → ward. Only with
    the shipment's temperature known (logger file or QA waiver); `bag_scan`, when given, must
    name this dose. Raises InvalidTransition, TemperatureDataMissing, BagMismatch."""
    require_role(actor, LIFE.roles("dispense"))
    lock_row(dose)
    site_code = _in_my_custody(dose, actor)
    if not LIFE.can("dispense", dose.status):
        raise InvalidTransition(_l("Dose %(code)s is %(status)s: only a received dose is dispensed.", code=dose.code,
                                   status=state(dose.status)))
    if batch_rules.is_expired(dose.expires_at, now):
        raise InvalidTransition(_l("Dose %(code)s expired at %(time)s: destroy or return it.", code=dose.code,
                                   time=dose.expires_at))
    require_temperature_data(journey_of(dose.id), dose.code)
    if bag_scan is not None:
        confirm_bag(dose, bag_scan)
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
        raise InvalidTransition(_l("Dose %(code)s is %(status)s: it cannot be destroyed here.", code=dose.code,
                                   status=state(dose.status)))
    _settled(dose, now)
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
        raise InvalidTransition(_l("Dose %(code)s is %(status)s: it cannot be returned.", code=dose.code,
                                   status=state(dose.status)))
    _settled(dose, now)
    LIFE.apply(dose, "return")
    audit.record_change(dose, "dose.returned", actor=actor, at=now, reason=why)
    custody.record_handover(dose, kind="return", to_party=custody.lab_party(), place=actor.site.name,
                            actor=actor, now=now, condition=why)
    sign(dose, signer=actor, given=signature, meaning=Meaning.RETURNED, at=now)
    return dose


def _settled(dose: Dose, now: datetime) -> None:
    if facts_of(dose, now).awaiting_qa:
        raise AwaitingQaDecision(_l("Dose %(code)s is quarantined until QA decides on the temperature excursion: "
                                    "it is destroyed or returned only after QA's decision.", code=dose.code))


def can_thaw(dose: Dose) -> bool:
    """Only cryopreserved product is thawed, once."""
    return (dose.lot.presentation == "cryopreserved" and dose.lot.post_thaw_hours is not None
            and dose.thawed_at is None)


def dose_actions(dose: Dose, role: str, now: datetime, journey: DoseJourney | None = None) -> list[str]:
    """What this role may do to a dose held by its pharmacy now (see actions_for)."""
    return actions_for(facts_of(dose, now, journey), role)
