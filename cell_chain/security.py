"""Request-wide guards: who is calling, CSRF for cookie-authenticated requests, and the
security headers every response carries."""
from flask import Flask, Response, g, request, session

from cell_chain.accounts.sessions import load_actor
from cell_chain.extensions import csrf

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
    return not (request.path.startswith("/api/") and "uid" not in session)


def _before_request() -> None:
    load_actor()
    if _needs_csrf():
        csrf.protect()


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", _CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(self), microphone=(), geolocation=()"
    if request.path.startswith("/api/") or g.get("actor") is not None:
        # Patient and dose data must not linger in shared browser or proxy caches.
        response.headers["Cache-Control"] = "no-store"
    return response


def init_security(app: Flask) -> None:
    app.before_request(_before_request)
    app.after_request(_security_headers)
