"""Temperature excursions and gaps in a logger trace: pure rules, no clock, no database."""
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol, TypeVar


class TimedReading(Protocol):
    """What the rules need of a reading (loggers.Reading has it): an aware time and °C."""

    @property
    def at(self) -> datetime: ...

    @property
    def celsius(self) -> float: ...


@dataclass(frozen=True, slots=True)
class TemperatureRange:
    """An allowed storage range in °C; None means no limit on that side. Limits are inclusive."""

    low: float | None
    high: float | None

    def __post_init__(self) -> None:
        if self.low is None and self.high is None:
            raise ValueError("a temperature range needs at least one limit")
        for limit in (self.low, self.high):
            if limit is not None and not math.isfinite(limit):
                raise ValueError("temperature limits must be finite numbers")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError("the low limit must not be above the high limit")

    def contains(self, celsius: float) -> bool:
        """True inside the range; a reading exactly at a limit is inside."""
        return (self.low is None or celsius >= self.low) and (self.high is None or celsius <= self.high)

    def distance_outside(self, celsius: float) -> float:
        """How far (°C) a reading is outside the range, 0.0 inside."""
        below = self.low - celsius if self.low is not None else 0.0
        above = celsius - self.high if self.high is not None else 0.0
        return max(below, above, 0.0)

    def __str__(self) -> str:
        if self.low is None:
            return f"at most {_degrees(self.high)}"  # type: ignore[arg-type]
        if self.high is None:
            return f"at least {_degrees(self.low)}"
        return f"{_degrees(self.low, unit=False)} to {_degrees(self.high)}"


# DESIGN §3: fresh cells 2-8 °C; cryopreserved at or below -150 °C.
FRESH: Final = TemperatureRange(2.0, 8.0)
CRYO: Final = TemperatureRange(None, -150.0)


@dataclass(frozen=True, slots=True)
class Excursion:
    """A period outside the allowed range, with its reading farthest outside.

    `from_trace_start`: the first reading of the trace was already outside (it may have begun
    earlier). `to_trace_end`: the trace never came back inside, so `end` is the last reading
    and the excursion may still be going on.
    """

    start: datetime
    end: datetime
    minutes: float
    extreme_celsius: float
    from_trace_start: bool = False
    to_trace_end: bool = False


@dataclass(frozen=True, slots=True)
class Gap:
    """Two consecutive readings much further apart than the logger's interval: nothing is known between."""

    start: datetime
    end: datetime
    minutes: float


def find_excursions(readings: Iterable[TimedReading], allowed: TemperatureRange,
                    allowance_minutes: float = 0) -> list[Excursion]:
    """The excursions outside `allowed`, in time order. Raises ValueError on bad input.

    Rules (readings are sorted by time first, so input order does not matter):
    - A reading exactly at a limit is inside (TemperatureRange.contains).
    - An excursion is a run of consecutive readings outside. It starts at the first reading
      outside and ends at the first reading back inside; if none comes back it ends at the
      last reading and `to_trace_end` is set.
    - So a single reading outside between two inside readings lasts from its own time to the
      next reading's time: one logging interval. In a regular trace an excursion lasts
      (readings outside) × (interval): the time before the first reading outside is counted
      as inside, the time up to the first reading back inside as outside.
    - A gap in the readings while outside is counted as outside (worst case): the excursion
      runs until the next reading that is inside, however long the gap. A gap while inside is
      not an excursion; find_gaps reports every gap so it can be judged separately.
    - `extreme_celsius` is the reading of the run farthest outside the range (the first one on
      a tie).
    - Excursions lasting `allowance_minutes` or less (the tolerance for brief door openings)
      are not reported, except one that reaches the end of the trace: its length is unknown,
      so it is always reported. The allowance applies to each excursion, not to their sum.
    """
    if not math.isfinite(allowance_minutes) or allowance_minutes < 0:
        raise ValueError("allowance_minutes must be a finite number, 0 or more")
    ordered = _sorted(readings)
    excursions = []
    index = 0
    while index < len(ordered):
        if allowed.contains(ordered[index].celsius):
            index += 1
            continue
        first = index
        while index < len(ordered) and not allowed.contains(ordered[index].celsius):
            index += 1
        run = ordered[first:index]
        to_end = index == len(ordered)
        end = run[-1].at if to_end else ordered[index].at
        minutes = (end - run[0].at).total_seconds() / 60
        if minutes > allowance_minutes or to_end:
            extreme = max(run, key=lambda reading: allowed.distance_outside(reading.celsius))
            excursions.append(Excursion(run[0].at, end, minutes, extreme.celsius,
                                        from_trace_start=first == 0, to_trace_end=to_end))
    return excursions


class Found(Protocol):
    """What ranking needs of an excursion, found now or stored: its length and extreme."""

    @property
    def minutes(self) -> float: ...

    @property
    def extreme_celsius(self) -> float: ...


_E = TypeVar("_E", bound=Found)


def worst_first(excursions: Iterable[_E], allowed: TemperatureRange) -> list[_E]:
    """The excursions in the order QA should read them: farthest outside the range first,
    then the longest (the sort is stable, so equal ones keep their time order)."""
    return sorted(excursions, key=lambda e: (-allowed.distance_outside(e.extreme_celsius), -e.minutes))


def median_interval_minutes(readings: Iterable[TimedReading]) -> float | None:
    """The logger's typical interval: the median of the positive steps between readings (None if there is none)."""
    ordered = _sorted(readings)
    steps = [(later.at - earlier.at).total_seconds() / 60 for earlier, later in zip(ordered, ordered[1:])]
    positive = [step for step in steps if step > 0]
    return statistics.median(positive) if positive else None


def find_gaps(readings: Iterable[TimedReading], factor: float = 3.0, *,
              interval_minutes: float | None = None) -> list[Gap]:
    """Steps between consecutive readings longer than `factor` × the logging interval, in time order.

    The interval is `interval_minutes` when the caller knows it (e.g. from the logger's
    configuration), else the median step (median_interval_minutes). Every gap is reported,
    whether the readings around it are inside or outside a range: nothing is known in between.
    Raises ValueError on bad input.
    """
    if not math.isfinite(factor) or factor < 1:
        raise ValueError("factor must be a finite number, 1 or more")
    if interval_minutes is not None and (not math.isfinite(interval_minutes) or interval_minutes <= 0):
        raise ValueError("interval_minutes must be a positive number")
    ordered = _sorted(readings)
    interval = interval_minutes if interval_minutes is not None else median_interval_minutes(ordered)
    if interval is None:
        return []
    gaps = []
    for earlier, later in zip(ordered, ordered[1:]):
        minutes = (later.at - earlier.at).total_seconds() / 60
        if minutes > factor * interval:
            gaps.append(Gap(earlier.at, later.at, minutes))
    return gaps


def _sorted(readings: Iterable[TimedReading]) -> list[TimedReading]:
    listed = list(readings)
    for reading in listed:
        if reading.at.tzinfo is None:
            raise ValueError("a reading's time must be timezone-aware")
        if not math.isfinite(reading.celsius):
            raise ValueError("a reading's temperature must be a finite number")
    return sorted(listed, key=lambda reading: reading.at)


def _degrees(celsius: float, *, unit: bool = True) -> str:
    text = f"{celsius:.1f}".replace("-", "−")
    return f"{text} °C" if unit else text
