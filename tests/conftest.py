"""Fixtures: the app on SQLite and on PostgreSQL (every database test runs on both), clients,
small factories, and the lab and QA staff."""
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask, g, has_app_context
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy import update as sa_update
from sqlalchemy.engine import make_url

from cell_chain import create_app
from cell_chain.accounts import services
from cell_chain.accounts.models import User
from cell_chain.core import clock as app_clock
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db

PASSWORD = "correct-horse-42"
IN_CI = bool(os.environ.get("CI"))
PG_ENV = "CELL_CHAIN_TEST_POSTGRES_URL"
# Cheap argon2 parameters: the suite hashes passwords thousands of times.
FAST_ARGON2 = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}


def _config(url: str) -> dict[str, Any]:
    return {"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test-secret",
            "ARGON2_PARAMS": FAST_ARGON2}


def _migrate(url: str) -> None:
    from flask_migrate import upgrade

    app = create_app(_config(url))
    with app.app_context():
        upgrade()
        db.engine.dispose()


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI is set: PostgreSQL tests must run, not skip)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        _unavailable(f"{PG_ENV} is not set: PostgreSQL tests skipped")
    parsed = make_url(url)
    # Each pytest-xdist worker owns its database: the fixture drops the schema it is given.
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        parsed = parsed.set(database=f"{parsed.database}_{worker}")
        url = parsed.render_as_string(hide_password=False)
    admin = parsed.set(drivername="postgresql", database="postgres")
    try:
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True,
                             connect_timeout=5) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  (parsed.database,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{parsed.database}"')
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid()", (parsed.database,))
    except psycopg.OperationalError as error:
        _unavailable(f"PostgreSQL at {admin.host}:{admin.port} is unreachable: {error}")
    with psycopg.connect(parsed.set(drivername="postgresql").render_as_string(hide_password=False),
                         autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    _migrate(url)
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    _migrate(f"sqlite:///{path}")
    return path


class Client(FlaskClient):
    """A test client whose requests start with an empty `g`, as each real request does
    (the fixture's app context would otherwise carry `g` from one request to the next)."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        if has_app_context():
            for key in list(g):
                g.pop(key)
        return super().open(*args, **kwargs)


def _reset_postgres(app: Flask) -> None:
    with db.engine.begin() as conn:
        # Replica mode skips the audit table's append-only triggers (and foreign-key checks)
        # for this cleanup only. DELETE on small tables is ~30× faster than TRUNCATE.
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())


# One app per worker and database, reused by every test: building the app (695 routes and
# the OpenAPI document) costs ~0.2 s, paid ~2,800 times otherwise. Each test still gets a
# fresh database (the SQLite template copied in, PostgreSQL emptied) and the app's config as
# it was built; a test that changes the app itself (adds a route) asks for its own with
# @pytest.mark.fresh_app.
_SHARED_APPS: dict[str, tuple[Flask, dict[str, Any]]] = {}


def _new_app(url: str) -> Flask:
    application = create_app(_config(url))
    application.test_client_class = Client
    return application


def _shared_app(kind: str, url: str) -> Flask:
    if kind not in _SHARED_APPS:
        application = _new_app(url)
        _SHARED_APPS[kind] = (application, dict(application.config))
    application, config = _SHARED_APPS[kind]
    application.config.clear()
    application.config.update(config)
    return application


def _fresh_sqlite(template: Path, path: Path) -> None:
    # No connection is open between tests (the engine is disposed), so the WAL has been
    # checkpointed; its files are removed so the copy starts clean.
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copy(template, path)


@pytest.fixture(scope="session")
def _sqlite_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sqlite-shared") / "cell_chain.sqlite3"


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    fresh = request.node.get_closest_marker("fresh_app") is not None
    if request.param == "sqlite":
        path = tmp_path / "cell_chain.sqlite3" if fresh else request.getfixturevalue("_sqlite_path")
        _fresh_sqlite(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_url")
    application = _new_app(url) if fresh else _shared_app(request.param, url)
    with application.app_context():
        if request.param == "postgresql":
            _reset_postgres(application)
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def clock() -> Iterator[Any]:
    """The app's clock, to move forward with `clock.travel(timedelta(...))` (no sleeping);
    back on the real time after the test."""
    app_clock.real_time()
    yield app_clock
    app_clock.real_time()


@pytest.fixture
def dialect(app: Flask) -> str:
    return db.engine.dialect.name


# ---- factories -------------------------------------------------------------------------

def make_site(code: str = "LZ", *, now: datetime | None = None) -> Any:
    site = services.create_site(code=code, name=f"{code} Hospital", city=f"{code} City",
                                actor=None, now=now or utcnow())
    db.session.commit()
    return site


def make_user(username: str, role: str, site_code: str | None = None, *,
              password: str = PASSWORD, name: str | None = None) -> User:
    user = services.create_user(username=username, display_name=name or username.title(),
                                role=role, password=password, site_code=site_code,
                                actor=None, now=utcnow())
    db.session.commit()
    return user


def read_in_english() -> None:
    """Staff of the demo's Chinese sites read Chinese unless they choose otherwise: tests
    written against the English pages make that choice for every user."""
    db.session.execute(sa_update(User).values(language="en"))
    db.session.commit()


def api_token(client: FlaskClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/api/auth/token", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    match = _CSRF.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client: FlaskClient, username: str, password: str = PASSWORD) -> Any:
    token = csrf_token(client)
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token})


@pytest.fixture
def site_pair(app: Flask) -> tuple[Any, Any]:
    return make_site("LZ"), make_site("BJ")


@dataclass
class Staff:
    lab: User
    lab2: User
    qa: User
    qa2: User


@pytest.fixture
def staff(app: Flask) -> Staff:
    """The manufacturer's people: two lab technicians and two QA reviewers."""
    return Staff(make_user("lab", "lab", name="Li Lab"), make_user("lab2", "lab", name="Lu Lab"),
                 make_user("qa", "qa", name="Qian QA"), make_user("qa2", "qa", name="Quan QA"))

