"""Reading a wall-clock time in a zone as a UTC moment, and naming the zone a time is shown in."""
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from cell_chain.core.clock import LocalTimeError, from_local, is_zone_name, zone_label

BERLIN, SHANGHAI = ZoneInfo("Europe/Berlin"), ZoneInfo("Asia/Shanghai")


def test_the_lanzhou_clock_is_eight_hours_ahead_of_utc():
    assert from_local(datetime(2026, 12, 3, 19, 7), SHANGHAI) == datetime(2026, 12, 3, 11, 7, tzinfo=UTC)


@pytest.mark.parametrize(("wall", "utc"), [
    (datetime(2026, 3, 29, 1, 59), datetime(2026, 3, 29, 0, 59, tzinfo=UTC)),  # CET, before the change
    (datetime(2026, 3, 29, 3, 0), datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),  # CEST, the first minute after
    (datetime(2026, 3, 29, 3, 30), datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
    (datetime(2026, 10, 25, 3, 0), datetime(2026, 10, 25, 2, 0, tzinfo=UTC)),  # CET again
])
def test_berlin_wall_clock_times_around_the_changes(wall, utc):
    assert from_local(wall, BERLIN) == utc


def test_a_skipped_time_names_no_moment():
    with pytest.raises(LocalTimeError) as raised:
        from_local(datetime(2026, 3, 29, 2, 30), BERLIN)
    assert raised.value.kind == "nonexistent"


def test_a_repeated_time_names_two_moments_unless_the_offset_says_which():
    with pytest.raises(LocalTimeError) as raised:
        from_local(datetime(2026, 10, 25, 2, 30), BERLIN)
    assert raised.value.kind == "ambiguous"
    first = from_local(datetime(2026, 10, 25, 2, 30, tzinfo=timezone(timedelta(hours=2))), BERLIN)
    second = from_local(datetime(2026, 10, 25, 2, 30, tzinfo=timezone(timedelta(hours=1))), BERLIN)
    assert second - first == timedelta(hours=1)


def test_zone_labels_name_the_zone_or_its_offset():
    assert zone_label(datetime(2026, 7, 1, 12, tzinfo=BERLIN)) == "CEST"
    assert zone_label(datetime(2026, 1, 1, 12, tzinfo=BERLIN)) == "CET"
    assert zone_label(datetime(2026, 1, 1, 12, tzinfo=SHANGHAI)) == "CST"
    assert zone_label(datetime(2026, 1, 1, 12, tzinfo=ZoneInfo("Asia/Kathmandu"))) == "UTC+05:45"
    assert zone_label(datetime(2026, 1, 1, 12, tzinfo=ZoneInfo("America/St_Johns"))) == "NST"
    assert zone_label(datetime(2026, 1, 1, 12, tzinfo=ZoneInfo("UTC"))) == "UTC"


@pytest.mark.parametrize("name", ["", "Mars/Olympus", "../../etc/passwd", "Asia/Shanghai\x00", "UTC " * 20])
def test_only_iana_zone_names_are_zones(name):
    assert not is_zone_name(name)
    assert is_zone_name("Asia/Shanghai") and is_zone_name("Europe/Berlin") and is_zone_name("UTC")
