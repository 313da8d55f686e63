"""Pure rules: no database."""
from datetime import UTC, date, datetime

import pytest

from cell_chain.batches import workflow as wf
from cell_chain.core.errors import InvalidTransition

ALL = ("a", "b", "c")


def fact(marker: str, result: str = "non_reactive", tested_on: date = date(2026, 3, 10)) -> wf.ScreeningFact:
    return wf.ScreeningFact(marker, result, tested_on)


@pytest.mark.parametrize("days, counts", [(-8, False), (-7, True), (0, True), (7, True), (8, False)])
def test_screening_counts_only_within_7_days_of_collection(days, counts):
    collected = date(2026, 3, 10)
    assert wf.screening_counts(fact("a", tested_on=date.fromordinal(collected.toordinal() + days)), collected) is counts


def test_all_non_reactive_is_eligible_and_missing_is_undetermined():
    collected = date(2026, 3, 10)
    assert wf.eligibility_outcome([fact(m) for m in ALL], collected, ALL) == ("eligible", [])
    assert wf.eligibility_outcome([fact("a")], collected, ALL) == (None, ["b", "c"])


@pytest.mark.parametrize("result", ["reactive", "indeterminate"])
def test_reactive_or_indeterminate_is_ineligible(result):
    assert wf.eligibility_outcome([fact("a"), fact("b", result)], date(2026, 3, 10), ALL)[0] == "ineligible"


def test_out_of_window_reactive_does_not_count_either_way():
    collected = date(2026, 3, 10)
    facts = [fact(m) for m in ALL] + []
    late_reactive = [fact("a", "reactive", date(2026, 4, 1)), fact("b"), fact("c")]
    assert wf.eligibility_outcome(facts, collected, ALL)[0] == "eligible"
    assert wf.eligibility_outcome(late_reactive, collected, ALL) == (None, ["a"])


@pytest.mark.parametrize("test, value, passed", [
    ("endotoxin_eu_ml", 0.5, True), ("endotoxin_eu_ml", 0.51, False),
    ("viability_pct", 80, True), ("viability_pct", 79.9, False),
    ("cd73_pct", 95, True), ("cd73_pct", 94.99, False),
    ("hla_dr_pct", 2, True), ("hla_dr_pct", 2.01, False),
    ("sterility", "no_growth", True), ("sterility", "growth", False),
    ("mycoplasma", "detected", False), ("karyotype", "abnormal", False),
])
def test_pass_fail_is_computed_from_the_spec(test, value, passed):
    assert wf.result_passes(wf.DEFAULT_SPEC[test], wf.parse_result_value(test, value)) is passed


@pytest.mark.parametrize("test, value", [
    ("sterility", "pass"), ("sterility", 1), ("viability_pct", "high"), ("viability_pct", -1),
    ("viability_pct", 101), ("endotoxin_eu_ml", "nan"), ("endotoxin_eu_ml", "inf"), ("cd73_pct", True),
])
def test_bad_values_are_refused(test, value):
    with pytest.raises(ValueError):
        wf.parse_result_value(test, value)


def test_release_blockers_list_every_reason_in_order():
    blockers = wf.release_blockers(lot_status="in_process", donor_status="registered",
                                   spec={"sterility": {"equals": "no_growth"}, "viability_pct": {"min": 80}},
                                   results={"viability_pct": 70.0}, accepted_doses=0)
    assert [b.key for b in blockers] == ["LOT_NOT_IN_QUARANTINE", "DONOR_NOT_DETERMINED",
                                         "TEST_MISSING:sterility", "TEST_FAILED:viability_pct", "NO_DOSES"]


@pytest.mark.parametrize("cells, volume, viability, reasons", [
    (4.0e7, 40, 90, 0), (3.6e7, 38, 80, 0), (4.4e7, 42, 80, 0),
    (3.59e7, 40, 90, 1), (4.41e7, 40, 90, 1), (4.0e7, 37.9, 90, 1), (4.0e7, 42.1, 90, 1),
    (4.0e7, 40, 79, 1), (1e6, 10, 10, 3),
])
def test_dose_tolerance(cells, volume, viability, reasons):
    assert len(wf.dose_rejection_reasons(cells, volume, viability, wf.DoseTolerance())) == reasons


def test_expiry_fresh_72_hours_cryo_24_calendar_months():
    prepared = datetime(2026, 8, 31, 10, 0, tzinfo=UTC)
    assert wf.dose_expiry(prepared, shelf_life_hours=72, shelf_life_months=None) == datetime(2026, 9, 3, 10, 0, tzinfo=UTC)
    assert wf.dose_expiry(prepared, shelf_life_hours=None, shelf_life_months=24) == datetime(2028, 8, 31, 10, 0, tzinfo=UTC)
    assert wf.add_months(datetime(2027, 12, 31, tzinfo=UTC), 2) == datetime(2028, 2, 29, tzinfo=UTC)


def test_lot_lifecycle_refuses_skipping_states():
    assert wf.LOT_LIFECYCLE.next_state("complete", "in_process") == "quarantine"
    with pytest.raises(InvalidTransition):
        wf.LOT_LIFECYCLE.next_state("release", "in_process")
    with pytest.raises(InvalidTransition):
        wf.LOT_LIFECYCLE.next_state("recall", "quarantine")
    assert wf.LOT_LIFECYCLE.actions_from("quarantine") == ["enter_result", "prepare_dose", "release", "reject"]
    assert wf.LOT_LIFECYCLE.actions_for("quarantine", "qa") == ["release", "reject"]
    assert wf.LOT_LIFECYCLE.actions_for("quarantine", "lab") == ["enter_result", "prepare_dose"]
    assert wf.LOT_LIFECYCLE.actions_for("released", "lab") == []


def test_divisions_are_unique_within_676_doses():
    assert wf.division_for(1) == "Aa" and wf.division_for(27) == "Ba"
    assert len({wf.division_for(n) for n in range(1, 677)}) == 676


# ---- what QA reads first before signing ---------------------------------------------------------

@pytest.mark.parametrize(("test", "value", "outcome"), [
    ("viability_pct", 79.9, "fail"), ("viability_pct", 80.0, "borderline"), ("viability_pct", 84.9, "borderline"),
    ("viability_pct", 85.0, "pass"), ("endotoxin_eu_ml", 0.45, "borderline"), ("endotoxin_eu_ml", 0.4, "pass"),
    ("endotoxin_eu_ml", 0.51, "fail"), ("cd34_pct", 1.6, "borderline"), ("cd73_pct", 95.5, "borderline"),
    ("sterility", "no_growth", "pass"), ("sterility", "growth", "fail"),
])
def test_a_result_near_its_limit_passes_but_is_borderline(test, value, outcome):
    from cell_chain.batches.workflow import DEFAULT_SPEC, result_outcome

    assert result_outcome(test, DEFAULT_SPEC[test], value) == outcome


def test_missing_and_unspecified_results_are_said_apart():
    from cell_chain.batches.workflow import DEFAULT_SPEC, EVIDENCE_ORDER, result_outcome

    assert result_outcome("viability_pct", DEFAULT_SPEC["viability_pct"], None) == "missing"
    assert result_outcome("potency", None, 3.0) == "unspecified"
    assert EVIDENCE_ORDER.index("fail") < EVIDENCE_ORDER.index("missing") < EVIDENCE_ORDER.index("borderline") \
        < EVIDENCE_ORDER.index("pass")
