"""Packing in place (POST /api/shipments/<id>/pack-scans): each scan answered in words with
the packed dose's row; a second scan of a packed dose changes nothing and writes no event."""
from sqlalchemy import func, select

from cell_chain.core.audit import AuditEvent
from cell_chain.core.db import db
from tests.conftest import api_token
from tests.factories import shippable_doses
from tests.shipments.conftest import new_shipment, scan_of


def _events() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


def test_each_pack_scan_is_answered_and_a_duplicate_changes_nothing(client, staff, sites):
    first, second = shippable_doses(staff, count=2)
    shipment = new_shipment(staff)
    lab = api_token(client, "lab")
    url = f"/api/shipments/{shipment.id}/pack-scans"

    body = client.post(url, headers=lab, json={"scan": scan_of(first) + "\r\n"}).get_json()
    assert (body["outcome"], body["tone"], body["code"], body["doses_in_box"]) == ("packed", "ok", None, 1)
    assert body["title"].startswith(f"PACKED: dose {first.code} for LZ-")
    assert body["detail"] == "1 dose in the box. Scan the next one."
    assert body["dose"]["code"] == first.code and body["dose"]["status"] == "packed"
    assert body["dose"]["chain_unbroken"] is True and body["shipment_status"] == "packed"
    body = client.post(url, headers=lab, json={"scan": scan_of(second)}).get_json()
    assert body["doses_in_box"] == 2 and body["detail"] == "2 doses in the box. Scan the next one."
    events = _events()

    again = client.post(url, headers=lab, json={"scan": scan_of(first)})
    assert again.status_code == 200
    again = again.get_json()
    assert (again["outcome"], again["tone"], again["code"]) == ("refused", "stop", "PACK_DUPLICATE")
    assert again["title"] == "NOT PACKED: Already in this box" and again["dose"] is None
    assert again["doses_in_box"] == 2 and _events() == events

    garbage = client.post(url, headers=lab, json={"scan": "hello"}).get_json()
    assert (garbage["code"], garbage["title"]) == ("UNRECOGNIZED_BARCODE", "NOT PACKED: Not a dose label")
    assert "hello" not in garbage["detail"]
    db.session.expire_all()
    assert [i.dose.code for i in shipment.items] == [first.code, second.code]


def test_only_the_lab_packs_and_bad_input_is_a_clear_4xx(client, staff, sites):
    [dose] = shippable_doses(staff)
    shipment = new_shipment(staff)
    scan = {"scan": scan_of(dose)}
    for who in ("qa", "lz-pharmacist"):
        assert client.post(f"/api/shipments/{shipment.id}/pack-scans", headers=api_token(client, who),
                           json=scan).status_code == 403
    lab = api_token(client, "lab")
    assert client.post("/api/shipments/999/pack-scans", headers=lab, json=scan).status_code == 404
    assert client.post(f"/api/shipments/{shipment.id}/pack-scans", headers=lab, json={}).status_code == 422
    db.session.expire_all()
    assert dose.status == "allocated" and not shipment.items
