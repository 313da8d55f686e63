"""Print-then-scan: a label counts as applied only when scanned back and matching."""
import pytest
from sqlalchemy import select

from cell_chain.batches import services as batches
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.labels import services
from cell_chain.labels.models import LabelVerification
from cell_chain.labels.payloads import bag_payloads
from tests.factories import make_donor, make_lot, signed
from tests.conftest import api_token


@pytest.fixture
def lot(staff):
    return make_lot(staff, make_donor(staff), doses=2, verify_labels=False)


def test_matching_scan_verifies_and_a_released_dose_becomes_available(client, staff, lot):
    batches.release_lot(lot, signature=signed(), actor=staff.qa, now=utcnow())
    db.session.commit()
    dose = lot.doses[0]
    assert dose.status == "prepared"  # released, but its label was never scanned back
    lab = api_token(client, "lab")
    unprinted = client.post(f"/api/doses/{dose.code}/label-verification", headers=lab,
                            json={"scan": bag_payloads(dose).compound})
    assert unprinted.status_code == 409 and unprinted.get_json()["code"] == "LABEL_NOT_PRINTED"
    assert client.post("/api/print-jobs", headers=lab, json={"kind": "lot", "target": str(lot.id)}).status_code == 201
    r = client.post(f"/api/doses/{dose.code}/label-verification", headers=lab,
                    json={"scan": bag_payloads(dose).compound + "\r\n"})
    assert r.status_code == 200 and r.get_json() == {"verified": True, "label": "bag"}
    db.session.expire_all()
    assert dose.status == "available" and dose.bag_label_verified_at is not None
    detail = client.get(f"/api/doses/{dose.code}", headers=lab).get_json()
    assert detail["bag_label_verified"] and detail["barcodes"]["compound"] == bag_payloads(dose).compound


def test_another_doses_label_is_a_recorded_mismatch(client, staff, lot):
    first, second = lot.doses
    lab = api_token(client, "lab")
    r = client.post(f"/api/doses/{first.code}/label-verification", headers=lab,
                    json={"scan": bag_payloads(second).compound})
    assert r.status_code == 409 and r.get_json()["code"] == "LABEL_MISMATCH"
    [record] = db.session.scalars(select(LabelVerification)).all()
    assert (record.matched, record.code, record.dose_id) == (False, "LABEL_MISMATCH", first.id)
    db.session.expire_all()
    assert first.bag_label_verified_at is None


@pytest.mark.parametrize("scan", ["garbage", "=A99992600000100", "", "=+04000"])
def test_garbage_or_partial_scans_never_verify(client, staff, lot, scan):
    dose = lot.doses[0]
    lab = api_token(client, "lab")
    r = client.post(f"/api/doses/{dose.code}/label-verification", headers=lab, json={"scan": scan})
    assert r.status_code in (409, 422)
    db.session.expire_all()
    assert dose.bag_label_verified_at is None


def test_din_alone_is_not_enough(client, staff, lot):
    dose = lot.doses[0]
    r = client.post(f"/api/doses/{dose.code}/label-verification", headers=api_token(client, "lab"),
                    json={"scan": bag_payloads(dose).din.payload})
    assert r.status_code == 409


def test_unverified_label_blocks_packing(staff, lot):
    dose = lot.doses[0]
    assert not services.labels_verified(dose)
    services.print_labels(kind="dose", target=dose.code, fmt="zpl", reason=None, override=None,
                          actor=staff.lab, now=utcnow())
    services.verify_label(dose, scan=bag_payloads(dose).compound, actor=staff.lab, now=utcnow())
    assert dose.bag_label_verified_at is not None
    # still not packable: a dose ships only with its verified assignment label too
    # (the whole flow is in tests/infusions/test_allocation.py)
    assert not services.labels_verified(dose)
