"""Racing writers on a real database: DINs are never issued twice."""
import threading
from datetime import timedelta

from sqlalchemy import select

from cell_chain.accounts.models import User
from cell_chain.batches import services
from cell_chain.batches.models import Donor, Lot
from cell_chain.core.audit_chain import verify_chain
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from tests.factories import make_donor

THREADS, EACH = 6, 4


def test_concurrent_lot_creation_never_reuses_a_din(app, staff):
    donor_id = make_donor(staff).id
    lab_id = staff.lab.id
    # End this session's transaction: on SQLite an open one holds the write lock.
    db.session.rollback()
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            with app.app_context():
                barrier.wait(timeout=10)
                actor = db.session.get(User, lab_id)
                for i in range(EACH):
                    now = utcnow()
                    donor = db.session.get(Donor, donor_id)
                    services.create_lot(donor=donor, lot_number=f"L-{n}-{i}", manufactured_on=now.date(),
                                        passage=2, presentation="fresh", actor=actor, now=now)
                    services.register_donor(donor_code=f"D-{n}-{i}", collected_on=now.date() - timedelta(days=1),
                                            actor=actor, now=now)
                    db.session.commit()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    db.session.expire_all()
    dins = list(db.session.scalars(select(Lot.din))) + list(db.session.scalars(select(Donor.din)))
    assert len(dins) == 2 * THREADS * EACH + 1
    assert len(set(dins)) == len(dins)
    sequences = sorted(int(d[-6:]) for d in dins)
    assert sequences == list(range(1, len(dins) + 1))  # no gaps, no repeats
    assert verify_chain().ok  # concurrent audit writes kept the chain linear
