"""The app's own route table: every (method, rule) with the roles its view declares, and how
to send it a request that reaches the role check."""
import re
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from cell_chain import create_app
from tests.conftest import _config

IGNORED_METHODS = {"HEAD", "OPTIONS"}


@dataclass(frozen=True)
class Route:
    method: str
    rule: str
    arguments: tuple[str, ...]
    declared: frozenset[str] | None  # None: the view declares no roles

    @property
    def key(self) -> str:
        return f"{self.method} {self.rule}"

    @property
    def is_api(self) -> bool:
        return self.rule.startswith("/api/")

    @property
    def is_fhir(self) -> bool:
        """FHIR: a bearer token as on /api, errors as OperationOutcome."""
        return self.rule.startswith("/fhir/")

    def path(self, values: dict[str, Any]) -> str:
        path = self.rule
        for name in self.arguments:
            # <name>, <int:name>, <any(a, b):name>, …
            path = re.sub(rf"<(?:[^<>]+:)?{re.escape(name)}>", lambda _: str(values[name]), path)
        return path


def _handler(app: Flask, endpoint: str, method: str) -> Any:
    view = app.view_functions[endpoint]
    view_class = getattr(view, "view_class", None)
    return getattr(view_class, method.lower()) if view_class is not None else view


def route_table(app: Flask) -> dict[str, Route]:
    routes = {}
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - IGNORED_METHODS):
            roles = getattr(_handler(app, rule.endpoint, method), "allowed_roles", None)
            route = Route(method, rule.rule, tuple(sorted(rule.arguments)),
                          frozenset(str(r) for r in roles) if roles else None)
            routes[route.key] = route
    return routes


ROUTES = route_table(create_app(_config("sqlite://")))


def send(client: FlaskClient, route: Route, values: dict[str, Any], *,
         headers: dict[str, str] | None = None, csrf: str | None = None,
         body: dict[str, Any] | None = None) -> TestResponse:
    """The route's request: an empty (or given) JSON body to the API, an empty (or given) form
    with its CSRF token to a page."""
    path = route.path(values)
    if route.method == "GET":
        return client.get(path, headers=headers)
    if route.is_api:
        return client.open(path, method=route.method, headers=headers, json=body or {})
    return client.open(path, method=route.method, headers=headers,
                       data={**(body or {}), "csrf_token": csrf or ""})


def error_code(response: TestResponse) -> str:
    """The stable error code: problem+json's `code`, or a FHIR OperationOutcome's first issue's."""
    body = response.get_json()
    if body.get("resourceType") == "OperationOutcome":
        return body["issue"][0]["details"]["coding"][0]["code"]
    return body["code"]
