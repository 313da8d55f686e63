"""Demo data: the six trial hospitals and one account per role and site."""
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cell_chain.accounts import services
from cell_chain.accounts.roles import Role

DEMO_PASSWORD = "demo-pass-2026"

SITES = [
    ("LZ", "Lanzhou University First Hospital", "Lanzhou"),
    ("BJ", "Beijing Ditan Hospital", "Beijing"),
    ("SH", "Shanghai Public Health Clinical Center", "Shanghai"),
    ("GZ", "Third Affiliated Hospital of Sun Yat-sen University", "Guangzhou"),
    ("CD", "West China Hospital", "Chengdu"),
    ("WH", "Tongji Hospital", "Wuhan"),
]
# All six hospitals keep China Standard Time (UTC+8, no daylight saving) and read Chinese; their
# staff (no language of their own) follow the site. Lab, QA and monitor read English.
SITE_TIME_ZONE, SITE_LANGUAGE = "Asia/Shanghai", "zh_Hans"

CENTRAL_USERS = [
    ("admin", "Ada Admin", Role.ADMIN),
    ("lab", "Li Lab", Role.LAB),
    ("lab2", "Lu Lab", Role.LAB),
    ("qa", "Qian QA", Role.QA),
    ("qa2", "Quan QA", Role.QA),
    ("monitor", "Meng Monitor", Role.MONITOR),
]

SITE_USERS = [
    ("pharmacist", "Pharmacist", Role.PHARMACIST),
    ("nurse", "Nurse", Role.NURSE),
    ("nurse2", "Second Nurse", Role.NURSE),
    ("coordinator", "Coordinator", Role.COORDINATOR),
]


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    site_code: str | None


def seed_demo(now: datetime, *, ward: bool = True) -> list[DemoAccount]:
    """Create the demo sites, accounts and manufacturing history (the caller commits); with
    `ward`, LZ's and BJ's due doses are shipped to them (see seed_ward)."""
    accounts: list[DemoAccount] = []
    for code, name, city in SITES:
        services.create_site(code=code, name=name, city=city, time_zone=SITE_TIME_ZONE,
                             language=SITE_LANGUAGE, actor=None, now=now)
    for username, name, role in CENTRAL_USERS:
        services.create_user(username=username, display_name=name, role=role,
                             password=DEMO_PASSWORD, site_code=None, actor=None, now=now)
        accounts.append(DemoAccount(username, role, None))
    for code, _, city in SITES:
        for suffix, title, role in SITE_USERS:
            username = f"{code.lower()}-{suffix}"
            services.create_user(username=username, display_name=f"{title} {city}", role=role,
                                 password=DEMO_PASSWORD, site_code=code, actor=None, now=now)
            accounts.append(DemoAccount(username, role, code))
    seed_manufacturing(now)
    seed_patients(now)
    if ward:
        seed_ward(now)
        seed_box_on_its_way(now)
    return accounts


PASSING = {
    "sterility": "no_growth", "mycoplasma": "not_detected", "endotoxin_eu_ml": 0.12,
    "viability_pct": 93.5, "cd73_pct": 98.9, "cd90_pct": 99.2, "cd105_pct": 97.4,
    "cd34_pct": 0.3, "cd45_pct": 0.4, "cd14_pct": 0.2, "cd19_pct": 0.1, "hla_dr_pct": 0.6,
    "karyotype": "normal",
}


def seed_manufacturing(now: datetime) -> None:
    """A realistic history: donors (one ineligible), lots in every state, released doses."""
    from cell_chain.accounts.services import user_by_username
    from cell_chain.accounts.signatures import SignatureInput
    from cell_chain.batches import services as batches
    from cell_chain.batches.models import MARKERS

    lab, lab2, qa = (user_by_username(u) for u in ("lab", "lab2", "qa"))
    signature = SignatureInput(DEMO_PASSWORD, "")

    def day(offset: int) -> datetime:
        return now - timedelta(days=offset)

    def donor(code: str, collected: int, *, reactive: str | None = None, screened: bool = True,
              determine: bool = True) -> Any:
        d = batches.register_donor(donor_code=code, collected_on=day(collected).date(), actor=lab,
                                   now=day(collected))
        if screened:
            for marker in MARKERS:
                result = "reactive" if marker == reactive else "non_reactive"
                batches.record_screening(d, marker=marker, result=result,
                                         tested_on=day(collected - 1).date(), reason=None,
                                         actor=lab2, now=day(collected - 2))
        if screened and determine:
            batches.determine_eligibility(d, signature=signature, actor=qa, now=day(collected - 3))
        return d

    def lot(d: Any, number: str, made: int, presentation: str, *, doses: int,
            results: dict[str, Any] | None = None, complete: bool = True) -> Any:
        new = batches.create_lot(donor=d, lot_number=number, manufactured_on=day(made).date(),
                                 passage=3, presentation=presentation, actor=lab, now=day(made))
        fill_time = now - timedelta(hours=20) if presentation == "fresh" else day(made - 2)
        for n in range(doses):
            cells = 3.2e7 if n == doses - 1 and doses > 4 else 4.0e7 + n * 0.05e7
            batches.prepare_dose(new, cells=cells, volume_ml=40.0 - (n % 3) * 0.5,
                                 viability_pct=92.0 - n * 0.3, actor=lab, now=fill_time)
        if complete:
            batches.complete_lot(new, actor=lab, now=fill_time)
        for test, value in (results or {}).items():
            batches.record_result(new, test=test, value=value, performed_on=fill_time.date(),
                                  method="SOP-QC-0" + str(len(test) % 9), analyst="Zhao Analyst",
                                  reason=None, actor=lab2, now=fill_time)
        return new

    d1 = donor("CD-2026-001", 120)
    released = lot(d1, "UC-2026-001", 110, "cryopreserved", doses=8, results=PASSING)
    batches.release_lot(released, signature=signature, actor=qa, now=day(90))
    d2 = donor("CD-2026-002", 100)
    second = lot(d2, "UC-2026-002", 95, "cryopreserved", doses=10, results=PASSING)
    batches.release_lot(second, signature=signature, actor=qa, now=day(70))
    recalled = lot(d2, "UC-2026-003", 94, "cryopreserved", doses=4, results=PASSING)
    batches.release_lot(recalled, signature=signature, actor=qa, now=day(69))
    batches.recall_lot(recalled, reason="Retained sample: mycoplasma detected on re-test",
                       signature=signature, actor=qa, now=day(20))
    d3 = donor("CD-2026-003", 30)
    fresh = lot(d3, "UC-2026-004", 2, "fresh", doses=4,
                results={k: v for k, v in PASSING.items() if k != "karyotype"})
    d4 = donor("CD-2026-004", 40, determine=False)
    doomed = lot(d4, "UC-2026-005", 35, "cryopreserved", doses=3, results=PASSING)
    batches.record_screening(d4, marker="hbsag", result="reactive", tested_on=day(39).date(),
                             reason="Confirmatory HBsAg reactive", actor=lab2, now=day(33))
    batches.determine_eligibility(d4, signature=signature, actor=qa, now=day(32))
    batches.reject_lot(doomed, reason="Donor ineligible: HBsAg reactive", signature=signature,
                       actor=qa, now=day(31))
    from cell_chain.labels.payloads import bag_payloads
    from cell_chain.labels.services import print_labels, verify_label

    for released_lot in (released, second):
        print_labels(kind="lot", target=str(released_lot.id), fmt="zpl", reason=None, override=None,
                     actor=lab, now=day(88))
        for dose in released_lot.doses:
            if dose.status == "prepared":
                verify_label(dose, scan=bag_payloads(dose).compound, actor=lab, now=day(88))
    d5 = donor("CD-2026-005", 6, screened=False)
    lot(d5, "UC-2026-006", 3, "cryopreserved", doses=2, complete=False)
    del fresh


def seed_patients(now: datetime) -> None:
    """Patients at all six sites, both arms, at different points of their schedule; the
    patients with a visit due now have a dose allocated and its assignment label verified."""
    from cell_chain.accounts.services import user_by_username
    from cell_chain.labels.services import print_labels, verify_label
    from cell_chain.patients.allocation import allocate_dose
    from cell_chain.patients.enrolment import enrol_patient
    from cell_chain.patients.labels import assignment_payload

    initials = ["WL", "ZH", "LY", "CX", "HM", "SJ", "GQ", "YF"]
    # days since enrolment: due now (0), between visits, visit 2 due, overdue, control arm
    plan = [(0, "msc"), (40, "msc"), (92, "msc"), (200, "msc"), (10, "control"), (150, "control")]
    for index, (code, _, _) in enumerate(SITES):
        coordinator = user_by_username(f"{code.lower()}-coordinator")
        for n, (days_ago, arm) in enumerate(plan):
            enrolled = now - timedelta(days=days_ago + index)
            patient = enrol_patient(site_code=code, arm=arm, enrolled_on=enrolled.date(),
                                    initials=initials[(index + n) % len(initials)],
                                    birth_year=1966 + (index * 7 + n * 5) % 30,
                                    actor=coordinator, now=enrolled)
            if arm == "msc" and days_ago == 0 and index < 4:
                allocation = allocate_dose(patient.visits[0], dose=None, actor=coordinator, now=now)
                print_labels(kind="assignment", target=allocation.dose.code, fmt="zpl", reason=None,
                             override=None, actor=coordinator, now=now)
                verify_label(allocation.dose, scan=assignment_payload(allocation), actor=coordinator, now=now)


def seed_ward(now: datetime) -> None:
    """The ward's path for the first two hospitals' due doses: shipped and received; at LZ
    also thawed (if frozen) and dispensed to lz-nurse, so a nurse can verify and record an
    infusion at once; at BJ still in the pharmacy, for the pharmacist to thaw and dispense."""
    from cell_chain.accounts.services import user_by_username
    from cell_chain.accounts.signatures import SignatureInput
    from cell_chain.batches.models import Dose
    from cell_chain.core.db import db
    from cell_chain.labels.payloads import bag_payloads
    from cell_chain.patients.models import Allocation, Patient, Visit
    from cell_chain.shipments import pharmacy
    from cell_chain.shipments import services as shipping
    from sqlalchemy import select

    lab, signed = user_by_username("lab"), SignatureInput(DEMO_PASSWORD, "")
    for code, _, _ in SITES[:2]:
        doses = list(db.session.scalars(
            select(Dose).join(Allocation, Allocation.dose_id == Dose.id).join(Visit, Visit.id == Allocation.visit_id)
            .join(Patient, Patient.id == Visit.patient_id).where(Allocation.active, Patient.subject_id.like(f"{code}-%"))
            .order_by(Dose.id)))
        if not doses:
            continue
        pharmacist = user_by_username(f"{code.lower()}-pharmacist")
        shipped = now - timedelta(hours=20)
        shipment = shipping.create_shipment(site_code=code, storage=doses[0].lot.storage, actor=lab, now=shipped)
        for dose in doses:
            shipping.pack_dose(shipment, scan=bag_payloads(dose).compound, actor=lab, now=shipped)
        shipping.dispatch(shipment, courier="ColdChain Express", logger_id=f"QT-{code}", signature=signed,
                          actor=lab, now=shipped)
        received = now - timedelta(hours=2)
        shipping.receive(shipment, scans=[bag_payloads(d).compound for d in doses], seal_intact=True,
                         signature=signed, actor=pharmacist, now=received)
        if code != "LZ":
            continue
        # The box's logger file, as the pharmacist uploads it after receipt: without temperature
        # data no dose of the box may be dispensed.
        shipping.record_temperature(shipment, data=_logger_export(shipment.storage, shipped, received),
                                    filename="logger.csv", actor=pharmacist, now=received + timedelta(minutes=5))
        for dose in doses:
            if dose.lot.presentation == "cryopreserved":
                pharmacy.thaw(dose, thawed_at=now - timedelta(minutes=15), actor=pharmacist, now=now)
            pharmacy.dispense(dose, to=f"{code.lower()}-nurse", actor=pharmacist, now=now)
        db.session.flush()


def _logger_export(storage: str, start: datetime, end: datetime) -> bytes:
    """A box logger's export (timestamp,celsius), one reading every five minutes, in range."""
    celsius = -182.0 if storage == "cryo" else 5.0
    steps = max(1, int((end - start).total_seconds() // 300))
    moments = [start + (end - start) * i / steps for i in range(steps + 1)]
    return ("timestamp,celsius\n" + "".join(f"{at.isoformat()},{celsius}\n" for at in moments)).encode()


def seed_box_on_its_way(now: datetime) -> None:
    """A box for the third hospital, dispatched this morning and not yet received: the next
    due visit of one of its patients still waiting for a dose gets one, labelled, packed and
    sent, so that hospital's pharmacist has a box to receive (home, shipment list, receipt)."""
    from cell_chain.accounts.services import user_by_username
    from cell_chain.accounts.signatures import SignatureInput
    from cell_chain.core.clock import site_date
    from cell_chain.core.db import db
    from cell_chain.labels.payloads import bag_payloads
    from cell_chain.labels.services import print_labels, verify_label
    from cell_chain.patients.allocation import active_allocation_of_visit, allocate_dose
    from cell_chain.patients.enrolment import visit_state
    from cell_chain.patients.labels import assignment_payload
    from cell_chain.patients.models import Patient
    from cell_chain.shipments import services as shipping
    from sqlalchemy import select

    site = SITES[2][0]
    coordinator, lab = user_by_username(f"{site.lower()}-coordinator"), user_by_username("lab")
    today = site_date(now, SITE_TIME_ZONE)
    waiting = [visit for patient in db.session.scalars(
                   select(Patient).where(Patient.subject_id.like(f"{site}-%"), Patient.arm == "msc").order_by(Patient.subject_id))
               for visit in patient.visits
               if visit_state(visit, today) == "due" and active_allocation_of_visit(visit) is None]
    if not waiting:
        return
    allocated = now - timedelta(hours=6)
    allocation = allocate_dose(waiting[0], dose=None, actor=coordinator, now=allocated)
    print_labels(kind="assignment", target=allocation.dose.code, fmt="zpl", reason=None, override=None,
                 actor=coordinator, now=allocated)
    verify_label(allocation.dose, scan=assignment_payload(allocation), actor=coordinator, now=allocated)
    shipped = now - timedelta(hours=3)
    shipment = shipping.create_shipment(site_code=site, storage=allocation.dose.lot.storage, actor=lab, now=shipped)
    shipping.pack_dose(shipment, scan=bag_payloads(allocation.dose).compound, actor=lab, now=shipped)
    shipping.dispatch(shipment, courier="ColdChain Express", logger_id=f"QT-{site}", signature=SignatureInput(
        DEMO_PASSWORD, ""), actor=lab, now=shipped)
    db.session.flush()
