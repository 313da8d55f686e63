"""A hospital ward for the bedside browser tests: site LZ with its staff and doses received by
its pharmacy, each allocated to its own patient; a nurse logged in to the bedside screen."""
from dataclasses import dataclass
from datetime import timedelta

from playwright.sync_api import Page, expect

from cell_chain.accounts.services import user_by_username
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.labels.payloads import bag_payloads
from cell_chain.patients.allocation import active_allocation_of_dose
from cell_chain.shipments import pharmacy
from tests.browser.conftest import LiveServer
from tests.browser.journey import log_in
from tests.conftest import make_site, make_user
from tests.factories import Staff, doses_at_site


@dataclass
class Ward:
    wristbands: list[str]  # each dose's patient's wristband payload
    bags: list[str]        # each dose's bag label Data Matrix payload, as printed
    codes: list[str]


def open_ward(server: LiveServer, *, count: int = 1, thaw_first: bool = False, on_ward: bool = True) -> Ward:
    """A hospital LZ with its staff, and `count` doses received by its pharmacy, each
    allocated to its own patient; on the ward (thawed 25 minutes ago and dispensed to lz-nurse)
    unless `on_ward` is off, in which case only the first is, if `thaw_first`."""
    with server.app.app_context():
        make_site("LZ")
        for username, role, name in (("lz-coordinator", "coordinator", "Lan Coordinator"),
                                     ("lz-pharmacist", "pharmacist", "Liu Pharmacist"),
                                     ("lz-nurse", "nurse", "Li Nurse"), ("lz-nurse2", "nurse", "Lu Nurse")):
            make_user(username, role, "LZ", name=name)
        staff = Staff(make_user("lab", "lab"), make_user("lab2", "lab"), make_user("qa", "qa"), make_user("qa2", "qa"))
        doses = doses_at_site(staff, count=count)
        ward = Ward([active_allocation_of_dose(d).visit.patient.subject_id for d in doses],
                    [bag_payloads(d).compound for d in doses], [d.code for d in doses])
        pharmacist, now = user_by_username("lz-pharmacist"), utcnow()
        for dose in doses if on_ward else doses[:1] if thaw_first else []:
            pharmacy.thaw(dose, thawed_at=now - timedelta(minutes=25), actor=pharmacist, now=now)
            pharmacy.dispense(dose, to="lz-nurse", actor=pharmacist, now=now)
        db.session.commit()
        return ward


def log_in_to_bedside(page: Page, url: str, username: str = "lz-nurse") -> None:
    """Log in as a nurse, whose home page is the bedside job."""
    log_in(page, url, username)
    expect(page.get_by_role("heading", name="Bedside")).to_be_visible()
