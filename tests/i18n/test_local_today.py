""""Today" is the reader's calendar day, the zone named: at 01:30 on 4 Dec in Lanzhou the
coordinator's pages say 4 Dec though UTC is still 3 Dec, and the rules that count visit
windows in days (enrolment not in the future, the dashboard's due visits) use that same day."""
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from cell_chain.accounts.models import Site, User
from cell_chain.core.clock import local_date, utcnow
from cell_chain.core.db import db
from cell_chain.core.errors import ValidationFailed
from cell_chain.patients.enrolment import enrol_patient
from tests.conftest import make_site, make_user
from tests.pages import logged_in, page_text

SHANGHAI = ZoneInfo("Asia/Shanghai")


def just_after_midnight_in_lanzhou(clock) -> datetime:  # noqa: ANN001
    """Move the app's clock to the next 01:30 Lanzhou time (17:30 UTC, the day before)."""
    now = utcnow()
    target = now.replace(hour=17, minute=30, second=0, microsecond=0)
    if target <= now:
        target += timedelta(days=1)
    clock.travel(target - now)
    return target


@pytest.fixture
def lanzhou(app):  # noqa: ANN001, ANN201
    make_site("LZ")
    db.session.execute(update(Site).where(Site.code == "LZ").values(time_zone="Asia/Shanghai", language="zh_Hans"))
    db.session.commit()
    return make_user("lz-coordinator", "coordinator", "LZ")


def test_the_lanzhou_coordinator_sees_the_local_date_with_its_zone_after_midnight(app, lanzhou, clock):
    moment = just_after_midnight_in_lanzhou(clock)
    local_day, utc_day = moment.astimezone(SHANGHAI).date(), moment.date()
    assert local_day == utc_day + timedelta(days=1)
    coordinator = logged_in(app, "lz-coordinator")
    waiting = page_text(coordinator.get("/visits/waiting-for-a-dose"))
    assert f"今天是 {local_day.isoformat()}（Asia/Shanghai）" in waiting
    assert utc_day.isoformat() not in waiting and "(UTC)" not in waiting
    patients = page_text(coordinator.get("/patients"))
    assert f"今天 {local_day.isoformat()}（Asia/Shanghai）" in patients


def test_the_monitor_dashboard_counts_today_on_the_readers_clock(app, clock):
    make_site("LZ")
    make_user("monitor", "monitor")
    db.session.execute(update(User).where(User.username == "monitor").values(time_zone="Asia/Shanghai"))
    db.session.commit()
    moment = just_after_midnight_in_lanzhou(clock)
    board = page_text(logged_in(app, "monitor").get("/monitor"))
    assert f"today {moment.astimezone(SHANGHAI).date().isoformat()} (Asia/Shanghai)" in board
    assert f"today {moment.date().isoformat()}" not in board


def test_enrolment_on_the_sites_own_date_is_not_in_the_future(lanzhou, clock):
    moment = just_after_midnight_in_lanzhou(clock)
    local_day = local_date(moment, SHANGHAI)
    patient = enrol_patient(site_code="LZ", arm="msc", enrolled_on=local_day, initials="WL", birth_year=1970,
                            actor=lanzhou, now=moment)
    assert patient.enrolled_on == local_day
    with pytest.raises(ValidationFailed) as refused:
        enrol_patient(site_code="LZ", arm="msc", enrolled_on=local_day + timedelta(days=1), initials="WL",
                      birth_year=1970, actor=lanzhou, now=moment)
    assert refused.value.extra["errors"]["enrolled_on"] == ["The enrolment date cannot be in the future."]


def test_the_local_date_rule_takes_the_moment_and_the_zone():
    moment = datetime(2026, 12, 3, 17, 30, tzinfo=UTC)
    assert local_date(moment, SHANGHAI).isoformat() == "2026-12-04"
    assert local_date(moment, UTC).isoformat() == "2026-12-03"
    assert local_date(moment, ZoneInfo("America/Los_Angeles")).isoformat() == "2026-12-03"


def test_reports_and_the_api_judge_each_visit_on_its_hospitals_calendar(app, client, lanzhou, clock):
    """At 01:30 in Lanzhou (17:30 UTC the day before) a Lanzhou visit whose window ended
    yesterday there, with the next visit's window open today, is missed: in the discrepancy
    list, the per-patient report and the API. The same visit at a hospital keeping UTC is
    still due: its day has not ended."""
    from cell_chain.patients.models import Visit
    from cell_chain.reconciliation.discrepancies import find_discrepancies
    from cell_chain.reconciliation.patients import reconcile_patients
    from cell_chain.reconciliation.scope import Scope
    from tests.conftest import api_token

    make_site("BJ")  # keeps UTC
    utc_coordinator = make_user("bj-coordinator", "coordinator", "BJ")
    moment = just_after_midnight_in_lanzhou(clock)
    local_day, utc_day = moment.astimezone(SHANGHAI).date(), moment.date()
    subjects = {}
    for site, actor in (("LZ", lanzhou), ("BJ", utc_coordinator)):
        patient = enrol_patient(site_code=site, arm="msc", enrolled_on=utc_day - timedelta(days=10), initials="WL",
                                birth_year=1970, actor=actor, now=moment)
        # visit 1's window ends on the UTC day (yesterday in Lanzhou); visit 2's opens on Lanzhou's today
        db.session.execute(update(Visit).where(Visit.patient_id == patient.id, Visit.number == 1)
                           .values(window_start=utc_day - timedelta(days=10), window_end=utc_day))
        db.session.execute(update(Visit).where(Visit.patient_id == patient.id, Visit.number == 2)
                           .values(window_start=local_day, window_end=local_day + timedelta(days=14)))
        subjects[site] = patient.subject_id
    db.session.commit()

    missed = {d.objects[0].id for d in find_discrepancies(Scope(), now=moment) if d.code == "VISIT_MISSED"}
    assert missed == {subjects["LZ"]}
    states = {p.subject_id: p.visits[0].schedule_state for p in reconcile_patients(Scope(), now=moment).patients}
    assert states == {subjects["LZ"]: "missed", subjects["BJ"]: "due"}
    for site, expected in (("LZ", "missed"), ("BJ", "due")):
        headers = api_token(client, f"{site.lower()}-coordinator")
        body = client.get(f"/api/patients/{subjects[site]}", headers=headers).get_json()
        assert body["visits"][0]["status"] == expected, (site, body["visits"][0])
