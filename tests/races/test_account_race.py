"""Two administrators add the same site or username at once: one record, one 422."""
import pytest
from sqlalchemy import func, select

from cell_chain.accounts.models import Site, User
from cell_chain.core.db import db
from tests.conftest import PASSWORD, make_user
from tests.races.conftest import ROUNDS, assert_chain_linear, race, tokens


@pytest.mark.parametrize("kind", ["site", "user"])
def test_same_site_or_username_twice_makes_one(app, ward, kind):
    make_user("admin", "admin")
    make_user("admin2", "admin")
    first, second = tokens(app, "admin", "admin2")
    for round_ in range(ROUNDS):
        if kind == "site":
            path, field, body = "/api/sites", "code", {"code": f"SITE{'ABCDE'[round_]}", "name": "X", "city": "Y"}
        else:
            path, field = "/api/users", "username"
            body = {"username": f"twin-{round_}", "display_name": "Twin", "role": "qa", "password": PASSWORD}
        answers = race(app, [lambda c: c.post(path, headers=first, json=body),
                             lambda c: c.post(path, headers=second, json=body)])
        assert sorted(a.status for a in answers) == [201, 422], (round_, answers)
        [loser] = [a for a in answers if a.status == 422]
        assert loser.code == "VALIDATION_ERROR" and field in loser.body["errors"], loser.body
        model, column = (Site, Site.code) if kind == "site" else (User, User.username)
        assert db.session.scalar(select(func.count()).select_from(model).where(column == body[field])) == 1
    assert_chain_linear()
