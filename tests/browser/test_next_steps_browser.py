"""One clear next step, as each role meets it on a tablet: the patient page's single primary
action, the home page's "needs you now" links, the box label printed from the shipment page,
a mis-packed dose taken out of a box before dispatch and the dose page it links to."""
import re
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from cell_chain.accounts.services import user_by_username
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.labels.payloads import bag_payloads
from cell_chain.patients.enrolment import enrol_patient
from cell_chain.shipments import pharmacy
from cell_chain.shipments import services as shipping
from cell_chain.shipments.models import Shipment
from tests.browser.conftest import LiveServer
from tests.browser.journey import TABLET, Journey
from tests.conftest import make_site, make_user, read_in_english
from tests.factories import Staff, doses_at_site, make_donor, make_lot, shippable_doses, signed

pytestmark = pytest.mark.browser

LANDSCAPE = {"width": 1280, "height": 800}
PRIMARY = "main .button:not(.secondary):not(.warning)"


def staffed(server: LiveServer) -> Staff:
    make_site("LZ")
    for username, role in (("lz-coordinator", "coordinator"), ("lz-pharmacist", "pharmacist"),
                           ("lz-nurse", "nurse"), ("monitor", "monitor")):
        make_user(username, role, None if role == "monitor" else "LZ", name=username.replace("-", " ").title())
    return Staff(make_user("lab", "lab", name="Li Lab"), make_user("lab2", "lab"), make_user("qa", "qa", name="Qian QA"),
                 make_user("qa2", "qa"))


def both_ways(j: Journey, page: Page, name: str) -> None:
    page.set_viewport_size(TABLET)
    j.shot(page, f"{name}-portrait")
    page.set_viewport_size(LANDSCAPE)
    j.shot(page, f"{name}-landscape")
    page.set_viewport_size(TABLET)


def test_patient_page_shows_one_primary_action_and_allocate_only_for_the_next_due_visit(live_server, browser: Browser):
    with live_server.app.app_context():
        staffed(live_server)
        now = utcnow()
        enrol_patient(site_code="LZ", arm="msc", enrolled_on=(now - timedelta(days=100)).date(), initials="WL",
                      birth_year=1975, actor=user_by_username("lz-coordinator"), now=now)
        db.session.commit()
        read_in_english()
    j = Journey(live_server, browser, prefix="next-patient")
    with j.person("lz-coordinator", viewport=TABLET) as page:
        needs = page.locator("#needs")
        expect(needs).to_contain_text("LZ-0001 visit 2: window open until")
        both_ways(j, page, "coordinator-home")
        needs.get_by_role("link", name=re.compile("LZ-0001 visit 2")).click()
        expect(page.get_by_role("heading", name="Allocate a dose to visit 2")).to_be_visible()

        page.goto(f"{live_server.url}/patients/LZ-0001")
        expect(page.locator("#next-action")).to_contain_text("Next: print the wristband.")
        expect(page.locator(PRIMARY)).to_have_count(1)
        expect(page.locator(PRIMARY)).to_have_text("Print wristband (PDF)")
        allocate = page.get_by_role("link", name=re.compile("^Allocate a dose"))
        expect(allocate).to_have_count(1)
        expect(page.locator("#visit-2").get_by_role("link", name="Allocate a dose to visit 2")).to_be_visible()
        both_ways(j, page, "patient-wristband-next")

        printed = j.print_pdf(page, page.get_by_role("button", name="Print wristband (PDF)"), "/patients/LZ-0001/wristband")
        assert any("LZ-0001" in text for _, text in printed.pages[0])
        page.reload()
        expect(page.locator("#next-action")).to_contain_text("Next: allocate a dose to visit 2.")
        expect(page.locator(PRIMARY)).to_have_count(1)
        expect(page.locator(PRIMARY)).to_have_text("Allocate a dose to visit 2")
        both_ways(j, page, "patient-allocate-next")
    assert not j.problems, j.problems


def test_lab_prints_the_box_label_and_takes_a_mis_packed_dose_out_of_the_box(live_server, browser: Browser):
    with live_server.app.app_context():
        staff = staffed(live_server)
        right, wrong = shippable_doses(staff, count=2, lot_number="L-BOX")
        now = utcnow()
        box = shipping.create_shipment(site_code="LZ", storage="cryo", actor=staff.lab, now=now)
        for dose in (right, wrong):
            shipping.pack_dose(box, scan=bag_payloads(dose).compound, actor=staff.lab, now=now)
        db.session.commit()
        box_id, box_code, wrong_code, right_code = box.id, box.code, wrong.code, right.code
        read_in_english()
    j = Journey(live_server, browser, prefix="next-box")
    j.refused_forms = [f"/shipments/{box_id}/doses/{wrong_code}/remove"]  # the empty reason, refused on purpose
    with j.person("lab", viewport=TABLET) as page:
        needs = page.locator("#needs")
        expect(needs).to_contain_text(f"Shipment {box_code} is not dispatched yet")
        both_ways(j, page, "lab-home")
        needs.get_by_role("link", name=re.compile(box_code)).click()
        expect(page.get_by_role("heading", name=re.compile(f"Shipment {box_code}"))).to_be_visible()
        expect(page.locator(PRIMARY)).to_have_count(1)
        expect(page.locator(PRIMARY)).to_have_text("Dispatch shipment")

        label = page.locator("#box-label")
        label.scroll_into_view_if_needed()
        both_ways(j, page, "shipment-box-label")
        printed = j.print_pdf(page, label.get_by_role("button", name="Print box label (PDF)"),
                              f"/shipments/{box_id}/box-label")
        assert box_code in [text for _, text in printed.pages[0]], printed.pages
        j.shot_label(printed, "box-label-pdf")
        page.reload()
        expect(page.locator("#box-label")).to_contain_text("Printed 1 time(s) before")

        page.locator(f"#dose-{wrong_code}").get_by_role("link", name=re.compile("Remove from box")).click()
        expect(page.get_by_role("heading", name=re.compile(f"Take dose {wrong_code} out of the box"))).to_be_visible()
        page.get_by_role("button", name="Remove from box").click()
        expect(page.locator(".error-summary, [role=alert]").first).to_contain_text("Say why the dose comes out")
        page.get_by_label("Reason").fill("Packed into the box for the wrong site")
        both_ways(j, page, "remove-dose")
        page.get_by_role("button", name="Remove from box").click()
        expect(page.get_by_role("status").first).to_contain_text(f"Dose {wrong_code} taken out of shipment {box_code}")
        expect(page.locator("#doses tbody tr")).to_have_count(1)
        both_ways(j, page, "shipment-after-removal")

        # The dose page, from the custody table's dose link or the trail: the removal and its reason.
        page.goto(f"{live_server.url}/doses/{wrong_code.lower()}")
        expect(page.get_by_role("heading", name=re.compile(f"Dose {wrong_code}"))).to_contain_text("Allocated")
        history = page.locator("#history")
        expect(history).to_contain_text("Taken out of a shipment before dispatch")
        expect(history).to_contain_text("Reason: Packed into the box for the wrong site")
        both_ways(j, page, "dose-page")

    with live_server.app.app_context():
        shipping.dispatch(db.session.get(Shipment, box_id), courier="ColdChain", logger_id="QT-2", signature=signed(),
                          actor=user_by_username("lab"), now=utcnow())
        db.session.commit()
    with j.person("lab", viewport=TABLET) as page:
        page.goto(f"{live_server.url}/shipments/{box_id}")
        expect(page.get_by_role("link", name=re.compile("Remove from box"))).to_have_count(0)
        page.goto(f"{live_server.url}/shipments/{box_id}/doses/{right_code}/remove")
        expect(page.get_by_role("status").first).to_contain_text("a dose comes out only before dispatch")
        # Dose codes link to the dose page.
        page.locator("#doses").get_by_role("link", name=right_code).click()
        expect(page.get_by_role("heading", name=re.compile(f"Dose {right_code}"))).to_contain_text("In transit")
        expect(page.locator("#custody")).to_contain_text("Dispatched to courier")
    assert not j.problems, j.problems


def test_each_roles_home_lists_what_needs_them_with_links_to_the_place_to_act(live_server, browser: Browser):
    with live_server.app.app_context():
        staff = staffed(live_server)
        now = utcnow()
        [at_ward] = doses_at_site(staff, lot_number="L-WARD", now=now - timedelta(hours=4))
        pharmacist = user_by_username("lz-pharmacist")
        pharmacy.thaw(at_ward, thawed_at=now - timedelta(hours=3, minutes=30), actor=pharmacist, now=now - timedelta(hours=3))
        pharmacy.dispense(at_ward, to="lz-nurse", actor=pharmacist, now=now - timedelta(hours=3))
        [coming] = shippable_doses(staff, lot_number="L-COMING")
        box = shipping.create_shipment(site_code="LZ", storage="cryo", actor=staff.lab, now=now)
        shipping.pack_dose(box, scan=bag_payloads(coming).compound, actor=staff.lab, now=now)
        shipping.dispatch(box, courier="ColdChain", logger_id="QT-3", signature=signed(), actor=staff.lab, now=now)
        waiting = make_lot(staff, make_donor(staff, "D-WAIT"), "L-WAIT")
        db.session.commit()
        ward_code, box_code, lot_number = at_ward.code, box.code, waiting.lot_number
        read_in_english()
    j = Journey(live_server, browser, prefix="next-homes")
    with j.person("lz-pharmacist", viewport=TABLET) as page:
        needs = page.locator("#needs")
        expect(needs).to_contain_text(f"Shipment {box_code} is on its way here")
        expect(needs).to_contain_text(f"Dose {ward_code} dispensed")
        both_ways(j, page, "pharmacist-home")
        needs.get_by_role("link", name=re.compile(f"Shipment {box_code}")).click()
        expect(page).to_have_url(re.compile(r"/shipments/\d+/receive$"))
        page.goto(live_server.url + "/")
        page.locator("#needs").get_by_role("link", name=re.compile(f"Dose {ward_code}")).click()
        expect(page).to_have_url(re.compile(f"/pharmacy/doses/{ward_code}$"))
    with j.person("lz-nurse", viewport=TABLET) as page:
        expect(page.locator("#needs")).to_contain_text(f"Dose {ward_code} at the ward since")
        both_ways(j, page, "nurse-home")
        page.locator("#needs").get_by_role("link", name=re.compile(ward_code)).click()
        expect(page).to_have_url(re.compile(r"/bedside$"))
    with j.person("qa", viewport=TABLET) as page:
        needs = page.locator("#needs")
        expect(needs).to_contain_text(f"Lot {lot_number} awaits your release decision")
        both_ways(j, page, "qa-home")
        needs.get_by_role("link", name=re.compile(lot_number)).click()
        expect(page.get_by_role("heading", name=re.compile(lot_number))).to_be_visible()
    with j.person("monitor", viewport=TABLET) as page:
        expect(page.locator("#needs")).to_be_visible()
        both_ways(j, page, "monitor-home")
    assert not j.problems, j.problems
