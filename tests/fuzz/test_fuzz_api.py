"""Schemathesis over the whole OpenAPI document as each role and without a token: no server
error, and every status, content type, header and body exactly as documented."""
import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cell_chain import create_app
from cell_chain.demo import DEMO_PASSWORD
from tests.conftest import _config
from tests.fuzz.conftest import ANONYMOUS, CALLERS, Trial, fresh_database, make_trial, token_headers
from tests.fuzz.world import World

DIALECTS = ("sqlite", "postgresql")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.data_too_large])


def _schema(**config: Any) -> Any:
    # The document does not depend on the data, so it is read once from an app without a
    # database (schemathesis's fixture-loaded schemas do not work with pytest 9); each call
    # goes to the current trial's app.
    app = create_app(_config("sqlite://"))
    loaded = schemathesis.openapi.from_wsgi("/api/openapi.json", app,
                                            config=schemathesis.Config.from_dict(config))
    return loaded


# As a role: the coverage phase (boundaries, wrong types, missing fields: it finds what random
# inputs miss) then random inputs. Other HTTP methods are left to the 405 test below: routing
# refuses them before the caller's role is known.
as_role = _schema(phases={"coverage": {"unexpected-methods": []}, "examples": {"enabled": False}})
# Without a token (on SQLite), every operation but the token exchange refuses before reading
# input: a few random requests each show that the refusal is the documented 401.
without_token = _schema(phases={"coverage": {"enabled": False}, "examples": {"enabled": False}})

# The trial whose objects path parameters may name; set by the `trial` fixture.
_current: dict[str, Trial] = {}


@pytest.fixture(scope="module", params=[pytest.param((dialect, caller), id=f"{dialect}-{caller}")
                                        for dialect in DIALECTS for caller in CALLERS])
def trial(request: pytest.FixtureRequest) -> Iterator[Trial]:
    """One seeded database per caller: its operations run in turn against it, as a session of
    that role would, so later operations meet what earlier ones changed."""
    dialect, caller = request.param
    yield from _current_trial(make_trial(*fresh_database(request, dialect), caller))


@pytest.fixture(scope="module")
def trial_without_token(request: pytest.FixtureRequest) -> Iterator[Trial]:
    yield from _current_trial(make_trial(*fresh_database(request, "sqlite"), ANONYMOUS))


def _current_trial(trials: Iterator[Trial]) -> Iterator[Trial]:
    for current in trials:
        _current["trial"] = current
        yield current
        _current.clear()


def _real_values(world: World, path: str, name: str, actor: str | None) -> list[Any]:
    """Objects that exist: the caller's site's, another site's, and central ones."""
    if name == "code" and path.startswith("/api/sites/"):
        return world.site_codes[:3]
    if name == "username":
        # Not the caller itself: an admin fuzzing PATCH would deactivate its own account.
        return [u for u in ("lz-nurse", "bj-nurse", "lab2", "monitor", "admin") if u != actor]
    by_name = {"donor_id": world.donor_ids, "din": world.dins, "lot_id": world.lot_ids, "number": [1, 2, 4]}
    if name in by_name:
        return by_name[name]
    return [*world.home.get(name, [])[:3], *world.away.get(name, [])[:1]]


def real_objects_too(context: Any, path_parameters: dict[str, Any] | None) -> Any:
    # Random ids almost never name a real object: as often as not, take one that does.
    if not path_parameters:
        return st.just(path_parameters)
    trial = _current["trial"]
    drawn = {}
    for name, value in path_parameters.items():
        real = _real_values(trial.world, context.operation.path, name, trial.caller.username)
        drawn[name] = st.one_of(st.just(value), st.sampled_from(real)) if real else st.just(value)
    return st.fixed_dictionaries(drawn)


def _real_fields(world: World) -> dict[str, list[Any]]:
    """Body and query fields that name something, with values that do."""
    home, away = world.home, world.away
    return {
        "scan": world.scans, "patient_scan": world.scans, "dose_scan": world.scans, "payload": world.scans,
        "bag_scan": world.scans,
        "scans": [world.scans[:1], world.scans[:4]],
        "target": [*home["code"][:1], *home["subject_id"][:1], *map(str, home["shipment_id"][:1]),
                   str(world.lot_ids[0]), *away["subject_id"][:1]],
        "dose_code": [*home["code"], *away["code"][:1]], "to": ["lz-nurse", "bj-nurse", "lz-pharmacist"],
        "donor_id": world.donor_ids, "site_code": world.site_codes[:3],
        "signature": [{"password": DEMO_PASSWORD, "meaning": ""}],
        "witness": [{"username": "lz-nurse2", "password": DEMO_PASSWORD}],
        # FHIR product search: a DIN, a dose code, with and without its system
        "identifier": [str(home["code"][0])[:13], *away["code"][:1], f"urn:cell-chain:dose|{home['code'][0]}"],
    }


def real_fields_too(context: Any, values: Any) -> Any:
    # A made-up password never signs and a made-up barcode never scans: as often as not, use
    # real ones, so that the fuzzer gets past them to the rules behind.
    if not isinstance(values, dict) or not values:
        return st.just(values)
    real = _real_fields(_current["trial"].world)
    return st.fixed_dictionaries({
        name: st.one_of(st.just(value), st.sampled_from(real[name])) if name in real else st.just(value)
        for name, value in values.items()})


for loaded in (as_role, without_token):
    loaded.hook("flatmap_path_parameters")(real_objects_too)
    loaded.hook("flatmap_body")(real_fields_too)
    loaded.hook("flatmap_query")(real_fields_too)


# Logging out revokes the token it is sent with: it gets a token of its own, so that the
# operations after it still run as the role instead of all answering 401.
_ENDS_ITS_TOKEN = {"/api/auth/logout"}


@as_role.parametrize()
@settings(max_examples=10, **SETTINGS)
def test_api_as_each_role(case: Any, trial: Trial) -> None:
    headers = trial.caller.headers
    if case.path in _ENDS_ITS_TOKEN and trial.caller.username:
        headers = token_headers(trial.app, trial.caller.username)
    case.call_and_validate(app=trial.app, headers=headers, checks=CHECKS)


@without_token.parametrize()
@settings(max_examples=5, **SETTINGS)
def test_api_without_a_token(case: Any, trial_without_token: Trial) -> None:
    case.call_and_validate(app=trial_without_token.app, checks=CHECKS)


def _example_url(path: str, operations: dict[str, Any]) -> str:
    """The path with each parameter filled: its first allowed value where it has a list, else 1."""
    declared = [*operations.get("parameters", []),
                *(p for o in operations.values() if isinstance(o, dict) for p in o.get("parameters", []))]
    enums = {p["name"]: p["schema"]["enum"] for p in declared if p.get("in") == "path" and "enum" in p.get("schema", {})}
    return re.sub(r"\{([^}]+)\}", lambda m: str(enums.get(m.group(1), [1])[0]), path)


def test_other_methods_answer_405_with_allow() -> None:
    """Every API path answers a method it does not have with a 405 that says which methods it
    has: problem+json under /api, a FHIR OperationOutcome under /fhir (routing answers before
    any database work: no database here)."""
    client = create_app(_config("sqlite://")).test_client()
    spec = client.get("/api/openapi.json").get_json()
    for path, operations in spec["paths"].items():
        url = _example_url(path, operations)
        methods = {m.upper() for m in operations if m != "parameters"}
        for method in {"GET", "POST", "PUT", "PATCH", "DELETE"} - methods:
            response = client.open(url, method=method)
            assert response.status_code == 405, (method, path)
            if path.startswith("/fhir/"):
                assert response.mimetype == "application/fhir+json"
                issue = response.get_json()["issue"][0]
                assert issue["code"] == "not-supported" and issue["details"]["coding"][0]["code"] == "METHOD_NOT_ALLOWED"
            else:
                assert response.mimetype == "application/problem+json"
                assert response.get_json()["code"] == "METHOD_NOT_ALLOWED"
            assert set(response.headers["Allow"].replace(" ", "").split(",")) >= methods, (method, path)


def test_the_document_names_each_operations_guard() -> None:
    """A bearer token on every operation but the token exchange, each documenting the 401 of a
    missing one; a 404 wherever a path names something (also for a path no route matches)."""
    spec = create_app(_config("sqlite://")).test_client().get("/api/openapi.json").get_json()
    assert spec["components"]["securitySchemes"]["bearerToken"] == {"type": "http", "scheme": "bearer"}
    assert spec["security"] == [{"bearerToken": []}]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            open_ = operation.get("security") == []
            assert open_ == (path == "/api/auth/token"), (method, path)
            assert "401" in operation["responses"], (method, path)
            if "{" in path:
                assert "404" in operation["responses"], (method, path)
