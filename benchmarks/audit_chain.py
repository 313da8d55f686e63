"""Full audit chain verification against a raw read of the same table, on PostgreSQL.

    .venv/bin/python benchmarks/audit_chain.py --events 1000000 \
        --database postgresql+psycopg://postgres@127.0.0.1:5432/cc_bench_audit

Builds the chain through the project's bulk append path (`core.audit.record_batch`, the same
hashes and links as one event at a time) into a fresh database, then times, in the same run and
alternately, `COPY audit_events TO STDOUT` read into nothing and a full `flask audit verify`
(a subprocess: what cron runs, start-up included). Prints both, their ratio and the verifier's
peak memory. Targets: verification ≤ 3× the raw read and < 10 s at 10⁶ events; memory flat
(compare `--events 100000`). `--reuse` keeps a database an earlier run built with as many
events or more (each verification appends its checkpoint's event).
"""
import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BATCH = 20_000
ACTIONS = [
    ("dose.status_changed", "doses", lambda n: {"status": ["received", "dispensed"],
                                                "custodian": ["LZ pharmacy", f"nurse{n % 97}"]}),
    ("label.printed", "print_jobs", lambda n: {"kind": "dose", "template": "bag-label v3",
                                               "copies": 1, "reprint": False,
                                               "target": f"=A99992600{n % 10**6:04d}00"}),
    ("custody.recorded", "custody_events", lambda n: {
        "dose_id": [None, n], "from_party": [None, "courier SF-Express"],
        "to_party": [None, "LZ pharmacy"], "place": [None, "Lanzhou, receiving bay 2"],
        "condition": [None, "intact, logger 2.1–7.8 °C"]}),
    ("infusion.recorded", "infusions", lambda n: {
        "patient_id": [None, n % 32_000], "dose_id": [None, n], "volume_ml": [None, "40.0"],
        "tolerance_grade": [None, n % 3], "serious": [None, False],
        "adverse_events": [None, "轻度发热 mild fever" if n % 11 == 0 else ""]}),
]


def prepare(url: str, events: int) -> float:
    import psycopg
    from flask_migrate import upgrade
    from sqlalchemy.engine import make_url

    from cell_chain import create_app
    from cell_chain.core.audit import BatchEvent, record_batch
    from cell_chain.core.db import db

    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{parsed.database}"')
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    rng = random.Random(16)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    started = time.perf_counter()
    with app.app_context():
        upgrade()
        written = 0
        while written < events:
            size = min(BATCH, events - written)
            batch = []
            for n in range(written, written + size):
                action, entity_type, details = ACTIONS[rng.randrange(len(ACTIONS))]
                # Some times fall on whole seconds: the verifier must format both forms.
                at = start + timedelta(seconds=n * 90, microseconds=rng.choice((0, rng.randrange(10**6))))
                batch.append(BatchEvent(action, entity_type, str(n), details(n), at,
                                        actor_username=f"user{n % 250}",
                                        reason="label damaged in transit" if n % 53 == 0 else None))
            record_batch(batch)
            db.session.commit()
            written += size
            print(f"\rbuilt {written:,} events", end="", flush=True)
        db.engine.dispose()
    print()
    built = time.perf_counter() - started
    target = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE audit_events")  # as autovacuum would after a bulk load
    return built


def existing_events(url: str) -> int:
    import psycopg
    from sqlalchemy.engine import make_url

    target = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(target) as conn:
            return conn.execute("SELECT count(*) FROM audit_events").fetchone()[0]
    except psycopg.Error:
        return 0


def raw_read(url: str) -> tuple[float, int]:
    """COPY the whole table to the client and drop it: the floor for reading every event."""
    import psycopg
    from sqlalchemy.engine import make_url

    target = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(target) as conn:
        started = time.perf_counter()
        size = 0
        with conn.cursor().copy("COPY audit_events TO STDOUT") as copy:
            for data in copy:
                size += len(data)
        return time.perf_counter() - started, size


def full_verify(url: str, jobs: int) -> tuple[float, int, str]:
    """`flask audit verify` as cron runs it: wall time, peak RSS (KiB) and its last line."""
    env = os.environ | {"DATABASE_URL": url, "SECRET_KEY": "bench", "FLASK_APP": "wsgi"}
    started = time.perf_counter()
    process = subprocess.Popen([str(Path(sys.executable).parent / "flask"), "audit", "verify",
                                "--jobs", str(jobs)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    out, err = process.stdout.read(), process.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"flask audit verify failed:\n{out}\n{err}")
    return elapsed, usage.ru_maxrss, out.strip().splitlines()[0]


def startup(url: str) -> float:
    env = os.environ | {"DATABASE_URL": url, "SECRET_KEY": "bench", "FLASK_APP": "wsgi"}
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "flask"), "audit", "--help"], cwd=ROOT,
                   env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--database", default="postgresql+psycopg://postgres@127.0.0.1:5432/cc_bench_audit")
    parser.add_argument("--repeat", type=int, default=3, help="alternating timings of each")
    parser.add_argument("--jobs", type=int, default=2, help="flask audit verify --jobs")
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()
    if not args.database.startswith("postgresql"):
        raise SystemExit("a PostgreSQL URL: the comparison is with COPY")

    have = existing_events(args.database) if args.reuse else 0
    if have >= args.events:
        print(f"reusing {have:,} events")
    else:
        built = prepare(args.database, args.events)
        print(f"built {args.events:,} events through record_batch in {built:.1f} s "
              f"({args.events / built:,.0f} events/s)")

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    raw_read(args.database)  # warm the cache for both
    reads, verifies, peaks = [], [], []
    for _ in range(args.repeat):
        seconds, size = raw_read(args.database)
        reads.append(seconds)
        seconds, peak, line = full_verify(args.database, args.jobs)
        verifies.append(seconds)
        peaks.append(peak)
    fixed = startup(args.database)
    read, verify = statistics.median(reads), statistics.median(verifies)
    print(f"flask audit verify said: {line}")
    print(f"raw read (COPY audit_events TO STDOUT, {size / 2**20:,.0f} MiB): "
          f"{' '.join(f'{s:.2f}' for s in reads)} s, median {read:.2f} s")
    print(f"full flask audit verify --jobs {args.jobs}: {' '.join(f'{s:.2f}' for s in verifies)} s, "
          f"median {verify:.2f} s (of which {fixed:.2f} s is the flask command starting)")
    print(f"ratio verify / raw read: {verify / read:.2f}× (target ≤ 3×); "
          f"absolute {verify:.2f} s (target < 10 s)")
    print(f"peak memory of the verifier: {max(peaks) / 1024:.0f} MiB; "
          f"this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
