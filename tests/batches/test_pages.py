"""The lab and QA pages through the test client: board, lot and donor pages, and their forms."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from cell_chain.accounts.models import User
from cell_chain.batches import services
from cell_chain.batches.models import MARKERS, Donor, Lot
from cell_chain.batches.models import TestResult as LotResult
from cell_chain.core.audit import AuditEvent
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.accounts.signatures import signatures_for
from cell_chain.labels import services as labels
from cell_chain.labels.models import LabelVerification
from cell_chain.labels.payloads import bag_payloads, printed_bag_compound
from tests.factories import PASSING_VALUES, make_donor, make_lot, released_lot, signed
from tests.conftest import PASSWORD, login, make_site, make_user
from tests.pages import html, post, row_of, section, statements_of, text


def lot_with(staff, number, *, results=PASSING_VALUES, **kwargs):
    return make_lot(staff, make_donor(staff, f"D-{number}"), number, results=results, **kwargs)


def today():
    return utcnow().date().isoformat()


# ---- the lot board -----------------------------------------------------------------------------

def test_board_groups_lots_by_state_and_says_what_blocks_release(staff, as_user):
    failing = PASSING_VALUES | {"cd73_pct": 90}
    del failing["karyotype"]
    lot_with(staff, "L-PROC", results=None, complete=False)
    blocked = lot_with(staff, "L-BLOCKED", results=failing)
    lot_with(staff, "L-READY")
    released_lot(staff, "L-REL")

    page = html(as_user("lab").get("/lots"))

    assert "L-PROC" in section(page, "in_process")
    quarantine = section(page, "quarantine")
    assert "L-BLOCKED" in quarantine and "L-READY" in quarantine
    blocked_row = row_of(quarantine, "L-BLOCKED")
    assert "Fail CD73 (%)" in blocked_row
    assert "Not entered Karyotype" in blocked_row
    assert "Ready for QA release" in row_of(quarantine, "L-READY")
    assert "L-REL" in section(page, "released")
    assert "No lots are rejected" in text(section(page, "rejected"))
    din = blocked.din_structure
    assert f'<span class="din-code">{din.eye_readable}</span>' in page
    assert f'<span class="din-check">{din.check}</span>' in page
    assert "Start a lot" in page and "Register a donor" in page


def test_board_adds_no_per_lot_queries_of_its_own(staff, as_user):
    client = as_user("monitor")
    lot_with(staff, "L-1", results=None, complete=False)
    released_lot(staff, "L-2")
    lot_with(staff, "L-Q2")
    few = len(statements_of(lambda: client.get("/lots")))
    for n in range(3, 7):
        lot_with(staff, f"L-{n}", results=None, complete=False)
        released_lot(staff, f"L-R{n}")
        lot_with(staff, f"L-Q{n}")
    assert len(statements_of(lambda: client.get("/lots"))) == few


# ---- the lot page ------------------------------------------------------------------------------

def test_lot_page_shows_pass_fail_and_missing_against_the_current_spec(staff, as_user):
    results = PASSING_VALUES | {"cd73_pct": 90}
    del results["karyotype"]
    lot = lot_with(staff, "L-1", results=results)

    page = html(as_user("qa").get(f"/lots/{lot.id}"))

    assert "Fail" in text(section(page, "result-cd73_pct"))
    assert "≥ 95" in text(section(page, "result-cd73_pct"))
    assert "Pass" in text(section(page, "result-sterility"))
    assert "No growth" in text(section(page, "result-sterility"))
    assert "not entered" in text(section(page, "result-karyotype"))
    assert "Not ready for release: 2 problems" in text(section(page, "readiness"))
    doses = text(section(page, "doses"))
    assert lot.doses[0].code in doses and "4.00 × 10⁷" in doses and "40 ml" in doses


def test_lot_page_offers_only_what_role_and_state_allow(staff, as_user):
    lot = lot_with(staff, "L-1")
    lab_page = html(as_user("lab").get(f"/lots/{lot.id}"))
    qa_page = html(as_user("qa").get(f"/lots/{lot.id}"))
    monitor_page = html(as_user("monitor").get(f"/lots/{lot.id}"))

    assert "Enter or correct a result" in lab_page and "Prepare a dose" in lab_page
    assert "Release lot" not in lab_page and "Mark manufacturing complete" not in lab_page
    assert "Release lot" in qa_page and "Reject lot" in qa_page and "Recall lot" not in qa_page
    assert "Enter or correct a result" not in qa_page
    assert 'id="actions"' not in monitor_page


def test_signatures_show_printed_name_meaning_and_utc_time(staff, as_user):
    lot = released_lot(staff, "L-1")
    signature = signatures_for(lot)[0]
    block = text(section(html(as_user("monitor").get(f"/lots/{lot.id}")), "signatures"))
    assert f"Released Qian QA {signature.signed_at:%Y-%m-%d %H:%M} UTC" in block


@pytest.mark.parametrize("path", ["/lots/999", "/donors/999", "/lots/99999999999999999999",
                                  "/lots/2147483648/results", "/donors/99999999999999999999"])
def test_unknown_or_oversized_ids_answer_404(staff, as_user, path):
    assert as_user("lab").get(path).status_code == 404


# ---- lab forms ---------------------------------------------------------------------------------

def test_lab_enters_a_result_through_the_form_and_it_appears(staff, as_user):
    results = dict(PASSING_VALUES)
    del results["karyotype"]
    lot = lot_with(staff, "L-1", results=results)
    client = as_user("lab")
    chooser = html(client.get(f"/lots/{lot.id}/results"))
    assert "Which test result are you entering?" in chooser

    response = post(client, f"/lots/{lot.id}/results",
                    {"test": "karyotype", "value": "normal", "performed_on": today(),
                     "method": "SOP-QC-7", "analyst": "Zhao"},
                    token_from=f"/lots/{lot.id}/results?test=karyotype")

    assert response.status_code == 302 and response.location.endswith(f"/lots/{lot.id}#results")
    page = html(client.get(f"/lots/{lot.id}"))
    assert "Karyotype result Normal saved" in page
    row = text(section(page, "result-karyotype"))
    assert "Normal" in row and "Pass" in row and "SOP-QC-7 · Zhao" in row and "Li Lab" in row
    assert "Ready for release" in text(section(page, "readiness"))


def test_result_form_lists_every_problem_and_saves_nothing(staff, as_user):
    lot = lot_with(staff, "L-1", results=None)
    client = as_user("lab")
    response = post(client, f"/lots/{lot.id}/results",
                    {"test": "cd90_pct", "value": "ninety", "performed_on": "2026-02-31"},
                    token_from=f"/lots/{lot.id}/results?test=cd90_pct")
    assert response.status_code == 422
    page = html(response)
    assert "There is a problem" in page
    assert 'href="#value"' in page and 'href="#performed_on"' in page
    assert "Enter the CD90 (%) result as a number" in page
    assert "Enter the date the test was performed as a real date" in page
    assert db.session.scalar(select(LotResult.id).where(LotResult.lot_id == lot.id)) is None


def test_a_future_test_date_is_refused_by_the_service_and_shown(staff, as_user):
    lot = lot_with(staff, "L-1", results=None)
    tomorrow = (utcnow().date() + timedelta(days=1)).isoformat()
    response = post(as_user("lab"), f"/lots/{lot.id}/results",
                    {"test": "endotoxin_eu_ml", "value": "0.2", "performed_on": tomorrow},
                    token_from=f"/lots/{lot.id}/results?test=endotoxin_eu_ml")
    assert response.status_code == 422
    assert 'href="#performed_on"' in html(response)
    assert "cannot be in the future" in html(response)


def test_correcting_a_result_needs_a_reason(staff, as_user):
    lot = lot_with(staff, "L-1")
    client = as_user("lab")
    path = f"/lots/{lot.id}/results"
    form = html(client.get(f"{path}?test=cd73_pct"))
    assert "Correct the CD73 (%) result" in form and 'name="reason"' in form

    refused = post(client, path, {"test": "cd73_pct", "value": "97.1", "performed_on": today()},
                   token_from=f"{path}?test=cd73_pct")
    assert refused.status_code == 422 and 'href="#reason"' in html(refused)
    db.session.expire_all()
    assert next(r for r in lot.results if r.test == "cd73_pct").value == "98.5"

    done = post(client, path, {"test": "cd73_pct", "value": "97.1", "performed_on": today(),
                               "reason": "Transcription error"}, token_from=f"{path}?test=cd73_pct")
    assert done.status_code == 302
    db.session.expire_all()
    assert next(r for r in lot.results if r.test == "cd73_pct").value == "97.1"


def test_lab_prepares_doses_and_an_out_of_tolerance_one_is_kept_as_rejected(staff, as_user):
    lot = lot_with(staff, "L-1", results=None, doses=0, complete=False)
    client = as_user("lab")
    ok = post(client, f"/lots/{lot.id}/doses", {"cells": "4.02", "volume_ml": "40", "viability_pct": "93"})
    assert ok.status_code == 302
    assert "prepared" in html(client.get(f"/lots/{lot.id}"))
    low = post(client, f"/lots/{lot.id}/doses", {"cells": "3.1", "volume_ml": "40", "viability_pct": "93"})
    assert low.status_code == 302
    page = html(client.get(f"/lots/{lot.id}"))
    assert "rejected at fill" in page
    db.session.expire_all()
    assert [(d.cells, d.status) for d in lot.doses] == [(4.02e7, "prepared"), (3.1e7, "rejected")]
    bad = post(client, f"/lots/{lot.id}/doses", {"cells": "", "volume_ml": "x", "viability_pct": "120"})
    assert bad.status_code == 422
    assert all(f'href="#{f}"' in html(bad) for f in ("cells", "volume_ml", "viability_pct"))


def test_lab_marks_manufacturing_complete(staff, as_user):
    lot = lot_with(staff, "L-1", results=None, complete=False)
    client = as_user("lab")
    response = post(client, f"/lots/{lot.id}/complete", {}, token_from=f"/lots/{lot.id}")
    assert response.status_code == 302
    assert "in quarantine until QA releases it" in html(client.get(f"/lots/{lot.id}"))
    db.session.expire_all()
    assert db.session.get(Lot, lot.id).status == "quarantine"


def test_lab_starts_a_lot_from_a_donor(staff, as_user):
    donor = make_donor(staff, "D-9")
    client = as_user("lab")
    form = html(client.get(f"/lots/new?donor_id={donor.id}"))
    assert f'<option value="{donor.id}" selected>' in form
    response = post(client, "/lots/new", {"donor_id": str(donor.id), "lot_number": "UC-9",
                                          "manufactured_on": today(), "passage": "3",
                                          "presentation": "fresh"})
    assert response.status_code == 302
    lot = db.session.scalar(select(Lot).where(Lot.lot_number == "UC-9"))
    assert lot.presentation == "fresh" and lot.shelf_life_hours == 72 and lot.donor_id == donor.id
    assert "Lot UC-9 started with DIN" in html(client.get(response.location))

    again = post(client, "/lots/new", {"donor_id": str(donor.id), "lot_number": "UC-9",
                                       "manufactured_on": today(), "passage": "-1"})
    assert again.status_code == 422
    page = html(again)
    assert 'href="#passage"' in page and 'href="#presentation"' in page


# ---- QA decisions ------------------------------------------------------------------------------

def test_release_with_a_wrong_password_shows_an_error_changes_nothing_and_counts(staff, as_user):
    lot = lot_with(staff, "L-1")
    client = as_user("qa")
    response = post(client, f"/lots/{lot.id}/release", {"password": "not-my-password"})

    assert response.status_code == 401
    page = html(response)
    assert "There is a problem" in page and 'href="#password"' in page
    assert "The password is wrong" in page
    db.session.expire_all()
    assert db.session.get(Lot, lot.id).status == "quarantine"
    assert signatures_for(lot) == []
    assert all(d.status == "prepared" for d in lot.doses)
    assert db.session.get(User, staff.qa.id).failed_signatures == 1


def test_qa_releases_a_ready_lot_with_the_password(staff, as_user):
    lot = lot_with(staff, "L-1")
    client = as_user("qa")
    form = html(client.get(f"/lots/{lot.id}/release"))
    assert "Ready for release" in form and ">Released</strong>" in form

    response = post(client, f"/lots/{lot.id}/release", {"password": PASSWORD})

    assert response.status_code == 302
    page = html(client.get(response.location))
    assert "Lot L-1 released. 2 doses available for allocation." in page
    db.session.expire_all()
    assert db.session.get(Lot, lot.id).status == "released"
    assert [s.meaning for s in signatures_for(lot)] == ["Released"]


def test_release_page_of_a_blocked_lot_lists_blockers_and_offers_no_signing(staff, as_user):
    lot = lot_with(staff, "L-1", results={"sterility": "growth"})
    page = html(as_user("qa").get(f"/lots/{lot.id}/release"))
    assert "Not ready for release" in page and 'name="password"' not in page


def test_release_page_of_an_unreleasable_state_goes_back_to_the_lot(staff, as_user):
    lot = lot_with(staff, "L-1", results=None, complete=False)
    client = as_user("qa")
    response = client.get(f"/lots/{lot.id}/release")
    assert response.status_code == 302 and response.location.endswith(f"/lots/{lot.id}")
    assert "you cannot release it now" in html(client.get(response.location))


def test_reject_needs_a_reason_and_the_password(staff, as_user):
    lot = lot_with(staff, "L-1", results=None)
    client = as_user("qa")
    refused = post(client, f"/lots/{lot.id}/reject", {"reason": "", "password": ""})
    assert refused.status_code == 422
    assert 'href="#reason"' in html(refused) and 'href="#password"' in html(refused)
    done = post(client, f"/lots/{lot.id}/reject", {"reason": "Growth in sterility", "password": PASSWORD})
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(Lot, lot.id).status == "rejected"
    assert "Growth in sterility" in html(client.get(f"/lots/{lot.id}"))


def test_recall_shows_quarantined_and_administered_doses(staff, as_user):
    lot = released_lot(staff, "L-1")
    codes = [d.code for d in lot.doses]
    client = as_user("qa")
    response = post(client, f"/lots/{lot.id}/recall", {"reason": "Mycoplasma on re-test",
                                                        "password": PASSWORD})
    assert response.status_code == 302
    page = html(client.get(response.location))
    assert f"2 dose(s) quarantined: {', '.join(codes)}" in page
    recall = text(section(page, "recall"))
    assert "Mycoplasma on re-test" in recall
    assert all(code in recall for code in codes)
    assert "No dose of this lot was administered" in recall


# ---- donors ------------------------------------------------------------------------------------

def test_lab_registers_a_donor_and_enters_screening(staff, as_user):
    client = as_user("lab")
    collected = (utcnow().date() - timedelta(days=3)).isoformat()
    response = post(client, "/donors/new", {"donor_code": "CD-77", "collected_on": collected})
    assert response.status_code == 302
    donor = db.session.scalar(select(Donor).where(Donor.donor_code == "CD-77"))
    page = html(client.get(response.location))
    assert "Donor CD-77 registered with DIN" in page
    assert f'<span class="din-check">{donor.din_structure.check}</span>' in page
    assert all(f'id="marker-{m}"' in page for m in MARKERS)

    entered = post(client, f"/donors/{donor.id}/screening",
                   {"marker": "hbsag", "result": "non_reactive", "tested_on": collected},
                   token_from=f"/donors/{donor.id}/screening?marker=hbsag")
    assert entered.status_code == 302
    row = text(section(html(client.get(f"/donors/{donor.id}")), "marker-hbsag"))
    assert "Non-reactive" in row and "Yes" in row

    duplicate = post(client, "/donors/new", {"donor_code": "CD-77", "collected_on": collected})
    assert duplicate.status_code == 422 and "already registered" in html(duplicate)


def test_a_screening_result_outside_the_window_is_shown_as_not_counting(staff, as_user):
    donor = make_donor(staff, "D-1", screening=None)
    services.record_screening(donor, marker="syphilis", result="non_reactive",
                              tested_on=donor.collected_on + timedelta(days=9), reason=None,
                              actor=staff.lab, now=utcnow())
    db.session.commit()
    row = text(section(html(as_user("qa").get(f"/donors/{donor.id}")), "marker-syphilis"))
    assert "No tested 9 days after collection" in row


def test_determining_eligibility_with_missing_markers_lists_them(staff, as_user):
    donor = make_donor(staff, "D-1", screening=None)
    for marker in MARKERS[:7]:
        services.record_screening(donor, marker=marker, result="non_reactive",
                                  tested_on=donor.collected_on, reason=None, actor=staff.lab,
                                  now=utcnow())
    db.session.commit()
    client = as_user("qa")
    response = post(client, f"/donors/{donor.id}/eligibility", {"password": PASSWORD})
    assert response.status_code == 409
    page = html(response)
    summary = text(page[page.index("error-summary"):page.index("</ul>")])
    assert "HTLV-I/II antibody: no result entered" in summary
    assert "Syphilis: no result entered" in summary
    assert 'href="#marker-htlv_1_2"' in page and 'href="#marker-syphilis"' in page
    db.session.expire_all()
    assert db.session.get(Donor, donor.id).status == "registered"


def test_qa_determines_a_donor_eligible_with_a_signature(staff, as_user):
    donor = make_donor(staff, "D-1", determine=False)
    client = as_user("qa")
    assert "Signing records the donor as" in html(client.get(f"/donors/{donor.id}/eligibility"))
    response = post(client, f"/donors/{donor.id}/eligibility", {"password": PASSWORD})
    assert response.status_code == 302
    page = html(client.get(response.location))
    assert "determined ELIGIBLE" in page
    assert "Eligibility determined" in text(section(page, "signatures"))


def test_donor_list_shows_counting_markers(staff, as_user):
    make_donor(staff, "D-1")
    make_donor(staff, "D-2", screening=None)
    page = text(html(as_user("monitor").get("/donors")))
    assert "D-1" in page and "9 of 9" in page and "0 of 9" in page


# ---- access ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/lots", "/donors", "/lots/new", "/donors/new"])
def test_site_staff_get_403(app, staff, path):
    make_site("LZ")
    make_user("lz-nurse", "nurse", "LZ")
    client = app.test_client()
    login(client, "lz-nurse")
    response = client.get(path)
    assert response.status_code == 403
    assert "You cannot do this" in html(response)


def test_monitor_cannot_use_lab_forms(staff, as_user):
    lot = lot_with(staff, "L-1", results=None)
    client = as_user("monitor")
    assert client.get(f"/lots/{lot.id}/results").status_code == 403
    assert post(client, f"/lots/{lot.id}/complete", {}, token_from="/lots").status_code == 403


def test_coordinator_reads_lots_but_not_donors(app, staff):
    make_site("LZ")
    make_user("lz-coordinator", "coordinator", "LZ")
    client = app.test_client()
    login(client, "lz-coordinator")
    assert client.get("/lots").status_code == 200
    assert client.get("/donors").status_code == 403


def test_a_form_without_csrf_token_is_refused_with_400(staff, as_user):
    lot = lot_with(staff, "L-1")
    response = as_user("qa").post(f"/lots/{lot.id}/release", data={"password": PASSWORD})
    assert response.status_code == 400
    assert "The form expired" in html(response)
    db.session.expire_all()
    assert db.session.get(Lot, lot.id).status == "quarantine"


def test_anonymous_visitor_is_sent_to_login(client):
    response = client.get("/lots")
    assert response.status_code == 302 and "/login" in response.location


def test_home_page_links_lab_jobs_to_the_board(staff, as_user):
    page = html(as_user("lab").get("/"))
    # Two jobs, two places: the donor register and the lot board.
    assert 'href="/donors">Donors</a>' in page
    assert 'href="/lots">Lots, doses and labels</a>' in page


# ---- bag labels: printing and scanning them back on the lot page ---------------------------------

def bag_scan(dose):
    """The bag label's Data Matrix as a wedge scanner sends it (with its Enter)."""
    return bag_payloads(dose).compound + "\r\n"


def print_bag_labels(staff, lot):
    labels.print_labels(kind="lot", target=str(lot.id), fmt="zpl", reason=None, override=None,
                        actor=staff.lab, now=utcnow())
    db.session.commit()


def verifications():
    return db.session.scalars(select(LabelVerification).order_by(LabelVerification.id)).all()


def audit_events():
    return db.session.scalar(select(func.count(AuditEvent.id)))


def test_the_first_bag_label_print_asks_no_reason_and_a_reprint_does(staff, as_user):
    lot = lot_with(staff, "L-1", verify_labels=False)
    client = as_user("lab")
    first = section(html(client.get(f"/lots/{lot.id}")), "labels")
    assert "Print 2 bag labels (PDF)" in first and "Reason for reprinting" not in first
    assert 'target="_blank"' in first  # the PDF opens in a new tab; the lot page stays
    form = html(client.get(f"/lots/{lot.id}/labels"))
    assert "Print 2 bag labels (PDF)" in form and "Reason for reprinting" not in form and 'target="_blank"' in form

    print_bag_labels(staff, lot)
    again = section(html(client.get(f"/lots/{lot.id}")), "labels")
    assert "Reprint 2 bag labels (PDF)" in again and "Reason for reprinting" in again
    assert "Reason for reprinting" in html(client.get(f"/lots/{lot.id}/labels"))


def test_lab_scans_printed_bag_labels_back_and_the_doses_become_available(staff, as_user):
    lot = released_lot(staff, "L-1", verify_labels=False)
    first, second = lot.doses
    client = as_user("lab")
    station = text(section(html(client.get(f"/lots/{lot.id}")), "label-scan"))
    assert "Scan printed labels back" in station
    assert f"0 of 2 bag labels verified; still to verify: {first.code} , {second.code} ." in station
    assert "Nothing is printed yet" in station
    print_bag_labels(staff, lot)

    response = post(client, f"/lots/{lot.id}/label-scans", {"scan": bag_scan(first)}, token_from=f"/lots/{lot.id}")
    assert response.status_code == 302
    assert response.location == f"/lots/{lot.id}?label_verified={first.code}"
    page = html(client.get(response.location))
    station = section(page, "label-scan")
    assert 'class="scan-result ok"' in station and 'data-sound-src="/static/sounds/ok.wav"' in station
    assert f"✓ VERIFIED: bag label of dose {first.code}" in text(station)
    assert re.search(r'id="count-verified">1<.*id="count-to-verify">1<', station, re.S)
    assert f"1 of 2 bag labels verified; still to verify: {second.code} ." in text(station)
    assert 'data-scan-field' in station and "autofocus" in station and "/static/js/scan-station.js" in page
    row = row_of(page, f'href="/doses/{first.code}"')
    assert "available" in row and "Verified" in row
    assert "Verified" not in row_of(page, f'href="/doses/{second.code}"')
    [record] = verifications()
    assert (record.dose_id, record.label_kind, record.matched, record.code) == (first.id, "bag", True, None)
    db.session.expire_all()
    assert first.status == "available" and first.bag_label_verified_at is not None
    assert second.status == "prepared" and second.bag_label_verified_at is None

    post(client, f"/lots/{lot.id}/label-scans", {"scan": bag_scan(second)}, token_from=f"/lots/{lot.id}")
    assert "2 of 2 bag labels verified." in text(section(html(client.get(f"/lots/{lot.id}")), "label-scan"))
    # Only a page it asked for shows a verification: a made-up link shows none.
    assert "scan-result" not in html(client.get(f"/lots/{lot.id}?label_verified=NOPE"))


def test_a_label_that_is_not_its_doses_current_label_is_a_recorded_mismatch(staff, as_user):
    lot = released_lot(staff, "L-1", verify_labels=False)
    dose = lot.doses[0]
    print_bag_labels(staff, lot)
    # It names the dose (DIN and dose number) but carries another expiry: not this dose's label.
    stale = printed_bag_compound(dose, dose.expires_at - timedelta(days=30))
    response = post(as_user("lab"), f"/lots/{lot.id}/label-scans", {"scan": stale}, token_from=f"/lots/{lot.id}")

    assert response.status_code == 409
    station = section(html(response), "label-scan")
    assert 'class="scan-result stop"' in station and 'role="alert"' in station
    assert 'data-sound-src="/static/sounds/stop.wav"' in station
    assert f"✗ NOT VERIFIED: wrong bag label for dose {dose.code}" in text(station)
    assert "The mismatch is recorded." in text(station) and "Code LABEL_MISMATCH" in text(station)
    assert "0 of 2 bag labels verified" in text(station)
    [record] = verifications()
    assert (record.dose_id, record.matched, record.code, record.scanned) == (dose.id, False, "LABEL_MISMATCH", stale)
    db.session.expire_all()
    assert dose.bag_label_verified_at is None and dose.status == "prepared"


def test_another_lots_label_is_a_mismatch_and_verifies_nothing(staff, as_user):
    lot = released_lot(staff, "L-1", verify_labels=False)
    other = released_lot(staff, "L-2", verify_labels=False)
    print_bag_labels(staff, lot)
    print_bag_labels(staff, other)
    stray = other.doses[1]
    before = audit_events()
    response = post(as_user("lab"), f"/lots/{lot.id}/label-scans", {"scan": bag_scan(stray)},
                    token_from=f"/lots/{lot.id}")

    assert response.status_code == 409
    station = text(section(html(response), "label-scan"))
    assert "✗ NOT A LABEL OF LOT L-1" in station and "Code LABEL_MISMATCH" in station
    assert f"names dose {stray.code} of lot L-2, not a dose of lot L-1" in station
    assert "Nothing was recorded." in station
    assert verifications() == [] and audit_events() == before
    db.session.expire_all()
    assert stray.bag_label_verified_at is None


def test_a_label_scanned_before_it_was_printed_is_refused_and_recorded(staff, as_user):
    lot = released_lot(staff, "L-1", verify_labels=False)
    dose = lot.doses[0]
    # The right content, read off the screen's preview: no printed label carries it yet.
    response = post(as_user("lab"), f"/lots/{lot.id}/label-scans", {"scan": bag_scan(dose)},
                    token_from=f"/lots/{lot.id}")
    assert response.status_code == 409
    station = text(section(html(response), "label-scan"))
    assert "✗ NOT VERIFIED: this bag label was not printed" in station and "Code LABEL_NOT_PRINTED" in station
    [record] = verifications()
    assert (record.dose_id, record.matched, record.code) == (dose.id, False, "LABEL_NOT_PRINTED")
    db.session.expire_all()
    assert dose.bag_label_verified_at is None


@pytest.mark.parametrize("scan, words", [
    ("garbage", "This is not one of our dose labels"),
    ("LZ-0001", "This is not one of our dose labels"),          # a wristband
    ("=+06000=A99992600000100", "This is not one of our dose labels"),  # a truncated compound
    ("x" * 5000, "too long"),
    ("DIN", "This barcode alone does not name a dose"),          # the label's Code 128 DIN
])
def test_a_scan_that_is_no_dose_label_is_a_clear_422_and_changes_nothing(staff, as_user, scan, words):
    lot = released_lot(staff, "L-1", verify_labels=False)
    print_bag_labels(staff, lot)
    if scan == "DIN":
        scan = bag_payloads(lot.doses[0]).din.payload
    before = audit_events()
    response = post(as_user("lab"), f"/lots/{lot.id}/label-scans", {"scan": scan}, token_from=f"/lots/{lot.id}")

    assert response.status_code == 422
    station = text(section(html(response), "label-scan"))
    assert "✗ NOT A DOSE LABEL" in station and words in station and "Code UNRECOGNIZED_BARCODE" in station
    assert "Nothing was recorded." in station
    assert verifications() == [] and audit_events() == before
    db.session.expire_all()
    assert all(d.bag_label_verified_at is None and d.status == "prepared" for d in lot.doses)


def test_an_empty_scan_is_a_form_error(staff, as_user):
    lot = released_lot(staff, "L-1", verify_labels=False)
    response = post(as_user("lab"), f"/lots/{lot.id}/label-scans", {"scan": "  "}, token_from=f"/lots/{lot.id}")
    assert response.status_code == 422
    assert 'href="#scan-input"' in html(response) and "Scan the square Data Matrix on a printed bag label." in html(response)
    assert verifications() == []


def test_only_the_lab_scans_bag_labels_back(app, staff, as_user):
    lot = released_lot(staff, "L-1", verify_labels=False)
    print_bag_labels(staff, lot)
    make_site("LZ")
    make_user("lz-coordinator", "coordinator", "LZ")
    make_user("lz-pharmacist", "pharmacist", "LZ")
    for username in ("qa", "monitor", "lz-coordinator"):
        client = as_user(username)
        assert 'id="label-scan"' not in html(client.get(f"/lots/{lot.id}"))
        refused = post(client, f"/lots/{lot.id}/label-scans", {"scan": bag_scan(lot.doses[0])},
                       token_from=f"/lots/{lot.id}")
        assert refused.status_code == 403, username
    pharmacist = as_user("lz-pharmacist")
    assert post(pharmacist, f"/lots/{lot.id}/label-scans", {"scan": bag_scan(lot.doses[0])},
                token_from="/").status_code == 403
    lab = as_user("lab")
    assert post(lab, "/lots/999/label-scans", {"scan": bag_scan(lot.doses[0])}, token_from="/lots").status_code == 404
    assert lab.post(f"/lots/{lot.id}/label-scans", data={"scan": bag_scan(lot.doses[0])}).status_code == 400  # no CSRF token
    assert verifications() == []


def test_a_long_quarantine_reason_wraps_in_its_own_column(staff, as_user):
    lot = released_lot(staff, "L-1")
    services.recall_lot(lot, reason="Retained sample: sterility retest shows growth " * 3,
                        signature=signed(), actor=staff.qa, now=utcnow())
    db.session.commit()
    page = html(as_user("lab").get(f"/lots/{lot.id}"))
    assert '<td class="reasons">quarantined: lot recalled' in page


def test_a_donor_not_yet_determined_shows_not_determined(staff, as_user):
    donor = make_donor(staff, "D-ND", determine=False)
    client = as_user("lab")
    eligibility = text(section(html(client.get(f"/donors/{donor.id}")), "eligibility"))
    assert eligibility.startswith("Not determined") and "registered" not in eligibility.lower()
    lot = make_lot(staff, donor, "L-ND", verify_labels=False)
    donor_row = re.search(r"<dt>Donor</dt><dd>(.*?)</dd>", html(client.get(f"/lots/{lot.id}")), re.S).group(1)
    assert "Eligibility not determined" in text(donor_row) and "registered" not in text(donor_row).lower()
    assert "Not determined" in row_of(html(client.get("/donors")), "D-ND")
    services.determine_eligibility(donor, signature=signed(), actor=staff.qa, now=utcnow())
    db.session.commit()
    eligibility = text(section(html(client.get(f"/donors/{donor.id}")), "eligibility"))
    assert eligibility.lower().startswith("eligible determined")
