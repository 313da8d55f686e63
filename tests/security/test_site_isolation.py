"""Site staff see and touch only their own site: another site's patient, dose, shipment,
infusion, user or site answers 404 to every route that names one, and nothing changes; lists
and pages never show another site's objects."""
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from cell_chain.accounts.roles import SITE_ROLES
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.demo import DEMO_PASSWORD
from cell_chain.patients.models import Patient
from cell_chain.shipments.models import Shipment
from tests.fuzz.world import AWAY, HOME
from tests.security.conftest import ANONYMOUS, Trial, fingerprint
from tests.security.routes import ROUTES, Route, error_code, send
from tests.security.access import EXPECTED, PUBLIC

# Path arguments that name an object belonging to one site.
SITE_OWNED = {"subject_id", "shipment_id", "code", "username", "infusion_id"}
SIGNATURE = {"password": DEMO_PASSWORD, "meaning": ""}

# A body each API route would accept, so that the answer is about the object, not the input.
VALID_BODIES: dict[str, Any] = {
    "POST /api/doses/<code>/thaw": lambda: {"thawed_at": (utcnow() - timedelta(minutes=5)).isoformat()},
    "POST /api/doses/<code>/dispense": lambda: {"to": "lz-nurse"},
    "POST /api/doses/<code>/destroy": lambda: {"reason": "Bag damaged", "signature": SIGNATURE,
                                               "witness": {"username": "lz-nurse", "password": DEMO_PASSWORD}},
    "POST /api/doses/<code>/return": lambda: {"reason": "Not needed", "signature": SIGNATURE},
    "POST /api/doses/<code>/label-verification": lambda: {"scan": "=A9999"},
    "POST /api/patients/<subject_id>/withdraw": lambda: {"reason": "Consent withdrawn", "signature": SIGNATURE},
    "POST /api/patients/<subject_id>/visits/<int:number>/allocate": lambda: {},
    "POST /api/patients/<subject_id>/visits/<int:number>/deallocate": lambda: {"reason": "Visit moved"},
    "POST /api/shipments/<int:shipment_id>/handoffs": lambda: {"from_party": "Courier", "to_party": "Pharmacy",
                                                               "place": "Loading bay"},
    "POST /api/shipments/<int:shipment_id>/receive": lambda: {"scans": [], "seal_intact": True,
                                                              "signature": SIGNATURE},
    "POST /api/shipments/<int:shipment_id>/temperature-waiver": lambda: {"reason": "Logger lost",
                                                                         "signature": SIGNATURE},
}
# Routes whose body is not JSON: sent as they are sent for real.
RAW_BODIES = {"POST /api/shipments/<int:shipment_id>/temperature": b"timestamp,celsius\n"}
# The scan lookup needs something scanned: the caller's site's patient (another site's is
# tested below). The FHIR product search names the lot (DIN) of another site's dose: none of
# that site's dose codes may come back.
QUERIES = {"GET /api/scan": lambda trial: {"payload": "LZ-0001"},
           "GET /fhir/BiologicallyDerivedProduct": lambda trial: {"identifier": trial.world.away["code"][0][:13]}}


def _isolation_cases() -> list[tuple[str, str]]:
    """(route, site role) for every route naming a site-owned object that site staff may call."""
    cases = []
    for key, route in sorted(ROUTES.items()):
        allowed = EXPECTED.get(key)
        if allowed is PUBLIC or allowed is None or not SITE_OWNED & set(route.arguments):
            continue
        cases += [(key, role) for role in sorted(allowed & {str(r) for r in SITE_ROLES})]
    return cases



def _call(trial: Trial, route: Route, role: str, values: dict[str, Any]) -> Any:
    if route.key in RAW_BODIES:
        response = trial.browsers[ANONYMOUS].post(route.path(values), data=RAW_BODIES[route.key],
                                                    headers={**trial.tokens[role], "Content-Type": "text/csv"})
    elif route.key in QUERIES:
        response = trial.browsers[ANONYMOUS].get(route.path(values), query_string=QUERIES[route.key](trial),
                                                   headers=trial.tokens[role])
    elif route.is_api or route.is_fhir:
        body = VALID_BODIES[route.key]() if route.method != "GET" else None
        response = send(trial.browsers[ANONYMOUS], route, values, headers=trial.tokens[role], body=body)
    else:
        response = send(trial.browsers[role], route, values, csrf=trial.csrf(role))
    response.close()
    return response


@pytest.mark.parametrize("key, role", _isolation_cases())
def test_another_sites_object_answers_404_and_nothing_changes(trial: Trial, key: str, role: str):
    route = ROUTES[key]
    if route.is_api and route.method != "GET":
        assert key in VALID_BODIES or key in RAW_BODIES, f"write a valid body for {key} in VALID_BODIES"
    away = {name: trial.value(name, route.rule, AWAY) for name in route.arguments}
    with trial.app.app_context():
        before = fingerprint()
    response = _call(trial, route, role, away)
    assert response.status_code == 404, f"{role} {route.method} {route.path(away)}: {response.status_code}"
    if route.is_api or route.is_fhir:
        assert error_code(response) == "NOT_FOUND"
    with trial.app.app_context():
        assert fingerprint() == before
    # The other site's object is in the state the call needs (a dose in its pharmacy, a
    # shipment received, a patient on the MSC arm), so the 404 can only be the site. For reads
    # the same call for the caller's own site's object shows it: writes would change the trial.
    if route.method == "GET":
        home = {name: trial.value(name, route.rule, HOME) for name in route.arguments}
        served = _call(trial, route, role, home).status_code
        assert served in (200, 302), f"{role} GET {route.path(home)}: {served}"


def _away_names(trial: Trial) -> list[str]:
    with trial.app.app_context():
        subjects = db.session.scalars(select(Patient.subject_id).join(Patient.site)
                                      .where(Patient.site.has(code=AWAY)))
        shipments = db.session.scalars(select(Shipment.code).where(Shipment.site.has(code=AWAY)))
        return [*subjects, *shipments, *trial.world.away["code"], *trial.world.away["username"]]


LISTS = sorted(key for key, route in ROUTES.items()
               if route.method == "GET" and not route.arguments and EXPECTED.get(key) is not PUBLIC)


@pytest.mark.parametrize("key", LISTS)
def test_lists_and_pages_show_site_staff_nothing_of_another_site(trial: Trial, key: str):
    route, allowed = ROUTES[key], EXPECTED[key] or frozenset()
    names = _away_names(trial)
    for role in sorted(allowed & {str(r) for r in SITE_ROLES}):
        response = _call(trial, route, role, {})
        assert response.status_code == 200, (role, response.status_code)
        text = response.get_data(as_text=True)
        shown = [name for name in names if name in text]
        assert not shown, f"{role} sees {shown} on {key}"


def test_body_references_to_another_sites_objects_are_refused(trial: Trial):
    client, coordinator = trial.browsers[ANONYMOUS], trial.tokens["coordinator"]
    away_subject = trial.world.away["subject_id"][0]
    with trial.app.app_context():
        before = fingerprint()
    wristband = client.post("/api/print-jobs", headers=coordinator,
                            json={"kind": "wristband", "target": away_subject, "format": "zpl"})
    assert wristband.status_code == 404
    assignment = client.post("/api/print-jobs", headers=coordinator,
                             json={"kind": "assignment", "target": trial.world.away["code"][0], "format": "zpl"})
    assert assignment.status_code == 404
    enrol = client.post("/api/patients", headers=coordinator, json={
        "site_code": AWAY, "arm": "msc", "enrolled_on": utcnow().date().isoformat(), "initials": "AB",
        "birth_year": 1970})
    assert enrol.status_code == 404, enrol.status_code
    for role in ("nurse", "pharmacist", "coordinator"):
        scan = client.get("/api/scan", headers=trial.tokens[role], query_string={"payload": away_subject})
        assert scan.status_code == 404, (role, scan.status_code, scan.get_json())
    listed = client.get("/api/patients", headers=coordinator, query_string={"site_code": AWAY})
    assert listed.status_code == 200 and listed.get_json() == []
    with trial.app.app_context():
        assert fingerprint() == before


@pytest.mark.parametrize("dataset", ["ex", "da", "dv"])
def test_sdtm_datasets_hold_site_staff_only_their_own_subjects(trial: Trial, dataset: str):
    """The world's LZ and BJ subjects both have an infusion and doses in their pharmacies: an
    LZ user's datasets name LZ subjects only, asking for BJ answers 404, and the monitor's
    hold both sites."""
    client = trial.browsers[ANONYMOUS]
    away_subjects = [str(s) for s in trial.world.away["subject_id"]]
    for role in sorted(str(r) for r in SITE_ROLES):
        for fmt in ("csv", "xpt"):
            response = client.get(f"/api/exports/sdtm/{dataset}.{fmt}", headers=trial.tokens[role])
            assert response.status_code == 200, (role, fmt)
            assert not [s for s in away_subjects if s.encode() in response.data], (role, fmt)
        refused = client.get(f"/api/exports/sdtm/{dataset}.csv", headers=trial.tokens[role],
                             query_string={"site_code": AWAY})
        assert refused.status_code == 404 and refused.get_json()["code"] == "NOT_FOUND"
    if dataset == "ex":
        everything = client.get("/api/exports/sdtm/ex.csv", headers=trial.tokens["monitor"]).get_data(as_text=True)
        assert f"-{HOME}-" in everything and f"-{AWAY}-" in everything
