"""Recognising our dose labels: the bag label's Data Matrix names one dose; a DIN alone
names a lot."""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from cell_chain.batches.models import Dose, Lot
from cell_chain.batches.workflow import dose_expiry
from cell_chain.core.db import db
from cell_chain.core.isbt128 import Isbt128Error, parse
from cell_chain.core.scanning import Identified, Scan, UnrecognizedBarcode, register_recogniser
from cell_chain.labels.payloads import bag_payloads, printed_bag_compound
from cell_chain.core.messages import _l


def _identify(text: str) -> Identified | None:
    if not text.startswith(("=", "&")):
        return None
    try:
        parsed = parse(text)
    except Isbt128Error as error:
        raise UnrecognizedBarcode(_l("Not a label we print: %(error)s.", error=error)) from None
    if parsed.label == "bag":
        return Identified("dose", parsed.payload, (parsed.din.code, parsed.dose_number.number), "bag", parsed)
    if parsed.kind == "din":
        return Identified("lot", parsed.payload, parsed.din.code, None, parsed)
    return None  # assignment labels are read by the patients' recogniser


def _find(identified: Identified) -> Scan:
    if identified.kind == "lot":
        return Scan("lot", identified.payload, db.session.scalar(select(Lot).where(Lot.din == identified.key)))
    dose = db_dose(*identified.key)
    if dose is not None and not bag_label_matches(identified.payload, dose):
        dose = None
    return Scan("dose", identified.payload, dose, label="bag")


def db_dose(din: str, number: int) -> Dose | None:
    return db.session.scalar(select(Dose).join(Lot, Dose.lot_id == Lot.id)
                             .where(Lot.din == din, Dose.number == number))


@dataclass(frozen=True)
class LabelLot:
    """The lot fields a bag label is printed from, when a query loaded values, not a Lot."""

    din: str
    product_code: str
    shelf_life_hours: int | None
    shelf_life_months: int | None


@dataclass(frozen=True)
class LabelDose:
    """The dose fields a bag label is printed from (same names as on Dose)."""

    lot: LabelLot
    number: int
    division: str
    prepared_at: datetime
    expires_at: datetime


def bag_label_matches(payload: str, dose: Dose | LabelDose) -> bool:
    """The whole message must be one this dose's bag label carries (expiry included), or it
    is not its label. The printed bag label keeps the pre-thaw expiry; after a thaw the
    record's expiry is earlier, and both name the same dose."""
    # Duck-typed: the label is built by the one function that prints it.
    if payload == bag_payloads(dose).compound:  # type: ignore[arg-type]
        return True
    original = dose_expiry(dose.prepared_at, shelf_life_hours=dose.lot.shelf_life_hours,
                           shelf_life_months=dose.lot.shelf_life_months)
    return payload == printed_bag_compound(dose, original)  # type: ignore[arg-type]


register_recogniser(_identify, _find)
