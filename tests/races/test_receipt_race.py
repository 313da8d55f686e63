"""Two pharmacists receive the same box at once: one receipt is recorded, and both are given
its result (receipt is idempotent), never a second set of custody events."""
from sqlalchemy import func, select

from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.accounts.signatures import signatures_for
from cell_chain.labels.payloads import bag_payloads
from cell_chain.shipments import services
from cell_chain.shipments.models import CustodyEvent, Shipment
from tests.conftest import PASSWORD
from tests.factories import shippable_doses, signed
from tests.races.conftest import ROUNDS, assert_chain_linear, audit_count, race, tokens


def _dispatched(staff, round_: int) -> tuple[int, list[str]]:
    doses = shippable_doses(staff, count=2, lot_number=f"L-RACE-RCV-{round_}")
    now = utcnow()
    shipment = services.create_shipment(site_code="LZ", storage="cryo", actor=staff.lab, now=now)
    scans = [bag_payloads(d).compound for d in doses]
    for scan in scans:
        services.pack_dose(shipment, scan=scan, actor=staff.lab, now=now)
    services.dispatch(shipment, courier="ColdChain", logger_id="QT-1", signature=signed(), actor=staff.lab, now=now)
    db.session.commit()
    return shipment.id, scans


def test_double_receipt_is_recorded_once(app, ward, staff):
    first, second = tokens(app, "lz-pharmacist", "lz-pharmacist2")
    for round_ in range(ROUNDS):
        shipment_id, scans = _dispatched(staff, round_)
        body = {"scans": scans, "seal_intact": True, "signature": {"password": PASSWORD}}
        path = f"/api/shipments/{shipment_id}/receive"
        answers = race(app, [lambda c: c.post(path, headers=first, json=body),
                             lambda c: c.post(path, headers=second, json=body)])
        assert [a.status for a in answers] == [200, 200], (round_, answers)
        assert answers[0].body == answers[1].body  # the loser is given the recorded receipt
        assert answers[0].body["status"] == "received" and len(answers[0].body["accepted"]) == 2
        receipts = select(func.count()).select_from(CustodyEvent).where(
            CustodyEvent.shipment_id == shipment_id, CustodyEvent.kind == "receipt")
        assert db.session.scalar(receipts) == 2  # one per dose, not per pharmacist
        shipment = db.session.get(Shipment, shipment_id)
        assert [s.meaning for s in signatures_for(shipment)].count("Received") == 1
        assert audit_count("shipment.received", "shipments", str(shipment_id)) == 1
    assert_chain_linear()
