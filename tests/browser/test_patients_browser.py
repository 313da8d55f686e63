"""A study coordinator follows patients and allocates a dose on a tablet; the lab sees the
lot's bag labels, in a real browser."""
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select, update

from cell_chain.batches.models import Lot
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.demo import DEMO_PASSWORD, seed_demo
from cell_chain.patients.models import Patient, Visit
from tests.browser.conftest import SCREENSHOTS
from tests.browser.journey import TABLET, log_in
from tests.conftest import read_in_english

pytestmark = pytest.mark.browser

@pytest.fixture
def trial(live_server):
    """The demo trial. Infusions are not recorded by cell-chain yet, so the patient enrolled
    200 days ago gets visit 1 done and visit 2 done out of window by hand, for the picture."""
    with live_server.app.app_context():
        seed_demo(utcnow())
        veteran = db.session.scalar(select(Patient).where(Patient.subject_id == "LZ-0004"))
        for number, recorded in ((1, "done"), (2, "done_out_of_window")):
            db.session.execute(update(Visit).where(Visit.patient_id == veteran.id, Visit.number == number)
                               .values(recorded=recorded))
        db.session.commit()
        read_in_english()
    return live_server


def test_coordinator_follows_patients_and_allocates_a_dose_on_a_tablet(trial, page: Page):
    page.set_viewport_size(TABLET)
    log_in(page, trial.url, "lz-coordinator", DEMO_PASSWORD)
    page.get_by_role("link", name="Patients and visits").click()

    expect(page.get_by_role("heading", name="Patients at LZ")).to_be_visible()
    expect(page.locator("table.patients tbody tr")).to_have_count(6)
    expect(page.get_by_role("img", name="visit 1 due now")).to_be_visible()
    expect(page.locator("#patient-LZ-0004")).to_contain_text("Done ✓")
    expect(page.locator("#patient-LZ-0005")).to_contain_text("Control arm — no study doses")
    trial.screenshot(page, "patient-list")

    page.get_by_role("link", name="LZ-0003").click()
    expect(page.get_by_role("heading", name="Patient LZ-0003")).to_be_visible()
    expect(page.locator("#visit-2")).to_contain_text("Due now")
    expect(page.locator("#visit-2")).to_contain_text("None allocated")
    trial.screenshot(page, "patient-page")

    page.get_by_role("link", name="Allocate a dose to visit 2").click()
    expect(page.get_by_role("heading", name="Allocate a dose to visit 2")).to_be_visible()
    suggested = page.locator("#allocate .dose-code").inner_text()
    page.get_by_role("button", name="Allocate the earliest-expiring suitable dose").click()

    expect(page.get_by_role("status").first).to_contain_text(f"Dose {suggested} allocated to visit 2")
    expect(page.get_by_role("status").first).to_contain_text("Chain of Identity CH ")
    expect(page.locator("#visit-2")).to_contain_text(suggested)
    expect(page.locator("#visit-2")).to_contain_text("COI")
    expect(page.get_by_role("button", name="Print assignment label for visit 2")).to_be_visible()
    trial.screenshot(page, "allocation-done")


def test_lab_sees_the_lots_bag_labels(trial, page: Page):
    page.set_viewport_size({"width": 1280, "height": 900})
    with trial.app.app_context():
        lot_id = db.session.scalar(select(Lot.id).where(Lot.lot_number == "UC-2026-002"))
    log_in(page, trial.url, "lab", DEMO_PASSWORD)
    page.goto(f"{trial.url}/lots/{lot_id}")
    labels = page.locator("#labels")
    labels.scroll_into_view_if_needed()
    preview = labels.get_by_role("img", name="Bag label of dose")
    expect(preview).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 500", arg=preview.element_handle())
    expect(labels.get_by_role("button", name="Reprint 9 bag labels (PDF)")).to_be_visible()
    expect(page.locator("#doses").get_by_role("link", name="Preview").first).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    box = labels.evaluate("e => { const r = e.getBoundingClientRect(); "
                          "return {x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height}; }")
    page.screenshot(path=str(SCREENSHOTS / "lot-labels.png"), full_page=True,
                    clip={"x": max(box["x"] - 24, 0), "y": max(box["y"] - 24, 0),
                          "width": box["width"] + 48, "height": box["height"] + 48})
