"""Logging in and seeing one's jobs, in a real browser, at tablet and desktop sizes."""
import pytest
from playwright.sync_api import Page, expect

from cell_chain.core.db import db
from cell_chain.demo import DEMO_PASSWORD, seed_demo
from cell_chain.core.clock import utcnow

from tests.conftest import read_in_english

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(live_server):
    with live_server.app.app_context():
        seed_demo(utcnow())
        db.session.commit()
        read_in_english()
    return live_server


def test_nurse_logs_in_on_a_tablet_and_sees_the_bedside_job(demo, page: Page):
    page.set_viewport_size({"width": 800, "height": 1280})
    page.goto(demo.url + "/")
    expect(page.get_by_role("heading", name="Log in to cell-chain")).to_be_visible()
    demo.screenshot(page, "login-tablet")
    page.get_by_label("Username").fill("lz-nurse")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Bedside")).to_be_visible()
    expect(page.get_by_text("Verify and record an infusion")).to_be_visible()
    demo.screenshot(page, "home-nurse-tablet")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in to cell-chain")).to_be_visible()


def test_wrong_password_shows_the_error_summary(demo, page: Page):
    page.goto(demo.url + "/login")
    page.get_by_label("Username").fill("qa")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("There is a problem")
    expect(summary).to_contain_text("username or password is wrong")
    demo.screenshot(page, "login-error")


def test_monitor_opens_the_verified_audit_trail(demo, page: Page):
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(demo.url + "/login")
    page.get_by_label("Username").fill("monitor")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Audit trail").click()
    expect(page.locator(".notice[role=status]")).to_contain_text("Chain intact")
    # one page of the newest 50 events of the demo history, paged (issue 18), not all of them
    assert page.locator("tbody tr").count() == 50
    expect(page.locator("#audit-count")).to_contain_text("Events 1–50 of")
    demo.screenshot(page, "audit-trail-desktop")
