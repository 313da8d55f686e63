"""QA reads the evidence before signing: on lot release (and reject) every result and the
evidence summary, failing or near-limit items first, stand above the password and the button,
in the document and on the screen; on the shipment page the excursions' data stands above the
Accept/Reject decision. Tablet portrait (800×1280) and landscape (1280×800)."""
from datetime import timedelta

import pytest
from playwright.sync_api import Locator, Page, expect

from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.shipments import services as shipping
from tests.browser.conftest import LiveServer
from tests.browser.journey import log_in
from tests.conftest import PASSWORD, make_site, make_user
from tests.factories import PASSING_VALUES, Staff, make_donor, make_lot, shippable_doses, signed

pytestmark = pytest.mark.browser

VIEWPORTS = {"portrait": {"width": 800, "height": 1280}, "landscape": {"width": 1280, "height": 800}}


def _staff() -> Staff:
    return Staff(make_user("lab", "lab", name="Li Lab"), make_user("lab2", "lab", name="Lu Lab"),
                 make_user("qa", "qa", name="Qian QA"), make_user("qa2", "qa", name="Quan QA"))


@pytest.fixture
def lots(live_server: LiveServer) -> dict[str, int]:
    """A lot ready for release with viability near its limit, and a lot failing endotoxin."""
    with live_server.app.app_context():
        staff = _staff()
        ready = make_lot(staff, make_donor(staff, "D-READY"), "L-READY",
                         results={**PASSING_VALUES, "viability_pct": 81.0})
        failing = make_lot(staff, make_donor(staff, "D-FAIL"), "L-FAIL",
                           results={**PASSING_VALUES, "endotoxin_eu_ml": 0.9, "cd73_pct": 95.5})
        db.session.commit()
        return {"ready": ready.id, "failing": failing.id}


def _top(locator: Locator) -> float:
    box = locator.bounding_box()
    assert box is not None, locator
    return box["y"]


def _before(first: Locator, then: Locator) -> bool:
    """`first` precedes `then` in document order."""
    return first.evaluate("(a, b) => !!(a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING)",
                          then.element_handle())


def _assert_evidence_above_signature(page: Page, button_name: str) -> None:
    password = page.get_by_label("Your password")
    button = page.get_by_role("button", name=button_name)
    summary = page.locator("#evidence-summary")
    rows = page.locator("#evidence table.results tbody tr")
    expect(rows).to_have_count(13)
    for item in [summary, *(rows.nth(i) for i in range(13))]:
        for signing in (password, button):
            assert _before(item, signing), "evidence after the signature in the document"
            box = item.bounding_box()
            assert box is not None and box["y"] + box["height"] <= _top(signing), "evidence drawn below the signature"


@pytest.mark.parametrize("orientation", ["portrait", "landscape"])
def test_release_page_shows_every_result_and_the_summary_before_the_signature(
        live_server: LiveServer, lots: dict[str, int], page: Page, orientation: str):
    page.set_viewport_size(VIEWPORTS[orientation])
    log_in(page, live_server.url, "qa2", PASSWORD)
    page.goto(f"{live_server.url}/lots/{lots['ready']}/release")
    expect(page.get_by_role("heading", name="Release lot L-READY")).to_be_visible()
    _assert_evidence_above_signature(page, "Release lot")
    items = page.locator("#evidence-summary li")
    expect(items).to_have_count(13)
    # The near-limit viability is read first; its outcome comes from the release rules.
    expect(items.first).to_contain_text("Viability")
    expect(items.first).to_contain_text("Pass, near its limit")
    expect(items.nth(1)).to_contain_text("Pass")
    live_server.screenshot(page, f"evidence-release-{orientation}")


@pytest.mark.parametrize("orientation", ["portrait", "landscape"])
def test_failing_results_come_first_before_rejecting(live_server: LiveServer, lots: dict[str, int],
                                                    page: Page, orientation: str):
    page.set_viewport_size(VIEWPORTS[orientation])
    log_in(page, live_server.url, "qa2", PASSWORD)
    page.goto(f"{live_server.url}/lots/{lots['failing']}/release")
    expect(page.locator("#evidence-summary li").first).to_contain_text("Fail")
    expect(page.locator("#evidence-summary li").first).to_contain_text("Endotoxin")
    expect(page.get_by_role("button", name="Release lot")).to_have_count(0)  # nothing to sign
    page.goto(f"{live_server.url}/lots/{lots['failing']}/reject")
    items = page.locator("#evidence-summary li")
    outcomes = items.evaluate_all("items => items.map(item => item.dataset.outcome)")
    assert outcomes[:2] == ["fail", "borderline"], outcomes
    assert set(outcomes[2:]) == {"pass"}
    expect(items.first).to_contain_text("Endotoxin")
    expect(items.nth(1)).to_contain_text("CD73")
    _assert_evidence_above_signature(page, "Reject lot")
    live_server.screenshot(page, f"evidence-reject-{orientation}")


@pytest.fixture
def excursion(live_server: LiveServer) -> int:
    """A dispatched box whose logger left the range twice: briefly far out, longer a little out."""
    with live_server.app.app_context():
        make_site("LZ")
        make_user("lz-coordinator", "coordinator", "LZ", name="Lan Coordinator")
        staff = _staff()
        doses = shippable_doses(staff, count=2, lot_number="L-EXC")
        now = utcnow()
        shipment = shipping.create_shipment(site_code="LZ", storage="cryo", actor=staff.lab, now=now)
        for dose in doses:
            from cell_chain.labels.payloads import bag_payloads
            shipping.pack_dose(shipment, scan=bag_payloads(dose).compound, actor=staff.lab, now=now)
        shipping.dispatch(shipment, courier="ColdChain", logger_id="QT-7", signature=signed(), actor=staff.lab,
                          now=now - timedelta(hours=3))
        start = shipment.dispatched_at
        # -140 °C from minute 20 to 60 (40 minutes, 10 °C out), -110 °C from 120 to 130 (40 °C out).
        celsius = {i: -140.0 for i in range(2, 6)} | {12: -110.0}
        trace = "".join(f"{(start + timedelta(minutes=10 * i)).isoformat()},{celsius.get(i, -182.0)}\n"
                        for i in range(1, 17))
        shipping.record_temperature(shipment, data=("timestamp,celsius\n" + trace).encode(), filename="QT-7.csv",
                                    actor=staff.lab, now=now)
        db.session.commit()
        return shipment.id


@pytest.mark.parametrize("orientation", ["portrait", "landscape"])
def test_excursion_data_comes_before_the_decision(live_server: LiveServer, excursion: int, page: Page,
                                                  orientation: str):
    page.set_viewport_size(VIEWPORTS[orientation])
    log_in(page, live_server.url, "qa", PASSWORD)
    page.goto(f"{live_server.url}/shipments/{excursion}")
    evidence = page.locator("#excursion-evidence")
    items = evidence.locator("li")
    expect(items).to_have_count(2)
    expect(items.first).to_contain_text("-110 °C")
    expect(items.first).to_contain_text("40 °C beyond the limit")
    expect(items.nth(1)).to_contain_text("-140 °C")
    expect(evidence).to_contain_text("lowest -182 °C, highest -110 °C")
    expect(evidence).to_contain_text("Doses affected: 2")
    accept = page.get_by_label("Accept: the doses go back into use")
    reject = page.get_by_label("Reject: the doses stay quarantined")
    button = page.get_by_role("button", name="Record decision")
    password = page.locator("#disposition-password")
    data = [evidence, page.locator("#doses table"), page.locator("#temperature figure"),
            page.locator("#temperature table.excursions")]
    for item in data:
        for control in (accept, reject, password, button):
            assert _before(item, control), "excursion data after the decision in the document"
            box = item.bounding_box()
            assert box is not None and box["y"] + box["height"] <= _top(control), "data drawn below the decision"
    live_server.screenshot(page, f"evidence-excursion-{orientation}")
