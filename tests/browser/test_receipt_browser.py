"""The site pharmacist receives a box with a keyboard-wedge scanner, in a real browser: the
scanner types each payload and presses Enter; the focus never leaves the scan field."""
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from cell_chain.accounts.models import User
from cell_chain.batches.models import Dose
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.patients.allocation import active_allocation_of_dose
from cell_chain.patients.labels import assignment_payload
from cell_chain.shipments import services
from cell_chain.labels.rendering import render_pdf
from cell_chain.labels.services import bag_label_item
from tests.browser.journey import log_in, read_printed, wedge_scan
from tests.conftest import PASSWORD, make_site, make_user
from tests.factories import Staff, shippable_doses, signed
from tests.shipments.conftest import scan_of

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture
def box(live_server):
    """Three doses dispatched to LZ three hours ago with a clean logger trace, and a fourth
    LZ dose that stayed behind in the lab (the stray bag)."""
    with live_server.app.app_context():
        make_site("LZ")
        for username, role in (("lz-coordinator", "coordinator"), ("lz-pharmacist", "pharmacist"),
                               ("lz-pharmacist2", "pharmacist"), ("lz-nurse", "nurse")):
            make_user(username, role, "LZ", name={"lz-pharmacist": "Pan Pharmacist"}.get(username))
        staff = Staff(make_user("lab", "lab", name="Li Lab"), make_user("lab2", "lab", name="Lu Lab"),
                      make_user("qa", "qa", name="Qian QA"), make_user("qa2", "qa", name="Quan QA"))
        doses = shippable_doses(staff, "LZ", count=3, lot_number="UC-2026-201")
        [stray] = shippable_doses(staff, "LZ", count=1, lot_number="UC-2026-202")
        left = (utcnow() - timedelta(hours=3)).replace(microsecond=0)
        shipment = services.create_shipment(site_code="LZ", storage="cryo", actor=staff.lab,
                                            now=left - timedelta(minutes=40))
        for dose in doses:
            services.pack_dose(shipment, scan=scan_of(dose), actor=staff.lab, now=left - timedelta(minutes=30))
        services.dispatch(shipment, courier="ColdChain Express", logger_id="QT-4471", signature=signed(),
                          actor=staff.lab, now=left)
        services.handoff(shipment, from_party="ColdChain Express", to_party="Lanzhou Courier",
                         place="Lanzhou airport", actor=staff.lab, now=left + timedelta(hours=2))
        trace = "timestamp,celsius\n" + "\n".join(
            f"{(left + timedelta(minutes=10 * i)).isoformat()},{-182.5 + (i % 5) * 0.7:.1f}" for i in range(17))
        services.record_temperature(shipment, data=trace.encode(), filename="QT-4471.csv", actor=staff.lab,
                                    now=left + timedelta(hours=2, minutes=50))
        db.session.commit()
        data = {
            "id": shipment.id, "code": shipment.code,
            "codes": [d.code for d in doses],
            "bags": [scan_of(d) for d in doses],
            "assignments": [assignment_payload(active_allocation_of_dose(d)) for d in doses],
            "stray": scan_of(stray), "stray_code": stray.code,
        }
    return live_server, data


def counts(page: Page, expected: int, scanned: int, missing: int, unexpected: int) -> None:
    expect(page.locator("#count-expected")).to_have_text(str(expected))
    expect(page.locator("#count-scanned")).to_have_text(str(scanned))
    expect(page.locator("#count-missing")).to_have_text(str(missing))
    expect(page.locator("#count-unexpected")).to_have_text(str(unexpected))


def test_pharmacist_receives_a_box_with_a_wedge_scanner(box, page: Page):
    server, data = box
    problems: list[str] = []

    def note(message) -> None:  # the app serves no favicon; anything else is a fault
        if message.type == "error" and "favicon.ico" not in message.location.get("url", ""):
            problems.append(f"{message.text} at {message.location.get('url')}")

    page.on("console", note)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.set_viewport_size(DESKTOP)
    log_in(page, server.url, "lz-pharmacist")
    page.get_by_role("link", name="Receive shipments").click()
    page.get_by_role("link", name=f"Receive shipment {data['code']}").click()

    expect(page.get_by_role("heading", name=f"Receive shipment {data['code']}")).to_be_visible()
    field = page.locator("#scan-input")
    expect(field).to_be_focused()
    expect(page.locator("textarea[name=scans]")).to_be_hidden()
    counts(page, 3, 0, 3, 0)
    expect(page.locator("#receipt-temperature")).to_contain_text("No open excursion")

    banner = page.locator("#scan-banner")
    first, second, third = data["codes"]
    wedge_scan(page, data["bags"][0])
    counts(page, 3, 1, 2, 0)
    expect(banner).to_contain_text(f"IN THIS SHIPMENT: dose {first}")
    expect(banner).to_have_class("scan-banner ok")
    expect(page.locator(f"#expected-{first}")).to_contain_text("Scanned")
    expect(field).to_be_focused()

    wedge_scan(page, data["assignments"][1])  # the assignment label names the dose too
    counts(page, 3, 2, 1, 0)
    expect(page.locator(f"#expected-{second}")).to_contain_text("Scanned")
    expect(page.locator(f"#expected-{third}")).to_contain_text("Not scanned yet")
    expect(field).to_be_focused()
    server.screenshot(page, "receipt-scanning")

    wedge_scan(page, data["bags"][0])
    expect(banner).to_contain_text(f"Already scanned: dose {first}")
    counts(page, 3, 2, 1, 0)

    wedge_scan(page, data["stray"])
    expect(banner).to_contain_text("NOT IN THIS SHIPMENT")
    expect(banner).to_have_class("scan-banner stop")
    counts(page, 3, 2, 1, 1)
    expect(field).to_be_focused()
    server.screenshot(page, "receipt-refused")

    wedge_scan(page, "LZ-0001")  # a wristband, scanned by mistake
    expect(banner).to_contain_text("NOT A DOSE LABEL")
    counts(page, 3, 2, 1, 2)
    expect(field).to_be_focused()
    page.get_by_role("button", name="Remove scan: Wristband of patient LZ-0001").click()
    counts(page, 3, 2, 1, 1)
    expect(field).to_be_focused()

    page.get_by_label("Yes, the seal is intact").check()
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Receive shipment").click()
    expect(page.locator("#confirm-missing")).to_contain_text(f"1 dose has not been scanned: {third}")
    page.get_by_role("button", name="Receive with 1 missing").click()

    expect(page.get_by_role("heading", name=f"Shipment {data['code']} partially received")).to_be_visible()
    result = page.locator("#result-counts")
    for term, number in (("Accepted", 2), ("Missing", 1), ("Unexpected", 1), ("Quarantined", 0)):
        expect(result.get_by_role("term").filter(has_text=term).locator("+ dd")).to_have_text(str(number))
    expect(page.locator("#missing")).to_contain_text(third)
    expect(page.locator("#unexpected")).to_contain_text(data["stray_code"])
    expect(page.locator("#signatures")).to_contain_text("Pan Pharmacist")
    server.screenshot(page, "receipt-result")

    page.get_by_role("link", name="Shipment page").click()
    expect(page.locator("#doses")).to_contain_text("Missing")
    trace = page.get_by_role("img", name=f"Temperature trace of shipment {data['code']}")
    expect(trace).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=trace.element_handle())
    expect(page.locator("#custody")).to_contain_text("Courier ColdChain Express → Courier Lanzhou Courier")
    server.screenshot(page, "shipment-page")

    page.goto(server.url + "/pharmacy")
    expect(page.get_by_role("heading", name="Pharmacy at LZ")).to_be_visible()
    expect(page.locator("#scan")).to_be_focused()
    wedge_scan(page, data["bags"][0])
    page.get_by_role("link", name=f"Record the thaw of dose {first}").click()
    page.get_by_role("button", name="Record thaw").click()
    expect(page.get_by_role("status").first).to_contain_text(f"Dose {first} thawed at")
    page.get_by_role("link", name="Pharmacy", exact=True).click()
    expect(page.locator(f"#dose-{first}")).not_to_contain_text("Frozen")
    expect(page.locator(f"#dose-{second}")).to_contain_text("Frozen")
    expect(page.locator(f"#dose-{third}")).to_have_count(0)
    server.screenshot(page, "pharmacy-inventory")
    assert problems == []  # no script error, no Content-Security-Policy refusal


def test_a_dose_of_another_shipment_is_named_by_its_code_lot_and_shipment_never_its_payload(box, page: Page):
    server, data = box
    with server.app.app_context():
        lab = db.session.scalar(db.select(User).where(User.username == "lab"))
        stray = db.session.scalar(db.select(Dose).where(Dose.code == data["stray_code"]))
        other = services.create_shipment(site_code="LZ", storage="cryo", actor=lab, now=utcnow())
        services.pack_dose(other, scan=data["stray"], actor=lab, now=utcnow())
        db.session.commit()
        other_code = other.code
        # The bag label as printed, read by a scanner: the payload the pharmacist's scanner types.
        [bag_scan] = read_printed(render_pdf("bag", [bag_label_item(stray).data])).payloads("DataMatrix")
    assert bag_scan == data["stray"]
    page.set_viewport_size(DESKTOP)
    log_in(page, server.url, "lz-pharmacist")
    page.goto(f"{server.url}/shipments/{data['id']}/receive")
    field = page.locator("#scan-input")
    expect(field).to_be_focused()
    banner = page.locator("#scan-banner")
    wedge_scan(page, bag_scan)
    expect(banner).to_contain_text("NOT IN THIS SHIPMENT")
    expect(banner).to_contain_text(f"Dose {data['stray_code']} of lot UC-2026-202")
    expect(banner).to_contain_text(f"It belongs to shipment {other_code}. It is not at this site.")
    expect(page.locator("#unexpected-list")).to_contain_text(f"Dose {data['stray_code']} of lot UC-2026-202")
    server.screenshot(page, "receipt-other-shipment-dose")

    expect(field).to_be_focused()
    wedge_scan(page, "HELLO 12345")  # a barcode that is none of our labels
    expect(banner).to_contain_text("NOT A DOSE LABEL")
    expect(banner).to_contain_text("Not a label we print")
    expect(page.locator("#unexpected-list")).to_contain_text("Not a label we print")
    page_text = page.locator("main").inner_text()
    assert bag_scan.strip() not in page_text and "=+" not in page_text and "HELLO 12345" not in page_text

    page.get_by_label("Yes, the seal is intact").check()
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Receive shipment").click()
    page.get_by_role("button", name="Receive with 3 missing").click()
    unexpected = page.locator("#unexpected")
    expect(unexpected).to_contain_text(f"Dose {data['stray_code']}")
    expect(unexpected).to_contain_text("Not a label we print")
    assert "HELLO 12345" not in unexpected.inner_text()


def test_without_a_click_the_focus_comes_back_to_the_scan_field(box, page: Page):
    server, data = box
    page.set_viewport_size(DESKTOP)
    log_in(page, server.url, "lz-pharmacist")
    page.goto(f"{server.url}/shipments/{data['id']}/receive")
    field = page.locator("#scan-input")
    expect(field).to_be_focused()
    page.locator("h1").click()  # a stray click on the page
    expect(field).to_be_focused()
    page.get_by_role("button", name="Receive shipment").focus()
    wedge_scan(page, data["bags"][2])  # a scan while a button has focus must not press it
    counts(page, 3, 1, 2, 0)
    expect(field).to_be_focused()
    expect(page).to_have_url(f"{server.url}/shipments/{data['id']}/receive")


def test_lab_packs_a_box_by_scanning(live_server, page: Page):
    with live_server.app.app_context():
        make_site("LZ")
        make_site("BJ")
        make_user("lz-coordinator", "coordinator", "LZ")
        make_user("bj-coordinator", "coordinator", "BJ")
        staff = Staff(make_user("lab", "lab", name="Li Lab"), make_user("lab2", "lab", name="Lu Lab"),
                      make_user("qa", "qa", name="Qian QA"), make_user("qa2", "qa", name="Quan QA"))
        doses = shippable_doses(staff, "LZ", count=2, lot_number="UC-2026-301")
        [elsewhere] = shippable_doses(staff, "BJ", count=1, lot_number="UC-2026-302")
        shipment = services.create_shipment(site_code="LZ", storage="cryo", actor=staff.lab, now=utcnow())
        db.session.commit()
        shipment_id, codes = shipment.id, [d.code for d in doses]
        scans, wrong_site = [scan_of(d) for d in doses], scan_of(elsewhere)
    page.set_viewport_size(DESKTOP)
    log_in(page, live_server.url, "lab")
    page.goto(f"{live_server.url}/shipments/{shipment_id}")
    expect(page.locator("#scan-input")).to_be_focused()
    wedge_scan(page, scans[0])
    expect(page.locator("#pack")).to_contain_text(f"PACKED: dose {codes[0]}")
    expect(page.locator("#scan-input")).to_be_focused()
    wedge_scan(page, scans[1])
    expect(page.locator("#pack")).to_contain_text("2 doses in the box")
    # As a person does, scan once the new page has put the cursor in the field: keys typed
    # before Chromium applies autofocus (later under load) go nowhere.
    expect(page.locator("#scan-input")).to_be_focused()
    wedge_scan(page, wrong_site)
    expect(page.get_by_role("alert")).to_contain_text("NOT PACKED: For another site")
    expect(page.get_by_role("alert")).to_contain_text("Code PACK_WRONG_SITE")
    expect(page.locator("#scan-input")).to_be_focused()
    expect(page.locator("#doses")).to_contain_text(codes[1])
    live_server.screenshot(page, "shipment-packing")


@pytest.mark.parametrize("size", [DESKTOP, {"width": 800, "height": 1280}], ids=["landscape", "portrait"])
def test_the_receive_action_of_a_box_on_its_way_is_whole_on_either_tablet(box, page: Page, size):
    """Issue 18: at 1280 px the shipments list squeezed "Receive shipment" into a 7-pixel sliver."""
    server, data = box
    page.set_viewport_size(size)
    log_in(page, server.url, "lz-pharmacist")
    page.get_by_role("link", name="Receive shipments").click()
    action = page.get_by_role("link", name=f"Receive shipment {data['code']}")
    expect(action).to_be_visible()
    action.scroll_into_view_if_needed()
    fits = action.evaluate("""a => {
        const box = a.getBoundingClientRect();
        return {width: box.width, needed: a.scrollWidth, clipped: a.scrollWidth > a.clientWidth + 1,
                inside: box.left >= 0 && box.right <= innerWidth,
                page: document.documentElement.scrollWidth <= innerWidth,
                top: a.contains(document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2)),
                // not cut by a container that scrolls or hides what overflows it
                unclipped: (() => { for (let e = a.parentElement; e; e = e.parentElement) {
                    if (getComputedStyle(e).overflowX === "visible") continue;
                    const c = e.getBoundingClientRect();
                    if (box.left < c.left - 1 || box.right > c.right + 1) return false; } return true; })()};
    }""")
    assert fits["width"] >= 40 and not fits["clipped"] and fits["inside"] and fits["page"] and fits["top"] and fits["unclipped"], fits
    server.screenshot(page, f"receive-action-{size['width']}x{size['height']}")
