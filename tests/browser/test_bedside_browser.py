"""The nurse at the bedside on a tablet, in a real browser: a handheld scanner types the
wristband and the dose bag (each followed by Enter), the screen turns green, the infusion is
timed, signed and witnessed, and the patient's four doses show this visit done; a dose of
another patient turns the screen red."""
import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.infusions import bedside
from cell_chain.infusions.models import Infusion
from tests.browser.journey import TABLET, wedge_scan
from tests.browser.ward import log_in_to_bedside, open_ward
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_nurse_scans_sees_matched_and_records_with_a_witness(live_server, page: Page):
    ward = open_ward(live_server, thaw_first=True)
    page.set_viewport_size(TABLET)
    log_in_to_bedside(page, live_server.url)
    page.get_by_role("link", name="Verify and record an infusion").click()
    expect(page.get_by_role("heading", name="Scan the wristband and the dose bag")).to_be_visible()
    expect(page.locator("#scan-input")).to_be_focused()
    expect(page.locator("#scan-form")).to_be_hidden()  # the two-field form is for browsers without JavaScript

    wedge_scan(page, ward.wristbands[0])
    expect(page.locator("#scan-prompt")).to_have_text(f"Wristband {ward.wristbands[0]} ✓ — now scan the dose bag")
    expect(page.locator("#scan-input")).to_be_focused()
    live_server.screenshot(page, "bedside-scan")
    wedge_scan(page, ward.bags[0])

    matched = page.locator("#matched")
    expect(matched).to_be_visible()
    expect(matched.get_by_role("heading", name="MATCHED")).to_be_visible()
    expect(matched).to_contain_text(f"{ward.wristbands[0]} (A.B., 1975)")
    expect(matched).to_contain_text(ward.codes[0])
    expect(matched).to_contain_text("Visit 1 of 4")
    expect(matched.locator(".countdown")).to_have_text(re.compile(r"^3 h 3\d min \d+ s$"))
    box = matched.bounding_box()
    assert box and box["width"] >= TABLET["width"] - 1 and box["height"] >= TABLET["height"] - 1  # full screen
    expect(page.locator("#stop")).to_be_hidden()
    expect(matched).to_be_focused()
    live_server.screenshot(page, "bedside-matched")

    page.get_by_role("link", name="Continue to the infusion record").click()
    expect(page.get_by_role("heading", name="Record the infusion")).to_be_visible()
    expect(page.locator(".matched-strip")).to_contain_text(ward.codes[0])
    page.get_by_role("button", name="Start infusion").click()
    expect(page.locator("#timer-state")).to_contain_text("Infusion running since")
    expect(page.locator("#timer-clock")).to_have_text(re.compile(r"^00:0[1-9]$"), timeout=3000)
    page.get_by_role("button", name="End infusion").click()
    expect(page.locator("#timer-state")).to_contain_text("Infusion ended at")
    expect(page.get_by_label("Volume given (ml)")).to_have_value("40")
    page.get_by_label("0 — No discomfort").check()
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_label("Witness’s username").fill("lz-nurse2")
    page.get_by_label("Witness’s password").fill(PASSWORD)
    live_server.screenshot(page, "bedside-infusion-form")
    page.get_by_role("button", name="Record the infusion").click()

    expect(page.get_by_role("heading", name="Infusion recorded")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile(r"visit 1 done"))).to_be_visible()
    expect(page.locator(".recorded")).to_contain_text("Witnessed")
    live_server.screenshot(page, "bedside-recorded")
    with live_server.app.app_context():
        infusion = db.session.scalar(select(Infusion))
        assert infusion is not None and infusion.volume_ml == 40 and not infusion.partial
        assert timedelta(0) < infusion.ended_at - infusion.started_at < timedelta(minutes=1)


def test_a_dose_of_another_patient_is_a_red_stop(live_server, page: Page):
    ward = open_ward(live_server, count=2)
    page.set_viewport_size(TABLET)
    log_in_to_bedside(page, live_server.url)
    page.goto(live_server.url + "/bedside")
    # the dose first: either order
    wedge_scan(page, ward.bags[1])
    expect(page.locator("#scan-prompt")).to_have_text(f"Dose bag {ward.codes[1]} ✓ — now scan the wristband")
    wedge_scan(page, ward.wristbands[0])

    stop = page.locator("#stop")
    expect(stop).to_be_visible()
    expect(stop.get_by_role("heading", name=re.compile("^STOP"))).to_be_visible()
    expect(stop).to_contain_text(bedside.MESSAGES["WRONG_PATIENT"])
    expect(page.locator("#matched")).to_be_hidden()
    box = stop.bounding_box()
    assert box and box["width"] >= TABLET["width"] - 1 and box["height"] >= TABLET["height"] - 1
    expect(stop).to_be_focused()  # the screen, not its button: a stray scan's Enter decides nothing
    live_server.screenshot(page, "bedside-stop")

    page.get_by_role("link", name="Start again").click()
    expect(page.locator("#scan-input")).to_be_focused()
    expect(page.locator("#scan-prompt")).to_have_text("Scan the patient’s wristband or the dose bag.")


def test_a_post_thaw_expiry_on_another_day_shows_its_date(live_server, page: Page):
    from cell_chain.batches.models import Dose

    ward = open_ward(live_server, thaw_first=True)
    tomorrow = (utcnow() + timedelta(days=1)).replace(second=0, microsecond=0)
    with live_server.app.app_context():
        # An expiry after midnight must not read as a clock time of today.
        db.session.execute(Dose.__table__.update().where(Dose.code == ward.codes[0]).values(expires_at=tomorrow))
        db.session.commit()
    page.set_viewport_size(TABLET)
    log_in_to_bedside(page, live_server.url)
    page.goto(live_server.url + "/bedside")
    wedge_scan(page, ward.wristbands[0])
    wedge_scan(page, ward.bags[0])
    thaw = page.locator("#matched .thaw-when")
    expect(thaw).to_contain_text(f"expires {tomorrow:%Y-%m-%d %H:%M} UTC")
    thawed = utcnow() - timedelta(minutes=25)
    if thawed.date() == utcnow().date():
        expect(thaw).to_contain_text(re.compile(r"Thawed at \d\d:\d\d UTC"))  # today: the clock alone
