"""Excursion and gap rules, checked by hand, by property and against the loggers' own flags; the SVG trace."""
import math
import random
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cell_chain.shipments.excursions import (
    CRYO,
    FRESH,
    Excursion,
    Gap,
    TemperatureRange,
    find_excursions,
    find_gaps,
    median_interval_minutes,
)
from cell_chain.shipments.loggers import Reading, parse_logger_file
from cell_chain.shipments.trace_svg import MAX_POINTS, temperature_svg
from tests.shared_data import require_shared_data

PROPERTY = settings(deadline=None, max_examples=200)
START = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"
PREVIEWS = Path(__file__).resolve().parents[2] / "test-output" / "temperature"


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def trace(*celsius: float, every: float = 5) -> list[Reading]:
    """Readings every `every` minutes from START."""
    return [Reading(at(i * every), value) for i, value in enumerate(celsius)]


# ---- the range -----------------------------------------------------------------------------------------


def test_storage_ranges_of_the_design() -> None:
    assert (FRESH.low, FRESH.high) == (2.0, 8.0)
    assert (CRYO.low, CRYO.high) == (None, -150.0)
    assert str(FRESH) == "2.0 to 8.0 °C"
    assert str(CRYO) == "at most −150.0 °C"
    assert str(TemperatureRange(15.0, None)) == "at least 15.0 °C"


@pytest.mark.parametrize("celsius, inside", [(1.99, False), (2.0, True), (5.0, True), (8.0, True), (8.01, False)])
def test_a_reading_exactly_at_a_limit_is_inside(celsius: float, inside: bool) -> None:
    assert FRESH.contains(celsius) is inside


def test_distance_outside() -> None:
    assert FRESH.distance_outside(5.0) == 0.0
    assert FRESH.distance_outside(9.5) == pytest.approx(1.5)
    assert FRESH.distance_outside(-1.0) == pytest.approx(3.0)
    assert CRYO.distance_outside(-196.0) == 0.0
    assert CRYO.distance_outside(-140.0) == pytest.approx(10.0)


@pytest.mark.parametrize("low, high", [(None, None), (8.0, 2.0), (float("nan"), 8.0), (2.0, float("inf"))])
def test_invalid_ranges_are_refused(low: float | None, high: float | None) -> None:
    with pytest.raises(ValueError):
        TemperatureRange(low, high)


# ---- excursions by hand --------------------------------------------------------------------------------


def test_inside_only_trace_has_no_excursion() -> None:
    assert find_excursions(trace(2.0, 5.0, 8.0, 8.0, 2.0), FRESH) == []
    assert find_excursions([], FRESH) == []


def test_single_reading_outside_lasts_until_the_next_reading() -> None:
    assert find_excursions(trace(5, 5, 9.1, 5, 5), FRESH) == [Excursion(at(10), at(15), 5.0, 9.1)]


def test_excursion_runs_from_first_reading_outside_to_first_reading_back_inside() -> None:
    found = find_excursions(trace(5, 8.5, 10.25, 9, 8.0, 5), FRESH)
    assert found == [Excursion(at(5), at(20), 15.0, 10.25)]


def test_extreme_is_the_reading_farthest_outside_on_either_side() -> None:
    # 9.0 is 1 °C above; 0.5 is 1.5 °C below: a run can cross the band between two readings.
    assert find_excursions(trace(5, 9.0, 0.5, 5), FRESH)[0].extreme_celsius == 0.5
    # On a tie the first reading wins.
    assert find_excursions(trace(5, 9.0, 1.0, 5), FRESH)[0].extreme_celsius == 9.0


def test_two_excursions_are_reported_separately_in_time_order() -> None:
    found = find_excursions(trace(5, 9, 5, 5, 1, 1, 5), FRESH)
    assert found == [Excursion(at(5), at(10), 5.0, 9.0), Excursion(at(20), at(30), 10.0, 1.0)]


def test_trace_starting_outside() -> None:
    found = find_excursions(trace(12, 9, 5, 5), FRESH)
    assert found == [Excursion(at(0), at(10), 10.0, 12.0, from_trace_start=True)]


def test_trace_ending_outside_ends_at_the_last_reading_and_says_so() -> None:
    found = find_excursions(trace(5, 5, 9, 11), FRESH)
    assert found == [Excursion(at(10), at(15), 5.0, 11.0, to_trace_end=True)]


def test_excursion_still_going_at_the_end_is_reported_whatever_the_allowance() -> None:
    assert find_excursions(trace(5, 5, 9), FRESH, allowance_minutes=30) == [
        Excursion(at(10), at(10), 0.0, 9.0, to_trace_end=True)]
    assert find_excursions(trace(9), FRESH, allowance_minutes=30) == [
        Excursion(at(0), at(0), 0.0, 9.0, from_trace_start=True, to_trace_end=True)]


def test_whole_trace_outside_is_one_excursion_over_the_whole_trace() -> None:
    found = find_excursions(trace(9, 10, 11, 10), FRESH)
    assert found == [Excursion(at(0), at(15), 15.0, 11.0, from_trace_start=True, to_trace_end=True)]


@pytest.mark.parametrize("allowance, reported", [(0, True), (14.99, True), (15, False), (15.01, False), (60, False)])
def test_allowance_boundary_excursion_of_exactly_the_allowance_is_not_reported(allowance: float,
                                                                                reported: bool) -> None:
    readings = trace(5, 9, 9, 9, 5)  # outside from 5 to 20 min: 15 minutes
    assert bool(find_excursions(readings, FRESH, allowance_minutes=allowance)) is reported


def test_allowance_is_per_excursion_not_cumulative() -> None:
    readings = trace(5, 9, 5, 9, 5, 9, 5)  # three 5-minute door openings
    assert find_excursions(readings, FRESH, allowance_minutes=5) == []
    assert len(find_excursions(readings, FRESH, allowance_minutes=4.9)) == 3


def test_gap_while_outside_extends_the_excursion_across_the_gap() -> None:
    readings = [*trace(5, 5, 9), Reading(at(130), 5.0), Reading(at(135), 5.0)]
    assert find_excursions(readings, FRESH) == [Excursion(at(10), at(130), 120.0, 9.0)]
    assert find_gaps(readings) == [Gap(at(10), at(130), 120.0)]


def test_gap_while_inside_is_a_gap_not_an_excursion() -> None:
    readings = [*trace(5, 5, 5), Reading(at(130), 5.0), Reading(at(135), 5.0)]
    assert find_excursions(readings, FRESH) == []
    assert find_gaps(readings) == [Gap(at(10), at(130), 120.0)]


def test_gap_before_an_excursion_does_not_start_it_early() -> None:
    readings = [*trace(5, 5, 5), Reading(at(130), 9.0), Reading(at(135), 5.0)]
    assert find_excursions(readings, FRESH) == [Excursion(at(130), at(135), 5.0, 9.0)]
    assert find_gaps(readings) == [Gap(at(10), at(130), 120.0)]


def test_cryo_range() -> None:
    readings = trace(-190, -150.0, -196, -149.9, -120.5, -151, -180)
    assert find_excursions(readings, CRYO) == [Excursion(at(15), at(25), 10.0, -120.5)]


def test_unsorted_input_gives_the_same_excursions() -> None:
    readings = trace(5, 9, 10, 5, 1, 5, 12)
    shuffled = readings[:]
    random.Random(3).shuffle(shuffled)
    assert find_excursions(shuffled, FRESH) == find_excursions(readings, FRESH)
    assert find_gaps(shuffled) == find_gaps(readings)


def test_fahrenheit_limit_stays_exactly_at_the_limit() -> None:
    data = b"Plot Title: x\n#,\"Date Time, GMT+00:00\",\"Temp, \xc2\xb0F\"\n1,2024-05-01 08:00:00,46.4\n" \
           b"2,2024-05-01 08:05:00,35.6\n"
    readings = parse_logger_file(data).readings
    assert [reading.celsius for reading in readings] == [8.0, 2.0]
    assert find_excursions(readings, FRESH) == []


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="allowance"):
        find_excursions(trace(5), FRESH, allowance_minutes=-1)
    with pytest.raises(ValueError, match="allowance"):
        find_excursions(trace(5), FRESH, allowance_minutes=float("nan"))

    @dataclass
    class Loose:
        at: datetime
        celsius: float

    with pytest.raises(ValueError, match="timezone-aware"):
        find_excursions([Loose(datetime(2024, 5, 1), 5.0)], FRESH)
    with pytest.raises(ValueError, match="finite"):
        find_excursions([Loose(START, float("nan"))], FRESH)


# ---- gaps --------------------------------------------------------------------------------------------


def test_gap_is_a_step_longer_than_factor_times_the_median_interval() -> None:
    readings = [Reading(at(minutes), 5.0) for minutes in (0, 5, 10, 25, 30, 46, 51)]
    assert median_interval_minutes(readings) == 5.0
    assert find_gaps(readings) == [Gap(at(30), at(46), 16.0)]  # 15 is exactly 3×: not a gap
    assert find_gaps(readings, factor=2) == [Gap(at(10), at(25), 15.0), Gap(at(30), at(46), 16.0)]
    assert find_gaps(readings, interval_minutes=10) == []


def test_gaps_ignore_repeated_timestamps_and_short_traces() -> None:
    readings = [Reading(at(minutes), 5.0) for minutes in (0, 0, 5, 5, 10, 40)]
    assert median_interval_minutes(readings) == 5.0
    assert find_gaps(readings) == [Gap(at(10), at(40), 30.0)]
    assert find_gaps(trace(5.0)) == []
    assert find_gaps([]) == []
    assert median_interval_minutes([Reading(START, 5.0), Reading(START, 6.0)]) is None


@pytest.mark.parametrize("kwargs", [{"factor": 0.5}, {"factor": float("inf")}, {"interval_minutes": 0}])
def test_gap_parameters_are_checked(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        find_gaps(trace(5, 5, 5), **kwargs)  # type: ignore[arg-type]


# ---- against the loggers' own out-of-limits flags --------------------------------------------------------


@pytest.mark.parametrize("name", ["berlinger-fridgetag2L_130500109088_upstream-trimmed.txt",
                                  "berlinger-qtag-clm-doc-lr_RCPJ00010_03.txt"])
def test_inside_rule_agrees_with_the_berlinger_out_of_limits_column(name: str) -> None:
    """Both loggers alarm outside +2.0/+8.0 °C and mark each row; 8.0 is unmarked, 8.1 marked."""
    data = require_shared_data(Path("loggers") / name).read_bytes()
    flags = {row.split("\t")[1]: row.rstrip("\r").endswith("\tx")
             for row in data.decode().splitlines() if re.match(r"\t[0-9]{4}-", row)}
    readings = parse_logger_file(data).readings
    assert len(flags) == len(readings)
    for reading in readings:
        assert flags[f"{reading.at:%Y-%m-%d %H:%M}"] is not FRESH.contains(reading.celsius)


def test_fridgetag_2l_excursions() -> None:
    data = require_shared_data(Path("loggers") / "berlinger-fridgetag2L_130500109088_upstream-trimmed.txt")
    readings = parse_logger_file(data.read_bytes()).readings
    found = find_excursions(readings, FRESH)
    assert [(found_one.start, found_one.end, found_one.minutes, found_one.extreme_celsius) for found_one in found] == [
        (datetime(2022, 5, 2, 4, 44, tzinfo=UTC), datetime(2022, 5, 2, 11, 16, tzinfo=UTC), 392.0, 27.5),
        (datetime(2022, 5, 12, 13, 26, tzinfo=UTC), datetime(2022, 5, 12, 15, 1, tzinfo=UTC), 95.0, 9.7),
        (datetime(2022, 5, 12, 15, 41, tzinfo=UTC), datetime(2022, 5, 12, 16, 1, tzinfo=UTC), 20.0, 8.3),
    ]
    assert found[0].from_trace_start and not found[-1].to_trace_end
    assert find_excursions(readings, FRESH, allowance_minutes=20) == found[:2]
    # Where the upstream author cut rows out.
    assert [(gap.start, gap.end) for gap in find_gaps(readings)] == [
        (datetime(2022, 5, 2, 4, 44, tzinfo=UTC), datetime(2022, 5, 2, 10, 36, tzinfo=UTC)),
        (datetime(2022, 5, 2, 11, 41, tzinfo=UTC), datetime(2022, 5, 12, 13, 26, tzinfo=UTC)),
        (datetime(2022, 5, 12, 16, 16, tzinfo=UTC), datetime(2022, 6, 8, 10, 1, tzinfo=UTC)),
    ]


def test_ultralow_probe_at_room_temperature_is_one_open_ended_cryo_excursion() -> None:
    data = require_shared_data(Path("loggers") / "berlinger-fridgetag-ultralow_100800001215.txt")
    readings = parse_logger_file(data.read_bytes()).readings
    (found,) = find_excursions(readings, CRYO, allowance_minutes=60)
    assert (found.start, found.end, found.extreme_celsius) == (readings[0].at, readings[-1].at, -9.6)
    assert found.from_trace_start and found.to_trace_end
    assert found.minutes == (readings[-1].at - readings[0].at).total_seconds() / 60


# ---- properties -------------------------------------------------------------------------------------------


@st.composite
def traces(draw: st.DrawFn, low: float = -10.0, high: float = 20.0) -> list[Reading]:
    steps = draw(st.lists(st.integers(min_value=0, max_value=240), min_size=0, max_size=60))
    values = draw(st.lists(st.floats(min_value=low, max_value=high, allow_nan=False), min_size=len(steps) + 1,
                           max_size=len(steps) + 1))
    times = [START]
    for step in steps:
        times.append(times[-1] + timedelta(minutes=step))
    return [Reading(moment, value) for moment, value in zip(times, values, strict=True)]


@PROPERTY
@given(traces(), st.floats(min_value=0, max_value=300))
def test_excursions_lie_within_the_trace_and_never_overlap(readings: list[Reading], allowance: float) -> None:
    found = find_excursions(readings, FRESH, allowance_minutes=allowance)
    if not found:
        return
    first, last = readings[0].at, readings[-1].at
    span = (last - first).total_seconds() / 60
    assert sum(excursion.minutes for excursion in found) <= span + 1e-9
    for excursion in found:
        assert first <= excursion.start <= excursion.end <= last
        assert excursion.minutes == pytest.approx((excursion.end - excursion.start).total_seconds() / 60)
        assert not FRESH.contains(excursion.extreme_celsius)
        assert excursion.minutes > allowance or excursion.to_trace_end
    for earlier, later in zip(found, found[1:]):
        assert earlier.end <= later.start


@PROPERTY
@given(traces(low=2.0, high=8.0))
def test_inside_only_traces_have_no_excursions(readings: list[Reading]) -> None:
    assert find_excursions(readings, FRESH) == []


@PROPERTY
@given(traces(), st.randoms(use_true_random=False))
def test_order_of_input_does_not_matter(readings: list[Reading], shuffler: random.Random) -> None:
    shuffled = readings[:]
    shuffler.shuffle(shuffled)
    # Equal timestamps keep their input order, so only traces with distinct times compare exactly.
    if len({reading.at for reading in readings}) == len(readings):
        assert find_excursions(shuffled, FRESH) == find_excursions(readings, FRESH)
    assert find_gaps(shuffled) == find_gaps(readings)


@PROPERTY
@given(st.lists(st.booleans(), min_size=1, max_size=80), st.integers(min_value=1, max_value=30))
def test_regular_trace_excursion_lasts_readings_outside_times_interval(outside: list[bool], every: int) -> None:
    readings = trace(*(9.0 if flag else 5.0 for flag in outside), every=every)
    found = find_excursions(readings, FRESH)
    assert len(found) == sum(1 for i, flag in enumerate(outside) if flag and (i == 0 or not outside[i - 1]))
    closed = [excursion for excursion in found if not excursion.to_trace_end]
    trailing = len(outside) - len(outside[: len(outside) - next(
        (i for i, flag in enumerate(reversed(outside)) if not flag), len(outside))])
    assert sum(excursion.minutes for excursion in closed) == (sum(outside) - trailing) * every


@PROPERTY
@given(traces(), st.floats(min_value=0, max_value=120), st.floats(min_value=0, max_value=120))
def test_a_larger_allowance_never_reports_more(readings: list[Reading], small: float, extra: float) -> None:
    lenient = find_excursions(readings, FRESH, allowance_minutes=small + extra)
    strict = find_excursions(readings, FRESH, allowance_minutes=small)
    assert set(lenient) <= set(strict)


# ---- the picture --------------------------------------------------------------------------------------


def parse_svg(svg: str) -> ElementTree.Element:
    assert svg.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ElementTree.fromstring(svg.encode())


def shipment_trace() -> list[Reading]:
    """Two days every 5 minutes around 5 °C: a door left open, a cold spike, a logger gap."""
    readings = []
    for i in range(576):
        value = 5 + 1.2 * math.sin(i / 30)
        if 100 <= i < 109:
            value = 8.6 + (i - 100) * 0.3
        if i == 300:
            value = 1.6
        if 400 <= i < 440:
            continue
        readings.append(Reading(at(5 * i), round(value, 2)))
    return readings


def test_svg_is_standalone_accessible_and_summarised() -> None:
    readings = shipment_trace()
    excursions = find_excursions(readings, FRESH)
    svg = temperature_svg(readings, FRESH, excursions)
    root = parse_svg(svg)
    assert root.tag == f"{SVG}svg"
    assert (root.get("role"), root.get("width"), root.get("height")) == ("img", "720", "240")
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and desc is not None
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert title.text == "Temperature trace"
    assert desc.text is not None
    assert desc.text.startswith("536 readings from 2024-05-01 08:00 to 2024-05-03 07:55 UTC. "
                                "Lowest 1.6 °C, highest 11.0 °C. Allowed range 2.0 to 8.0 °C. 2 excursions")
    assert "extreme 11.0 °C" in desc.text and "extreme 1.6 °C" in desc.text and "1 gap" in desc.text
    texts = [element.text for element in root.iter(f"{SVG}text")]
    assert {"11.0 °C", "1.6 °C", "max 8.0 °C", "min 2.0 °C", "Times in UTC", "°C", "2 excursions"} <= set(texts)
    assert {"06:00", "12:00", "1 May 2024", "2 May"} <= set(texts)
    assert "<script" not in svg and "href" not in svg and "http:" not in svg.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    assert re.findall(r"url\((.*?)\)", svg) and all(ref.startswith("#") for ref in re.findall(r"url\((.*?)\)", svg))
    assert len(root.findall(f"{SVG}polyline")) == 2  # the trace is broken at the gap
    PREVIEWS.mkdir(parents=True, exist_ok=True)
    (PREVIEWS / "example-fresh.svg").write_text(svg, encoding="utf-8")


def test_svg_escapes_text() -> None:
    title = '<script>alert("x")</script> & Box <17>'
    svg = temperature_svg(trace(5, 9, 5), FRESH, find_excursions(trace(5, 9, 5), FRESH), title=title)
    root = parse_svg(svg)
    assert root.find(f"{SVG}title").text == title  # type: ignore[union-attr]
    assert "<script" not in svg and root.find(f".//{SVG}script") is None


def test_svg_cryo_trace_and_band_below_the_limit() -> None:
    readings = trace(-190, -185, -140, -188, -192)
    svg = temperature_svg(readings, CRYO, find_excursions(readings, CRYO))
    root = parse_svg(svg)
    texts = [element.text for element in root.iter(f"{SVG}text")]
    assert "max −150.0 °C" in texts and "−140.0 °C" in texts
    assert "Allowed range at most −150.0 °C" in root.find(f"{SVG}desc").text  # type: ignore[operator, union-attr]


def test_svg_downsamples_long_traces_but_keeps_the_peaks() -> None:
    readings = [Reading(at(i), 5.0 + 0.5 * math.sin(i / 50)) for i in range(100_000)]
    readings[54_321] = Reading(readings[54_321].at, 30.0)
    readings[12_345] = Reading(readings[12_345].at, -4.0)
    svg = temperature_svg(readings, FRESH, find_excursions(readings, FRESH))
    (polyline,) = parse_svg(svg).findall(f"{SVG}polyline")
    points = polyline.get("points", "").split()
    assert len(points) <= MAX_POINTS
    plot_top, plot_bottom = 30.0, 240 - 38.0
    ys = [float(point.split(",")[1]) for point in points]
    assert min(ys) == pytest.approx(plot_top, abs=25) and max(ys) == pytest.approx(plot_bottom, abs=25)
    assert len(svg) < 60_000


def test_svg_without_readings_or_with_one_reading() -> None:
    empty = parse_svg(temperature_svg([], FRESH, []))
    assert "No readings" in [element.text for element in empty.iter(f"{SVG}text")]
    single = parse_svg(temperature_svg(trace(5.0), FRESH, []))
    assert single.find(f".//{SVG}circle") is not None


def test_svg_ids_differ_between_pictures() -> None:
    first = parse_svg(temperature_svg(trace(5, 6), FRESH, []))
    second = parse_svg(temperature_svg(trace(5, 7), FRESH, []))
    assert first.get("aria-labelledby") != second.get("aria-labelledby")


def test_svg_refuses_a_picture_too_small_to_read() -> None:
    with pytest.raises(ValueError):
        temperature_svg(trace(5), FRESH, [], width=200, height=100)


def test_qa_reads_the_excursion_farthest_outside_first_then_the_longest():
    from cell_chain.shipments.excursions import worst_first

    @dataclass
    class Stored:
        name: str
        minutes: float
        extreme_celsius: float

    found = [Stored("long, a little out", 40, -140.0), Stored("short, far out", 10, -110.0),
             Stored("longer, as far out", 60, -140.0), Stored("back inside", 5, -200.0)]
    assert [e.name for e in worst_first(found, CRYO)] == [
        "short, far out", "longer, as far out", "long, a little out", "back inside"]
    assert [e.name for e in worst_first([Stored("warm", 5, 9.0), Stored("cold", 5, -3.0)], FRESH)] == ["cold", "warm"]
