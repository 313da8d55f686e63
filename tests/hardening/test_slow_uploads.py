"""Finding 3: one slow request blocks nobody. Four 5 MB logger files are uploaded at once, from
client threads, to a real HTTP server that serves each request in its own process (as gunicorn's
workers do: threads of one process would measure Python's GIL, not the database), while a nurse
verifies at the bedside; every verify answers, typically within a second, and every upload is
stored (SQLite and PostgreSQL alike). Before the fix the verify waited for SQLite's write lock, held by the
uploads through their parsing, and failed after the 10 s busy timeout."""
import json
import statistics
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.pool import NullPool
from werkzeug.serving import make_server

from cell_chain import create_app

from cell_chain.core.db import db
from cell_chain.labels.payloads import bag_payloads
from cell_chain.shipments.loggers import MAX_FILE_BYTES
from cell_chain.shipments.models import TemperatureRecord
from tests.conftest import PASSWORD, _config
from tests.factories import doses_at_site, shippable_doses
from tests.reconciliation.conftest import subject_of
from tests.hardening.conftest import dispatched

UPLOADS = 4


def _logger_file(start) -> bytes:
    """A file just under the size limit: one reading a second from dispatch, all in range."""
    lines, size, second = ["timestamp,celsius"], 18, 0
    while True:
        line = f"{(start + timedelta(seconds=second)).isoformat()},-180.0"
        if size + len(line) + 1 > MAX_FILE_BYTES - 64:
            return "\n".join(lines).encode()
        lines.append(line)
        size += len(line) + 1
        second += 1


@pytest.fixture
def server(app):
    # Connections are opened per use (no pool), so no forked request process shares one.
    served = create_app(_config(app.config["SQLALCHEMY_DATABASE_URI"])
                        | {"SQLALCHEMY_ENGINE_OPTIONS": {"poolclass": NullPool}})
    db.session.commit()
    httpd = make_server("127.0.0.1", 0, served, processes=16)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(timeout=10)


def _call(base, path, *, body: bytes, token=None, content_type="application/json", timeout=120):
    request = urllib.request.Request(base + path, data=body, method="POST",
                                     headers={"Content-Type": content_type}
                                     | ({"Authorization": f"Bearer {token}"} if token else {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _token(base, username):
    status, body = _call(base, "/api/auth/token", body=json.dumps(
        {"username": username, "password": PASSWORD}).encode())
    assert status == 200, body
    return json.loads(body)["token"]


def test_a_bedside_verify_answers_while_four_large_uploads_run(app, sites, staff, server):
    [dose] = doses_at_site(staff)
    verify_body = json.dumps({"patient_scan": subject_of(dose), "dose_scan": bag_payloads(dose).compound}).encode()
    shipment = dispatched(staff, shippable_doses(staff, lot_number="L-UPL"), hours_ago=72)
    data = _logger_file(shipment.dispatched_at + timedelta(seconds=1))
    assert len(data) > 5_000_000
    shipment_id = shipment.id
    db.session.rollback()  # this thread holds no transaction while the server works
    nurse, lab = _token(server, "lz-nurse"), _token(server, "lab")
    assert _call(server, "/api/infusions/verify", body=verify_body, token=nurse)[0] == 200
    quiet = []
    for _ in range(5):
        started = time.perf_counter()
        assert _call(server, "/api/infusions/verify", body=verify_body, token=nurse)[0] == 200
        quiet.append(time.perf_counter() - started)

    results: list[int] = []

    def upload():
        status, _ = _call(server, f"/api/shipments/{shipment_id}/temperature", body=data, token=lab,
                          content_type="text/csv")
        results.append(status)

    uploads = [threading.Thread(target=upload) for _ in range(UPLOADS)]
    for thread in uploads:
        thread.start()
    time.sleep(1.5)  # every upload is in the server, reading or parsing its file
    latencies, during = [], 0
    while any(thread.is_alive() for thread in uploads) or len(latencies) < 3:
        during += all(thread.is_alive() for thread in uploads)
        started = time.perf_counter()
        status, body = _call(server, "/api/infusions/verify", body=verify_body, token=nurse, timeout=30)
        latencies.append(time.perf_counter() - started)
        assert status == 200, body
        if len(latencies) >= 3 and not any(thread.is_alive() for thread in uploads):
            break
        time.sleep(0.5)
    for thread in uploads:
        thread.join()
    assert results == [201] * UPLOADS
    assert during >= 3, "the verifies did not overlap the four uploads"
    # Every verify answered (before the fix: 503 once SQLite's 10 s busy timeout ran out, 10.6 s
    # typical) and the nurse's typical answer stays within the second the issue asks for. The
    # slowest is printed, not asserted: four parsing processes on a shared 2-core machine make
    # the tail a measure of CPU sharing (PostgreSQL, which has no such lock, shows the same tail).
    typical = statistics.median(latencies)
    print(f"verify during four uploads: median {typical:.2f} s, slowest {max(latencies):.2f} s "
          f"over {len(latencies)}; quiet {statistics.median(quiet):.2f} s")
    assert typical < 1.0, f"a verify took {typical:.2f} s (median) while four uploads ran"
    db.session.rollback()  # a fresh snapshot: the writes came from other processes
    assert db.session.scalar(select(func.count()).select_from(TemperatureRecord)) == UPLOADS
