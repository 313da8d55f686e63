"""Load: the app under gunicorn (several workers) on PostgreSQL, driven over loopback by
simulated bedside tablets (verify, then record the infusion with a witness) and pharmacy
scanners (receive a box by scanning its doses) for a fixed time. Reports throughput, p50/p99
per operation and errors, then checks that every acknowledged write is in the database with
its audit event and that the audit chain verifies.

    .venv/bin/python benchmarks/load.py --database postgresql+psycopg://postgres@127.0.0.1:5432/cc_load

Two tablets are sometimes given the same bag (one in `--shared-every` doses): the second is
refused 409 ALREADY_ADMINISTERED (or its verify shows that stop). That is the correct answer,
counted as a conflict, not an error. Anything else that is not the expected answer is an error.
"""
import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bedside import free_port, pct  # noqa: E402
from trial_data import PASSWORD  # noqa: E402

DEFAULT_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/cc_load"


# ---- data -----------------------------------------------------------------------------------

def prepare(url: str, args: argparse.Namespace) -> Any:
    import psycopg
    from flask_migrate import upgrade
    from sqlalchemy.engine import make_url

    import load_data
    import trial_data
    from cell_chain import create_app
    from cell_chain.core.db import db

    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{parsed.database}"')
    config = {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "load"}
    if args.cheap_hashes:
        config["ARGON2_PARAMS"] = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}
    app = create_app(config)
    with app.app_context():
        upgrade()
        started = time.perf_counter()
        now = datetime.now(UTC)
        built = trial_data.build(args.scale, now)
        trial_data.fix_sequences()
        nurses = round(args.clients * args.nurse_share)
        work = load_data.build_work(now, nurses=nurses, scanners=args.clients - nurses,
                                    doses_per_nurse=args.doses_per_tablet, boxes_per_scanner=args.boxes_per_scanner,
                                    shared_every=args.shared_every)
        trial_data.fix_sequences()
        print(f"data: {built['patients']:,} patients of trial history; {nurses} tablets × {args.doses_per_tablet} "
              f"dispensed doses ({work.shared_doses} shared by two tablets), {len(work.scanners)} scanners × "
              f"{args.boxes_per_scanner} boxes in transit; built in {time.perf_counter() - started:.0f} s")
        db.engine.dispose()
    return work


# ---- clients ----------------------------------------------------------------------------------

@dataclass
class Tally:
    """Everything the clients saw; appended from many threads (list.append is atomic)."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    conflicts: Counter = field(default_factory=Counter)
    infusions: list[tuple[int, int]] = field(default_factory=list)  # (infusion id, dose id) acknowledged
    receipts: list[tuple[int, int]] = field(default_factory=list)  # (shipment id, doses accepted)
    ran_out: list[str] = field(default_factory=list)


class Client:
    def __init__(self, port: int, tally: Tally) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.tally = tally
        self.headers = {"Content-Type": "application/json"}

    def call(self, name: str, method: str, path: str, body: Any = None) -> tuple[int, Any] | None:
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=self.headers)
            response = self.conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.conn.close()
            self.tally.errors.append(f"{name}: {type(error).__name__}: {error}")
            return None
        self.tally.latencies[name].append(time.perf_counter() - started)
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = raw[:200]
        return response.status, data

    def login(self, username: str) -> bool:
        answer = self.call("login", "POST", "/api/auth/token", {"username": username, "password": PASSWORD})
        if answer is None or answer[0] != 200:
            self.tally.errors.append(f"login {username}: {answer}")
            return False
        self.headers["Authorization"] = f"Bearer {answer[1]['token']}"
        return True

    def unexpected(self, name: str, answer: tuple[int, Any]) -> None:
        status, data = answer
        code = data.get("code") if isinstance(data, dict) else None
        self.tally.errors.append(f"{name}: {status} {code or ''} {str(data)[:160]}")


def tablet(port: int, work: Any, tally: Tally, start: threading.Barrier, deadline: list[float]) -> None:
    client = Client(port, tally)
    ready = client.login(work.username)
    start.wait()
    if not ready:
        return
    for subject, bag, _dose_id in work.doses:
        if time.perf_counter() >= deadline[0]:
            return
        scans = {"patient_scan": subject, "dose_scan": bag}
        answer = client.call("verify", "POST", "/api/infusions/verify", scans)
        if answer is None:
            continue
        status, data = answer
        if status != 200:
            client.unexpected("verify", answer)
            continue
        if not data["ok"]:
            codes = [s["code"] for s in data["stops"]]
            if codes and codes[0] == "ALREADY_ADMINISTERED":
                tally.conflicts["verify: ALREADY_ADMINISTERED"] += 1
            else:
                client.unexpected("verify", answer)
            continue
        now = datetime.now(UTC)
        # The infusion starts after the bedside check (the record is judged at its start) and,
        # a load test not waiting half an hour, ends at once: the nurse confirms the duration.
        record = scans | {"started_at": now.isoformat(), "ended_at": now.isoformat(), "confirm_duration": True,
                          "volume_ml": 40.0,
                          "tolerance_grade": 0, "signature": {"password": PASSWORD},
                          "witness": {"username": work.witness, "password": PASSWORD}}
        answer = client.call("record", "POST", "/api/infusions", record)
        if answer is None:
            continue
        status, data = answer
        if status == 201:
            tally.infusions.append((data["id"], _dose_id))
        elif status == 409 and isinstance(data, dict) and data.get("code") == "ALREADY_ADMINISTERED":
            tally.conflicts["record: 409 ALREADY_ADMINISTERED"] += 1
        else:
            client.unexpected("record", answer)
    tally.ran_out.append(work.username)


def scanner(port: int, work: Any, tally: Tally, start: threading.Barrier, deadline: list[float]) -> None:
    client = Client(port, tally)
    ready = client.login(work.username)
    start.wait()
    if not ready:
        return
    for shipment_id, bags in work.shipments:
        if time.perf_counter() >= deadline[0]:
            return
        body = {"scans": bags, "seal_intact": True, "signature": {"password": PASSWORD}}
        answer = client.call("receive", "POST", f"/api/shipments/{shipment_id}/receive", body)
        if answer is None:
            continue
        status, data = answer
        if status == 200 and data.get("status") == "received" and len(data.get("accepted", [])) == len(bags):
            tally.receipts.append((shipment_id, len(bags)))
        else:
            client.unexpected("receive", answer)
    tally.ran_out.append(work.username)


def load_sampler(samples: list[float], stop: threading.Event) -> None:
    while not stop.wait(2):
        samples.append(os.getloadavg()[0])


# ---- checks after the run ----------------------------------------------------------------------

def check_database(url: str, tally: Tally, started_at: datetime) -> dict[str, Any]:
    """Every acknowledged write is there, whole, with its audit event; nothing was written
    twice; the chain verifies."""
    from sqlalchemy import func, select

    from cell_chain import create_app
    from cell_chain.batches.models import Dose
    from cell_chain.core.audit import AuditEvent
    from cell_chain.core.audit_chain import verify_chain
    from cell_chain.core.db import db
    from cell_chain.infusions.models import Infusion
    from cell_chain.shipments.models import CustodyEvent, Shipment, ShipmentItem

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "load"})
    lost: list[str] = []
    with app.app_context():
        acked = dict(tally.infusions)
        found = dict(db.session.execute(select(Infusion.id, Infusion.dose_id).where(Infusion.id.in_(list(acked)))).all())
        lost += [f"infusion {i} (dose {d}) acknowledged but missing or for another dose"
                 for i, d in acked.items() if found.get(i) != d]
        audited = set(db.session.scalars(select(AuditEvent.entity_id).where(
            AuditEvent.action == "infusion.recorded", AuditEvent.entity_id.in_([str(i) for i in acked]))))
        lost += [f"infusion {i} has no audit event" for i in acked if str(i) not in audited]
        administered = db.session.scalar(select(func.count()).select_from(Dose).where(
            Dose.id.in_(list(acked.values())), Dose.status == "administered"))
        if administered != len(acked):
            lost.append(f"{len(acked) - administered} acknowledged infusions' doses are not administered")
        written = db.session.scalar(select(func.count()).select_from(Infusion).where(Infusion.recorded_at >= started_at))
        receipts = dict(tally.receipts)
        statuses = dict(db.session.execute(select(Shipment.id, Shipment.status).where(
            Shipment.id.in_(list(receipts)))).all())
        lost += [f"shipment {s} acknowledged as received but is {statuses.get(s)}" for s in receipts
                 if statuses.get(s) != "received"]
        accepted = dict(db.session.execute(select(ShipmentItem.shipment_id, func.count()).where(
            ShipmentItem.shipment_id.in_(list(receipts)), ShipmentItem.receipt == "accepted")
            .group_by(ShipmentItem.shipment_id)).all())
        custody = dict(db.session.execute(select(CustodyEvent.shipment_id, func.count()).where(
            CustodyEvent.shipment_id.in_(list(receipts)), CustodyEvent.kind == "receipt")
            .group_by(CustodyEvent.shipment_id)).all())
        lost += [f"shipment {s}: {accepted.get(s)} doses accepted, {custody.get(s)} receipt events, expected {n}"
                 for s, n in receipts.items() if accepted.get(s) != n or custody.get(s) != n]
        received = db.session.scalar(select(func.count()).select_from(Shipment).where(
            Shipment.received_at >= started_at))
        started = time.perf_counter()
        chain = verify_chain()
        chain_seconds = time.perf_counter() - started
        db.engine.dispose()
    return {"lost": lost, "infusions_written": written, "receipts_written": received, "chain": chain,
            "chain_seconds": chain_seconds}


# ---- main ----------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default=DEFAULT_DATABASE, help="PostgreSQL URL (the database is recreated)")
    parser.add_argument("--scale", type=int, default=10, help="× the trial's 320 patients of history")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--nurse-share", type=float, default=0.8, help="share of clients that are bedside tablets")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--workers", type=int, default=5, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker (gthread when > 1)")
    parser.add_argument("--doses-per-tablet", type=int, default=150)
    parser.add_argument("--boxes-per-scanner", type=int, default=150)
    parser.add_argument("--shared-every", type=int, default=10, help="one dose in N is on two tablets")
    parser.add_argument("--cheap-hashes", action="store_true",
                        help="users' passwords hashed with the test suite's cheap argon2 parameters")
    args = parser.parse_args()
    if not args.database.startswith("postgresql"):
        parser.error("the load test runs on PostgreSQL")
    print(f"machine: {os.cpu_count()} CPUs; load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    work = prepare(args.database, args)
    port = free_port()
    env = os.environ | {"DATABASE_URL": args.database, "SECRET_KEY": "load"}
    command = [str(ROOT / ".venv/bin/gunicorn"), "--workers", str(args.workers), "--bind", f"127.0.0.1:{port}",
               "--log-level", "warning", "--backlog", "256"]
    if args.threads > 1:
        command += ["--worker-class", "gthread", "--threads", str(args.threads)]
    server = subprocess.Popen([*command, "wsgi:app"], cwd=ROOT, env=env)
    tally = Tally()
    loads: list[float] = []
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        start = threading.Barrier(args.clients + 1)
        deadline = [float("inf")]
        threads = [threading.Thread(target=tablet, args=(port, w, tally, start, deadline)) for w in work.nurses]
        threads += [threading.Thread(target=scanner, args=(port, w, tally, start, deadline)) for w in work.scanners]
        for thread in threads:
            thread.start()
        start.wait()  # every client has its token: the clock starts now
        logins = list(tally.latencies.pop("login", []))
        started_at = datetime.now(UTC)
        began = time.perf_counter()
        deadline[0] = began + args.duration
        stop = threading.Event()
        sampler = threading.Thread(target=load_sampler, args=(loads, stop))
        sampler.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
        stop.set()
        sampler.join()
        monitor = Client(port, tally)
        verified_over_http = None
        if monitor.login(work.monitor):
            answer = monitor.call("audit-verify", "GET", "/api/audit/verify")
            verified_over_http = answer[1] if answer and answer[0] == 200 else answer
    finally:
        server.terminate()
        server.wait(timeout=30)
    checks = check_database(args.database, tally, started_at)

    operations = {name: values for name, values in tally.latencies.items() if name != "audit-verify"}
    total = sum(len(v) for v in operations.values())
    print(f"\nload: {args.clients} clients ({len(work.nurses)} tablets, {len(work.scanners)} scanners) for "
          f"{args.duration:.0f} s (+ {elapsed - args.duration:.1f} s finishing requests in flight) against gunicorn {args.workers} workers"
          + (f" × {args.threads} threads" if args.threads > 1 else "") + " on loopback")
    print(f"logins before the clock: {len(logins)}, p50 {pct(logins, .5):.0f} ms, p99 {pct(logins, .99):.0f} ms"
          if logins else "logins: none")
    print(f"throughput: {total / elapsed:.1f} requests/s ({total} requests); writes acknowledged: "
          f"{len(tally.infusions)} infusions ({len(tally.infusions) / elapsed:.1f}/s), "
          f"{len(tally.receipts)} receipts ({len(tally.receipts) / elapsed:.1f}/s)")
    for name in ("verify", "record", "receive"):
        values = operations.get(name, [])
        if values:
            print(f"  {name:8s} {len(values):6d} requests  {len(values) / elapsed:6.1f}/s  p50 {pct(values, .5):7.1f} ms"
                  f"  p99 {pct(values, .99):7.1f} ms  max {max(values) * 1000:7.1f} ms")
    print(f"conflicts (correct 409s / stops, not errors): {sum(tally.conflicts.values())} {dict(tally.conflicts)}")
    print(f"errors: {len(tally.errors)}")
    for line, count in Counter(tally.errors).most_common(10):
        print(f"  {count} × {line}")
    if tally.ran_out:
        print(f"clients that ran out of work before the end: {len(tally.ran_out)}")
    print(f"acknowledged writes missing or incomplete in the database: {len(checks['lost'])}")
    for line in checks["lost"][:10]:
        print(f"  {line}")
    print(f"written during the run: {checks['infusions_written']} infusions ({len(tally.infusions)} acknowledged), "
          f"{checks['receipts_written']} receipts ({len(tally.receipts)} acknowledged)")
    chain = checks["chain"]
    print(f"audit chain: ok={chain.ok} events={chain.events} first_broken={chain.first_broken} "
          f"(verify_chain {checks['chain_seconds']:.2f} s); GET /api/audit/verify: {verified_over_http}")
    if loads:
        print(f"load average (1 min) during the run: min {min(loads):.2f} max {max(loads):.2f}; "
              f"after: {' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    failed = tally.errors or checks["lost"] or not chain.ok or checks["infusions_written"] != len(tally.infusions)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
