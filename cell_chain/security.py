"""Request-wide guards: who is calling, CSRF for cookie-authenticated requests, and the
security headers every response carries."""
from typing import Any

from flask import Flask, Response, current_app, g, redirect, request, session, url_for
from werkzeug.routing import UnicodeConverter

from cell_chain.accounts.sessions import load_actor
from cell_chain.core.errors import DomainError, ValidationFailed
from cell_chain.web.extensions import csrf
from cell_chain.core.messages import _l

_CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _needs_csrf() -> bool:
    if request.method in {"GET", "HEAD", "OPTIONS"}:
        return False
    # A bearer token is not sent by a browser on its own, so it cannot be forged cross-site;
    # an API call without a session cookie carries no ambient authority either.
    if g.get("via_token"):
        return False
    # The read-only FHIR API is called like /api: without a session there is nothing to forge.
    return not (request.path.startswith(("/api/", "/fhir/")) and "sid" not in session)


_NUL_REFUSED = ["Contains a NUL character, which no field accepts."]


class NulFreeSegment(UnicodeConverter):
    """The default path segment, minus NUL: no identifier holds one (PostgreSQL text cannot),
    so a path with one names nothing and answers 404 from routing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.regex = self.regex.replace("[^/]", "[^/\\x00]", 1)


# Request headers that are inputs: the API documents X-Filename (a logger file's name).
_INPUT_HEADERS = ("X-Filename",)


def _nul_fields() -> dict[str, list[str]]:
    """Query, form, file-name, JSON and input-header fields whose names or values hold a NUL
    character (JSON fields named by their dotted path)."""
    found: dict[str, list[str]] = {}

    def walk(name: str, value: Any) -> None:
        if isinstance(value, str) and "\x00" in value:
            found[name or "_schema"] = _NUL_REFUSED
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(name, str(key))
                walk(f"{name}.{key}" if name else str(key), item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(f"{name}.{index}" if name else str(index), item)

    for source in (request.args, request.form):
        for name, values in source.lists():
            if any("\x00" in text for text in (name, *values)):
                found[name] = _NUL_REFUSED
    for name, upload in request.files.items(multi=True):
        if "\x00" in (upload.filename or ""):
            found[name] = _NUL_REFUSED
    for name in _INPUT_HEADERS:
        if "\x00" in request.headers.get(name, ""):
            found[name] = _NUL_REFUSED
    if request.is_json:
        walk("", request.get_json(silent=True))
    return found


class PasswordChangeRequired(DomainError):
    status, code, title = 403, "PASSWORD_CHANGE_REQUIRED", "Change the password an administrator set first"


# What an account with an administrator-set password may still do: change it, or leave.
_BEFORE_PASSWORD_CHANGE = frozenset({
    "accounts_api.MyPasswordResource", "accounts_api.LogoutResource", "accounts_api.MeResource",
    "accounts.password_form", "accounts.change_password", "accounts.logout", "static",
})


def _before_request() -> Response | None:
    load_actor()
    if _needs_csrf():
        csrf.protect()
    actor = g.get("actor")
    if actor is not None and actor.must_change_password and request.endpoint not in _BEFORE_PASSWORD_CHANGE:
        if request.path.startswith("/api/"):
            raise PasswordChangeRequired(_l("Change your password first: POST /api/me/password."))
        return redirect(url_for("accounts.password_form"))
    # PostgreSQL text cannot hold NUL: such input is refused as invalid here, once for every
    # endpoint (documented as a 422 on each), rather than failing in the database.
    if errors := _nul_fields():
        raise ValidationFailed(errors)
    return None


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", _CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(self), microphone=(), geolocation=()"
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        # Served over HTTPS (the cookies say so): browsers must never fall back to plain HTTP.
        response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    if request.path.startswith("/api/") or g.get("actor") is not None:
        # Patient and dose data must not linger in shared browser or proxy caches.
        response.headers["Cache-Control"] = "no-store"
    return response


def init_security(app: Flask) -> None:
    """Called before any blueprint is registered, so that every route's segments use
    NulFreeSegment."""
    app.url_map.converters["default"] = app.url_map.converters["string"] = NulFreeSegment
    app.before_request(_before_request)
    app.after_request(_security_headers)
