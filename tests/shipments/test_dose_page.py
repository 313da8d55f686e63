"""The dose page: one dose's record read-only, from any dose-code link, within the reader's site."""
from sqlalchemy import event

from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.reconciliation.dose_record import dose_record
from cell_chain.shipments import services
from tests.factories import shippable_doses
from tests.pages import html, section, text
from tests.shipments.conftest import dispatched, packed


def test_the_dose_page_shows_state_lot_custody_labels_patient_and_history_in_words(as_user, staff):
    first, second = shippable_doses(staff, count=2)
    shipment = packed(staff, [first, second])
    services.unpack_dose(shipment, dose_code=second.code, reason="Packed into the wrong box", actor=staff.lab,
                         now=utcnow())
    db.session.commit()
    dispatched_box = dispatched(staff, [second])
    lab = as_user("lab")
    # The shipment page links each dose code to its page.
    assert f'href="/doses/{second.code}"' in html(lab.get(f"/shipments/{dispatched_box.id}"))

    page = html(lab.get(f"/doses/{second.code.lower()}"))
    assert f"Dose {second.code}" in text(page) and "In transit" in text(page)
    assert "Held now by: Courier ColdChain Express" in text(page)
    summary = text(page)
    assert second.lot.lot_number in summary and second.lot.din in summary and second.lot.donor.donor_code in summary
    assert "visit 1" in section_text_of(page, "allocation")
    labels = section_text_of(page, "labels")
    assert labels.count("Verified") == 2 and "Assignment label" in labels
    assert "Dispatched to courier" in section_text_of(page, "custody") and dispatched_box.code in section_text_of(page, "custody")
    history = section_text_of(page, "history")
    for words in ("Allocated to a patient's visit", "Packed into a shipment", "Taken out of a shipment before dispatch",
                  "Reason: Packed into the wrong box", "Dispatched"):
        assert words in history, words
    assert "dose.unpacked" not in history and "shipment.dose_removed" not in history
    # One act, one line: allocating writes an event for the allocation and one for the dose,
    # packing one for the box's item and one for the dose.
    assert history.count("Allocated to a patient's visit") == 1
    assert history.count("Packed into a shipment") == 2  # the first box, then the box it left in
    assert history.count("Taken out of a shipment before dispatch") == 1


def section_text_of(page, ident):
    return text(section(page, ident))


def test_site_staff_see_only_their_sites_doses_and_nobody_can_change_anything_here(as_user, staff):
    [lz_dose] = shippable_doses(staff, "LZ", lot_number="L-LZ")
    [bj_dose] = shippable_doses(staff, "BJ", lot_number="L-BJ")
    assert as_user("lz-coordinator").get(f"/doses/{lz_dose.code}").status_code == 200
    assert as_user("lz-pharmacist").get(f"/doses/{bj_dose.code}").status_code == 404
    assert as_user("lz-nurse").get("/doses/NO-SUCH-DOSE").status_code == 404
    page = html(as_user("qa").get(f"/doses/{bj_dose.code}"))
    assert "<form" not in page.split('<main id="main">')[1]  # read-only: no form on the page itself


def test_the_dose_record_costs_the_same_queries_however_long_the_doses_life(app, staff, sites):
    [young] = shippable_doses(staff, lot_number="L-YOUNG")
    [old] = shippable_doses(staff, lot_number="L-OLD")
    dispatched(staff, [old])
    counts = []
    for dose in (young, old):
        db.session.expire_all()
        assert staff.lab.site_id is None  # the reader loaded before counting
        statements = []

        def count(*args):
            statements.append(args[2])

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            record = dose_record(dose.code, actor=staff.lab)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        counts.append(len(statements))
    assert len(record.history) > 5 and record.chain
    assert counts[0] == counts[1] and counts[1] <= 14, counts
