"""Audited writes to unrelated records at once, all meeting at the audit chain's head: every
acknowledged write has exactly one event and the chain stays one verifiable line."""
from sqlalchemy import select

from cell_chain.core.audit import AuditEvent
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.patients.models import Patient
from cell_chain.shipments.models import Shipment
from tests.races.conftest import CHAIN_LOCK, ROUNDS, assert_chain_linear, race, tokens


def test_concurrent_audit_writes_keep_one_chain(app, ward, staff):
    lab, lab2, lz, bj = tokens(app, "lab", "lab2", "lz-coordinator", "bj-coordinator")
    patient = {"arm": "msc", "initials": "AB", "birth_year": 1970}
    shipments, subjects = [], []
    before = assert_chain_linear()
    for round_ in range(ROUNDS):
        answers = race(app, [
            lambda c: c.post("/api/shipments", headers=lab, json={"site_code": "LZ", "storage": "cryo"}),
            lambda c: c.post("/api/shipments", headers=lab2, json={"site_code": "BJ", "storage": "2-8C"}),
            lambda c: c.post("/api/patients", headers=lz, json=patient | {"site_code": "LZ", "enrolled_on": _today()}),
            lambda c: c.post("/api/patients", headers=bj, json=patient | {"site_code": "BJ", "enrolled_on": _today()}),
        ], meet_at=CHAIN_LOCK)
        assert [a.status for a in answers] == [201] * 4, (round_, answers)
        shipments += [a.body["id"] for a in answers[:2]]
        subjects += [a.body["subject_id"] for a in answers[2:]]
    # each acknowledged write is there with exactly its events: a shipment one, a patient five
    assert len(db.session.scalars(select(Shipment).where(Shipment.id.in_(shipments))).all()) == 2 * ROUNDS
    patients = db.session.scalars(select(Patient).where(Patient.subject_id.in_(subjects))).all()
    assert len(patients) == 2 * ROUNDS
    for shipment_id in shipments:
        assert _events("shipments", str(shipment_id)) == ["shipment.created"]
    for patient_ in patients:
        assert _events("patients", str(patient_.id)) == ["patient.enrolled"]
        for visit in patient_.visits:
            assert _events("visits", str(visit.id)) == ["visit.planned"]
    assert assert_chain_linear() == before + ROUNDS * (2 + 2 * 5)


def _events(entity_type: str, entity_id: str) -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_type == entity_type, AuditEvent.entity_id == entity_id).order_by(AuditEvent.seq)))


def _today() -> str:
    return utcnow().date().isoformat()
