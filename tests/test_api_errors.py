"""Bad input answers a clear 4xx problem+json and changes nothing."""
import pytest
from sqlalchemy import func, select

from cell_chain.accounts.models import Site
from cell_chain.core.db import db
from tests.conftest import api_token, make_site, make_user


@pytest.fixture
def admin(app, client):
    make_site("LZ")
    make_user("admin", "admin")
    return api_token(client, "admin")


@pytest.mark.parametrize("body", [
    {},
    {"code": "SH"},
    {"code": 12, "name": "x", "city": "y"},
    {"code": "SH", "name": ["x"], "city": "y"},
    {"code": "SH", "name": "x", "city": "y", "extra": 1},
    {"code": "sh!", "name": "x", "city": "y"},
    {"code": "LZ", "name": "dup", "city": "y"},
    [],
    "just a string",
])
def test_bad_site_bodies_get_422_with_field_errors(client, admin, body):
    before = db.session.scalar(select(func.count()).select_from(Site))
    response = client.post("/api/sites", headers=admin, json=body)
    assert response.status_code == 422, response.get_json()
    problem = response.get_json()
    assert response.mimetype == "application/problem+json"
    assert problem["code"] == "VALIDATION_ERROR" and problem["status"] == 422
    assert problem["errors"] and all(isinstance(m, list) for m in problem["errors"].values())
    assert db.session.scalar(select(func.count()).select_from(Site)) == before


def test_malformed_json_is_a_4xx(client, admin):
    response = client.post("/api/sites", headers={**admin, "Content-Type": "application/json"},
                           data=b'{"code": ')
    assert 400 <= response.status_code < 500
    assert response.mimetype == "application/problem+json"


def test_oversized_body_is_413(client, admin):
    response = client.post("/api/sites", headers={**admin, "Content-Type": "application/json"},
                           data=b'{"name": "' + b"x" * (6 * 1024 * 1024) + b'"}')
    assert response.status_code == 413
    assert response.get_json()["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize("query", ["limit=0", "limit=abc", "offset=-1", "limit=100000"])
def test_bad_paging_is_422(client, admin, query):
    response = client.get(f"/api/users?{query}", headers=admin)
    assert response.status_code == 422 and response.get_json()["code"] == "VALIDATION_ERROR"


def test_unknown_api_path_and_method_are_problem_json(client, admin):
    missing = client.get("/api/nothing-here", headers=admin)
    assert missing.status_code == 404 and missing.get_json()["code"] == "NOT_FOUND"
    wrong = client.delete("/api/sites", headers=admin)
    assert wrong.status_code == 405 and "GET" in wrong.headers["Allow"]


def test_security_headers(client, admin):
    response = client.get("/api/me", headers=admin)
    assert response.headers["Cache-Control"] == "no-store"
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    page = client.get("/login")
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
