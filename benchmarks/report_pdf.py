"""Report export speed: a 5,000-row, nine-column table as PDF and as CSV (target: a PDF in
well under the 30 s a web worker may take, on the two-core CI machine).

    .venv/bin/python benchmarks/report_pdf.py [--rows 5000]
"""
import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cell_chain.reconciliation.export import (  # noqa: E402
    Column, Report, SignatureLine, Table, report_csv, report_pdf,
)

PDF_TARGET_SECONDS = 15.0


def report(rows: int) -> Report:
    start = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    columns = [Column("site", "Site"), Column("lot", "Lot"), Column("dose", "Dose code"), Column("status", "Status"),
               Column("subject", "Subject ID"), Column("visit", "Visit", True), Column("volume", "Volume (ml)", True),
               Column("at", "Administered (UTC)"), Column("note", "Comment")]
    data = [{"site": ("LZ", "BJ", "SH", "GZ", "CD", "WH")[i % 6], "lot": f"UC-2026-{i % 37 + 1:03d}",
             "dose": f"A99992600{i % 999 + 1:04d}-{i + 1:06d}", "status": ("administered", "in_transit", "received")[i % 3],
             "subject": f"LZ-{i % 320 + 1:04d}", "visit": i % 4 + 1, "volume": 40.0 - (i % 5) * 0.5,
             "at": start + timedelta(hours=i), "note": "Partial infusion, stopped at 32 ml" if i % 17 == 0 else ""}
            for i in range(rows)]
    return Report("benchmark", "Doses", "All sites", datetime.now(UTC), "Benchmark",
                  [Table("Doses", columns, data, {"visit": sum(r["visit"] for r in data)})],
                  [SignatureLine("Qian QA", "Released", start, "Lot UC-2026-001")])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5000)
    args = parser.parse_args()
    report_pdf(report(10))  # WeasyPrint's import and font loading are not part of a report
    big = report(args.rows)
    wall, cpu = time.perf_counter(), time.process_time()
    pdf = report_pdf(big)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    import pypdfium2

    pages = len(pypdfium2.PdfDocument(pdf))
    csv_start = time.perf_counter()
    text = report_csv(big)
    csv_seconds = time.perf_counter() - csv_start
    print(f"PDF: {args.rows} rows, {pages} pages, {len(pdf) / 1024:.0f} KB in {wall:.1f} s "
          f"({cpu:.1f} s CPU; target {PDF_TARGET_SECONDS:.0f} s)")
    print(f"CSV: {len(text) / 1024:.0f} KB in {csv_seconds * 1000:.0f} ms")


if __name__ == "__main__":
    main()
