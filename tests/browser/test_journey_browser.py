"""One dose through its whole life, end to end in a real browser, with the people who handle
it, each logged in as themselves on their own device: the lab registers a donor and enters
results, QA determines eligibility and releases the lot, the lab prepares doses and prints
and verifies labels, the coordinator enrols a patient and allocates a dose, the lab packs and
dispatches it, the pharmacist receives it by scanning and dispenses it, the nurse verifies it
on a tablet and records the infusion with a witness, and the monitor finds the
reconciliation balanced. A second journey ends in a recall and its lookback list.

Every barcode scanned is read back from the label the app printed (its PDF, decoded by
zxing-cpp), never taken from the database, and every printed label is scanned back on its page
(print-then-scan) before it counts. Screenshots: test-output/screenshots/journey-*.png."""
import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import urljoin

import pytest
from playwright.sync_api import Browser, Page, expect

from cell_chain.accounts import services as accounts
from cell_chain.accounts.services import user_by_username
from cell_chain.batches.models import MARKERS
from cell_chain.batches.services import release_lot
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.patients.allocation import allocate_dose
from cell_chain.patients.enrolment import enrol_patient
from cell_chain.labels.services import print_labels, verify_label
from cell_chain.shipments import services as shipping
from tests.browser.conftest import LiveServer
from tests.browser.journey import TABLET, Journey, PrintedLabels, read_printed, wedge_scan
from tests.conftest import PASSWORD
from tests.factories import PASSING_VALUES, Staff, make_donor, make_lot, record_logger_file, signed

pytestmark = pytest.mark.browser

SITE = "LZ"
PEOPLE = (  # username, role, site, printed name
    ("lab", "lab", None, "Li Lab"),
    ("qa", "qa", None, "Qian QA"),
    ("lz-coordinator", "coordinator", SITE, "Lan Coordinator"),
    ("lz-pharmacist", "pharmacist", SITE, "Pan Pharmacist"),
    ("lz-nurse", "nurse", SITE, "Li Nurse"),
    ("lz-nurse2", "nurse", SITE, "Lu Nurse"),
    ("monitor", "monitor", None, "Mei Monitor"),
)
QUALITATIVE_WORDS = {"no_growth": "No growth", "not_detected": "Not detected", "normal": "Normal"}


@dataclass
class Chain:
    """What the people learn along the way, from the pages and the printed labels."""

    today: date
    started: datetime
    donor: str
    lot: str
    lot_id: int | None = None
    doses: list[str] = field(default_factory=list)       # accepted doses, label print order
    bag_scans: dict[str, str] = field(default_factory=dict)  # dose code → bag label Data Matrix
    subject: str | None = None
    wristband: str | None = None
    dose: str | None = None                              # the dose allocated to visit 1
    assignment_scan: str | None = None
    shipment: str | None = None


@pytest.fixture
def trial(live_server: LiveServer) -> LiveServer:
    """Only what an administrator sets up before the trial starts: the site and the accounts
    (the administrator has no page for these yet; the CLI and API create them)."""
    with live_server.app.app_context():
        now = utcnow()
        accounts.create_site(code=SITE, name="Lanzhou Second Hospital", city="Lanzhou", actor=None, now=now)
        db.session.commit()
        for username, role, site, name in PEOPLE:
            accounts.create_user(username=username, display_name=name, role=role, password=PASSWORD,
                                 site_code=site, actor=None, now=now)
        db.session.commit()
    return live_server


def new_chain(tag: str) -> Chain:
    now = utcnow()
    return Chain(today=now.date(), started=now.replace(microsecond=0) - timedelta(seconds=5),
                 donor=f"CD-{now.year}-{tag}", lot=f"UC-{now.year}-{tag}")


# ---- the GMP lab: donor, screening, lot, release tests, doses -------------------------------------

def lab_registers_donor_lot_and_doses(j: Journey, chain: Chain) -> None:
    collected = chain.today - timedelta(days=2)
    with j.person("lab") as page:
        expect(page.get_by_role("heading", name="GMP laboratory")).to_be_visible()
        j.shot(page, "lab-home")
        page.get_by_role("link", name="Donors", exact=True).click()
        page.get_by_role("link", name="Register a donor").click()
        page.get_by_label("Donor code").fill(chain.donor)
        page.get_by_label("Date the cord was collected").fill(collected.isoformat())
        j.shot(page, "register-donor")
        page.get_by_role("button", name="Register donor").click()
        expect(page.get_by_role("status").first).to_contain_text(f"Donor {chain.donor} registered with DIN")
        expect(page.get_by_role("heading", name=f"Donor {chain.donor}")).to_contain_text("Registered", ignore_case=True)
        expect(page.locator("#eligibility")).to_contain_text("Not determined")

        # The nine screening markers of the birth mother's specimen, tested on collection day.
        for number, marker in enumerate(MARKERS):
            page.locator(f"#marker-{marker}").get_by_role("link", name=re.compile("^Enter")).click()
            page.get_by_label("Non-reactive", exact=True).check()
            page.get_by_label("Date the specimen was tested").fill(collected.isoformat())
            if number == 0:
                j.shot(page, "screening-result")
            page.get_by_role("button", name="Save result").click()
            expect(page.locator(f"#marker-{marker}")).to_contain_text("Non-reactive", ignore_case=True)
        expect(page.locator("#screening tbody")).not_to_contain_text("missing")
        expect(page.locator("#marker-syphilis")).to_contain_text("tested on the collection day")
        j.shot(page, "donor-screened")

        page.get_by_role("link", name="Start a lot from this donor").click()
        expect(page.get_by_label("Donor").locator("option:checked")).to_contain_text(chain.donor)
        page.get_by_label("Lot number").fill(chain.lot)
        page.get_by_label("Manufacturing started on").fill((collected + timedelta(days=1)).isoformat())
        page.get_by_label("Passage").fill("4")
        page.get_by_label("Cryopreserved").check()
        j.shot(page, "start-lot")
        page.get_by_role("button", name="Start lot").click()
        expect(page.get_by_role("heading", name=f"Lot {chain.lot}")).to_contain_text("In process", ignore_case=True)
        chain.lot_id = int(page.url.rstrip("/").split("/")[-1])

        # The thirteen release tests of the specification, each from its row's Enter link.
        for number, (test, value) in enumerate(PASSING_VALUES.items()):
            page.locator(f"#result-{test}").get_by_role("link", name=re.compile("^Enter")).click()
            if test in ("sterility", "mycoplasma", "karyotype"):
                page.get_by_label(QUALITATIVE_WORDS[value], exact=True).check()
            else:
                page.locator("#value").fill(str(value))
            page.get_by_label("Date the test was performed").fill(chain.today.isoformat())
            page.get_by_label("Method (optional)").fill("SOP-QC-011")
            if number == 3:
                j.shot(page, "release-test-result")
            page.get_by_role("button", name="Save result").click()
            expect(page.get_by_role("status").first).to_contain_text("passes the specification")
            expect(page.locator(f"#result-{test}")).to_contain_text("Pass", ignore_case=True)

        # Two doses within tolerance and one that is not: kept as rejected, for accountability.
        for cells, volume in (("4.02", "40.0"), ("3.98", "40.5"), ("4.01", "35.0")):
            page.get_by_role("link", name="Prepare a dose").click()
            page.get_by_label("Viable cells (× 10⁷)").fill(cells)
            page.get_by_label("Volume (ml)").fill(volume)
            page.get_by_label("Viability (%)").fill("92.5")
            page.get_by_role("button", name="Save dose").click()
            expect(page.get_by_role("status").first).to_contain_text(
                "rejected at fill" if volume == "35.0" else "prepared")
        j.shot(page, "doses-prepared")
        page.get_by_role("button", name="Mark manufacturing complete").click()
        expect(page.get_by_role("heading", name=f"Lot {chain.lot}")).to_contain_text("Quarantine", ignore_case=True)
        readiness = page.locator("#readiness")
        expect(readiness).to_contain_text("Not ready for release: 1 problem")
        expect(readiness).to_contain_text("QA has not determined the donor eligible")
        j.shot(page, "lot-in-quarantine")


# ---- QA: eligibility and release ---------------------------------------------------------------

def qa_determines_eligibility_and_releases(j: Journey, chain: Chain) -> None:
    with j.person("qa") as page:
        page.get_by_role("link", name="Eligibility and release").click()
        page.get_by_role("link", name="Donors", exact=True).click()
        page.get_by_role("link", name=chain.donor).click()
        page.get_by_role("link", name="Determine eligibility").click()
        expect(page.locator(".panel.ok")).to_contain_text("All 9 markers are non-reactive")
        page.get_by_label("Your password").fill(PASSWORD)
        j.shot(page, "qa-eligibility")
        page.get_by_role("button", name="Sign determination").click()
        expect(page.get_by_role("status").first).to_contain_text(f"Donor {chain.donor} determined ELIGIBLE")
        expect(page.locator("#signatures")).to_contain_text("Qian QA")

        page.get_by_role("link", name=chain.lot).click()
        expect(page.locator("#readiness")).to_contain_text("Ready for release")
        page.get_by_role("link", name="Release lot").click()
        expect(page.get_by_role("heading", name=f"Release lot {chain.lot}")).to_be_visible()
        page.get_by_label("Your password").fill(PASSWORD)
        j.shot(page, "qa-release")
        page.get_by_role("button", name="Release lot").click()
        expect(page.get_by_role("status").first).to_contain_text(
            f"Lot {chain.lot} released. 2 doses will become available once their bag labels are "
            "printed and verified.")
        expect(page.locator("#signatures")).to_contain_text("Released", ignore_case=True)
        j.shot(page, "lot-released")


# ---- the lab: bag labels printed and scanned back --------------------------------------------------

def lab_prints_and_verifies_bag_labels(j: Journey, chain: Chain) -> None:
    with j.person("lab") as page:
        page.get_by_role("link", name="Lots, doses and labels").click()
        page.locator("#released").get_by_role("link", name=chain.lot).click()
        labels = page.locator("#labels")
        expect(labels).not_to_contain_text("Reason for reprinting")  # a first print needs no reason
        expect(page.locator("#count-to-verify")).to_have_text("2")
        expect(page.get_by_label("Scan a printed bag label")).to_be_focused()
        printed = j.print_pdf(page, labels.get_by_role("button", name="Print 2 bag labels (PDF)"),
                              f"/lots/{chain.lot_id}/labels")
        j.shot_label(printed, "bag-label-printed")
        chain.bag_scans = dict(zip(_dose_codes(page), printed.payloads("DataMatrix"), strict=True))
        chain.doses = list(chain.bag_scans)

        # Print-then-scan, on the lot page the PDF left open. The scanner first reads the
        # label's linear DIN barcode: that names no dose, and the page says what to scan.
        din = next(text for name, text in printed.pages[0] if name == "Code128" and text.startswith("=A"))
        j.refused_forms.append(f"/lots/{chain.lot_id}/label-scans")
        wedge_scan(page, din)
        refused = page.locator("#scan-result")
        expect(refused).to_contain_text("✗ NOT A DOSE LABEL")
        expect(refused).to_contain_text("This barcode alone does not name a dose. Scan the square Data Matrix")
        expect(refused).to_contain_text("UNRECOGNIZED_BARCODE")
        expect(page.locator("#count-verified")).to_have_text("0")
        expect(page.get_by_label("Scan a printed bag label")).to_be_focused()
        j.shot(page, "bag-label-scan-refused")
        for number, (code, scan) in enumerate(chain.bag_scans.items(), start=1):
            # Each success reloads the page: scan once the cursor is back in the field.
            expect(page.get_by_label("Scan a printed bag label")).to_be_focused()
            wedge_scan(page, scan)
            expect(page.locator("#scan-result.ok")).to_contain_text(f"✓ VERIFIED: bag label of dose {code}")
            expect(page.locator("#count-verified")).to_have_text(str(number))
            expect(page.locator("#count-to-verify")).to_have_text(str(len(chain.bag_scans) - number))
            expect(page.get_by_label("Scan a printed bag label")).to_be_focused()  # ready for the next
        for code in chain.doses:
            row = page.locator("#doses tbody tr").filter(has_text=code)
            expect(row).to_contain_text("Verified", ignore_case=True)
            expect(row).to_contain_text("Available", ignore_case=True)
        expect(labels).to_contain_text("Reason for reprinting")  # printed once: another print is a reprint
        j.shot(page, "bag-labels-verified")


def _dose_codes(page: Page) -> list[str]:
    """The accepted doses on the lot page, in the order the lot's labels print."""
    rows = page.locator("#doses tbody tr").filter(has_not_text="Rejected")
    return [code.strip() for code in rows.locator(".dose-code").all_inner_texts()]


# ---- the study coordinator: enrolment, wristband, allocation, assignment label ----------------------

def coordinator_enrols_and_allocates(j: Journey, chain: Chain) -> None:
    with j.person("lz-coordinator", viewport=TABLET) as page:
        page.get_by_role("link", name="Patients and visits").click()
        page.get_by_role("link", name="Enrol a patient").click()
        page.get_by_label("MSC + conventional therapy").check()
        # The form offers today (UTC) as the enrolment date: visit 1 (month 0) is due today,
        # in the middle of its ± 14-day window.
        expect(page.get_by_label("Enrolment date")).to_have_value(re.compile(r"^\d{4}-\d{2}-\d{2}$"))
        page.get_by_label("Initials").fill("WL")
        page.get_by_label("Year of birth").fill(str(chain.today.year - 51))
        j.shot(page, "enrol-patient")
        page.get_by_role("button", name="Enrol patient").click()
        heading = page.get_by_role("heading", name=re.compile(rf"^Patient {SITE}-\d+"))
        expect(heading).to_be_visible()
        chain.subject = heading.inner_text().split()[1]
        expect(page.get_by_role("status").first).to_contain_text(f"{chain.subject} enrolled in the MSC arm")
        expect(page.locator("#visit-1")).to_contain_text("Due now", ignore_case=True)

        printed = j.print_pdf(page, page.get_by_role("button", name="Print wristband (PDF)"),
                              f"/patients/{chain.subject}/wristband")
        j.shot_label(printed, "wristband-printed")
        [chain.wristband] = printed.payloads("QRCode")
        assert printed.payloads("Code128") == [chain.wristband]
        j.shot(page, "patient-enrolled")

        page.get_by_role("link", name="Allocate a dose to visit 1").click()
        suggested = page.locator("#allocate .dose-code").inner_text().strip()
        assert suggested in chain.doses
        j.shot(page, "allocate-dose")
        page.get_by_role("button", name="Allocate the earliest-expiring suitable dose").click()
        expect(page.get_by_role("status").first).to_contain_text(
            f"Dose {suggested} allocated to visit 1 of {chain.subject}. Chain of Identity CH")
        chain.dose = suggested
        visit = page.locator("#visit-1")
        expect(visit).to_contain_text(suggested)
        expect(visit).to_contain_text("assignment label not printed")

        printed = j.print_pdf(page, page.get_by_role("button", name="Print assignment label for visit 1"),
                              f"/patients/{chain.subject}/visits/1/assignment-label")
        j.shot_label(printed, "assignment-label-printed")
        [chain.assignment_scan] = printed.payloads("DataMatrix")
        page.reload()
        expect(page.locator("#visit-1")).to_contain_text("assignment label printed, not yet verified")
        expect(page.locator("#count-to-verify")).to_have_text("1")
        j.shot(page, "dose-allocated")

        # Attached beside the bag label, the assignment label is scanned back on this page.
        expect(page.get_by_label("Scan a printed assignment label")).to_be_focused()
        wedge_scan(page, chain.assignment_scan)
        expect(page.locator("#scan-result.ok")).to_contain_text(
            f"✓ VERIFIED: assignment label of dose {chain.dose}")
        expect(page.locator("#count-verified")).to_have_text("1")
        expect(page.locator("#count-to-verify")).to_have_text("0")
        expect(page.locator("#visit-1")).to_contain_text("assignment label verified")
        j.shot(page, "assignment-label-verified")


# ---- the lab: box packed by scanning (both labels verified), dispatched ------------------------------

def lab_packs_and_dispatches(j: Journey, chain: Chain) -> None:
    assert chain.dose and chain.assignment_scan
    with j.person("lab") as page:
        page.get_by_role("link", name="Shipments").click()
        page.get_by_label("Destination site").select_option(SITE)
        page.get_by_label(re.compile("^≤ −150 °C")).check()
        page.get_by_role("button", name="Start shipment").click()
        heading = page.get_by_role("heading", name=re.compile(r"^Shipment SHP-"))
        expect(heading).to_contain_text("Draft", ignore_case=True)
        chain.shipment = heading.locator(".mono-heading").inner_text().strip()
        expect(page.get_by_label("Scan a dose's bag label")).to_be_focused()
        wedge_scan(page, chain.bag_scans[chain.dose])
        expect(page.locator(".scan-result.ok")).to_contain_text(f"PACKED: dose {chain.dose} for {chain.subject}")
        expect(page.get_by_label("Scan a dose's bag label")).to_be_focused()  # ready for the next bag
        j.shot(page, "packed-by-scanning")

        page.get_by_label("Courier").fill("ColdChain Express")
        page.get_by_label("Temperature logger serial number").fill("QT-4471")
        page.locator("#dispatch").get_by_label("Your password").fill(PASSWORD)
        page.get_by_role("button", name="Dispatch shipment").click()
        expect(page.get_by_role("status").first).to_contain_text(
            f"Shipment {chain.shipment} dispatched with ColdChain Express (logger QT-4471): 1 dose(s) now in transit.")
        expect(page.locator("#custody")).to_contain_text("Dispatched to courier")
        j.shot(page, "dispatched")


# ---- the site pharmacist: receipt by scanning, logger file, thaw, dispense ---------------------------

def pharmacist_receives_and_dispenses(j: Journey, chain: Chain) -> None:
    assert chain.dose and chain.shipment
    with j.person("lz-pharmacist") as page:
        page.get_by_role("link", name="Receive shipments").click()
        page.get_by_role("link", name=f"Receive shipment {chain.shipment}").click()
        expect(page.get_by_role("heading", name=f"Receive shipment {chain.shipment}")).to_be_visible()
        expect(page.locator("#scan-input")).to_be_focused()
        wedge_scan(page, chain.bag_scans[chain.dose])
        expect(page.locator("#scan-banner")).to_contain_text(f"IN THIS SHIPMENT: dose {chain.dose}")
        expect(page.locator("#count-missing")).to_have_text("0")
        page.get_by_label("Yes, the seal is intact").check()
        page.get_by_label("Your password").fill(PASSWORD)
        j.shot(page, "receipt-scanned")
        page.get_by_role("button", name="Receive shipment").click()
        expect(page.get_by_role("heading", name=f"Shipment {chain.shipment} received")).to_be_visible()
        expect(page.get_by_role("status").first).to_contain_text("all 1 dose(s) accepted")
        expect(page.get_by_role("heading", name="Next step: Upload the logger file")).to_be_visible()
        j.shot(page, "receipt-result")

        # The logger travelled in the box: its readings from before dispatch to now.
        now = utcnow().replace(microsecond=0)
        seconds = int((now - chain.started).total_seconds())
        trace = "timestamp,celsius\n" + "".join(
            f"{(chain.started + timedelta(seconds=s)).isoformat()},{-182.0 - (s % 4) * 0.5:.1f}\n"
            for s in range(seconds + 1))
        page.get_by_label("Upload the logger file", exact=True).set_input_files(
            files=[{"name": "QT-4471.csv", "mimeType": "text/csv", "buffer": trace.encode()}])
        page.get_by_role("button", name="Upload logger file").click()
        expect(page.get_by_role("status").first).to_contain_text("the temperature stayed within ≤ −150 °C")
        expect(page.locator("#temperature")).to_contain_text("No excursion")
        j.shot(page, "shipment-received")

        page.get_by_role("link", name="Home").click()
        thaw_and_dispense(j, page, chain.dose, chain.subject or "", chain.bag_scans[chain.dose])


def thaw_and_dispense(j: Journey, page: Page, dose: str, subject: str, bag_scan: str) -> None:
    """From the pharmacist's home: scan the frozen dose's bag, thaw it and hand it to the ward
    nurse, scanning the bag again to confirm it."""
    page.get_by_role("link", name="Store, thaw and dispense").click()
    row = page.locator(f"#dose-{dose}")
    expect(row).to_contain_text(subject)
    expect(row).to_contain_text("Frozen")
    expect(page.locator("#scan")).to_be_focused()
    wedge_scan(page, bag_scan)
    expect(page.get_by_role("heading", name=f"Dose {dose}")).to_be_visible()
    page.get_by_role("link", name=f"Record the thaw of dose {dose}").click()
    page.get_by_role("button", name="Record thaw").click()
    expect(page.get_by_role("status").first).to_contain_text(f"Dose {dose} thawed at")
    # Thawed, it has hours, not a day: its post-thaw expiry is shown, not the one-day warning.
    summary = page.locator("#dose-summary")
    expect(summary).to_contain_text("Post-thaw expiry")
    expect(summary).not_to_contain_text("Expires in")
    page.get_by_role("link", name=f"Dispense to a nurse of dose {dose}").click()
    page.get_by_label("Receiving nurse").select_option("lz-nurse")
    expect(page.locator("#bag_scan")).to_be_focused()
    j.shot(page, "dispense")
    wedge_scan(page, bag_scan)
    expect(page.get_by_role("status").first).to_contain_text(f"Dose {dose} for {subject} dispensed to nurse Li Nurse")
    expect(page.locator(f"#dose-{dose}")).to_contain_text("Dispensed", ignore_case=True)
    expect(page.locator(f"#dose-{dose}")).to_contain_text("LZ ward, nurse Li Nurse")
    j.shot(page, "pharmacy-dispensed")


# ---- the nurse at the bedside, on a tablet -------------------------------------------------------

def nurse_verifies_and_records(j: Journey, *, wristband: str, bag_scan: str, dose: str,
                               patient_line: str) -> None:
    with j.person("lz-nurse", viewport=TABLET) as page:
        page.get_by_role("link", name="Verify and record an infusion").click()
        expect(page.locator("#scan-input")).to_be_focused()
        wedge_scan(page, wristband)
        expect(page.locator("#scan-prompt")).to_have_text(f"Wristband {wristband} ✓ — now scan the dose bag")
        wedge_scan(page, bag_scan)
        matched = page.locator("#matched")
        expect(matched.get_by_role("heading", name="MATCHED")).to_be_visible()
        expect(matched).to_contain_text(patient_line)
        expect(matched).to_contain_text(dose)
        expect(matched).to_contain_text("Visit 1 of 4")
        expect(matched.locator(".countdown")).to_have_text(re.compile(r"^[34] h \d+ min \d+ s$"))
        # The post-thaw expiry carries its date when it is not today (UTC).
        thaw = re.fullmatch(r"Thawed at (?:(\S+) )?(\d\d:\d\d) UTC · expires (.+)",
                            " ".join(matched.locator(".thaw-when").inner_text().split()))
        assert thaw, matched.locator(".thaw-when").inner_text()
        today = utcnow().date()
        thawed = datetime.fromisoformat(f"{thaw[1] or today.isoformat()}T{thaw[2]}")
        assert thaw[3] == utc_when(thawed + timedelta(hours=4), today)
        j.shot(page, "bedside-matched")

        page.get_by_role("link", name="Continue to the infusion record").click()
        page.get_by_role("button", name="Start infusion").click()
        expect(page.locator("#timer-clock")).to_have_text(re.compile(r"^00:0[1-9]$"), timeout=3000)
        page.get_by_role("button", name="End infusion").click()
        expect(page.locator("#timer-state")).to_contain_text("Infusion ended at")
        # seconds, not the 20–40 minutes of a real infusion: the nurse confirms the times
        page.get_by_label("The start and end times are right").check()
        expect(page.get_by_label("Volume given (ml)")).to_have_value("")  # typed from the bag
        page.get_by_label("Volume given (ml)").fill("40")
        page.get_by_label("0 — No discomfort").check()
        page.get_by_label("Your password").fill(PASSWORD)
        page.get_by_label("Witness’s username").fill("lz-nurse2")
        page.get_by_label("Witness’s password").fill(PASSWORD)
        j.shot(page, "bedside-record")
        page.get_by_role("button", name="Record the infusion").click()
        expect(page.get_by_role("heading", name="Infusion recorded")).to_be_visible()
        expect(page.get_by_role("img", name=re.compile(r"visit 1 done"))).to_be_visible()
        recorded = page.locator(".recorded")
        expect(recorded).to_contain_text(dose)
        expect(recorded).to_contain_text("Administered")
        expect(recorded).to_contain_text("Li Nurse")
        expect(recorded).to_contain_text("Lu Nurse")
        j.shot(page, "infusion-recorded")


def utc_when(moment: datetime, today: date) -> str:
    return f"{moment:%H:%M} UTC" if moment.date() == today else f"{moment:%Y-%m-%d %H:%M} UTC"


# ---- the monitor -----------------------------------------------------------------------------------

def monitor_finds_reconciliation_balanced(j: Journey, chain: Chain) -> None:
    with j.person("monitor") as page:
        expect(page.get_by_role("heading", name="Monitoring")).to_be_visible()
        j.shot(page, "monitor-home")
        page.get_by_role("link", name="Reconciliation").click()
        expect(page.get_by_role("heading", name="Trial progress")).to_be_visible()
        headline = page.locator("dt", has_text="Open discrepancies").locator("xpath=following-sibling::dd")
        expect(headline).to_have_text("0")
        j.shot(page, "monitor-reconciliation")
        # The accountability the dashboard links to, downloaded as the monitor's CSV.
        sites = report_rows(page, "CSV of the per site", first_header="Site")
        assert {k: sites["LZ"][k] for k in ("Received", "Administered", "Destroyed", "Returned", "On hand",
                                           "Imbalance")} == {"Received": "1", "Administered": "1", "Destroyed": "0",
                                                             "Returned": "0", "On hand": "0", "Imbalance": "0"}
        lots = report_rows(page, "CSV of the per lot", first_header="Lot")
        assert {k: lots[chain.lot][k] for k in ("Prepared", "Rejected at fill", "Administered", "In stock",
                                               "Imbalance")} == {"Prepared": "3", "Rejected at fill": "1",
                                                                 "Administered": "1", "In stock": "1",
                                                                 "Imbalance": "0"}


def report_rows(page: Page, link_name: str, *, first_header: str) -> dict[str, dict[str, str]]:
    """The rows of a report's CSV download (keyed by their first cell) under the header row
    whose first cell is `first_header`."""
    href = page.get_by_role("link", name=re.compile(link_name, re.IGNORECASE)).get_attribute("href")
    response = page.request.get(urljoin(page.url, href))
    assert response.ok, response.status
    rows = list(csv.reader(io.StringIO(response.text().lstrip("\ufeff"))))
    start = next(i for i, row in enumerate(rows) if row and row[0] == first_header)
    header = rows[start]
    table: dict[str, dict[str, str]] = {}
    for row in rows[start + 1:]:
        if not row or not row[0]:
            break
        table[row[0]] = dict(zip(header, row, strict=False))
    return table


# ---- the recall: QA recalls the lot after an infusion; the lookback list ----------------------------

@dataclass
class WardDose:
    code: str
    bag_scan: str       # decoded from the printed bag label
    subject: str
    initials: str
    birth_year: int
    wristband: str      # decoded from the printed wristband

    @property
    def patient_line(self) -> str:
        return f"{self.subject} ({'.'.join(self.initials)}., {self.birth_year})"


def doses_received_at_the_site(server: LiveServer, tag: str) -> tuple[str, list[WardDose]]:
    """Upstream of the recall, by the services the first journey drives through its pages: a
    released lot of two doses, each allocated to its own patient, both labels printed as PDF
    and scanned back, packed, dispatched and received by scanning. Every scan is a barcode
    decoded from a printed PDF, as in the first journey."""
    with server.app.app_context():
        now = utcnow()
        lab, qa, coordinator, pharmacist = (user_by_username(name) for name in
                                            ("lab", "qa", "lz-coordinator", "lz-pharmacist"))
        staff = Staff(lab, lab, qa, qa)
        lot = make_lot(staff, make_donor(staff, f"CD-{now.year}-{tag}"), f"UC-{now.year}-{tag}", doses=2,
                       verify_labels=False)
        release_lot(lot, signature=signed(), actor=qa, now=now)

        def printed(kind: str, target: str, actor: object) -> PrintedLabels:
            return read_printed(print_labels(kind=kind, target=target, fmt="pdf", reason=None, override=None,
                                             actor=actor, now=now).content)

        bags = printed("lot", str(lot.id), lab).payloads("DataMatrix")
        ward = []
        for dose, bag_scan, (initials, age) in zip(lot.doses, bags, (("HZ", 58), ("QM", 46)), strict=True):
            assert verify_label(dose, scan=bag_scan, actor=lab, now=now).matched
            patient = enrol_patient(site_code=SITE, arm="msc", enrolled_on=now.date(), initials=initials,
                                    birth_year=now.year - age, actor=coordinator, now=now)
            allocate_dose(patient.visits[0], dose=dose, actor=coordinator, now=now)
            [assignment] = printed("assignment", dose.code, coordinator).payloads("DataMatrix")
            assert verify_label(dose, scan=assignment, actor=lab, now=now).matched
            [wristband] = printed("wristband", patient.subject_id, coordinator).payloads("QRCode")
            ward.append(WardDose(dose.code, bag_scan, patient.subject_id, initials, now.year - age, wristband))
        shipment = shipping.create_shipment(site_code=SITE, storage="cryo", actor=lab, now=now)
        for dose in ward:
            shipping.pack_dose(shipment, scan=dose.bag_scan, actor=lab, now=now)
        shipping.dispatch(shipment, courier="ColdChain Express", logger_id="QT-5102", signature=signed(),
                          actor=lab, now=now)
        shipping.receive(shipment, scans=[d.bag_scan for d in ward], seal_intact=True, signature=signed(),
                         actor=pharmacist, now=now)
        record_logger_file(shipment, pharmacist, now=now)
        db.session.commit()
        return lot.lot_number, ward


def qa_recalls_the_lot(j: Journey, lot: str, given: WardDose, kept: WardDose) -> None:
    with j.person("qa") as page:
        page.get_by_role("link", name="Eligibility and release").click()
        page.locator("#released").get_by_role("link", name=lot).click()
        page.get_by_role("link", name="Recall lot").click()
        expect(page.get_by_role("heading", name=f"Recall lot {lot}")).to_be_visible()
        page.get_by_label("Reason").fill("Retained sample: sterility retest shows growth (deviation DEV-2026-031).")
        page.get_by_label("Your password").fill(PASSWORD)
        j.shot(page, "qa-recall")
        page.get_by_role("button", name="Recall lot").click()
        expect(page.get_by_role("status").first).to_contain_text(
            f"Lot {lot} recalled. 1 dose(s) quarantined: {kept.code}. 1 dose(s) were already administered: "
            f"{given.code}. Start the lookback.")
        expect(page.get_by_role("heading", name=f"Lot {lot}")).to_contain_text("Recalled", ignore_case=True)
        recall = page.locator("#recall")
        expect(recall).to_contain_text("DEV-2026-031")
        expect(recall.get_by_role("heading", name="Doses quarantined (1)")).to_be_visible()
        expect(recall.get_by_role("listitem").filter(has_text=kept.code)).to_have_count(1)
        expect(recall.get_by_role("heading", name="Already administered: lookback (1)")).to_be_visible()
        lookback = recall.get_by_role("listitem").filter(has_text=given.code)
        expect(lookback).to_have_text(f"{given.code} · patient {given.subject}")
        expect(page.locator("#signatures")).to_contain_text("Recalled")
        # The long quarantine reason wraps in its column: the doses table fits the page.
        doses = page.locator("#doses .table-scroll")
        expect(doses).to_contain_text("DEV-2026-031")
        assert doses.evaluate("e => e.scrollWidth <= e.clientWidth"), "the doses table scrolls sideways"
        j.shot(page, "lot-recalled-lookback")


def pharmacist_finds_the_other_dose_quarantined(j: Journey, kept: WardDose) -> None:
    with j.person("lz-pharmacist") as page:
        page.get_by_role("link", name="Store, thaw and dispense").click()
        row = page.locator(f"#dose-{kept.code}")
        expect(row).to_contain_text("Quarantined", ignore_case=True)
        expect(row).to_contain_text("lot recalled: Retained sample")
        expect(row).not_to_contain_text("Dispense")
        j.shot(page, "pharmacy-quarantined")


def nurse_is_stopped_by_the_recall(j: Journey, kept: WardDose) -> None:
    with j.person("lz-nurse", viewport=TABLET) as page:
        page.get_by_role("link", name="Verify and record an infusion").click()
        expect(page.locator("#scan-input")).to_be_focused()
        wedge_scan(page, kept.wristband)
        wedge_scan(page, kept.bag_scan)
        stop = page.locator("#stop")
        expect(stop.get_by_role("heading", name=re.compile("^STOP"))).to_be_visible()
        expect(stop).to_contain_text("The dose's lot has been recalled.")
        expect(stop).to_contain_text("DOSE_RECALLED")
        expect(page.locator("#matched")).to_be_hidden()
        j.shot(page, "bedside-stop-recalled")
        page.get_by_role("link", name="Start again").click()  # the STOP screen covers everything else
        expect(page.locator("#scan-input")).to_be_focused()


# ---- the journeys ------------------------------------------------------------------------------

def test_one_dose_from_cord_donor_to_patient(trial: LiveServer, browser: Browser):
    journey = Journey(trial, browser, "journey")
    chain = new_chain("J01")
    lab_registers_donor_lot_and_doses(journey, chain)
    qa_determines_eligibility_and_releases(journey, chain)
    lab_prints_and_verifies_bag_labels(journey, chain)
    coordinator_enrols_and_allocates(journey, chain)
    lab_packs_and_dispatches(journey, chain)
    pharmacist_receives_and_dispenses(journey, chain)
    assert chain.dose and chain.wristband
    nurse_verifies_and_records(journey, wristband=chain.wristband, bag_scan=chain.bag_scans[chain.dose],
                               dose=chain.dose, patient_line=f"{chain.subject} (W.L., {chain.today.year - 51})")
    monitor_finds_reconciliation_balanced(journey, chain)
    assert journey.problems == []  # no script error, no Content-Security-Policy refusal


def test_a_recall_after_the_infusion_gives_the_lookback_list(trial: LiveServer, browser: Browser):
    journey = Journey(trial, browser, "journey-recall")
    lot, (given, kept) = doses_received_at_the_site(trial, "R01")
    with journey.person("lz-pharmacist") as page:
        thaw_and_dispense(journey, page, given.code, given.subject, given.bag_scan)
    nurse_verifies_and_records(journey, wristband=given.wristband, bag_scan=given.bag_scan, dose=given.code,
                               patient_line=given.patient_line)
    qa_recalls_the_lot(journey, lot, given, kept)
    pharmacist_finds_the_other_dose_quarantined(journey, kept)
    nurse_is_stopped_by_the_recall(journey, kept)
    assert journey.problems == []
