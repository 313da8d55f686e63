"""Recognising the shipment label."""
import re

from sqlalchemy import select

from cell_chain.core.db import db
from cell_chain.core.scanning import Identified, Scan, register_recogniser
from cell_chain.shipments.models import Shipment

SHIPMENT_CODE = re.compile(r"SHP-[A-Z]{2,8}-[0-9A-F]{6}")


def _identify(text: str) -> Identified | None:
    if not SHIPMENT_CODE.fullmatch(text):
        return None
    return Identified("shipment", text, text)


def _find(identified: Identified) -> Scan:
    shipment = db.session.scalar(select(Shipment).where(Shipment.code == identified.key))
    return Scan("shipment", identified.payload, shipment)


register_recogniser(_identify, _find)
