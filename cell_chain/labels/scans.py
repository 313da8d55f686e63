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
        # The whole message must be this dose's current one (expiry included), or it is not its label.
        if dose is not None and _bag_compound(dose) != parsed.payload:
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


def _bag_compound(dose: Dose) -> str:
    from cell_chain.labels.payloads import bag_payloads

    return bag_payloads(dose).compound


register_recogniser(_recognise)
