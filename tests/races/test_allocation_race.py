"""Two coordinators allocate the last suitable dose at once, to two patients: one visit gets
it, the other is told there is none (409), and the dose has one active allocation."""
import pytest
from sqlalchemy import func, select

from cell_chain.accounts.services import user_by_username
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.patients.models import Allocation
from cell_chain.patients.enrolment import enrol_patient
from tests.factories import released_lot
from tests.races.conftest import ROUNDS, assert_chain_linear, audit_count, race, tokens


def _patients() -> tuple[str, str]:
    now = utcnow()
    subjects = [enrol_patient(site_code=site, arm="msc", enrolled_on=now.date(), initials="AB", birth_year=1970,
                              actor=user_by_username(f"{site.lower()}-coordinator"), now=now).subject_id
                for site in ("LZ", "BJ")]
    db.session.commit()
    return subjects[0], subjects[1]


@pytest.mark.parametrize("named", [False, True], ids=["earliest-expiring", "named-dose"])
def test_last_dose_goes_to_one_visit(app, ward, staff, named):
    lz, bj = tokens(app, "lz-coordinator", "bj-coordinator")
    for round_ in range(ROUNDS):
        # one new dose per round: every earlier one is allocated already, so it is the last
        [dose] = released_lot(staff, f"L-RACE-ALLOC-{round_}", doses=1).doses
        dose_id, code = dose.id, dose.code
        first, second = _patients()
        body = {"dose_code": code} if named else {}
        answers = race(app, [
            lambda c: c.post(f"/api/patients/{first}/visits/1/allocate", headers=lz, json=body),
            lambda c: c.post(f"/api/patients/{second}/visits/1/allocate", headers=bj, json=body),
        ])
        assert sorted(a.status for a in answers) == [200, 409], (round_, answers)
        [winner] = [a for a in answers if a.status == 200]
        [loser] = [a for a in answers if a.status == 409]
        assert winner.body["dose_code"] == code
        assert loser.code == ("DOSE_NOT_SUITABLE" if named else "NO_SUITABLE_DOSE"), loser.body
        active = select(func.count()).select_from(Allocation).where(Allocation.dose_id == dose_id, Allocation.active)
        assert db.session.scalar(active) == 1
        assert audit_count("dose.allocated", "doses", str(dose_id)) == 1
    assert db.session.scalar(select(func.count()).select_from(Allocation)) == ROUNDS
    assert_chain_linear()
