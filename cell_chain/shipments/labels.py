"""The shipment label (code, destination, storage, dose count; Code 128 + QR)."""
from datetime import datetime

from sqlalchemy import select

from cell_chain.accounts.models import User
from cell_chain.accounts.roles import Role
from cell_chain.core.db import db
from cell_chain.core.errors import NotFound
from cell_chain.labels import rendering
from cell_chain.labels.services import LabelItem, LabelSource, NothingToPrint, register_label_source
from cell_chain.shipments.models import Shipment
from cell_chain.web.words import N_
from cell_chain.core.messages import _l

STORAGE_TEXT = {"2-8C": "Keep at 2–8 °C. Do not freeze.", "cryo": "Keep at ≤ −150 °C (dry shipper)."}


def _shipment_items(target: str, actor: User, now: datetime) -> list[LabelItem]:
    shipment = db.session.scalar(select(Shipment).where(Shipment.id == int(target))) \
        if target.isdigit() and len(target) < 10 else None
    if shipment is None:
        raise NotFound(N_("No such shipment."))
    if not shipment.items:
        raise NothingToPrint(_l("Shipment %(code)s is empty: pack its doses before printing the box label.",
                                 code=shipment.code))
    data = rendering.ShipmentLabel(shipment_code=shipment.code, site_name=shipment.site.name,
                                   site_code=shipment.site.code, storage=STORAGE_TEXT[shipment.storage],
                                   dose_count=len(shipment.items), payload=shipment.code)
    return [LabelItem(shipment.code, data, (shipment.code,))]


BOX_LABEL_SOURCE = register_label_source("shipment", LabelSource("shipment", (Role.LAB,), _shipment_items))
