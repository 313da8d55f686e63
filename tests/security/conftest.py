"""The seeded trial (six sites, every role) with each role signed in twice: a bearer token
for the API and a browser session for the pages."""
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from cell_chain import create_app
from cell_chain.core.db import db
from cell_chain.demo import DEMO_PASSWORD
from tests.conftest import Client, _config, csrf_token, login
from tests.fuzz.conftest import fresh_database, token_headers, world_template  # noqa: F401 - shared fixture
from tests.fuzz.world import ACTORS, HOME, World

ANONYMOUS = "anonymous"


@dataclass
class Trial:
    app: Flask
    world: World
    tokens: dict[str, dict[str, str]]  # role → Authorization header
    browsers: dict[str, FlaskClient]  # role (and ANONYMOUS) → a client with its session

    def csrf(self, caller: str) -> str:
        return csrf_token(self.browsers[caller], "/login" if caller == ANONYMOUS else "/")

    def value(self, name: str, rule: str, site: str = HOME) -> Any:
        """A real object for the path argument `name` of `rule`, of `site` where it is site-owned."""
        world = self.world
        objects = world.home if site == HOME else world.away
        if name == "code" and rule.startswith("/api/sites/"):
            return site
        if name == "name":
            return "discrepancies"  # the reconciliation report every reader may read
        if name == "filename":
            return "css/cell-chain.css"
        if name in objects and objects[name]:
            return objects[name][0]
        if name == "infusion_id":
            return world.away["infusion_id"][0]
        central = {"donor_id": world.donor_ids[0], "din": world.dins[0], "lot_id": world.lot_ids[0],
                   "number": 1, "dataset": "ex", "fmt": "csv"}
        return central[name]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def trial(request: pytest.FixtureRequest) -> Iterator[Trial]:
    """The trial for a whole module: its requests are refused or fail validation, so they
    leave it as it was (and where one would not, the test says so)."""
    url, world = fresh_database(request, request.param)
    app = create_app(_config(url))
    app.test_client_class = Client
    tokens = {role: token_headers(app, username) for role, username in ACTORS.items()}
    browsers = {ANONYMOUS: app.test_client()}
    for role, username in ACTORS.items():
        browsers[role] = app.test_client()
        assert login(browsers[role], username, DEMO_PASSWORD).status_code == 302
    yield Trial(app, world, tokens, browsers)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def fingerprint() -> dict[str, int]:
    """Rows per table: with the audit trail (every change adds an event) it shows any write."""
    return {table.name: db.session.scalar(select(func.count()).select_from(table)) or 0
            for table in db.metadata.sorted_tables}
