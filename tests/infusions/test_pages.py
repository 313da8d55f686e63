"""The coordinator's pages through the test client: patient list and page, enrolment,
allocation, withdrawal, wristband and assignment labels; the lab's bag-label preview and lot print."""
import io
import re
from datetime import UTC, datetime, time, timedelta

import pypdfium2
import pytest
from PIL import Image
from sqlalchemy import func, select, update

from cell_chain.accounts.services import user_by_username
from cell_chain.batches import services as batches
from cell_chain.batches.models import Dose
from cell_chain.core.audit import AuditEvent
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.accounts.signatures import signatures_for
from cell_chain.patients import allocation as allocations
from cell_chain.patients import enrolment as patients
from cell_chain.patients.labels import assignment_payload
from cell_chain.patients.models import Allocation, Patient, Visit
from cell_chain.labels import services as labels
from cell_chain.labels.models import LabelVerification, PrintJob
from cell_chain.labels.payloads import bag_payloads
from tests.conftest import PASSWORD, csrf_token
from tests.factories import make_donor, make_lot, released_lot, signed
from tests.infusions.conftest import coordinator, enrol
from tests.pages import html, post, section, statements_of, text


def days_ago(days):
    return utcnow().date() - timedelta(days=days)


def record(patient, **states):
    """Infusions are not recorded by a service yet: set a visit's stored outcome directly."""
    for number, recorded in states.items():
        db.session.execute(update(Visit).where(Visit.patient_id == patient.id,
                                               Visit.number == int(number[1:])).values(recorded=recorded))
    db.session.commit()


# ---- the patient list ------------------------------------------------------------------------

def test_list_shows_only_the_sites_patients_and_each_visit_state_in_words(as_user):
    due = enrol()                                        # LZ-0001: visit 1 due now
    late = enrol(enrolled_on=days_ago(100))              # LZ-0002: visit 1 missed, visit 2 due
    veteran = enrol(enrolled_on=days_ago(200))           # LZ-0003: done, out of window, overdue, upcoming
    record(veteran, v1="done", v2="done_out_of_window")
    enrol(arm="control")                                 # LZ-0004
    gone = enrol()                                       # LZ-0005: withdrawn, visits skipped
    patients.withdraw_patient(gone, reason="Consent withdrawn", signature=signed(), actor=coordinator(),
                              now=utcnow())
    db.session.commit()
    enrol("BJ")                                          # BJ-0001: another site's
    assert [due.subject_id, late.subject_id, veteran.subject_id, gone.subject_id] == [
        "LZ-0001", "LZ-0002", "LZ-0003", "LZ-0005"]

    page = html(as_user("lz-coordinator").get("/patients"))

    assert "BJ-0001" not in page
    assert [s for s in re.findall(r'id="patient-([A-Z]+-\d+)"', page)] == [
        "LZ-0001", "LZ-0002", "LZ-0003", "LZ-0004", "LZ-0005"]
    first = section(page, "patient-LZ-0001")
    assert 'role="img"' in first and "visit 1 due now" in first
    assert text(first).count("Upcoming") == 3 and "Due now" in text(first)
    assert "Missed ✗" in text(section(page, "patient-LZ-0002"))
    assert 'aria-label="Schedule: visit 1 missed; visit 2 due now' in section(page, "patient-LZ-0002")
    veteran_row = text(section(page, "patient-LZ-0003"))
    assert "Done ✓" in veteran_row and "out of window" in veteran_row and "Overdue" in veteran_row
    assert "Visit 3 overdue since" in veteran_row and "no dose allocated" in veteran_row
    control = text(section(page, "patient-LZ-0004"))
    assert "Control arm — no study doses" in control and "<svg" not in section(page, "patient-LZ-0004")
    withdrawn = section(page, "patient-LZ-0005")
    assert text(withdrawn).count("Skipped") == 4 and "Withdrawn" in text(withdrawn)
    assert "Enrol a patient" in page


def test_central_roles_see_every_site_with_the_site_shown(as_user):
    enrol()
    enrol("BJ")
    page = html(as_user("monitor").get("/patients"))
    assert "LZ-0001" in page and "BJ-0001" in page
    assert "Site" in text(section(page, "main").split("<tbody>")[0])
    assert "Enrol a patient" not in page


def test_the_list_query_count_does_not_grow_with_patients(as_user, staff):
    released_lot(staff, "L-1", doses=8)
    client = as_user("lz-coordinator")

    def enrol_allocated(count):
        for _ in range(count):
            patient = enrol()
            allocations.allocate_dose(patient.visits[0], dose=None, actor=coordinator(), now=utcnow())
            db.session.commit()

    enrol_allocated(2)
    few = len(statements_of(lambda: client.get("/patients")))
    enrol_allocated(6)
    statements = statements_of(lambda: client.get("/patients"))
    page = html(client.get("/patients"))
    assert page.count("dose A9999") == 8
    assert len(statements) == few


# ---- a patient's page --------------------------------------------------------------------------

def test_another_sites_patient_answers_404_on_every_page(as_user):
    enrol("BJ")
    client = as_user("lz-coordinator")
    for path in ("/patients/BJ-0001", "/patients/BJ-0001/visits/1/allocate", "/patients/BJ-0001/withdraw",
                 "/patients/BJ-0001/visits/1/deallocate", "/patients/NOPE-1"):
        assert client.get(path).status_code == 404, path
    assert post(client, "/patients/BJ-0001/wristband", {}, token_from="/patients").status_code == 404


def test_patient_page_shows_header_schedule_wristband_and_coordinator_actions(as_user):
    enrol()
    page = html(as_user("lz-coordinator").get("/patients/LZ-0001"))
    assert "Patient LZ-0001" in page and "WL" in page and "1975" in page
    assert "MSC + conventional therapy" in page and "LZ Hospital (LZ)" in page
    assert 'class="timeline large"' in page
    assert "Due now" in text(section(page, "visit-1")) and "Allocate a dose" in section(page, "visit-1")
    assert "Upcoming" in text(section(page, "visit-4"))
    assert "The wristband carries LZ-0001" in text(section(page, "wristband"))
    assert "Print wristband (PDF)" in page and "Withdraw LZ-0001" in page

    nurse_page = html(as_user("lz-nurse").get("/patients/LZ-0001"))
    assert "Print wristband (PDF)" in nurse_page
    assert "Allocate a dose" not in nurse_page and "Withdraw LZ-0001" not in nurse_page


def test_control_arm_patient_page_says_no_study_doses(as_user):
    enrol(arm="control")
    page = html(as_user("lz-coordinator").get("/patients/LZ-0001"))
    assert "Control arm — no study doses" in page and 'id="visit-1"' not in page


# ---- enrolment ---------------------------------------------------------------------------------

def test_coordinator_enrols_through_the_form(as_user):
    client = as_user("lz-coordinator")
    form = html(client.get("/patients/new"))
    assert "LZ Hospital (LZ)" in form and 'name="site' not in form
    response = post(client, "/patients/new", {"arm": "msc", "enrolled_on": utcnow().date().isoformat(),
                                              "initials": "wl", "birth_year": "1975"})
    assert response.status_code == 302 and response.location.endswith("/patients/LZ-0001")
    page = html(client.get("/patients/LZ-0001"))
    assert "LZ-0001 enrolled in the MSC arm: four visits planned" in page
    patient = db.session.scalar(select(Patient))
    assert (patient.initials, patient.birth_year, len(patient.visits)) == ("WL", 1975, 4)


def test_enrolment_outside_the_age_range_is_refused_with_the_reason_and_saves_nothing(as_user):
    response = post(as_user("lz-coordinator"), "/patients/new",
                    {"arm": "msc", "enrolled_on": utcnow().date().isoformat(), "initials": "WL",
                     "birth_year": str(utcnow().year - 25)})
    assert response.status_code == 422
    page = html(response)
    summary = section(page, "error-summary-title")
    assert "There is a problem" in summary
    assert 'href="#birth_year"' in page
    assert "Age at enrolment would be 25; the protocol enrols patients aged 30–60." in page
    assert db.session.scalar(select(func.count(Patient.id))) == 0


def test_enrolment_form_lists_every_missing_field(as_user):
    response = post(as_user("lz-coordinator"), "/patients/new", {"enrolled_on": "2026-02-31", "birth_year": "75"})
    assert response.status_code == 422
    page = html(response)
    assert all(f'href="#{f}"' in page for f in ("arm", "enrolled_on", "initials", "birth_year"))
    assert "Enter the year of birth as 4 digits" in page
    assert db.session.scalar(select(func.count(Patient.id))) == 0


def test_a_missing_arm_and_a_wrong_age_are_reported_together(as_user):
    response = post(as_user("lz-coordinator"), "/patients/new",
                    {"enrolled_on": utcnow().date().isoformat(), "initials": "WL",
                     "birth_year": str(utcnow().year - 70)})
    assert response.status_code == 422
    page = html(response)
    assert 'href="#arm"' in page and 'href="#birth_year"' in page
    assert "Age at enrolment would be 70" in page


# ---- allocation --------------------------------------------------------------------------------

def test_coordinator_allocates_through_the_form_and_sees_dose_and_coi(as_user, staff):
    lot = released_lot(staff, "L-1", doses=2)
    enrol()
    client = as_user("lz-coordinator")
    path = "/patients/LZ-0001/visits/1/allocate"
    preview = html(client.get(path))
    earliest = min(lot.doses, key=lambda d: (d.expires_at, d.id))
    assert earliest.code in text(section(preview, "allocate"))
    assert db.session.scalar(select(func.count(Allocation.id))) == 0  # the preview allocates nothing

    response = post(client, path, {"previewed": earliest.code})
    assert response.status_code == 302 and response.location.endswith("/patients/LZ-0001#visit-1")
    allocation = db.session.scalar(select(Allocation))
    assert allocation.dose_id == earliest.id and allocation.active
    coi = allocations.coi_from_code(allocation.coi)
    page = html(client.get("/patients/LZ-0001"))
    assert f"Dose {earliest.code} allocated to visit 1 of LZ-0001" in page
    assert f"Chain of Identity {coi.eye_readable} [{coi.check}]" in page
    visit = text(section(page, "visit-1"))
    assert earliest.code in visit and coi.eye_readable in visit and "Print assignment label" in visit
    assert "Take the dose back" in visit and "Allocate a dose" not in visit


def test_an_unsuitable_dose_is_refused_with_its_reasons(as_user, staff):
    unreleased = make_lot(staff, make_donor(staff, "D-X"), "L-X", doses=1)
    enrol()
    response = post(as_user("lz-coordinator"), "/patients/LZ-0001/visits/1/allocate",
                    {"dose_code": unreleased.doses[0].code})
    assert response.status_code == 409
    page = html(response)
    assert 'href="#dose_code"' in page
    assert f"Dose {unreleased.doses[0].code} cannot go to visit 1: its lot is quarantine." in page
    assert db.session.scalar(select(func.count(Allocation.id))) == 0


def test_no_suitable_dose_is_said_before_and_after_pressing(as_user):
    enrol()
    client = as_user("lz-coordinator")
    path = "/patients/LZ-0001/visits/1/allocate"
    assert "No dose can be allocated now" in html(client.get(path))
    response = post(client, path, {})
    assert response.status_code == 409
    assert 'href="#allocate"' in html(response) and "No released, label-verified dose" in html(response)
    unknown = post(client, path, {"dose_code": "NOPE"})
    assert unknown.status_code == 422 and "No dose has the code NOPE" in html(unknown)


def test_dose_is_taken_back_with_a_reason(as_user, staff):
    lot = released_lot(staff, "L-1", doses=1)
    patient = enrol()
    allocations.allocate_dose(patient.visits[0], dose=None, actor=coordinator(), now=utcnow())
    db.session.commit()
    client = as_user("lz-coordinator")
    path = "/patients/LZ-0001/visits/1/deallocate"
    refused = post(client, path, {"reason": " "})
    assert refused.status_code == 422 and 'href="#reason"' in html(refused)
    done = post(client, path, {"reason": "Visit postponed"})
    assert done.status_code == 302
    db.session.expire_all()
    assert lot.doses[0].status == "available"
    assert "taken back from visit 1 of LZ-0001" in html(client.get("/patients/LZ-0001"))


# ---- withdrawal --------------------------------------------------------------------------------

def test_withdrawal_with_a_wrong_password_changes_nothing_and_counts_toward_lockout(as_user):
    enrol()
    client = as_user("lz-coordinator")
    path = "/patients/LZ-0001/withdraw"
    assert "Withdrawn" in html(client.get(path))  # the signature's meaning is shown
    response = post(client, path, {"reason": "Consent withdrawn", "password": "wrong-password"})
    assert response.status_code == 401
    assert "The password is wrong" in html(response) and 'href="#password"' in html(response)
    db.session.expire_all()
    patient = db.session.scalar(select(Patient))
    assert patient.status == "active" and all(v.recorded == "open" for v in patient.visits)
    assert signatures_for(patient) == []
    assert user_by_username("lz-coordinator").failed_signatures == 1


def test_withdrawal_signed_skips_open_visits(as_user):
    enrol()
    client = as_user("lz-coordinator")
    response = post(client, "/patients/LZ-0001/withdraw", {"reason": "Consent withdrawn", "password": PASSWORD})
    assert response.status_code == 302
    patient = db.session.scalar(select(Patient))
    assert patient.status == "withdrawn" and {v.recorded for v in patient.visits} == {"skipped"}
    assert [s.meaning for s in signatures_for(patient)] == ["Withdrawn"]
    page = html(client.get("/patients/LZ-0001"))
    assert "Withdraw LZ-0001" not in page and "Consent withdrawn" in page


# ---- wristband and assignment labels -------------------------------------------------------------

def test_wristband_prints_as_a_pdf_and_a_reprint_needs_a_reason(as_user):
    enrol()
    client = as_user("lz-coordinator")
    first = post(client, "/patients/LZ-0001/wristband", {}, token_from="/patients/LZ-0001")
    assert first.status_code == 200 and first.mimetype == "application/pdf"
    assert first.headers["Content-Disposition"].startswith("inline")
    again = post(client, "/patients/LZ-0001/wristband", {}, token_from="/patients/LZ-0001")
    assert again.status_code == 422 and 'href="#wristband-reason"' in html(again)
    reprint = post(client, "/patients/LZ-0001/wristband", {"reason": "Band damaged"},
                   token_from="/patients/LZ-0001")
    assert reprint.status_code == 200 and reprint.mimetype == "application/pdf"
    jobs = db.session.scalars(select(PrintJob).order_by(PrintJob.id)).all()
    assert [(j.kind, j.is_reprint, j.reason) for j in jobs] == [
        ("wristband", False, None), ("wristband", True, "Band damaged")]


def test_assignment_label_prints_for_an_allocated_dose(as_user, staff):
    lot = released_lot(staff, "L-1", doses=1)
    patient = enrol()
    allocations.allocate_dose(patient.visits[0], dose=None, actor=coordinator(), now=utcnow())
    db.session.commit()
    client = as_user("lz-coordinator")
    path = "/patients/LZ-0001/visits/1/assignment-label"
    response = post(client, path, {}, token_from="/patients/LZ-0001")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    job = db.session.scalar(select(PrintJob).where(PrintJob.kind == "assignment"))
    assert job.target == lot.doses[0].code
    assert "Reprint assignment label" in html(client.get("/patients/LZ-0001"))
    assert post(client, path, {}).status_code == 422


# ---- assignment labels scanned back on the patient page -------------------------------------------

def allocated_and_printed(staff, patient=None, *, lot_number="L-1"):
    """A dose allocated to visit 1 of the patient (LZ-0001 by default), its assignment label printed."""
    lot = released_lot(staff, lot_number, doses=1)
    patient = patient or enrol()
    allocation = allocations.allocate_dose(patient.visits[0], dose=lot.doses[0], actor=coordinator(),
                                           now=utcnow())
    labels.print_labels(kind="assignment", target=allocation.dose.code, fmt="zpl", reason=None,
                        override=None, actor=coordinator(), now=utcnow())
    db.session.commit()
    return allocation


def scan_assignment(client, subject_id, scan):
    path = f"/patients/{subject_id}"
    return post(client, f"{path}/assignment-label-scans", {"scan": scan}, token_from=path)


def verifications():
    """Assignment-label scans only: the lots' bag labels were verified when they were made."""
    return db.session.scalars(select(LabelVerification).where(LabelVerification.label_kind.is_distinct_from("bag"))
                              .order_by(LabelVerification.id)).all()


def test_the_coordinator_scans_the_printed_assignment_label_back(as_user, staff):
    allocation = allocated_and_printed(staff)
    dose = allocation.dose
    client = as_user("lz-coordinator")
    page = html(client.get("/patients/LZ-0001"))
    assert "assignment label printed, not yet verified" in text(section(page, "visit-1"))
    station = text(section(page, "label-scan"))
    assert f"0 of 1 assignment label verified; still to verify: {dose.code} ." in station
    assert 'data-scan-field' in section(page, "label-scan") and "/static/js/scan-station.js" in page

    response = scan_assignment(client, "LZ-0001", assignment_payload(allocation) + "\n")
    assert response.status_code == 302
    assert response.location == f"/patients/LZ-0001?label_verified={dose.code}"
    page = html(client.get(response.location))
    station = section(page, "label-scan")
    assert 'class="scan-result ok"' in station and 'data-sound-src="/static/sounds/ok.wav"' in station
    assert f"✓ VERIFIED: assignment label of dose {dose.code}" in text(station)
    assert "1 of 1 assignment label verified." in text(station)
    assert "assignment label verified" in text(section(page, "visit-1"))
    [record] = verifications()
    assert (record.dose_id, record.label_kind, record.matched) == (dose.id, "assignment", True)
    db.session.expire_all()
    assert allocation.assignment_label_verified_at is not None


def test_an_old_assignment_label_after_reallocation_is_a_recorded_mismatch(as_user, staff):
    allocation = allocated_and_printed(staff)
    dose, old_label = allocation.dose, assignment_payload(allocation)
    visit = allocation.visit
    allocations.deallocate(visit, reason="visit postponed", actor=coordinator(), now=utcnow())
    again = allocations.allocate_dose(visit, dose=dose, actor=coordinator(), now=utcnow())
    db.session.commit()
    assert assignment_payload(again) != old_label  # a new allocation, a new COI
    response = scan_assignment(as_user("lz-coordinator"), "LZ-0001", old_label)

    assert response.status_code == 409
    station = text(section(html(response), "label-scan"))
    assert f"✗ NOT VERIFIED: wrong assignment label for dose {dose.code}" in station
    assert "Code LABEL_MISMATCH" in station and "The mismatch is recorded." in station
    [record] = verifications()
    assert (record.dose_id, record.label_kind, record.matched, record.code) == (
        dose.id, "assignment", False, "LABEL_MISMATCH")
    db.session.expire_all()
    assert again.assignment_label_verified_at is None


def test_another_patients_assignment_label_is_a_mismatch_and_verifies_nothing(as_user, staff):
    allocated_and_printed(staff)                                   # LZ-0001
    theirs = allocated_and_printed(staff, enrol(), lot_number="L-2")  # LZ-0002
    before = db.session.scalar(select(func.count(AuditEvent.id)))
    response = scan_assignment(as_user("lz-coordinator"), "LZ-0001", assignment_payload(theirs))

    assert response.status_code == 409
    station = text(section(html(response), "label-scan"))
    assert "✗ NOT A LABEL OF PATIENT LZ-0001" in station and "Code LABEL_MISMATCH" in station
    assert f"names dose {theirs.dose.code}, not a dose of patient LZ-0001" in station
    assert "Nothing was recorded." in station and "LZ-0002" not in station
    assert verifications() == [] and db.session.scalar(select(func.count(AuditEvent.id))) == before
    db.session.expire_all()
    assert theirs.assignment_label_verified_at is None


def test_a_bag_label_on_the_patient_page_is_not_an_assignment_label(as_user, staff):
    allocation = allocated_and_printed(staff)
    response = scan_assignment(as_user("lz-coordinator"), "LZ-0001", bag_payloads(allocation.dose).compound)
    assert response.status_code == 409
    station = text(section(html(response), "label-scan"))
    assert "✗ NOT AN ASSIGNMENT LABEL" in station and f"This is the bag label of dose {allocation.dose.code}" in station
    assert verifications() == []


@pytest.mark.parametrize("scan", ["garbage", "LZ-0001", "=+03000&/CH", "é" * 600])
def test_a_garbage_scan_on_the_patient_page_is_a_clear_422_and_changes_nothing(as_user, staff, scan):
    allocation = allocated_and_printed(staff)
    before = db.session.scalar(select(func.count(AuditEvent.id)))
    response = scan_assignment(as_user("lz-coordinator"), "LZ-0001", scan)
    assert response.status_code == 422
    station = text(section(html(response), "label-scan"))
    assert "✗ NOT A DOSE LABEL" in station and "Code UNRECOGNIZED_BARCODE" in station
    assert "Nothing was recorded." in station
    assert verifications() == [] and db.session.scalar(select(func.count(AuditEvent.id))) == before
    db.session.expire_all()
    assert allocation.assignment_label_verified_at is None


def test_assignment_labels_are_scanned_back_by_their_printers_at_their_site(as_user, staff):
    allocation = allocated_and_printed(staff)
    label = assignment_payload(allocation)
    # Another site's coordinator does not learn that LZ-0001 exists.
    other_site = as_user("bj-coordinator")
    assert other_site.get("/patients/LZ-0001").status_code == 404
    assert post(other_site, "/patients/LZ-0001/assignment-label-scans", {"scan": label},
                token_from="/patients").status_code == 404
    for username in ("lz-nurse", "monitor"):
        client = as_user(username)
        assert 'id="label-scan"' not in html(client.get("/patients/LZ-0001"))
        assert scan_assignment(client, "LZ-0001", label).status_code == 403, username
    coordinator_client = as_user("lz-coordinator")
    assert coordinator_client.post("/patients/LZ-0001/assignment-label-scans", data={"scan": label}).status_code == 400
    assert verifications() == []
    # The GMP lab, which holds the bag, may scan it back too.
    assert scan_assignment(as_user("lab"), "LZ-0001", label).status_code == 302
    assert [v.matched for v in verifications()] == [True]


def test_print_forms_open_their_pdf_in_a_new_tab(as_user, staff):
    allocation = allocated_and_printed(staff)
    second = db.session.get(Patient, allocation.visit.patient_id).visits[1]
    # allocated when visit 2 opens (visit 1 then passed without its dose): a dose goes to the next visit
    opens = datetime.combine(second.window_start, time(9), tzinfo=UTC)
    allocations.allocate_dose(second, dose=released_lot(staff, "L-3", doses=1).doses[0], actor=coordinator(),
                              now=opens)
    db.session.commit()
    client = as_user("lz-coordinator")
    page = html(client.get("/patients/LZ-0001"))
    forms = re.findall(r"<form [^>]*>", page)
    printing = [f for f in forms if "assignment-label" in f and "scans" not in f or "/wristband" in f]
    assert len(printing) == 2 and all('target="_blank"' in f for f in printing)
    reprint = html(client.get("/patients/LZ-0001/visits/1/assignment-label"))
    assert re.search(r'<form [^>]*action="/patients/LZ-0001/visits/1/assignment-label"[^>]*target="_blank"', reprint)
    scan_form = next(f for f in forms if "assignment-label-scans" in f)
    assert "target" not in scan_form


# ---- CSRF --------------------------------------------------------------------------------------

def test_posts_without_the_csrf_token_are_refused(as_user, staff):
    lot = make_lot(staff, make_donor(staff), doses=1, verify_labels=False)
    enrol()
    coordinator_client = as_user("lz-coordinator")
    refused = coordinator_client.post("/patients/new", data={"arm": "msc", "initials": "AB",
                                                             "enrolled_on": utcnow().date().isoformat(),
                                                             "birth_year": "1970"})
    assert refused.status_code == 400
    assert coordinator_client.post("/patients/LZ-0001/withdraw",
                                   data={"reason": "x", "password": PASSWORD}).status_code == 400
    assert as_user("lab").post(f"/lots/{lot.id}/labels", data={}).status_code == 400
    assert db.session.scalar(select(func.count(Patient.id))) == 1
    assert db.session.scalar(select(func.count(PrintJob.id))) == 0


# ---- bag labels on the lot page ----------------------------------------------------------------

def test_bag_label_preview_is_a_100_mm_png_at_150_dpi_and_records_no_print(as_user, staff):
    lot = make_lot(staff, make_donor(staff), doses=1, verify_labels=False)
    response = as_user("lab").get(f"/doses/{lot.doses[0].code}/label.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    image = Image.open(io.BytesIO(response.data))
    assert image.format == "PNG"
    assert all(590 <= side <= 591 for side in image.size)  # 100 mm / 25.4 × 150 dpi
    assert db.session.scalar(select(func.count(PrintJob.id))) == 0
    assert as_user("monitor").get(f"/doses/{lot.doses[0].code}/label.png").status_code == 200
    assert as_user("lz-coordinator").get(f"/doses/{lot.doses[0].code}/label.png").status_code == 403
    assert as_user("lab").get("/doses/NOPE/label.png").status_code == 404


def test_lot_page_shows_the_labels_section(as_user, staff):
    lot = make_lot(staff, make_donor(staff), doses=2, verify_labels=False)
    page = html(as_user("lab").get(f"/lots/{lot.id}"))
    labels = section(page, "labels")
    first = lot.doses[0].code
    assert f'src="/doses/{first}/label.png"' in labels and f'alt="Bag label of dose {first}' in labels
    assert "Print 2 bag labels (PDF)" in labels and 'name="csrf_token"' in labels
    assert f'href="/doses/{lot.doses[1].code}/label.png"' in section(page, "doses")
    monitor_page = html(as_user("monitor").get(f"/lots/{lot.id}"))
    assert "label.png" in monitor_page and "Print 2 bag labels" not in monitor_page


def test_lot_labels_print_as_one_pdf_page_per_accepted_dose(as_user, staff):
    lot = make_lot(staff, make_donor(staff), doses=0, complete=False, results=None, verify_labels=False)
    for cells in (4.0e7, 4.1e7, 3.1e7, 3.9e7):  # the 3.1 × 10⁷ dose is rejected at fill
        batches.prepare_dose(lot, cells=cells, volume_ml=40.0, viability_pct=91.0, actor=staff.lab, now=utcnow())
    db.session.commit()
    accepted = [d for d in lot.doses if d.status != "rejected"]
    assert len(accepted) == 3
    client = as_user("lab")
    path = f"/lots/{lot.id}/labels"

    response = post(client, path, {}, token_from=f"/lots/{lot.id}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert len(pypdfium2.PdfDocument(response.data)) == 3
    job = db.session.scalar(select(PrintJob))
    assert (job.kind, job.target, job.copies, job.is_reprint) == ("lot", str(lot.id), 3, False)

    again = post(client, path, {}, token_from=f"/lots/{lot.id}")
    assert again.status_code == 422
    assert 'href="#label-reason"' in html(again) and "give the reason for the reprint" in html(again)
    reprint = post(client, path, {"reason": "Labels smudged"}, token_from=path)
    assert reprint.status_code == 200 and len(pypdfium2.PdfDocument(reprint.data)) == 3
    assert db.session.scalar(select(func.count(PrintJob.id))) == 2
    other = as_user("lz-coordinator")
    assert other.post(path, data={"csrf_token": csrf_token(other, "/patients")}).status_code == 403


# ---- home ---------------------------------------------------------------------------------------

def test_coordinator_home_links_patients_and_the_allocation_queue(as_user, staff):
    released_lot(staff, "L-1", doses=1)
    enrol()
    client = as_user("lz-coordinator")
    home = html(client.get("/"))
    assert 'href="/patients"' in home and 'href="/visits/waiting-for-a-dose"' in home
    queue = html(client.get("/visits/waiting-for-a-dose"))
    assert "LZ-0001" in queue and "Allocate a dose" in queue
    dose = db.session.scalar(select(Dose))
    allocations.allocate_dose(db.session.scalar(select(Patient)).visits[0], dose=dose, actor=coordinator(),
                              now=utcnow())
    db.session.commit()
    assert "LZ-0001" not in html(client.get("/visits/waiting-for-a-dose"))


# ---- one primary next action ------------------------------------------------------------------

def primary_buttons(page) -> list[str]:
    """The text of every green (primary) button or button-styled link on the page."""
    found = []
    for match in re.finditer(r'<(a|button)\b[^>]*class="([^"]*)"[^>]*>(.*?)</\1>', html(page), re.S):
        classes = set(match.group(2).split())
        if "button" in classes and not classes & {"secondary", "warning"}:
            found.append(text(match.group(3)))
    return found


def test_patient_page_has_one_primary_action_and_allocate_only_for_the_next_due_visit(as_user):
    enrol(enrolled_on=days_ago(100))                      # LZ-0001: visit 1 missed, visit 2 due
    client = as_user("lz-coordinator")
    page = html(client.get("/patients/LZ-0001"))
    assert primary_buttons(page) == ["Print wristband (PDF)"]
    assert "Next: print the wristband." in text(section(page, "next-action"))
    assert "Allocate a dose" in section(page, "visit-2")
    for number in (1, 3, 4):
        assert "Allocate a dose" not in section(page, f"visit-{number}")
    # A later visit's allocation page is refused in words, not offered.
    later = client.get("/patients/LZ-0001/visits/3/allocate", follow_redirects=True)
    assert "the next dose goes to visit 2 first" in text(html(later))

    assert post(client, "/patients/LZ-0001/wristband", {}, token_from="/patients/LZ-0001").status_code == 200
    page = html(client.get("/patients/LZ-0001"))
    assert primary_buttons(page) == ["Allocate a dose to visit 2"]
    assert "Next: allocate a dose to visit 2." in text(section(page, "next-action"))


def test_a_reader_who_cannot_take_the_next_step_gets_no_primary_button_for_it(as_user):
    enrol()
    client = as_user("lz-coordinator")
    post(client, "/patients/LZ-0001/wristband", {}, token_from="/patients/LZ-0001")
    nurse_page = html(as_user("lz-nurse").get("/patients/LZ-0001"))
    assert "Next: allocate a dose to visit 1." in text(section(nurse_page, "next-action"))
    assert primary_buttons(nurse_page) == []
