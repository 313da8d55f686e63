"""Findings 1, 2, 5, 6 and 7 of the hardening probe, on both databases."""
import hashlib
import json
import re
import statistics
import time

import pytest
from sqlalchemy import func, select

from cell_chain.accounts import services
from cell_chain.accounts.models import User
from cell_chain.core.audit import AuditEvent
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.web.session_store import StoredSession
from tests.conftest import PASSWORD, api_token, csrf_token, login, make_site, make_user


@pytest.fixture
def ward(app):
    make_site("LZ")
    make_user("admin", "admin")
    make_user("lz-nurse", "nurse", "LZ")
    make_user("lz-nurse2", "nurse", "LZ")


def _from(n):
    return {"REMOTE_ADDR": f"10.7.0.{n}"}


# ---- 1: nobody can lock a colleague out ------------------------------------------------------------

def test_a_colleagues_wrong_witness_passwords_never_stop_the_witness(app, client, ward):
    witness = services.user_by_username("lz-nurse2")
    session_client = app.test_client()
    assert login(session_client, "lz-nurse2").status_code == 302
    token = api_token(app.test_client(), "lz-nurse2")
    from cell_chain.core.errors import SignatureInvalid
    from cell_chain.web.errors import count_auth_failure

    for _ in range(10):
        try:
            services.confirm_password(witness, "wrong-password-1", now=utcnow(), scope="witness")
        except SignatureInvalid as error:
            count_auth_failure(error)
        except Exception as error:  # noqa: BLE001 - the throttle answers once failures pile up
            assert getattr(error, "code", "") == "TOO_MANY_ATTEMPTS"
            db.session.rollback()
    db.session.expire_all()
    witness = services.user_by_username("lz-nurse2")
    assert witness.failed_signatures == 3 and not witness.is_locked(utcnow())
    # the witness signs their own work, uses their session and token, and signs in afresh
    services.confirm_password(witness, PASSWORD, now=utcnow())
    assert session_client.get("/").status_code == 200
    assert client.get("/api/me", headers=token).status_code == 200
    assert login(app.test_client(), "lz-nurse2").status_code == 302
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "user.signature_failures")) == 1


def test_unknown_locked_and_wrong_password_answer_alike(app, ward):
    for n in range(5):
        other = app.test_client()
        other.post("/api/auth/token", json={"username": "lz-nurse", "password": "wrong-password-1"},
                   environ_base=_from(n))
    answers = []
    for n, (name, password) in enumerate([("nobody-here", PASSWORD), ("lz-nurse", PASSWORD),
                                          ("lz-nurse2", "wrong-password-1")]):
        response = app.test_client().post("/api/auth/token", json={"username": name, "password": password},
                                          environ_base=_from(50 + n))
        answers.append((response.status_code, response.get_json()))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 401 and answers[0][1]["code"] == "INVALID_CREDENTIALS"


def test_admin_sees_and_clears_a_lockout_with_an_audited_reason(app, client, ward):
    for n in range(5):
        app.test_client().post("/api/auth/token", json={"username": "lz-nurse", "password": "wrong-password-1"},
                               environ_base=_from(n))
    admin = api_token(client, "admin")
    listed = client.get("/api/lockouts", headers=admin).get_json()
    assert {"username": "lz-nurse", "kind": "account_locked"}.items() <= listed[0].items()
    assert client.get("/api/lockouts", headers=api_token(client, "lz-nurse2")).status_code == 403
    assert client.post("/api/users/lz-nurse/unlock", headers=admin, json={}).status_code == 422
    cleared = client.post("/api/users/lz-nurse/unlock", headers=admin, json={"reason": "Nurse called the help desk"})
    assert cleared.status_code == 200
    assert client.get("/api/lockouts", headers=admin).get_json() == []
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.lockout_cleared"))
    assert event is not None and event.reason == "Nurse called the help desk"
    assert client.post("/api/auth/token", json={"username": "lz-nurse", "password": PASSWORD}).status_code == 200


# ---- 2: no enumeration by timing -----------------------------------------------------------------

def test_unknown_user_and_wrong_password_take_the_same_time(app, client):
    # The deployment's argon2 cost, so that the hash, not the test's cheap one, dominates.
    app.config["ARGON2_PARAMS"] = {}
    make_site("LZ")
    make_user("lz-nurse", "nurse", "LZ")
    app.config["THROTTLE_FREE_ATTEMPTS"] = 1000  # timing the answers, not the throttle

    def timed(username):
        started = time.perf_counter()
        response = client.post("/api/auth/token", json={"username": username, "password": "wrong-password-1"})
        assert response.status_code == 401
        return time.perf_counter() - started

    timed("lz-nurse"), timed("nobody-here")  # warm both paths
    known, unknown = [], []
    for _ in range(20):
        known.append(timed("lz-nurse"))
        unknown.append(timed("nobody-here"))
    known_ms, unknown_ms = statistics.median(known) * 1000, statistics.median(unknown) * 1000
    assert abs(known_ms - unknown_ms) <= 0.2 * max(known_ms, unknown_ms), (known_ms, unknown_ms)


# ---- 5: password policy --------------------------------------------------------------------------

@pytest.mark.parametrize("weak", ["aaaaaaaaaa", "1234567890", "password12", " " * 10, " " * 14,
                                  "password1234", "123456789012", "qwertyuiopasdf", "aaaaaaaaaaaaaa"])
def test_weak_passwords_are_refused(client, ward, weak):
    response = client.post("/api/users", headers=api_token(client, "admin"), json={
        "username": "lz-nurse3", "display_name": "Nurse Three", "role": "nurse", "site_code": "LZ",
        "password": weak})
    assert response.status_code == 422 and "password" in response.get_json()["errors"]


def test_a_long_phrase_with_spaces_is_accepted_and_must_be_changed_at_first_sign_in(app, client, ward):
    admin = api_token(client, "admin")
    created = client.post("/api/users", headers=admin, json={
        "username": "lz-nurse3", "display_name": "Nurse Three", "role": "nurse", "site_code": "LZ",
        "password": "blue river under stone"})
    assert created.status_code == 201
    token = api_token(client, "lz-nurse3", "blue river under stone")
    refused = client.get("/api/doses/X", headers=token)
    assert refused.status_code == 403 and refused.get_json()["code"] == "PASSWORD_CHANGE_REQUIRED"
    page = app.test_client()
    login(page, "lz-nurse3", "blue river under stone")
    assert page.get("/").headers["Location"].endswith("/account/password")
    wrong = client.post("/api/me/password", headers=token,
                        json={"old_password": "not-the-old-one", "new_password": "green field after rain"})
    assert wrong.status_code == 401
    changed = client.post("/api/me/password", headers=token,
                          json={"old_password": "blue river under stone", "new_password": "green field after rain"})
    assert changed.status_code == 200 and changed.get_json() == {"credentials_ended": 1}
    assert client.get("/api/me", headers=token).status_code == 200  # the changing token stays
    assert page.get("/").status_code == 302  # the other session ended
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "user.password_changed")) == 1


def test_the_password_page_changes_the_password(app, ward):
    page = app.test_client()
    login(page, "lz-nurse")
    token = csrf_token(page, "/account/password")
    weak = page.post("/account/password", data={"csrf_token": token, "old_password": PASSWORD,
                                                "new_password": "password1234"})
    assert weak.status_code == 422 and "common and breached" in weak.get_data(as_text=True)
    done = page.post("/account/password", data={"csrf_token": token, "old_password": PASSWORD,
                                                "new_password": "tea kettle on the hob"})
    assert done.status_code == 302
    assert page.get("/").status_code == 200
    assert api_token(app.test_client(), "lz-nurse", "tea kettle on the hob")


# ---- 6: tokens can be revoked --------------------------------------------------------------------

def test_logout_revokes_the_token(client, ward):
    token = api_token(client, "lz-nurse")
    assert client.post("/api/auth/logout", headers=token).status_code == 204
    assert client.get("/api/me", headers=token).status_code == 401


def test_deactivation_revokes_tokens_for_good(app, client, ward):
    token = api_token(client, "lz-nurse")
    session_client = app.test_client()
    login(session_client, "lz-nurse")
    admin = api_token(client, "admin")
    assert client.patch("/api/users/lz-nurse", headers=admin,
                        json={"active": False, "reason": "Left the team"}).status_code == 200
    assert client.patch("/api/users/lz-nurse", headers=admin,
                        json={"active": True, "reason": "Came back"}).status_code == 200
    assert client.get("/api/me", headers=token).status_code == 401
    assert session_client.get("/").status_code == 302


def test_an_admin_set_password_ends_the_users_tokens(client, ward):
    token = api_token(client, "lz-nurse")
    admin = api_token(client, "admin")
    assert client.put("/api/users/lz-nurse/password", headers=admin,
                      json={"password": "sunrise over the lake", "reason": "Forgotten"}).status_code == 204
    assert client.get("/api/me", headers=token).status_code == 401
    assert db.session.scalar(select(User.must_change_password).where(User.username == "lz-nurse")) is True


# ---- 7: the cookie carries an opaque id only; HSTS behind HTTPS -------------------------------------

def test_the_session_cookie_is_an_opaque_id_and_the_data_stays_on_the_server(app, client, ward):
    login(client, "lz-nurse")
    assert csrf_token(client, "/")
    cookie = client.get_cookie("session").value
    # Before: a signed but readable cookie carrying the CSRF token, flash messages and ids.
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", cookie), cookie
    stored = db.session.scalar(select(StoredSession.data).where(
        StoredSession.id_hash == hashlib.sha256(cookie.encode()).hexdigest()))
    data = json.loads(stored)
    assert data["csrf_token"] and data["sid"] and cookie not in stored
    user = services.user_by_username("lz-nurse")
    assert user.password_hash[-16:] not in stored


def test_a_cookie_naming_no_stored_session_is_a_stranger(app, client, ward):
    login(client, "lz-nurse")
    assert client.get("/").status_code == 200
    client.set_cookie("session", "A" * 43)
    assert client.get("/").headers["Location"].startswith("/login")


def test_hsts_only_when_cookies_are_secure(app, client, ward):
    assert "Strict-Transport-Security" not in client.get("/login").headers
    app.config["SESSION_COOKIE_SECURE"] = True
    assert client.get("/login").headers["Strict-Transport-Security"].startswith("max-age=31536000")
