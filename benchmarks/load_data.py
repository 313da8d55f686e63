"""Work for the load test, on top of the trial history `trial_data` builds: doses dispensed to
each tablet's nurse for patients due today, and boxes in transit to each scanner's pharmacy.
Written with set-based inserts (no services, no audit events: the load writes those)."""
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from cell_chain.accounts import services as accounts
from cell_chain.accounts.models import Site, User
from cell_chain.batches.models import Donor, Dose, Lot
from cell_chain.core.db import db
from cell_chain.core.isbt128 import Din
from cell_chain.patients.models import Allocation, Patient, Visit
from cell_chain.patients.schedule import plan_visits
from cell_chain.labels.payloads import bag_payloads
from cell_chain.shipments.models import CustodyEvent, Shipment, ShipmentItem
from trial_data import DOSES_PER_LOT, PASSWORD, SITES

# Subject IDs are SITE-NNNN; the trial history uses the low numbers at any scale we run.
FIRST_SUBJECT = 5000


@dataclass
class NurseWork:
    """One tablet: its nurse, the witness beside them, and the (wristband, bag) pairs to give."""

    username: str
    witness: str
    site: str
    doses: list[tuple[str, str, int]] = field(default_factory=list)  # (subject, bag payload, dose id)


@dataclass
class ScannerWork:
    """One pharmacy scanner: its pharmacist and the boxes in transit to its site."""

    username: str
    site: str
    shipments: list[tuple[int, list[str]]] = field(default_factory=list)  # (shipment id, bag payloads)


@dataclass
class Work:
    nurses: list[NurseWork]
    scanners: list[ScannerWork]
    shared_doses: int
    monitor: str = "load-monitor"


class _Ids:
    """Explicit ids past the bulk history's (trial_data.fix_sequences moves the sequences on)."""

    def __init__(self) -> None:
        self.next: dict[Any, int] = {}

    def take(self, model: Any) -> int:
        if model not in self.next:
            self.next[model] = (db.session.scalar(select(func.max(model.id))) or 0) + 1
        value = self.next[model]
        self.next[model] += 1
        return value


def build_work(now: datetime, *, nurses: int, scanners: int, doses_per_nurse: int, boxes_per_scanner: int,
               doses_per_box: int = 2, shared_every: int = 25) -> Work:
    """`nurses` tablets and `scanners` pharmacy scanners spread over the sites. Tablets of a
    site are paired; one dose in `shared_every` of the first is also on the second, at the
    same position: two nurses at one bag, the correct answer to the later one being 409."""
    ids = _Ids()
    lab = db.session.scalar(select(User).where(User.username == "lab"))
    sites = {s.code: s for s in db.session.scalars(select(Site))}
    site_of = [SITES[i % len(SITES)] for i in range(max(nurses, scanners))]
    nurse_work = [NurseWork(f"{site_of[i].lower()}-tablet-{i:02d}", "", site_of[i]) for i in range(nurses)]
    for work in nurse_work:
        # The site's witness: a nurse who is not driving a tablet (trial_data makes `{site}-nurse`).
        work.witness = f"{work.site.lower()}-nurse"
    scanner_work = [ScannerWork(f"{site_of[i].lower()}-scanner-{i:02d}", site_of[i]) for i in range(scanners)]
    for username, role, site in ([(w.username, "nurse", w.site) for w in nurse_work]
                                 + [(w.username, "pharmacist", w.site) for w in scanner_work]
                                 + [("load-monitor", "monitor", None)]):
        accounts.create_user(username=username, display_name=username, role=role, password=PASSWORD,
                             site_code=site, actor=None, now=now)
    db.session.flush()

    rows: dict[Any, list[dict[str, Any]]] = {m: [] for m in (Donor, Lot, Dose, Patient, Visit, Allocation, Shipment,
                                                              ShipmentItem, CustodyEvent)}
    subjects = dict.fromkeys(SITES, FIRST_SUBJECT)
    expires = (now + timedelta(days=600)).replace(second=0, microsecond=0)
    lot: dict[str, Any] = {}
    din_year = now.year % 100

    def new_dose(status: str) -> dict[str, Any]:
        if not lot or lot["used"] == DOSES_PER_LOT:
            donor_id, lot_id = ids.take(Donor), ids.take(Lot)
            rows[Donor].append({"id": donor_id, "donor_code": f"LD-{donor_id:06d}",
                                "din": Din("A9999", (din_year - 1) % 100, 500000 + donor_id).code,
                                "collected_on": date(now.year - 1, 1, 1), "status": "eligible",
                                "registered_by_id": lab.id, "registered_at": now})
            lot.update(id=lot_id, din=Din("A9999", din_year, 500000 + lot_id).code, used=0)
            rows[Lot].append({"id": lot_id, "lot_number": f"LOAD-{lot_id:06d}", "donor_id": donor_id,
                              "din": lot["din"], "manufactured_on": date(now.year, 1, 1), "passage": 3,
                              "presentation": "cryopreserved", "product_code": "YA001", "shelf_life_hours": None,
                              "shelf_life_months": 24, "post_thaw_hours": 4, "status": "released",
                              "created_by_id": lab.id, "created_at": now})
        lot["used"] += 1
        dose = {"id": ids.take(Dose), "code": f"{lot['din']}-{lot['used']:06d}", "lot_id": lot["id"],
                "number": lot["used"], "division": "Aa", "cells": 4e7, "volume_ml": 40.0, "viability_pct": 92.0,
                "status": status, "prepared_at": now, "prepared_by_id": lab.id, "expires_at": expires,
                "bag_label_verified_at": now, "version": 1}
        rows[Dose].append(dose)
        return dose

    def new_patient(site: str, dose: dict[str, Any]) -> str:
        subjects[site] += 1
        subject = f"{site}-{subjects[site]:04d}"
        patient_id = ids.take(Patient)
        rows[Patient].append({"id": patient_id, "subject_id": subject, "site_id": sites[site].id, "arm": "msc",
                              "initials": "LD", "birth_year": now.year - 45, "enrolled_on": now.date(),
                              "status": "active", "enrolled_by_id": lab.id, "created_at": now})
        for planned in plan_visits(now.date(), 14):  # visit 1 is due today
            visit_id = ids.take(Visit)
            rows[Visit].append({"id": visit_id, "patient_id": patient_id, "number": planned.number,
                                "target_date": planned.target_date, "window_start": planned.window_start,
                                "window_end": planned.window_end, "recorded": "open"})
            if planned.number == 1:
                rows[Allocation].append({"id": ids.take(Allocation), "dose_id": dose["id"], "visit_id": visit_id,
                                         "coi": f"A9999{din_year:02d}{500000 + dose['id']:06d}",
                                         "active": True, "allocated_by_id": lab.id, "allocated_at": now,
                                         "assignment_label_verified_at": now})
        return subject

    def shipped(site: str, doses: list[dict[str, Any]], *, received: bool) -> int:
        shipment_id = ids.take(Shipment)
        dispatched = now - timedelta(days=2 if received else 1)
        rows[Shipment].append({"id": shipment_id, "code": f"SHP-{site}-L{shipment_id:06X}", "site_id": sites[site].id,
                               "storage": "cryo", "status": "received" if received else "in_transit",
                               "courier": "ColdChain", "logger_id": "QT-1", "created_by_id": lab.id,
                               "created_at": dispatched, "dispatched_at": dispatched,
                               "received_at": dispatched + timedelta(hours=20) if received else None,
                               "seal_intact": True if received else None, "version": 1})
        chain = [("dispatch", "lab:A9999", "courier:ColdChain"), ("handoff", "courier:ColdChain", "courier:Local")]
        if received:
            chain.append(("receipt", "courier:Local", f"pharmacy:{site}"))
        for dose in doses:
            rows[ShipmentItem].append({"id": ids.take(ShipmentItem), "shipment_id": shipment_id, "dose_id": dose["id"],
                                       "packed_at": dispatched, "packed_by_id": lab.id,
                                       "receipt": "accepted" if received else None})
            for step, (kind, src, dst) in enumerate(chain):
                rows[CustodyEvent].append({"id": ids.take(CustodyEvent), "dose_id": dose["id"], "kind": kind,
                                           "from_party": src, "to_party": dst, "place": site, "condition": "intact",
                                           "shipment_id": shipment_id,
                                           "occurred_at": dispatched + timedelta(hours=step),
                                           "recorded_by_id": lab.id})
        return shipment_id

    nurse_doses: list[list[tuple[str, dict[str, Any]]]] = [[] for _ in nurse_work]
    for index, work in enumerate(nurse_work):
        for _ in range(doses_per_nurse):
            dose = new_dose("dispensed")
            # thawed in the pharmacy before it went to the ward (pharmacy.thaw), as a frozen dose must be
            thawed = (now - timedelta(minutes=40)).replace(second=0, microsecond=0)
            dose.update(thawed_at=thawed, expires_at=thawed + timedelta(hours=4))  # lot's post_thaw_hours
            subject = new_patient(work.site, dose)
            shipped(work.site, [dose], received=True)
            rows[CustodyEvent].append({"id": ids.take(CustodyEvent), "dose_id": dose["id"], "kind": "dispense",
                                       "from_party": f"pharmacy:{work.site}",
                                       "to_party": f"ward:{work.site}:{work.username}", "place": work.site,
                                       "condition": "intact", "shipment_id": None,
                                       "occurred_at": now - timedelta(minutes=30), "recorded_by_id": lab.id})
            nurse_doses[index].append((subject, dose))
    shared = 0
    for site in SITES:
        tablets = [i for i, w in enumerate(nurse_work) if w.site == site]
        for first, second in zip(tablets[0::2], tablets[1::2]):
            # from the second dose on, so a short run reaches them; both tablets get there together
            for position in range(1, doses_per_nurse, shared_every):
                nurse_doses[second][position] = nurse_doses[first][position]
                shared += 1
    scanner_boxes: list[list[list[dict[str, Any]]]] = []
    for work in scanner_work:
        boxes = []
        for _ in range(boxes_per_scanner):
            doses = [new_dose("in_transit") for _ in range(doses_per_box)]
            for dose in doses:
                new_patient(work.site, dose)
            work.shipments.append((shipped(work.site, doses, received=False), []))
            boxes.append(doses)
        scanner_boxes.append(boxes)
    for model, batch in rows.items():
        for start in range(0, len(batch), 5000):
            db.session.execute(insert(model), batch[start:start + 5000])
    db.session.flush()

    # The payloads as the app's own label code encodes them.
    codes = {d["id"]: d for batch in (rows[Dose],) for d in batch}
    loaded = {d.id: d for d in db.session.scalars(select(Dose).where(Dose.id.in_(list(codes))))}
    for index, work in enumerate(nurse_work):
        work.doses = [(subject, bag_payloads(loaded[d["id"]]).compound, d["id"]) for subject, d in nurse_doses[index]]
    for work, boxes in zip(scanner_work, scanner_boxes, strict=True):
        work.shipments = [(shipment_id, [bag_payloads(loaded[d["id"]]).compound for d in doses])
                          for (shipment_id, _), doses in zip(work.shipments, boxes, strict=True)]
    db.session.commit()
    return Work(nurse_work, scanner_work, shared)
