"""The rule that a shipment's doses are dispensed only when its temperature is known: its
logger file is recorded, or QA waived it (reason, e-signature). One place for the rule, the
waiver and what the pages and the API say about it."""
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, select

from cell_chain.accounts.models import User
from cell_chain.accounts.permissions import require_role
from cell_chain.accounts.signatures import Meaning, SignatureInput, sign
from cell_chain.core import audit
from cell_chain.core.db import db, lock_row
from cell_chain.core.errors import ReasonRequired
from cell_chain.shipments.errors import ShipmentState, TemperatureDataMissing, TemperatureDataPresent
from cell_chain.shipments.models import Excursion, Shipment, ShipmentItem, TemperatureRecord, TemperatureWaiver
from cell_chain.shipments.workflow import SHIPMENT_LIFECYCLE
from cell_chain.core.messages import _l, state

RECORDED, WAIVED, MISSING = "recorded", "waived", "missing"


@dataclass(frozen=True)
class DoseJourney:
    """The shipment that brought a dose to its site, and what is known of its temperature."""

    shipment_id: int | None
    shipment_code: str | None
    temperature: str  # recorded | waived | missing
    open_excursion: bool = False

    @property
    def temperature_known(self) -> bool:
        return self.temperature != MISSING


NO_JOURNEY = DoseJourney(None, None, MISSING)


def temperature_status(*, recorded: bool, waived: bool) -> str:
    """A logger file wins over a waiver: the data is what happened."""
    return RECORDED if recorded else WAIVED if waived else MISSING


def journeys_of(dose_ids: Iterable[int]) -> dict[int, DoseJourney]:
    """Each dose's latest shipment with its temperature status and open excursions, in one
    query however many doses (the inventory lists them all)."""
    ids = list(dose_ids)
    if not ids:
        return {}
    latest = (select(ShipmentItem.dose_id, func.max(ShipmentItem.id).label("item_id"))
              .where(ShipmentItem.dose_id.in_(ids), ShipmentItem.removed_at.is_(None))
              .group_by(ShipmentItem.dose_id).subquery())
    recorded = exists().where(TemperatureRecord.shipment_id == Shipment.id)
    waived = exists().where(TemperatureWaiver.shipment_id == Shipment.id)
    open_excursion = exists().where(Excursion.shipment_id == Shipment.id, Excursion.status == "open")
    stmt = (select(latest.c.dose_id, Shipment.id, Shipment.code, recorded, waived, open_excursion)
            .join(ShipmentItem, ShipmentItem.id == latest.c.item_id)
            .join(Shipment, Shipment.id == ShipmentItem.shipment_id))
    return {dose_id: DoseJourney(shipment_id, code, temperature_status(recorded=bool(rec), waived=bool(wai)),
                                 bool(open_one))
            for dose_id, shipment_id, code, rec, wai, open_one in db.session.execute(stmt)}


def journey_of(dose_id: int) -> DoseJourney:
    return journeys_of([dose_id]).get(dose_id, NO_JOURNEY)


def shipment_temperature(shipment: Shipment) -> str:
    recorded = db.session.scalar(select(exists().where(TemperatureRecord.shipment_id == shipment.id)))
    return temperature_status(recorded=bool(recorded), waived=waiver_of(shipment) is not None)


def waiver_of(shipment: Shipment) -> TemperatureWaiver | None:
    return db.session.scalar(select(TemperatureWaiver).where(TemperatureWaiver.shipment_id == shipment.id))


def require_temperature_data(journey: DoseJourney, dose_code: str) -> None:
    """Refuse to let a dose leave the pharmacy while nobody knows how its shipment travelled.
    Raises TemperatureDataMissing."""
    if journey.temperature_known:
        return
    if journey.shipment_code is None:
        raise TemperatureDataMissing(_l("Dose %(code)s came in no recorded shipment: its temperature is unknown.",
                                         code=dose_code))
    raise TemperatureDataMissing(
        _l("Shipment %(shipment)s has no temperature data: upload its logger file, or ask QA to waive it, "
           "before dose %(code)s is dispensed.", shipment=journey.shipment_code, code=dose_code),
        shipment_id=journey.shipment_id)


def waive_temperature_data(shipment: Shipment, *, reason: str | None, signature: SignatureInput, actor: User,
                           now: datetime) -> TemperatureWaiver:
    """QA lets the shipment's doses be dispensed without its logger file (lost or failed):
    reason and e-signature, audited. Raises ReasonRequired, ShipmentState, TemperatureDataPresent,
    SignatureInvalid."""
    require_role(actor, SHIPMENT_LIFECYCLE.roles("waive_temperature_data"))
    if not reason or not reason.strip():
        raise ReasonRequired(_l("Give the reason the temperature data is waived (field 'reason')."))
    lock_row(shipment)
    if not SHIPMENT_LIFECYCLE.can("waive_temperature_data", shipment.status):
        raise ShipmentState(_l("Shipment %(code)s has not left the lab: there is no journey to waive.", code=shipment.code))
    status = shipment_temperature(shipment)
    if status != MISSING:
        raise TemperatureDataPresent(_l("Shipment %(code)s's temperature data is already %(status)s.", code=shipment.code,
                                         status=state(status)))
    waiver = TemperatureWaiver(shipment_id=shipment.id, reason=reason.strip(), waived_by_id=actor.id, waived_at=now)
    audit.record_created(waiver, "shipment.temperature_waived", actor=actor, at=now, reason=waiver.reason)
    sign(waiver, signer=actor, given=signature, meaning=Meaning.WAIVED, at=now)
    return waiver
