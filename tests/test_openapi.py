"""The OpenAPI document is valid OpenAPI 3 and describes the endpoints and their errors."""
from openapi_spec_validator import validate


def test_openapi_document_is_valid_openapi_3(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert {"/api/auth/token", "/api/users", "/api/sites", "/api/audit/verify"} <= set(spec["paths"])


def test_errors_are_documented_as_problem_json(client):
    spec = client.get("/api/openapi.json").get_json()
    token = spec["paths"]["/api/auth/token"]["post"]["responses"]
    assert "401" in token and "429" in token and "422" in token
    error = spec["components"]["responses"]["UNPROCESSABLE_ENTITY"]
    assert "application/problem+json" in error["content"]
