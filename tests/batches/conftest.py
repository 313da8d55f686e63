"""The lot board and donor pages: a logged-in client per user."""
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import make_user
from tests.pages import logged_in


@pytest.fixture
def as_user(app: Any, staff: Any) -> Callable[[str], FlaskClient]:
    """A logged-in client per username (fresh cookie jar each); staff plus a monitor."""
    make_user("monitor", "monitor", name="Meng Monitor")
    return partial(logged_in, app)
