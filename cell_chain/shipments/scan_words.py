"""Where a scanned dose is: its lot, the shipment it last travelled in and whether it is at
the reader's site, so a scan screen can name a stray bag in words instead of its payload."""
import re
from dataclasses import dataclass

from flask_babel import gettext
from sqlalchemy import select

from cell_chain.batches.models import Dose
from cell_chain.core.db import db
from cell_chain.core.scanning import UnrecognizedBarcode, identify_scan
from cell_chain.shipments.models import Shipment, ShipmentItem

# A shipment item counts as "here" once the site took it in (quarantined doses are here too).
_RECEIVED = ("accepted", "quarantined")


@dataclass(frozen=True)
class DoseWhereabouts:
    dose_code: str
    lot_number: str
    shipment_code: str | None
    at_this_site: bool | None  # None for central roles, who have no site


def dose_whereabouts(dose: Dose, *, site_id: int | None) -> DoseWhereabouts:
    """One statement: the newest shipment the dose was packed in, and its receipt."""
    row = db.session.execute(
        select(Shipment.code, Shipment.site_id, ShipmentItem.receipt)
        .join(ShipmentItem, ShipmentItem.shipment_id == Shipment.id)
        .where(ShipmentItem.dose_id == dose.id).order_by(ShipmentItem.id.desc()).limit(1)).first()
    here: bool | None = None
    if site_id is not None:
        here = row is not None and row.site_id == site_id and row.receipt in _RECEIVED
    return DoseWhereabouts(dose.code, dose.lot.lot_number, row.code if row else None, here)


_DOSE_CODE = re.compile(r"[A-Z0-9]{13}-[0-9]{6}")


def unexpected_words(recorded: str) -> str:
    """An unexpected item of a receipt in words: a known dose is recorded by its code, any
    other scan by its payload, which is named by what it looks like, never shown raw."""
    if _DOSE_CODE.fullmatch(recorded):
        return gettext("Dose %(code)s", code=recorded)
    try:
        identified = identify_scan(recorded)
    except UnrecognizedBarcode:
        return gettext("Not a label we print")
    if identified.kind == "patient":
        return gettext("Wristband of patient %(subject_id)s", subject_id=identified.key)
    if identified.kind == "shipment":
        return gettext("Shipment label %(code)s", code=identified.key)
    if identified.kind == "lot":
        return gettext("A lot's DIN label")
    return gettext("A dose label this pharmacy does not know")
