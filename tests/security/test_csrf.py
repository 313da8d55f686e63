"""Every page form refuses a POST without its own browser's CSRF token, and changes nothing."""
import pytest

from cell_chain.core.db import db
from tests.security.access import EXPECTED, PUBLIC
from tests.security.conftest import ANONYMOUS, Trial, fingerprint
from tests.security.routes import ROUTES, send

PAGE_POSTS = sorted(key for key, route in ROUTES.items() if route.method == "POST" and not route.is_api)


# The token is checked before any query: one database is enough.
@pytest.mark.parametrize("trial", ["sqlite"], indirect=True)
@pytest.mark.parametrize("key", PAGE_POSTS)
def test_every_page_form_refuses_a_post_without_its_csrf_token(trial: Trial, key: str):
    route, allowed = ROUTES[key], EXPECTED.get(key)
    caller = ANONYMOUS if allowed is PUBLIC or allowed is None else sorted(allowed)[0]
    values = {name: trial.value(name, route.rule) for name in route.arguments}
    another_browsers = trial.csrf("admin" if caller != "admin" else "lab")
    with trial.app.app_context():
        before = fingerprint()
    for token in (None, "forged", another_browsers):
        response = send(trial.browsers[caller], route, values, csrf=token)
        assert response.status_code == 400, (caller, token, response.status_code)
        assert "form expired" in response.get_data(as_text=True)
    with trial.app.app_context():
        db.session.expire_all()
        assert fingerprint() == before
