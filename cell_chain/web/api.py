"""The JSON API: flask-smorest with RFC 9457 problem+json errors carrying a stable `code`."""
import http
from collections.abc import Callable
from typing import Any

import marshmallow as ma
from apispec import BasePlugin
from flask import Response, json, request
from flask_smorest import Api as SmorestApi
from flask_smorest.utils import prepare_response
from werkzeug.exceptions import HTTPException

from cell_chain.core.errors import DomainError
from cell_chain.core.messages import Message, translated
from cell_chain.web.error_page import html_error_page

PROBLEM_JSON = "application/problem+json"

_HTTP_CODES = {
    400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED", 409: "CONFLICT", 413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE", 422: "VALIDATION_ERROR", 423: "ACCOUNT_LOCKED",
    429: "TOO_MANY_REQUESTS", 500: "INTERNAL_ERROR", 503: "SERVICE_UNAVAILABLE",
}


class ProblemSchema(ma.Schema):
    """An error (RFC 9457 problem details) with cell-chain's stable `code`, and the members
    some codes add (RFC 9457 extension members: `blocking`, `stops`, `state`, …)."""

    class Meta:
        unknown = ma.INCLUDE  # documented as additionalProperties: extension members

    type = ma.fields.String()
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String()
    code = ma.fields.String(required=True, metadata={"description": "Stable error code"})
    errors = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()),
        metadata={"description": "Field name → messages, for VALIDATION_ERROR"},
    )


def problem(status: int, code: str, title: str, detail: str | None = None,
            **extra: Any) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "code": code}
    if detail:
        body["detail"] = detail
    body.update({k: v for k, v in extra.items() if v is not None})
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    return response


def _for_reader(value: Any) -> Any:
    """Messages inside a refusal's members (field errors, stops) in the reader's language."""
    if isinstance(value, Message):
        return str(value)
    if isinstance(value, dict):
        return {key: _for_reader(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_for_reader(item) for item in value]
    return value


def domain_problem(error: DomainError) -> Response:
    # The code and title stay English; the explanation follows Accept-Language.
    return problem(error.status, error.code, error.title, translated(error.detail), **_for_reader(error.extra))


def _flatten_messages(messages: Any) -> dict[str, list[str]]:
    """webargs nests errors by location ({"json": {"field": [...]}}); clients want fields."""
    flat: dict[str, list[str]] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), value)
        elif isinstance(node, list) and all(isinstance(m, str) for m in node):
            flat.setdefault(prefix or "_schema", []).extend(node)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(f"{prefix}.{index}", item)
        else:
            flat.setdefault(prefix or "_schema", []).append(str(node))

    if isinstance(messages, dict):
        for location, fields in messages.items():
            walk("" if location in {"json", "query", "form", "path", "files"} else location, fields)
    return flat


def http_problem(error: HTTPException) -> Response:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    if status == 422 and "messages" in data:
        errors = _flatten_messages(data["messages"])
        return problem(422, "VALIDATION_ERROR", "The request has invalid fields",
                       translated("Correct the fields listed in errors."), errors=errors)
    phrase = http.HTTPStatus(status).phrase if status in http.HTTPStatus._value2member_map_ else "Error"
    detail = data.get("message") or error.description
    response = problem(status, _HTTP_CODES.get(status, phrase.upper().replace(" ", "_")), phrase,
                       detail)
    if status == 405 and getattr(error, "valid_methods", None):
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


# Path prefixes whose HTTP errors (a path or method no route has) another format renders:
# FHIR answers OperationOutcome under /fhir/. Registered by the package that owns the prefix.
_ERROR_RENDERERS: dict[str, Callable[[HTTPException], Response]] = {}


def register_error_renderer(prefix: str, render: Callable[[HTTPException], Response]) -> None:
    _ERROR_RENDERERS[prefix] = render


def error_renderer(path: str) -> Callable[[HTTPException], Response] | None:
    return next((render for prefix, render in _ERROR_RENDERERS.items() if path.startswith(prefix)), None)


def wants_problem_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/api"


_UNSAFE_METHODS = {"post", "put", "patch", "delete"}


class RequestProblems(BasePlugin):
    """Refusals that come before any view runs, documented on the operations they apply to:
    422 for a NUL character in a query, form or JSON field or an input header
    (cell_chain.security); on requests that send a body, 400 for one that is not the JSON (or
    text) it claims to be or for a browser session's request without its CSRF token, and 413
    for one over MAX_CONTENT_LENGTH."""

    def operation_helper(self, path: str | None = None, operations: dict[str, Any] | None = None,
                         **kwargs: Any) -> None:
        for method, operation in (operations or {}).items():
            responses = operation.setdefault("responses", {})
            responses.setdefault("422", http.HTTPStatus.UNPROCESSABLE_ENTITY.name)
            if method in _UNSAFE_METHODS:
                responses.setdefault("400", http.HTTPStatus.BAD_REQUEST.name)
                responses.setdefault("413", http.HTTPStatus.REQUEST_ENTITY_TOO_LARGE.name)


class Api(SmorestApi):
    ERROR_SCHEMA = ProblemSchema
    # No catch-all "default" response: each operation lists the statuses it really answers
    # (problems() below), so a status the document does not name is a finding.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("spec_kwargs", {"extra_plugins": [RequestProblems()]})
        super().__init__(*args, **kwargs)

    def handle_http_exception(self, error: HTTPException) -> Any:
        if (render := error_renderer(request.path)) is not None:
            return render(error)
        if wants_problem_json():
            return http_problem(error)
        return html_error_page(error.code or 500, error.description)

    def _register_responses(self) -> None:
        # As flask-smorest does, but documenting errors as application/problem+json.
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)


def problems(blp: Any, *statuses: int) -> Any:
    """Document the problem+json error responses an endpoint can give."""

    def decorate(view: Any) -> Any:
        for status in statuses:
            view = blp.alt_response(status, response=http.HTTPStatus(status).name)(view)
        return view

    return decorate
