"""The donors-and-lots JSON contract of API.md, and bad input answering 4xx."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from cell_chain.batches.models import MARKERS, Dose, Lot
from cell_chain.batches.models import TestResult as LotResult
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from tests.factories import PASSING_VALUES
from tests.conftest import PASSWORD, api_token, make_site, make_user


@pytest.fixture
def h(app, client):
    make_site("LZ")
    for username, role, site in [("lab", "lab", None), ("qa", "qa", None), ("monitor", "monitor", None),
                                 ("lz-nurse", "nurse", "LZ"), ("lz-coordinator", "coordinator", "LZ")]:
        make_user(username, role, site)
    return {u: api_token(client, u) for u in ("lab", "qa", "monitor", "lz-nurse", "lz-coordinator")}


def sig(password=PASSWORD, meaning=None):
    return {"signature": {"password": password} | ({"meaning": meaning} if meaning else {})}


def _donor(client, h, code="D-1", days_ago=10):
    collected = (utcnow().date() - timedelta(days=days_ago)).isoformat()
    response = client.post("/api/donors", headers=h["lab"], json={"donor_code": code, "collected_on": collected})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _screen_all(client, h, donor, result="non_reactive"):
    for marker in MARKERS:
        r = client.post(f"/api/donors/{donor['id']}/screening", headers=h["lab"],
                        json={"marker": marker, "result": result, "tested_on": donor["collected_on"]})
        assert r.status_code == 201, r.get_json()


def _ready_lot(client, h, number="L-1", presentation=None):
    donor = _donor(client, h, f"D-{number}")
    _screen_all(client, h, donor)
    assert client.post(f"/api/donors/{donor['id']}/eligibility", headers=h["qa"], json=sig()).get_json()["status"] == "eligible"
    body = {"donor_id": donor["id"], "lot_number": number, "manufactured_on": utcnow().date().isoformat(), "passage": 3}
    if presentation:
        body["presentation"] = presentation
    lot = client.post("/api/lots", headers=h["lab"], json=body)
    assert lot.status_code == 201, lot.get_json()
    lot = lot.get_json()
    assert client.post(f"/api/lots/{lot['id']}/doses", headers=h["lab"],
                       json={"cells": 4.1e7, "volume_ml": 40.5, "viability_pct": 93}).status_code == 201
    dose = client.get(f"/api/lots/{lot['id']}", headers=h["lab"]).get_json()["doses"][0]["code"]
    compound = client.get(f"/api/doses/{dose}", headers=h["lab"]).get_json()["barcodes"]["compound"]
    assert client.post("/api/print-jobs", headers=h["lab"], json={"kind": "dose", "target": dose, "format": "zpl"}).status_code == 201
    assert client.post(f"/api/doses/{dose}/label-verification", headers=h["lab"], json={"scan": compound}).status_code == 200
    assert client.post(f"/api/lots/{lot['id']}/complete", headers=h["lab"]).get_json()["status"] == "quarantine"
    for test, value in PASSING_VALUES.items():
        r = client.post(f"/api/lots/{lot['id']}/results", headers=h["lab"],
                        json={"test": test, "value": value, "performed_on": utcnow().date().isoformat()})
        assert r.status_code == 201, r.get_json()
    return lot


def test_donor_registration_contract(client, h):
    donor = _donor(client, h)
    assert set(donor) >= {"id", "donor_code", "din", "status"} and donor["status"] == "registered"
    assert len(donor["din"]) == 13


def test_lot_contract_from_creation_to_release(client, h):
    lot = _ready_lot(client, h)
    assert set(lot) >= {"id", "lot_number", "din", "din_check", "presentation", "status"}
    assert lot["status"] == "in_process" and lot["presentation"] == "cryopreserved"
    body = client.get(f"/api/lots/{lot['id']}", headers=h["qa"]).get_json()
    assert body["release_readiness"] == {"ready": True, "blocking": [], "blockers": []}
    assert {r["test"] for r in body["results"]} == set(PASSING_VALUES)
    assert all(r["passed"] and r["spec_version"] == 1 for r in body["results"])
    released = client.post(f"/api/lots/{lot['id']}/release", headers=h["qa"], json=sig(meaning="Released"))
    assert released.status_code == 200 and released.get_json()["status"] == "released"
    assert released.get_json()["doses"][0]["status"] == "available"
    [signature] = released.get_json()["signatures"]
    assert signature["meaning"] == "Released" and signature["printed_name"] == "Qa"


def test_result_answer_has_computed_pass_fail(client, h):
    lot = _ready_lot(client, h)
    r = client.post(f"/api/lots/{lot['id']}/results", headers=h["lab"],
                    json={"test": "endotoxin_eu_ml", "value": 0.7, "performed_on": utcnow().date().isoformat(),
                          "reason": "Re-assay"})
    assert r.status_code == 201
    body = r.get_json()
    assert (body["test"], body["value"], body["passed"], body["spec_version"]) == ("endotoxin_eu_ml", "0.7", False, 1)


def test_release_blocked_lists_codes(client, h):
    donor = _donor(client, h)
    lot = client.post("/api/lots", headers=h["lab"], json={"donor_id": donor["id"], "lot_number": "L-9",
                      "manufactured_on": utcnow().date().isoformat(), "passage": 2}).get_json()
    client.post(f"/api/lots/{lot['id']}/complete", headers=h["lab"])
    r = client.post(f"/api/lots/{lot['id']}/release", headers=h["qa"], json=sig())
    assert r.status_code == 409 and r.get_json()["code"] == "RELEASE_BLOCKED"
    blocking = r.get_json()["blocking"]
    assert blocking[0] == "DONOR_NOT_DETERMINED" and "TEST_MISSING:sterility" in blocking and blocking[-1] == "NO_DOSES"


def test_eligibility_with_missing_screening_is_409(client, h):
    donor = _donor(client, h)
    r = client.post(f"/api/donors/{donor['id']}/eligibility", headers=h["qa"], json=sig())
    assert r.status_code == 409 and r.get_json()["code"] == "SCREENING_INCOMPLETE"
    assert r.get_json()["missing"] == list(MARKERS)


def test_segregation_of_duties_is_403(client, h, app):
    lot = _ready_lot(client, h)
    # a second lab account that has become QA entered a correction on this lot
    make_user("analyst-qa", "lab")
    headers = api_token(client, "analyst-qa")
    client.post(f"/api/lots/{lot['id']}/results", headers=headers,
                json={"test": "sterility", "value": "no_growth", "performed_on": utcnow().date().isoformat(),
                      "reason": "Second read"})
    from cell_chain.accounts.models import User

    user = db.session.scalar(select(User).where(User.username == "analyst-qa"))
    user.role = "qa"
    from cell_chain.core import audit

    audit.record_change(user, "user.corrected", actor=None, at=utcnow(), reason="Moved to QA", correction=True)
    db.session.commit()
    r = client.post(f"/api/lots/{lot['id']}/release", headers=headers, json=sig())
    assert r.status_code == 403 and r.get_json()["code"] == "SEGREGATION_OF_DUTIES"
    assert db.session.scalar(select(Lot.status).where(Lot.id == lot["id"])) == "quarantine"


def test_dose_out_of_tolerance_is_201_rejected_with_reasons(client, h):
    lot = _ready_lot(client, h)
    # results are in; doses can still be filled while in quarantine
    r = client.post(f"/api/lots/{lot['id']}/doses", headers=h["lab"],
                    json={"cells": 5.0e7, "volume_ml": 40, "viability_pct": 90})
    assert r.status_code == 201
    body = r.get_json()
    assert body["status"] == "rejected" and body["reasons"] and body["division"] == "Ab"


def test_recall_answer(client, h):
    lot = _ready_lot(client, h)
    client.post(f"/api/lots/{lot['id']}/release", headers=h["qa"], json=sig())
    r = client.post(f"/api/lots/{lot['id']}/recall", headers=h["qa"], json={"reason": "Donor lookback", **sig()})
    assert r.status_code == 200
    body = r.get_json()
    assert len(body["quarantined_doses"]) == 1 and body["administered_doses"] == [] and body["affected_patients"] == []


@pytest.mark.parametrize("who, method, path, body", [
    ("lz-nurse", "post", "/api/donors", {"donor_code": "X", "collected_on": "2026-01-01"}),
    ("qa", "post", "/api/donors", {"donor_code": "X", "collected_on": "2026-01-01"}),
    ("lab", "post", "/api/lots/1/release", {"signature": {"password": PASSWORD}}),
    ("monitor", "post", "/api/lots/1/recall", {"reason": "x", "signature": {"password": PASSWORD}}),
    ("lz-nurse", "get", "/api/lots", None),
    ("lz-coordinator", "get", "/api/donors", None),
])
def test_wrong_role_is_403(client, h, who, method, path, body):
    r = getattr(client, method)(path, headers=h[who], json=body)
    assert r.status_code == 403 and r.get_json()["code"] == "FORBIDDEN"


def test_readers_can_read(client, h):
    lot = _ready_lot(client, h)
    assert client.get(f"/api/lots/{lot['id']}", headers=h["lz-coordinator"]).status_code == 200
    assert client.get("/api/lots?status=quarantine", headers=h["monitor"]).get_json()[0]["id"] == lot["id"]


BAD = [
    ("/api/donors", {}),
    ("/api/donors", {"donor_code": "", "collected_on": "2026-01-01"}),
    ("/api/donors", {"donor_code": "D", "collected_on": "yesterday"}),
    ("/api/donors", {"donor_code": "D", "collected_on": "2999-01-01"}),
    ("/api/donors", {"donor_code": 5, "collected_on": "2026-01-01"}),
    ("/api/donors/{donor}/screening", {"marker": "hiv", "result": "non_reactive", "tested_on": "2026-01-01"}),
    ("/api/donors/{donor}/screening", {"marker": "hbsag", "result": "negative", "tested_on": "2026-01-01"}),
    ("/api/donors/{donor}/screening", {"marker": "hbsag", "result": "reactive"}),
    ("/api/lots", {"donor_id": "one", "lot_number": "L", "manufactured_on": "2026-01-01", "passage": 1}),
    ("/api/lots", {"donor_id": "{donor}", "lot_number": "L", "manufactured_on": "2026-01-01", "passage": -1}),
    ("/api/lots", {"donor_id": "{donor}", "lot_number": "L", "manufactured_on": "2026-01-01", "passage": 1, "presentation": "frozen"}),
    ("/api/lots", {"donor_id": "{donor}", "lot_number": "L", "manufactured_on": "2026-01-01", "passage": 1.5}),
    ("/api/lots", {"donor_id": "{donor}", "lot_number": "L-1", "manufactured_on": "2026-01-01", "passage": 1}),
    ("/api/lots/{lot}/results", {"test": "sterility", "value": "pass", "performed_on": "2026-01-01"}),
    ("/api/lots/{lot}/results", {"test": "colour", "value": "red", "performed_on": "2026-01-01"}),
    ("/api/lots/{lot}/results", {"test": "viability_pct", "value": "ninety", "performed_on": "2026-01-01"}),
    ("/api/lots/{lot}/results", {"test": "viability_pct", "value": [90], "performed_on": "2026-01-01"}),
    ("/api/lots/{lot}/results", {"test": "viability_pct", "value": 150, "performed_on": "2026-01-01"}),
    ("/api/lots/{lot}/results", {"test": "viability_pct", "value": None, "performed_on": "2026-01-01"}),
    ("/api/lots/{lot}/doses", {"cells": "many", "volume_ml": 40, "viability_pct": 90}),
    ("/api/lots/{lot}/doses", {"cells": -1, "volume_ml": 40, "viability_pct": 90}),
    ("/api/lots/{lot}/doses", {"volume_ml": 40, "viability_pct": 90}),
    ("/api/lots/{lot}/release", {}),
    ("/api/lots/{lot}/release", {"signature": {}}),
    ("/api/lots/{lot}/recall", {"signature": {"password": PASSWORD}}),
]


@pytest.mark.parametrize("path, body", BAD)
def test_bad_input_is_4xx_and_changes_nothing(client, h, path, body):
    lot = _ready_lot(client, h)
    donor_id = db.session.scalar(select(Lot.donor_id).where(Lot.id == lot["id"]))
    who = "qa" if path.endswith(("release", "recall")) else "lab"
    fill = {"{donor}": str(donor_id), "{lot}": str(lot["id"])}
    for key, value in fill.items():
        path = path.replace(key, value)
    body = {k: (int(fill[v]) if isinstance(v, str) and v in fill else v) for k, v in body.items()}
    counts = [db.session.scalar(select(func.count()).select_from(m)) for m in (Lot, Dose, LotResult)]
    r = client.post(path, headers=h[who], json=body)
    assert 400 <= r.status_code < 500, (r.status_code, r.get_json())
    assert r.mimetype == "application/problem+json" and r.get_json()["code"]
    db.session.expire_all()
    assert [db.session.scalar(select(func.count()).select_from(m)) for m in (Lot, Dose, LotResult)] == counts


@pytest.mark.parametrize("path", ["/api/lots/999999", "/api/donors/999999", "/api/lots/abc"])
def test_unknown_ids_are_404(client, h, path):
    assert client.get(path, headers=h["qa"]).status_code == 404


def test_wrong_signature_password_on_release_is_401_and_counts(client, h):
    lot = _ready_lot(client, h)
    r = client.post(f"/api/lots/{lot['id']}/release", headers=h["qa"], json=sig("wrong-password"))
    assert r.status_code == 401 and r.get_json()["code"] == "SIGNATURE_INVALID"
    from cell_chain.accounts.models import User

    db.session.expire_all()
    assert db.session.scalar(select(User.failed_signatures).where(User.username == "qa")) == 1
    assert db.session.scalar(select(Lot.status).where(Lot.id == lot["id"])) == "quarantine"
