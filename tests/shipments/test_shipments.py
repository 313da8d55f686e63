"""Shipments and custody on both databases: packing refusals, dispatch, hand-offs, receipt."""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from cell_chain.accounts.models import User
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.accounts.signatures import signatures_for
from cell_chain.shipments import custody, services
from cell_chain.shipments.errors import PackRefused
from cell_chain.shipments.models import CustodyEvent, Shipment, TemperatureWaiver
from tests.conftest import PASSWORD, api_token
from tests.factories import logger_file, released_lot, shippable_doses, signed
from tests.shipments.conftest import dispatched, new_shipment, packed, scan_of


def _refusal(shipment, staff, scan):
    with pytest.raises(PackRefused) as refused:
        services.pack_dose(shipment, scan=scan, actor=staff.lab, now=utcnow())
    db.session.rollback()
    return refused.value.code


def test_packing_refusals_each_with_its_reason(sites, staff):
    [ok] = shippable_doses(staff, "LZ", lot_number="L-OK")
    [other_site] = shippable_doses(staff, "BJ", lot_number="L-BJ")
    [fresh] = shippable_doses(staff, "LZ", presentation="fresh", lot_number="L-FRESH")
    unallocated = released_lot(staff, "L-FREE", doses=1).doses[0]
    shipment = new_shipment(staff, "LZ", "cryo")
    services.pack_dose(shipment, scan=scan_of(ok), actor=staff.lab, now=utcnow())
    db.session.commit()
    assert _refusal(shipment, staff, scan_of(ok)) == "PACK_DUPLICATE"
    assert _refusal(shipment, staff, scan_of(other_site)) == "PACK_WRONG_SITE"
    assert _refusal(shipment, staff, scan_of(fresh)) == "PACK_WRONG_STORAGE"
    assert _refusal(shipment, staff, scan_of(unallocated)) == "PACK_WRONG_STATE"
    later = utcnow() + timedelta(days=800)
    [aging] = shippable_doses(staff, "LZ", lot_number="L-OLD")
    with pytest.raises(PackRefused) as expired:
        services.pack_dose(shipment, scan=scan_of(aging), actor=staff.lab, now=later)
    assert expired.value.code == "PACK_EXPIRED"
    db.session.rollback()
    assert [i.dose.code for i in shipment.items] == [ok.code]


def test_unverified_assignment_label_blocks_packing(sites, staff, client):
    from cell_chain.patients.allocation import allocate_dose
    from cell_chain.patients.enrolment import enrol_patient
    from tests.infusions.conftest import coordinator

    dose = released_lot(staff, "L-U", doses=1).doses[0]
    patient = enrol_patient(site_code="LZ", arm="msc", enrolled_on=utcnow().date(), initials="AB",
                            birth_year=1970, actor=coordinator("LZ"), now=utcnow())
    allocate_dose(patient.visits[0], dose=dose, actor=coordinator("LZ"), now=utcnow())
    db.session.commit()
    shipment = new_shipment(staff)
    r = client.post(f"/api/shipments/{shipment.id}/pack", headers=api_token(client, "lab"), json={"scan": scan_of(dose)})
    assert r.status_code == 409 and r.get_json()["code"] == "PACK_LABELS_NOT_VERIFIED"


def test_garbage_pack_scan_is_422(sites, staff, client):
    shipment = new_shipment(staff)
    r = client.post(f"/api/shipments/{shipment.id}/pack", headers=api_token(client, "lab"), json={"scan": "=+04000garbage"})
    assert r.status_code == 422 and r.get_json()["code"] == "UNRECOGNIZED_BARCODE"


def test_dispatch_needs_the_signature(sites, staff, client):
    doses = shippable_doses(staff, count=2)
    shipment = packed(staff, doses)
    lab = api_token(client, "lab")
    body = {"courier": "ColdChain", "logger_id": "QT-9", "signature": {"password": "wrong-password"}}
    r = client.post(f"/api/shipments/{shipment.id}/dispatch", headers=lab, json=body)
    assert r.status_code == 401 and r.get_json()["code"] == "SIGNATURE_INVALID"
    db.session.expire_all()
    assert shipment.status == "packed" and {d.status for d in doses} == {"packed"}
    r = client.post(f"/api/shipments/{shipment.id}/dispatch", headers=lab, json=body | {"signature": {"password": PASSWORD}})
    assert r.status_code == 200 and r.get_json()["status"] == "dispatched"
    db.session.expire_all()
    assert {d.status for d in doses} == {"in_transit"}
    assert [s.meaning for s in signatures_for(shipment)] == ["Dispatched"]


def test_handoffs_keep_the_chain_unbroken_and_a_forged_event_is_flagged(sites, staff, client):
    [dose] = shippable_doses(staff)
    dose_id = dose.id
    shipment = dispatched(staff, [dose])
    lab = api_token(client, "lab")
    r = client.post(f"/api/shipments/{shipment.id}/handoffs", headers=lab,
                    json={"from_party": "ColdChain Express", "to_party": "Lanzhou Courier", "place": "Lanzhou airport"})
    assert r.status_code == 200 and r.get_json()["status"] == "in_transit"
    detail = client.get(f"/api/doses/{dose.code}", headers=lab).get_json()
    assert detail["custody_unbroken"] is True
    assert [(e["kind"], e["from"], e["to"]) for e in detail["custody"]] == [
        ("dispatch", "lab:A9999", "courier:ColdChain Express"),
        ("handoff", "courier:ColdChain Express", "courier:Lanzhou Courier")]
    # a forged event slipped in between, out of order, with raw SQL
    first_at = db.session.scalar(select(CustodyEvent.occurred_at).where(CustodyEvent.dose_id == dose.id)
                                 .order_by(CustodyEvent.id).limit(1))
    lab_id = staff.lab.id
    db.session.rollback()  # release SQLite's write lock for the raw connection
    forged_at = first_at + timedelta(microseconds=1)
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO custody_events (dose_id, kind, from_party, to_party, place, condition, "
                          "occurred_at, recorded_by_id) VALUES (:d, 'handoff', 'courier:Nobody', 'courier:Thief', "
                          "'car park', 'intact', :at, :u)"),
                     {"d": dose_id, "at": forged_at.replace(tzinfo=None)
                      if db.engine.dialect.name == "sqlite" else forged_at, "u": lab_id})
    db.session.expire_all()
    detail = client.get(f"/api/doses/{dose.code}", headers=lab).get_json()
    assert detail["custody_unbroken"] is False
    assert [e["flagged"] for e in detail["custody"]] == [False, True, True]


def test_nothing_may_follow_a_terminal_event():
    from cell_chain.shipments.models import CustodyEvent as E

    events = [E(id=1, kind="dispatch", from_party="lab", to_party="c"),
              E(id=2, kind="destroy", from_party="c", to_party="destroyed"),
              E(id=3, kind="handoff", from_party="destroyed", to_party="x")]
    check = custody.check_chain(events, "lab")
    assert not check.unbroken and check.breaks[0]["event_id"] == 3


def test_receipt_with_missing_and_unexpected_doses(sites, staff, client):
    doses = shippable_doses(staff, count=3)
    shipment = dispatched(staff, doses)
    [stray] = shippable_doses(staff, lot_number="L-STRAY")
    headers = api_token(client, "lz-pharmacist")
    body = {"scans": [scan_of(doses[0]) + "\r\n", scan_of(doses[1]) + "\n", scan_of(stray), "garbage-scan"],
            "seal_intact": True, "signature": {"password": PASSWORD}}
    r = client.post(f"/api/shipments/{shipment.id}/receive", headers=headers, json=body)
    assert r.status_code == 200, r.get_json()
    result = r.get_json()
    assert result["status"] == "partially_received"
    assert result["accepted"] == [doses[0].code, doses[1].code]
    assert result["missing"] == [doses[2].code]
    assert result["unexpected"] == [stray.code, "garbage-scan"] and result["quarantined"] == []
    db.session.expire_all()
    assert [d.status for d in doses] == ["received", "received", "in_transit"]
    again = client.post(f"/api/shipments/{shipment.id}/receive", headers=headers, json=body)
    assert again.get_json() == result  # idempotent
    detail = client.get(f"/api/doses/{doses[0].code}", headers=headers).get_json()
    assert detail["custody"][-1]["to"] == "pharmacy:LZ" and detail["custody_unbroken"]


def test_broken_seal_quarantines_what_arrives(sites, staff, client):
    doses = shippable_doses(staff, count=1)
    shipment = dispatched(staff, doses)
    r = client.post(f"/api/shipments/{shipment.id}/receive", headers=api_token(client, "lz-pharmacist"),
                    json={"scans": [scan_of(doses[0])], "seal_intact": False, "signature": {"password": PASSWORD}})
    assert r.get_json()["quarantined"] == [doses[0].code] and r.get_json()["status"] == "received"


def test_another_sites_pharmacist_gets_404(sites, staff, client):
    doses = shippable_doses(staff, count=1)
    shipment = dispatched(staff, doses)
    bj = api_token(client, "bj-pharmacist")
    assert client.get(f"/api/shipments/{shipment.id}", headers=bj).status_code == 404
    r = client.post(f"/api/shipments/{shipment.id}/receive", headers=bj,
                    json={"scans": [], "seal_intact": True, "signature": {"password": PASSWORD}})
    assert r.status_code == 404
    assert client.get(f"/api/doses/{doses[0].code}", headers=bj).status_code == 404
    assert client.get(f"/api/shipments/{shipment.id}", headers=api_token(client, "lz-pharmacist")).status_code == 200


def test_concurrent_receipt_counts_once(app, sites, staff):
    doses = shippable_doses(staff, count=2)
    shipment_id = dispatched(staff, doses).id
    ids = [db.session.scalar(select(User.id).where(User.username == u)) for u in ("lz-pharmacist", "lz-pharmacist2")]
    scans = [scan_of(d) for d in doses]
    db.session.rollback()
    barrier = threading.Barrier(2)
    results, errors = [], []

    def worker(user_id):
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                actor = db.session.get(User, user_id)
                shipment = db.session.get(Shipment, shipment_id)
                result = services.receive(shipment, scans=scans, seal_intact=True,
                                          signature=signed(), actor=actor, now=utcnow())
                results.append((result.status, tuple(result.accepted)))
                db.session.commit()
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)

    threads = [threading.Thread(target=worker, args=(u,)) for u in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert len({r for r in results}) == 1 and results[0][0] == "received"
    events = db.session.scalar(select(func.count()).select_from(CustodyEvent).where(CustodyEvent.kind == "receipt"))
    assert events == 2  # one receipt per dose, not per pharmacist
    assert len([s for s in signatures_for(db.session.get(Shipment, shipment_id)) if s.meaning == "Received"]) == 1


def test_pharmacy_thaw_dispense_destroy_return(sites, staff, client):
    doses = shippable_doses(staff, count=3)
    shipment = dispatched(staff, doses)
    headers = api_token(client, "lz-pharmacist")
    client.post(f"/api/shipments/{shipment.id}/receive", headers=headers,
                json={"scans": [scan_of(d) for d in doses], "seal_intact": True, "signature": {"password": PASSWORD}})
    thawed_at = utcnow() - timedelta(minutes=30)
    r = client.post(f"/api/doses/{doses[0].code}/thaw", headers=headers, json={"thawed_at": thawed_at.isoformat()})
    assert r.status_code == 200
    assert r.get_json()["expires_at"].startswith((thawed_at + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M"))
    assert client.post(f"/api/doses/{doses[0].code}/thaw", headers=headers,
                       json={"thawed_at": thawed_at.isoformat()}).status_code == 409
    r = client.post(f"/api/doses/{doses[0].code}/dispense", headers=headers, json={"to": "lz-nurse"})
    assert r.status_code == 409 and r.get_json()["code"] == "TEMPERATURE_DATA_MISSING", r.get_json()
    assert client.post(f"/api/shipments/{shipment.id}/temperature", headers=headers | {"Content-Type": "text/csv"},
                       data=logger_file(shipment)).status_code == 201
    assert client.post(f"/api/doses/{doses[0].code}/dispense", headers=headers, json={"to": "bj-nurse"}).status_code == 422
    r = client.post(f"/api/doses/{doses[0].code}/dispense", headers=headers, json={"to": "lz-nurse"})
    assert r.status_code == 200 and r.get_json()["status"] == "dispensed"
    assert r.get_json()["custody"][-1]["to"] == "ward:LZ:lz-nurse"
    no_witness = client.post(f"/api/doses/{doses[1].code}/destroy", headers=headers,
                             json={"reason": "Bag leaked", "signature": {"password": PASSWORD},
                                   "witness": {"username": "lz-pharmacist", "password": PASSWORD}})
    assert no_witness.status_code == 422 and no_witness.get_json()["code"] == "WITNESS_INVALID"
    destroyed = client.post(f"/api/doses/{doses[1].code}/destroy", headers=headers,
                            json={"reason": "Bag leaked", "signature": {"password": PASSWORD},
                                  "witness": {"username": "lz-pharmacist2", "password": PASSWORD}})
    assert destroyed.status_code == 200 and destroyed.get_json()["status"] == "destroyed"
    returned = client.post(f"/api/doses/{doses[2].code}/return", headers=headers,
                           json={"reason": "Patient withdrew", "signature": {"password": PASSWORD}})
    assert returned.status_code == 200 and returned.get_json()["custody"][-1]["to"] == "lab:A9999"
    assert client.post(f"/api/doses/{doses[2].code}/dispense", headers=headers, json={"to": "lz-nurse"}).status_code == 409


def test_dispense_waits_for_the_shipments_temperature_data_or_a_signed_qa_waiver(sites, staff, client):
    doses = shippable_doses(staff, count=2, presentation="fresh", lot_number="L-W")
    shipment = new_shipment(staff, "LZ", "2-8C")
    for dose in doses:
        services.pack_dose(shipment, scan=scan_of(dose), actor=staff.lab, now=utcnow())
    services.dispatch(shipment, courier="C", logger_id="QT-lost", signature=signed(), actor=staff.lab, now=utcnow())
    db.session.commit()
    pharmacist, qa = api_token(client, "lz-pharmacist"), api_token(client, "qa")
    waiver = f"/api/shipments/{shipment.id}/temperature-waiver"
    body = {"reason": "Logger lost in transit; courier's cold-chain log shows 3-6 °C throughout",
            "signature": {"password": PASSWORD}}
    assert client.post(waiver, headers=pharmacist, json=body).status_code == 403
    client.post(f"/api/shipments/{shipment.id}/receive", headers=pharmacist,
                json={"scans": [scan_of(d) for d in doses], "seal_intact": True, "signature": {"password": PASSWORD}})
    refused = client.post(f"/api/doses/{doses[0].code}/dispense", headers=pharmacist, json={"to": "lz-nurse"})
    assert refused.status_code == 409 and refused.get_json()["code"] == "TEMPERATURE_DATA_MISSING"
    assert f"Shipment {shipment.code} has no temperature data" in refused.get_json()["detail"]
    db.session.expire_all()
    assert doses[0].status == "received"
    no_reason = client.post(waiver, headers=qa, json=body | {"reason": " "})
    assert no_reason.status_code == 422 and no_reason.get_json()["code"] == "REASON_REQUIRED"
    wrong = client.post(waiver, headers=qa, json=body | {"signature": {"password": "wrong-password"}})
    assert wrong.status_code == 401 and wrong.get_json()["code"] == "SIGNATURE_INVALID"
    assert client.post(f"/api/doses/{doses[0].code}/dispense", headers=pharmacist,
                       json={"to": "lz-nurse"}).status_code == 409
    r = client.post(waiver, headers=qa, json=body)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["temperature_data"] == "waived" and r.get_json()["waived_by"] == "Qian QA"
    assert client.post(waiver, headers=qa, json=body).get_json()["code"] == "TEMPERATURE_DATA_PRESENT"
    waived = db.session.scalar(select(TemperatureWaiver).where(TemperatureWaiver.shipment_id == shipment.id))
    assert [s.meaning for s in signatures_for(waived)] == ["Waived"]
    audit = client.get("/api/audit", headers=qa, query_string={"entity_type": "temperature_waivers",
                                                                "entity_id": str(waived.id)}).get_json()
    assert [e["action"] for e in audit][:1] == ["shipment.temperature_waived"], audit
    r = client.post(f"/api/doses/{doses[0].code}/dispense", headers=pharmacist, json={"to": "lz-nurse"})
    assert r.status_code == 200 and r.get_json()["status"] == "dispensed"


def test_dispense_confirms_the_bag_in_hand_when_it_is_scanned(sites, staff, client):
    doses = shippable_doses(staff, count=2)
    shipment = dispatched(staff, doses)
    headers = api_token(client, "lz-pharmacist")
    client.post(f"/api/shipments/{shipment.id}/receive", headers=headers,
                json={"scans": [scan_of(d) for d in doses], "seal_intact": True, "signature": {"password": PASSWORD}})
    client.post(f"/api/shipments/{shipment.id}/temperature", headers=headers | {"Content-Type": "text/csv"},
                data=logger_file(shipment))
    path = f"/api/doses/{doses[0].code}/dispense"
    wrong = client.post(path, headers=headers, json={"to": "lz-nurse", "bag_scan": scan_of(doses[1])})
    assert wrong.status_code == 409 and wrong.get_json()["code"] == "BAG_MISMATCH"
    assert f"dose {doses[1].code}, not dose {doses[0].code}" in wrong.get_json()["detail"]
    garbage = client.post(path, headers=headers, json={"to": "lz-nurse", "bag_scan": "hello"})
    assert garbage.status_code == 422 and garbage.get_json()["code"] == "UNRECOGNIZED_BARCODE"
    r = client.post(path, headers=headers, json={"to": "lz-nurse", "bag_scan": scan_of(doses[0]) + "\r\n"})
    assert r.status_code == 200 and r.get_json()["status"] == "dispensed"


def test_scan_endpoint_classifies_payloads(sites, staff, client):
    [dose] = shippable_doses(staff)
    shipment = packed(staff, [dose])
    lab = api_token(client, "lab")
    assert client.get("/api/scan", headers=lab, query_string={"payload": scan_of(dose)}).get_json()["dose_code"] == dose.code
    assert client.get("/api/scan", headers=lab, query_string={"payload": shipment.code + "\n"}).get_json()["type"] == "shipment"
    assert client.get("/api/scan", headers=lab, query_string={"payload": "LZ-0001"}).get_json() == {
        "type": "patient", "payload": "LZ-0001", "label": None, "subject_id": "LZ-0001"}
    for garbage in ["hello", "=A99", "&/CH", "=+03000=<YA001VAa", "\x01\x02", "LZ-00001"]:
        r = client.get("/api/scan", headers=lab, query_string={"payload": garbage})
        assert r.status_code == 422 and r.get_json()["code"] == "UNRECOGNIZED_BARCODE", garbage
    # A NUL is refused for every input before any view reads it (PostgreSQL text cannot hold it).
    r = client.get("/api/scan", headers=lab, query_string={"payload": "\x00\x01"})
    assert r.status_code == 422 and r.get_json()["code"] == "VALIDATION_ERROR"
    bj = api_token(client, "bj-pharmacist")
    assert client.get("/api/scan", headers=bj, query_string={"payload": "LZ-0001"}).status_code == 404


def _csv(start, temps, minutes=10):
    lines = ["timestamp,celsius"] + [f"{(start + timedelta(minutes=minutes * i)).isoformat()},{t}"
                                     for i, t in enumerate(temps)]
    return "\n".join(lines).encode()


def test_temperature_excursion_quarantines_until_qa_accepts(sites, staff, client):
    from cell_chain.shipments.models import TemperatureRecord

    doses = shippable_doses(staff, count=2, presentation="fresh", lot_number="L-T")
    shipment = new_shipment(staff, "LZ", "2-8C")
    for dose in doses:
        services.pack_dose(shipment, scan=scan_of(dose), actor=staff.lab, now=utcnow())
    services.dispatch(shipment, courier="C", logger_id="QT", signature=signed(), actor=staff.lab,
                      now=utcnow() - timedelta(hours=3))  # the logger file arrives after the journey
    db.session.commit()
    start = shipment.dispatched_at + timedelta(seconds=1)
    lab = api_token(client, "lab")
    garbage = client.post(f"/api/shipments/{shipment.id}/temperature", headers=lab | {"Content-Type": "text/csv"},
                          data=b"\x89PNG\r\n\x1a\nnot a logger")
    assert garbage.status_code == 422 and garbage.get_json()["code"] == "VALIDATION_ERROR"
    assert db.session.scalar(select(func.count()).select_from(TemperatureRecord)) == 0
    # exactly at the limits is inside; one reading at 9.1 °C is an excursion
    data = _csv(start, [5.0, 8.0, 2.0, 9.1, 7.5, 6.0])
    r = client.post(f"/api/shipments/{shipment.id}/temperature", headers=lab | {"Content-Type": "text/csv"}, data=data)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["readings"] == 6 and len(body["excursions"]) == 1
    assert body["excursions"][0]["extreme_celsius"] == 9.1 and body["excursions"][0]["minutes"] == 10
    db.session.expire_all()
    assert {d.status for d in doses} == {"quarantined"}
    svg = client.get(f"/api/shipments/{shipment.id}/temperature.svg", headers=lab)
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    qa = api_token(client, "qa")
    no_reason = client.post(f"/api/shipments/{shipment.id}/excursion-disposition", headers=qa,
                            json={"decision": "accept", "reason": "", "signature": {"password": PASSWORD}})
    assert no_reason.status_code == 422
    ok = client.post(f"/api/shipments/{shipment.id}/excursion-disposition", headers=qa,
                     json={"decision": "accept", "reason": "10 min at 9.1 °C within stability data",
                           "signature": {"password": PASSWORD}})
    assert ok.status_code == 200 and ok.get_json()[0]["status"] == "accepted"
    db.session.expire_all()
    assert {d.status for d in doses} == {"in_transit"}
    assert client.post(f"/api/shipments/{shipment.id}/excursion-disposition", headers=qa,
                       json={"decision": "accept", "reason": "again", "signature": {"password": PASSWORD}}).status_code == 409


def test_rejected_excursion_keeps_doses_quarantined(sites, staff, client):
    doses = shippable_doses(staff, count=1, lot_number="L-R")
    shipment = dispatched(staff, doses, hours_ago=3)
    data = _csv(shipment.dispatched_at + timedelta(seconds=1), [-180, -120, -125, -185])
    lab = api_token(client, "lab")
    assert client.post(f"/api/shipments/{shipment.id}/temperature", headers=lab | {"Content-Type": "text/csv"},
                       data=data).status_code == 201
    r = client.post(f"/api/shipments/{shipment.id}/excursion-disposition", headers=api_token(client, "qa"),
                    json={"decision": "reject", "reason": "Warmed to -120 °C", "signature": {"password": PASSWORD}})
    assert r.status_code == 200
    db.session.expire_all()
    assert doses[0].status == "quarantined"


def test_readings_outside_the_journey_do_not_count(sites, staff, client):
    doses = shippable_doses(staff, count=1, lot_number="L-J")
    shipment = dispatched(staff, doses, hours_ago=4)
    before = shipment.dispatched_at - timedelta(hours=2)
    data = _csv(before, [25.0] * 6 + [-190.0] * 20, minutes=10)  # warm in the lab, cold once packed
    r = client.post(f"/api/shipments/{shipment.id}/temperature", headers=api_token(client, "lab") | {"Content-Type": "text/csv"},
                    data=data)
    assert r.status_code == 201 and r.get_json()["excursions"] == []


def test_a_well_formed_label_of_no_known_dose_is_422_unknown_dose(sites, staff, client):
    [dose] = shippable_doses(staff)
    shipment = new_shipment(staff)
    forged = scan_of(dose).replace("=,000001", "=,000777")
    r = client.post(f"/api/shipments/{shipment.id}/pack", headers=api_token(client, "lab"), json={"scan": forged})
    assert r.status_code == 422 and r.get_json()["code"] == "UNKNOWN_DOSE"
