"""The site pharmacist on a tablet (800×1280): a bag scanned on the inventory opens its dose
with only what can be done to it now; thaw, then dispense to a nurse confirmed by scanning the
bag again; a dose quarantined until QA decides offers no destruction. Screenshots of each
screen, portrait and landscape."""
from dataclasses import dataclass
from datetime import timedelta

from playwright.sync_api import Browser, Page, expect

from cell_chain.accounts.services import user_by_username
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.labels.payloads import bag_payloads
from cell_chain.shipments import services as shipping
from tests.browser.conftest import LiveServer
from tests.browser.journey import TABLET, Journey, wedge_scan
from tests.conftest import make_site, make_user
from tests.factories import Staff, doses_at_site, shippable_doses, signed

LANDSCAPE = {"width": 1280, "height": 800}


@dataclass
class Stock:
    frozen: str  # a received cryopreserved dose, its shipment's logger file uploaded
    frozen_bag: str
    held: str  # a dose quarantined by an excursion QA has not decided on
    held_bag: str


def stock_the_pharmacy(server: LiveServer) -> Stock:
    with server.app.app_context():
        make_site("LZ")
        for username, role, name in (("lz-coordinator", "coordinator", "Lan Coordinator"),
                                     ("lz-pharmacist", "pharmacist", "Liu Pharmacist"),
                                     ("lz-nurse", "nurse", "Li Nurse"), ("lz-nurse2", "nurse", "Lu Nurse")):
            make_user(username, role, "LZ", name=name)
        staff = Staff(make_user("lab", "lab"), make_user("lab2", "lab"), make_user("qa", "qa"), make_user("qa2", "qa"))
        [frozen] = doses_at_site(staff, lot_number="L-PH1")
        [held] = shippable_doses(staff, lot_number="L-PH2")
        now, pharmacist = utcnow(), user_by_username("lz-pharmacist")
        shipment = shipping.create_shipment(site_code="LZ", storage="cryo", actor=staff.lab, now=now)
        shipping.pack_dose(shipment, scan=bag_payloads(held).compound, actor=staff.lab, now=now)
        shipping.dispatch(shipment, courier="ColdChain", logger_id="QT-9", signature=signed(), actor=staff.lab,
                          now=now - timedelta(hours=3))
        shipping.receive(shipment, scans=[bag_payloads(held).compound], seal_intact=True, signature=signed(),
                         actor=pharmacist, now=now)
        start = shipment.dispatched_at
        warm = "".join(f"{(start + timedelta(minutes=10 * i)).isoformat()},{-182.0 if i < 6 or i > 10 else -120.0}\n"
                       for i in range(1, 17))
        shipping.record_temperature(shipment, data=("timestamp,celsius\n" + warm).encode(), filename="QT-9.csv",
                                    actor=pharmacist, now=now)
        db.session.commit()
        assert held.status == "quarantined" and held.quarantine_cause == "excursion"
        return Stock(frozen.code, bag_payloads(frozen).compound, held.code, bag_payloads(held).compound)


def shoot(j: Journey, page: Page, name: str) -> None:
    """The screen in portrait (the tablet as held), then in landscape."""
    j.shot(page, f"{name}-portrait")
    page.set_viewport_size(LANDSCAPE)
    j.shot(page, f"{name}-landscape")
    page.set_viewport_size(TABLET)


def test_the_pharmacist_scans_thaws_and_dispenses_by_scan(live_server: LiveServer, browser: Browser):
    stock = stock_the_pharmacy(live_server)
    j = Journey(live_server, browser, "pharmacy")
    j.refused_forms += [f"/pharmacy/doses/{stock.frozen}/dispense", "/pharmacy/scan"]
    with j.person("lz-pharmacist", viewport=TABLET) as page:
        page.get_by_role("link", name="Store, thaw and dispense").click()
        expect(page.get_by_role("heading", name="Pharmacy at LZ")).to_be_visible()
        expect(page.locator("#scan")).to_be_focused()
        expect(page.locator(f"#dose-{stock.frozen}")).not_to_contain_text("Destroy")
        shoot(j, page, "inventory")

        # A bag scanned: its dose opens with the one thing to do now, and disposal apart.
        wedge_scan(page, stock.frozen_bag)
        expect(page.get_by_role("heading", name=f"Dose {stock.frozen}")).to_be_visible()
        next_step = page.locator("#dose-next")
        expect(next_step.get_by_role("link")).to_have_text(["Record the thaw of dose " + stock.frozen,
                                                            "Scan another bag"])
        expect(next_step).not_to_contain_text("Destroy")
        expect(page.locator("#out-of-use").get_by_role("link", name=f"Destroy dose {stock.frozen}")).to_be_visible()
        shoot(j, page, "dose-frozen")

        next_step.get_by_role("link", name=f"Record the thaw of dose {stock.frozen}").click()
        expect(page.get_by_label("Thaw finished at (UTC)")).to_have_value(
            page.get_by_label("Thaw finished at (UTC)").input_value())
        shoot(j, page, "thaw")
        page.get_by_role("button", name="Record thaw").click()
        expect(page.get_by_role("status").first).to_contain_text(f"Dose {stock.frozen} thawed at")
        expect(page.locator("#dose-summary")).to_contain_text("Post-thaw expiry")
        page.get_by_role("link", name=f"Dispense to a nurse of dose {stock.frozen}").click()

        # Dispense: the nurse chosen, then the bag scanned again; the wrong bag is refused.
        page.get_by_label("Receiving nurse").select_option("lz-nurse")
        expect(page.locator("#bag_scan")).to_be_focused()
        wedge_scan(page, stock.held_bag)
        expect(page.locator(".error-summary")).to_contain_text(f"The label scanned is dose {stock.held}, "
                                                               f"not dose {stock.frozen}")
        expect(page.locator("#bag_scan")).to_be_focused()
        expect(page.get_by_label("Receiving nurse")).to_have_value("lz-nurse")
        shoot(j, page, "dispense-wrong-bag")
        wedge_scan(page, stock.frozen_bag)
        expect(page.get_by_role("status").first).to_contain_text(
            f"Dose {stock.frozen} for LZ-0001 dispensed to nurse Li Nurse")
        expect(page.locator("#scan")).to_be_focused()
        expect(page.locator(f"#dose-{stock.frozen}")).to_contain_text("LZ ward, nurse Li Nurse")
        shoot(j, page, "dispensed")

        # Quarantined until QA decides on the excursion: no destroy, no return, and why.
        wedge_scan(page, stock.held_bag)
        expect(page.get_by_role("heading", name=f"Dose {stock.held}")).to_be_visible()
        expect(page.locator("#dose-awaiting-qa")).to_contain_text("QA has not decided on the temperature excursion")
        expect(page.get_by_role("link", name=f"Destroy dose {stock.held}")).to_have_count(0)
        expect(page.get_by_role("link", name=f"Return to the manufacturer dose {stock.held}")).to_have_count(0)
        expect(page.locator("#out-of-use")).to_have_count(0)
        shoot(j, page, "awaiting-qa")

        # Not a label of ours: said in words, at the scan field.
        page.get_by_role("link", name="Scan another bag").click()
        expect(page.locator("#scan")).to_be_focused()
        wedge_scan(page, "hello")
        expect(page.locator("#scan-result")).to_contain_text("UNRECOGNIZED_BARCODE")
        expect(page.locator("#scan")).to_be_focused()
    assert j.problems == []  # no script error, no Content-Security-Policy refusal
