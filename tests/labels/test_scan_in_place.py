"""Bag labels scanned back on the lot page in place (POST /api/lots/<id>/label-scans): each
scan answered in words; a label scanned again changes nothing and writes no second event."""
import pytest
from sqlalchemy import func, select

from cell_chain.core.audit import AuditEvent
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.labels import services
from cell_chain.labels.models import LabelVerification
from cell_chain.labels.payloads import bag_payloads
from tests.conftest import api_token, make_user
from tests.factories import released_lot


def _events() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


def _verifications() -> int:
    return db.session.scalar(select(func.count()).select_from(LabelVerification))


@pytest.fixture
def lot(staff):
    lot = released_lot(staff, "L-1", verify_labels=False)
    services.print_labels(kind="lot", target=str(lot.id), fmt="zpl", reason=None, override=None,
                          actor=staff.lab, now=utcnow())
    db.session.commit()
    return lot


def test_a_label_verified_again_changes_nothing_and_writes_no_second_event(staff, lot):
    dose = lot.doses[0]
    first = services.verify_label(dose, scan=bag_payloads(dose).compound, actor=staff.lab, now=utcnow())
    db.session.commit()
    assert first.matched and not isinstance(first, services.AlreadyVerified)
    verified_at, events, records = dose.bag_label_verified_at, _events(), _verifications()

    again = services.verify_label(dose, scan=bag_payloads(dose).compound, actor=staff.lab2, now=utcnow())
    db.session.commit()
    assert isinstance(again, services.AlreadyVerified) and again.matched and again.verified_at == verified_at
    db.session.expire_all()
    assert (_events(), _verifications()) == (events, records)
    assert dose.bag_label_verified_at == verified_at and dose.status == "available"


def test_the_lot_page_scan_api_answers_each_scan_in_words(client, staff, lot):
    first, second = lot.doses
    lab = api_token(client, "lab")
    url = f"/api/lots/{lot.id}/label-scans"

    answer = client.post(url, headers=lab, json={"scan": bag_payloads(first).compound + "\r\n"})
    assert answer.status_code == 200
    body = answer.get_json()
    assert (body["outcome"], body["tone"], body["code"]) == ("verified", "ok", None)
    assert body["title"] == f"VERIFIED: bag label of dose {first.code}"
    assert body["dose"] == {"code": first.code, "status": "available", "status_words": "available",
                            "status_tone": "ok", "label_verified": True}
    assert body["counts"]["verified"] == 1 and body["counts"]["waiting"] == [second.code]
    assert body["counts"]["text"].startswith("1 of 2 bag labels verified")
    events = _events()

    again = client.post(url, headers=lab, json={"scan": bag_payloads(first).compound}).get_json()
    assert (again["outcome"], again["tone"], again["code"]) == ("already_verified", "warn", "ALREADY_VERIFIED")
    assert again["title"] == f"ALREADY VERIFIED: bag label of dose {first.code}"
    assert again["counts"]["verified"] == 1
    assert _events() == events  # nothing written

    garbage = client.post(url, headers=lab, json={"scan": "hello"}).get_json()
    assert (garbage["outcome"], garbage["tone"], garbage["code"]) == ("refused", "stop", "UNRECOGNIZED_BARCODE")
    assert garbage["title"] == "NOT A DOSE LABEL" and "Scan the square Data Matrix" in garbage["detail"]


def test_a_label_of_another_lot_is_named_by_dose_and_lot_never_by_its_payload(client, staff, lot):
    other = released_lot(staff, "L-2", doses=1, verify_labels=False)
    stray = other.doses[0]
    payload = bag_payloads(stray).compound
    events = _events()
    body = client.post(f"/api/lots/{lot.id}/label-scans", headers=api_token(client, "lab"),
                       json={"scan": payload}).get_json()
    assert (body["outcome"], body["code"], body["dose"]) == ("refused", "LABEL_MISMATCH", None)
    assert f"names dose {stray.code} of lot L-2, not a dose of lot L-1" in body["detail"]
    assert payload not in body["title"] + body["detail"]
    db.session.expire_all()
    assert stray.bag_label_verified_at is None and _events() == events


def test_only_the_lab_scans_labels_back_and_bad_input_is_a_clear_4xx(client, staff, lot):
    make_user("monitor", "monitor")
    dose = lot.doses[0]
    scan = {"scan": bag_payloads(dose).compound}
    for who in ("qa", "monitor"):
        assert client.post(f"/api/lots/{lot.id}/label-scans", headers=api_token(client, who), json=scan).status_code == 403
    lab = api_token(client, "lab")
    assert client.post("/api/lots/999/label-scans", headers=lab, json=scan).status_code == 404
    assert client.post(f"/api/lots/{lot.id}/label-scans", headers=lab, json={}).status_code == 422
    assert client.post(f"/api/lots/{lot.id}/label-scans", headers=lab, json={"scan": 5}).status_code == 422
    assert client.post(f"/api/lots/{lot.id}/label-scans", json=scan).status_code == 401
    db.session.expire_all()
    assert dose.bag_label_verified_at is None and _verifications() == 0
