"""QA traces from what is in front of them: a lot number as written in the batch record and
a dose code typed in lower case both open the donor's trace; nothing matching is said in words."""
import pytest
from playwright.sync_api import Page, expect

from cell_chain.core.db import db
from tests.browser.journey import TABLET, log_in
from tests.conftest import make_site, make_user
from tests.factories import Staff, shippable_doses

pytestmark = pytest.mark.browser


def test_trace_by_lot_number_and_lower_case_dose_code(live_server, page: Page):
    with live_server.app.app_context():
        make_site("LZ")
        make_user("lz-coordinator", "coordinator", "LZ")
        staff = Staff(make_user("lab", "lab", name="Li Lab"), make_user("lab2", "lab", name="Lu Lab"),
                      make_user("qa", "qa", name="Qian QA"), make_user("qa2", "qa", name="Quan QA"))
        [dose] = shippable_doses(staff, "LZ", count=1, lot_number="UC-2026-801")
        db.session.commit()
        code, din = dose.code, dose.lot.din
    page.set_viewport_size(TABLET)
    log_in(page, live_server.url, "qa")
    page.goto(live_server.url + "/trace")
    field = page.get_by_label("DIN, dose label or subject ID")
    expect(field).to_be_focused()
    field.fill(" uc 2026 801 ")
    page.get_by_role("button", name="Trace").click()
    expect(page).to_have_url(f"{live_server.url}/trace/donors/{din}")
    expect(page.locator("main")).to_contain_text("UC-2026-801")
    expect(page.locator("main")).to_contain_text(code)

    page.goto(live_server.url + "/trace")
    page.get_by_label("DIN, dose label or subject ID").fill(code.lower())
    page.get_by_role("button", name="Trace").click()
    expect(page).to_have_url(f"{live_server.url}/trace/donors/{din}")
    expect(page.locator("main")).to_contain_text(code)
    live_server.screenshot(page, "trace-by-dose-code")

    page.goto(live_server.url + "/trace")
    page.get_by_label("DIN, dose label or subject ID").fill("UC-2099-999")
    page.get_by_role("button", name="Trace").click()
    expect(page.get_by_role("alert")).to_contain_text("Nothing in cell-chain matches “UC-2099-999”")
    live_server.screenshot(page, "trace-nothing-matches")
