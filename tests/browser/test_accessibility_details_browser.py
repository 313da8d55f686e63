"""The details a keyboard or screen-reader user meets: after a refused form the error summary
has the focus, the fields it names are marked invalid and described by their messages, and
the title starts with "Error:"; the bedside decision screens are modal alert dialogs whose
title names the decision, and Tab stays inside them."""
import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.journey import TABLET, log_in, wedge_scan
from tests.browser.ward import log_in_to_bedside, open_ward
from tests.conftest import make_site, make_user

pytestmark = pytest.mark.browser


def test_a_refused_form_puts_the_focus_on_its_error_summary_and_marks_its_fields(live_server, page: Page):
    with live_server.app.app_context():
        make_site("LZ")
        make_user("lz-coordinator", "coordinator", "LZ")
    page.set_viewport_size(TABLET)
    log_in(page, live_server.url, "lz-coordinator")
    page.goto(live_server.url + "/patients/new")
    expect(page).not_to_have_title(re.compile("^Error"))
    page.get_by_role("button", name="Enrol").click()

    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(page).to_have_title(re.compile(r"^Error: "))
    initials = page.locator("#initials")
    expect(initials).to_have_attribute("aria-invalid", "true")
    expect(initials).to_have_attribute("aria-describedby", re.compile(r"\binitials-error\b"))
    expect(page.locator("#initials-error")).to_be_visible()
    # each field named in the summary is marked, radios included
    for href in summary.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))"):
        field = page.locator(href)
        if field.evaluate("el => el.matches('input, select, textarea')"):
            expect(field).to_have_attribute("aria-invalid", "true")
    live_server.screenshot(page, "a11y-refused-enrolment")


def test_the_bedside_decisions_are_modal_dialogs_named_in_the_title(live_server, page: Page):
    ward = open_ward(live_server, count=2)
    page.set_viewport_size(TABLET)
    log_in_to_bedside(page, live_server.url)

    page.goto(live_server.url + "/bedside")
    expect(page.locator("#scan-input")).to_be_focused()
    wedge_scan(page, ward.bags[1])
    wedge_scan(page, ward.wristbands[0])
    stop = page.locator("#stop")
    expect(stop).to_be_visible()
    expect(stop).to_have_attribute("role", "alertdialog")
    expect(stop).to_have_attribute("aria-modal", "true")
    expect(page).to_have_title(re.compile(r"^STOP – \S"))
    expect(page.locator("header.masthead")).to_have_js_property("inert", True)
    for _ in range(4):  # Tab and Shift+Tab never leave the screen
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.getElementById('stop').contains(document.activeElement)")
        page.keyboard.press("Shift+Tab")
        assert page.evaluate("() => document.getElementById('stop').contains(document.activeElement)")

    page.get_by_role("link", name="Start again").click()
    expect(page.locator("#scan-input")).to_be_focused()
    expect(page).to_have_title(re.compile(r"^Bedside check"))
    wedge_scan(page, ward.wristbands[0])
    wedge_scan(page, ward.bags[0])
    matched = page.locator("#matched")
    expect(matched).to_be_visible()
    expect(matched).to_have_attribute("role", "alertdialog")
    expect(page).to_have_title(re.compile(rf"^MATCHED – {re.escape(ward.wristbands[0])}"))
    # the screen itself has the focus (a stray scan's Enter decides nothing); Tab reaches its
    # buttons in turn and comes back round to the first
    expect(matched).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#continue")).to_be_focused()
    page.keyboard.press("Tab")
    expect(matched.get_by_role("link", name="Start again")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#continue")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(matched.get_by_role("link", name="Start again")).to_be_focused()

    page.locator("#continue").click()
    expect(page.get_by_role("heading", name="Record the infusion")).to_be_visible()
    expect(matched).not_to_have_attribute("role", "alertdialog")
    expect(page.locator("header.masthead")).to_have_js_property("inert", False)
    expect(page).not_to_have_title(re.compile("^MATCHED"))
