"""Lots and donors created at once: every DIN issued once and without gaps, and the same lot
number or donor code twice is one record and one 422, never a server error."""
from datetime import timedelta

from sqlalchemy import select

from cell_chain.batches.models import Donor, Lot
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from tests.factories import make_donor
from tests.races.conftest import ROUNDS, assert_chain_linear, audit_count, race, tokens

RACERS = 4


def _lot_body(donor_id: int, number: str) -> dict:
    return {"donor_id": donor_id, "lot_number": number, "manufactured_on": utcnow().date().isoformat(),
            "passage": 3, "presentation": "cryopreserved"}


def _dins() -> list[str]:
    return list(db.session.scalars(select(Lot.din))) + list(db.session.scalars(select(Donor.din)))


def _assert_dins_unique_and_gapless() -> None:
    dins = _dins()
    assert len(set(dins)) == len(dins)
    assert sorted(int(d[-6:]) for d in dins) == list(range(1, len(dins) + 1))


def test_concurrent_lots_each_get_their_own_din(app, ward, staff):
    donor_id = make_donor(staff).id
    [lab] = tokens(app, "lab")
    for round_ in range(ROUNDS):
        numbers = [f"L-RACE-{round_}-{n}" for n in range(RACERS)]
        answers = race(app, [lambda c, n=n: c.post("/api/lots", headers=lab, json=_lot_body(donor_id, n))
                             for n in numbers])
        assert [a.status for a in answers] == [201] * RACERS, (round_, answers)
        assert sorted(a.body["lot_number"] for a in answers) == numbers
        assert len({a.body["din"] for a in answers}) == RACERS
        _assert_dins_unique_and_gapless()
    assert assert_chain_linear() > 0


def test_same_lot_number_twice_makes_one_lot(app, ward, staff):
    donor_id = make_donor(staff).id
    first, second = tokens(app, "lab", "lab2")
    for round_ in range(ROUNDS):
        number = f"L-SAME-{round_}"
        answers = race(app, [lambda c: c.post("/api/lots", headers=first, json=_lot_body(donor_id, number)),
                             lambda c: c.post("/api/lots", headers=second, json=_lot_body(donor_id, number))])
        assert sorted(a.status for a in answers) == [201, 422], (round_, answers)
        [loser] = [a for a in answers if a.status == 422]
        assert loser.code == "VALIDATION_ERROR" and "lot_number" in loser.body["errors"], loser.body
        lots = db.session.scalars(select(Lot).where(Lot.lot_number == number)).all()
        assert len(lots) == 1
        assert audit_count("lot.created", "lots", str(lots[0].id)) == 1
        _assert_dins_unique_and_gapless()  # the loser's DIN was never issued
    assert_chain_linear()


def test_same_donor_code_twice_registers_one_donor(app, ward, staff):
    first, second = tokens(app, "lab", "lab2")
    collected = (utcnow() - timedelta(days=2)).date().isoformat()
    for round_ in range(ROUNDS):
        body = {"donor_code": f"D-SAME-{round_}", "collected_on": collected}
        answers = race(app, [lambda c: c.post("/api/donors", headers=first, json=body),
                             lambda c: c.post("/api/donors", headers=second, json=body)])
        assert sorted(a.status for a in answers) == [201, 422], (round_, answers)
        [loser] = [a for a in answers if a.status == 422]
        assert loser.code == "VALIDATION_ERROR" and "donor_code" in loser.body["errors"], loser.body
        assert len(db.session.scalars(select(Donor).where(Donor.donor_code == body["donor_code"])).all()) == 1
        _assert_dins_unique_and_gapless()
    assert_chain_linear()
