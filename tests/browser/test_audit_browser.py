"""A monitor reads the audit trail on a tablet: filters by a dose code typed in lower case and
by a person, pages forward and back, and downloads the filtered trail as CSV."""
import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update

from cell_chain.accounts.models import User
from cell_chain.core.db import db
from tests.browser.journey import TABLET, log_in
from tests.conftest import make_site, make_user
from tests.factories import Staff, shippable_doses

pytestmark = pytest.mark.browser


@pytest.fixture
def trail(live_server):
    with live_server.app.app_context():
        make_site("LZ")
        make_user("lz-coordinator", "coordinator", "LZ", name="Cui Coordinator")
        make_user("monitor", "monitor", name="Mo Monitor")
        staff = Staff(make_user("lab", "lab", name="Li Lab"), make_user("lab2", "lab", name="Lu Lab"),
                      make_user("qa", "qa", name="Qian QA"), make_user("qa2", "qa", name="Quan QA"))
        doses = shippable_doses(staff, "LZ", count=3, lot_number="UC-2026-701")
        db.session.commit()
        return live_server, [d.code for d in doses]


def test_monitor_filters_pages_and_exports_the_audit_trail(trail, page: Page, tmp_path: Path):
    server, codes = trail
    page.set_viewport_size(TABLET)
    log_in(page, server.url, "monitor")
    page.goto(server.url + "/audit")
    expect(page.get_by_role("heading", name="Audit trail", exact=True)).to_be_visible()
    count = page.locator("#audit-count")
    expect(count).to_contain_text("Events 1–50 of")
    assert page.evaluate("document.documentElement.scrollWidth") <= TABLET["width"]
    server.screenshot(page, "audit-trail-tablet")

    # page forward and back
    page.get_by_role("link", name="Older events →").first.click()
    expect(count).to_contain_text("Events 51–")
    expect(page.get_by_text("Page 2 of").first).to_be_visible()
    page.get_by_role("link", name="← Newer events").first.click()
    expect(count).to_contain_text("Events 1–50 of")

    # a dose code typed in lower case, then a person
    page.get_by_label("Record").fill(codes[0].lower())
    page.get_by_role("button", name="Show events").click()
    events = page.locator("table.audit-events tbody tr")
    expect(events.first).to_be_visible()
    expect(page.locator("table.audit-events")).to_contain_text(f"Dose {codes[0]}")
    expect(page.locator("table.audit-events")).not_to_contain_text(codes[1])
    expect(page.locator("table.audit-events")).to_contain_text("Dose allocated")
    page.get_by_label("Person").select_option(label="Cui Coordinator (coordinator)")
    page.get_by_role("button", name="Show events").click()
    expect(page.locator("table.audit-events")).not_to_contain_text("Li Lab (lab)")
    rows_shown = events.count()
    assert rows_shown > 0
    for index in range(rows_shown):
        expect(events.nth(index).locator("td.person")).to_have_text("Cui Coordinator (coordinator)")
    assert page.evaluate("document.documentElement.scrollWidth") <= TABLET["width"]
    server.screenshot(page, "audit-trail-filtered")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    header = next(i for i, r in enumerate(rows) if r[:1] == ["#"])
    exported = [r for r in rows[header + 1:] if r]
    assert len(exported) == rows_shown
    assert {r[3] for r in exported} == {"Cui Coordinator (coordinator)"}
    assert all(codes[1] not in " ".join(r) for r in exported)
    assert any(r[4] == "Dose allocated" and r[5] == f"Dose {codes[0]}" for r in exported)


def test_the_audit_trail_reads_in_chinese_on_a_tablet(trail, page: Page):
    server, codes = trail
    with server.app.app_context():
        # The monitor's own choice of language and zone (preferences, set as the tests do).
        db.session.execute(update(User).where(User.username == "monitor")
                           .values(language="zh_Hans", time_zone="Asia/Shanghai"))
        db.session.commit()
    page.set_viewport_size(TABLET)
    log_in(page, server.url, "monitor")
    page.goto(f"{server.url}/audit?record={codes[0].lower()}")
    expect(page.get_by_role("heading", name="审计追踪")).to_be_visible()
    table = page.locator("table.audit-events")
    expect(table).to_contain_text("剂量已分配")
    expect(table).to_contain_text(f"剂量 {codes[0]}")
    assert "Dose allocated" not in table.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= TABLET["width"]
    server.screenshot(page, "audit-trail-chinese")
