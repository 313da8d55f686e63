"""A database fault while a hospital system reads /fhir, as the deployed app answers it
(TESTING off): a 503 OperationOutcome with Retry-After, then the same read goes through;
a programming error is a 500 OperationOutcome, not an outage."""
from typing import Any

import pytest

from cell_chain import create_app
from cell_chain.core.db import db
from tests.conftest import FAST_ARGON2, api_token
from tests.faults.conftest import Fault
from tests.reconciliation.conftest import subject_of


@pytest.fixture
def deployed(app: Any, trial: Any) -> Any:
    live = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                       "SECRET_KEY": "test-secret", "ARGON2_PARAMS": FAST_ARGON2})
    assert not live.testing
    with live.app_context():
        engine = db.engine
    db.session.commit()
    with Fault(engine).listening() as fault:
        yield live, fault
    engine.dispose()


def test_a_database_fault_is_a_503_operation_outcome(deployed, trial):
    live, fault = deployed
    client = live.test_client()
    headers = api_token(client, "monitor")
    path = f"/fhir/Patient/{subject_of(trial['given'])}/$everything"
    db.session.rollback()  # on SQLite an open transaction would hold the write lock
    for at in (2, 5, 8):
        fault.arm(at)
        response = client.get(path, headers=headers)
        fault.disarm()
        assert fault.fired, at
        assert response.status_code == 503 and response.mimetype == "application/fhir+json"
        assert response.headers["Retry-After"]
        body = response.get_json()
        assert body["resourceType"] == "OperationOutcome"
        assert body["issue"][0]["code"] == "transient"
        assert body["issue"][0]["details"]["coding"][0]["code"] == "SERVICE_UNAVAILABLE"
        assert "injected" not in response.get_data(as_text=True)
    assert client.get(path, headers=headers).status_code == 200


def test_a_programming_error_is_a_500_operation_outcome(deployed, trial):
    live, fault = deployed
    client = live.test_client()
    headers = api_token(client, "monitor")
    path = f"/fhir/BiologicallyDerivedProduct/{trial['given'].code}"
    db.session.rollback()
    fault.arm(2, "ProgrammingError")
    response = client.get(path, headers=headers)
    fault.disarm()
    assert fault.fired
    assert response.status_code == 500 and response.mimetype == "application/fhir+json"
    assert response.get_json()["issue"][0]["details"]["coding"][0]["code"] == "INTERNAL_ERROR"
    assert "Retry-After" not in response.headers
