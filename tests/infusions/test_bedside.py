"""Bedside verification and the infusion record: every stop code from realistic data."""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from cell_chain.accounts.models import User
from cell_chain.batches import services as batches
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.accounts.signatures import SignatureInput, WitnessInput
from cell_chain.infusions import bedside
from cell_chain.patients.allocation import active_allocation_of_dose
from cell_chain.patients.labels import assignment_payload
from cell_chain.infusions.models import BedsideCheck, Infusion
from cell_chain.labels.payloads import bag_payloads
from tests.conftest import PASSWORD, api_token, make_site, make_user
from tests.factories import doses_at_site, doses_on_ward, released_lot, shippable_doses, signed
from tests.infusions.conftest import coordinator, enrol


@pytest.fixture
def ward(app):
    for code in ("LZ", "BJ"):
        make_site(code)
        make_user(f"{code.lower()}-coordinator", "coordinator", code)
        make_user(f"{code.lower()}-pharmacist", "pharmacist", code)
        make_user(f"{code.lower()}-nurse", "nurse", code)
        make_user(f"{code.lower()}-nurse2", "nurse", code)


def nurse(site="LZ", n=""):
    from cell_chain.accounts.services import user_by_username

    return user_by_username(f"{site.lower()}-nurse{n}")


def subject_of(dose):
    return active_allocation_of_dose(dose).visit.patient.subject_id


def stops(patient_scan, dose_scan, now=None, who=None):
    result = bedside.verify_infusion(patient_scan, dose_scan, actor=who or nurse(), now=now or utcnow())
    return result.decision.stops, result.decision.warnings


# As on the ward: the bedside check at 09:00, the drip started at 09:02 and ended at 09:38,
# the record made at 09:40.
STARTS, ENDS, RECORDED = timedelta(minutes=2), timedelta(minutes=38), timedelta(minutes=40)


def given(checked_at, **overrides):
    values = dict(started_at=checked_at + STARTS, ended_at=checked_at + ENDS, volume_ml=40.0,
                  tolerance_grade=0, adverse_events=None, serious=False, acknowledged_warnings={})
    return bedside.InfusionInput(**(values | overrides))


def record(dose, checked_at, patient_scan=None, who=None, witness="lz-nurse2", at=None, **overrides):
    """Record the infusion of a bedside check made at `checked_at` (recorded at `at`, else
    when the infusion has ended)."""
    return bedside.record_infusion(patient_scan or subject_of(dose), bag_payloads(dose).compound,
                                   given=given(checked_at, **overrides), signature=SignatureInput(PASSWORD, ""),
                                   witnessed_by=WitnessInput(witness, PASSWORD), actor=who or nurse(),
                                   now=at or checked_at + RECORDED)


def test_matched_in_either_order_then_recorded(ward, staff):
    [dose] = doses_on_ward(staff)
    assert stops(subject_of(dose), bag_payloads(dose).compound) == ([], [])
    assert stops(bag_payloads(dose).compound + "\r\n", " " + subject_of(dose)) == ([], [])
    allocation = active_allocation_of_dose(dose)
    assert stops(subject_of(dose), assignment_payload(allocation)) == ([], [])
    infusion = record(dose, utcnow())
    db.session.commit()
    assert dose.status == "administered" and allocation.visit.recorded == "done"
    assert infusion.partial is False and infusion.coi == allocation.coi
    # a second scan of the same bag: given already (and, for this patient, too soon)
    assert stops(subject_of(dose), bag_payloads(dose).compound)[0] == ["ALREADY_ADMINISTERED", "TOO_SOON"]


@pytest.mark.parametrize("patient_scan, dose_scan", [("garbage", "LZ-0001"), ("LZ-0001", "LZ-0001"), ("", "")])
def test_unrecognized(ward, staff, patient_scan, dose_scan):
    assert stops(patient_scan, dose_scan)[0] == ["UNRECOGNIZED_BARCODE"]


def test_unknown_patient_and_unknown_dose(ward, staff):
    [dose] = doses_on_ward(staff)
    assert stops("LZ-9999", bag_payloads(dose).compound)[0][0] == "UNKNOWN_PATIENT"
    forged = bag_payloads(dose).compound.replace("=,000001", "=,000777")
    assert stops(subject_of(dose), forged)[0] == ["UNKNOWN_DOSE"]


def test_wrong_patient_even_when_the_dose_is_scanned_first(ward, staff):
    first, second = doses_on_ward(staff, count=2)
    result = stops(bag_payloads(first).compound, subject_of(second))[0]
    assert "WRONG_PATIENT" in result


def test_wrong_site(ward, staff):
    [dose] = doses_on_ward(staff)
    assert "WRONG_SITE" in stops(subject_of(dose), bag_payloads(dose).compound, who=nurse("BJ"))[0]


def test_control_arm_withdrawn_and_fifth_dose_are_not_in_msc_arm(ward, staff):
    [dose] = doses_on_ward(staff)
    control = enrol(arm="control")
    assert "PATIENT_NOT_IN_MSC_ARM" in stops(control.subject_id, bag_payloads(dose).compound)[0]
    # four doses given already (earlier, each 90 days apart)
    doses = doses_on_ward(staff, count=1, lot_number="L-4")
    patient = active_allocation_of_dose(doses[0]).visit.patient
    start = utcnow() - timedelta(days=400)
    from cell_chain.core import audit

    for n in range(4):
        audit.record_created(Infusion(dose_id=released_lot(staff, f"L-P{n}", doses=1).doses[0].id, patient_id=patient.id,
                                visit_id=patient.visits[n].id if n else enrol().visits[0].id, coi=f"A99992600{n:04d}",
                                started_at=start + timedelta(days=90 * n), ended_at=start + timedelta(days=90 * n),
                                volume_ml=40, partial=False, tolerance_grade=0, serious=False, out_of_window=False,
                                nurse_id=nurse().id, witness_id=nurse("LZ", "2").id, recorded_at=start),
                             "infusion.recorded", actor=None, at=start)
    db.session.commit()
    assert "PATIENT_NOT_IN_MSC_ARM" in stops(patient.subject_id, bag_payloads(doses[0]).compound)[0]


def test_expired_by_one_minute(ward, staff):
    [dose] = doses_on_ward(staff, presentation="fresh", lot_number="L-F")
    assert "DOSE_EXPIRED" not in stops(subject_of(dose), bag_payloads(dose).compound, now=dose.expires_at - timedelta(minutes=1))[0]
    assert "DOSE_EXPIRED" in stops(subject_of(dose), bag_payloads(dose).compound, now=dose.expires_at + timedelta(minutes=1))[0]


def test_recalled_after_dispensing(ward, staff):
    [dose] = doses_on_ward(staff)
    batches.recall_lot(dose.lot, reason="Retained sample positive", signature=signed(), actor=staff.qa, now=utcnow())
    db.session.commit()
    result = stops(subject_of(dose), bag_payloads(dose).compound)[0]
    assert "DOSE_RECALLED" in result and "DOSE_QUARANTINED" not in result


def test_quarantined_dose(ward, staff):
    [dose] = doses_on_ward(staff)
    batches.quarantine_dose(dose, cause="other", reason="bag damaged", actor=staff.qa, now=utcnow())
    assert stops(subject_of(dose), bag_payloads(dose).compound)[0] == ["DOSE_QUARANTINED"]


def test_not_released_and_not_received(ward, staff):
    [dose] = shippable_doses(staff, lot_number="L-NR")  # allocated but still in the lab
    assert stops(subject_of(dose), bag_payloads(dose).compound)[0] == ["NOT_RECEIVED"]
    dose.lot.status = "quarantine"  # as if release were reversed: the rule must still stop it
    assert "DOSE_NOT_RELEASED" in bedside.decide(
        bedside.load_facts(subject_of(dose), bag_payloads(dose).compound, nurse=nurse()),
        now=utcnow(), min_interval=timedelta(days=60)).stops
    db.session.rollback()


def test_temperature_excursion(ward, staff):
    from cell_chain.shipments.models import Excursion, ShipmentItem, TemperatureRecord

    [dose] = doses_on_ward(staff)
    item = db.session.scalar(select(ShipmentItem).where(ShipmentItem.dose_id == dose.id))
    record_ = TemperatureRecord(shipment_id=item.shipment_id, source_format="csv", readings_count=0,
                                readings_json="[]", uploaded_by_id=staff.lab.id, uploaded_at=utcnow())
    db.session.add(record_)
    db.session.flush()
    db.session.add(Excursion(shipment_id=item.shipment_id, record_id=record_.id, start=utcnow(), end=utcnow(),
                             minutes=30, extreme_celsius=-120, status="open"))
    db.session.flush()
    assert "TEMPERATURE_EXCURSION" in stops(subject_of(dose), bag_payloads(dose).compound)[0]
    db.session.rollback()


def test_too_soon_and_out_of_window(ward, staff):
    now = utcnow()
    [first] = doses_on_ward(staff, lot_number="L-1")
    patient = active_allocation_of_dose(first).visit.patient
    stops(patient.subject_id, bag_payloads(first).compound, now=now)
    record(first, now)
    db.session.commit()
    second = released_lot(staff, "L-2", doses=1).doses[0]
    from cell_chain.patients.allocation import allocate_dose

    allocate_dose(patient.visits[1], dose=second, actor=coordinator(), now=now)
    db.session.commit()
    later = now + timedelta(days=30)
    facts = bedside.load_facts(patient.subject_id, bag_payloads(second).compound, nurse=nurse())
    decision = bedside.decide(facts, now=later, min_interval=timedelta(days=60))
    assert "TOO_SOON" in decision.stops and decision.warnings == ["OUT_OF_WINDOW"]


def test_stale_verification_is_refused(ward, staff):
    [dose] = doses_on_ward(staff)
    now = utcnow()
    stops(subject_of(dose), bag_payloads(dose).compound, now=now - timedelta(minutes=11))
    with pytest.raises(bedside.VerificationRequired):
        record(dose, now)
    db.session.rollback()
    # another nurse's fresh verification does not count for this nurse
    stops(subject_of(dose), bag_payloads(dose).compound, now=now, who=nurse("LZ", "2"))
    with pytest.raises(bedside.VerificationRequired):
        record(dose, now)


def test_witness_cannot_be_the_nurse(ward, staff):
    from cell_chain.accounts.signatures import WitnessInvalid

    [dose] = doses_on_ward(staff)
    now = utcnow()
    stops(subject_of(dose), bag_payloads(dose).compound, now=now)
    with pytest.raises(WitnessInvalid):
        record(dose, now, witness="lz-nurse")


def test_api_verify_record_and_partial_infusion(ward, staff, client, clock):
    [dose] = doses_on_ward(staff)
    headers = api_token(client, "lz-nurse")
    scans = {"patient_scan": subject_of(dose), "dose_scan": bag_payloads(dose).compound}
    checked = utcnow()
    body = client.post("/api/infusions/verify", headers=headers, json=scans).get_json()
    assert body["ok"] and body["stops"] == [] and body["patient"]["subject_id"] == subject_of(dose)
    assert body["dose"]["code"] == dose.code and body["visit"]["number"] == 1
    clock.travel(RECORDED)
    record_body = scans | {"started_at": (checked + STARTS).isoformat(), "ended_at": (checked + ENDS).isoformat(),
                           "volume_ml": 32.5, "tolerance_grade": 1, "adverse_events": "Mild chills",
                           "serious": False, "signature": {"password": PASSWORD},
                           "witness": {"username": "lz-nurse2", "password": PASSWORD}}
    unexplained = client.post("/api/infusions", headers=headers, json=record_body)
    assert unexplained.status_code == 422 and "partial_reason" in unexplained.get_json()["errors"]
    record_body["partial_reason"] = "Line occluded; stopped at 32.5 ml"
    r = client.post("/api/infusions", headers=headers, json=record_body)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["partial"] is True and r.get_json()["partial_reason"] == "Line occluded; stopped at 32.5 ml"
    again = client.post("/api/infusions", headers=headers, json=record_body)
    assert again.status_code == 409 and again.get_json()["code"] == "ALREADY_ADMINISTERED"
    wrong = client.post("/api/infusions/verify", headers=headers,
                        json={"patient_scan": "LZ-0001", "dose_scan": "nonsense"}).get_json()
    assert wrong["ok"] is False and wrong["stops"][0]["code"] == "UNRECOGNIZED_BARCODE"
    detail = client.get(f"/api/doses/{dose.code}", headers=headers).get_json()
    assert detail["custody"][-1]["to"] == f"patient:{subject_of(dose)}" and detail["custody_unbroken"]
    recall = client.post(f"/api/lots/{dose.lot.id}/recall", headers=api_token(client, "qa"),
                         json={"reason": "Lookback", "signature": {"password": PASSWORD}}).get_json()
    assert recall["administered_doses"] == [{"code": dose.code, "subject_id": subject_of(dose)}]
    assert recall["affected_patients"] == [subject_of(dose)]


def test_every_stop_is_logged_and_countable(ward, staff, client):
    headers = api_token(client, "lz-nurse")
    for _ in range(3):
        client.post("/api/infusions/verify", headers=headers, json={"patient_scan": "x", "dose_scan": "y"})
    assert db.session.scalar(select(func.count()).select_from(BedsideCheck).where(
        BedsideCheck.stops == "UNRECOGNIZED_BARCODE")) == 3


def test_verify_query_count_does_not_grow_with_data(ward, staff):
    from sqlalchemy import event

    [dose] = doses_on_ward(staff, lot_number="L-A")
    statements = []

    def count(*args):
        statements.append(args[2])

    def measure():
        db.session.commit()
        db.session.expire_all()  # as in a fresh request: nothing cached
        statements.clear()
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            stops()
            db.session.flush()
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(statements)

    patient_scan, dose_scan = subject_of(dose), bag_payloads(dose).compound

    def stops(*_):  # noqa: F811 - the measured call, with scans computed beforehand
        bedside.verify_infusion(patient_scan, dose_scan, actor=nurse_user, now=utcnow())

    nurse_user = nurse()
    few = measure()
    doses_on_ward(staff, count=6, lot_number="L-B")
    assert measure() == few


def test_concurrent_double_record_yields_one_infusion(app, ward, staff):
    [dose] = doses_on_ward(staff)
    now = utcnow()
    patient_scan, dose_scan = subject_of(dose), bag_payloads(dose).compound
    nurse_ids = [nurse().id, nurse("LZ", "2").id]
    for n in (nurse(), nurse("LZ", "2")):
        stops(patient_scan, dose_scan, now=now, who=n)
    db.session.commit()
    db.session.rollback()
    barrier = threading.Barrier(2)
    outcomes, errors = [], []

    def worker(nurse_id, witness_name):
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                actor = db.session.get(User, nurse_id)
                bedside.record_infusion(patient_scan, dose_scan, given=given(now), signature=SignatureInput(PASSWORD, ""),
                                        witnessed_by=WitnessInput(witness_name, PASSWORD), actor=actor,
                                        now=now + RECORDED)
                db.session.commit()
                outcomes.append("recorded")
            except bedside.InfusionStopped as stopped:
                db.session.rollback()
                outcomes.append(stopped.code)
            except Exception as error:  # noqa: BLE001
                errors.append(error)

    threads = [threading.Thread(target=worker, args=(nurse_ids[0], "lz-nurse2")),
               threading.Thread(target=worker, args=(nurse_ids[1], "lz-nurse"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert sorted(outcomes) == ["ALREADY_ADMINISTERED", "recorded"]
    assert db.session.scalar(select(func.count()).select_from(Infusion)) == 1


def test_an_unallocated_dose_is_never_this_patients(ward, staff):
    dose = released_lot(staff, "L-FREE", doses=1).doses[0]
    patient = enrol()
    result = stops(patient.subject_id, bag_payloads(dose).compound)[0]
    assert "WRONG_PATIENT" in result and "NOT_RECEIVED" in result


def test_a_forged_assignment_label_names_no_dose(ward, staff):
    from cell_chain.core.isbt128 import Din, assignment_compound
    from cell_chain.patients.allocation import coi_from_code

    [dose] = doses_on_ward(staff)
    allocation = active_allocation_of_dose(dose)
    bag = bag_payloads(dose)
    # this allocation's COI with another lot's DIN: a label nobody printed
    forged = assignment_compound(coi_from_code(allocation.coi), Din("A9999", 26, 999_999), bag.product)
    assert stops(subject_of(dose), forged)[0] == ["UNKNOWN_DOSE"]
    assert stops(subject_of(dose), assignment_payload(allocation))[0] == []


@pytest.mark.parametrize("label", ["bag", "assignment", "unknown patient", "unreadable"])
def test_verify_reads_in_one_statement_and_writes_the_log_in_one(ward, staff, label):
    from sqlalchemy import event

    [dose] = doses_on_ward(staff)
    patient_scan, dose_scan = subject_of(dose), bag_payloads(dose).compound
    if label == "assignment":
        dose_scan = assignment_payload(active_allocation_of_dose(dose))
    elif label == "unknown patient":
        patient_scan = "LZ-9999"
    elif label == "unreadable":
        dose_scan = "garbage"
    db.session.commit()
    nurse_user = nurse()  # loaded, as the request's actor is
    statements = []

    def count(conn, cursor, statement, *args):
        if not statement.lstrip().upper().startswith(("BEGIN", "SAVEPOINT", "RELEASE")):
            statements.append(statement.lstrip().split()[0].upper())

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        bedside.verify_infusion(patient_scan, dose_scan, actor=nurse_user, now=utcnow())
        db.session.commit()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert statements == (["INSERT"] if label == "unreadable" else ["SELECT", "INSERT"])
    assert db.session.scalar(select(func.count()).select_from(BedsideCheck)) == 1
