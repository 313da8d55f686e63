"""Who may call what: every route in the app's route table, called as each of the seven roles
and without credentials, against the reviewed table of who may (`access.py`). A route added,
removed or given other roles fails here until its line there is written or changed, which is
the review."""
from typing import Any

import pytest
from werkzeug.test import TestResponse

from cell_chain.accounts.roles import Role
from tests.fuzz.conftest import token_headers
from tests.fuzz.world import ACTORS
from tests.security.access import CHECKED_IN_VIEW, EXPECTED, PUBLIC, ROLES_BY_ARGUMENT
from tests.security.conftest import ANONYMOUS, Trial
from tests.security.routes import ROUTES, Route, error_code, send


def test_the_reviewed_table_lists_every_route_and_no_other():
    missing = sorted(set(ROUTES) - set(EXPECTED))
    hint = "\n".join(f'    "{key}": roles("{" ".join(sorted(ROUTES[key].declared or []))}"),' for key in missing)
    assert not missing, f"routes without a reviewed line in EXPECTED (tests/security/access.py); review and add:\n{hint}"
    assert not set(EXPECTED) - set(ROUTES), "EXPECTED lists routes the app no longer has"


@pytest.mark.parametrize("key", sorted(set(ROUTES) & set(EXPECTED)))
def test_each_route_declares_the_reviewed_roles(key):
    route, expected = ROUTES[key], EXPECTED[key]
    if key in CHECKED_IN_VIEW:
        assert route.declared is None
    elif expected is PUBLIC:
        assert route.declared is None, f"{key} is public in the table but declares {route.declared}"
    elif key in ROLES_BY_ARGUMENT:
        assert route.declared is not None and expected <= route.declared
    else:
        assert route.declared == expected, f"{key}: declares {sorted(route.declared or [])}"


def _outcome(route: Route, response: TestResponse) -> str:
    if response.status_code == 401:
        return "unauthenticated"
    if response.status_code in (302, 303) and response.headers["Location"].startswith("/login"):
        return "unauthenticated"
    if response.status_code == 403 and (not (route.is_api or route.is_fhir) or error_code(response) == "FORBIDDEN"):
        return "forbidden"
    return "served"


def _expected_outcome(key: str, caller: str) -> str:
    allowed = EXPECTED[key]
    if allowed is PUBLIC:
        return "served"  # a redirect to the login page too (after logging out)
    if caller == ANONYMOUS:
        return "unauthenticated"
    return "served" if caller in allowed else "forbidden"


# Calls that end the credentials they are made with get credentials of their own.
_ENDS_ITS_CREDENTIALS = {"POST /api/auth/logout"}


def call_as(trial: Trial, route: Route, caller: str, values: dict[str, Any]) -> TestResponse:
    if route.is_api or route.is_fhir:
        headers = trial.tokens.get(caller)
        if route.key in _ENDS_ITS_CREDENTIALS and caller != ANONYMOUS:
            headers = token_headers(trial.app, ACTORS[caller])
        response = send(trial.browsers[ANONYMOUS], route, values, headers=headers)
    else:
        response = send(trial.browsers[caller], route, values, csrf=trial.csrf(caller))
    response.close()  # static files are streamed from an open file
    return response


# Roles are checked before any query, so the matrix runs on one database; site isolation and
# fuzzing run on both.
@pytest.mark.parametrize("trial", ["sqlite"], indirect=True)
@pytest.mark.parametrize("key", sorted(ROUTES))
def test_role_matrix(trial: Trial, key: str):
    """Each role is served or refused (403) exactly as the table says; without credentials the
    API answers 401 and pages send to the login page. Objects in the path are real ones of the
    callers' own site, so a served call is not a 404 in disguise of a refusal."""
    assert key in EXPECTED, f"{key} has no reviewed line in EXPECTED"
    route = ROUTES[key]
    values = {name: trial.value(name, route.rule) for name in route.arguments}
    # Public routes are probed without credentials only: a signed-in POST /logout would end
    # the session the next calls need.
    callers = [ANONYMOUS] if EXPECTED[key] is PUBLIC else [ANONYMOUS, *map(str, Role)]
    wrong = []
    for caller in callers:
        response = call_as(trial, route, caller, values)
        assert response.status_code < 500, (caller, response.status_code)
        got, want = _outcome(route, response), _expected_outcome(key, caller)
        if want == "served" and EXPECTED[key] is PUBLIC:
            got = "served" if response.status_code not in (401, 403) else got
        if got != want:
            wrong.append(f"{caller}: {want} expected, got {response.status_code} ({got})")
    assert not wrong, f"{key}\n" + "\n".join(wrong)
