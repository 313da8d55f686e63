"""A database fault during a request, as the deployed app answers it (TESTING off, so the
app's own error handler runs): the API says 503 SERVICE_UNAVAILABLE in problem+json, a page
shows a plain error page, nothing of the request is kept, and the same request then goes
through. A programming error is still a 500, never passed off as an outage."""
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from cell_chain import create_app
from cell_chain.accounts.services import user_by_username
from cell_chain.core.audit_chain import verify_chain
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.infusions import bedside
from cell_chain.patients.allocation import active_allocation_of_dose
from cell_chain.labels.payloads import bag_payloads
from cell_chain.shipments import services as shipping
from tests.conftest import FAST_ARGON2, PASSWORD, api_token, csrf_token, login
from tests.factories import doses_at_site, doses_on_ward, shippable_doses, signed
from tests.faults.conftest import Fault, assert_no_transaction_left, changed, snapshot

SAVED = "Your change was saved"


@pytest.fixture
def deployed(app: Flask) -> Iterator[tuple[Flask, Fault]]:
    """The same database served as in production: unexpected errors reach the app's handler."""
    live = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                       "SECRET_KEY": "test-secret", "ARGON2_PARAMS": FAST_ARGON2})
    assert not live.testing
    with live.app_context():
        engine = db.engine
    with Fault(engine).listening() as fault:
        yield live, fault
    engine.dispose()


def _outage_answer(response: Any) -> str:
    """Checks the 503 problem+json of an outage; returns its detail."""
    assert response.status_code == 503, (response.status_code, response.get_data(as_text=True)[:300])
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["code"] == "SERVICE_UNAVAILABLE" and body["status"] == 503 and body["title"]
    assert response.headers["Retry-After"]
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "injected" not in text and "SELECT" not in text
    return body["detail"]


def fail_each_request_statement(send: Callable[[], Any], fault: Fault, engine: Any) -> tuple[Any, int]:
    """Send the request with statement 1, 2, … failing. Before the commit every fault is a 503
    saying nothing was saved, and nothing was; a fault after it is a 503 saying it was saved.
    Returns the first answer that was not a fault before the commit, and its statement."""
    db.session.commit()
    before = snapshot(engine)
    at = 1
    while True:
        fault.arm(at)
        response = send()
        fault.disarm()
        if fault.fired is None:
            return response, at
        detail = _outage_answer(response)
        assert_no_transaction_left(engine)
        after = snapshot(engine)
        if SAVED in detail:
            assert after != before, "a fault said the change was saved, but nothing changed"
            return response, at
        assert "Nothing was saved" in detail
        assert after == before, f"fault at statement {at} ({fault.fired[:80]!r}) left {changed(before, after)}"
        at += 1


def _infusion_body(patient_scan: str, dose_scan: str) -> dict[str, Any]:
    now = utcnow()
    return {"patient_scan": patient_scan, "dose_scan": dose_scan,
            "started_at": (now - timedelta(minutes=40)).isoformat(),
            "ended_at": (now - timedelta(minutes=5)).isoformat(), "volume_ml": 40.0, "tolerance_grade": 0,
            "signature": {"password": PASSWORD}, "witness": {"username": "lz-nurse2", "password": PASSWORD}}


def test_infusion_record_during_a_database_fault(app, ward, staff, deployed):
    live, fault = deployed
    [dose] = doses_on_ward(staff, thawed_minutes_ago=60)
    patient_scan, dose_scan = active_allocation_of_dose(dose).visit.patient.subject_id, bag_payloads(dose).compound
    # checked at the bedside just before the infusion started (40 minutes ago)
    bedside.verify_infusion(patient_scan, dose_scan, actor=user_by_username("lz-nurse"),
                            now=utcnow() - timedelta(minutes=41))
    db.session.commit()  # on SQLite an open transaction would hold the write lock
    client = live.test_client()
    nurse = api_token(client, "lz-nurse")
    with live.app_context():
        engine = db.engine
    body = _infusion_body(patient_scan, dose_scan)
    answer, at = fail_each_request_statement(lambda: client.post("/api/infusions", headers=nurse, json=body),
                                             fault, engine)
    assert at > 10
    if answer.status_code == 503:  # a fault after the commit: the record is there, a retry is refused
        again = client.post("/api/infusions", headers=nurse, json=body)
        assert again.status_code == 409 and again.get_json()["code"] == "ALREADY_ADMINISTERED"
    else:
        assert answer.status_code == 201, answer.get_json()
    db.session.expire_all()
    assert dose.status == "administered"
    assert verify_chain().ok


def test_receipt_during_a_database_fault(app, ward, staff, deployed):
    live, fault = deployed
    doses = shippable_doses(staff, count=2)
    now = utcnow()
    shipment = shipping.create_shipment(site_code="LZ", storage="cryo", actor=staff.lab, now=now)
    for dose in doses:
        shipping.pack_dose(shipment, scan=bag_payloads(dose).compound, actor=staff.lab, now=now)
    shipping.dispatch(shipment, courier="ColdChain", logger_id="QT-1", signature=signed(), actor=staff.lab, now=now)
    db.session.commit()
    client = live.test_client()
    pharmacist = api_token(client, "lz-pharmacist")
    with live.app_context():
        engine = db.engine
    body = {"scans": [bag_payloads(d).compound for d in doses], "seal_intact": True,
            "signature": {"password": PASSWORD}}
    path = f"/api/shipments/{shipment.id}/receive"
    answer, at = fail_each_request_statement(lambda: client.post(path, headers=pharmacist, json=body), fault, engine)
    assert at > 10
    if answer.status_code == 503:
        answer = client.post(path, headers=pharmacist, json=body)  # idempotent: the recorded receipt
    assert answer.status_code == 200 and answer.get_json()["status"] == "received", answer.get_json()
    assert len(answer.get_json()["accepted"]) == 2
    assert verify_chain().ok


def test_a_page_during_a_database_fault_shows_a_plain_error_page(app, ward, staff, deployed):
    live, fault = deployed
    [dose] = doses_at_site(staff)
    path, bag = f"/pharmacy/doses/{dose.code}/dispense", bag_payloads(dose).compound
    db.session.rollback()  # on SQLite an open transaction would hold the write lock
    client = live.test_client()
    login(client, "lz-pharmacist")
    with live.app_context():
        engine = db.engine
    before = snapshot(engine)
    for at in (3, 6, 9):  # the login check, the dose's lookup, the service's own statements
        form = {"to": "lz-nurse", "bag_scan": bag, "csrf_token": csrf_token(client, path)}
        fault.arm(at)
        response = client.post(path, data=form)
        fault.disarm()
        assert fault.fired, at
        assert response.status_code == 503 and response.mimetype == "text/html"
        page = response.get_data(as_text=True)
        assert "problem with the service" in page and "Nothing was saved" in page
        assert "Traceback" not in page and "injected" not in page
        assert snapshot(engine) == before
    form = {"to": "lz-nurse", "bag_scan": bag, "csrf_token": csrf_token(client, path)}
    assert client.post(path, data=form).status_code in (200, 302, 303)
    db.session.expire_all()
    assert dose.status == "dispensed"


@pytest.mark.parametrize("error", ["ProgrammingError", "IntegrityError", "DataError"])
def test_a_programming_error_is_a_500_not_an_outage(app, ward, staff, deployed, error):
    live, fault = deployed
    db.session.rollback()
    client = live.test_client()
    lab = api_token(client, "lab")
    with live.app_context():
        engine = db.engine
    before = snapshot(engine)
    fault.arm(3, error)
    response = client.post("/api/shipments", headers=lab, json={"site_code": "LZ", "storage": "cryo"})
    fault.disarm()
    assert fault.fired
    assert response.status_code == 500 and response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "INTERNAL_ERROR"
    assert "Retry-After" not in response.headers
    assert snapshot(engine) == before
