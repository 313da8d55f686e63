"""Password hashing: argon2id at deliberate parameters (at least OWASP's minimum), and stored
hashes moved to the current parameters at the next successful login."""
import pytest
from argon2 import Type, extract_parameters
from argon2.exceptions import InvalidHashError
from sqlalchemy import select

from cell_chain import create_app
from cell_chain.accounts.models import User
from cell_chain.accounts.passwords import PRODUCTION_PARAMS, hash_password, password_matches
from cell_chain.core.db import db
from tests.conftest import FAST_ARGON2, PASSWORD, csrf_token, make_site, make_user

OWASP_MINIMUM = {"memory_cost": 19 * 1024, "time_cost": 2, "parallelism": 1}


def _params(password_hash: str) -> dict:
    found = extract_parameters(password_hash)
    return {"type": found.type, "memory_cost": found.memory_cost, "time_cost": found.time_cost,
            "parallelism": found.parallelism}


def test_production_parameters_are_at_least_owasps_minimum(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite3'}",
                      "SECRET_KEY": "test"})
    assert "ARGON2_PARAMS" not in app.config or not app.config["ARGON2_PARAMS"]
    with app.app_context():
        stored = hash_password("a-long-password")
        assert password_matches(stored, "a-long-password")
        assert not password_matches(stored, "a-long-passwore")
    params = _params(stored)
    assert params["type"] is Type.ID
    assert params["memory_cost"] == PRODUCTION_PARAMS["memory_cost"] >= OWASP_MINIMUM["memory_cost"]
    assert params["time_cost"] == PRODUCTION_PARAMS["time_cost"] >= OWASP_MINIMUM["time_cost"]
    assert params["parallelism"] == PRODUCTION_PARAMS["parallelism"] >= OWASP_MINIMUM["parallelism"]


def _stored(username: str) -> str:
    db.session.expire_all()
    return db.session.scalar(select(User.password_hash).where(User.username == username))


@pytest.fixture
def nurse_with_old_hash(app):
    make_site("LZ")
    make_user("lz-nurse", "nurse", "LZ")
    old = _stored("lz-nurse")
    assert _params(old)["memory_cost"] == FAST_ARGON2["memory_cost"]
    app.config["ARGON2_PARAMS"] = {"time_cost": 2, "memory_cost": 2048, "parallelism": 1}
    return old


def test_a_successful_api_login_rehashes_with_the_current_parameters(client, nurse_with_old_hash):
    response = client.post("/api/auth/token", json={"username": "lz-nurse", "password": PASSWORD})
    assert response.status_code == 200
    new = _stored("lz-nurse")
    assert new != nurse_with_old_hash
    assert _params(new) == {"type": Type.ID, "memory_cost": 2048, "time_cost": 2, "parallelism": 1}
    again = client.post("/api/auth/token", json={"username": "lz-nurse", "password": PASSWORD})
    assert again.status_code == 200 and _stored("lz-nurse") == new  # rehashed once only


def test_a_successful_page_login_rehashes(client, nurse_with_old_hash):
    response = client.post("/login", data={"username": "lz-nurse", "password": PASSWORD,
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert _params(_stored("lz-nurse"))["memory_cost"] == 2048


def test_a_failed_login_keeps_the_old_hash(client, nurse_with_old_hash):
    response = client.post("/api/auth/token", json={"username": "lz-nurse", "password": "wrong-password-1"})
    assert response.status_code == 401
    assert _stored("lz-nurse") == nurse_with_old_hash


def test_a_signature_check_does_not_rewrite_the_hash(app, nurse_with_old_hash):
    from cell_chain.accounts import services
    from cell_chain.core.clock import utcnow

    user = db.session.scalar(select(User).where(User.username == "lz-nurse"))
    services.confirm_password(user, PASSWORD, now=utcnow())
    db.session.commit()
    assert _stored("lz-nurse") == nurse_with_old_hash


def test_an_unreadable_stored_hash_is_refused_not_rehashed(client, nurse_with_old_hash):
    user = db.session.scalar(select(User).where(User.username == "lz-nurse"))
    user.password_hash = "not-an-argon2-hash"
    db.session.commit()
    response = client.post("/api/auth/token", json={"username": "lz-nurse", "password": PASSWORD})
    assert response.status_code == 401 and _stored("lz-nurse") == "not-an-argon2-hash"
    with pytest.raises(InvalidHashError):
        extract_parameters("not-an-argon2-hash")
