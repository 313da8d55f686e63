"""Enrolment, withdrawal, site isolation and the patient API."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.accounts.signatures import signatures_for
from cell_chain.patients.models import Patient
from tests.conftest import PASSWORD, api_token
from tests.infusions.conftest import enrol


@pytest.fixture
def lz(client, sites):
    return api_token(client, "lz-coordinator")


def test_enrol_msc_patient_gets_four_visits(client, lz):
    today = utcnow().date()
    r = client.post("/api/patients", headers=lz, json={"site_code": "LZ", "arm": "msc", "enrolled_on": today.isoformat(),
                                                      "initials": "wl", "birth_year": 1970})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["subject_id"] == "LZ-0001" and body["arm"] == "msc" and body["wristband"] == "LZ-0001"
    assert [v["number"] for v in body["visits"]] == [1, 2, 3, 4]
    assert body["visits"][0]["status"] == "due" and body["visits"][1]["status"] == "upcoming"
    assert set(body["visits"][0]) >= {"number", "target_date", "window_start", "window_end", "status"}


def test_control_arm_has_no_visits(client, lz):
    r = client.post("/api/patients", headers=lz, json={"site_code": "LZ", "arm": "control",
                                                      "enrolled_on": utcnow().date().isoformat(),
                                                      "initials": "AB", "birth_year": 1980})
    assert r.status_code == 201 and r.get_json()["visits"] == []


def test_subject_ids_are_never_reused_per_site(client, sites):
    first, second = enrol(), enrol()
    other = enrol("BJ")
    assert [first.subject_id, second.subject_id, other.subject_id] == ["LZ-0001", "LZ-0002", "BJ-0001"]


@pytest.mark.parametrize("body, field", [
    ({"birth_year": 1950}, "birth_year"), ({"birth_year": 2000}, "birth_year"),
    ({"arm": "placebo"}, "arm"), ({"initials": "Wang Lei"}, "initials"), ({"initials": "1"}, "initials"),
    ({"enrolled_on": "2999-01-01"}, "enrolled_on"), ({"birth_year": "1970"}, "birth_year"),
])
def test_enrolment_validation_is_422_with_the_reason(client, lz, body, field):
    base = {"site_code": "LZ", "arm": "msc", "enrolled_on": utcnow().date().isoformat(), "initials": "WL",
            "birth_year": 1970}
    r = client.post("/api/patients", headers=lz, json=base | body)
    assert r.status_code == 422 and field in r.get_json()["errors"], r.get_json()
    assert db.session.scalar(select(Patient)) is None


def test_coordinator_cannot_enrol_or_see_at_another_site(client, lz, sites):
    r = client.post("/api/patients", headers=lz, json={"site_code": "BJ", "arm": "msc",
                                                      "enrolled_on": utcnow().date().isoformat(),
                                                      "initials": "WL", "birth_year": 1970})
    assert r.status_code == 404
    bj_patient = enrol("BJ")
    assert client.get(f"/api/patients/{bj_patient.subject_id}", headers=lz).status_code == 404
    assert client.get("/api/patients", headers=lz).get_json() == []
    nurse = api_token(client, "lz-nurse")
    assert client.post("/api/patients", headers=nurse, json={}).status_code == 403


def test_withdrawal_needs_reason_and_signature_and_skips_open_visits(client, lz, sites):
    patient = enrol()
    r = client.post(f"/api/patients/{patient.subject_id}/withdraw", headers=lz,
                    json={"reason": "Consent withdrawn", "signature": {"password": "wrong-password"}})
    assert r.status_code == 401
    r = client.post(f"/api/patients/{patient.subject_id}/withdraw", headers=lz,
                    json={"reason": "Consent withdrawn", "signature": {"password": PASSWORD}})
    assert r.status_code == 200 and r.get_json()["status"] == "withdrawn"
    assert {v["status"] for v in r.get_json()["visits"]} == {"skipped"}
    db.session.expire_all()
    assert [s.meaning for s in signatures_for(patient)] == ["Withdrawn"]


def test_visit_states_follow_the_clock_through_the_service(sites):
    from cell_chain.patients.enrolment import visit_state

    now = utcnow()
    patient = enrol(enrolled_on=(now - timedelta(days=100)).date(), now=now)
    first = patient.visits[0]
    assert visit_state(first, now.date()) == "missed"
    assert visit_state(first, (now - timedelta(days=100)).date()) == "due"


def test_enrol_service_checks_the_arm_itself(sites):
    from cell_chain.core.errors import ValidationFailed
    from cell_chain.patients.enrolment import enrol_patient
    from tests.infusions.conftest import coordinator

    with pytest.raises(ValidationFailed) as refused:
        enrol_patient(site_code="LZ", arm="placebo", enrolled_on=utcnow().date(), initials="AB",
                      birth_year=1970, actor=coordinator(), now=utcnow())
    assert "arm" in refused.value.extra["errors"]


def test_patient_list_api_costs_the_same_queries_for_more_patients(client, sites, staff):
    from sqlalchemy import event

    from tests.factories import released_lot
    from tests.infusions.conftest import coordinator
    from cell_chain.patients.allocation import allocate_dose

    headers = api_token(client, "lz-coordinator")
    released_lot(staff, "L-Q", doses=8)

    def add_patients(n):
        for _ in range(n):
            patient = enrol()
            allocate_dose(patient.visits[0], dose=None, actor=coordinator(), now=utcnow())
        db.session.commit()

    statements = []

    def count(*args):
        statements.append(args[2])

    def measure():
        db.session.expire_all()
        statements.clear()
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            body = client.get("/api/patients", headers=headers).get_json()
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(statements), body

    add_patients(2)
    few, body = measure()
    assert all(p["visits"][0]["dose_code"] for p in body)
    add_patients(6)
    many, body = measure()
    assert len(body) == 8 and many == few
