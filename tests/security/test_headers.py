"""Security headers on every page and API response: a CSP that allows no inline script and no
framing, and no caching of anything a signed-in user or the API returns (patient and dose
data must not linger in a shared browser or proxy cache)."""
import re

import pytest
from werkzeug.test import TestResponse

from tests.security.access import EXPECTED, PUBLIC
from tests.security.conftest import ANONYMOUS, Trial
from tests.security.routes import ROUTES, send


def _csp(response: TestResponse) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in policy.split(";") if part.strip())}


def assert_secure_headers(response: TestResponse, *, cacheable: bool = False) -> None:
    csp = _csp(response)
    scripts = csp.get("script-src", csp["default-src"])
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts and "*" not in scripts
    assert "'unsafe-inline'" not in csp.get("style-src", csp["default-src"])
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    if not cacheable:
        assert "no-store" in response.headers.get("Cache-Control", ""), response.request.path


_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
_INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
_INLINE_STYLE = re.compile(r"<[^>]+\sstyle\s*=", re.I)


def assert_nothing_inline(response: TestResponse) -> None:
    """What the CSP would block must not be there: the page would silently break."""
    html = response.get_data(as_text=True)
    for pattern in (_INLINE_SCRIPT, _INLINE_HANDLER, _INLINE_STYLE):
        assert not pattern.search(html), f"{response.request.path}: {pattern.search(html).group(0)}"


GETS = sorted(key for key, route in ROUTES.items() if route.method == "GET")


@pytest.mark.parametrize("trial", ["sqlite"], indirect=True)
@pytest.mark.parametrize("key", GETS)
def test_every_response_carries_the_security_headers(trial: Trial, key: str):
    """As a role that may read it (and without a session, refused), every GET route."""
    route = ROUTES[key]
    values = {name: trial.value(name, route.rule) for name in route.arguments}
    allowed = EXPECTED.get(key)
    callers = [ANONYMOUS] if allowed is PUBLIC or allowed is None else [sorted(allowed)[0], ANONYMOUS]
    for caller in callers:
        headers = trial.tokens.get(caller) if route.is_api else None
        client = trial.browsers[ANONYMOUS if route.is_api else caller]
        response = send(client, route, values, headers=headers)
        response.close()
        # Static files and the sign-in page carry no one's data: they may be cached.
        cacheable = caller == ANONYMOUS and not route.is_api
        assert_secure_headers(response, cacheable=cacheable)
        if response.mimetype == "text/html":
            assert_nothing_inline(response)


@pytest.mark.parametrize("trial", ["sqlite"], indirect=True)
def test_errors_carry_them_too(trial: Trial):
    client, nurse = trial.browsers[ANONYMOUS], trial.browsers["nurse"]
    for response in (client.get("/api/patients/NOPE", headers=trial.tokens["coordinator"]),
                     client.get("/api/patients"), client.post("/api/auth/token", json={}),
                     client.delete("/api/patients"), nurse.get("/patients/NOPE")):
        assert response.status_code >= 400
        assert_secure_headers(response)
    # Nobody's data: an unknown page without a session may be cached.
    assert_secure_headers(client.get("/no-such-page"), cacheable=True)
