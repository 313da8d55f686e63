"""Bulk trial data for benchmarks: N× the trial (320 patients × N, four doses each) with full
custody histories, written with set-based inserts (no services, no audit: speed only)."""
import random
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from cell_chain.accounts import services as accounts
from cell_chain.accounts.models import Site
from cell_chain.batches.models import Donor, Dose, Lot
from cell_chain.core.db import db
from cell_chain.core.isbt128 import Din, DoseNumber, Expiry, ProductCode, bag_compound
from cell_chain.patients.models import Allocation, Patient, Visit
from cell_chain.infusions.models import Infusion
from cell_chain.patients.schedule import plan_visits
from cell_chain.shipments.models import CustodyEvent, Shipment, ShipmentItem

SITES = ["LZ", "BJ", "SH", "GZ", "CD", "WH"]
PASSWORD = "bench-password-1"
DOSES_PER_LOT = 40


def _chunks(rows: list[dict[str, Any]], size: int = 5000):
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _bulk(model: Any, rows: list[dict[str, Any]]) -> None:
    for chunk in _chunks(rows):
        db.session.execute(insert(model), chunk)


def build(scale: int, now: datetime, seed: int = 7) -> dict[str, Any]:
    """Create sites, users and `scale`× the trial. Returns sample bedside scan pairs."""
    rng = random.Random(seed)
    for code in SITES:
        accounts.create_site(code=code, name=f"{code} Hospital", city=code, actor=None, now=now)
    for code in SITES:
        for role in ("nurse", "pharmacist", "coordinator"):
            accounts.create_user(username=f"{code.lower()}-{role}", display_name=f"{role} {code}", role=role,
                                 password=PASSWORD, site_code=code, actor=None, now=now)
    lab = accounts.create_user(username="lab", display_name="Lab", role="lab", password=PASSWORD,
                               site_code=None, actor=None, now=now)
    db.session.flush()
    site_ids = {s.code: s.id for s in db.session.scalars(select(Site))}
    patients_n = 320 * scale
    doses_n = patients_n * 4
    lots_n = doses_n // DOSES_PER_LOT
    donors = [{"id": i + 1, "donor_code": f"CD-{i + 1:06d}", "din": Din("A9999", 25, i + 1).code,
               "collected_on": date(2025, 1, 1), "status": "eligible", "registered_by_id": lab.id,
               "registered_at": now} for i in range(lots_n)]
    _bulk(Donor, donors)
    lots = [{"id": i + 1, "lot_number": f"UC-{i + 1:06d}", "donor_id": i + 1,
             "din": Din("A9999", 26, i + 1).code, "manufactured_on": date(2026, 1, 1), "passage": 3,
             "presentation": "cryopreserved", "product_code": "YA001", "shelf_life_hours": None,
             "shelf_life_months": 24, "post_thaw_hours": 4, "status": "released", "created_by_id": lab.id,
             "created_at": now} for i in range(lots_n)]
    _bulk(Lot, lots)
    expires = (now + timedelta(days=600)).replace(second=0, microsecond=0)
    doses, patients, visits, allocations, infusions, custody, shipments, items = [], [], [], [], [], [], [], []
    samples = []
    dose_id = visit_id = 0
    for p in range(patients_n):
        site = SITES[p % len(SITES)]
        enrolled = now.date() - timedelta(days=rng.randint(0, 300))
        patients.append({"id": p + 1, "subject_id": f"{site}-{p // len(SITES) + 1:04d}",
                         "site_id": site_ids[site], "arm": "msc", "initials": "AB", "birth_year": 1970,
                         "enrolled_on": enrolled, "status": "active", "enrolled_by_id": lab.id, "created_at": now})
        shipments.append({"id": p + 1, "code": f"SHP-{site}-{p + 1:06X}", "site_id": site_ids[site],
                          "storage": "cryo", "status": "received", "created_by_id": lab.id, "created_at": now,
                          "seal_intact": True, "version": 1})
        for planned in plan_visits(enrolled, 14):
            dose_id += 1
            visit_id += 1
            lot = (dose_id - 1) // DOSES_PER_LOT + 1
            number = (dose_id - 1) % DOSES_PER_LOT + 1
            given = planned.number == 1 and p % 2 == 0
            doses.append({"id": dose_id, "code": f"{lots[lot - 1]['din']}-{number:06d}", "lot_id": lot,
                          "number": number, "division": "Aa", "cells": 4e7, "volume_ml": 40.0,
                          "viability_pct": 92.0, "status": "administered" if given else "received",
                          "prepared_at": now, "prepared_by_id": lab.id, "expires_at": expires,
                          "bag_label_verified_at": now, "version": 1})
            visits.append({"id": visit_id, "patient_id": p + 1, "number": planned.number,
                           "target_date": planned.target_date, "window_start": planned.window_start,
                           "window_end": planned.window_end, "recorded": "done" if given else "open"})
            allocations.append({"id": dose_id, "dose_id": dose_id, "visit_id": visit_id,
                                "coi": f"A999926{dose_id:06d}", "active": True, "allocated_by_id": lab.id,
                                "allocated_at": now, "assignment_label_verified_at": now})
            items.append({"id": dose_id, "shipment_id": p + 1, "dose_id": dose_id, "packed_at": now,
                          "packed_by_id": lab.id, "receipt": "accepted"})
            chain = [("dispatch", "lab:A9999", "courier:ColdChain"),
                     ("handoff", "courier:ColdChain", "courier:Local"),
                     ("receipt", "courier:Local", f"pharmacy:{site}")]
            if given:
                chain.append(("administer", f"pharmacy:{site}", f"patient:{patients[-1]['subject_id']}"))
                infusions.append({"dose_id": dose_id, "patient_id": p + 1, "visit_id": visit_id,
                                  "coi": f"A999926{dose_id:06d}", "started_at": now - timedelta(days=200),
                                  "ended_at": now - timedelta(days=200), "volume_ml": 40.0, "partial": False,
                                  "tolerance_grade": 0, "serious": False, "out_of_window": False,
                                  "nurse_id": lab.id, "witness_id": lab.id, "recorded_at": now})
            for step, (kind, src, dst) in enumerate(chain):
                custody.append({"dose_id": dose_id, "kind": kind, "from_party": src, "to_party": dst,
                                "place": site, "condition": "intact", "shipment_id": p + 1,
                                "occurred_at": now - timedelta(days=250 - step), "recorded_by_id": lab.id})
            if not given and planned.number == 2 and len(samples) < 2000:
                din = Din("A9999", 26, lot)
                compound = bag_compound(din, ProductCode("YA001", "V", "Aa"), Expiry(expires), DoseNumber(number))
                samples.append((site, patients[-1]["subject_id"], compound))
    for model, rows in ((Dose, doses), (Patient, patients), (Visit, visits), (Allocation, allocations),
                        (Shipment, shipments), (ShipmentItem, items), (CustodyEvent, custody),
                        (Infusion, infusions)):
        _bulk(model, rows)
    db.session.commit()
    return {"patients": patients_n, "doses": doses_n, "custody_events": len(custody), "samples": samples}


def samples(limit: int = 2000) -> list[tuple[str, str, str]]:
    """The sample scan pairs `build` returns, read back from an existing database: each
    patient's received (not yet given) visit-2 dose, as (site, subject ID, bag compound)."""
    from cell_chain.labels.payloads import bag_payloads

    rows = db.session.execute(
        select(Site.code, Patient.subject_id, Dose)
        .join(Patient, Patient.site_id == Site.id).join(Visit, Visit.patient_id == Patient.id)
        .join(Allocation, (Allocation.visit_id == Visit.id) & Allocation.active)
        .join(Dose, Dose.id == Allocation.dose_id)
        .where(Visit.number == 2, Dose.status == "received").order_by(Patient.id).limit(limit)).all()
    return [(site, subject, bag_payloads(dose).compound) for site, subject, dose in rows]


def fix_sequences() -> None:
    """After explicit ids, let PostgreSQL's sequences continue past them."""
    if db.engine.dialect.name != "postgresql":
        return
    from sqlalchemy import text

    for table in ("donors", "lots", "doses", "patients", "visits", "allocations", "shipments",
                  "shipment_items", "custody_events", "infusions"):
        db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                f"COALESCE((SELECT MAX(id) FROM {table}), 1))"))
    db.session.commit()
