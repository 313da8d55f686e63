"""Print jobs through the API: recorded, decodable, reprints counted, marked and justified."""
import socket
import threading

import pypdfium2
import pytest
import zxingcpp
from sqlalchemy import func, select

from cell_chain.core.db import db
from cell_chain.labels.models import PrintedLabel, PrintJob
from cell_chain.labels.payloads import bag_payloads
from tests.factories import make_donor, make_lot
from tests.conftest import PASSWORD, api_token, make_site


@pytest.fixture
def lot(staff):
    return make_lot(staff, make_donor(staff), doses=3, verify_labels=False)


@pytest.fixture
def lab(client, staff):
    return api_token(client, "lab")


def decode_pdf(content: bytes) -> list[set[str]]:
    pdf = pypdfium2.PdfDocument(content)
    pages = []
    for page in pdf:
        image = page.render(scale=300 / 72).to_pil()
        pages.append({r.text for r in zxingcpp.read_barcodes(image, text_mode=zxingcpp.TextMode.Plain)})
    return pages


def test_lot_print_job_is_one_pdf_whose_pages_decode_to_each_doses_payloads(client, lab, lot):
    r = client.post("/api/print-jobs", headers=lab, json={"kind": "lot", "target": str(lot.id)})
    assert r.status_code == 201 and r.mimetype == "application/pdf"
    pages = decode_pdf(r.data)
    expected = [set(bag_payloads(d).as_dict().values()) for d in lot.doses]
    assert pages == expected
    job = db.session.get(PrintJob, int(r.headers["X-Print-Job-Id"]))
    assert (job.copies, job.is_reprint, job.template_version, job.label_kind) == (3, False, "v1", "bag")


def test_reprint_needs_a_reason_and_is_counted_and_marked(client, lab, lot):
    dose = lot.doses[0]
    assert client.post("/api/print-jobs", headers=lab, json={"kind": "dose", "target": dose.code}).status_code == 201
    again = client.post("/api/print-jobs", headers=lab, json={"kind": "dose", "target": dose.code})
    assert again.status_code == 422 and again.get_json()["code"] == "REASON_REQUIRED"
    reprint = client.post("/api/print-jobs", headers=lab,
                          json={"kind": "dose", "target": dose.code, "reason": "Label smudged"})
    assert reprint.status_code == 201
    text = pypdfium2.PdfDocument(reprint.data)[0].get_textpage().get_text_range()
    assert "REPRINT 1" in text
    numbers = list(db.session.scalars(select(PrintedLabel.print_number).where(
        PrintedLabel.subject_key == dose.code).order_by(PrintedLabel.id)))
    assert numbers == [1, 2]
    job = db.session.get(PrintJob, int(reprint.headers["X-Print-Job-Id"]))
    assert job.is_reprint and job.reason == "Label smudged"


def test_reprint_limit_needs_a_qa_override(client, lab, lot, staff):
    dose = lot.doses[0]
    body = {"kind": "dose", "target": dose.code, "reason": "Printer jam"}
    for _ in range(3):  # original + two reprints (limit 2)
        assert client.post("/api/print-jobs", headers=lab, json=body).status_code == 201
    blocked = client.post("/api/print-jobs", headers=lab, json=body)
    assert blocked.status_code == 403 and blocked.get_json()["code"] == "REPRINT_LIMIT"
    wrong = client.post("/api/print-jobs", headers=lab, json=body | {"override": {"username": "lab2", "password": PASSWORD}})
    assert wrong.status_code == 403
    ok = client.post("/api/print-jobs", headers=lab, json=body | {"override": {"username": "qa", "password": PASSWORD}})
    assert ok.status_code == 201
    assert db.session.get(PrintJob, int(ok.headers["X-Print-Job-Id"])).override_by_id == staff.qa.id


def test_zpl_output_carries_every_field_and_barcode(client, lab, lot):
    dose = lot.doses[1]
    r = client.post("/api/print-jobs", headers=lab, json={"kind": "dose", "target": dose.code, "format": "zpl"})
    assert r.status_code == 201
    zpl = r.data.decode()
    payloads = bag_payloads(dose)
    assert zpl.count("^XA") == 1 and zpl.count("^XZ") == 1 and "^CI28" in zpl
    assert "^BC" in zpl and "^BX" in zpl
    assert payloads.din.eye_readable in zpl and payloads.din.check in zpl and lot.lot_number in zpl


def test_zpl_goes_to_the_configured_printer_over_tcp(app, client, lab, lot):
    received = bytearray()
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def accept() -> None:
        conn, _ = server.accept()
        with conn:
            while chunk := conn.recv(65536):
                received.extend(chunk)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    app.config["ZEBRA_PRINTER"] = f"127.0.0.1:{port}"
    r = client.post("/api/print-jobs", headers=lab, json={"kind": "lot", "target": str(lot.id), "format": "zpl"})
    thread.join(timeout=5)
    server.close()
    assert r.status_code == 201 and received.decode() == r.data.decode()
    assert db.session.get(PrintJob, int(r.headers["X-Print-Job-Id"])).sent_to == f"127.0.0.1:{port}"


def test_unreachable_printer_is_503_and_records_no_job(app, client, lab, lot):
    app.config["ZEBRA_PRINTER"] = "127.0.0.1:1"
    r = client.post("/api/print-jobs", headers=lab, json={"kind": "lot", "target": str(lot.id), "format": "zpl"})
    assert r.status_code == 503 and r.get_json()["code"] == "PRINTER_UNAVAILABLE"
    assert db.session.scalar(select(PrintJob)) is None


@pytest.mark.parametrize("body, status", [
    ({"kind": "dose", "target": "nope"}, 404),
    ({"kind": "lot", "target": "abc"}, 404),
    ({"kind": "lot", "target": "99999999999999"}, 404),
    ({"kind": "label", "target": "x"}, 422),
    ({"kind": "dose"}, 422),
    ({"kind": "dose", "target": "x", "format": "png"}, 422),
])
def test_bad_print_requests(client, lab, lot, body, status):
    r = client.post("/api/print-jobs", headers=lab, json=body)
    assert r.status_code == status and r.mimetype == "application/problem+json"


def test_an_empty_shipment_box_has_no_label_yet(client, lab, staff):
    # The shipment label source is registered (not "not available"), and an empty box is a
    # clear refusal, not a label claiming 0 doses.
    make_site("BJ")
    created = client.post("/api/shipments", headers=lab, json={"site_code": "BJ", "storage": "cryo"})
    assert created.status_code == 201, created.get_json()
    r = client.post("/api/print-jobs", headers=lab, json={"kind": "shipment", "target": str(created.get_json()["id"])})
    assert r.status_code == 409 and r.get_json()["code"] == "NOTHING_TO_PRINT", r.get_json()
    assert db.session.scalar(select(func.count(PrintJob.id))) == 0
