"""The monitor's dashboard: doses given per visit and site, visits overdue and due soon (the
schedule's rule, whole tables at once), open discrepancies; a coordinator sees their site."""
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import event, select

from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.core.errors import Forbidden
from cell_chain.patients.models import Patient
from cell_chain.patients.enrolment import enrol_patient, visit_state
from cell_chain.reconciliation import dashboard
from cell_chain.reconciliation.progress_chart import Group, progress_svg
from tests.conftest import login
from tests.reconciliation.trace_history import History, donor_history, hospitals, user

# Days since enrolment: each puts the four visits in a different place around "today".
ENROLMENT_AGES = (0, 9, 13, 14, 15, 30, 60, 75, 76, 77, 88, 100, 170, 200, 280, 300, 320, 330)


@pytest.fixture
def trial(app, staff) -> History:
    hospitals()
    history = donor_history(staff, utcnow() - timedelta(hours=2))
    today = utcnow().date()
    for index, days in enumerate(ENROLMENT_AGES):
        site = ("LZ", "BJ")[index % 2]
        enrolled = today - timedelta(days=days)
        enrol_patient(site_code=site, arm="msc" if index % 5 else "control", enrolled_on=enrolled, initials="DB",
                      birth_year=1970, actor=user(f"{site.lower()}-coordinator"), now=utcnow())
    db.session.commit()
    return history


def python_lists(today: date, site_code: str | None = None) -> tuple[set, set]:
    """Overdue and due-soon visits by the schedule's own per-row rule."""
    overdue, due_soon = set(), set()
    for patient in db.session.scalars(select(Patient).where(Patient.status == "active")):
        if site_code and patient.site.code != site_code:
            continue
        for visit in patient.visits:
            state = visit_state(visit, today)
            if state == "overdue":
                overdue.add((patient.subject_id, visit.number))
            elif state == "due" or (state == "upcoming" and visit.window_start <= today + dashboard.DUE_SOON):
                due_soon.add((patient.subject_id, visit.number))
    return overdue, due_soon


@pytest.mark.parametrize("offset", [-20, 0, 1, 14, 15, 59, 60, 61, 104, 105, 200])
def test_overdue_and_due_soon_agree_with_the_schedule_rule(trial, offset):
    today = utcnow().date() + timedelta(days=offset)
    overdue, due_soon = dashboard.visits_needing_doses(user("monitor"), today)
    expected_overdue, expected_due = python_lists(today)
    assert {(v.subject_id, v.number) for v in overdue} == expected_overdue
    assert {(v.subject_id, v.number) for v in due_soon} == expected_due
    assert all(v.state == "overdue" for v in overdue)
    assert [v.window_end for v in due_soon] == sorted(v.window_end for v in due_soon)


def test_the_lists_are_not_empty_on_the_days_tested(trial):
    """Guard for the agreement test: the trial has visits in each state around today."""
    overdue, due_soon = dashboard.visits_needing_doses(user("monitor"), utcnow().date())
    assert overdue and due_soon
    assert {v.state for v in due_soon} == {"due", "upcoming"}


def test_a_coordinator_sees_their_own_site(trial):
    today = utcnow().date()
    overdue, due_soon = dashboard.visits_needing_doses(user("lz-coordinator"), today)
    expected_overdue, expected_due = python_lists(today, "LZ")
    assert {(v.subject_id, v.number) for v in overdue} == expected_overdue
    assert {(v.subject_id, v.number) for v in due_soon} == expected_due
    assert {v.site_code for v in overdue + due_soon} == {"LZ"}
    assert [s.site_code for s in dashboard.site_progress(user("lz-coordinator"))] == ["LZ"]


def test_doses_given_per_visit_and_site(trial):
    progress = {s.site_code: s for s in dashboard.site_progress(user("monitor"))}
    lz, bj = progress["LZ"], progress["BJ"]
    # the trace history gave one dose at LZ, visit 1; BJ has given none
    assert lz.given == {1: 1, 2: 0, 3: 0, 4: 0} and bj.given == {1: 0, 2: 0, 3: 0, 4: 0}
    patients = list(db.session.scalars(select(Patient)))
    for site in ("LZ", "BJ"):
        assert progress[site].msc_patients == sum(1 for p in patients if p.site.code == site and p.arm == "msc")
        assert progress[site].control_patients == sum(1 for p in patients if p.site.code == site and p.arm == "control")


def test_dashboard_statements_do_not_grow_with_the_trial(trial):
    monitor = user("monitor")
    today = utcnow().date()

    def count() -> int:
        seen = []
        db.session.commit()
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            dashboard.site_progress(monitor)
            dashboard.visits_needing_doses(monitor, today)
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(seen)

    before = count()
    for days in (3, 33, 93, 183):
        enrol_patient(site_code="BJ", arm="msc", enrolled_on=today - timedelta(days=days), initials="EX",
                      birth_year=1970, actor=user("bj-coordinator"), now=utcnow())
    db.session.commit()
    assert count() == before


def test_only_monitors_qa_admins_and_coordinators(trial):
    for username in ("lab", "lz-pharmacist", "lz-nurse"):
        with pytest.raises(Forbidden):
            dashboard.build_dashboard(user(username), utcnow())
    board = dashboard.build_dashboard(user("qa"), utcnow())
    assert board.site_code is None and [s.site_code for s in board.sites] == ["BJ", "LZ"]


def test_open_discrepancies_are_counted_by_code(trial):
    board = dashboard.build_dashboard(user("monitor"), utcnow())
    counts = {code: count for code, _, count in board.discrepancy_counts}
    assert counts.get("RECALLED_DOSE_ADMINISTERED") == 1
    assert sum(counts.values()) == len(board.discrepancies)
    bj = dashboard.build_dashboard(user("bj-coordinator"), utcnow())
    assert all(d.site_code in (None, "BJ") for d in bj.discrepancies)
    assert "RECALLED_DOSE_ADMINISTERED" not in {code for code, _, _ in bj.discrepancy_counts}


# ---- the page ---------------------------------------------------------------------------------

def test_monitor_page_shows_the_chart_the_numbers_and_the_lists(client, trial):
    login(client, "monitor")
    home = client.get("/").get_data(as_text=True)
    assert 'href="/monitor"' in home and 'href="/trace"' in home
    response = client.get("/monitor")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<h1>Trial progress</h1>" in html
    chart = re.search(r'<svg[^>]*class="progress-chart"[^>]*aria-label="([^"]+)"', html)
    assert chart and "LZ: visit 1 1, visit 2 0, visit 3 0, visit 4 0" in chart.group(1)
    assert re.search(r"<th scope=\"row\">LZ <span class=\"caption\">LZ Hospital</span></th><td class=\"num\">1</td>", html)
    assert 'id="overdue-visits"' in html and 'id="due-visits"' in html
    assert "Dose given from a lot recalled later (lookback)" in html and "RECALLED_DOSE_ADMINISTERED" in html
    given = trial.given.code
    assert f'href="/trace/donors/{given.partition("-")[0]}#dose-{given}"' in html
    assert f'href="/patients/{trial.lz_given.subject_id}"' in html
    assert "/reports/reconciliation/discrepancies.pdf" in html and "/reports/reconciliation/lots.csv" in html
    # The chart is drawn on the server: no inline style or script; the only scripts are the
    # app's own files every page loads (the CSP allows no other).
    assert "style=" not in html
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all(re.search(r'src="/static/js/[a-z-]+\.js"', attrs) and not body.strip()
                           for attrs, body in scripts), scripts


def test_coordinator_page_is_their_site_only(client, trial):
    login(client, "lz-coordinator")
    assert 'href="/monitor"' in client.get("/").get_data(as_text=True)
    html = client.get("/monitor").get_data(as_text=True)
    assert "<h1>Progress at LZ</h1>" in html
    assert "BJ-0" not in html and "LZ-0" in html
    assert "/reports/reconciliation/lots.csv" not in html  # lots are the manufacturer's


def test_other_roles_are_refused_the_page(client, trial):
    assert client.get("/monitor").status_code == 302
    login(client, "lz-pharmacist")
    assert client.get("/monitor").status_code == 403


def test_chart_is_labelled_with_every_number():
    svg = progress_svg([Group("LZ", [12, 9, 4, 0], 14), Group("BJ", [3, 0, 0, 0], 20)])
    assert 'role="img"' in svg and "<title>" in svg
    assert "LZ: visit 1 12, visit 2 9, visit 3 4, visit 4 0 of 14 MSC-arm patients" in svg
    assert svg.count("<rect") == 4 + 4  # legend swatches and the non-zero bars
    assert ">20<" in svg  # the axis reaches the largest number shown (20 patients)
