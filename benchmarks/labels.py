"""Label rendering speed: a lot's bag labels as one PDF and as ZPL, in labels per second."""
import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cell_chain.core.isbt128 import Din, DoseNumber, Expiry, ProductCode  # noqa: E402
from cell_chain.labels import barcodes  # noqa: E402
from cell_chain.labels.rendering import BagLabel, render_pdf, render_zpl  # noqa: E402

PDF_TARGET = 50.0
ZPL_TARGET = 1000.0


def lot_of_bag_labels(count: int) -> list[BagLabel]:
    din = Din("A9999", 26, 123)
    return [
        BagLabel(
            product_name="UC-MSC — Umbilical Cord Mesenchymal Stromal Cells",
            caution="Caution: New Drug — Limited by Federal (or United States) law to "
                    "investigational use",
            din=din,
            product=ProductCode("YA001", "V", "00"),
            dose_number=DoseNumber(number),
            expiry=Expiry(datetime(2026, 7, 1, 14, 30, tzinfo=UTC)),
            storage="Store at ≤ −150 °C (vapour phase liquid nitrogen)",
            cells_text="4×10⁷ cells",
            volume_text="40 ml",
            lot_number="LOT-2026-0007",
            facility_name="cell-chain GMP facility",
            dose_code=f"{din.code}-{number:06d}",
        )
        for number in range(1, count + 1)
    ]


def timed(function, *args) -> float:
    """Wall-clock seconds; the process's CPU seconds go to CPU_SECONDS (other load on the
    machine stretches the first, much less the second)."""
    for cached in (barcodes.code128, barcodes.data_matrix, barcodes.qr):
        cached.cache_clear()
    cpu, start = time.process_time(), time.perf_counter()
    function(*args)
    CPU_SECONDS.append(time.process_time() - cpu)
    return time.perf_counter() - start


CPU_SECONDS: list[float] = []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100, help="doses in the lot (default 100)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each (default 3)")
    args = parser.parse_args()
    if args.count < 1 or args.repeat < 1:
        parser.error("--count and --repeat must be at least 1")

    # Barcode caches are emptied before every run: each pays for its barcodes, as a new lot does.
    # The very first render also loads fonts and templates once per process: reported apart.
    cold = timed(render_pdf, "bag", lot_of_bag_labels(1))
    pdf_runs = [timed(render_pdf, "bag", lot_of_bag_labels(args.count)) for _ in range(args.repeat)]
    pdf_cpu = statistics.median(CPU_SECONDS[-args.repeat:])
    zpl_runs = [timed(render_zpl, "bag", lot_of_bag_labels(args.count)) for _ in range(args.repeat)]
    size = len(render_pdf("bag", lot_of_bag_labels(args.count)))

    pdf_rate = args.count / statistics.median(pdf_runs)
    zpl_rate = args.count / statistics.median(zpl_runs)
    print(f"bag labels, lot of {args.count} doses, {args.repeat} runs each (median)")
    print(f"  first render in this process (fonts, templates): {cold * 1000:.0f} ms")
    print(f"  PDF, one document: {statistics.median(pdf_runs):.3f} s = {pdf_rate:.1f} labels/s "
          f"(best {args.count / min(pdf_runs):.1f}; target >= {PDF_TARGET:.0f}) "
          f"{'ok' if pdf_rate >= PDF_TARGET else 'BELOW TARGET'}; {size / 1024:.0f} KiB; "
          f"CPU {pdf_cpu:.3f} s = {args.count / pdf_cpu:.1f} labels/s")
    print(f"  ZPL:               {statistics.median(zpl_runs):.3f} s = {zpl_rate:.0f} labels/s "
          f"(target >= {ZPL_TARGET:.0f}) {'ok' if zpl_rate >= ZPL_TARGET else 'BELOW TARGET'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
