"""The MSC arm's four-dose schedule: pure date rules, the clock passed in."""
import calendar
from dataclasses import dataclass
from datetime import date, timedelta

VISIT_MONTHS = (0, 3, 6, 9)
MIN_AGE, MAX_AGE = 30, 60
# After the last visit's window, how long before a never-given dose counts as missed.
LAST_VISIT_GRACE = timedelta(days=45)


def add_months(day: date, months: int) -> date:
    """Calendar months; a day the target month lacks (31st, 29 Feb) falls to its last day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class PlannedVisit:
    number: int
    target_date: date
    window_start: date
    window_end: date


def plan_visits(enrolled_on: date, window_days: int) -> list[PlannedVisit]:
    window = timedelta(days=window_days)
    return [PlannedVisit(n, target, target - window, target + window)
            for n, target in enumerate((add_months(enrolled_on, m) for m in VISIT_MONTHS), start=1)]


def age_problem(birth_year: int, enrolled_on: date) -> str | None:
    """Age at enrolment by birth year (the only date of birth we keep)."""
    age = enrolled_on.year - birth_year
    if not MIN_AGE <= age <= MAX_AGE:
        return f"Age at enrolment would be {age}; the protocol enrols patients aged {MIN_AGE}–{MAX_AGE}."
    return None


def visit_state(*, recorded: str, window_start: date, window_end: date,
                next_window_start: date | None, today: date) -> str:
    """upcoming → due → overdue → missed, unless done, done out of window or skipped."""
    if recorded != "open":
        return recorded
    if today < window_start:
        return "upcoming"
    if today <= window_end:
        return "due"
    missed_from = next_window_start if next_window_start else window_end + LAST_VISIT_GRACE
    return "missed" if today >= missed_from else "overdue"


def in_window(day: date, window_start: date, window_end: date) -> bool:
    return window_start <= day <= window_end
