"""Sessions, CSRF and login throttling, end to end through the pages and the API."""
import pytest
from sqlalchemy import func, select

from cell_chain.accounts.models import UserSession
from cell_chain.core.audit import AuditEvent
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from tests.conftest import PASSWORD, api_token, csrf_token, login, make_site, make_user


@pytest.fixture
def ward(app):
    make_site("LZ")
    make_site("BJ")
    make_user("admin", "admin")
    make_user("lz-nurse", "nurse", "LZ")
    for role in ("lab", "qa", "monitor"):
        make_user(role, role)
    for role in ("pharmacist", "coordinator"):
        make_user(f"lz-{role}", role, "LZ")


def _cookie(client) -> str | None:
    cookie = client.get_cookie("session")
    return cookie.value if cookie else None


def test_login_issues_a_new_session_and_the_one_before_is_worthless(client, ward):
    client.get("/login")
    planted = _cookie(client)  # what an attacker could have set in the victim's browser
    assert planted is not None
    login(client, "lz-nurse")
    assert _cookie(client) != planted
    assert client.get("/").status_code == 200
    other = client.application.test_client()
    other.set_cookie("session", planted)
    assert other.get("/").status_code == 302


def test_logout_ends_the_session_on_the_server(app, client, ward):
    login(client, "lz-nurse")
    copied = _cookie(client)
    assert client.get("/").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf_token(client, "/")}).status_code == 302
    assert client.get("/").status_code == 302
    replay = app.test_client()
    replay.set_cookie("session", copied)  # a copy taken before logging out
    assert replay.get("/").headers["Location"].startswith("/login")
    assert replay.get("/api/me").status_code == 401
    assert db.session.scalar(select(UserSession.ended_at)) is not None


def test_logging_out_one_browser_leaves_the_others_signed_in(app, client, ward):
    tablet, desk = app.test_client(), app.test_client()
    login(tablet, "lz-nurse")
    login(desk, "lz-nurse")
    tablet.post("/logout", data={"csrf_token": csrf_token(tablet, "/")})
    assert tablet.get("/").status_code == 302
    assert desk.get("/").status_code == 200


def test_session_cookie_is_http_only_and_same_site(client, ward):
    response = login(client, "lz-nurse")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_sessions_are_stored_hashed(client, ward):
    login(client, "lz-nurse")
    with client.session_transaction() as session:
        raw = session["sid"]
    stored = db.session.scalar(select(UserSession.token_hash))
    assert raw not in stored and len(stored) == 64


# ---- CSRF (every page form: test_csrf.py) ---------------------------------------------------

def test_api_calls_with_the_session_cookie_need_the_csrf_header(client, ward):
    login(client, "admin")
    body = {"code": "SH", "name": "Shanghai", "city": "Shanghai"}
    refused = client.post("/api/sites", json=body)
    assert refused.status_code == 400 and refused.get_json()["code"] == "CSRF_FAILED"
    forged = client.post("/api/sites", json=body, headers={"X-CSRFToken": "forged"})
    assert forged.status_code == 400
    assert client.post("/api/sites", json=body, headers={"X-CSRFToken": csrf_token(client, "/")}).status_code == 201


def test_a_bearer_token_needs_no_csrf_header(client, ward):
    headers = api_token(client, "admin")
    assert client.post("/api/sites", json={"code": "SH", "name": "S", "city": "S"}, headers=headers).status_code == 201


# ---- login throttling ------------------------------------------------------------------------

def _from(n):
    return {"REMOTE_ADDR": f"10.9.0.{n}"}


def test_five_wrong_passwords_from_anywhere_lock_sign_in_alike_on_pages_and_api(app, client, ward):
    for attempt in range(5):
        other = app.test_client()
        other.environ_base.update(_from(attempt))
        assert login(other, "lz-nurse", "wrong-password-1").status_code == 401, attempt
    locked = login(client, "lz-nurse")
    wrong = login(app.test_client(), "lz-nurse", "wrong-password-1")
    assert locked.status_code == wrong.status_code == 401
    assert "or the account is locked" in locked.get_data(as_text=True)
    assert client.get("/").status_code == 302
    token = client.post("/api/auth/token", json={"username": "lz-nurse", "password": PASSWORD})
    assert token.status_code == 401 and token.get_json()["code"] == "INVALID_CREDENTIALS"
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "user.locked")) == 1


def test_one_client_is_slowed_down_after_three_wrong_passwords(app, client, ward):
    for attempt in range(3):
        assert login(client, "lz-nurse", "wrong-password-1").status_code == 401, attempt
    slowed = login(client, "lz-nurse")
    assert slowed.status_code == 429 and int(slowed.headers["Retry-After"]) >= 1
    api = client.post("/api/auth/token", json={"username": "lz-nurse", "password": PASSWORD})
    assert api.status_code == 429 and api.get_json()["code"] == "TOO_MANY_ATTEMPTS"
    # another client (the nurse's own tablet) is not slowed down by it
    tablet = app.test_client()
    tablet.environ_base.update(_from(77))
    assert login(tablet, "lz-nurse").status_code == 302


def test_a_lock_by_another_client_leaves_sessions_and_tokens_working(app, client, ward):
    login(client, "lz-nurse")
    headers = api_token(app.test_client(), "lz-nurse")
    for n in range(6):
        attacker = app.test_client()
        attacker.environ_base.update(_from(n))
        attacker.post("/api/auth/token", json={"username": "lz-nurse", "password": "wrong-password-1"})
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "user.locked")) == 1
    assert client.get("/").status_code == 200
    assert client.get("/api/me", headers=headers).status_code == 200


def test_wrong_signature_passwords_are_counted_and_throttled_never_locked(app, client, ward):
    headers = api_token(client, "lz-coordinator")
    enrolled = client.post("/api/patients", headers=headers, json={
        "site_code": "LZ", "arm": "msc", "enrolled_on": utcnow().date().isoformat(), "initials": "AB",
        "birth_year": 1970})
    assert enrolled.status_code == 201
    withdraw = f"/api/patients/{enrolled.get_json()['subject_id']}/withdraw"
    for attempt in range(3):
        signed = client.post(withdraw, headers=headers, json={
            "reason": "Consent withdrawn", "signature": {"password": "wrong-password-1", "meaning": ""}})
        assert signed.status_code == 401 and signed.get_json()["code"] == "SIGNATURE_INVALID", attempt
    throttled = client.post(withdraw, headers=headers, json={
        "reason": "Consent withdrawn", "signature": {"password": "wrong-password-1", "meaning": ""}})
    assert throttled.status_code == 429 and throttled.get_json()["code"] == "TOO_MANY_ATTEMPTS"
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "user.signature_failures")) == 1
    assert client.get("/api/me", headers=headers).status_code == 200
    assert login(client, "lz-coordinator").status_code == 302
    status = client.get(f"/api/patients/{enrolled.get_json()['subject_id']}", headers=api_token(app.test_client(), "admin"))
    assert status.get_json()["status"] != "withdrawn"


def test_unknown_usernames_and_wrong_passwords_look_alike(client, ward):
    unknown = client.post("/api/auth/token", json={"username": "nobody", "password": "wrong-password-1"})
    wrong = client.post("/api/auth/token", json={"username": "lz-nurse", "password": "wrong-password-1"})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.get_json() == wrong.get_json()
    page_unknown, page_wrong = login(client, "nobody", "wrong-password-1"), login(client, "lz-nurse", "wrong-password-1")
    assert page_unknown.status_code == page_wrong.status_code == 401

