"""A monitor follows the trial on the dashboard and traces a recalled lot to the patient who
received one of its doses, and back; a coordinator sees their own site's progress."""
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from cell_chain.accounts.services import user_by_username
from cell_chain.batches import services as batches
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.accounts.signatures import SignatureInput, WitnessInput
from cell_chain.demo import DEMO_PASSWORD, seed_demo
from cell_chain.infusions import bedside
from cell_chain.patients.allocation import active_allocation_of_dose, allocate_dose
from cell_chain.patients.labels import assignment_payload
from cell_chain.patients.models import Allocation, Patient
from cell_chain.labels.payloads import bag_payloads
from cell_chain.labels.services import print_labels, verify_label
from cell_chain.shipments import pharmacy
from cell_chain.shipments import services as shipping
from tests.browser.journey import DESKTOP, log_in
from tests.conftest import read_in_english
from tests.factories import record_logger_file

pytestmark = pytest.mark.browser

SIGNED = SignatureInput(DEMO_PASSWORD, "")


def _ship(site: str, doses: list, now, *, receive: bool = True) -> None:
    lab = user_by_username("lab")
    shipment = shipping.create_shipment(site_code=site, storage="cryo", actor=lab, now=now)
    for dose in doses:
        shipping.pack_dose(shipment, scan=bag_payloads(dose).compound, actor=lab, now=now)
    shipping.dispatch(shipment, courier="ColdChain Express", logger_id="QT-11", signature=SIGNED, actor=lab, now=now)
    if receive:
        shipping.receive(shipment, scans=[bag_payloads(d).compound for d in doses], seal_intact=True,
                         signature=SIGNED, actor=user_by_username(f"{site.lower()}-pharmacist"), now=now)
        record_logger_file(shipment, user_by_username(f"{site.lower()}-pharmacist"), now=now)


def _infuse(dose, site: str, now) -> None:
    nurse, pharmacist = user_by_username(f"{site.lower()}-nurse"), user_by_username(f"{site.lower()}-pharmacist")
    if dose.lot.presentation == "cryopreserved":
        pharmacy.thaw(dose, thawed_at=now - timedelta(minutes=60), actor=pharmacist, now=now)
    pharmacy.dispense(dose, to=nurse.username, actor=pharmacist, now=now)
    subject = active_allocation_of_dose(dose).visit.patient.subject_id
    bag = bag_payloads(dose).compound
    bedside.verify_infusion(subject, bag, actor=nurse, now=now - timedelta(minutes=46))  # just before the start
    given = bedside.InfusionInput(started_at=now - timedelta(minutes=45), ended_at=now - timedelta(minutes=8),
                                  volume_ml=40.0, tolerance_grade=0, adverse_events=None, serious=False,
                                  acknowledged_warnings={})
    bedside.record_infusion(subject, bag, given=given, signature=SIGNED,
                            witnessed_by=WitnessInput(f"{site.lower()}-nurse2", DEMO_PASSWORD), actor=nurse, now=now)


def _allocated(subject_id: str, number: int, now):
    patient = db.session.scalar(select(Patient).where(Patient.subject_id == subject_id))
    coordinator = user_by_username(f"{patient.site.code.lower()}-coordinator")
    allocation = allocate_dose(patient.visits[number - 1], dose=None, actor=coordinator, now=now)
    print_labels(kind="assignment", target=allocation.dose.code, fmt="zpl", reason=None, override=None,
                 actor=coordinator, now=now)
    verify_label(allocation.dose, scan=assignment_payload(allocation), actor=coordinator, now=now)
    return allocation.dose


@pytest.fixture
def trial(live_server):
    """The demo trial, then: visit-1 doses given at LZ, BJ and GZ, SH's on its way with the
    courier, a visit-2 dose given at LZ; the lot of LZ-0001's dose recalled afterwards."""
    now = utcnow() - timedelta(hours=3)
    with live_server.app.app_context():
        seed_demo(now, ward=False)  # its doses are shipped and given here
        first_doses = {}
        for allocation in db.session.scalars(select(Allocation).where(Allocation.active)):
            first_doses[allocation.visit.patient.site.code] = allocation.dose
        for site in ("LZ", "BJ", "GZ"):
            _ship(site, [first_doses[site]], now)
            _infuse(first_doses[site], site, now)
        _ship("SH", [first_doses["SH"]], now, receive=False)
        second = _allocated("LZ-0003", 2, now)
        _ship("LZ", [second], now)
        _infuse(second, "LZ", now)
        db.session.commit()
        recalled = first_doses["LZ"].lot
        batches.recall_lot(recalled, reason="Retained sample: mycoplasma detected on re-test", signature=SIGNED,
                           actor=user_by_username("qa"), now=now + timedelta(hours=1))
        db.session.commit()
        read_in_english()
        live_server.recalled = (recalled.lot_number, recalled.din, recalled.donor.donor_code)
        live_server.given_code = first_doses["LZ"].code
    return live_server


def test_monitor_follows_the_trial_and_traces_a_recall(trial, page: Page):
    lot_number, lot_din, donor_code = trial.recalled
    page.set_viewport_size(DESKTOP)
    log_in(page, trial.url, "monitor", DEMO_PASSWORD)
    page.get_by_role("link", name="Reconciliation").click()

    expect(page.get_by_role("heading", name="Trial progress", exact=True)).to_be_visible()
    expect(page.get_by_role("img", name="LZ: visit 1 1, visit 2 1, visit 3 0, visit 4 0")).to_be_visible()
    progress = page.locator("table.progress-table")
    # visits 1-4, doses given, MSC-arm and control-arm patients
    expect(progress.locator("tbody tr").filter(has_text="Lanzhou").locator("td")).to_have_text(
        ["1", "1", "0", "0", "2", "4", "2"])
    expect(progress.locator("tfoot td")).to_have_text(["3", "1", "0", "0", "4", "24", "12"])
    expect(page.locator("#discrepancies")).to_contain_text("Dose given from a lot recalled later (lookback)")
    expect(page.locator("#overdue-visits")).to_be_visible()
    expect(page.locator("#due-visits")).to_contain_text("SH-0001")
    trial.screenshot(page, "monitor-dashboard")

    page.get_by_role("link", name="Trace a donor or patient").click()
    expect(page.get_by_role("heading", name="Trace a donor, dose or patient")).to_be_visible()
    expect(page.get_by_label("DIN, dose label or subject ID")).to_be_focused()
    page.keyboard.type("A9999 26 12345")  # a mistyped DIN first
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("Enter a DIN")
    trial.screenshot(page, "trace-search-error")
    field = page.get_by_label("DIN, dose label or subject ID")
    field.fill("")
    field.focus()
    page.keyboard.type(f"={lot_din}00")  # the bag label's DIN barcode, as a wedge scanner sends it
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name=f"Forward trace: donor {donor_code}")).to_be_visible()
    expect(page.locator("#trace-summary")).to_contain_text("Lookback: LZ-0001")
    lot = page.locator(f"#lot-{lot_number}")
    expect(lot).to_contain_text("Recalled")
    expect(lot.locator(f"[id='dose-{trial.given_code}']")).to_contain_text("In patient LZ-0001")
    trial.screenshot(page, "trace-donor")

    lot.get_by_role("link", name="LZ-0001").click()
    expect(page.get_by_role("heading", name="Backward trace: patient LZ-0001")).to_be_visible()
    expect(page.locator("#trace-summary")).to_contain_text(f"Lookback: {trial.given_code}")
    expect(page.locator("table.trace-doses")).to_contain_text(lot_number)
    trial.screenshot(page, "trace-patient")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    assert download.value.suggested_filename.startswith("trace-patient-LZ-0001-")
    pdf = page.request.get(f"{trial.url}/reports/trace/patients/LZ-0001.pdf")
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf" and pdf.body().startswith(b"%PDF-")


def test_coordinator_sees_their_sites_progress(trial, page: Page):
    page.set_viewport_size({"width": 800, "height": 1280})
    log_in(page, trial.url, "bj-coordinator", DEMO_PASSWORD)
    page.get_by_role("link", name="Site progress").click()
    expect(page.get_by_role("heading", name="Progress at BJ")).to_be_visible()
    expect(page.get_by_role("img", name="BJ: visit 1 1, visit 2 0, visit 3 0, visit 4 0")).to_be_visible()
    expect(page.locator("table.progress-table tbody tr")).to_have_count(1)
    expect(page.locator("main")).not_to_contain_text("LZ-0001")
    trial.screenshot(page, "monitor-dashboard-coordinator")
