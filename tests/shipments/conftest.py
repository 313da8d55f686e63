"""Two hospitals with their staff, and boxes of doses: new, packed, dispatched."""
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from flask.testing import FlaskClient

from cell_chain.batches.models import Dose
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.labels.payloads import bag_payloads
from cell_chain.shipments import services
from cell_chain.shipments.models import Shipment
from tests.conftest import make_site, make_user
from tests.factories import Staff, signed
from tests.pages import logged_in


@pytest.fixture
def sites(app: Any) -> None:
    for code in ("LZ", "BJ"):
        make_site(code)
        make_user(f"{code.lower()}-coordinator", "coordinator", code)
        make_user(f"{code.lower()}-pharmacist", "pharmacist", code)
        make_user(f"{code.lower()}-pharmacist2", "pharmacist", code)
        make_user(f"{code.lower()}-nurse", "nurse", code)


@pytest.fixture
def as_user(app: Any, sites: None, staff: Staff) -> Callable[[str], FlaskClient]:
    """A logged-in client per username, each with its own cookie jar."""
    return partial(logged_in, app)


def new_shipment(staff: Staff, site: str = "LZ", storage: str = "cryo") -> Shipment:
    shipment = services.create_shipment(site_code=site, storage=storage, actor=staff.lab, now=utcnow())
    db.session.commit()
    return shipment


def scan_of(dose: Dose) -> str:
    return bag_payloads(dose).compound


def packed(staff: Staff, doses: list[Dose], site: str = "LZ") -> Shipment:
    shipment = new_shipment(staff, site)
    for dose in doses:
        services.pack_dose(shipment, scan=scan_of(dose), actor=staff.lab, now=utcnow())
    db.session.commit()
    return shipment


def dispatched(staff: Staff, doses: list[Dose], site: str = "LZ", hours_ago: float = 0) -> Shipment:
    shipment = packed(staff, doses, site)
    services.dispatch(shipment, courier="ColdChain Express", logger_id="QT-1", signature=signed(),
                      actor=staff.lab, now=utcnow() - timedelta(hours=hours_ago))
    db.session.commit()
    return shipment
