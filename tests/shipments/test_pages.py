"""The shipment, receipt and pharmacy pages through the test client, on both databases."""
import dataclasses
import html as html_lib
import io
import json
import re
from datetime import timedelta

from sqlalchemy import select

from cell_chain.accounts.models import User
from cell_chain.batches.models import Dose
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.core.isbt128 import Expiry
from cell_chain.accounts.signatures import signatures_for
from cell_chain.patients.allocation import active_allocation_of_dose
from cell_chain.patients.labels import assignment_payload
from cell_chain.labels.payloads import bag_payloads
from cell_chain.shipments import services
from cell_chain.shipments import views as shipment_views
from cell_chain.shipments.models import Excursion, Shipment, UnexpectedItem
from tests.conftest import PASSWORD, api_token, csrf_token, make_user
from tests.factories import logger_file, released_lot, shippable_doses, signed
from tests.pages import page_text, post, section, section_text, statements_of
from tests.shipments.conftest import dispatched, new_shipment, packed, scan_of


def received(staff, client, doses):
    """A shipment of `doses` dispatched to LZ and received whole by the LZ pharmacist's form."""
    shipment = dispatched(staff, doses)
    path = f"/shipments/{shipment.id}/receive"
    response = post(client, path, {"scan": [scan_of(d) for d in doses], "seal_intact": "yes",
                                   "password": PASSWORD})
    assert response.status_code == 302, page_text(response)
    return shipment


# ---- the list and scoping --------------------------------------------------------------------------

def test_the_list_is_scoped_to_the_pharmacists_site_and_another_sites_shipment_is_404(staff, as_user):
    to_lz = dispatched(staff, shippable_doses(staff, "LZ", lot_number="L-LZ"))
    to_bj = new_shipment(staff, "BJ")

    lab_list = as_user("lab").get("/shipments")
    assert to_lz.code in page_text(lab_list) and to_bj.code in page_text(lab_list)
    assert "New shipment" in page_text(lab_list)

    lz = as_user("lz-pharmacist")
    listing = lz.get("/shipments")
    assert to_lz.code in page_text(listing) and to_bj.code not in page_text(listing)
    assert "Receive shipment " + to_lz.code in page_text(listing)
    assert "New shipment" not in page_text(listing)

    bj = as_user("bj-pharmacist")
    assert bj.get(f"/shipments/{to_lz.id}").status_code == 404
    assert bj.get(f"/shipments/{to_lz.id}/receive").status_code == 404
    assert bj.get("/shipments/999999999999").status_code == 404
    assert lz.get(f"/shipments/{to_lz.id}").status_code == 200
    assert as_user("lz-nurse").get("/shipments").status_code == 403


def test_the_home_page_sends_each_role_to_its_shipment_screens(as_user):
    assert 'href="/shipments"' in as_user("lab").get("/").get_data(as_text=True)
    pharmacist = as_user("lz-pharmacist").get("/").get_data(as_text=True)
    assert 'href="/shipments"' in pharmacist and 'href="/pharmacy"' in pharmacist
    assert 'href="/shipments"' in as_user("qa").get("/").get_data(as_text=True)


def test_the_list_adds_no_per_shipment_queries(staff, as_user):
    client = as_user("lab")
    dispatched(staff, shippable_doses(staff, count=2, lot_number="L-A"))
    few = len(statements_of(lambda: client.get("/shipments")))
    for n in range(3):
        dispatched(staff, shippable_doses(staff, count=2, lot_number=f"L-B{n}"))
    assert len(statements_of(lambda: client.get("/shipments"))) == few


def test_lab_starts_a_shipment_and_a_missing_site_is_explained(staff, as_user):
    client = as_user("lab")
    response = post(client, "/shipments", {"storage": "cryo"})
    assert response.status_code == 422
    assert "Choose the site the box goes to." in page_text(response)
    response = post(client, "/shipments", {"site_code": "LZ", "storage": "cryo"})
    assert response.status_code == 302
    shipment = db.session.scalar(select(Shipment))
    assert response.headers["Location"].endswith(f"/shipments/{shipment.id}")
    assert (shipment.status, shipment.storage, shipment.site.code) == ("draft", "cryo", "LZ")


# ---- packing by scanning -----------------------------------------------------------------------------

def test_lab_packs_by_scanning_and_sees_the_dose_packed(staff, as_user):
    [dose] = shippable_doses(staff)
    shipment = new_shipment(staff)
    client = as_user("lab")
    page = client.get(f"/shipments/{shipment.id}").get_data(as_text=True)
    assert re.search(r'<input[^>]*id="scan-input"[^>]*autofocus', page)

    response = post(client, f"/shipments/{shipment.id}/pack", {"scan": scan_of(dose) + "\r\n"})
    assert response.status_code == 302
    shown = client.get(response.headers["Location"])
    assert f"✓ PACKED: dose {dose.code}" in page_text(shown)
    assert "1 dose in the box" in page_text(shown)
    db.session.expire_all()
    assert shipment.status == "packed" and dose.status == "packed"


def _unknown_label(dose):
    payloads = bag_payloads(dose)
    return dataclasses.replace(payloads, expiry=Expiry(at=dose.expires_at + timedelta(days=1))).compound


def test_each_packing_refusal_shows_its_reason_and_code(staff, as_user, monkeypatch):
    from cell_chain.patients.allocation import allocate_dose
    from cell_chain.patients.enrolment import enrol_patient
    from cell_chain.accounts.services import user_by_username

    [ok] = shippable_doses(staff, "LZ", lot_number="L-OK")
    [other_site] = shippable_doses(staff, "BJ", lot_number="L-BJ")
    [fresh] = shippable_doses(staff, "LZ", presentation="fresh", lot_number="L-FRESH")
    unallocated = released_lot(staff, "L-FREE", doses=1).doses[0]
    unverified = released_lot(staff, "L-UNV", doses=1).doses[0]
    coordinator = user_by_username("lz-coordinator")
    patient = enrol_patient(site_code="LZ", arm="msc", enrolled_on=utcnow().date(), initials="AB",
                            birth_year=1970, actor=coordinator, now=utcnow())
    allocate_dose(patient.visits[0], dose=unverified, actor=coordinator, now=utcnow())
    db.session.commit()
    shipment = packed(staff, [ok])
    client = as_user("lab")

    def refusal(scan):
        response = post(client, f"/shipments/{shipment.id}/pack", {"scan": scan},
                        token_from=f"/shipments/{shipment.id}")
        assert response.status_code in (409, 422), page_text(response)
        assert "There is a problem" not in page_text(response)  # the panel at the field says it once
        assert 'role="alert" data-sound="stop"' in response.get_data(as_text=True)
        return response.status_code, section_text(response, "pack")

    cases = [
        (scan_of(ok), "PACK_DUPLICATE", "Already in this box"),
        (scan_of(other_site), "PACK_WRONG_SITE", "For another site"),
        (scan_of(fresh), "PACK_WRONG_STORAGE", "Wrong storage for this box"),
        (scan_of(unallocated), "PACK_WRONG_STATE", "Not ready to ship"),
        (scan_of(unverified), "PACK_LABELS_NOT_VERIFIED", "Labels not verified"),
        ("=+04000garbage", "UNRECOGNIZED_BARCODE", "Not a dose label"),
        ("LZ-0001", "UNRECOGNIZED_BARCODE", "Not a dose label"),
        (_unknown_label(ok), "UNKNOWN_DOSE", "Unknown dose"),
    ]
    for scan, code, words in cases:
        status, pack = refusal(scan)
        assert f"✗ NOT PACKED: {words}" in pack, (code, pack)
        assert f"Code {code}" in pack, (code, pack)
    [aging] = shippable_doses(staff, "LZ", lot_number="L-OLD")
    later = utcnow() + timedelta(days=800)
    monkeypatch.setattr(shipment_views, "utcnow", lambda: later)
    status, pack = refusal(scan_of(aging))
    assert "✗ NOT PACKED: Expired" in pack and "Code PACK_EXPIRED" in pack
    db.session.expire_all()
    assert [i.dose.code for i in shipment.items] == [ok.code]


def test_a_scan_into_a_dispatched_box_is_refused_in_the_error_summary(staff, as_user):
    doses = shippable_doses(staff, count=2)
    shipment = dispatched(staff, doses[:1])
    response = post(as_user("lab"), f"/shipments/{shipment.id}/pack", {"scan": scan_of(doses[1])},
                    token_from=f"/shipments/{shipment.id}")
    assert response.status_code == 409
    assert "There is a problem" in page_text(response)
    assert "nothing more can be packed. Code SHIPMENT_STATE." in page_text(response)


def test_an_empty_scan_is_a_form_error(staff, as_user):
    shipment = new_shipment(staff)
    response = post(as_user("lab"), f"/shipments/{shipment.id}/pack", {"scan": "  "},
                    token_from=f"/shipments/{shipment.id}")
    assert response.status_code == 422
    assert "Scan the Data Matrix on the dose's bag label." in page_text(response)


def test_only_the_lab_packs(staff, as_user):
    shipment = new_shipment(staff)
    client = as_user("lz-pharmacist")
    token = csrf_token(client, "/shipments")
    assert client.post(f"/shipments/{shipment.id}/pack", data={"scan": "x", "csrf_token": token}).status_code == 403


# ---- dispatch and hand-off ------------------------------------------------------------------------------

def test_dispatch_with_a_wrong_password_shows_the_error_and_changes_nothing(staff, as_user):
    doses = shippable_doses(staff, count=2)
    shipment = packed(staff, doses)
    client = as_user("lab")
    path = f"/shipments/{shipment.id}/dispatch"
    body = {"courier": "ColdChain Express", "logger_id": "QT-77", "password": "wrong-password"}
    response = post(client, path, body, token_from=f"/shipments/{shipment.id}")
    assert response.status_code == 401
    assert "The password is wrong" in page_text(response)
    assert 'href="#dispatch-password"' in response.get_data(as_text=True)
    assert 'value="ColdChain Express"' in response.get_data(as_text=True)
    db.session.expire_all()
    assert shipment.status == "packed" and shipment.courier is None
    assert {d.status for d in doses} == {"packed"} and signatures_for(shipment) == []
    assert db.session.scalar(select(User.failed_signatures).where(User.username == "lab")) == 1

    response = post(client, path, body | {"password": PASSWORD}, token_from=f"/shipments/{shipment.id}")
    assert response.status_code == 302
    page = client.get(response.headers["Location"])
    assert "dispatched with ColdChain Express" in page_text(page)
    signatures = section_text(page, "signatures")
    assert "Dispatched" in signatures and "Li Lab" in signatures
    db.session.expire_all()
    assert shipment.status == "dispatched" and {d.status for d in doses} == {"in_transit"}


def test_dispatch_needs_courier_and_logger(staff, as_user):
    shipment = packed(staff, shippable_doses(staff))
    response = post(as_user("lab"), f"/shipments/{shipment.id}/dispatch", {"password": PASSWORD},
                    token_from=f"/shipments/{shipment.id}")
    assert response.status_code == 422
    text = page_text(response)
    assert "Name the courier" in text and "serial number of the temperature logger" in text
    db.session.expire_all()
    assert shipment.status == "packed"


def test_a_hand_off_is_recorded_for_the_whole_box(staff, as_user):
    doses = shippable_doses(staff, count=2)
    shipment = dispatched(staff, doses)
    client = as_user("lab")
    response = post(client, f"/shipments/{shipment.id}/handoff",
                    {"from_party": "ColdChain Express", "to_party": "Lanzhou Courier", "place": "Lanzhou airport"},
                    token_from=f"/shipments/{shipment.id}")
    assert response.status_code == 302
    custody = section_text(client.get(f"/shipments/{shipment.id}"), "custody")
    assert "Courier ColdChain Express → Courier Lanzhou Courier" in custody
    assert "Lanzhou airport" in custody and "All 2" in custody
    db.session.expire_all()
    assert shipment.status == "in_transit"


# ---- the receipt screen ------------------------------------------------------------------------------------

def test_the_receipt_screen_lists_the_expected_doses_with_their_payloads(staff, as_user):
    doses = shippable_doses(staff, count=2)
    shipment = dispatched(staff, doses)
    response = as_user("lz-pharmacist").get(f"/shipments/{shipment.id}/receive")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    for dose in doses:
        row = re.search(rf'<tr id="expected-{re.escape(dose.code)}"[^>]*>', body).group(0)
        payloads = json.loads(html_lib.unescape(re.search(r"data-payloads='([^']*)'", row).group(1)))
        assert payloads == [bag_payloads(dose).compound, assignment_payload(active_allocation_of_dose(dose))]
        subject = active_allocation_of_dose(dose).visit.patient.subject_id
        assert f'data-subject="{subject}"' in row
    assert "Expected 2 Scanned 0 Missing 2 Unexpected 0" in section_text(response, "receipt-counts")
    assert "No logger file yet" in section_text(response, "receipt-temperature")
    assert '<script src="/static/js/receipt.js"' in body and "<script>" not in body
    assert " style=" not in body
    assert re.search(r'<textarea[^>]*name="scans"[^>]*autofocus', body)


def test_receipt_with_missing_and_unexpected_scans_shows_the_result(staff, as_user):
    doses = shippable_doses(staff, count=3)
    shipment = dispatched(staff, doses)
    [stray] = shippable_doses(staff, lot_number="L-STRAY")
    client = as_user("lz-pharmacist")
    path = f"/shipments/{shipment.id}/receive"
    response = post(client, path, {"scan": [scan_of(doses[0]), scan_of(stray), "garbage-scan"],
                                   "scans": assignment_payload(active_allocation_of_dose(doses[1])) + "\r\n",
                                   "seal_intact": "yes", "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"].endswith(path)
    result = client.get(path)
    assert "partially received" in section_text(result, "receipt-heading")
    assert "Accepted 2 Missing 1 Unexpected 2 Quarantined 0" in section_text(result, "result-counts")
    assert doses[0].code in section_text(result, "accepted") and doses[1].code in section_text(result, "accepted")
    assert doses[2].code in section_text(result, "missing")
    unexpected = section_text(result, "unexpected")
    # In words, never the raw payload (issue 18): the stray dose by its code, the garbage by what it is
    assert stray.code in unexpected and "Not a label we print" in unexpected and "garbage-scan" not in result.get_data(as_text=True)
    assert "Received" in section_text(result, "signatures")
    db.session.expire_all()
    assert [d.status for d in doses] == ["received", "received", "in_transit"]
    assert shipment.status == "partially_received"

    again = post(client, path, {"scan": [scan_of(doses[2])], "seal_intact": "yes", "password": PASSWORD},
                 token_from="/shipments")
    assert again.status_code == 200
    assert "Accepted 2 Missing 1 Unexpected 2" in section_text(again, "result-counts")
    db.session.expire_all()
    assert doses[2].status == "in_transit"
    assert len([s for s in signatures_for(shipment) if s.meaning == "Received"]) == 1
    assert len(db.session.scalars(select(UnexpectedItem)).all()) == 2


def test_receipt_with_a_wrong_password_keeps_the_scans_and_changes_nothing(staff, as_user):
    doses = shippable_doses(staff, count=2)
    shipment = dispatched(staff, doses)
    client = as_user("lz-pharmacist")
    path = f"/shipments/{shipment.id}/receive"
    response = post(client, path, {"scan": [scan_of(doses[0])], "seal_intact": "no",
                                   "password": "wrong-password"})
    assert response.status_code == 401
    assert "The password is wrong" in page_text(response)
    body = response.get_data(as_text=True)
    kept = html_lib.unescape(re.search(r'<textarea[^>]*name="scans"[^>]*>([^<]*)</textarea>', body).group(1))
    assert kept.splitlines() == [scan_of(doses[0])]
    assert re.search(r'id="seal_intact-no"[^>]*checked', body)
    db.session.expire_all()
    assert shipment.status == "dispatched" and {d.status for d in doses} == {"in_transit"}


def test_receipt_needs_the_seal_answer_and_the_password(staff, as_user):
    shipment = dispatched(staff, shippable_doses(staff))
    response = post(as_user("lz-pharmacist"), f"/shipments/{shipment.id}/receive", {"scans": "x"})
    assert response.status_code == 422
    text = page_text(response)
    assert "Say whether the box's seal is intact" in text and "Enter your password to sign." in text


def test_a_shipment_not_yet_dispatched_cannot_be_received(staff, as_user):
    shipment = packed(staff, shippable_doses(staff))
    client = as_user("lz-pharmacist")
    response = client.get(f"/shipments/{shipment.id}/receive")
    assert response.status_code == 302
    assert "has not left the lab" in page_text(client.get(response.headers["Location"]))


def test_a_broken_seal_quarantines_what_arrives(staff, as_user):
    doses = shippable_doses(staff)
    shipment = dispatched(staff, doses)
    client = as_user("lz-pharmacist")
    path = f"/shipments/{shipment.id}/receive"
    response = post(client, path, {"scans": scan_of(doses[0]), "seal_intact": "no", "password": PASSWORD})
    assert response.status_code == 302
    result = client.get(path)
    assert "Accepted 0 Missing 0 Unexpected 0 Quarantined 1" in section_text(result, "result-counts")
    assert "Seal broken" in section_text(result, "result-seal")


# ---- temperature ------------------------------------------------------------------------------------

def test_an_unreadable_logger_file_shows_the_parsers_message(staff, as_user):
    shipment = dispatched(staff, shippable_doses(staff))
    client = as_user("lz-pharmacist")
    response = post(client, f"/shipments/{shipment.id}/temperature",
                    {"logger_file": (io.BytesIO(b"\x89PNG\r\n\x1a\nnot a logger"), "trace.png")},
                    token_from=f"/shipments/{shipment.id}", content_type="multipart/form-data")
    assert response.status_code == 422
    assert "PNG image" in section_text(response, "temperature")
    assert 'href="#logger_file"' in response.get_data(as_text=True)
    response = post(client, f"/shipments/{shipment.id}/temperature", {},
                    token_from=f"/shipments/{shipment.id}", content_type="multipart/form-data")
    assert response.status_code == 422 and "Choose the file exported" in page_text(response)


def test_an_excursion_is_shown_and_qa_decides_on_it(staff, as_user):
    doses = shippable_doses(staff, count=2)
    shipment = packed(staff, doses)
    start = (utcnow() - timedelta(hours=3)).replace(microsecond=0)
    services.dispatch(shipment, courier="ColdChain Express", logger_id="QT-1", signature=signed(),
                      actor=staff.lab, now=start)
    db.session.commit()
    lines = ["timestamp,celsius"] + [
        f"{(start + timedelta(minutes=10 * i)).isoformat()},{-120 if 3 <= i <= 6 else -180}" for i in range(12)]
    lab = as_user("lab")
    response = post(lab, f"/shipments/{shipment.id}/temperature",
                    {"logger_file": (io.BytesIO("\n".join(lines).encode()), "QT-1.csv")},
                    token_from=f"/shipments/{shipment.id}", content_type="multipart/form-data")
    assert response.status_code == 302, page_text(response)
    page = lab.get(f"/shipments/{shipment.id}")
    temperature = section_text(page, "temperature")
    assert "excursion(s) found" in page_text(page)
    assert "Open awaiting QA" in temperature
    assert f'src="/api/shipments/{shipment.id}/temperature.svg"' in page.get_data(as_text=True)
    db.session.expire_all()
    assert {d.status for d in doses} == {"quarantined"}

    qa = as_user("qa")
    listing = qa.get("/shipments")
    assert shipment.code in section_text(listing, "awaiting-qa")
    missing = post(qa, f"/shipments/{shipment.id}/excursions", {"decision": "accept", "password": PASSWORD},
                   token_from=f"/shipments/{shipment.id}")
    assert missing.status_code == 422 and "Give the reason for your decision" in page_text(missing)
    response = post(qa, f"/shipments/{shipment.id}/excursions",
                    {"decision": "accept", "reason": "Stability study SS-12 covers 40 min at -120 °C",
                     "password": PASSWORD}, token_from=f"/shipments/{shipment.id}")
    assert response.status_code == 302
    page = qa.get(f"/shipments/{shipment.id}")
    assert "accepted: the doses quarantined for it are back in use" in page_text(page)
    assert "Accepted by Qian QA" in section_text(page, "temperature")
    db.session.expire_all()
    assert {d.status for d in doses} == {"in_transit"}
    assert db.session.scalar(select(Excursion.status)) == "accepted"


# ---- the site pharmacy --------------------------------------------------------------------------------

def test_the_pharmacy_lists_the_sites_doses_and_acts_on_them_through_forms(staff, as_user):
    doses = shippable_doses(staff, count=3)
    client = as_user("lz-pharmacist")
    shipment = received(staff, client, doses)
    inventory = client.get("/pharmacy")
    for dose in doses:
        row = section_text(inventory, f"dose-{dose.code}")
        assert "Received" in row and "LZ site pharmacy" in row and "Frozen" in row and "Thaw" in row
        assert "Destroy" not in row  # the list picks no action: the dose's own page offers them
    assert as_user("bj-pharmacist").get(f"/pharmacy/doses/{doses[0].code}/thaw").status_code == 404
    assert as_user("bj-pharmacist").get(f"/pharmacy/doses/{doses[0].code}").status_code == 404

    dose_page = client.get(f"/pharmacy/doses/{doses[0].code}")
    assert f"Record the thaw of dose {doses[0].code}" in section_text(dose_page, "dose-next")
    assert "Destroy" not in section_text(dose_page, "dose-next")
    assert f"Destroy dose {doses[0].code}" in section_text(dose_page, "out-of-use")
    thaw_form = client.get(f"/pharmacy/doses/{doses[0].code}/thaw").get_data(as_text=True)
    default = re.search(r'id="thawed_at" name="thawed_at" value="([^"]+)"', thaw_form).group(1)
    response = post(client, f"/pharmacy/doses/{doses[0].code}/thaw", {"thawed_at": default})
    assert response.status_code == 302 and response.location.endswith(f"/pharmacy/doses/{doses[0].code}")
    assert f"Dose {doses[0].code} thawed at" in page_text(client.get(response.location))
    again = client.get(f"/pharmacy/doses/{doses[0].code}/thaw")
    assert again.status_code == 302  # already thawed: the dose offers no thaw any more

    # No logger file yet: the dose page says so, and the dispense form is not offered.
    blocked = client.get(f"/pharmacy/doses/{doses[1].code}")
    assert "has no temperature data" in section_text(blocked, "temperature-missing")
    assert "Dispense" not in section_text(blocked, "dose-next")
    assert client.get(f"/pharmacy/doses/{doses[1].code}/dispense").status_code == 302
    post(client, f"/shipments/{shipment.id}/temperature",
         {"logger_file": (io.BytesIO(logger_file(shipment)), "QT-1.csv")}, token_from=f"/shipments/{shipment.id}",
         content_type="multipart/form-data")
    # Frozen, it is thawed first: the page's one main action; the dispense form is open now all the same.
    assert f"Record the thaw of dose {doses[1].code}" in section_text(
        client.get(f"/pharmacy/doses/{doses[1].code}"), "dose-next")

    path = f"/pharmacy/doses/{doses[1].code}/dispense"
    nurses = client.get(path).get_data(as_text=True)
    assert 'value="lz-nurse"' in nurses and "bj-nurse" not in nurses
    response = post(client, path, {"to": "", "bag_scan": ""})
    assert response.status_code == 422 and "Choose the nurse" in page_text(response)
    assert f"Scan the bag label of dose {doses[1].code}" in page_text(response)
    make_user("lz-nurse3", "nurse", "LZ", name="Wu Nurse")
    response = post(client, path, {"to": "lz-nurse3", "bag_scan": scan_of(doses[2])})
    assert response.status_code == 409
    assert f"The label scanned is dose {doses[2].code}, not dose {doses[1].code}" in page_text(response)
    assert 'href="#bag_scan"' in response.get_data(as_text=True)
    response = post(client, path, {"to": "lz-nurse3", "bag_scan": scan_of(doses[1])})
    assert response.status_code == 302
    after = client.get("/pharmacy")
    # People by their printed names, not their usernames.
    assert f"Dose {doses[1].code} for LZ-0002 dispensed to nurse Wu Nurse" in page_text(after)
    row = section_text(after, f"dose-{doses[1].code}")
    assert "Dispensed" in row and "LZ ward, nurse Wu Nurse" in row and "lz-nurse3" not in row

    path = f"/pharmacy/doses/{doses[2].code}/destroy"
    body = {"reason": "bag damaged", "password": PASSWORD, "witness_username": "lz-pharmacist2",
            "witness_password": "wrong-password"}
    response = post(client, path, body)
    assert response.status_code == 401
    assert "The witness's username or password is wrong" in page_text(response)
    assert 'href="#witness_password"' in response.get_data(as_text=True)
    response = post(client, path, body | {"witness_username": "lz-pharmacist"})
    assert response.status_code == 422 and "different person" in page_text(response)
    response = post(client, path, body | {"witness_password": PASSWORD})
    assert response.status_code == 302
    db.session.expire_all()
    assert doses[2].status == "destroyed"
    assert [s.meaning for s in signatures_for(doses[2])] == ["Destroyed", "Witnessed"]
    assert f"dose-{doses[2].code}" not in client.get("/pharmacy").get_data(as_text=True)

    path = f"/pharmacy/doses/{doses[0].code}/return"
    response = post(client, path, {"reason": "", "password": PASSWORD})
    assert response.status_code == 422 and "Give the reason for returning the dose." in page_text(response)
    response = post(client, path, {"reason": "patient withdrawn", "password": "wrong-password"})
    assert response.status_code == 401 and "The password is wrong" in page_text(response)
    response = post(client, path, {"reason": "patient withdrawn", "password": PASSWORD})
    assert response.status_code == 302
    db.session.expire_all()
    assert [d.status for d in doses] == ["returned", "dispensed", "destroyed"]


def test_the_pharmacy_warns_of_expiry_within_a_day(staff, as_user):
    [fresh] = shippable_doses(staff, presentation="fresh", lot_number="L-FRESH")
    client = as_user("lz-pharmacist")
    shipment = services.create_shipment(site_code="LZ", storage="2-8C", actor=staff.lab, now=utcnow())
    services.pack_dose(shipment, scan=scan_of(fresh), actor=staff.lab, now=utcnow())
    services.dispatch(shipment, courier="C", logger_id="L", signature=signed(), actor=staff.lab, now=utcnow())
    db.session.commit()
    post(client, f"/shipments/{shipment.id}/receive",
         {"scan": [scan_of(fresh)], "seal_intact": "yes", "password": PASSWORD})
    row = section_text(client.get("/pharmacy"), f"dose-{fresh.code}")
    assert "Fresh: no thaw" in row and "Thaw" not in row.replace("no thaw", "")
    db.session.execute(Dose.__table__.update().where(Dose.id == fresh.id)
                       .values(expires_at=utcnow() + timedelta(hours=5)))
    db.session.commit()
    assert "Expires in < 24 h" in section_text(client.get("/pharmacy"), f"dose-{fresh.code}")


def test_a_thawed_dose_shows_its_post_thaw_expiry_not_the_one_day_warning(staff, as_user):
    [dose] = shippable_doses(staff)
    client = as_user("lz-pharmacist")
    received(staff, client, [dose])
    assert "Frozen" in section_text(client.get("/pharmacy"), f"dose-{dose.code}")
    thawed_at = utcnow().replace(second=0, microsecond=0) - timedelta(minutes=30)
    response = post(client, f"/pharmacy/doses/{dose.code}/thaw", {"thawed_at": thawed_at.strftime("%Y-%m-%dT%H:%M")})
    assert response.status_code == 302
    row = section_text(client.get("/pharmacy"), f"dose-{dose.code}")
    infuse_by = thawed_at + timedelta(hours=4)
    assert f"{infuse_by:%Y-%m-%d %H:%M} Post-thaw expiry infuse within 4 h of thawing" in row
    assert "Expires in" not in row
    dose_page = client.get(f"/pharmacy/doses/{dose.code}")
    assert "Post-thaw expiry" in section_text(dose_page, "dose-summary") and "Expires in" not in page_text(dose_page)


def test_the_inventory_is_one_query_however_many_doses(staff, as_user):
    client = as_user("lz-pharmacist")
    received(staff, client, shippable_doses(staff, count=1, lot_number="L-1"))
    few = len(statements_of(lambda: client.get("/pharmacy")))
    received(staff, client, shippable_doses(staff, count=4, lot_number="L-2"))
    assert len(statements_of(lambda: client.get("/pharmacy"))) == few


# ---- CSRF ------------------------------------------------------------------------------------------------

def test_forms_without_the_csrf_token_are_refused_with_400(staff, as_user):
    doses = shippable_doses(staff)
    shipment = packed(staff, doses)
    lab = as_user("lab")
    response = lab.post(f"/shipments/{shipment.id}/dispatch",
                        data={"courier": "C", "logger_id": "L", "password": PASSWORD})
    assert response.status_code == 400 and "The form expired" in page_text(response)
    assert lab.post("/shipments", data={"site_code": "LZ", "storage": "cryo"}).status_code == 400
    assert lab.post(f"/shipments/{shipment.id}/pack", data={"scan": scan_of(doses[0])}).status_code == 400
    db.session.expire_all()
    assert shipment.status == "packed"
    services.dispatch(shipment, courier="C", logger_id="L", signature=signed(), actor=staff.lab, now=utcnow())
    db.session.commit()
    response = as_user("lz-pharmacist").post(
        f"/shipments/{shipment.id}/receive",
        data={"scan": [scan_of(doses[0])], "seal_intact": "yes", "password": PASSWORD})
    assert response.status_code == 400
    db.session.expire_all()
    assert shipment.status == "dispatched"


# ---- the pharmacy by scan -------------------------------------------------------------------------------

def test_a_scan_at_the_pharmacy_opens_the_dose_or_says_why_not(staff, as_user):
    [dose] = shippable_doses(staff)
    client = as_user("lz-pharmacist")
    shipment = received(staff, client, [dose])
    [elsewhere] = shippable_doses(staff, "BJ", lot_number="L-BJ")
    response = post(client, "/pharmacy/scan", {"scan": scan_of(dose) + "\r\n"}, token_from="/pharmacy")
    assert response.status_code == 302 and response.location.endswith(f"/pharmacy/doses/{dose.code}")
    assignment = assignment_payload(active_allocation_of_dose(dose))
    assert post(client, "/pharmacy/scan", {"scan": assignment}).location.endswith(f"/pharmacy/doses/{dose.code}")
    garbage = post(client, "/pharmacy/scan", {"scan": "hello"})
    assert garbage.status_code == 422 and "UNRECOGNIZED_BARCODE" in section_text(garbage, "scan-result")
    other = post(client, "/pharmacy/scan", {"scan": scan_of(elsewhere)})
    assert other.status_code == 409 and "not a dose in your pharmacy" in section_text(other, "scan-result")
    assert elsewhere.code not in page_text(other)
    wristband = post(client, "/pharmacy/scan", {"scan": "LZ-0001"})
    assert wristband.status_code == 422 and "Not a dose: a patient label" in section_text(wristband, "scan-result")
    empty = post(client, "/pharmacy/scan", {"scan": ""})
    assert empty.status_code == 422 and 'href="#scan"' in empty.get_data(as_text=True)
    label = post(client, "/pharmacy/scan", {"scan": shipment.code})
    assert label.status_code == 302 and label.location.endswith(f"/shipments/{shipment.id}/receive")


def test_after_receipt_the_next_step_is_the_logger_file_and_qa_may_waive_it(staff, as_user):
    [dose] = shippable_doses(staff)
    client = as_user("lz-pharmacist")
    shipment = received(staff, client, [dose])
    result = client.get(f"/shipments/{shipment.id}/receive")
    assert "Next step: Upload the logger file" in section_text(result, "next-step")
    assert 'action="/shipments/%d/temperature"' % shipment.id in section(result, "next-step")
    assert "Next step" not in page_text(client.get(f"/shipments/{shipment.id}")).split("Temperature")[0]
    assert 'id="waive"' not in client.get(f"/shipments/{shipment.id}").get_data(as_text=True)  # QA's form only

    qa = as_user("qa")
    page = f"/shipments/{shipment.id}"
    path = f"{page}/temperature-waiver"
    response = post(qa, path, {"waiver_reason": "", "password": PASSWORD}, token_from=page)
    assert response.status_code == 422 and "Give the reason the temperature data is waived" in page_text(response)
    response = post(qa, path, {"waiver_reason": "Logger lost in transit", "password": "wrong-password"})
    assert response.status_code == 401 and "The password is wrong" in page_text(response)
    response = post(qa, path, {"waiver_reason": "Logger lost in transit", "password": PASSWORD})
    assert response.status_code == 302
    temperature = section_text(qa.get(page), "temperature")
    assert "Waived by QA" in temperature and "Qian QA" in temperature and "Logger lost in transit" in temperature
    assert 'id="waive"' not in qa.get(page).get_data(as_text=True)
    assert "Next step" not in page_text(client.get(f"/shipments/{shipment.id}/receive"))
    dose_page = client.get(f"/pharmacy/doses/{dose.code}")
    assert "Waived by QA" in section_text(dose_page, "dose-summary")
    assert f"Record the thaw of dose {dose.code}" in section_text(dose_page, "dose-next")


def test_a_dose_awaiting_qa_is_neither_destroyed_nor_returned(staff, as_user, client):
    [dose] = shippable_doses(staff)
    pharmacist = as_user("lz-pharmacist")
    shipment = dispatched(staff, [dose], hours_ago=2)
    post(pharmacist, f"/shipments/{shipment.id}/receive", {"scan": [scan_of(dose)], "seal_intact": "yes",
                                                           "password": PASSWORD})
    start = shipment.dispatched_at + timedelta(minutes=1)
    trace = "timestamp,celsius\n" + "".join(f"{(start + timedelta(minutes=10 * i)).isoformat()},-100\n"
                                             for i in range(3))
    assert post(pharmacist, f"/shipments/{shipment.id}/temperature",
                {"logger_file": (io.BytesIO(trace.encode()), "warm.csv")}, token_from=f"/shipments/{shipment.id}",
                content_type="multipart/form-data").status_code == 302
    db.session.expire_all()
    assert dose.status == "quarantined" and dose.quarantine_cause == "excursion"
    page = pharmacist.get(f"/pharmacy/doses/{dose.code}")
    assert "QA has not decided" in section_text(page, "dose-awaiting-qa")
    assert "Destroy" not in page_text(page) and "Return to the manufacturer" not in page_text(page)
    assert "Awaiting QA" in section_text(pharmacist.get("/pharmacy"), f"dose-{dose.code}")
    assert pharmacist.get(f"/pharmacy/doses/{dose.code}/destroy").status_code == 302
    refused = client.post(f"/api/doses/{dose.code}/return", headers=api_token(client, "lz-pharmacist"),
                          json={"reason": "excursion", "signature": {"password": PASSWORD}})
    assert refused.status_code == 409 and refused.get_json()["code"] == "AWAITING_QA_DECISION"
    # QA rejects the excursion: a settled reason, and the dose may now leave the pharmacy.
    services.dispose_excursion(shipment, decision="reject", reason="Warmed to -100 °C", signature=signed(),
                               actor=staff.qa, now=utcnow())
    db.session.commit()
    page = pharmacist.get(f"/pharmacy/doses/{dose.code}")
    assert f"Destroy dose {dose.code}" in section_text(page, "out-of-use")
    assert "Dispense" not in section_text(page, "dose-next")


def test_an_expired_dose_says_so_and_offers_only_destroy_or_return(staff, as_user):
    [dose] = shippable_doses(staff)
    client = as_user("lz-pharmacist")
    shipment = received(staff, client, [dose])
    post(client, f"/shipments/{shipment.id}/temperature",
         {"logger_file": (io.BytesIO(logger_file(shipment)), "QT-1.csv")}, token_from=f"/shipments/{shipment.id}",
         content_type="multipart/form-data")
    db.session.execute(Dose.__table__.update().where(Dose.id == dose.id)
                       .values(expires_at=utcnow() - timedelta(minutes=5)))
    db.session.commit()
    page = client.get(f"/pharmacy/doses/{dose.code}")
    assert "It cannot be given to the patient. Destroy it or return it" in section_text(page, "dose-expired")
    assert "Dispense" not in section_text(page, "dose-next") and "Record the thaw" not in section_text(page, "dose-next")
    assert f"Destroy dose {dose.code}" in section_text(page, "out-of-use")
    assert "Expired" in section_text(client.get("/pharmacy"), f"dose-{dose.code}")
    assert client.get(f"/pharmacy/doses/{dose.code}/dispense").status_code == 302
