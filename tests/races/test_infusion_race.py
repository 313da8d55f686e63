"""Two nurses record the same dose at once: one infusion, the other nurse is told
ALREADY_ADMINISTERED (409), and nothing is recorded twice."""
from datetime import datetime, timedelta

from sqlalchemy import func, select

from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.patients.allocation import active_allocation_of_dose
from cell_chain.infusions.models import Infusion
from cell_chain.labels.payloads import bag_payloads
from cell_chain.shipments.models import CustodyEvent
from tests.conftest import PASSWORD
from tests.factories import doses_on_ward
from tests.races.conftest import ROUNDS, assert_chain_linear, audit_count, race, tokens


def _infusion_body(patient_scan: str, dose_scan: str, witness: str, checked: datetime) -> dict:
    """Started two minutes after the bedside check, ended 36 minutes later."""
    return {"patient_scan": patient_scan, "dose_scan": dose_scan,
            "started_at": (checked + timedelta(minutes=2)).isoformat(),
            "ended_at": (checked + timedelta(minutes=38)).isoformat(), "volume_ml": 40.0, "tolerance_grade": 0,
            "signature": {"password": PASSWORD}, "witness": {"username": witness, "password": PASSWORD}}


def test_double_infusion_records_one(app, ward, staff, clock):
    doses = doses_on_ward(staff, count=ROUNDS, lot_number="L-RACE-INF")
    scans = [(active_allocation_of_dose(d).visit.patient.subject_id, bag_payloads(d).compound) for d in doses]
    dose_ids = [d.id for d in doses]
    first, second = tokens(app, "lz-nurse", "lz-nurse2")
    client = app.test_client()
    for round_, (patient_scan, dose_scan) in enumerate(scans):
        checked_at = utcnow()
        for nurse in (first, second):  # each nurse scans at the bedside first, as the API requires
            checked = client.post("/api/infusions/verify", headers=nurse,
                                  json={"patient_scan": patient_scan, "dose_scan": dose_scan})
            assert checked.status_code == 200 and checked.get_json()["ok"], checked.get_json()
        clock.travel(timedelta(minutes=40))  # both record when the infusion has ended
        answers = race(app, [
            lambda c: c.post("/api/infusions", headers=first,
                             json=_infusion_body(patient_scan, dose_scan, "lz-nurse2", checked_at)),
            lambda c: c.post("/api/infusions", headers=second,
                             json=_infusion_body(patient_scan, dose_scan, "lz-nurse", checked_at)),
        ])
        assert sorted(a.status for a in answers) == [201, 409], (round_, answers)
        [loser] = [a for a in answers if a.status == 409]
        assert loser.code == "ALREADY_ADMINISTERED", loser.body
        assert loser.body["stops"][0]["code"] == "ALREADY_ADMINISTERED"
        dose_id = dose_ids[round_]
        assert db.session.scalar(select(func.count()).select_from(Infusion).where(Infusion.dose_id == dose_id)) == 1
        administered = select(func.count()).select_from(CustodyEvent).where(
            CustodyEvent.dose_id == dose_id, CustodyEvent.kind == "administer")
        assert db.session.scalar(administered) == 1
        assert audit_count("dose.administered", "doses", str(dose_id)) == 1
    assert db.session.scalar(select(func.count()).select_from(Infusion)) == ROUNDS
    assert_chain_linear()
