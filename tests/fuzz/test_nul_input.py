"""What the fuzzer found on PostgreSQL, kept as examples: a NUL character (which PostgreSQL
text cannot hold) in any input is refused as invalid (422), or names nothing in a path (404),
instead of failing in the database (500)."""
import io

import pytest

from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.shipments import services as shipping
from tests.conftest import api_token, csrf_token, login, make_site, make_user

NUL_REFUSED = ["Contains a NUL character, which no field accepts."]


@pytest.fixture
def people(app):
    make_site("LZ")
    for username, role, site in (("lz-coordinator", "coordinator", "LZ"), ("lab", "lab", None),
                                 ("lz-pharmacist", "pharmacist", "LZ")):
        make_user(username, role, site)


def test_in_a_query(client, people):
    # found: GET /api/patients?arm=msc&limit=1&site_code=%00
    response = client.get("/api/patients?arm=msc&limit=1&site_code=%00", headers=api_token(client, "lz-coordinator"))
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"site_code": NUL_REFUSED}


def test_in_a_json_body(client, people):
    # found: POST /api/print-jobs {"kind": "wristband", "target": "\u0000", "format": "pdf"}
    response = client.post("/api/print-jobs", headers=api_token(client, "lz-coordinator"),
                           json={"kind": "wristband", "target": "\u0000", "format": "pdf"})
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"target": NUL_REFUSED}
    nested = client.post("/api/auth/token", json={"username": "lab", "password": "x", "extra": {"a\x00": ["\x00"]}})
    assert nested.status_code == 422 and set(nested.get_json()["errors"]) == {"extra", "extra.a\x00.0"}


def test_in_a_path(client, people):
    headers = api_token(client, "lz-coordinator")
    for path in ("/api/patients/%00", "/api/patients/LZ%000001/withdraw", "/api/doses/%00"):
        response = client.get(path, headers=headers) if "withdraw" not in path else client.post(path, headers=headers, json={})
        assert response.status_code == 404 and response.get_json()["code"] == "NOT_FOUND", path


def test_in_a_page_form_and_a_file_name(client, people):
    login(client, "lz-coordinator")
    response = client.post("/patients/new", data={"csrf_token": csrf_token(client, "/"), "initials": "A\x00"})
    assert response.status_code == 422
    shipment = shipping.create_shipment(site_code="LZ", storage="cryo", actor=_user("lab"), now=utcnow())
    db.session.commit()
    lab = client.application.test_client()
    login(lab, "lab")
    upload = lab.post(f"/shipments/{shipment.id}/temperature",
                      data={"csrf_token": csrf_token(lab, "/"), "logger_file": (io.BytesIO(b"x"), "log\x00.csv")})
    assert upload.status_code == 422
    scanner = client.application.test_client()  # no session: a bearer token only
    api = scanner.post(f"/api/shipments/{shipment.id}/temperature", data=b"timestamp,celsius\n",
                       headers={**api_token(scanner, "lab"), "Content-Type": "text/csv", "X-Filename": "a\x00.csv"})
    assert api.status_code == 422 and api.get_json()["errors"] == {"X-Filename": NUL_REFUSED}


def _user(username):
    from cell_chain.accounts.services import user_by_username

    return user_by_username(username)
