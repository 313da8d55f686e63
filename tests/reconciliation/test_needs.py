"""Each role's "needs you now" list on both databases: what is listed, where each item links,
and a query count that does not grow with the trial."""
from datetime import timedelta

from sqlalchemy import event

from cell_chain.accounts.services import user_by_username
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.reconciliation.needs import needs_for
from cell_chain.shipments import services
from tests.factories import make_donor, make_lot, released_lot, shippable_doses
from tests.reconciliation.conftest import dispense, enrol, ship, user


def kinds(actor, now):
    return [(n.kind, n.code, n.endpoint) for n in needs_for(actor, now)]


def counted(actor, now):
    assert actor.role and (actor.site_id or True)  # the reader is loaded before counting
    statements = []

    def count(*args):
        statements.append(args[2])

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        found = needs_for(actor, now)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return found, len(statements)


def test_coordinator_sees_visits_due_or_opening_soon_without_a_dose(clinic, clock):
    now = utcnow()
    due = enrol("LZ")                       # visit 1 due today
    enrol("LZ", days_ago=70)                # visit 2 opens in about a week
    enrol("LZ", days_ago=40)                # nothing within two weeks
    enrol("BJ")                             # another site's
    coordinator = user("lz-coordinator")
    found = needs_for(coordinator, now)
    assert [(n.kind, n.code, n.args["number"]) for n in found] == [
        ("visit_due", due.subject_id, 1), ("visit_opens", "LZ-0002", 2)]
    assert found[0].endpoint == "patient_pages.allocate"


def test_pharmacist_and_nurse_see_boxes_coming_doses_to_thaw_and_doses_waiting_at_the_ward(clinic, staff, clock):
    now = utcnow()
    coming = shippable_doses(staff, "LZ", lot_number="L-COMING")
    box = ship(staff, "LZ", coming, receive=False).shipment
    [given_late, frozen] = shippable_doses(staff, "LZ", count=2, lot_number="L-WARD")
    ship(staff, "LZ", [given_late, frozen], now=now - timedelta(hours=5))
    dispense(given_late, "LZ", now=now - timedelta(hours=3))
    pharmacist, nurse = user("lz-pharmacist"), user("lz-nurse")
    assert kinds(pharmacist, now) == [("box_coming", box.code, "shipment_pages.receive"),
                                      ("not_given", given_late.code, "shipment_pages.dose_page"),
                                      ("to_thaw", frozen.code, "shipment_pages.thaw")]
    assert kinds(nurse, now) == [("at_ward", given_late.code, "bedside_pages.scan")]
    assert needs_for(user("bj-pharmacist"), now) == [] and needs_for(user("bj-nurse"), now) == []
    # Dispensed under two hours ago: the nurse sees it, the pharmacist is not chased yet.
    assert "not_given" not in [k for k, _, _ in kinds(pharmacist, now - timedelta(hours=1, minutes=30))]


def test_qa_and_lab_see_lots_and_boxes_waiting_for_them(clinic, staff, clock):
    now = utcnow()
    empty = make_lot(staff, make_donor(staff, "D-EMPTY"), "L-EMPTY", doses=0, complete=False)
    waiting = make_lot(staff, make_donor(staff, "D-WAIT"), "L-WAIT")             # in quarantine
    unlabelled = released_lot(staff, "L-UNLABELLED", doses=2, verify_labels=False)
    draft = services.create_shipment(site_code="LZ", storage="cryo", actor=staff.lab, now=now)
    db.session.commit()
    lab = kinds(staff.lab, now)
    assert ("no_doses", empty.lot_number, "batches_pages.lot_page") in lab
    assert ("labels_unverified", unlabelled.lot_number, "batches_pages.lot_page") in lab
    assert ("box_open", draft.code, "shipment_pages.shipment_page") in lab
    assert ("no_doses", waiting.lot_number, "batches_pages.lot_page") not in lab
    assert kinds(staff.qa, now) == [("lot_to_release", waiting.lot_number, "batches_pages.lot_page")]
    assert needs_for(user("monitor"), now) is not None and needs_for(user_by_username("lz-coordinator"), now) == []


def test_query_count_does_not_grow_with_the_number_of_items(clinic, staff, clock):
    now = utcnow()
    enrol("LZ")
    coordinator = user("lz-coordinator")
    few, before = counted(coordinator, now)
    for _ in range(4):
        enrol("LZ")
    many, after = counted(coordinator, now)
    assert len(few) == 1 and len(many) == 5 and before == after
    for name in ("lz-pharmacist", "lz-nurse", "qa", "lab", "monitor"):
        reader = user_by_username(name)
        if reader is None:
            continue
        _, first = counted(reader, now)
        _, second = counted(reader, now)
        assert first == second and first <= 20, name


def test_home_pages_list_the_items_as_links_or_say_nothing_needs_them(app, clinic, staff, clock):
    from tests.pages import html, logged_in, section, text

    patient = enrol("LZ")
    page = html(logged_in(app, "lz-coordinator").get("/"))
    needs = section(page, "needs")
    assert f'href="/patients/{patient.subject_id}/visits/1/allocate"' in needs
    assert f"{patient.subject_id} visit 1: window open until" in text(needs) and "no dose allocated" in text(needs)
    assert "Nothing needs you right now." in text(section(html(logged_in(app, "bj-nurse").get("/")), "needs"))
