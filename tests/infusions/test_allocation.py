"""Allocation: the earliest-expiring suitable dose, never an unsuitable one, once per visit."""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from cell_chain.accounts.models import User
from cell_chain.batches import services as batches
from cell_chain.batches.models import Dose
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.patients import allocation as allocations
from cell_chain.patients.errors import DoseNotSuitable, NoSuitableDose, PatientNotInMscArm
from cell_chain.patients.models import Allocation, Visit
from cell_chain.labels import services as labels
from cell_chain.labels.payloads import bag_payloads
from tests.factories import make_donor, make_lot, released_lot, signed
from tests.conftest import api_token
from tests.infusions.conftest import coordinator, enrol


def test_allocation_picks_the_earliest_expiring_suitable_dose(sites, staff):
    now = utcnow()
    later = released_lot(staff, "L-LATE", doses=1)
    earlier = released_lot(staff, "L-EARLY", doses=1, presentation="cryopreserved")
    # make the second lot's dose expire sooner, as an older lot would
    patient = enrol()
    allocation = allocations.allocate_dose(patient.visits[0], dose=None, actor=coordinator(), now=now)
    db.session.commit()
    expected = min(later.doses + earlier.doses, key=lambda d: (d.expires_at, d.id))
    assert allocation.dose_id == expected.id and expected.status == "allocated"
    assert len(allocation.coi) == 13


def test_fresh_product_is_refused_for_a_visit_months_away(sites, staff):
    now = utcnow()
    fresh = released_lot(staff, "L-FRESH", doses=1, presentation="fresh")
    patient = enrol()
    # (visit 1 given: visit 2, three months away, is the one waiting for a dose)
    db.session.execute(update(Visit).where(Visit.id == patient.visits[0].id).values(recorded="done"))
    db.session.commit()
    with pytest.raises(DoseNotSuitable, match="expires"):
        allocations.allocate_dose(patient.visits[1], dose=fresh.doses[0], actor=coordinator(), now=now)
    db.session.rollback()
    with pytest.raises(NoSuitableDose):
        allocations.allocate_dose(patient.visits[1], dose=None, actor=coordinator(), now=now)
    db.session.rollback()
    # ... but goes to a visit due now
    allocation = allocations.allocate_dose(enrol().visits[0], dose=None, actor=coordinator(), now=now)
    assert allocation.dose_id == fresh.doses[0].id


def test_a_dose_goes_to_the_next_visit_first(sites, staff):
    """Visit 1 is due: visit 2 cannot take a dose ahead of it, by page or API (409)."""
    from cell_chain.patients.errors import NotTheNextVisit

    now = utcnow()
    lot = released_lot(staff, "L-NEXT", doses=2)
    patient = enrol()
    with pytest.raises(NotTheNextVisit, match="visit 1"):
        allocations.allocate_dose(patient.visits[1], dose=None, actor=coordinator(), now=now)
    db.session.rollback()
    assert db.session.scalar(select(func.count(Allocation.id))) == 0
    assert all(d.status == "available" for d in lot.doses)
    allocations.allocate_dose(patient.visits[0], dose=None, actor=coordinator(), now=now)
    db.session.commit()
    # allocated but not yet given, visit 1 is still the next one
    with pytest.raises(NotTheNextVisit):
        allocations.allocate_dose(patient.visits[1], dose=None, actor=coordinator(), now=now)


def test_never_a_dose_expiring_before_the_visit_plus_cutoff(sites, staff):
    now = utcnow()
    released_lot(staff, "L-FRESH", doses=1, presentation="fresh")  # the only dose: 72 hours of shelf life
    patient = enrol()
    # 49 hours later the 72-hour dose has 23 hours left: under the 24-hour cut-off
    with pytest.raises(NoSuitableDose):
        allocations.allocate_dose(patient.visits[0], dose=None, actor=coordinator(), now=now + timedelta(hours=49))


@pytest.mark.parametrize("spoil", ["unreleased", "recalled", "quarantined", "allocated", "label"])
def test_unsuitable_doses_are_never_allocated(sites, staff, spoil):
    now = utcnow()
    if spoil == "unreleased":
        lot = make_lot(staff, make_donor(staff), doses=1)
    elif spoil == "label":
        lot = make_lot(staff, make_donor(staff), doses=1, verify_labels=False)
        batches.release_lot(lot, signature=signed(), actor=staff.qa, now=now)
    else:
        lot = released_lot(staff, doses=1)
        if spoil == "recalled":
            batches.recall_lot(lot, reason="test", signature=signed(), actor=staff.qa, now=now)
        elif spoil == "quarantined":
            for dose in lot.doses:
                batches.quarantine_dose(dose, cause="other", reason="damaged", actor=staff.qa, now=now)
        elif spoil == "allocated":
            allocations.allocate_dose(enrol().visits[0], dose=None, actor=coordinator(), now=now)
    db.session.commit()
    patient = enrol()
    with pytest.raises(NoSuitableDose):
        allocations.allocate_dose(patient.visits[0], dose=None, actor=coordinator(), now=now)
    db.session.rollback()
    with pytest.raises(DoseNotSuitable):
        allocations.allocate_dose(patient.visits[0], dose=lot.doses[0], actor=coordinator(), now=now)


def test_control_arm_and_withdrawn_patients_get_no_dose(sites, staff):
    released_lot(staff, doses=2)
    control = enrol(arm="control")
    assert control.visits == []
    patient = enrol()
    from cell_chain.patients.enrolment import withdraw_patient

    withdraw_patient(patient, reason="moved away", signature=signed(), actor=coordinator(), now=utcnow())
    with pytest.raises(PatientNotInMscArm):
        allocations.allocate_dose(patient.visits[2], dose=None, actor=coordinator(), now=utcnow())


def test_one_dose_per_visit_and_reversal_before_dispatch(client, sites, staff):
    released_lot(staff, doses=2)
    patient = enrol()
    headers = api_token(client, "lz-coordinator")
    url = f"/api/patients/{patient.subject_id}/visits/1"
    first = client.post(url + "/allocate", headers=headers, json={})
    assert first.status_code == 200 and set(first.get_json()) >= {"dose_code", "coi"}
    again = client.post(url + "/allocate", headers=headers, json={})
    assert again.status_code == 409 and again.get_json()["code"] == "VISIT_ALREADY_ALLOCATED"
    no_reason = client.post(url + "/deallocate", headers=headers, json={})
    assert no_reason.status_code == 422
    back = client.post(url + "/deallocate", headers=headers, json={"reason": "Visit rescheduled"})
    assert back.status_code == 200
    db.session.expire_all()
    assert db.session.scalar(select(Dose.status).where(Dose.code == first.get_json()["dose_code"])) == "available"
    assert client.post(url + "/allocate", headers=headers, json={}).status_code == 200


def test_control_arm_allocation_via_api_is_404_as_the_patient_has_no_visit(client, sites, staff):
    lot = released_lot(staff, doses=1)
    patient = enrol(arm="control")
    r = client.post(f"/api/patients/{patient.subject_id}/visits/1/allocate", headers=api_token(client, "lz-coordinator"), json={})
    assert r.status_code == 404 and r.get_json()["code"] == "NOT_FOUND"  # the control arm has no visit 1 at all
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Allocation)) == 0
    assert lot.doses[0].status == "available"


def test_assignment_label_prints_decodes_and_verifies(client, sites, staff):
    import pypdfium2
    import zxingcpp

    released_lot(staff, doses=1)
    patient = enrol()
    headers = api_token(client, "lz-coordinator")
    allocated = client.post(f"/api/patients/{patient.subject_id}/visits/1/allocate", headers=headers, json={}).get_json()
    code = allocated["dose_code"]
    detail = client.get(f"/api/doses/{code}", headers=api_token(client, "lab")).get_json()
    assert detail["subject_id"] == patient.subject_id and detail["visit"] == 1
    expected = detail["barcodes"]["assignment"]
    assert expected.startswith("=+03000")
    r = client.post("/api/print-jobs", headers=headers, json={"kind": "assignment", "target": code})
    assert r.status_code == 201
    image = pypdfium2.PdfDocument(r.data)[0].render(scale=300 / 72).to_pil()
    decoded = {b.text for b in zxingcpp.read_barcodes(image, text_mode=zxingcpp.TextMode.Plain)}
    assert expected in decoded
    dose = db.session.scalar(select(Dose).where(Dose.code == code))
    assert not labels.labels_verified(dose)
    bag_scan = client.post(f"/api/doses/{code}/label-verification", headers=headers, json={"scan": bag_payloads(dose).compound})
    assert bag_scan.get_json()["label"] == "bag"  # scanning the bag label does not verify the assignment label
    assert not labels.labels_verified(dose)
    ok = client.post(f"/api/doses/{code}/label-verification", headers=headers, json={"scan": expected})
    assert ok.status_code == 200 and ok.get_json() == {"verified": True, "label": "assignment"}
    db.session.expire_all()
    assert labels.labels_verified(dose)


def test_wristband_prints_and_decodes_to_the_payload(client, sites, staff):
    import pypdfium2
    import zxingcpp

    patient = enrol()
    headers = api_token(client, "lz-coordinator")
    payload = client.get(f"/api/patients/{patient.subject_id}", headers=headers).get_json()["wristband"]
    r = client.post("/api/print-jobs", headers=headers, json={"kind": "wristband", "target": patient.subject_id})
    assert r.status_code == 201
    image = pypdfium2.PdfDocument(r.data)[0].render(scale=300 / 72).to_pil()
    results = zxingcpp.read_barcodes(image, text_mode=zxingcpp.TextMode.Plain)
    assert {(b.format.name, b.text) for b in results} == {("Code128", payload), ("QRCode", payload)}


def test_two_concurrent_allocations_of_the_last_dose_give_it_to_one_visit(app, sites, staff):
    released_lot(staff, doses=1)
    visit_ids = [enrol().visits[0].id, enrol().visits[0].id]
    coordinator_id = coordinator().id
    db.session.rollback()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def worker(visit_id: int) -> None:
        with app.app_context():
            barrier.wait(timeout=10)
            actor = db.session.get(User, coordinator_id)
            visit = db.session.get(Visit, visit_id)
            try:
                allocations.allocate_dose(visit, dose=None, actor=actor, now=utcnow())
                db.session.commit()
                outcomes.append("allocated")
            except NoSuitableDose:
                db.session.rollback()
                outcomes.append("none")

    threads = [threading.Thread(target=worker, args=(v,)) for v in visit_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["allocated", "none"]
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Allocation).where(Allocation.active)) == 1


def test_another_sites_coordinator_cannot_print_its_labels(client, sites, staff):
    released_lot(staff, doses=1)
    patient = enrol()
    lz = api_token(client, "lz-coordinator")
    code = client.post(f"/api/patients/{patient.subject_id}/visits/1/allocate", headers=lz, json={}).get_json()["dose_code"]
    bj = api_token(client, "bj-coordinator")
    for body in ({"kind": "wristband", "target": patient.subject_id}, {"kind": "assignment", "target": code}):
        r = client.post("/api/print-jobs", headers=bj, json=body)
        assert r.status_code == 404 and r.mimetype == "application/problem+json", body
        assert client.post("/api/print-jobs", headers=lz, json=body).status_code == 201
