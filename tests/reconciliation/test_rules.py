"""Each domain rule the reports restate in SQL agrees with the Python rule it restates."""
from datetime import timedelta

import pytest
from sqlalchemy import literal, select

from cell_chain.accounts.models import Site
from cell_chain.batches import workflow as batch_rules
from cell_chain.batches.models import Dose
from cell_chain.core import audit
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.patients.models import Visit
from cell_chain.patients.enrolment import visit_state
from cell_chain.reconciliation import rules
from cell_chain.shipments import custody
from tests.factories import doses_at_site, released_lot
from tests.reconciliation.conftest import enrol, user, withdraw


def test_visit_state_in_sql_agrees_with_the_schedule(clinic):
    now = utcnow()
    patients = [enrol("LZ", days_ago=days, now=now) for days in (0, 31, 95, 200, 290, 400)]
    withdraw(enrol("LZ", days_ago=100, now=now), now=now)
    done = patients[1].visits[0]
    done.recorded = "done_out_of_window"
    audit.record_change(done, "visit.done_out_of_window", actor=user("lz-coordinator"), at=now, reason="test")
    db.session.commit()
    visits = list(db.session.scalars(select(Visit)))
    following = rules.following_visit()
    first = min(v.window_start for v in visits) - timedelta(days=3)
    last = max(v.window_end for v in visits) + timedelta(days=50)
    seen = set()
    day = first
    while day <= last:
        sql = dict(db.session.execute(
            select(Visit.id, rules.visit_state_sql(Visit, following, day))
            .outerjoin(following, rules.next_visit_join(Visit, following))).all())
        python = {v.id: visit_state(v, day) for v in visits}
        assert sql == python, day
        seen.update(python.values())
        day += timedelta(days=1)
    assert seen == {"upcoming", "due", "overdue", "missed", "done_out_of_window", "skipped"}


@pytest.fixture
def chains(clinic):
    """Doses with every shape of custody chain: none, whole, broken, events after the end,
    several events at the same instant."""
    staff = clinic
    now = utcnow()
    whole, broken, after_end, same_time = doses_at_site(staff, "LZ", count=4, lot_number="L-CHAINS", now=now)
    at_lab = released_lot(staff, "L-IDLE", doses=1).doses[0]
    nurse = user("lz-nurse")
    later = now + timedelta(hours=1)
    custody.record_handover(broken, kind="dispense", from_party="pharmacy:BJ", to_party="ward:LZ:lz-nurse",
                            place="LZ", actor=nurse, now=later)
    custody.record_handover(broken, kind="handoff", from_party="ward:LZ:someone", to_party="ward:LZ:lz-nurse2",
                            place="LZ", actor=nurse, now=later + timedelta(minutes=5))
    custody.record_handover(after_end, kind="administer", to_party="patient:LZ-0003", place="LZ", actor=nurse,
                            now=later)
    custody.record_handover(after_end, kind="handoff", to_party="ward:LZ:lz-nurse", place="LZ", actor=nurse,
                            now=later + timedelta(minutes=1))
    for to in ("ward:LZ:a", "ward:LZ:b", "ward:LZ:c"):  # one instant: the ledger's order is the id
        custody.record_handover(same_time, kind="handoff", to_party=to, place="LZ", actor=nurse, now=later)
    db.session.commit()
    return [whole, broken, after_end, same_time, at_lab]


def test_chain_check_in_sql_agrees_with_check_chain(chains):
    sql: dict[int, list[tuple[int, str]]] = {}
    for row in sorted(db.session.execute(rules.chain_breaks()), key=lambda r: (r.occurred_at, r.id)):
        sql.setdefault(row.dose_id, []).append((row.id, rules.break_reason(row.from_party, row.holder, row.after_end)))
    python = {}
    for dose_id, events in custody.events_of([d.id for d in chains]).items():
        check = custody.check_chain(events, custody.lab_party())
        if check.breaks:
            python[dose_id] = [(b["event_id"], b["reason"]) for b in check.breaks]
    assert sql == python
    assert set(python) == {chains[1].id, chains[2].id}
    assert len(python[chains[1].id]) == 2


def test_custodian_in_sql_agrees_with_current_custodian(chains):
    sql = dict(db.session.execute(select(Dose.id, rules.custodian_sql(Dose.id))).all())
    for dose in chains:
        assert (sql[dose.id] or custody.lab_party()) == custody.current_custodian(dose)
    assert sql[chains[3].id] == "ward:LZ:c" and sql[chains[4].id] is None
    held = rules.custodians(Dose.id, where=Dose.id == chains[2].id)
    assert db.session.execute(select(held.c.holder)).scalars().all() == ["ward:LZ:lz-nurse"]


@pytest.mark.parametrize("party", ["pharmacy:LZ", "pharmacy:LZX", "ward:LZ:lz-nurse", "ward:LZX:n", "ward:BJ:n",
                                   "courier:LZ", "patient:LZ-0001", "lab:A9999", "pharmacy:", "destroyed:LZ"])
def test_held_at_site_agrees_with_the_pharmacy_custody_rule(clinic, party):
    site = db.session.scalar(select(Site).where(Site.code == "LZ"))
    sql = db.session.scalar(select(rules.held_at_site(literal(party), Site)).where(Site.id == site.id))
    # pharmacy._in_my_custody and bedside._at_site: the pharmacy itself or one of its wards
    python = party == custody.site_party("LZ") or party.startswith(custody.ward_party("LZ", ""))
    assert bool(sql) == python
    assert custody.courier_party("X").startswith(rules.COURIER_PARTY_PREFIX)
    assert custody.lab_party().startswith(rules.LAB_PARTY_PREFIX)


def test_expiry_in_sql_agrees_with_is_expired(clinic):
    dose = released_lot(clinic, "L-EXP", doses=1).doses[0]
    for moment in (dose.expires_at - timedelta(minutes=1), dose.expires_at, dose.expires_at + timedelta(seconds=1)):
        sql = db.session.scalar(select(rules.expired_sql(Dose.expires_at, moment)).where(Dose.id == dose.id))
        assert bool(sql) == batch_rules.is_expired(dose.expires_at, moment), moment
