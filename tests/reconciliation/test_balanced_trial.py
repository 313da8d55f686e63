"""A trial in which every record agrees: each report's numbers as computed by hand, and no
discrepancy at all."""
from datetime import timedelta

import pytest

from cell_chain.reconciliation.discrepancies import find_discrepancies
from cell_chain.reconciliation.lots import reconcile_lots
from cell_chain.reconciliation.patients import TOTAL_FIELDS, reconcile_patients
from cell_chain.reconciliation.scope import Scope
from cell_chain.reconciliation.sites import reconcile_sites
from tests.reconciliation.conftest import balanced_trial


@pytest.fixture
def trial(clinic):
    built = balanced_trial(clinic)
    built["as_of"] = built["now"] + timedelta(hours=1)
    return built


def zeros(**counts):
    return {name: 0 for name in TOTAL_FIELDS} | counts


def test_patients_report_by_hand(trial):
    report = reconcile_patients(Scope(), now=trial["as_of"])
    by_site = {s.site_code: s.counts for s in report.sites}
    # LZ-0001 given (grade 1); LZ-0002's dose destroyed (visit waits for another: pending);
    # LZ-0003's dose at the site; LZ-0004's dose in transit; every later visit pending.
    assert by_site["LZ"] == zeros(patients=4, msc_patients=4, planned=16, administered=1, administered_in_window=1,
                                  pending=13, in_transit=1, at_site=1, grade_1=1)
    # BJ-0001 given with an SAE (grade 3); BJ-0002 withdrawn: four visits skipped; BJ-0003 control.
    assert by_site["BJ"] == zeros(patients=3, msc_patients=2, control_patients=1, withdrawn=1, planned=8,
                                  administered=1, administered_in_window=1, skipped=4, pending=3,
                                  serious_adverse_events=1, grade_3=1)
    assert report.total.counts == {k: by_site["LZ"][k] + by_site["BJ"][k] for k in TOTAL_FIELDS}
    assert report.total_patients == 7
    lines = {p.subject_id: p for p in report.patients}
    assert list(lines) == sorted(lines)
    first = lines["LZ-0001"]
    assert (first.planned, first.administered) == (4, 1)
    visit = first.visits[0]
    assert (visit.schedule_state, visit.outcome, visit.dose_code, visit.lot_number, visit.din) == (
        "done", "administered_in_window", trial["given"].code, "L-ONE", trial["given"].lot.din)
    assert visit.infusion.tolerance_grade == 1 and not visit.infusion.serious and not visit.infusion.partial
    assert [(s.printed_name, s.meaning) for s in visit.infusion.signatures] == [
        ("Nurse LZ", "Administered"), ("Second Nurse LZ", "Witnessed")]
    assert [v.outcome for v in first.visits[1:]] == ["pending"] * 3
    assert [v.schedule_state for v in first.visits[1:]] == ["upcoming"] * 3
    assert lines["LZ-0002"].visits[0].dose_status == "destroyed"
    assert lines["LZ-0003"].visits[0].outcome == "at_site"
    assert lines["LZ-0004"].visits[0].outcome == "in_transit"
    sae = lines["BJ-0001"].visits[0].infusion
    assert sae.serious and sae.tolerance_grade == 3 and sae.adverse_events == "Anaphylaxis, resolved"
    withdrawn = lines["BJ-0002"]
    assert withdrawn.status == "withdrawn" and [v.outcome for v in withdrawn.visits] == ["skipped"] * 4
    assert withdrawn.visits[0].skip_reason == "patient withdrawn"
    assert [(s.printed_name, s.meaning) for s in withdrawn.withdrawal_signatures] == [("Coordinator BJ", "Withdrawn")]
    control = lines["BJ-0003"]
    assert control.arm == "control" and control.visits == [] and control.planned == 0


@pytest.mark.parametrize("streamed", [False, True])
def test_whole_report_totals_added_from_its_rows_equal_the_grouped_statement(trial, streamed):
    """The whole report adds its totals up from the visits it reads; a page has them counted
    by a statement of their own. Both say the same, for every measure and site."""
    page = reconcile_patients(Scope(), now=trial["as_of"], limit=1)
    whole = reconcile_patients(Scope(), now=trial["as_of"], streamed=streamed)
    read = list(whole.patients)
    assert len(read) == 7
    assert [(s.site_code, s.counts) for s in whole.sites] == [(s.site_code, s.counts) for s in page.sites]
    assert whole.total.counts == page.total.counts
    assert whole.total.counts["planned"] == 24 and whole.total.counts["skipped"] == 4


def test_patients_report_page_and_site(trial):
    page = reconcile_patients(Scope(), now=trial["as_of"], limit=2, offset=3)
    assert [p.subject_id for p in page.patients] == ["LZ-0001", "LZ-0002"]
    assert page.total_patients == 7 and page.total.counts["planned"] == 24  # totals cover the scope
    site = trial["in_transit_patient"].site
    only_lz = reconcile_patients(Scope(site.id, site.code), now=trial["as_of"])
    assert [p.subject_id for p in only_lz.patients] == ["LZ-0001", "LZ-0002", "LZ-0003", "LZ-0004"]
    assert [s.site_code for s in only_lz.sites] == ["LZ"] and only_lz.total.counts["patients"] == 4


def test_sites_report_by_hand(trial):
    report = reconcile_sites(Scope(), now=trial["as_of"])
    by_site = {line.site_code: line for line in report.sites}
    lz, bj = by_site["LZ"], by_site["BJ"]
    assert (lz.received, lz.administered, lz.destroyed, lz.returned, lz.on_hand) == (3, 1, 1, 0, 1)
    assert (lz.at_ward, lz.quarantined, lz.expired_awaiting_destruction) == (0, 0, 0)
    assert (lz.in_transit, lz.missing_at_receipt) == (1, 0)
    assert (bj.received, bj.administered, bj.destroyed, bj.returned, bj.on_hand, bj.in_transit) == (2, 1, 0, 1, 0, 0)
    assert lz.balanced and bj.balanced and lz.imbalance == 0
    total = report.total
    assert (total.received, total.administered, total.destroyed, total.returned, total.on_hand) == (5, 2, 1, 1, 1)
    assert total.balanced and total.site_code is None
    signed = sorted((s.record, s.printed_name, s.meaning) for s in report.signatures)
    codes = {trial["destroyed"].code: "destroyed", trial["returned"].code: "returned"}
    assert [(codes.get(r, "shipment"), n, m) for r, n, m in signed if r in codes] == sorted([
        ("destroyed", "Pharmacist LZ", "Destroyed"), ("destroyed", "Nurse LZ", "Witnessed"),
        ("returned", "Pharmacist BJ", "Returned")])
    assert sorted((n, m) for r, n, m in signed if r not in codes) == [
        ("Pharmacist BJ", "Received"), ("Pharmacist LZ", "Received")]


def test_sites_report_counts_expired_stock(trial):
    # a year and more later the cryopreserved dose left on hand has expired: still on hand,
    # awaiting destruction, and the balance still holds
    later = reconcile_sites(Scope(), now=trial["on_hand"].expires_at)
    lz = next(line for line in later.sites if line.site_code == "LZ")
    assert (lz.on_hand, lz.expired_awaiting_destruction) == (1, 1) and lz.balanced
    before = reconcile_sites(Scope(), now=trial["on_hand"].expires_at - timedelta(minutes=1))
    assert next(line for line in before.sites if line.site_code == "LZ").expired_awaiting_destruction == 0


def test_lots_report_by_hand(trial):
    report = reconcile_lots(Scope(), now=trial["as_of"])
    by_lot = {line.lot_number: line for line in report.lots}
    assert list(by_lot) == ["L-LAB", "L-ONE", "L-TWO"] and report.total_lots == 3

    def counts(line):
        return (line.prepared, line.rejected_at_fill, line.administered, line.destroyed, line.returned, line.in_stock)

    assert counts(by_lot["L-ONE"]) == (3, 0, 1, 1, 0, 1) and by_lot["L-ONE"].in_stock_by_location == {"LZ": 1}
    assert counts(by_lot["L-TWO"]) == (2, 0, 1, 0, 1, 0) and by_lot["L-TWO"].in_stock_by_location == {}
    assert counts(by_lot["L-LAB"]) == (3, 1, 0, 0, 0, 2)
    assert by_lot["L-LAB"].in_stock_by_location == {"in_transit": 1, "lab": 1}
    assert all(line.balanced for line in report.lots)
    assert counts(report.total) == (8, 1, 2, 1, 1, 3) and report.total.balanced
    assert report.total.in_stock_by_location == {"LZ": 1, "in_transit": 1, "lab": 1}
    assert [(s.printed_name, s.meaning) for s in by_lot["L-ONE"].signatures] == [("Qian QA", "Released")]


def test_no_discrepancy_when_everything_balances(trial):
    assert find_discrepancies(Scope(), now=trial["as_of"]) == []
