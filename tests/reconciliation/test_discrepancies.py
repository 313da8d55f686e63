"""Histories that produce every discrepancy code, each checked for its objects and words, and
the reports' numbers for the same trial by hand."""
from datetime import timedelta

import pytest

from cell_chain.accounts.services import user_by_username
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.reconciliation.discrepancies import Code, find_discrepancies, list_discrepancies
from cell_chain.reconciliation.lots import reconcile_lots
from cell_chain.reconciliation.patients import reconcile_patients
from cell_chain.reconciliation.scope import Scope
from cell_chain.reconciliation.sites import reconcile_sites
from tests.factories import shippable_doses
from tests.reconciliation.conftest import allocate, enrol, ship, troubled_trial


@pytest.fixture
def trial(clinic):
    return troubled_trial(clinic)


def by_code(found):
    grouped = {}
    for d in found:
        grouped.setdefault(d.code, []).append(d)
    return grouped


def refs(discrepancy):
    return {(o.type, o.id) for o in discrepancy.objects}


def test_every_code_once(trial):
    found = by_code(find_discrepancies(Scope(), now=trial["as_of"]))
    assert {code: len(items) for code, items in found.items()} == {code: 1 for code in Code}
    # listed in code order
    assert [d.code for d in find_discrepancies(Scope(), now=trial["as_of"])] == list(Code)

    [broken] = found[Code.CUSTODY_CHAIN_BROKEN]
    assert ("dose", trial["broken"].code) in refs(broken) and broken.site_code == "LZ"
    assert "handed over by courier:Wrong Courier but held by courier:ColdChain" in broken.explanation
    assert any(o.type == "custody_event" for o in broken.objects)

    [short] = found[Code.SHIPMENT_SHORT]
    assert refs(short) == {("shipment", str(trial["short"].id)), ("dose", trial["lost"].code)}
    assert short.site_code == "BJ" and f"without 1 of its 2 packed doses: {trial['lost'].code}" in short.explanation

    [over] = found[Code.SHIPMENT_OVER]
    assert refs(over) == {("shipment", str(trial["short"].id)), ("dose", trial["other"].code)}
    assert "was not packed in that shipment" in over.explanation

    [unexpected] = found[Code.SHIPMENT_UNEXPECTED_ITEM]
    assert ("scan", "NOT-A-DOSE-123") in refs(unexpected) and "“NOT-A-DOSE-123”" in unexpected.explanation

    [lookback] = found[Code.RECALLED_DOSE_ADMINISTERED]
    recalled = trial["recalled"]
    assert refs(lookback) == {("lot", str(recalled.lot.id)), ("dose", recalled.code), ("patient", "LZ-0001")}
    assert "Retained sample grew mycoplasma" in lookback.explanation and "lookback" in lookback.explanation

    [missed] = found[Code.VISIT_MISSED]
    subject = trial["missed_patient"].subject_id
    assert refs(missed) == {("patient", subject), ("visit", f"{subject}/1")} and missed.site_code == "LZ"

    [late] = found[Code.OUT_OF_WINDOW]
    assert refs(late) == {("patient", "LZ-0004"), ("visit", "LZ-0004/1"), ("dose", trial["late"].code)}
    assert "Patient was in hospital with pneumonia" in late.explanation

    [partial] = found[Code.PARTIAL_INFUSION]
    assert refs(partial) == {("patient", "LZ-0002"), ("visit", "LZ-0002/1"), ("dose", trial["partial"].code)}
    assert "received 30 ml" in partial.explanation

    [exposure] = found[Code.CONTROL_ARM_EXPOSURE]
    assert refs(exposure) == {("patient", trial["control"].subject_id), ("dose", trial["exposed"].code)}
    assert exposure.occurred_at is not None and exposure.occurred_at.tzinfo is not None

    [overdue] = found[Code.DISPENSED_NOT_ADMINISTERED]
    assert refs(overdue) == {("dose", trial["dispensed"].code), ("patient", "LZ-0003")}
    assert "3.0 h ago" in overdue.explanation

    [label] = found[Code.LABEL_NOT_VERIFIED]
    assert refs(label) == {("dose", trial["unlabelled"].doses[0].code)} and label.site_code is None
    assert "bag label" in label.explanation and "never scanned back" in label.explanation

    [site] = found[Code.SITE_IMBALANCE]
    assert refs(site) == {("site", "LZ")} and "1 dose(s) unaccounted for" in site.explanation

    [lot] = found[Code.LOT_IMBALANCE]
    assert refs(lot) == {("lot", str(trial["orphan"].lot.id))} and "1 dose(s) unaccounted for" in lot.explanation


def test_thresholds_in_time(trial):
    """The dispensed dose is overdue only after DISPENSE_OVERDUE_MINUTES; the printed label
    only after a day."""
    early = by_code(find_discrepancies(Scope(), now=trial["now"] + timedelta(minutes=119)))
    assert Code.DISPENSED_NOT_ADMINISTERED not in early
    assert Code.DISPENSED_NOT_ADMINISTERED in by_code(find_discrepancies(Scope(), now=trial["now"] + timedelta(minutes=121)))
    printed_at = trial["now"] - timedelta(days=2)
    assert Code.LABEL_NOT_VERIFIED not in by_code(find_discrepancies(Scope(), now=printed_at + timedelta(hours=23)))


def test_site_staff_see_their_own_site_only(trial):
    bj = {d.code for d in list_discrepancies(user_by_username("bj-pharmacist"), trial["as_of"])}
    assert bj == {Code.SHIPMENT_SHORT, Code.SHIPMENT_OVER, Code.SHIPMENT_UNEXPECTED_ITEM}
    lz = list_discrepancies(user_by_username("lz-coordinator"), trial["as_of"])
    assert {d.site_code for d in lz} == {"LZ"}
    assert {d.code for d in lz} == set(Code) - bj - {Code.LABEL_NOT_VERIFIED, Code.LOT_IMBALANCE}
    everything = list_discrepancies(user_by_username("monitor"), trial["as_of"])
    assert len(everything) == len(Code)


def test_reports_of_the_troubled_trial_by_hand(trial):
    as_of = trial["as_of"]
    sites = {line.site_code: line for line in reconcile_sites(Scope(), now=as_of).sites}
    lz, bj = sites["LZ"], sites["BJ"]
    # received 6; given 3 (L-RECALL, L-PART, L-OOW); on hand 2 (L-DISP at the ward, L-CHAIN);
    # the L-CTRL dose's custody ends in a control patient without an infusion record
    assert (lz.received, lz.administered, lz.destroyed, lz.returned, lz.on_hand, lz.at_ward) == (6, 3, 0, 0, 2, 1)
    assert lz.imbalance == 1 and not lz.balanced
    assert (bj.received, bj.on_hand, bj.missing_at_receipt, bj.in_transit, bj.imbalance) == (1, 1, 1, 1, 0)

    totals = {t.site_code: t.counts for t in reconcile_patients(Scope(), now=as_of).sites}
    assert {k: totals["LZ"][k] for k in ("patients", "msc_patients", "control_patients", "planned", "administered",
                                         "administered_in_window", "partial", "administered_out_of_window",
                                         "missed", "at_site", "pending", "grade_0", "grade_2")} == {
        "patients": 8, "msc_patients": 7, "control_patients": 1, "planned": 28, "administered": 3,
        "administered_in_window": 1, "partial": 1, "administered_out_of_window": 1, "missed": 1, "at_site": 3,
        "pending": 21, "grade_0": 2, "grade_2": 1}
    # BJ-0001's dose is still travelling; BJ-0003's went missing at receipt (its status says in transit)
    assert {k: totals["BJ"][k] for k in ("planned", "in_transit", "at_site", "pending")} == {
        "planned": 12, "in_transit": 2, "at_site": 1, "pending": 9}

    lots = {line.lot_number: line for line in reconcile_lots(Scope(), now=as_of).lots}
    orphan = lots["L-ORPHAN"]
    assert (orphan.prepared, orphan.administered, orphan.in_stock, orphan.imbalance) == (1, 0, 0, 1)
    assert lots["L-CTRL"].in_stock_by_location == {"elsewhere": 1} and lots["L-CTRL"].balanced
    assert lots["L-BOX"].in_stock_by_location == {"BJ": 1, "in_transit": 1}
    assert lots["L-LABEL"].in_stock_by_location == {"lab": 1} and lots["L-LABEL"].status == "quarantine"
    assert (lots["L-RECALL"].status, lots["L-RECALL"].administered) == ("recalled", 1)
    assert [line.lot_number for line in lots.values() if not line.balanced] == ["L-ORPHAN"]


def test_label_never_verified_when_a_dose_left_the_lab_unverified(clinic):
    staff = clinic
    [dose] = shippable_doses(staff, "LZ", lot_number="L-SHIPPED")
    ship(staff, "LZ", [dose])
    from cell_chain.patients.allocation import active_allocation_of_dose

    # As if the verification were never recorded (the services refuse to pack such a dose):
    # the report must still catch it.
    from cell_chain.core import audit

    allocation = active_allocation_of_dose(dose)
    allocation.assignment_label_verified_at = None
    audit.record_change(allocation, "allocation.corrected", actor=staff.qa, at=utcnow(), reason="data fix")
    db.session.commit()
    [label] = find_discrepancies(Scope(), now=utcnow())
    assert label.code == Code.LABEL_NOT_VERIFIED and label.site_code == "LZ"
    assert "left the lab without its assignment label scanned back" in label.explanation


def test_an_assignment_label_printed_and_never_scanned(clinic):
    staff = clinic
    from tests.factories import released_lot

    earlier = utcnow() - timedelta(days=3)
    dose = released_lot(staff, "L-ASSIGN", doses=1).doses[0]
    patient = enrol("BJ", now=earlier)
    allocate(patient, dose, now=earlier, label=False)
    from cell_chain.labels.services import print_labels
    from tests.reconciliation.conftest import user

    print_labels(kind="assignment", target=dose.code, fmt="zpl", reason=None, override=None,
                 actor=user("bj-coordinator"), now=earlier)
    db.session.commit()
    [label] = find_discrepancies(Scope(), now=utcnow())
    assert label.code == Code.LABEL_NOT_VERIFIED and label.site_code == "BJ"
    assert refs(label) == {("dose", dose.code), ("patient", patient.subject_id)}
    assert "assignment label" in label.explanation


def test_a_missed_visit_with_its_dose_still_allocated_says_what_to_do_with_the_dose(clinic):
    """The missed-visit words name the dose left allocated and its state (found at 100× the
    trial: the state's words were looked up through a name the query had taken)."""
    from tests.factories import released_lot

    now = utcnow()
    dose = released_lot(clinic, "L-MISS", doses=1).doses[0]
    # missed once the next visit's window has opened (about 76 days after enrolment)
    patient = enrol("LZ", now=now - timedelta(days=100))
    allocate(patient, dose, now=now - timedelta(days=100))
    db.session.commit()
    [missed] = [d for d in find_discrepancies(Scope(), now=now) if d.code == Code.VISIT_MISSED]
    assert ("dose", dose.code) in refs(missed)
    assert f"passed without a dose. Its dose {dose.code} is allocated: give it to another visit" in missed.explanation
