"""Recognising the shipment label."""
import re

from sqlalchemy import select

from cell_chain.core.db import db
from cell_chain.scanning import Scan, register_recogniser
from cell_chain.shipments.models import Shipment

SHIPMENT_CODE = re.compile(r"SHP-[A-Z]{2,8}-[0-9A-F]{6}")


def _shipment(text: str) -> Scan | None:
    if not SHIPMENT_CODE.fullmatch(text):
        return None
    return Scan("shipment", text, db.session.scalar(select(Shipment).where(Shipment.code == text)))


register_recogniser(_shipment)
