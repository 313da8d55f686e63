"""The fuzzed app: a copy of the seeded trial per caller, served straight through WSGI."""
import re
import shutil
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from flask import Flask

from cell_chain import create_app
from cell_chain.accounts.roles import SITE_ROLES
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.demo import DEMO_PASSWORD
from tests.conftest import Client, _config, _reset_postgres
from tests.fuzz.world import ACTORS, World, describe_world, seed_world

ANONYMOUS = "anonymous"
CALLERS = [ANONYMOUS, *ACTORS]
# On PostgreSQL each operation is fuzzed once, as the first of these roles it allows: site
# staff first, because their queries carry the site scoping.
POSTGRES_ROLE_ORDER = ("pharmacist", "nurse", "coordinator", "lab", "qa", "admin", "monitor")


@cache
def allowed_roles() -> dict[str, frozenset[str] | None]:
    """Operation label ("POST /api/lots/{lot_id}") → the roles its view admits (None: open)."""
    app = create_app(_config("sqlite://"))
    operations: dict[str, frozenset[str] | None] = {}
    for rule in app.url_map.iter_rules():
        view_class = getattr(app.view_functions[rule.endpoint], "view_class", None)
        if view_class is None:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            roles = getattr(getattr(view_class, method.lower()), "allowed_roles", None)
            operations[f"{method} {path}"] = frozenset(roles) if roles else None
    return operations


def fuzzed_as(operation: str, dialect: str, caller: str) -> bool:
    """Whether `caller` fuzzes `operation` on `dialect`.

    A role's refusal is one line of code before any input is read, and the role matrix in
    tests/security checks it for every endpoint and role; so each role fuzzes what it may do.
    Where many roles may (reads), one central role and one site role do, taking turns across
    operations: their queries differ only by the site scope. On PostgreSQL one role per
    operation, site staff first. (Every operation is fuzzed without a token too, by its own
    test.)"""
    roles = allowed_roles().get(operation)
    if roles is None:
        return caller == ANONYMOUS
    if dialect == "postgresql":
        return caller == next(role for role in POSTGRES_ROLE_ORDER if role in roles)
    if len(roles) <= 2:
        return caller in roles
    turn = zlib.crc32(operation.encode())
    central = sorted(roles - SITE_ROLES)
    site = sorted(roles & SITE_ROLES)
    return caller in {group[turn % len(group)] for group in (central, site) if group}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep, drop = [], []
    for item in items:
        operation = getattr(item, "operation_label", None)
        params = getattr(getattr(item, "callspec", None), "params", {})
        if operation is None or "trial" not in params:
            keep.append(item)
            continue
        dialect, caller = params["trial"]
        (keep if fuzzed_as(operation, dialect, caller) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def fuzz_config(url: str) -> dict:
    # A fuzzer signs with made-up passwords: with the usual threshold it would lock its own
    # account after five and test nothing but 401s from then on.
    return {**_config(url), "LOCKOUT_THRESHOLD": 10**9}


def _seeded(url: str) -> World:
    app = create_app(fuzz_config(url))
    with app.app_context():
        seed_world(utcnow())
        db.session.commit()
        world = describe_world()
        db.session.remove()
        db.engine.dispose()
    return world


_templates: dict[Path, tuple[Path, World]] = {}


@pytest.fixture(scope="session")
def world_template(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, World]:
    """The seeded trial as a SQLite file to copy (seeded once a session, though tests/security
    imports this fixture too)."""
    if sqlite_template not in _templates:
        path = tmp_path_factory.mktemp("world") / "world.sqlite3"
        shutil.copy(sqlite_template, path)
        _templates[sqlite_template] = path, _seeded(f"sqlite:///{path}")
    return _templates[sqlite_template]


@dataclass
class Caller:
    role: str
    username: str | None
    headers: dict[str, str]


@dataclass
class Trial:
    app: Flask
    world: World
    caller: Caller


def token_headers(app: Flask, username: str) -> dict[str, str]:
    response = app.test_client().post("/api/auth/token",
                                      json={"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def fresh_database(request: pytest.FixtureRequest, dialect: str) -> tuple[str, World]:
    """A freshly seeded database: the fuzzer changes what it touches."""
    if dialect == "sqlite":
        template, world = request.getfixturevalue("world_template")
        path = request.getfixturevalue("tmp_path_factory").mktemp("trial") / "trial.sqlite3"
        shutil.copy(template, path)
        return f"sqlite:///{path}", world
    url = request.getfixturevalue("postgres_url")
    app = create_app(fuzz_config(url))
    with app.app_context():
        _reset_postgres(app)
        db.engine.dispose()
    return url, _seeded(url)


def make_trial(url: str, world: World, role: str) -> Iterator[Trial]:
    app = create_app(fuzz_config(url))
    app.test_client_class = Client
    username = ACTORS.get(role)
    headers = token_headers(app, username) if username else {}
    # No app context is held while requests run: each request gets its own, as in production.
    yield Trial(app, world, Caller(role, username, headers))
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
