"""The four reconciliation reports and the trace at N× the trial (320 patients × N), on SQLite
and PostgreSQL: wall time and SQL statements per request, served in-process through the JSON
API (a page of 500 rows, totals over everything), plus each whole report computed without
paging and as CSV (read to the end; then, separately, the time to each download's first byte
and to its first rows after the header block). Targets: each report < 2 s at 100×, time
growing no faster than linearly, the statement count constant, a download's first byte
< 300 ms.

    .venv/bin/python benchmarks/reconciliation.py                       # 1×, 10×, 100×, both databases
    .venv/bin/python benchmarks/reconciliation.py --scales 1 10 --databases sqlite
    .venv/bin/python benchmarks/reconciliation.py --reuse               # keep databases built earlier

PostgreSQL databases are cc_recon_bench_<scale> on 127.0.0.1 (dropped and rebuilt unless
--reuse; `--name` picks another prefix); SQLite files live in the system's temporary folder.
"""
import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/cc_recon_bench_{scale}"
MONITOR, PASSWORD = "bench-monitor", "bench-password-1"
REPEAT = 3


def url_for(database: str, scale: int, name: str = "cc_recon_bench") -> str:
    if database == "postgresql":
        return PG.replace("cc_recon_bench", name).format(scale=scale)
    return f"sqlite:///{Path(tempfile.gettempdir()) / f'{name}_{scale}.sqlite3'}"


# ---- data ---------------------------------------------------------------------------------------

def enrich(now: datetime) -> dict[str, int]:
    """On top of trial_data's trial (half the patients given visit 1, every other allocated
    dose received at its site): the e-signatures behind the records, partial and out-of-window
    infusions, and doses destroyed, returned and dispensed at the sites, all set-based."""
    from sqlalchemy import Integer, String, and_, cast, func, insert, literal, select, update

    from cell_chain.batches.models import Dose, Lot
    from cell_chain.core.db import UtcDateTime, db
    from cell_chain.accounts.signatures import Signature
    from cell_chain.patients.models import Visit
    from cell_chain.infusions.models import Infusion
    from cell_chain.shipments.models import CustodyEvent, Shipment

    hashed = literal("0" * 64)
    at_now = literal(now, UtcDateTime())

    def sign(source: Any, kind: str, signer: Any, meaning: str, at: Any) -> None:
        columns = ("entity_type", "entity_id", "signer_id", "printed_name", "meaning", "signed_at", "content_hash")
        db.session.execute(insert(Signature).from_select(columns, source.with_only_columns(
            literal(kind), cast(source.selected_columns[0], String), signer, literal(f"Bench {meaning}"),
            literal(meaning), at, hashed)))

    sign(select(Infusion.id), "infusions", Infusion.nurse_id, "Administered", Infusion.recorded_at)
    sign(select(Infusion.id), "infusions", Infusion.witness_id, "Witnessed", Infusion.recorded_at)
    db.session.execute(update(Shipment).where(Shipment.status == "received")
                       .values(received_at=now - timedelta(days=248), received_by_id=Shipment.created_by_id))
    sign(select(Shipment.id), "shipments", Shipment.created_by_id, "Received", at_now)
    sign(select(Lot.id), "lots", Lot.created_by_id, "Released", at_now)
    db.session.execute(update(Infusion).where(Infusion.id % 10 == 0).values(partial=True, volume_ml=30.0))
    db.session.execute(update(Infusion).where(Infusion.id % 7 == 0).values(out_of_window=True,
                                                                           deviation_reason="bench"))
    db.session.execute(update(Visit).where(Visit.id.in_(select(Infusion.visit_id).where(Infusion.out_of_window)))
                       .values(recorded="done_out_of_window"))
    receipt = (select(CustodyEvent.dose_id, CustodyEvent.to_party, CustodyEvent.shipment_id)
               .join(Dose, Dose.id == CustodyEvent.dose_id)
               .where(CustodyEvent.kind == "receipt", Dose.status == "received"))
    counts = {}
    for kind, status, remainder, to, ago in (
            ("destroy", "destroyed", 7, literal("destroyed:") + func.substr(CustodyEvent.to_party, 10), 30),
            ("return", "returned", 11, literal("lab:A9999"), 20),
            ("dispense", "dispensed", 19, literal("ward:") + func.substr(CustodyEvent.to_party, 10)
             + literal(":bench-nurse"), 1)):
        chosen = receipt.where(CustodyEvent.dose_id % 40 == remainder)
        columns = ("dose_id", "kind", "from_party", "to_party", "place", "condition", "shipment_id",
                   "occurred_at", "recorded_by_id")
        db.session.execute(insert(CustodyEvent).from_select(columns, chosen.with_only_columns(
            CustodyEvent.dose_id, literal(kind), CustodyEvent.to_party, to, literal("bench"), literal("bench"),
            literal(None, Integer()), literal(now - timedelta(days=ago), UtcDateTime()), literal(1))))
        result = db.session.execute(update(Dose).where(and_(Dose.status == "received", Dose.id % 40 == remainder))
                                    .values(status=status))
        counts[status] = result.rowcount
    db.session.commit()
    return counts


def analyse() -> None:
    """Planner statistics after the bulk load, as a deployment's maintenance keeps them:
    VACUUM ANALYZE on PostgreSQL (also marks the pages all-visible, for index-only scans),
    ANALYZE on SQLite (which otherwise guesses every table's size)."""
    from cell_chain.core.db import db

    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(db.text("VACUUM ANALYZE"))
    else:
        db.session.execute(db.text("ANALYZE"))
        db.session.commit()


def prepare(url: str, scale: int, reuse: bool) -> None:
    from flask_migrate import upgrade
    from sqlalchemy import func, inspect, select

    import trial_data
    from cell_chain import create_app
    from cell_chain.accounts import services as accounts
    from cell_chain.core.db import db
    from cell_chain.patients.models import Patient

    from sqlalchemy.exc import OperationalError

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        try:
            built = reuse and inspect(db.engine).has_table("patients")
        except OperationalError:  # no such database yet: build it
            built = False
        if built and db.session.scalar(select(func.count(Patient.id))) == 320 * scale:
            db.session.remove()  # (SQLite: the migration needs the write lock this session holds)
            upgrade()  # a database built before a later migration (an index, say) gets it
            analyse()
            db.engine.dispose()
            return
        db.engine.dispose()
    if url.startswith("postgresql"):
        import psycopg
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{parsed.database}"')
    else:
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        upgrade()
        started = time.perf_counter()
        now = datetime.now(UTC)
        built = trial_data.build(scale, now)
        trial_data.fix_sequences()
        extra = enrich(now)
        accounts.create_user(username=MONITOR, display_name="Bench Monitor", role="monitor", password=PASSWORD,
                             site_code=None, actor=None, now=now)
        db.session.commit()
        analyse()
        print(f"  data: {built['patients']:,} patients, {built['doses']:,} doses, {built['custody_events']:,} "
              f"custody events (+ {extra}) in {time.perf_counter() - started:.0f} s", flush=True)
        db.engine.dispose()


# ---- measuring ----------------------------------------------------------------------------------

class Counter:
    def __init__(self) -> None:
        self.statements = 0

    def __call__(self, *args: Any) -> None:
        self.statements += 1


def timed(call: Callable[[], Any], counter: Counter) -> tuple[float, float, int]:
    """Median wall time and this process's CPU time of REPEAT calls after one warm-up, and
    the statements of one call. On a shared machine the CPU time is the steadier figure for
    SQLite (all of its work is in this process); PostgreSQL's own work shows in wall time only."""
    call()
    times, cpu, statements = [], [], set()
    for _ in range(REPEAT):
        counter.statements = 0
        started, processor = time.perf_counter(), time.process_time()
        call()
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - processor)
        statements.add(counter.statements)
    if len(statements) != 1:
        raise RuntimeError(f"statement count varies between identical calls: {statements}")
    return statistics.median(times), statistics.median(cpu), statements.pop()


def measure(url: str) -> dict[str, tuple[float, float, int]]:
    from sqlalchemy import event, select

    from cell_chain import create_app
    from cell_chain.batches.models import Donor
    from cell_chain.core.db import db
    from cell_chain.reconciliation.discrepancies import find_discrepancies
    from cell_chain.reconciliation.lots import reconcile_lots
    from cell_chain.reconciliation.patients import reconcile_patients
    from cell_chain.reconciliation.scope import Scope
    from cell_chain.reconciliation.sites import reconcile_sites

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    gc.freeze()  # as wsgi.py does once the app is built
    client = app.test_client()
    with app.app_context():
        donor_din = db.session.scalar(select(Donor.din).order_by(Donor.id).limit(1))
        engine = db.engine
    response = client.post("/api/auth/token", json={"username": MONITOR, "password": PASSWORD})
    headers = {"Authorization": f"Bearer {response.get_json()['token']}"}
    counter = Counter()
    event.listen(engine, "before_cursor_execute", counter)

    def get(path: str) -> Callable[[], Any]:
        def call() -> Any:
            answer = client.get(path, headers=headers)
            if answer.status_code != 200:
                raise RuntimeError(f"{path} answered {answer.status_code}: {answer.get_data(as_text=True)[:300]}")
            answer.get_data()  # a streamed download does its work as it is read
            return answer
        return call

    def first_chunks(path: str) -> tuple[float, float]:
        """Seconds to the download's first byte, and to its first rows (the first chunk after
        the byte-order mark and the header block), median of REPEAT reads read to the end."""
        firsts, rows = [], []
        for _ in range(REPEAT):
            started = time.perf_counter()
            answer = client.get(path, headers=headers)
            chunks = iter(answer.response)
            next(chunks)
            firsts.append(time.perf_counter() - started)
            next(chunks, None)
            next(chunks, None)
            rows.append(time.perf_counter() - started)
            for _ in chunks:
                pass
            answer.close()
        return statistics.median(firsts), statistics.median(rows)

    def whole(function: Callable[..., Any]) -> Callable[[], Any]:
        def call() -> Any:
            with app.app_context():
                return function(Scope(), now=datetime.now(UTC))
        return call

    figures = {}
    for report in ("patients", "sites", "lots", "discrepancies"):
        figures[f"GET /api/reconciliation/{report}"] = timed(get(f"/api/reconciliation/{report}"), counter)
    figures["GET /api/trace/donors/<din>"] = timed(get(f"/api/trace/donors/{donor_din}"), counter)
    figures["GET /api/trace/patients/LZ-0001"] = timed(get("/api/trace/patients/LZ-0001"), counter)
    for name, function in (("patients", reconcile_patients), ("sites", reconcile_sites), ("lots", reconcile_lots),
                           ("discrepancies", find_discrepancies)):
        figures[f"whole {name} report (no paging)"] = timed(whole(function), counter)
    for report in ("patients", "sites", "lots", "discrepancies"):
        figures[f"GET /reports/reconciliation/{report}.csv"] = timed(
            get(f"/reports/reconciliation/{report}.csv"), counter)
    event.remove(engine, "before_cursor_execute", counter)
    for report in ("patients", "sites", "lots", "discrepancies"):
        first, rows = first_chunks(f"/reports/reconciliation/{report}.csv")
        figures[f"  {report}.csv first byte"] = (first, 0.0, 0)
        figures[f"  {report}.csv first rows"] = (rows, 0.0, 0)
    engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--reuse", action="store_true", help="keep a database built earlier at the same scale")
    parser.add_argument("--name", default="cc_recon_bench",
                        help="databases <name>_<scale> (one's own when others benchmark on the same server)")
    args = parser.parse_args()
    results: dict[tuple[str, int], dict[str, tuple[float, float, int]]] = {}
    for database in args.databases:
        for scale in args.scales:
            url = url_for(database, scale, args.name)
            print(f"{database} {scale}× ({320 * scale:,} patients)", flush=True)
            prepare(url, scale, args.reuse)
            results[(database, scale)] = measure(url)
            for name, (seconds, cpu, statements) in results[(database, scale)].items():
                print(f"  {name:42s} {seconds * 1000:9.1f} ms  (cpu here {cpu * 1000:8.1f} ms)  "
                      f"{statements:3d} statements", flush=True)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for database in args.databases:
        names = list(results[(database, args.scales[0])])
        print(f"\n{database}: median wall ms / cpu ms in this process (statements) by scale")
        print(f"  {'':42s}" + "".join(f"{f'{s}×':>24s}" for s in args.scales))
        for name in names:
            cells = [results[(database, s)][name] for s in args.scales]
            print(f"  {name:42s}" + "".join(f"{t * 1000:10.0f} /{c * 1000:6.0f} ({n:3d})" for t, c, n in cells))
        if len(args.scales) > 1:
            print("  statement count constant across scales: " + str(all(
                len({results[(database, s)][n][2] for s in args.scales}) == 1 for n in names)))


if __name__ == "__main__":
    main()
