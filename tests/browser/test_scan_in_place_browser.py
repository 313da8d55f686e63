"""Scans never get lost on the lot page (bag labels scanned back) and on packing: each page
scans in place, a wedge scanner's second label typed straight after the first Enter is queued
and counted, a label scanned again says "already verified", and refusals are said in words.
Every payload is read from a label PDF the app printed (decoded by zxing-cpp), as a scanner
reads it. Tablet portrait (800×1280) and landscape (1280×800)."""
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from cell_chain.core.audit import AuditEvent
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.labels.services import print_labels
from tests.browser.conftest import LiveServer
from tests.browser.journey import log_in, read_printed, wedge_scan
from tests.conftest import PASSWORD, make_site, make_user
from tests.factories import Staff, released_lot, shippable_doses

pytestmark = pytest.mark.browser

PORTRAIT = {"width": 800, "height": 1280}
LANDSCAPE = {"width": 1280, "height": 800}


@dataclass
class Labels:
    lot_id: int
    lot_number: str
    codes: list[str]      # the lot's doses, in label print order
    scans: list[str]      # each one's bag label Data Matrix, as printed
    stray_code: str       # a dose of another lot
    stray_lot: str
    stray_scan: str


def _printed_bag_labels(staff: Staff, lot_id: int, reason: str | None = None) -> list[str]:
    output = print_labels(kind="lot", target=str(lot_id), fmt="pdf", reason=reason, override=None,
                          actor=staff.lab, now=utcnow())
    return read_printed(output.content).payloads("DataMatrix")


def _staff() -> Staff:
    return Staff(make_user("lab", "lab", name="Li Lab"), make_user("lab2", "lab", name="Lu Lab"),
                 make_user("qa", "qa", name="Qian QA"), make_user("qa2", "qa", name="Quan QA"))


@pytest.fixture
def labels(live_server: LiveServer) -> Labels:
    with live_server.app.app_context():
        staff = _staff()
        lot = released_lot(staff, "L-SCAN", doses=3, verify_labels=False)
        other = released_lot(staff, "L-OTHER", doses=1, verify_labels=False)
        scans, stray = _printed_bag_labels(staff, lot.id), _printed_bag_labels(staff, other.id)
        db.session.commit()
        return Labels(lot.id, lot.lot_number, [d.code for d in lot.doses], scans,
                      other.doses[0].code, other.lot_number, stray[0])


def _verified_events(server: LiveServer) -> int:
    with server.app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == "label.verified"))


def test_two_bag_labels_scanned_back_to_back_are_both_verified_and_a_rescan_says_already_verified(
        live_server: LiveServer, labels: Labels, page: Page):
    page.set_viewport_size(PORTRAIT)
    log_in(page, live_server.url, "lab", PASSWORD)
    page.goto(f"{live_server.url}/lots/{labels.lot_id}")
    field = page.locator("#scan-input")
    expect(field).to_be_focused()
    loads: list[str] = []
    page.on("load", lambda: loads.append(page.url))

    # Two labels, the second typed the instant the first Enter is pressed: no wait between.
    wedge_scan(page, labels.scans[0])
    wedge_scan(page, labels.scans[1])
    expect(page.locator("#count-verified")).to_have_text("2")
    expect(page.locator("#count-to-verify")).to_have_text("1")
    for code in labels.codes[:2]:
        expect(page.locator(f"#dose-{code} .bag-label-state")).to_contain_text("Verified")
        expect(page.locator(f"#dose-{code} .dose-status")).to_contain_text("Available", ignore_case=True)
    expect(page.locator(f"#dose-{labels.codes[2]} .bag-label-state")).to_contain_text("not verified")
    expect(page.locator("#scan-result.ok")).to_contain_text(f"✓ VERIFIED: bag label of dose {labels.codes[1]}")
    expect(page.locator("#label-counts-text")).to_contain_text(f"2 of 3 bag labels verified; still to verify: {labels.codes[2]}")
    expect(field).to_be_focused()
    assert loads == [], "the page reloaded while scanning"
    assert _verified_events(live_server) == 2
    live_server.screenshot(page, "scan-in-place-lot-two-verified-portrait")

    # The same label again: said apart from a first verification, and nothing recorded.
    wedge_scan(page, labels.scans[0])
    result = page.locator("#scan-result")
    expect(result).to_contain_text(f"ALREADY VERIFIED: bag label of dose {labels.codes[0]}")
    expect(result).to_have_class("scan-result warn")
    expect(result).not_to_contain_text("✓ VERIFIED")
    expect(page.locator("#count-verified")).to_have_text("2")
    assert _verified_events(live_server) == 2
    live_server.screenshot(page, "scan-in-place-lot-already-verified-portrait")

    # A label of another lot: named by its dose code and lot, never by the raw payload.
    wedge_scan(page, labels.stray_scan)
    expect(result).to_contain_text(f"names dose {labels.stray_code} of lot {labels.stray_lot}")
    expect(result).not_to_contain_text(labels.stray_scan)
    expect(result).to_have_class("scan-result stop")

    # An unreadable scan answers in words.
    wedge_scan(page, "hello")
    expect(result).to_contain_text("✗ NOT A DOSE LABEL")
    expect(result).to_contain_text("Scan the square Data Matrix on the printed bag label")
    expect(result).to_contain_text("UNRECOGNIZED_BARCODE")
    expect(page.locator("#count-verified")).to_have_text("2")
    assert loads == []

    page.set_viewport_size(LANDSCAPE)
    wedge_scan(page, labels.scans[2])
    expect(page.locator("#count-verified")).to_have_text("3")
    expect(page.locator("#count-to-verify")).to_have_text("0")
    expect(field).to_be_focused()
    live_server.screenshot(page, "scan-in-place-lot-all-verified-landscape")
    page.reload()  # what was shown in place is what the server holds
    expect(page.locator("#count-verified")).to_have_text("3")


def test_the_lot_page_scan_still_works_without_javascript(live_server: LiveServer, labels: Labels,
                                                           browser):
    context = browser.new_context(java_script_enabled=False, viewport=PORTRAIT)
    page = context.new_page()
    try:
        log_in(page, live_server.url, "lab", PASSWORD)
        page.goto(f"{live_server.url}/lots/{labels.lot_id}")
        page.locator("#scan-input").fill(labels.scans[0])
        page.get_by_role("button", name="Verify this label").click()
        expect(page.locator("#scan-result.ok")).to_contain_text(f"✓ VERIFIED: bag label of dose {labels.codes[0]}")
        page.locator("#scan-input").fill(labels.scans[0])
        page.get_by_role("button", name="Verify this label").click()
        expect(page.locator("#scan-result")).to_contain_text(f"ALREADY VERIFIED: bag label of dose {labels.codes[0]}")
        expect(page.locator("#count-verified")).to_have_text("1")
    finally:
        context.close()


@dataclass
class Box:
    shipment_id: int
    codes: list[str]
    subjects: list[str]
    scans: list[str]


@pytest.fixture
def box(live_server: LiveServer) -> Box:
    from cell_chain.patients.allocation import active_allocation_of_dose
    from cell_chain.shipments import services as shipping

    with live_server.app.app_context():
        make_site("LZ")
        make_user("lz-coordinator", "coordinator", "LZ", name="Lan Coordinator")
        staff = _staff()
        doses = shippable_doses(staff, count=2, lot_number="L-PACK")
        # The bag labels as printed (a reprint: the factory printed them for the lab's records).
        scans = _printed_bag_labels(staff, doses[0].lot_id, reason="Labels for the packing bench")
        shipment = shipping.create_shipment(site_code="LZ", storage="cryo", actor=staff.lab, now=utcnow())
        subjects = [active_allocation_of_dose(d).visit.patient.subject_id for d in doses]
        db.session.commit()
        return Box(shipment.id, [d.code for d in doses], subjects, scans)


def test_two_rapid_scans_on_packing_are_both_packed(live_server: LiveServer, box: Box, page: Page):
    page.set_viewport_size(LANDSCAPE)
    log_in(page, live_server.url, "lab", PASSWORD)
    page.goto(f"{live_server.url}/shipments/{box.shipment_id}")
    field = page.locator("#scan-input")
    expect(field).to_be_focused()
    expect(page.locator("#dispatch")).to_be_hidden()  # an empty box is not dispatched
    loads: list[str] = []
    page.on("load", lambda: loads.append(page.url))

    wedge_scan(page, box.scans[0])
    wedge_scan(page, box.scans[1])
    for code, subject in zip(box.codes, box.subjects, strict=True):
        row = page.locator(f"#dose-{code}")
        expect(row).to_contain_text(subject)
        expect(row).to_contain_text("Packed", ignore_case=True)
    expect(page.locator("#scan-result.ok")).to_contain_text(f"✓ PACKED: dose {box.codes[1]} for {box.subjects[1]}")
    expect(page.locator("#scan-result")).to_contain_text("2 doses in the box")
    expect(page.locator("#doses-heading")).to_contain_text("Doses in the box (2)")
    expect(page.locator("h1 .tag")).to_have_text("Packed", ignore_case=True)
    expect(page.locator("#dispatch")).to_be_visible()
    expect(field).to_be_focused()
    assert loads == [], "the page reloaded while packing"
    live_server.screenshot(page, "scan-in-place-packing-two-packed-landscape")

    # The same bag again: refused in words, nothing changed.
    wedge_scan(page, box.scans[0])
    result = page.locator("#scan-result")
    expect(result).to_contain_text("✗ NOT PACKED: Already in this box")
    expect(result).to_contain_text("PACK_DUPLICATE")
    # An unreadable scan.
    wedge_scan(page, "hello")
    expect(result).to_contain_text("✗ NOT PACKED: Not a dose label")
    expect(result).not_to_contain_text("hello")
    expect(page.locator("#box-doses tr")).to_have_count(2)
    page.set_viewport_size(PORTRAIT)
    live_server.screenshot(page, "scan-in-place-packing-refused-portrait")

    page.reload()
    expect(page.locator("#box-doses tr")).to_have_count(2)
    with live_server.app.app_context():
        packed_events = db.session.scalar(select(func.count()).select_from(AuditEvent)
                                          .where(AuditEvent.action == "dose.packed"))
    assert packed_events == 2
