"""Recognising our dose labels: the bag label's Data Matrix names one dose; a DIN alone
names a lot."""
from sqlalchemy import select

from cell_chain.batches.models import Dose, Lot
from cell_chain.core.isbt128 import Isbt128Error, parse
from cell_chain.scanning import Scan, UnrecognizedBarcode, register_recogniser


def _recognise(text: str) -> Scan | None:
    if not text.startswith(("=", "&")):
        return None
    try:
        parsed = parse(text)
    except Isbt128Error as error:
        raise UnrecognizedBarcode(f"Not a label we print: {error}.") from None
    if parsed.label == "bag":
        dose = db_dose(parsed.din.code, parsed.dose_number.number)
        # The whole message must be one this dose's bag label carries (expiry included), or it
        # is not its label.
        if dose is not None and parsed.payload not in _bag_compounds(dose):
            dose = None
        return Scan("dose", parsed.payload, dose, label="bag")
    if parsed.kind == "din":
        from cell_chain.core.db import db

        lot = db.session.scalar(select(Lot).where(Lot.din == parsed.din.code))
        return Scan("lot", parsed.payload, lot)
    return None  # assignment labels are read by the patients' recogniser


def db_dose(din: str, number: int) -> Dose | None:
    from cell_chain.core.db import db

    return db.session.scalar(select(Dose).join(Lot, Dose.lot_id == Lot.id)
                             .where(Lot.din == din, Dose.number == number))


def _bag_compounds(dose: Dose) -> set[str]:
    """The printed bag label keeps the pre-thaw expiry; after a thaw the record's expiry is
    earlier, and both name the same dose."""
    from cell_chain.batches.workflow import dose_expiry
    from cell_chain.labels.payloads import bag_payloads, printed_bag_compound

    original = dose_expiry(dose.prepared_at, shelf_life_hours=dose.lot.shelf_life_hours,
                           shelf_life_months=dose.lot.shelf_life_months)
    return {bag_payloads(dose).compound, printed_bag_compound(dose, original)}


register_recogniser(_recognise)
