"""Patients and allocatable doses."""
from collections.abc import Callable
from datetime import date, datetime
from functools import partial
from typing import Any

import pytest
from flask.testing import FlaskClient

from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.patients import enrolment as patients
from cell_chain.patients.models import Patient
from tests.conftest import make_site, make_user
from tests.pages import logged_in


@pytest.fixture
def sites(app: Any) -> None:
    make_site("LZ")
    make_site("BJ")
    make_user("lz-coordinator", "coordinator", "LZ")
    make_user("bj-coordinator", "coordinator", "BJ")
    make_user("lz-nurse", "nurse", "LZ")


@pytest.fixture
def as_user(app: Any, sites: None, staff: Any) -> Callable[[str], FlaskClient]:
    """A logged-in client per username (a fresh cookie jar each); the sites, staff and a monitor."""
    make_user("monitor", "monitor", name="Meng Monitor")
    return partial(logged_in, app)


def coordinator(site: str = "LZ") -> Any:
    from cell_chain.accounts.services import user_by_username

    return user_by_username(f"{site.lower()}-coordinator")


def enrol(site: str = "LZ", *, arm: str = "msc", enrolled_on: date | None = None, birth_year: int = 1975,
          now: datetime | None = None) -> Patient:
    now = now or utcnow()
    patient = patients.enrol_patient(site_code=site, arm=arm, enrolled_on=enrolled_on or now.date(),
                                     initials="WL", birth_year=birth_year, actor=coordinator(site), now=now)
    db.session.commit()
    return patient
