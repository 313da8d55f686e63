"""Logging in: pages with sessions, API tokens, lock-out, idle timeout, CSRF."""
from datetime import timedelta

import pytest

from cell_chain.accounts import services
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.core.errors import AuthFailure
from tests.conftest import PASSWORD, api_token, csrf_token, login, make_site, make_user


@pytest.fixture
def nurse(app):
    make_site("LZ")
    return make_user("lz-nurse", "nurse", "LZ", name="Nina Nurse")


def test_login_page_then_home_lists_the_roles_jobs(client, nurse):
    assert client.get("/").status_code == 302
    page = client.get("/login")
    assert page.status_code == 200 and b"Log in to cell-chain" in page.data
    response = login(client, "lz-nurse")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    home = client.get("/").get_data(as_text=True)
    assert "Bedside" in home and "Verify and record an infusion" in home and "Nina Nurse" in home


def test_wrong_password_shows_error_summary_and_no_session(client, nurse):
    response = login(client, "lz-nurse", "wrong-password")
    assert response.status_code == 401
    assert "There is a problem" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_five_failed_logins_lock_the_accounts_sign_in_for_15_minutes(client, nurse):
    for n in range(5):  # five clients, so that no per-client throttle is involved
        response = client.post("/api/auth/token", json={"username": "lz-nurse", "password": "nope-nope-nope"},
                               environ_base={"REMOTE_ADDR": f"10.0.0.{n}"})
        assert response.status_code == 401
        assert response.get_json()["code"] == "INVALID_CREDENTIALS"
    wrong = client.post("/api/auth/token", json={"username": "lz-nurse", "password": "nope-nope-nope"},
                        environ_base={"REMOTE_ADDR": "10.0.1.1"})
    locked = client.post("/api/auth/token", json={"username": "lz-nurse", "password": PASSWORD},
                         environ_base={"REMOTE_ADDR": "10.0.1.2"})
    # locked answers exactly as a wrong password does: the lock does not reveal the account
    assert locked.status_code == wrong.status_code == 401
    assert locked.get_json() == wrong.get_json()
    assert locked.mimetype == "application/problem+json"
    page = login(client, "lz-nurse")
    assert page.status_code == 401 and "or the account is locked" in page.get_data(as_text=True)
    later = utcnow() + timedelta(minutes=16)
    assert services.authenticate("lz-nurse", PASSWORD, now=later).username == "lz-nurse"


def test_four_failures_then_success_resets_the_count(client, nurse):
    for n in range(4):
        client.post("/api/auth/token", json={"username": "lz-nurse", "password": "nope-nope-nope"},
                    environ_base={"REMOTE_ADDR": f"10.0.0.{n}"})
    api_token(client, "lz-nurse")
    for n in range(4):
        client.post("/api/auth/token", json={"username": "lz-nurse", "password": "nope-nope-nope"},
                    environ_base={"REMOTE_ADDR": f"10.0.2.{n}"})
    assert client.post("/api/auth/token", json={"username": "lz-nurse", "password": PASSWORD}).status_code == 200


def test_unknown_user_and_inactive_user_are_refused_alike(client, nurse):
    unknown = client.post("/api/auth/token", json={"username": "ghost", "password": PASSWORD})
    assert unknown.status_code == 401 and unknown.get_json()["code"] == "INVALID_CREDENTIALS"
    services.correct_user(nurse, {"active": False}, reason="Left the trial team", actor=None, now=utcnow())
    db.session.commit()
    with pytest.raises(AuthFailure):
        services.authenticate("lz-nurse", PASSWORD, now=utcnow())


def test_locked_account_refuses_even_the_right_password_at_service_level(app, nurse):
    now = utcnow()
    for _ in range(5):
        services.register_failed_attempt(nurse.id, now=now)
        db.session.commit()
    with pytest.raises(AuthFailure):
        services.authenticate("lz-nurse", PASSWORD, now=now + timedelta(minutes=14))


def test_token_auth(client, nurse):
    assert client.get("/api/me").status_code == 401
    assert client.get("/api/me").get_json()["code"] == "UNAUTHENTICATED"
    bad = client.get("/api/me", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401
    headers = api_token(client, "lz-nurse")
    me = client.get("/api/me", headers=headers)
    assert me.status_code == 200
    assert me.get_json()["username"] == "lz-nurse" and me.get_json()["site_code"] == "LZ"


def test_token_body_matches_the_contract(client, nurse):
    body = client.post("/api/auth/token", json={"username": "lz-nurse", "password": PASSWORD}).get_json()
    assert set(body) == {"token", "expires_at", "user"}
    assert body["user"] == {"username": "lz-nurse", "display_name": "Nina Nurse", "role": "nurse",
                            "site_code": "LZ"}


def test_tokens_are_stored_hashed_and_expire(app, client, nurse):
    raw, token = services.issue_token(nurse, now=utcnow())
    db.session.commit()
    assert raw not in token.token_hash and len(token.token_hash) == 64
    assert services.user_for_token(raw, now=utcnow()) == nurse
    assert services.user_for_token(raw, now=token.expires_at + timedelta(seconds=1)) is None


def test_form_post_without_csrf_token_is_rejected(client, nurse):
    response = client.post("/login", data={"username": "lz-nurse", "password": PASSWORD})
    assert response.status_code == 400
    assert "form expired" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_logged_in_api_post_without_csrf_header_is_rejected(client, nurse, app):
    make_user("admin", "admin")
    login(client, "admin")
    response = client.post("/api/sites", json={"code": "SH", "name": "S", "city": "Shanghai"})
    assert response.status_code == 400 and response.get_json()["code"] == "CSRF_FAILED"
    token = csrf_token(client, "/")
    ok = client.post("/api/sites", json={"code": "SH", "name": "S", "city": "Shanghai"},
                     headers={"X-CSRFToken": token})
    assert ok.status_code == 201


def test_logout_needs_csrf_and_ends_the_session(client, nurse):
    login(client, "lz-nurse")
    assert client.post("/logout").status_code == 400
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert client.get("/").status_code == 302


def test_idle_session_expires_after_15_minutes(client, nurse):
    from sqlalchemy import update

    from cell_chain.accounts.models import UserSession

    login(client, "lz-nurse")
    assert client.get("/").status_code == 200
    db.session.execute(update(UserSession).values(last_seen_at=utcnow() - timedelta(minutes=16)))
    db.session.commit()
    response = client.get("/")
    assert response.status_code == 302
    follow = client.get(response.headers["Location"], follow_redirects=True)
    assert "without activity" in follow.get_data(as_text=True)


def test_login_redirects_only_to_same_site_paths(client, nurse):
    token = csrf_token(client)
    response = client.post("/login?next=//evil.example/x",
                           data={"username": "lz-nurse", "password": PASSWORD, "csrf_token": token})
    assert response.headers["Location"] == "/"


def test_password_change_invalidates_session(app, client, nurse):
    login(client, "lz-nurse")
    services.change_password(nurse, old_password=PASSWORD, new_password="another-password-1", now=utcnow())
    db.session.commit()
    assert client.get("/").status_code == 302
