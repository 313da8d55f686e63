"""Logger files: every shared export read as it says, and what the parser refuses (no database)."""
import codecs
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cell_chain.shipments.loggers import (
    MAX_FILE_BYTES,
    MAX_READINGS,
    LoggerFileError,
    LoggerTrace,
    Reading,
    parse_logger_file,
)
from tests.shared_data import require_shared_data, shared_data_dir

LOGGERS = Path("loggers")
PROPERTY = settings(deadline=None)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@dataclass(frozen=True)
class Expected:
    """What a shared file holds, read off the file by hand (times are the device's, read as UTC)."""

    source_format: str
    device: str | None
    serial: str | None
    unit: str
    count: int
    first: tuple[datetime, float]
    last: tuple[datetime, float]
    missing: int = 0
    summary_only: bool = False


# Daily-summary files: count = 2 per day record; first/last are the earliest and latest of the
# days' TS Min T / TS Max T. Data-table files: the first and last rows that carry a number.
VALID = {
    "berlinger-fridgetag2-qtag_160400347643_crlf.txt": Expected(
        "berlinger", "Q-tag Fridge-tag 2", "160400347643", "°C", 120,
        (utc(2026, 3, 1, 15, 12), 22.8), (utc(2026, 4, 29, 15, 49), 23.5), summary_only=True),
    "berlinger-fridgetag2-qtag_160400343951_60days_alarm.txt": Expected(
        "berlinger", "Q-tag Fridge-tag 2", "160400343951", "°C", 120,
        (utc(2025, 4, 13, 0, 0), 18.1), (utc(2025, 6, 11, 9, 12), 22.5), summary_only=True),
    "berlinger-fridgetag2-qtag_160400343949_short.txt": Expected(
        "berlinger", "Q-tag Fridge-tag 2", "160400343949", "°C", 10,
        (utc(2025, 3, 13, 14, 33), 13.2), (utc(2025, 3, 17, 7, 47), 7.0), summary_only=True),
    "berlinger-fridgetag2_130400191542.txt": Expected(
        "berlinger", "Q-tag Fridge-tag 2", "130400191542", "°C", 120,
        (utc(2022, 12, 17, 9, 54), 17.3), (utc(2023, 2, 14, 4, 57), 18.8), summary_only=True),
    "berlinger-fridgetag2_130400191544_short.txt": Expected(
        "berlinger", "Q-tag Fridge-tag 2", "130400191544", "°C", 8,
        (utc(2023, 4, 17, 19, 41), 20.8), (utc(2023, 4, 20, 14, 33), 8.0), summary_only=True),
    "berlinger-fridgetag2-fixture_negative_temps.txt": Expected(
        "berlinger", "Q-tag Fridge-tag 2", "160400000002", "°C", 4,
        (utc(2025, 2, 2, 5, 15), -23.0), (utc(2025, 2, 3, 14, 30), -18.0), summary_only=True),
    "berlinger-fridgetag2L_130500109088_upstream-trimmed.txt": Expected(
        "berlinger", "Q-tag Fridge-tag 2 L", "130500109088", "°C", 53,
        (utc(2022, 5, 2, 4, 44), 26.3), (utc(2022, 6, 8, 10, 11), 5.7)),
    "berlinger-fridgetag-ultralow_100800001215.txt": Expected(
        "berlinger", "Q-tag Fridge-tag Ultra Low", "100800001215", "°C", 835,
        (utc(2023, 4, 17, 16, 21), -9.6), (utc(2023, 4, 20, 13, 51), -16.6), missing=6),
    "berlinger-qtag-clm-doc-lr_RCPJ00010_03.txt": Expected(
        "berlinger", "Q-tag CLm doc LR", "RCPJ00010", "°C", 424,
        (utc(2023, 4, 17, 15, 23), 12.7), (utc(2023, 4, 20, 13, 53), 10.6)),
    # GMT-05:00 stated in the header; 47.512 °F and 39.031 °F.
    "onset-hobo_hoboware-legacy_outdoor_degF_latin1_TRUNCATED500.csv": Expected(
        "onset-hobo", None, None, "°F", 498,
        (utc(2012, 2, 1, 5, 0), 8.617778), (utc(2012, 2, 21, 22, 0), 3.906111)),
    "tinytag-TGU-4500_temp-rh_fixture.csv": Expected(
        "tinytag", "TGU-4500", "000000", "°C", 10,
        (utc(2021, 7, 26, 14, 26), 20.873), (utc(2021, 7, 26, 18, 56), 20.887)),
    # Excel serials 44512.66008 and 44512.75383: the text column shows them rounded to the minute.
    "tandd-TR7x_latin1-degree_exceldate_fixture.csv": Expected(
        "tandd", None, None, "°C", 10,
        (utc(2021, 11, 12, 15, 50, 31), 20.5), (utc(2021, 11, 12, 18, 5, 31), 20.5)),
    "tandd-TR7x_quoted_mojibake-degree_fixture.csv": Expected(
        "tandd", None, None, "°C", 10,
        (utc(2021, 8, 21, 8, 6), 22.7), (utc(2021, 8, 21, 10, 21), 23.0)),
    "rotronic-hl_bom_ini-style-header_fixture.csv": Expected(
        "rotronic", None, "A00000000", "°C", 10,
        (utc(2020, 1, 24, 13, 37, 22), 20.0), (utc(2020, 1, 29, 1, 37, 22), 20.3)),
}
# File -> words the refusal must contain.
REFUSED = {
    "berlinger-fridgetag2-fixture_INVALID_malformed_temp.txt": ('"abc" is not a number', "line 10"),
    "berlinger-fridgetag2-fixture_INVALID_truncated.txt": ("2025-01-02", "stops before"),
    # Re-saved in a spreadsheet: 03/31/19 is followed by "2004-01-19" (really 04/01/19), so the
    # later half of the file has wrong dates; reading the first half alone would hide the rest.
    "onset-hobo_U23_degC_events_bom_details_TRUNCATED500.csv": ("mixes different date formats", "line 257",
                                                                "spreadsheet"),
}


def read(name: str) -> bytes:
    return require_shared_data(LOGGERS / name).read_bytes()


def parse(text: str | bytes, **kwargs: int) -> LoggerTrace:
    return parse_logger_file(text.encode() if isinstance(text, str) else text, **kwargs)


def refusal(data: bytes | str, filename: str | None = None, **kwargs: int) -> str:
    with pytest.raises(LoggerFileError) as caught:
        parse_logger_file(data.encode() if isinstance(data, str) else data, filename, **kwargs)
    return str(caught.value)


# ---- the shared files, in place ------------------------------------------------------------------------


def test_every_shared_logger_file_has_an_expectation() -> None:
    folder = require_shared_data(LOGGERS / next(iter(VALID))).parent
    assert sorted(path.name for path in folder.iterdir()) == sorted([*VALID, *REFUSED])
    assert shared_data_dir() / LOGGERS == folder


@pytest.mark.parametrize("name", sorted(VALID))
def test_shared_file_reads_as_the_file_says(name: str) -> None:
    expected = VALID[name]
    trace = parse_logger_file(read(name), name)
    assert (trace.source_format, trace.device, trace.serial, trace.unit_in_file) == (
        expected.source_format, expected.device, expected.serial, expected.unit)
    assert len(trace.readings) == expected.count
    first, last = trace.readings[0], trace.readings[-1]
    assert (first.at, last.at) == (expected.first[0], expected.last[0])
    assert first.celsius == pytest.approx(expected.first[1], abs=1e-6)
    assert last.celsius == pytest.approx(expected.last[1], abs=1e-6)
    assert all(reading.at.tzinfo is UTC for reading in trace.readings)
    assert [reading.at for reading in trace.readings] == sorted(reading.at for reading in trace.readings)
    notes = " | ".join(trace.notes)
    assert (f"{expected.missing} missing reading" in notes) == bool(expected.missing)
    assert ("daily summary only" in notes) == expected.summary_only


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_shared_invalid_file_is_refused(name: str) -> None:
    message = refusal(read(name), name)
    for words in REFUSED[name]:
        assert words in message
    assert message.startswith("This ")


def test_malformed_temperature_never_becomes_a_number() -> None:
    data = read("berlinger-fridgetag2-fixture_INVALID_malformed_temp.txt")
    assert "Min T: abc" in data.decode()
    for replacement in ("+5.", "5", "+5.0.1", "5,0", "nan", "inf", "1e1", "--5"):
        message = refusal(data.replace(b"abc", replacement.encode()))
        assert "is not a number" in message


def test_daily_summary_reading_is_the_days_min_and_max_at_their_stated_times() -> None:
    trace = parse_logger_file(read("berlinger-fridgetag2-qtag_160400343949_short.txt"))
    # Day 2025-03-16: Min T +4.9 at 11:49, Max T +6.4 at 08:45.
    day = [(reading.at, reading.celsius) for reading in trace.readings if reading.at.date().isoformat() == "2025-03-16"]
    assert day == [(utc(2025, 3, 16, 8, 45), 6.4), (utc(2025, 3, 16, 11, 49), 4.9)]


def test_fahrenheit_file_is_converted_and_says_so() -> None:
    trace = parse_logger_file(read("onset-hobo_hoboware-legacy_outdoor_degF_latin1_TRUNCATED500.csv"))
    assert trace.unit_in_file == "°F"
    assert "temperatures converted from °F to °C" in trace.notes
    # 2012-02-01 01:00 -05:00 read 48.004 °F.
    assert trace.readings[1] == Reading(utc(2012, 2, 1, 6, 0), round((48.004 - 32) * 5 / 9, 6))


def test_mac_roman_degree_sign_is_recognised() -> None:
    data = read("onset-hobo_hoboware-legacy_outdoor_degF_latin1_TRUNCATED500.csv")
    assert b'"Temp, \xa1F"' in data
    assert parse_logger_file(data.replace(b"\xa1F", b"\xc2\xb0F")).readings == parse_logger_file(data).readings
    assert "states no unit" in refusal(data.replace(b"\xa1F", b"xF"))


def test_latin1_and_mojibake_degree_signs_are_recognised() -> None:
    latin1 = read("tandd-TR7x_latin1-degree_exceldate_fixture.csv")
    mojibake = read("tandd-TR7x_quoted_mojibake-degree_fixture.csv")
    assert b",\xb0C," in latin1 and b'"\xef\xbf\xbdC"' in mojibake
    for data in (latin1, mojibake):
        assert parse_logger_file(data).unit_in_file == "°C"
    # Without the degree sign the channel has no unit, so the file has no temperature channel.
    assert "no temperature channel" in refusal(latin1.replace(b"\xb0C", b"lux"))


def test_excel_serial_is_used_and_checked_against_the_text_date() -> None:
    data = read("tandd-TR7x_latin1-degree_exceldate_fixture.csv")
    times = [reading.at for reading in parse_logger_file(data).readings]
    assert times[1] == utc(2021, 11, 12, 16, 5, 31)  # 44512.6705
    assert set(times[1] - earlier for earlier in times[:1]) == {timedelta(minutes=15)}
    assert "disagree" in refusal(data.replace(b"44512.6705,", b"44512.7705,"))
    assert '"44512.7O" is not an Excel date serial' in refusal(data.replace(b"44512.70175", b"44512.7O"))
    # Without serials the text column is read (here it is rounded to the minute).
    text_only = b"\r\n".join(line.replace(b",44512.", b",x44512.", 1) if line[:1].isdigit() else line
                             for line in data.split(b"\r\n"))
    assert parse_logger_file(text_only).readings[0].at == utc(2021, 11, 12, 15, 51)


def test_hobo_with_bom_details_table_and_month_first_dates() -> None:
    data = read("onset-hobo_U23_degC_events_bom_details_TRUNCATED500.csv")
    assert data.startswith(codecs.BOM_UTF8)
    head = b"\n".join(data.split(b"\n")[:256])  # the rows before the spreadsheet damage
    trace = parse_logger_file(head)
    assert (trace.source_format, trace.device, trace.serial) == ("onset-hobo", "HOBO U23-001 Temp/RH", "20547370")
    assert len(trace.readings) == 254
    assert trace.readings[0] == Reading(utc(2019, 3, 26, 23, 0), 20.174)  # 03/26/19 17:00:00 GMT-06:00
    assert trace.readings[-1] == Reading(utc(2019, 4, 1, 5, 30), -0.06)  # 03/31/19 23:30:00
    assert trace.notes == ()
    # The zone is the file's; the caller's offset is not applied, and the notes say so.
    shifted = parse_logger_file(head, tz_offset_minutes=60)
    assert shifted.readings == trace.readings
    assert any("GMT-06:00" in note for note in shifted.notes)


def test_hobo_event_only_rows_and_missing_readings_are_counted() -> None:
    data = read("onset-hobo_U23_degC_events_bom_details_TRUNCATED500.csv")
    lines = data.split(b"\n")[:12]
    lines[5] = b"4,03/26/19 18:30:00,,,Logged,,,,Device Info,"
    lines[6] = b"5,03/26/19 19:00:00,,38.829,,,,,Product: HOBO U23-001 Temp/RH,"
    trace = parse_logger_file(b"\n".join(lines))
    assert len(trace.readings) == 8
    assert set(trace.notes) == {"1 missing reading (blank or --.-) skipped",
                                "1 event-only row (no temperature) skipped"}


def test_tz_offset_applies_to_device_clocks_without_a_zone() -> None:
    data = read("berlinger-fridgetag-ultralow_100800001215.txt")
    trace = parse_logger_file(data, tz_offset_minutes=120)
    assert trace.readings[0].at == utc(2023, 4, 17, 14, 21)  # 16:21 on a UTC+02:00 clock
    assert "the file's times carry no time zone; they were read as UTC+02:00 (tz_offset_minutes=120)" in trace.notes
    west = parse_logger_file(data, tz_offset_minutes=-330)
    assert west.readings[0].at == utc(2023, 4, 17, 21, 51)
    assert any("UTC−05:30" in note for note in west.notes)


@pytest.mark.parametrize("offset", [True, 1.5, "60"])
def test_tz_offset_must_be_whole_minutes(offset: object) -> None:
    with pytest.raises(TypeError):
        parse_logger_file(b"timestamp,celsius\n2024-05-01T10:00Z,5\n",
                          tz_offset_minutes=offset)  # type: ignore[arg-type]


def test_tz_offset_beyond_fourteen_hours_is_refused() -> None:
    with pytest.raises(ValueError, match="14 hours"):
        parse_logger_file(b"timestamp,celsius\n2024-05-01T10:00Z,5\n", tz_offset_minutes=15 * 60)


def test_rotronic_dates_are_day_first() -> None:
    trace = parse_logger_file(read("rotronic-hl_bom_ini-style-header_fixture.csv"))
    assert [reading.at.day for reading in trace.readings[:3]] == [24, 25, 25]  # 24/01/2020, 25/01/2020


def test_berlinger_without_signature_is_noted_and_missing_daily_values_counted() -> None:
    data = read("berlinger-fridgetag2-fixture_negative_temps.txt")
    assert any("no signature block" in note for note in parse_logger_file(data).notes)
    trace = parse_logger_file(data.replace(b"Min T: -22.5", b"Min T: --.-"))
    assert len(trace.readings) == 3
    assert "1 missing reading (blank or --.-) skipped" in trace.notes


def test_berlinger_data_row_cut_short_is_refused() -> None:
    data = read("berlinger-fridgetag2L_130500109088_upstream-trimmed.txt")
    cut = data[:data.index(b"\t2022-05-12 14:06\t9.6")] + b"\t2022-05-12 14:06\t9."
    assert '"9." is not a number' in refusal(cut)
    assert "not a date and time" in refusal(data.replace(b"\t2022-05-12 14:06\t", b"\t2022-05-12 14\t"))
    assert "out-of-limits" in refusal(data.replace(b"\t8.3\tx", b"\t8.3\tq"))


def test_berlinger_fahrenheit_report_is_converted() -> None:
    data = read("berlinger-fridgetag2-fixture_negative_temps.txt").replace(b"Temp unit: C", b"Temp unit: F")
    trace = parse_logger_file(data)
    assert trace.unit_in_file == "°F"
    assert trace.readings[0].celsius == pytest.approx((-23.0 - 32) * 5 / 9)


def test_berlinger_marker_rows_are_not_readings() -> None:
    data = read("berlinger-qtag-clm-doc-lr_RCPJ00010_03.txt")
    marker = b"\tNumber\tT\tyyyy-MM-dd hh:mm\t\r\n"
    assert marker in data
    trace = parse_logger_file(data.replace(marker, marker + b"\t1\t99.9\t2023-04-18 10:00\t\r\n"))
    assert len(trace.readings) == 424
    assert max(reading.celsius for reading in trace.readings) == 12.7


def test_qtag_without_data_gives_its_run_minimum_and_maximum() -> None:
    data = read("berlinger-qtag-clm-doc-lr_RCPJ00010_03.txt")
    without_data = data[:data.index(b"Data:\r\n")] + data[data.index(b"Cert:\r\n"):]
    trace = parse_logger_file(without_data)
    assert [(reading.at, reading.celsius) for reading in trace.readings] == [
        (utc(2023, 4, 17, 15, 23), 12.7), (utc(2023, 4, 18, 3, 53), 9.7)]
    assert any(note.startswith("run summary only") for note in trace.notes)


def test_line_endings_do_not_matter() -> None:
    data = read("berlinger-fridgetag2L_130500109088_upstream-trimmed.txt")
    lf, cr = data.replace(b"\r\n", b"\n"), data.replace(b"\r\n", b"\r")
    assert parse_logger_file(lf) == parse_logger_file(data) == parse_logger_file(cr)


# ---- our CSV contract -------------------------------------------------------------------------------


def test_csv_contract_offsets_naive_utc_missing_and_sorting() -> None:
    trace = parse("timestamp,celsius\n"
                  "2024-05-01T10:10:00+02:00,5.5\n"
                  "2024-05-01T08:00:00Z,4.0\n"
                  "2024-05-01 08:05,\n"
                  "2024-05-01T08:05:00,--.-\n"
                  "2024-05-01T08:15:00.250,-0.5\n")
    assert trace.source_format == "csv"
    assert trace.readings == (Reading(utc(2024, 5, 1, 8, 0), 4.0), Reading(utc(2024, 5, 1, 8, 10), 5.5),
                              Reading(utc(2024, 5, 1, 8, 15, 0, 250_000), -0.5))
    assert trace.notes[0] == "2 missing readings (blank or --.-) skipped"
    assert "they were read as UTC" in trace.notes[1]


def test_csv_header_any_order_extra_columns_bom_and_quotes() -> None:
    data = codecs.BOM_UTF8 + b'"Celsius","note","Timestamp"\r\n"3.25","door","2024-05-01T08:00:00-05:00"\r\n'
    assert parse(data).readings == (Reading(utc(2024, 5, 1, 13, 0), 3.25),)


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "cp1252", "mac_roman"])
def test_encodings(codec: str) -> None:
    text = "timestamp,celsius\r\n2024-05-01T08:00:00Z,5.0\r\n2024-05-01T08:05:00Z,6.0\r\n"
    assert len(parse(text.encode(codec)).readings) == 2


def test_utf16_hobo_with_degree_sign() -> None:
    text = 'Plot Title: x\r\n#,"Date Time, GMT+00:00","Temp, °C"\r\n1,2024-05-01 08:00:00,5.0\r\n'
    assert parse(text.encode("utf-16")).readings == (Reading(utc(2024, 5, 1, 8, 0), 5.0),)


def test_csv_unsorted_input_comes_back_sorted() -> None:
    rows = [(utc(2024, 5, 1) + timedelta(minutes=5 * i), float(i)) for i in range(50)]
    random.Random(7).shuffle(rows)
    text = "timestamp,celsius\n" + "".join(f"{at.isoformat()},{value}\n" for at, value in rows)
    readings = parse(text).readings
    assert [reading.celsius for reading in readings] == [float(i) for i in range(50)]


@pytest.mark.parametrize("row, words", [
    ("2024-05-01T08:00Z,warm", '"warm" is not a number'),
    ("2024-05-01T08:00Z,5 degrees", '"5 degrees" is not a number'),
    ("2024-05-01T08:00Z,NaN", '"NaN" is not a number'),
    ("2024-05-01T08:00Z,5.0 °F", '"5.0 °F" is not a number'),
    ("01/05/2024 08:00,5.0", "is not ISO 8601"),
    ("2024-02-30T08:00Z,5.0", "is not a real date"),
    ("yesterday,5.0", "is not ISO 8601"),
    ("2024/05/01 08:05,5.0", "is not ISO 8601"),
    (",5.0", "the timestamp is empty"),
    ("2024-05-01T08:00Z,-300", "not a plausible temperature"),
    ("2024-05-01T08:00Z,451", "not a plausible temperature"),
])
def test_csv_with_bad_rows_is_refused_with_the_line(row: str, words: str) -> None:
    message = refusal(f"timestamp,celsius\n2024-05-01T07:55Z,5.0\n{row}\n")
    assert words in message
    assert "line 3" in message or "plausible" in message


def test_csv_value_with_matching_unit_suffix_is_read() -> None:
    assert parse("timestamp,celsius\n2024-05-01T08:00Z,5.5 °C\n").readings[0].celsius == 5.5


def test_csv_without_readings_is_refused() -> None:
    assert "holds no temperature readings" in refusal("timestamp,celsius\n")
    assert "every reading is missing" in refusal("timestamp,celsius\n2024-05-01T08:00Z,\n2024-05-01T08:05Z,--.-\n")


def test_vendor_file_mixing_date_formats_is_refused() -> None:
    message = refusal(hobo("03/26/19 23:30:00,5", "2004-01-19 00:00,5"))
    assert 'mixes different date formats (line 3: "03/26/19 23:30:00"; line 4: "2004-01-19 00:00")' in message
    assert "yesterday" in refusal(hobo("03/26/19 23:30:00,5", "yesterday,5"))


# ---- dates: 12-hour clocks, day/month order ---------------------------------------------------------------


def hobo(*rows: str, unit: str = "°C", zone: str = "GMT+00:00") -> bytes:
    return (f'Plot Title: test\n#,"Date Time, {zone}","Temp, {unit}"\n'
            + "".join(f"{i},{row}\n" for i, row in enumerate(rows, start=1))).encode()


def test_twelve_hour_clock() -> None:
    trace = parse(hobo("03/14/24 11:30:00 PM,5", "03/15/24 12:00:00 AM,5", "03/15/24 12:30:00 PM,5",
                       "03/15/24 01:00:00 pm,5"))
    assert [reading.at for reading in trace.readings] == [
        utc(2024, 3, 14, 23, 30), utc(2024, 3, 15, 0, 0), utc(2024, 3, 15, 12, 30), utc(2024, 3, 15, 13, 0)]
    assert "not a real date and time" in refusal(hobo("03/14/24 13:30:00 PM,5"))


def test_day_month_order_settled_by_a_day_above_twelve() -> None:
    assert parse(hobo("13/04/24 10:00:00,5", "01/05/24 10:00:00,5")).readings[1].at == utc(2024, 5, 1, 10)
    assert parse(hobo("04/13/24 10:00:00,5", "05/01/24 10:00:00,5")).readings[1].at == utc(2024, 5, 1, 10)
    assert "not a real date and time" in refusal(hobo("13/04/24 10:00:00,5", "04/13/24 10:00:00,5"))


def test_day_month_order_settled_by_time_order() -> None:
    trace = parse(hobo("03/04/24 23:30:00,5", "04/04/24 00:00:00,5"))
    assert [reading.at for reading in trace.readings] == [utc(2024, 4, 3, 23, 30), utc(2024, 4, 4, 0, 0)]
    assert any("were read as day/month" in note for note in trace.notes)
    trace = parse(hobo("04/03/24 23:30:00,5", "04/04/24 00:00:00,5"))
    assert trace.readings[0].at == utc(2024, 4, 3, 23, 30)
    assert any("were read as month/day" in note for note in trace.notes)


def test_day_month_order_that_nothing_settles_is_refused() -> None:
    message = refusal(hobo("03/04/24 10:00:00,5", "03/04/24 10:30:00,5"))
    assert "could be day/month or month/day" in message
    # Same day and month: no ambiguity.
    assert parse(hobo("04/04/24 10:00:00,5", "04/04/24 10:30:00,5")).notes == ()


def test_hobo_without_unit_or_temperature_is_refused() -> None:
    assert "states no unit" in refusal(hobo("2024-05-01 08:00:00,5", unit="value"))
    assert "no temperature column" in refusal(b'Plot Title: x\n#,"Date Time, GMT+00:00","RH, %"\n1,2024-05-01 '
                                              b"08:00:00,50\n")


HOBO_SERIES_ROWS = ("2024-05-01 08:00:00,41.0", "2024-05-01 08:10:00,42.8")


@pytest.mark.parametrize("heading, unit, celsius", [
    ("H08 Temp., °F (LGR S/N: 748084)", "°F", 5.0),  # the export the site could not upload
    ("Temp, °C (LGR S/N: 20547370, SEN S/N: 20547370, LBL: Temp)", "°C", 41.0),
    ("Fridge 2 Temperature, °C", "°C", 41.0),
    ("Ext temp (°F)", "°F", 5.0),
    ("Box 3 Temp, *F", "°F", 5.0),
    ("Probe TEMP *C (LGR S/N: 1)", "°C", 41.0),
])
def test_hobo_temperature_column_is_found_whatever_label_comes_before_the_word(heading: str, unit: str,
                                                                               celsius: float) -> None:
    data = (f'Plot Title: fridge\n#,"Date Time, GMT+08:00","RH, % (LGR S/N: 748084, LBL: Temp)",'
            f'"{heading}"\n' + "".join(f"{i},{row.split(',')[0]},55,{row.split(',')[1]}\n"
                                        for i, row in enumerate(HOBO_SERIES_ROWS, start=1))).encode()
    trace = parse(data)
    assert trace.unit_in_file == unit
    assert [reading.celsius for reading in trace.readings][0] == celsius
    assert trace.readings[0].at == utc(2024, 5, 1, 0)


@pytest.mark.parametrize("heading", [
    "RH, %", "Attempt, °C", "Dew Point, °C", "RH, % (LGR S/N: 748084, LBL: Temp)", "Tempo, °C",
])
def test_hobo_file_whose_only_columns_are_not_temperatures_is_still_refused(heading: str) -> None:
    data = f'Plot Title: x\n#,"Date Time, GMT+00:00","{heading}"\n1,2024-05-01 08:00:00,5\n'.encode()
    assert "no temperature column" in refusal(data)


# ---- garbage and limits ------------------------------------------------------------------------------


@pytest.mark.parametrize("data, words", [
    (b"", "the file is empty"),
    (b"  \r\n\t\n", "the file is empty"),
    (codecs.BOM_UTF8 + b"\n", "the file is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG image"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG image"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "upload the .txt file"),
    (b"PK\x03\x04\x14\x00\x06\x00", "Export the readings as CSV"),
    (b"<!DOCTYPE html>\n<html><head><title>Logger</title></head><body>5.0</body></html>", "web page (HTML)"),
    (b"  <html>\n<body><table><tr><td>5.0</td></tr></table></body></html>", "web page (HTML)"),
    (b'{"timestamp": "2024-05-01T08:00Z", "celsius": 5}', "JSON"),
    (b"Hello, this is a letter.\nKind regards\n", "no temperature readings we recognise"),
    (b"Date,Humidity\n2024-05-01 08:00,45\n", "no temperature readings we recognise"),
    (b"when,temperature\n2024-05-01 08:00,5\n", "a layout we do not recognise"),
    (b"Device: Fridge-tag 2\nConf:\n Serial: 1\n", "holds no temperature readings"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "old Excel workbook"),
])
def test_garbage_is_refused_in_words_a_pharmacist_understands(data: bytes, words: str) -> None:
    message = refusal(data)
    assert words in message
    assert message.startswith("This is not a temperature logger file we can read: ")


def test_random_binary_is_refused() -> None:
    generator = random.Random(1271)
    for _ in range(20):
        data = bytes(generator.randrange(256) for _ in range(generator.randrange(1, 5000)))
        message = refusal(data)
        assert message.startswith("This is not a temperature logger file we can read")


def test_filename_only_improves_the_message() -> None:
    message = refusal(b"\x01\x02\x03", "box-17.ltd")
    assert "binary" in message
    assert "LogTag Analyzer" in refusal(b"some,thing\n1,2\n", "box-17.ltd")
    # The content decides: a CSV named .png is still read.
    assert parse_logger_file(b"timestamp,celsius\n2024-05-01T08:00Z,5\n", "photo.png").source_format == "csv"


def test_files_over_five_megabytes_are_refused() -> None:
    six_mb = b"timestamp,celsius\n" + b"2024-05-01T08:00:00Z,5.0\n" * 250_000
    assert len(six_mb) > 6_000_000
    assert "too large" in refusal(six_mb)
    assert "too large" in refusal(b"x" * (MAX_FILE_BYTES + 1))
    assert "too large" not in refusal(b"x" * MAX_FILE_BYTES)


def test_more_than_200000_readings_are_refused() -> None:
    start = datetime(2024, 1, 1)
    rows = "".join(f"{start + timedelta(minutes=i):%Y-%m-%d %H:%M},5\n" for i in range(MAX_READINGS + 1))
    data = ("timestamp,celsius\n" + rows).encode()
    assert len(data) < MAX_FILE_BYTES
    assert "more than 200,000 readings" in refusal(data)


def test_exactly_200000_readings_are_read() -> None:
    start = datetime(2024, 1, 1)
    rows = "".join(f"{start + timedelta(minutes=i):%Y-%m-%d %H:%M},5\n" for i in range(MAX_READINGS))
    assert len(parse("timestamp,celsius\n" + rows).readings) == MAX_READINGS


def test_logger_file_error_is_a_value_error() -> None:
    assert issubclass(LoggerFileError, ValueError)


def test_reading_must_be_aware_and_finite() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Reading(datetime(2024, 5, 1), 5.0)
    with pytest.raises(ValueError, match="finite"):
        Reading(utc(2024, 5, 1), float("nan"))


# ---- properties ---------------------------------------------------------------------------------------


@PROPERTY
@given(st.lists(st.tuples(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31),
                                       timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)),
                                                                  timezone(timedelta(minutes=330))])),
                          st.integers(min_value=-2000, max_value=1000)),
                min_size=1, max_size=40))
def test_csv_round_trip(rows: list[tuple[datetime, int]]) -> None:
    text = "timestamp,celsius\n" + "".join(f"{at.isoformat()},{tenths / 10:.1f}\n" for at, tenths in rows)
    readings = parse(text).readings
    expected = sorted(((at.astimezone(UTC), tenths / 10) for at, tenths in rows), key=lambda row: row[0])
    assert [(reading.at, reading.celsius) for reading in readings] == expected


@PROPERTY
@given(st.binary(max_size=3000))
def test_any_bytes_give_a_trace_or_a_logger_file_error(data: bytes) -> None:
    try:
        trace = parse_logger_file(data)
    except LoggerFileError as error:
        assert str(error).startswith("This ")
    else:
        assert trace.readings


@pytest.mark.parametrize("name", sorted([*VALID, *REFUSED]))
def test_damaged_copies_of_shared_files_give_a_trace_or_a_logger_file_error(name: str) -> None:
    """Cut, flipped, dropped and doubled bytes and lines: never a crash, never an empty trace."""
    data = read(name)
    generator = random.Random(name)
    for _ in range(40):
        damaged = bytearray(data)
        operation = generator.randrange(4)
        if operation == 0:
            damaged = damaged[:generator.randrange(len(damaged))]
        elif operation == 1:
            for _ in range(generator.randrange(1, 6)):
                damaged[generator.randrange(len(damaged))] = generator.randrange(256)
        else:
            lines = bytes(damaged).split(b"\n")
            index = generator.randrange(len(lines))
            if operation == 2:
                del lines[index]
            else:
                lines.insert(index, lines[generator.randrange(len(lines))])
            damaged = bytearray(b"\n".join(lines))
        try:
            trace = parse_logger_file(bytes(damaged))
        except LoggerFileError as error:
            assert str(error).startswith("This ")
        else:
            assert trace.readings
