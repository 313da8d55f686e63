"""The lab enters a release test result and QA releases the lot, in a real browser."""
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from cell_chain.accounts.services import user_by_username
from cell_chain.batches import services
from cell_chain.batches.models import MARKERS
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.accounts.signatures import SignatureInput
from cell_chain.demo import DEMO_PASSWORD, PASSING, seed_demo
from tests.browser.journey import log_in

pytestmark = pytest.mark.browser

LOT = "UC-2026-101"
DONOR = "CD-2026-102"


@pytest.fixture
def lots(live_server):
    """The demo history, plus a lot waiting only for its karyotype and a donor part-screened."""
    now = utcnow()
    with live_server.app.app_context():
        seed_demo(now)
        lab, lab2 = user_by_username("lab"), user_by_username("lab2")
        qa = user_by_username("qa2")
        collected = (now - timedelta(days=12)).date()
        donor = services.register_donor(donor_code="CD-2026-101", collected_on=collected, actor=lab, now=now)
        for marker in MARKERS:
            services.record_screening(donor, marker=marker, result="non_reactive", tested_on=collected,
                                      reason=None, actor=lab2, now=now)
        services.determine_eligibility(donor, signature=SignatureInput(DEMO_PASSWORD, ""),
                                       actor=qa, now=now)
        lot = services.create_lot(donor=donor, lot_number=LOT, manufactured_on=now.date(), passage=4,
                                  presentation="cryopreserved", actor=lab, now=now)
        for n in range(3):
            services.prepare_dose(lot, cells=4.0e7 + n * 0.1e7, volume_ml=40.0, viability_pct=91.5,
                                  actor=lab, now=now)
        services.complete_lot(lot, actor=lab, now=now)
        for test, value in PASSING.items():
            if test != "karyotype":
                services.record_result(lot, test=test, value=value, performed_on=now.date(),
                                       method="SOP-QC-011", analyst="Zhao Analyst", reason=None,
                                       actor=lab2, now=now)
        partial = services.register_donor(donor_code=DONOR, collected_on=collected, actor=lab, now=now)
        for marker in MARKERS[:7]:
            services.record_screening(partial, marker=marker, result="non_reactive",
                                      tested_on=collected + timedelta(days=2), reason=None,
                                      actor=lab2, now=now)
        services.record_screening(partial, marker="syphilis", result="non_reactive",
                                  tested_on=collected + timedelta(days=9), reason=None, actor=lab2, now=now)
        db.session.commit()
    return live_server


def test_lab_enters_a_result_and_qa_releases_the_lot(lots, page: Page):
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, lots.url, "lab", DEMO_PASSWORD)
    page.get_by_role("link", name="Lots, doses and labels").click()
    expect(page.get_by_role("heading", name="Lot board")).to_be_visible()
    quarantine = page.locator("#quarantine")
    expect(quarantine.get_by_role("row", name=LOT)).to_contain_text("Not entered Karyotype")
    lots.screenshot(page, "lot-board")

    quarantine.get_by_role("link", name=LOT).click()
    expect(page.get_by_role("heading", name=f"Lot {LOT}")).to_be_visible()
    expect(page.locator("#result-karyotype")).to_contain_text("not entered")
    page.get_by_role("link", name="Enter or correct a result").click()
    page.get_by_label("Test").select_option("karyotype")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Enter the Karyotype result")).to_be_visible()
    page.get_by_label("Normal", exact=True).check()
    page.get_by_label("Date the test was performed").fill(utcnow().date().isoformat())
    page.get_by_label("Method (optional)").fill("SOP-QC-020 G-banding")
    lots.screenshot(page, "result-form")
    page.get_by_role("button", name="Save result").click()

    expect(page.get_by_role("status").first).to_contain_text("Karyotype result Normal saved")
    expect(page.locator("#result-karyotype")).to_contain_text("Pass")
    expect(page.locator("#readiness")).to_contain_text("Ready for release")
    lots.screenshot(page, "lot-page")
    page.get_by_role("button", name="Log out").click()
    # Logged out before the next person logs in: a new page load would cancel the log-out.
    expect(page.get_by_role("heading", name="Log in to cell-chain")).to_be_visible()

    log_in(page, lots.url, "qa", DEMO_PASSWORD)
    page.goto(lots.url + "/lots")
    page.locator("#quarantine").get_by_role("link", name=LOT).click()
    page.get_by_role("link", name="Release lot").click()
    expect(page.get_by_role("heading", name=f"Release lot {LOT}")).to_be_visible()
    page.get_by_label("Your password").fill("wrong-password")
    page.get_by_role("button", name="Release lot").click()
    expect(page.get_by_role("alert")).to_contain_text("The password is wrong")
    lots.screenshot(page, "release-wrong-password")
    page.get_by_label("Your password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Release lot").click()

    expect(page.get_by_role("status").first).to_contain_text(f"Lot {LOT} released")
    expect(page.get_by_role("heading", name=f"Lot {LOT}")).to_contain_text("released", ignore_case=True)
    expect(page.locator("#signatures")).to_contain_text("released", ignore_case=True)
    expect(page.locator("#signatures")).to_contain_text("Qian QA")
    lots.screenshot(page, "lot-released")


def test_qa_sees_which_markers_block_the_eligibility_determination(lots, page: Page):
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, lots.url, "qa", DEMO_PASSWORD)
    page.goto(lots.url + "/donors")
    page.get_by_role("link", name=DONOR).click()
    expect(page.locator("#marker-syphilis")).to_contain_text("tested 9 days after collection")
    expect(page.locator("#marker-htlv_1_2")).to_contain_text("not entered")
    lots.screenshot(page, "donor-page")

    page.get_by_role("link", name="Determine eligibility").click()
    page.get_by_label("Your password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign determination").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("HTLV-I/II antibody: no result entered")
    expect(summary).to_contain_text("Syphilis: tested 9 days from collection, outside the 7-day window")
    lots.screenshot(page, "donor-eligibility-refused")
