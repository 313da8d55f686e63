"""Bedside verify latency at N× the trial against an authenticated no-op of the same app,
both served by gunicorn over loopback. Targets: p50 ≤ 2× and p99 ≤ 3× the no-op.

    .venv/bin/python benchmarks/bedside.py --scale 100 --database postgresql+psycopg://postgres@127.0.0.1:5432/cc_bench

`--reuse` keeps a database an earlier run built at that scale (the verify log it grew is
immaterial: nothing the verify reads depends on it).
"""
import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def existing(url: str) -> dict | None:
    """The sample scans of a database a previous run built, or None if there is none."""
    from sqlalchemy import func, inspect, select

    from cell_chain import create_app
    from cell_chain.core.db import db
    from cell_chain.patients.models import Patient
    import trial_data

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        try:
            if not inspect(db.engine).has_table("patients"):
                return None
            from flask_migrate import upgrade

            upgrade()  # a migration added since the last run
            patients = db.session.scalar(select(func.count(Patient.id)))
            built = {"patients": patients, "samples": trial_data.samples()}
        except Exception:  # noqa: BLE001 - no such database: build it
            return None
        finally:
            db.session.remove()
            db.engine.dispose()
    return built


def prepare(url: str, scale: int) -> dict:
    from flask_migrate import upgrade

    from cell_chain import create_app
    from cell_chain.core.db import db
    import trial_data

    if url.startswith("postgresql"):
        import psycopg
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{parsed.database}"')
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        upgrade()
        started = time.perf_counter()
        built = trial_data.build(scale, datetime.now(UTC))
        trial_data.fix_sequences()
        print(f"data: {built['patients']:,} patients, {built['doses']:,} doses, "
              f"{built['custody_events']:,} custody events in {time.perf_counter() - started:.0f} s")
        db.engine.dispose()
    if url.startswith("postgresql"):
        # As autovacuum would shortly after a bulk load: planner statistics and hint bits in
        # place, so the run measures the app, not the database catching up under it.
        target = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
    return built


def statements_per_request(url: str, token: str, pairs: list[tuple[str, str]]) -> dict[str, list[int]]:
    """SQL statements each endpoint runs, counted in-process (same app, same database) for a
    few different pairs: the count must not depend on which patient or how much data."""
    from sqlalchemy import event

    from cell_chain import create_app
    from cell_chain.core.db import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    counts: dict[str, list[int]] = {"me": [], "verify": []}
    with app.app_context():
        engine = db.engine
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    # Outside any app context, so that each request has its own session, as when served.
    for subject, compound in pairs:
        for name, call in (("me", lambda: client.get("/api/me", headers=headers)),
                           ("verify", lambda: client.post("/api/infusions/verify", headers=headers,
                                                          json={"patient_scan": subject, "dose_scan": compound}))):
            seen.clear()
            if call().status_code != 200:
                raise RuntimeError(f"{name} failed")
            counts[name].append(len(seen))
    engine.dispose()
    return counts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(conn: http.client.HTTPConnection, method: str, path: str, body: dict | None, token: str) -> float:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    started = time.perf_counter()
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - started
    if response.status != 200:
        raise RuntimeError(f"{method} {path} answered {response.status}")
    return elapsed


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=100, help="× the trial's 320 patients")
    parser.add_argument("--database", default=None, help="SQLAlchemy URL (default: a temporary SQLite file)")
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--reuse", action="store_true",
                        help="use the database a previous run built at the same scale (no rebuild)")
    args = parser.parse_args()
    url = args.database or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    built = existing(url) if args.reuse else None
    if built is not None and built["patients"] != 320 * args.scale:
        built = None
    if built is None:
        built = prepare(url, args.scale)
    else:
        print(f"data: reusing {built['patients']:,} patients at {url.split('@')[-1]}")
    port = free_port()
    env = os.environ | {"DATABASE_URL": url, "SECRET_KEY": "bench"}
    server = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "--workers", "2", "--bind", f"127.0.0.1:{port}",
                               "--log-level", "warning", "wsgi:app"], cwd=ROOT, env=env)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        samples = built["samples"]
        rng = random.Random(1)
        by_site: dict[str, list] = {}
        for site, subject, compound in samples:
            by_site.setdefault(site, []).append((subject, compound))
        site = "LZ"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/api/auth/token", body=json.dumps({"username": f"{site.lower()}-nurse",
                                                                "password": "bench-password-1"}),
                     headers={"Content-Type": "application/json"})
        token = json.loads(conn.getresponse().read())["token"]
        noop, verify = [], []
        for i in range(args.requests + 50):
            # the patient's own dose: the full decision runs (a mismatch would stop early)
            subject, compound = rng.choice(by_site[site])
            a = request(conn, "GET", "/api/me", None, token)
            b = request(conn, "POST", "/api/infusions/verify", {"patient_scan": subject, "dose_scan": compound}, token)
            if i >= 50:  # warm-up
                noop.append(a)
                verify.append(b)
        subject, compound = by_site[site][0]
        conn.request("POST", "/api/infusions/verify", body=json.dumps({"patient_scan": subject, "dose_scan": compound}),
                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        sample = json.loads(conn.getresponse().read())
        print(f"database: {url.split('@')[-1] if '@' in url else url}")
        print(f"no-op  GET /api/me:              p50 {pct(noop, .5):6.2f} ms  p99 {pct(noop, .99):6.2f} ms")
        print(f"verify POST /api/infusions/verify: p50 {pct(verify, .5):6.2f} ms  p99 {pct(verify, .99):6.2f} ms")
        print(f"ratio: p50 {pct(verify, .5) / pct(noop, .5):.2f}× (target ≤ 2), "
              f"p99 {pct(verify, .99) / pct(noop, .99):.2f}× (target ≤ 3); mean verify "
              f"{statistics.mean(verify) * 1000:.2f} ms over {len(verify)} requests")
        print(f"a matching wristband/dose pair: ok={sample['ok']} stops={[s['code'] for s in sample['stops']]} "
              f"warnings={[w['code'] for w in sample['warnings']]}")
        counts = statements_per_request(url, token, by_site[site][:3] + by_site[site][-2:])
        print(f"SQL statements per request, 5 pairs (BEGIN/COMMIT/ROLLBACK are not counted on PostgreSQL): "
              f"no-op {counts['me']}, verify {counts['verify']}")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
