"""Timing follows the infusion, not the paperwork: the new stops (NOT_THAWED, NOT_DISPENSED),
the decision judged at the infusion's start, a record made at its end, a recall during the
infusion flagged for lookback, and a late thaw recorded with its real time."""
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from cell_chain.accounts.services import user_by_username
from cell_chain.batches.models import Dose
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.infusions import bedside
from cell_chain.labels.payloads import bag_payloads
from cell_chain.patients.allocation import active_allocation_of_dose
from cell_chain.shipments import pharmacy
from tests.conftest import PASSWORD, api_token, make_site, make_user
from tests.factories import doses_at_site, doses_on_ward

# ---- the pure decision ----------------------------------------------------------------------

NINE = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
INTERVAL = timedelta(days=60)


def facts(**dose_changes):
    """A dispensed, thawed cryopreserved dose for its own patient at site 1, on the ward."""
    patient = bedside.PatientFacts(1, "LZ-0001", 1, "msc", "active", "WL", 1975)
    dose = bedside.DoseFacts(7, "A999926000001-000001", "dispensed", "released", "L-1",
                             expires_at=NINE + timedelta(hours=3), thawed_at=NINE - timedelta(minutes=30),
                             presentation="cryopreserved")
    allocation = bedside.AllocationFacts(3, "CH1", 1, 1, "LZ", 1, date(2026, 12, 3), date(2026, 11, 19),
                                         date(2026, 12, 17))
    return bedside.Facts(1, True, patient, replace(dose, **dose_changes), allocation, "ward:LZ:lz-nurse")


def test_a_thawed_dispensed_dose_is_matched():
    assert bedside.decide(facts(), now=NINE, min_interval=INTERVAL).stops == []


def test_a_frozen_dose_is_not_thawed():
    decision = bedside.decide(facts(thawed_at=None), now=NINE, min_interval=INTERVAL)
    assert decision.stops == ["NOT_THAWED"]


def test_fresh_product_needs_no_thaw():
    decision = bedside.decide(facts(thawed_at=None, presentation="fresh"), now=NINE, min_interval=INTERVAL)
    assert decision.stops == []


def test_a_thaw_after_the_start_means_it_was_frozen_at_the_start():
    decision = bedside.decide(facts(thawed_at=NINE + timedelta(minutes=5)), now=NINE, min_interval=INTERVAL)
    assert decision.stops == ["NOT_THAWED"]


@pytest.mark.parametrize("custodian", ["pharmacy:LZ"])
def test_a_dose_in_the_pharmacy_is_not_dispensed(custodian):
    decision = bedside.decide(replace(facts(status="received"), custodian=custodian), now=NINE,
                              min_interval=INTERVAL)
    assert decision.stops == ["NOT_DISPENSED"]


def test_not_received_comes_before_dispensing_and_thawing():
    decision = bedside.decide(replace(facts(status="in_transit", thawed_at=None), custodian="courier:ColdChain"),
                              now=NINE, min_interval=INTERVAL)
    assert decision.stops == ["NOT_RECEIVED"]


def test_expiry_is_judged_at_the_start():
    expiring = facts(expires_at=NINE + timedelta(minutes=10))
    assert bedside.decide(expiring, now=NINE + timedelta(minutes=2), min_interval=INTERVAL).stops == []
    assert bedside.decide(expiring, now=NINE + timedelta(minutes=10), min_interval=INTERVAL).stops == ["DOSE_EXPIRED"]


def test_a_recall_after_the_start_is_no_stop_but_flagged():
    recalled = facts(status="quarantined", lot_status="recalled", quarantined_at=NINE + timedelta(minutes=20))
    at_start = bedside.decide(recalled, now=NINE + timedelta(minutes=2), min_interval=INTERVAL)
    assert at_start.stops == [] and at_start.later == ["DOSE_RECALLED"]
    before = bedside.decide(recalled, now=NINE + timedelta(minutes=25), min_interval=INTERVAL)
    assert before.stops == ["DOSE_RECALLED"] and before.later == []


def test_a_quarantine_before_the_start_stops():
    quarantined = facts(status="quarantined", quarantined_at=NINE - timedelta(minutes=1))
    assert bedside.decide(quarantined, now=NINE, min_interval=INTERVAL).stops == ["DOSE_QUARANTINED"]


def test_an_excursion_known_after_the_start_is_flagged_not_stopped():
    late = replace(facts(), excursion_known_at=NINE + timedelta(minutes=30))
    decision = bedside.decide(late, now=NINE, min_interval=INTERVAL)
    assert decision.stops == [] and decision.later == ["TEMPERATURE_EXCURSION"]
    assert bedside.decide(late, now=NINE + timedelta(minutes=31), min_interval=INTERVAL).stops == [
        "TEMPERATURE_EXCURSION"]


def test_the_visit_window_is_judged_on_the_day_of_the_start():
    decision = bedside.decide(facts(), now=datetime(2026, 12, 18, 0, 5, tzinfo=UTC), min_interval=INTERVAL)
    assert decision.warnings == ["OUT_OF_WINDOW"]


# ---- through the API, with the app's clock moved forward --------------------------------------

@pytest.fixture
def ward(app):
    make_site("LZ")
    make_user("lz-coordinator", "coordinator", "LZ")
    make_user("lz-pharmacist", "pharmacist", "LZ")
    make_user("lz-nurse", "nurse", "LZ")
    make_user("lz-nurse2", "nurse", "LZ")


def scans_of(dose):
    return {"patient_scan": active_allocation_of_dose(dose).visit.patient.subject_id,
            "dose_scan": bag_payloads(dose).compound}


def verify(client, headers, dose):
    return client.post("/api/infusions/verify", headers=headers, json=scans_of(dose)).get_json()


def infusion_body(dose, checked, *, start=2, end=38, volume=40.0):
    return scans_of(dose) | {
        "started_at": (checked + timedelta(minutes=start)).isoformat(),
        "ended_at": (checked + timedelta(minutes=end)).isoformat(), "volume_ml": volume, "tolerance_grade": 0,
        "signature": {"password": PASSWORD}, "witness": {"username": "lz-nurse2", "password": PASSWORD}}


def test_api_a_frozen_dose_is_not_thawed(ward, staff, client):
    [dose] = doses_at_site(staff)
    pharmacy.dispense(dose, to="lz-nurse", actor=user_by_username("lz-pharmacist"), now=utcnow())
    db.session.commit()
    body = verify(client, api_token(client, "lz-nurse"), dose)
    assert body["ok"] is False and [s["code"] for s in body["stops"]] == ["NOT_THAWED"]
    assert "pharmacy" in body["stops"][0]["message"]


def test_api_a_dose_still_in_the_pharmacy_is_not_dispensed(ward, staff, client):
    [dose] = doses_at_site(staff)
    pharmacy.thaw(dose, thawed_at=utcnow() - timedelta(minutes=10), actor=user_by_username("lz-pharmacist"),
                  now=utcnow())
    db.session.commit()
    headers = api_token(client, "lz-nurse")
    body = verify(client, headers, dose)
    assert [s["code"] for s in body["stops"]] == ["NOT_DISPENSED"]
    # and it cannot be recorded as given from the pharmacy shelf
    r = client.post("/api/infusions", headers=headers, json=infusion_body(dose, utcnow(), start=-1, end=0)
                    | {"confirm_duration": True})
    assert r.status_code == 409 and r.get_json()["code"] == "NOT_DISPENSED"
    assert db.session.get(Dose, dose.id).status == "received"


def test_api_check_before_the_start_record_at_the_end(ward, staff, client, clock):
    """Check at 09:00, start 09:02, end 09:38, record at 09:40: 201."""
    [dose] = doses_on_ward(staff)
    headers = api_token(client, "lz-nurse")
    checked = utcnow()
    assert verify(client, headers, dose)["ok"] is True
    clock.travel(timedelta(minutes=40))
    r = client.post("/api/infusions", headers=headers, json=infusion_body(dose, checked))
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["flagged_for_lookback"] is False
    assert db.session.get(Dose, dose.id).status == "administered"


def test_api_a_check_long_before_the_start_is_not_enough(ward, staff, client, clock):
    [dose] = doses_on_ward(staff)
    headers = api_token(client, "lz-nurse")
    checked = utcnow()
    assert verify(client, headers, dose)["ok"] is True
    clock.travel(timedelta(minutes=60))
    r = client.post("/api/infusions", headers=headers, json=infusion_body(dose, checked, start=15, end=50))
    assert r.status_code == 409 and r.get_json()["code"] == "VERIFICATION_REQUIRED"


def test_api_a_recall_during_the_infusion_keeps_the_record_and_flags_it(ward, staff, client, clock):
    """Check 09:00, start 09:02, recall 09:20, end 09:38, record 09:40: 201, flagged."""
    [dose] = doses_on_ward(staff)
    headers = api_token(client, "lz-nurse")
    checked = utcnow()
    assert verify(client, headers, dose)["ok"] is True
    clock.travel(timedelta(minutes=20))
    recall = client.post(f"/api/lots/{dose.lot.id}/recall", headers=api_token(client, "qa"),
                         json={"reason": "Retained sample positive", "signature": {"password": PASSWORD}})
    assert recall.status_code == 200 and recall.get_json()["quarantined_doses"] == [dose.code]
    clock.travel(timedelta(minutes=20))
    r = client.post("/api/infusions", headers=headers, json=infusion_body(dose, checked))
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["flagged_for_lookback"] is True and "recalled" in body["lookback_reason"]
    db.session.expire_all()
    assert db.session.get(Dose, dose.id).status == "administered"
    lookback = client.get("/api/reconciliation/discrepancies", headers=api_token(client, "qa"))
    assert dose.code in lookback.get_data(as_text=True)
    # a verification now (after the recall) stops
    assert [s["code"] for s in verify(client, headers, dose)["stops"]][:1] == ["DOSE_RECALLED"]


def test_api_a_thaw_five_hours_old_is_recorded_and_expires_the_dose(ward, staff, client):
    [dose] = doses_at_site(staff)
    now = utcnow()
    pharmacist = api_token(client, "lz-pharmacist")
    r = client.post(f"/api/doses/{dose.code}/thaw", headers=pharmacist,
                    json={"thawed_at": (now - timedelta(hours=5)).isoformat()})
    assert r.status_code == 200, r.get_json()
    db.session.expire_all()
    thawed = db.session.get(Dose, dose.id)
    assert thawed.thawed_at == (now - timedelta(hours=5)).replace(microsecond=thawed.thawed_at.microsecond)
    assert thawed.expires_at <= now - timedelta(hours=1)
    # it can no longer go to the ward, only be destroyed or returned
    refused = client.post(f"/api/doses/{dose.code}/dispense", headers=pharmacist, json={"to": "lz-nurse"})
    assert refused.status_code == 409
    body = verify(client, api_token(client, "lz-nurse"), dose)
    assert "DOSE_EXPIRED" in [s["code"] for s in body["stops"]]
    returned = client.post(f"/api/doses/{dose.code}/return", headers=pharmacist,
                           json={"reason": "Thawed too long ago", "signature": {"password": PASSWORD}})
    assert returned.status_code == 200, returned.get_json()


def test_api_an_unusual_duration_needs_a_confirmation(ward, staff, client, clock):
    [dose] = doses_on_ward(staff)
    headers = api_token(client, "lz-nurse")
    checked = utcnow()
    assert verify(client, headers, dose)["ok"] is True
    clock.travel(timedelta(minutes=5))
    quick = infusion_body(dose, checked, start=1, end=3)
    r = client.post("/api/infusions", headers=headers, json=quick)
    assert r.status_code == 422 and "confirm_duration" in r.get_json()["errors"]
    assert db.session.get(Dose, dose.id).status == "dispensed"
    r = client.post("/api/infusions", headers=headers, json=quick | {"confirm_duration": True})
    assert r.status_code == 201 and r.get_json()["duration_confirmed"] is True


def recorded_infusion(staff, client, clock):
    """The LZ nurse's 36-minute infusion of a ward dose, recorded 40 minutes after her
    bedside check: her API headers, the check's time and the infusion's id."""
    [dose] = doses_on_ward(staff)
    headers = api_token(client, "lz-nurse")
    checked = utcnow()
    assert verify(client, headers, dose)["ok"] is True
    clock.travel(timedelta(minutes=40))
    infusion_id = client.post("/api/infusions", headers=headers, json=infusion_body(dose, checked)).get_json()["id"]
    return headers, checked, infusion_id


def test_api_a_recorded_infusion_is_corrected_with_a_reason_and_the_original_stays(ward, staff, client, clock):
    from cell_chain.infusions.models import Infusion
    from tests.pages import html

    headers, checked, infusion_id = recorded_infusion(staff, client, clock)
    path = f"/api/infusions/{infusion_id}/correction"
    fix = {"tolerance_grade": 2, "adverse_events": "Chills at 25 minutes", "signature": {"password": PASSWORD}}
    unexplained = client.post(path, headers=headers, json=fix)
    assert unexplained.status_code == 422 and unexplained.get_json()["code"] == "REASON_REQUIRED"
    other_nurse = client.post(path, headers=api_token(client, "lz-nurse2"), json=fix | {"reason": "x"})
    assert other_nurse.status_code == 403
    corrected = client.post(path, headers=headers, json=fix | {"reason": "Chills reported after I recorded"})
    assert corrected.status_code == 200, corrected.get_json()
    assert corrected.get_json()["tolerance_grade"] == 2 and corrected.get_json()["corrected"] is True
    by_coordinator = client.post(path, headers=api_token(client, "lz-coordinator"),
                                 json={"volume_ml": 39, "partial_reason": "Residue in the line",
                                       "reason": "Bag weighed afterwards", "signature": {"password": PASSWORD}})
    assert by_coordinator.status_code == 200 and by_coordinator.get_json()["partial"] is True
    trail = client.get(f"/api/audit?entity_type=infusions&entity_id={infusion_id}",
                       headers=api_token(client, "qa")).get_json()
    nurse_fix = next(e for e in trail if e["action"] == "infusion.corrected" and e["actor"] == "lz-nurse")
    assert nurse_fix["reason"] == "Chills reported after I recorded"
    assert nurse_fix["changes"]["tolerance_grade"] == [0, 2]  # the original stays: old → new
    assert nurse_fix["changes"]["adverse_events"] == [None, "Chills at 25 minutes"]
    assert client.post("/api/infusions/999999/correction", headers=headers, json=fix | {"reason": "x"}).status_code == 404
    db.session.expire_all()
    assert db.session.get(Infusion, infusion_id).tolerance_grade == 2
    # the record page says it was corrected
    from tests.conftest import login

    login(client, "lz-nurse")
    page = html(client.get(f"/bedside/infusions/{infusion_id}"))
    assert "Corrected" in page and "audit trail" in page


def test_api_corrected_times_outside_the_usual_duration_are_confirmed_as_when_recorded(ward, staff, client, clock):
    from cell_chain.infusions.models import Infusion

    headers, checked, infusion_id = recorded_infusion(staff, client, clock)
    path = f"/api/infusions/{infusion_id}/correction"
    three_minutes = {"ended_at": (checked + timedelta(minutes=5)).isoformat(), "reason": "End time misread",
                     "signature": {"password": PASSWORD}}
    refused = client.post(path, headers=headers, json=three_minutes)
    assert refused.status_code == 422 and "confirm_duration" in refused.get_json()["errors"]
    db.session.expire_all()
    assert db.session.get(Infusion, infusion_id).ended_at == checked + timedelta(minutes=38)  # unchanged
    reversed_times = client.post(path, headers=headers, json=three_minutes | {
        "ended_at": checked.isoformat(), "confirm_duration": True})
    assert reversed_times.status_code == 422 and "ended_at" in reversed_times.get_json()["errors"]
    confirmed = client.post(path, headers=headers, json=three_minutes | {"confirm_duration": True})
    assert confirmed.status_code == 200 and confirmed.get_json()["duration_confirmed"] is True
    # A correction that leaves the times alone keeps the confirmation given with them.
    grade = client.post(path, headers=headers, json={"tolerance_grade": 1, "reason": "Mild chills reported",
                                                      "signature": {"password": PASSWORD}})
    assert grade.status_code == 200 and grade.get_json()["duration_confirmed"] is True
    # Times put back within the usual duration need no confirmation, and say none was given.
    usual = client.post(path, headers=headers, json={"ended_at": (checked + timedelta(minutes=38)).isoformat(),
                                                      "reason": "Paper record found", "signature": {"password": PASSWORD}})
    assert usual.status_code == 200 and usual.get_json()["duration_confirmed"] is False
