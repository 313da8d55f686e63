"""The nurse at the bedside on a tablet, in a real browser: a handheld scanner types the
wristband and the dose bag (each followed by Enter), the screen turns green, the infusion is
timed, signed and witnessed, and the patient's four doses show this visit done; a dose of
another patient turns the screen red."""
import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from cell_chain.core import clock as app_clock
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
    # a few seconds is no real infusion: the nurse confirms the times
    expect(page.locator("#duration-check")).to_be_visible()
    page.get_by_label("The start and end times are right").check()
    expect(page.get_by_label("Volume given (ml)")).to_have_value("")  # typed, not pre-filled
    page.get_by_label("Volume given (ml)").fill("40")
    expect(page.locator("#partial-reason-group")).to_be_hidden()
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


@pytest.fixture
def app_time():
    """The app's clock, moved forward by the test (no sleeping); real time again afterwards."""
    app_clock.real_time()
    yield app_clock
    app_clock.real_time()


def _minutes_pass(page: Page, minutes: int) -> None:
    """`minutes` pass for the app and for the tablet's page alike, one at a time; the page's
    timers (the running clock, the once-a-minute keep-alive) fire as they would. Each minute's
    keep-alive is answered before the next minute passes, as in real time: jumping further
    with saves still in flight would let the server see a silent quarter of an hour."""
    for _ in range(minutes):
        app_clock.travel(timedelta(minutes=1))
        with page.expect_response(re.compile(r"/bedside/draft$")):
            page.clock.run_for(60 * 1000)


def _start_infusion(page: Page, live_server, ward) -> None:
    page.clock.install()
    log_in_to_bedside(page, live_server.url)
    page.goto(live_server.url + "/bedside")
    wedge_scan(page, ward.wristbands[0])
    wedge_scan(page, ward.bags[0])
    expect(page.locator("#matched")).to_be_visible()
    page.get_by_role("link", name="Continue to the infusion record").click()
    page.get_by_role("button", name="Start infusion").click()
    expect(page.locator("#timer-state")).to_contain_text("Infusion running since")


@pytest.mark.parametrize("viewport", [TABLET, {"width": 1280, "height": 800}], ids=["portrait", "landscape"])
def test_a_35_minute_infusion_keeps_the_session_and_is_recorded(live_server, page: Page, app_time, viewport):
    ward = open_ward(live_server, thaw_first=True)
    page.set_viewport_size(viewport)
    _start_infusion(page, live_server, ward)
    keep_alive = page.locator("#keep-alive")
    expect(keep_alive).to_contain_text("you stay signed in while it runs")
    _minutes_pass(page, 35)  # far beyond the 15-minute idle timeout
    expect(page.locator("#timer-clock")).to_have_text(re.compile(r"^3[5-6]:\d\d$"))
    expect(keep_alive).to_contain_text("you stay signed in while it runs")
    name = "portrait" if viewport == TABLET else "landscape"
    live_server.screenshot(page, f"bedside-infusion-running-{name}")
    page.get_by_role("button", name="End infusion").click()
    expect(page.locator("#duration-check")).to_be_hidden()  # 35 minutes is a usual infusion
    page.get_by_label("Volume given (ml)").fill("40")
    page.get_by_label("1 — Mild").check()
    page.get_by_label("Adverse events (if any)").fill("Mild chills at 20 minutes")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_label("Witness’s username").fill("lz-nurse2")
    page.get_by_label("Witness’s password").fill(PASSWORD)
    live_server.screenshot(page, f"bedside-infusion-ended-{name}")
    page.get_by_role("button", name="Record the infusion").click()
    expect(page.get_by_role("heading", name="Infusion recorded")).to_be_visible()
    live_server.screenshot(page, f"bedside-recorded-{name}")
    with live_server.app.app_context():
        infusion = db.session.scalar(select(Infusion))
        assert infusion is not None and infusion.tolerance_grade == 1
        assert timedelta(minutes=34) < infusion.ended_at - infusion.started_at < timedelta(minutes=37)
        assert infusion.recorded_at - infusion.started_at > timedelta(minutes=34)


def test_the_session_ends_mid_infusion_and_the_form_comes_back(live_server, page: Page, app_time):
    ward = open_ward(live_server, thaw_first=True)
    page.set_viewport_size(TABLET)
    _start_infusion(page, live_server, ward)
    page.get_by_label("Volume given (ml)").fill("36")
    page.get_by_label("Why was less than the full dose given?").fill("Cannula dislodged at 36 ml")
    page.get_by_label("2 — Moderate").check()
    page.get_by_label("Adverse events (if any)").fill("Flushing, infusion slowed")
    page.get_by_label("Witness’s username").fill("lz-nurse2")
    page.get_by_label("Your password").fill(PASSWORD)
    with page.expect_response(re.compile(r"/bedside/draft$")):
        page.clock.run_for(2000)  # the entries are saved as she types
    # The tablet sleeps (no timers run) while 20 minutes pass: the idle timeout ends the session.
    app_clock.travel(timedelta(minutes=20))
    page.clock.run_for(60 * 1000)
    keep_alive = page.locator("#keep-alive")
    expect(keep_alive).to_contain_text("Your session has ended")
    expect(keep_alive).to_contain_text("your entries are kept")
    live_server.screenshot(page, "bedside-session-ended")
    page.get_by_role("link", name="Log in again to continue").click()
    page.get_by_label("Username").fill("lz-nurse")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("heading", name="Record the infusion")).to_be_visible()
    expect(page.locator("#resumed")).to_contain_text("Your entries are back")
    expect(page.locator("#timer-state")).to_contain_text("Infusion running since")
    expect(page.get_by_label("Volume given (ml)")).to_have_value("36")
    expect(page.get_by_label("Why was less than the full dose given?")).to_have_value("Cannula dislodged at 36 ml")
    expect(page.get_by_label("2 — Moderate")).to_be_checked()
    expect(page.get_by_label("Adverse events (if any)")).to_have_value("Flushing, infusion slowed")
    expect(page.get_by_label("Witness’s username")).to_have_value("lz-nurse2")
    expect(page.get_by_label("Your password")).to_have_value("")  # never kept
    live_server.screenshot(page, "bedside-form-resumed")
    page.get_by_role("button", name="End infusion").click()
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_label("Witness’s password").fill(PASSWORD)
    page.get_by_role("button", name="Record the infusion").click()
    expect(page.get_by_role("heading", name="Infusion recorded")).to_be_visible()
    with live_server.app.app_context():
        infusion = db.session.scalar(select(Infusion))
        assert infusion.volume_ml == 36 and infusion.partial_reason == "Cannula dislodged at 36 ml"
        assert infusion.tolerance_grade == 2 and infusion.adverse_events == "Flushing, infusion slowed"


@pytest.mark.parametrize("viewport", [TABLET, {"width": 1280, "height": 800}], ids=["portrait", "landscape"])
def test_a_frozen_dose_on_the_pharmacy_shelf_is_a_red_stop_that_says_what_to_do(live_server, page: Page, viewport):
    ward = open_ward(live_server, on_ward=False)  # received, never thawed nor dispensed
    page.set_viewport_size(viewport)
    log_in_to_bedside(page, live_server.url)
    page.goto(live_server.url + "/bedside")
    wedge_scan(page, ward.wristbands[0])
    wedge_scan(page, ward.bags[0])
    stop = page.locator("#stop")
    expect(stop).to_be_visible()
    expect(stop).to_contain_text(bedside.MESSAGES["NOT_DISPENSED"])
    expect(stop).to_contain_text(bedside.MESSAGES["NOT_THAWED"])
    expect(stop).to_contain_text("ask the pharmacy to thaw it")
    live_server.screenshot(page, f"bedside-stop-not-dispensed-{'portrait' if viewport == TABLET else 'landscape'}")
