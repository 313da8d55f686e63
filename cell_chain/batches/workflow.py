"""Donor, lot and dose life cycles and the pure guards behind eligibility, release and dose
acceptance. No database access here: every rule takes its facts and `now`."""
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from cell_chain.accounts.roles import Role
from cell_chain.core.messages import Message, _l, state
from cell_chain.core.workflow import PREVIOUS, SAME, lifecycle

LAB, QA = Role.LAB, Role.QA
PHARMACIST, NURSE, COORDINATOR = Role.PHARMACIST, Role.NURSE, Role.COORDINATOR

DONOR_LIFECYCLE = lifecycle("donor", [
    ("enter_screening", {"registered"}, SAME, {LAB}),
    ("start_lot", {"registered", "eligible"}, SAME, {LAB}),
    ("determine_eligible", {"registered"}, "eligible", {QA}),
    ("determine_ineligible", {"registered"}, "ineligible", {QA}),
])

LOT_LIFECYCLE = lifecycle("lot", [
    # Results may be entered and corrected, and doses filled, while the lot is made or tested.
    ("enter_result", {"in_process", "quarantine"}, SAME, {LAB}),
    ("prepare_dose", {"in_process", "quarantine"}, SAME, {LAB}),
    ("complete", {"in_process"}, "quarantine", {LAB}),
    ("release", {"quarantine"}, "released", {QA}),
    ("reject", {"in_process", "quarantine"}, "rejected", {QA}),
    ("recall", {"released"}, "recalled", {QA}),
])

# Doses not yet in a patient and not already out of use; recall and excursions quarantine them.
QUARANTINABLE = frozenset({"prepared", "available", "allocated", "packed", "in_transit",
                           "received", "dispensed", "returned"})
# What a site pharmacy may destroy or send back.
DISPOSABLE = frozenset({"received", "quarantined", "dispensed"})
# A dose's whole life, from fill to its end. Quarantine remembers where the dose was; lifting
# it returns the dose there.
DOSE_LIFECYCLE = lifecycle("dose", [
    ("make_available", {"prepared"}, "available", {LAB, QA}),
    ("allocate", {"available"}, "allocated", {COORDINATOR, LAB}),
    ("deallocate", {"allocated"}, "available", {COORDINATOR, LAB}),
    ("pack", {"allocated"}, "packed", {LAB}),
    # Taken out of a box before dispatch: back to where packing found it.
    ("unpack", {"packed"}, "allocated", {LAB}),
    ("dispatch", {"packed"}, "in_transit", {LAB}),
    ("receive", {"in_transit"}, "received", {PHARMACIST}),
    ("thaw", {"received"}, SAME, {PHARMACIST}),
    ("dispense", {"received"}, "dispensed", {PHARMACIST}),
    # Only from the ward's custody: a dose still in the pharmacy was never handed to the nurse.
    ("administer", {"dispensed"}, "administered", {NURSE}),
    # The infusion began before a recall or excursion quarantined the dose: it is in the patient.
    ("administer_quarantined", {"quarantined"}, "administered", {NURSE}),
    ("destroy", DISPOSABLE, "destroyed", {PHARMACIST}),
    ("return", DISPOSABLE, "returned", {PHARMACIST}),
    # Consequences of a recall, a rejected lot, a broken seal or an excursion, whoever acts.
    ("quarantine", QUARANTINABLE, "quarantined", set()),
    ("lift_quarantine", {"quarantined"}, PREVIOUS, {QA}),
], previous_field="status_before_quarantine")

SCREENING_WINDOW = timedelta(days=7)


# ---- donor eligibility (21 CFR 1271.80, 1271.85) -----------------------------------------

@dataclass(frozen=True)
class ScreeningFact:
    marker: str
    result: str
    tested_on: date


def screening_counts(fact: ScreeningFact, collected_on: date) -> bool:
    """A cord donor's specimen (the birth mother's) counts only within 7 days of collection."""
    return abs(fact.tested_on - collected_on) <= SCREENING_WINDOW


def eligibility_outcome(facts: Iterable[ScreeningFact], collected_on: date,
                        markers: Iterable[str]) -> tuple[str | None, list[str]]:
    """('eligible' | 'ineligible' | None, missing markers). Any counting reactive or
    indeterminate result makes the donor ineligible; otherwise every marker must be present."""
    counting = {f.marker: f for f in facts if screening_counts(f, collected_on)}
    if any(f.result != "non_reactive" for f in counting.values()):
        return "ineligible", []
    missing = [m for m in markers if m not in counting]
    return (None, missing) if missing else ("eligible", [])


# ---- release specification ---------------------------------------------------------------

QUALITATIVE_VALUES = {
    "sterility": ("no_growth", "growth"),
    "mycoplasma": ("not_detected", "detected"),
    "karyotype": ("normal", "abnormal"),
}

DEFAULT_SPEC: dict[str, dict[str, Any]] = {
    "sterility": {"equals": "no_growth"},
    "mycoplasma": {"equals": "not_detected"},
    "endotoxin_eu_ml": {"max": 0.5},
    "viability_pct": {"min": 80},
    "cd73_pct": {"min": 95},
    "cd90_pct": {"min": 95},
    "cd105_pct": {"min": 95},
    "cd34_pct": {"max": 2},
    "cd45_pct": {"max": 2},
    "cd14_pct": {"max": 2},
    "cd19_pct": {"max": 2},
    "hla_dr_pct": {"max": 2},
    "karyotype": {"equals": "normal"},
}
TESTS = tuple(DEFAULT_SPEC)


def parse_result_value(test: str, value: Any) -> str | float:
    """The value as the spec compares it. Raises ValueError with a message for the user."""
    if test in QUALITATIVE_VALUES:
        if value not in QUALITATIVE_VALUES[test]:
            raise ValueError(f"{test} is one of: {', '.join(QUALITATIVE_VALUES[test])}.")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{test} is a number.")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{test} is a number.") from None
    if number != number or number in (float("inf"), float("-inf")) or number < 0:
        raise ValueError(f"{test} must be a finite number, zero or more.")
    if test.endswith("_pct") and number > 100:
        raise ValueError(f"{test} is a percentage (0–100).")
    return number


def result_passes(limit: Mapping[str, Any], value: str | float) -> bool:
    """The system computes pass/fail from the spec; nobody types "pass"."""
    if "equals" in limit:
        return value == limit["equals"]
    if not isinstance(value, float):
        return False
    return ("min" not in limit or value >= limit["min"]) and ("max" not in limit or value <= limit["max"])


# How close to its limit a passing numeric result is "borderline": it passes, but QA should
# look at it before signing (the release itself is decided by result_passes alone).
BORDERLINE_MARGINS: dict[str, float] = {
    "endotoxin_eu_ml": 0.1, "viability_pct": 5.0,
    "cd73_pct": 1.0, "cd90_pct": 1.0, "cd105_pct": 1.0,
    "cd34_pct": 0.5, "cd45_pct": 0.5, "cd14_pct": 0.5, "cd19_pct": 0.5, "hla_dr_pct": 0.5,
}
# The order QA reads the evidence in: what blocks first, then what deserves a second look.
EVIDENCE_ORDER = ("fail", "missing", "borderline", "unspecified", "pass")


def is_borderline(test: str, limit: Mapping[str, Any], value: str | float) -> bool:
    """A passing numeric result within its test's margin of a limit."""
    margin = BORDERLINE_MARGINS.get(test)
    if margin is None or not isinstance(value, float) or not result_passes(limit, value):
        return False
    return (("min" in limit and value < limit["min"] + margin)
            or ("max" in limit and value > limit["max"] - margin))


def result_outcome(test: str, limit: Mapping[str, Any] | None, value: str | float | None) -> str:
    """'missing', 'unspecified' (not on the specification), 'fail', 'borderline' or 'pass'."""
    if value is None:
        return "missing"
    if limit is None:
        return "unspecified"
    if not result_passes(limit, value):
        return "fail"
    return "borderline" if is_borderline(test, limit, value) else "pass"


def describe_limit(limit: Mapping[str, Any]) -> str:
    if "equals" in limit:
        return str(limit["equals"]).replace("_", " ")
    parts = []
    if "min" in limit:
        parts.append(f"≥ {limit['min']:g}")
    if "max" in limit:
        parts.append(f"≤ {limit['max']:g}")
    return " and ".join(parts)


# ---- lot release readiness ---------------------------------------------------------------

@dataclass(frozen=True)
class Blocker:
    code: str
    message: Message
    test: str | None = None

    @property
    def key(self) -> str:
        return f"{self.code}:{self.test}" if self.test else self.code


def release_blockers(*, lot_status: str, donor_status: str, spec: Mapping[str, Mapping[str, Any]],
                     results: Mapping[str, str | float], accepted_doses: int) -> list[Blocker]:
    """Every reason the lot cannot be released now, in a fixed order."""
    blockers: list[Blocker] = []
    if lot_status != "quarantine":
        blockers.append(Blocker("LOT_NOT_IN_QUARANTINE",
                                _l("The lot is %(status)s; only a lot in quarantine is released.",
                                   status=state(lot_status))))
    if donor_status == "ineligible":
        blockers.append(Blocker("DONOR_INELIGIBLE", _l("The donor is ineligible: this lot can never be released.")))
    elif donor_status != "eligible":
        blockers.append(Blocker("DONOR_NOT_DETERMINED", _l("QA has not determined the donor eligible.")))
    for test, limit in spec.items():
        if test not in results:
            blockers.append(Blocker("TEST_MISSING", _l("No %(test)s result.", test=test), test))
        elif not result_passes(limit, results[test]):
            blockers.append(Blocker("TEST_FAILED",
                                    _l("%(test)s %(result)s fails the specification (%(limit)s).", test=test,
                                       result=results[test], limit=describe_limit(limit)),
                                    test))
    if accepted_doses == 0:
        blockers.append(Blocker("NO_DOSES", _l("No accepted doses have been prepared from this lot.")))
    return blockers


# ---- dose acceptance and expiry ------------------------------------------------------------

@dataclass(frozen=True)
class DoseTolerance:
    cells: float = 4.0e7
    cells_pct: float = 10.0
    volume_ml: float = 40.0
    volume_delta_ml: float = 2.0
    min_viability_pct: float = 80.0


def dose_rejection_reasons(cells: float, volume_ml: float, viability_pct: float,
                           tolerance: DoseTolerance) -> list[str]:
    reasons = []
    low, high = tolerance.cells * (1 - tolerance.cells_pct / 100), tolerance.cells * (1 + tolerance.cells_pct / 100)
    if not low <= cells <= high:
        reasons.append(f"cells {cells:.3g} outside {low:.3g}–{high:.3g}")
    if abs(volume_ml - tolerance.volume_ml) > tolerance.volume_delta_ml:
        reasons.append(f"volume {volume_ml:g} ml outside {tolerance.volume_ml:g} ± {tolerance.volume_delta_ml:g} ml")
    if viability_pct < tolerance.min_viability_pct:
        reasons.append(f"viability {viability_pct:g} % below {tolerance.min_viability_pct:g} %")
    return reasons


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar months; the 31st falls back to the month's last day."""
    import calendar

    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def dose_expiry(prepared_at: datetime, *, shelf_life_hours: int | None,
                shelf_life_months: int | None) -> datetime:
    """Expiry to the whole minute, rounded down: the ISBT 128 expiry on the label carries
    minutes, and the label must never promise more time than the record allows."""
    if shelf_life_hours is not None:
        expiry = prepared_at + timedelta(hours=shelf_life_hours)
    else:
        assert shelf_life_months is not None
        expiry = add_months(prepared_at, shelf_life_months)
    return expiry.replace(second=0, microsecond=0)


def is_expired(expires_at: datetime, now: datetime) -> bool:
    return now >= expires_at


def can_become_available(*, dose_status: str, lot_status: str, bag_label_verified: bool,
                         expires_at: datetime, now: datetime) -> bool:
    """A prepared dose is available once its lot is released and its bag label, printed
    and scanned back, matched it (DESIGN §3, §8)."""
    return (dose_status == "prepared" and lot_status == "released" and bag_label_verified
            and not is_expired(expires_at, now))


def division_for(number: int) -> str:
    """ISBT 128 divisions run A0…Z9 style; ours: first letter A–Z, second a–z (676 per lot).
    The dose number (data structure 032) keeps identity unique beyond that."""
    index = (number - 1) % (26 * 26)
    return chr(ord("A") + index // 26) + chr(ord("a") + index % 26)


# ---- what a role may do to a lot or donor now (pages ask; services enforce the same table) --

def lot_actions(lot_status: str, role: str) -> set[str]:
    return set(LOT_LIFECYCLE.actions_for(lot_status, role))


def donor_actions(donor_status: str, role: str) -> set[str]:
    actions = set(DONOR_LIFECYCLE.actions_for(donor_status, role))
    if {"determine_eligible", "determine_ineligible"} & actions:
        actions -= {"determine_eligible", "determine_ineligible"}
        actions.add("determine")
    return actions
