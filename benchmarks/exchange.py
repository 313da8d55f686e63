"""The exchange at N× the trial (320 patients × N, four doses each, from reconciliation.py's
builder): each SDTM dataset of the whole trial as SAS transport and CSV, a subject's FHIR
$everything and a product search by DIN, served in-process; wall time and SQL statements
per request. Targets: the datasets in seconds at 10× (a submission is cut a few times a
year), $everything and the search in tens of milliseconds with a statement count that does
not grow with the trial.

    .venv/bin/python benchmarks/exchange.py                        # 1× and 10×, SQLite and PostgreSQL
    .venv/bin/python benchmarks/exchange.py --scales 1 --databases sqlite
    .venv/bin/python benchmarks/exchange.py --reuse                # keep databases built earlier

PostgreSQL databases are cc_exchange_bench_<scale> on 127.0.0.1 (dropped and rebuilt unless
--reuse, or named by --postgres-url with {scale} in it); SQLite files live in the system's
temporary folder.
"""
import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from reconciliation import MONITOR, PASSWORD, Counter, prepare, timed  # noqa: E402

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/cc_exchange_bench_{scale}"


def url_for(database: str, scale: int, postgres: str) -> str:
    if database == "postgresql":
        return postgres.format(scale=scale)
    return f"sqlite:///{Path(tempfile.gettempdir()) / f'cc_exchange_bench_{scale}.sqlite3'}"


def backdate_allocations(url: str) -> None:
    """trial_data allocates every dose "now" but hands doses over up to 250 days ago; DA names
    the subject a dose was allocated to when it moved, so allocations go back a year first."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from cell_chain import create_app
    from cell_chain.core.db import db
    from cell_chain.patients.models import Allocation

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        db.session.execute(update(Allocation).values(allocated_at=datetime.now(UTC) - timedelta(days=365)))
        db.session.commit()
        db.engine.dispose()


def measure(url: str) -> dict[str, tuple[float, float, int, int]]:
    from sqlalchemy import event, select

    from cell_chain import create_app
    from cell_chain.core.db import db
    from cell_chain.patients.models import Patient
    from cell_chain.infusions.models import Infusion
    from cell_chain.batches.models import Lot

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    client = app.test_client()
    with app.app_context():
        subject = db.session.scalar(select(Patient.subject_id).join(Infusion, Infusion.patient_id == Patient.id)
                                    .order_by(Patient.id).limit(1))
        din = db.session.scalar(select(Lot.din).order_by(Lot.id).limit(1))
        engine = db.engine
    response = client.post("/api/auth/token", json={"username": MONITOR, "password": PASSWORD})
    headers = {"Authorization": f"Bearer {response.get_json()['token']}"}
    counter = Counter()
    event.listen(engine, "before_cursor_execute", counter)
    sizes: dict[str, int] = {}

    def get(path: str, **query: str) -> Callable[[], Any]:
        def call() -> Any:
            answer = client.get(path, headers=headers, query_string=query)
            if answer.status_code != 200:
                raise RuntimeError(f"{path} answered {answer.status_code}: {answer.get_data(as_text=True)[:300]}")
            sizes[path] = len(answer.data)
            return answer
        return call

    figures = {}
    for name in ("ex", "da", "dv"):
        for fmt in ("xpt", "csv"):
            path = f"/api/exports/sdtm/{name}.{fmt}"
            figures[f"GET {path}"] = (*timed(get(path), counter), sizes[path])
    path = f"/fhir/Patient/{subject}/$everything"
    figures["GET /fhir/Patient/<infused>/$everything"] = (*timed(get(path), counter), sizes[path])
    path = "/fhir/BiologicallyDerivedProduct"
    figures["GET /fhir/BiologicallyDerivedProduct?identifier=<DIN>"] = (
        *timed(get(path, identifier=din), counter), sizes[path])
    event.remove(engine, "before_cursor_execute", counter)
    engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--postgres-url", default=PG, help="with {scale} in the database name")
    parser.add_argument("--reuse", action="store_true", help="keep a database built earlier at the same scale")
    args = parser.parse_args()
    for database in args.databases:
        for scale in args.scales:
            url = url_for(database, scale, args.postgres_url)
            print(f"{database} {scale}× ({320 * scale:,} patients)", flush=True)
            prepare(url, scale, args.reuse)
            backdate_allocations(url)
            for name, (seconds, cpu, statements, size) in measure(url).items():
                print(f"  {name:58s} {seconds * 1000:9.1f} ms  (cpu here {cpu * 1000:8.1f} ms)  "
                      f"{statements:3d} statements  {size / 1024:8.1f} KiB", flush=True)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
