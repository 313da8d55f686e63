"""The Lanzhou nurse and pharmacist in Chinese, in a real browser at tablet (800×1280) and
desktop (1280×800) sizes: the bedside MATCHED and STOP screens, the thaw form on the ward
clock (UTC+8, stored in UTC) and the receipt screen."""
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select, update

from cell_chain.accounts.models import Site
from cell_chain.batches.models import Dose
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.shipments import services
from tests.browser.journey import log_in, wedge_scan
from tests.browser.ward import open_ward
from tests.conftest import make_user
from tests.factories import Staff, doses_at_site, shippable_doses, signed
from tests.shipments.conftest import scan_of

pytestmark = pytest.mark.browser

TABLET, DESKTOP = {"width": 800, "height": 1280}, {"width": 1280, "height": 800}
SHANGHAI = ZoneInfo("Asia/Shanghai")


def lanzhou_reads_chinese(server) -> None:  # noqa: ANN001
    with server.app.app_context():
        db.session.execute(update(Site).where(Site.code == "LZ").values(time_zone="Asia/Shanghai", language="zh_Hans"))
        db.session.commit()


def scanner_ready(page: Page) -> None:
    """As the nurse waits for the cursor in the scan field: a scan typed before the page's
    script runs would go to the two-field form for browsers without JavaScript."""
    expect(page.locator("#scan-input")).to_be_focused()
    expect(page.locator("#scan-form")).to_be_hidden()


def no_english_left(page: Page) -> None:
    text = page.locator("main").inner_text()
    assert not re.search(r"\b(the|and|Scan|Dose|Visit|Patient|Start|Record)\b", text), text


def test_the_lanzhou_nurse_sees_matched_and_stop_in_chinese_on_local_time(live_server, page: Page):
    ward = open_ward(live_server, count=2, thaw_first=True)
    lanzhou_reads_chinese(live_server)
    page.set_viewport_size(TABLET)
    log_in(page, live_server.url, "lz-nurse")
    expect(page.get_by_role("heading", name="床旁")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    page.get_by_role("link", name="核对并记录输注").click()
    expect(page.get_by_role("heading", name="扫描腕带和剂量袋")).to_be_visible()
    scanner_ready(page)
    wedge_scan(page, ward.wristbands[0])
    expect(page.locator("#scan-prompt")).to_have_text(f"腕带 {ward.wristbands[0]} ✓ — 请扫描剂量袋")
    wedge_scan(page, ward.bags[0])

    matched = page.locator("#matched")
    expect(matched.get_by_role("heading", name="匹配")).to_be_visible()
    expect(matched).to_contain_text("第 1 / 4 次访视")
    with live_server.app.app_context():
        thawed = db.session.scalar(select(Dose.thawed_at).where(Dose.code == ward.codes[0]))
    ward_clock = thawed.replace(tzinfo=UTC).astimezone(SHANGHAI)
    # The clock alone on the ward's today, date and clock for a thaw on an earlier local day
    # (after midnight in Lanzhou, 16:00 UTC)
    same_day = ward_clock.date() == utcnow().astimezone(SHANGHAI).date()
    shown = ward_clock.strftime("%H:%M" if same_day else "%Y-%m-%d %H:%M")
    expect(matched.locator(".thaw-when")).to_contain_text(f"解冻于 {shown} CST")
    # the post-thaw countdown in the reader's units (小时 分 秒), not the script's English h/min/s
    expect(matched.locator(".countdown")).to_have_text(re.compile(r"^3 小时 3\d 分 \d+ 秒$"))
    no_english_left(page)
    live_server.screenshot(page, "zh-bedside-matched-tablet")
    page.set_viewport_size(DESKTOP)
    live_server.screenshot(page, "zh-bedside-matched-desktop")

    page.set_viewport_size(TABLET)
    page.goto(live_server.url + "/bedside")
    scanner_ready(page)
    wedge_scan(page, ward.bags[1])
    wedge_scan(page, ward.wristbands[0])
    stop = page.locator("#stop")
    expect(stop.get_by_role("heading", name=re.compile("^停止"))).to_be_visible()
    expect(stop).to_contain_text("该剂量属于另一位患者。请勿给予。")
    expect(stop).to_contain_text("WRONG_PATIENT")  # the stable code stays as it is
    expect(stop).to_contain_text(f"您扫描了 剂量袋 {ward.codes[1]} 和 腕带 {ward.wristbands[0]}。")
    box = stop.bounding_box()
    assert box and box["width"] >= TABLET["width"] - 1 and box["height"] >= TABLET["height"] - 1
    live_server.screenshot(page, "zh-bedside-stop-tablet")
    page.set_viewport_size(DESKTOP)
    live_server.screenshot(page, "zh-bedside-stop-desktop")

    # the running infusion's timer speaks Chinese units too
    page.set_viewport_size(TABLET)
    page.goto(live_server.url + "/bedside")
    scanner_ready(page)
    wedge_scan(page, ward.wristbands[0])
    wedge_scan(page, ward.bags[0])
    expect(matched.get_by_role("heading", name="匹配")).to_be_visible()
    page.locator("#continue").click()
    page.locator("#start-infusion").click()
    expect(page.locator("#timer-clock")).to_have_text(re.compile(r"^00:0[1-9]$"), timeout=3000)
    expect(page.locator("#timer-state")).to_have_text(re.compile(r"^输注自 \d\d:\d\d:\d\d CST 开始：已 \d+ 秒。$"))
    no_english_left(page)
    live_server.screenshot(page, "zh-bedside-infusion-running-tablet")


def test_the_lanzhou_pharmacist_thaws_on_the_ward_clock_and_receives_in_chinese(live_server, page: Page):
    ward = open_ward(live_server, count=1)
    with live_server.app.app_context():
        lab = make_user("lab3", "lab")
        staff = Staff(lab, make_user("lab4", "lab"), make_user("qa3", "qa"), make_user("qa4", "qa"))
        doses = shippable_doses(staff, "LZ", count=2, lot_number="UC-2026-301")
        left = utcnow() - timedelta(hours=2)
        shipment = services.create_shipment(site_code="LZ", storage="cryo", actor=lab, now=left - timedelta(minutes=30))
        for dose in doses:
            services.pack_dose(shipment, scan=scan_of(dose), actor=lab, now=left - timedelta(minutes=20))
        services.dispatch(shipment, courier="ColdChain Express", logger_id="QT-4471", signature=signed(),
                          actor=lab, now=left)
        db.session.commit()
        code, bags = shipment.code, [scan_of(d) for d in doses]
        [frozen] = doses_at_site(staff, "LZ", lot_number="UC-2026-302")  # received, not yet thawed
        thaw_code = frozen.code
    lanzhou_reads_chinese(live_server)

    page.set_viewport_size(DESKTOP)
    log_in(page, live_server.url, "lz-pharmacist")
    page.goto(f"{live_server.url}/pharmacy/doses/{thaw_code}/thaw")
    expect(page.get_by_role("heading", name=re.compile("^记录.*解冻"))).to_be_visible()
    ward_clock = (utcnow() - timedelta(minutes=20)).astimezone(SHANGHAI).replace(second=0, microsecond=0)
    field = page.get_by_label("解冻完成时间（Asia/Shanghai）")
    field.fill(f"{ward_clock:%Y-%m-%d %H:%M}")
    live_server.screenshot(page, "zh-thaw-form-desktop")
    page.set_viewport_size(TABLET)
    live_server.screenshot(page, "zh-thaw-form-tablet")
    page.get_by_role("button", name="记录解冻").click()
    expect(page.get_by_role("status").first).to_contain_text(f"于 {ward_clock:%Y-%m-%d %H:%M} CST 解冻")
    with live_server.app.app_context():
        stored = db.session.scalar(select(Dose.thawed_at).where(Dose.code == thaw_code))
    assert stored.replace(tzinfo=UTC) == datetime(*ward_clock.timetuple()[:5], tzinfo=UTC) - timedelta(hours=8)

    page.set_viewport_size(DESKTOP)
    page.goto(f"{live_server.url}/shipments")
    page.get_by_role("link", name=re.compile(f"^接收.*{code}")).click()
    expect(page.get_by_role("heading", name=f"接收运输 {code}")).to_be_visible()
    expect(page.locator("#scan-input")).to_be_focused()
    expect(page.locator("textarea[name=scans]")).to_be_hidden()  # the receipt's script is running
    wedge_scan(page, bags[0])
    expect(page.locator("#scan-banner")).to_contain_text("✓ 属于本次运输：剂量 ")
    expect(page.locator("#receipt-screen")).to_contain_text("✓ 已扫描")
    wedge_scan(page, "LZ-0001")
    expect(page.locator("#scan-banner")).to_contain_text("不是剂量标签")
    live_server.screenshot(page, "zh-receipt-desktop")
    page.set_viewport_size(TABLET)
    live_server.screenshot(page, "zh-receipt-tablet")
