"""The nurse's bedside pages through the client: nurses only, the no-JavaScript double scan and
its STOP words, recording with signatures (and what a wrong password does), the confirmation
with the four-dose timeline, and a page that the CSP can run (no inline script or style)."""
import re
import wave
from datetime import timedelta
from pathlib import Path

import pytest
from markupsafe import escape
from sqlalchemy import select

from cell_chain.accounts.services import user_by_username
from cell_chain.core import audit
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.infusions import bedside
from cell_chain.patients.allocation import active_allocation_of_dose
from cell_chain.infusions.models import BedsideCheck, Infusion
from cell_chain.labels.payloads import bag_payloads
from tests.conftest import PASSWORD, csrf_token, login, make_site, make_user
from tests.factories import doses_at_site, doses_on_ward
from tests.pages import html

STATIC = Path(__file__).resolve().parents[2] / "cell_chain" / "static"


@pytest.fixture
def ward(app):
    for code in ("LZ", "BJ"):
        make_site(code)
        make_user(f"{code.lower()}-coordinator", "coordinator", code)
        make_user(f"{code.lower()}-pharmacist", "pharmacist", code)
        make_user(f"{code.lower()}-nurse", "nurse", code, name=f"{code} Nurse")
        make_user(f"{code.lower()}-nurse2", "nurse", code, name=f"{code} Second Nurse")


def subject_of(dose):
    return active_allocation_of_dose(dose).visit.patient.subject_id


def scans_of(dose, patient_dose=None):
    return {"patient_scan": subject_of(patient_dose or dose), "dose_scan": bag_payloads(dose).compound}


def as_nurse(client, username="lz-nurse"):
    assert login(client, username).status_code == 302
    return csrf_token(client, "/bedside")


def words(code):
    """A stop's plain words as the page escapes them."""
    return str(escape(bedside.MESSAGES[code]))


def infusion_runs(client, clock, minutes=40):
    """The infusion runs while the page keeps the session alive (a request every few minutes)."""
    for _ in range(0, minutes, 5):
        clock.travel(timedelta(minutes=5))
        assert client.get("/bedside").status_code == 200


def record_form(token, dose, checked=None, **overrides):
    """Checked at the bedside at `checked`, started two minutes later, ended 36 minutes after that."""
    checked = checked or utcnow()
    values = {"csrf_token": token, **scans_of(dose),
              "started_at": (checked + timedelta(minutes=2)).isoformat(),
              "ended_at": (checked + timedelta(minutes=38)).isoformat(),
              "volume_ml": "40", "tolerance_grade": "0", "adverse_events": "", "password": PASSWORD,
              "witness_username": "lz-nurse2", "witness_password": PASSWORD}
    return values | overrides


def failed_signatures(username):
    db.session.expire_all()
    return user_by_username(username).failed_signatures


@pytest.mark.parametrize("role", ["coordinator", "pharmacist", "lab", "qa", "monitor", "admin"])
def test_bedside_is_for_nurses_only(app, client, ward, role):
    make_user(f"someone-{role}", role, "LZ" if role in ("coordinator", "pharmacist") else None)
    login(client, f"someone-{role}")
    assert client.get("/bedside").status_code == 403
    assert client.post("/bedside/verify", data={"csrf_token": csrf_token(client, "/"), "patient_scan": "LZ-0001",
                                                "dose_scan": "x"}).status_code == 403
    assert client.get("/bedside/infusions/1").status_code == 403


def test_logged_out_goes_to_login_and_the_nurse_sees_the_job(client, ward):
    assert client.get("/bedside").status_code == 302
    as_nurse(client)
    home = html(client.get("/"))
    assert 'href="/bedside"' in home and "Verify and record an infusion" in home
    screen = html(client.get("/bedside"))
    assert "Scan the wristband and the dose bag" in screen
    assert 'name="patient_scan"' in screen and 'name="dose_scan"' in screen  # the no-JavaScript form


def test_the_page_has_no_inline_script_or_style(client, ward, staff):
    [dose] = doses_on_ward(staff)
    token = as_nurse(client)
    pages = [client.get("/bedside"), client.post("/bedside/verify", data={"csrf_token": token, **scans_of(dose)})]
    for response in pages:
        body = html(response)
        assert response.headers["Content-Security-Policy"].startswith("default-src 'self'; script-src 'self'")
        scripts = re.findall(r"<script\b[^>]*>", body)
        # every script is a file of the app's own (the bedside's, and the shared form and table helpers)
        assert scripts and all(re.search(r'\bsrc="/static/js/[-a-z]+\.js"', tag) for tag in scripts), scripts
        assert any("/static/js/bedside.js" in tag for tag in scripts), scripts
        assert all(not script.strip() for script in re.findall(r"<script\b[^>]*>(.*?)</script>", body, re.S)), "inline script"
        assert not re.search(r"\sstyle=", body) and "<style" not in body
        assert not re.search(r"\son[a-z]+=", body), "inline event handler"


def test_no_js_double_scan_matches_either_order(client, ward, staff):
    [dose] = doses_on_ward(staff)
    token = as_nurse(client)
    scans = scans_of(dose)
    for patient_scan, dose_scan in ((scans["patient_scan"], scans["dose_scan"]),
                                    (scans["dose_scan"], scans["patient_scan"])):
        response = client.post("/bedside/verify", data={"csrf_token": token, "patient_scan": patient_scan,
                                                        "dose_scan": dose_scan})
        body = html(response)
        assert response.status_code == 200
        assert "MATCHED" in body and re.search(r'<section id="stop"[^>]*\shidden>', body)
        assert not re.search(r'<section id="matched"[^>]*\shidden>', body)
        assert f"{subject_of(dose)} (A.B., 1975)" in body and dose.code in body and "Visit 1 of 4" in body
        assert 'id="infusion-form"' in body
    # each check is logged: the proof of a bedside scan for recording
    assert db.session.scalar(select(BedsideCheck.ok).order_by(BedsideCheck.id.desc()).limit(1)) is True


def test_no_js_stop_shows_every_stop_in_words(client, ward, staff):
    first, second = doses_on_ward(staff, count=2)
    token = as_nurse(client)
    response = client.post("/bedside/verify", data={"csrf_token": token, **scans_of(second, patient_dose=first)})
    body = html(response)
    assert response.status_code == 200
    assert "STOP" in body and words("WRONG_PATIENT") in body and "WRONG_PATIENT" in body
    assert re.search(r'<section id="matched"[^>]*\shidden>', body) and 'class="screen decision stop fullscreen"' in body
    garbage = html(client.post("/bedside/verify", data={"csrf_token": token, "patient_scan": "hello",
                                                        "dose_scan": "world"}))
    assert words("UNRECOGNIZED_BARCODE") in garbage
    other_site = html(client.post("/bedside/verify", data={"csrf_token": token, "patient_scan": "BJ-0001",
                                                           "dose_scan": scans_of(first)["dose_scan"]}))
    assert words("UNKNOWN_PATIENT") in other_site


def test_no_js_empty_scan_is_a_form_error_not_a_check(client, ward):
    token = as_nurse(client)
    response = client.post("/bedside/verify", data={"csrf_token": token, "patient_scan": "LZ-0001", "dose_scan": ""})
    assert response.status_code == 422 and "Scan the dose bag into the second box." in html(response)
    assert db.session.scalar(select(BedsideCheck.id)) is None


def test_record_then_the_confirmation_shows_the_timeline(client, ward, staff, clock):
    [dose] = doses_on_ward(staff)
    token = as_nurse(client)
    checked = utcnow()
    client.post("/bedside/verify", data={"csrf_token": token, **scans_of(dose)})
    infusion_runs(client, clock)
    response = client.post("/bedside/record", data=record_form(token, dose, checked, volume_ml="32.5",
                                                               tolerance_grade="1", adverse_events="Mild chills",
                                                               partial_reason="Line occluded"))
    assert response.status_code == 303, html(response)
    infusion = db.session.scalar(select(Infusion))
    assert response.headers["Location"].endswith(f"/bedside/infusions/{infusion.id}")
    assert infusion.partial is True and infusion.tolerance_grade == 1 and infusion.volume_ml == 32.5
    body = html(client.get(response.headers["Location"]))
    assert "Infusion recorded" in body and "Visit 1 of 4" in body and "Partial infusion" in body
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="timeline large"' in body
    assert "visit 1 done" in body and "Done ✓" in body
    assert "1 — Mild" in body and "Witnessed" in body and "LZ Second Nurse" in body
    # another site's nurse cannot read it
    client.post("/logout", data={"csrf_token": token})
    as_nurse(client, "bj-nurse")
    assert client.get(f"/bedside/infusions/{infusion.id}").status_code == 404


def test_times_typed_without_javascript(client, ward, staff, clock):
    [dose] = doses_on_ward(staff)
    token = as_nurse(client)
    checked = utcnow()
    client.post("/bedside/verify", data={"csrf_token": token, **scans_of(dose)})
    infusion_runs(client, clock)
    now = utcnow()
    # Just after midnight a clock time later than now is yesterday's: the record still lands.
    start, end = checked + timedelta(minutes=1), now - timedelta(minutes=2)
    response = client.post("/bedside/record", data=record_form(token, dose, started_at=f"{start:%H:%M}",
                                                               ended_at=f"{end:%H:%M}"))
    assert response.status_code == 303, html(response)
    infusion = db.session.scalar(select(Infusion))
    assert infusion.started_at == start.replace(second=0, microsecond=0)
    assert infusion.ended_at == end.replace(second=0, microsecond=0)


def test_missing_fields_are_listed_with_how_to_fix_them(client, ward, staff):
    [dose] = doses_on_ward(staff)
    token = as_nurse(client)
    client.post("/bedside/verify", data={"csrf_token": token, **scans_of(dose)})
    response = client.post("/bedside/record", data=record_form(token, dose, started_at="", tolerance_grade="",
                                                               serious="yes", witness_username="", password=""))
    body = html(response)
    assert response.status_code == 422 and "There is a problem" in body
    for words in ("Enter the time the infusion started", "Choose how the patient tolerated the infusion",
                  "Describe the serious adverse event.", "Enter the witness’s username.", "Enter your password to sign."):
        assert words.replace("’", "&#39;") in body or words in body, words
    assert db.session.scalar(select(Infusion.id)) is None


def test_wrong_passwords_are_refused_and_counted(client, ward, staff, clock):
    [dose] = doses_on_ward(staff)
    token = as_nurse(client)
    client.post("/bedside/verify", data={"csrf_token": token, **scans_of(dose)})
    infusion_runs(client, clock)
    checked = utcnow() - timedelta(minutes=40)
    mine = client.post("/bedside/record", data=record_form(token, dose, checked, password="wrong-password"))
    assert mine.status_code == 401 and "The password is wrong." in html(mine)
    assert failed_signatures("lz-nurse") == 1 and failed_signatures("lz-nurse2") == 0
    witness = client.post("/bedside/record", data=record_form(token, dose, checked, witness_password="wrong-password"))
    assert witness.status_code == 401 and "username or password is wrong" in html(witness)
    assert failed_signatures("lz-nurse2") == 1
    same = client.post("/bedside/record", data=record_form(token, dose, checked, witness_username="lz-nurse"))
    assert same.status_code == 422 and "different person" in html(same)
    assert db.session.scalar(select(Infusion.id)) is None
    # showing the form again did not count as a bedside scan
    assert db.session.scalar(select(BedsideCheck.id).order_by(BedsideCheck.id.desc()).limit(1)) == \
        db.session.scalar(select(BedsideCheck.id).order_by(BedsideCheck.id).limit(1))


def test_recording_without_a_bedside_check_is_refused(client, ward, staff):
    [dose] = doses_on_ward(staff)
    token = as_nurse(client)
    response = client.post("/bedside/record", data=record_form(token, dose, utcnow() - timedelta(minutes=40)))
    body = html(response)
    assert response.status_code == 409 and "Start again" in body and "at the bedside" in body
    assert db.session.scalar(select(Infusion.id)) is None
    unscanned = client.post("/bedside/record", data=record_form(token, dose, patient_scan="", dose_scan=""))
    assert unscanned.status_code == 409 and "Scan the wristband and the dose bag before recording." in html(unscanned)


def test_a_dose_given_meanwhile_is_a_stop_at_recording(client, ward, staff, clock):
    [dose] = doses_on_ward(staff)
    token = as_nurse(client)
    checked = utcnow()
    client.post("/bedside/verify", data={"csrf_token": token, **scans_of(dose)})
    infusion_runs(client, clock)
    assert client.post("/bedside/record", data=record_form(token, dose, checked)).status_code == 303
    again = client.post("/bedside/record", data=record_form(token, dose, checked))
    body = html(again)
    assert again.status_code == 409 and "STOP" in body and words("ALREADY_ADMINISTERED") in body


def test_out_of_window_needs_a_reason_and_becomes_a_deviation(client, ward, staff, clock):
    [dose] = doses_on_ward(staff)
    visit = active_allocation_of_dose(dose).visit
    today = utcnow().date()
    visit.window_start, visit.window_end = today - timedelta(days=40), today - timedelta(days=26)
    audit.record_change(visit, "visit.rescheduled", actor=None, at=utcnow(), reason="test: the window has passed")
    db.session.commit()
    token = as_nurse(client)
    checked = utcnow()
    body = html(client.post("/bedside/verify", data={"csrf_token": token, **scans_of(dose)}))
    assert "MATCHED" in body and words("OUT_OF_WINDOW") in body and 'name="reason_OUT_OF_WINDOW"' in body
    infusion_runs(client, clock)
    refused = client.post("/bedside/record", data=record_form(token, dose, checked))
    assert refused.status_code == 422 and "recorded as a protocol deviation" in html(refused)
    response = client.post("/bedside/record", data=record_form(token, dose, checked,
                                                               reason_OUT_OF_WINDOW="Patient was in ICU"))
    assert response.status_code == 303
    infusion = db.session.scalar(select(Infusion))
    assert infusion.out_of_window and infusion.deviation_reason == "Patient was in ICU"
    assert "Out of window" in html(client.get(response.headers["Location"]))


def test_scan_classifier_names_what_was_scanned(client, ward, staff):
    [dose] = doses_on_ward(staff)
    token = as_nurse(client)
    headers = {"X-CSRFToken": token}
    assert client.post("/bedside/scan", json={"scan": subject_of(dose)}, headers=headers).get_json() == \
        {"kind": "patient", "label": subject_of(dose)}
    assert client.post("/bedside/scan", json={"scan": bag_payloads(dose).compound}, headers=headers).get_json() == \
        {"kind": "dose", "label": dose.code}
    assert client.post("/bedside/scan", json={"scan": "hello"}, headers=headers).get_json()["kind"] == "other"
    assert client.post("/bedside/scan", json=["not", "an", "object"], headers=headers).get_json()["kind"] == "other"
    assert client.post("/bedside/scan", json={"scan": "hello"}).status_code == 400  # CSRF header required


def test_the_page_verifies_through_the_api_with_its_csrf_token(client, ward, staff):
    [dose] = doses_on_ward(staff)
    token = as_nurse(client)
    body = html(client.get("/bedside"))
    page_token = re.search(r'data-csrf="([^"]+)"', body).group(1)
    assert 'data-verify-url="/api/infusions/verify"' in body
    verdict = client.post("/api/infusions/verify", json=scans_of(dose), headers={"X-CSRFToken": page_token}).get_json()
    assert verdict["ok"] is True and verdict["dose"]["code"] == dose.code
    assert client.post("/api/infusions/verify", json=scans_of(dose)).status_code == 400
    assert token


def test_the_two_sounds_are_distinct_wav_files():
    lengths = {}
    for name in ("bedside-ok", "bedside-stop"):
        with wave.open(str(STATIC / "sounds" / f"{name}.wav")) as sound:
            assert sound.getnchannels() == 1 and sound.getframerate() >= 8000
            lengths[name] = sound.getnframes() / sound.getframerate()
    assert 0.3 < lengths["bedside-ok"] < 1.5 and 0.3 < lengths["bedside-stop"] < 1.5
    assert (STATIC / "sounds" / "bedside-ok.wav").read_bytes() != (STATIC / "sounds" / "bedside-stop.wav").read_bytes()


def test_the_vendored_decoder_is_one_version():
    vendor = STATIC / "vendor" / "zxing-wasm"
    script = (vendor / "index.js").read_text()
    version = re.search(r"zxing-wasm (\d+\.\d+\.\d+)", (vendor / "README.md").read_text()).group(1)
    assert f"`{version}`" in script  # the IIFE's ZXING_WASM_VERSION
    import hashlib

    digest = hashlib.sha256((vendor / "zxing_reader.wasm").read_bytes()).hexdigest()
    assert digest in script and digest in (vendor / "README.md").read_text()
    assert (vendor / "LICENSE").exists() and "Apache License" in (vendor / "LICENSE.zxing-cpp").read_text()


def test_a_thawed_dose_shows_its_post_thaw_time_left(client, ward, staff):
    from cell_chain.shipments import pharmacy

    [dose] = doses_at_site(staff)
    printed = bag_payloads(dose).compound  # the bag label keeps its pre-thaw expiry
    now = utcnow()
    pharmacy.thaw(dose, thawed_at=now - timedelta(minutes=30), actor=user_by_username("lz-pharmacist"), now=now)
    pharmacy.dispense(dose, to="lz-nurse", actor=user_by_username("lz-pharmacist"), now=now)
    db.session.commit()
    token = as_nurse(client)
    body = html(client.post("/bedside/verify", data={"csrf_token": token, "patient_scan": subject_of(dose),
                                                     "dose_scan": printed}))
    assert "MATCHED" in body and re.search(rf"Thawed at <[^>]+>{clock_or_date(dose.thawed_at, now)}<", body)
    assert re.search(rf"expires <[^>]+>{clock_or_date(dose.expires_at, now)}<", body)
    assert re.search(r'data-countdown="[^"]+">3 h (29|30) min</strong>', body), "time left, counted down by the script"


def clock_or_date(moment, now):
    """How the bedside screen shows a time: the clock alone today (UTC), else with its date."""
    return f"{moment:%H:%M} UTC" if moment.date() == now.date() else f"{moment:%Y-%m-%d %H:%M} UTC"


def test_a_post_thaw_expiry_on_another_day_shows_its_date(client, ward, staff):
    from cell_chain.batches.models import Dose
    from cell_chain.shipments import pharmacy

    [dose] = doses_at_site(staff)
    printed = bag_payloads(dose).compound
    now = utcnow()
    pharmacy.thaw(dose, thawed_at=now - timedelta(minutes=30), actor=user_by_username("lz-pharmacist"), now=now)
    pharmacy.dispense(dose, to="lz-nurse", actor=user_by_username("lz-pharmacist"), now=now)
    db.session.commit()
    # An expiry after midnight must not read as this morning's clock time.
    tomorrow = (now + timedelta(days=1)).replace(second=0, microsecond=0)
    db.session.execute(Dose.__table__.update().where(Dose.id == dose.id).values(expires_at=tomorrow))
    db.session.commit()
    token = as_nurse(client)
    body = html(client.post("/bedside/verify", data={"csrf_token": token, "patient_scan": subject_of(dose),
                                                     "dose_scan": printed}))
    assert "MATCHED" in body
    assert re.search(rf"expires <[^>]+>{tomorrow:%Y-%m-%d %H:%M} UTC<", body)


def test_the_form_is_kept_on_the_server_and_comes_back_after_the_session_ends(client, ward, staff, clock):
    from cell_chain.infusions.models import InfusionDraft

    [dose] = doses_on_ward(staff)
    token = as_nurse(client)
    checked = utcnow()
    client.post("/bedside/verify", data={"csrf_token": token, **scans_of(dose)})
    fields = {"started_at": (checked + timedelta(minutes=2)).isoformat(), "volume_ml": "38",
              "tolerance_grade": "2", "adverse_events": "Chills at 20 minutes, settled with a warm blanket",
              "partial_reason": "Bag leaked at the spike", "witness_username": "lz-nurse2", "password": PASSWORD}
    saved = client.post("/bedside/draft", json={**scans_of(dose), "fields": fields}, headers={"X-CSRFToken": token})
    assert saved.status_code == 200 and saved.get_json()["saved"] is True, saved.get_data(as_text=True)
    draft = db.session.scalar(select(InfusionDraft))
    assert PASSWORD not in draft.fields_json and "password" not in draft.fields_json
    assert db.session.scalar(select(Infusion.id)) is None  # a draft is never a record
    clock.travel(timedelta(minutes=20))  # nobody touched the tablet: the idle timeout ends the session
    lost = client.post("/bedside/draft", json={**scans_of(dose), "fields": fields}, headers={"X-CSRFToken": token})
    assert lost.status_code in (302, 400)
    assert client.get("/bedside").status_code == 302
    as_nurse(client)
    scan_page = html(client.get("/bedside"))
    assert "Unfinished infusion record" in scan_page and dose.code in scan_page
    resumed = html(client.get(saved.get_json()["resume"]))
    assert "Your entries are back" in resumed
    for entry in ("Chills at 20 minutes, settled with a warm blanket", "Bag leaked at the spike", 'value="38"',
                  'value="lz-nurse2"', fields["started_at"]):
        assert entry in resumed, entry
    assert re.search(r'value="2"[^>]*checked', resumed)
    assert PASSWORD not in resumed
    # recorded at the end: the draft goes, the record stays
    infusion_runs(client, clock, minutes=20)
    token = csrf_token(client, "/bedside")
    response = client.post("/bedside/record", data=record_form(token, dose, checked, volume_ml="38",
                                                               partial_reason="Bag leaked at the spike"))
    assert response.status_code == 303, html(response)
    assert db.session.scalar(select(InfusionDraft.id)) is None


def test_another_nurses_draft_is_not_mine_and_bad_drafts_are_refused(client, ward, staff):
    [dose] = doses_on_ward(staff)
    token = as_nurse(client, "bj-nurse")
    headers = {"X-CSRFToken": token}
    refused = client.post("/bedside/draft", json={**scans_of(dose), "fields": {"volume_ml": "40"}}, headers=headers)
    assert refused.status_code == 422 and refused.get_json()["saved"] is False
    assert client.post("/bedside/draft", data="nonsense", headers=headers).status_code == 400
    client.post("/logout", data={"csrf_token": token})
    token = as_nurse(client)
    too_long = client.post("/bedside/draft", json={**scans_of(dose), "fields": {"adverse_events": "x" * 5000}},
                           headers={"X-CSRFToken": token})
    assert too_long.status_code == 422
    nothing_left = client.get("/bedside/resume")  # no draft: the scan page, where she starts
    assert nothing_left.status_code == 200 and 'id="scan-prompt"' in html(nothing_left)


def test_a_partial_infusion_needs_its_reason_and_an_odd_duration_a_confirmation(client, ward, staff, clock):
    [dose] = doses_on_ward(staff)
    token = as_nurse(client)
    checked = utcnow()
    client.post("/bedside/verify", data={"csrf_token": token, **scans_of(dose)})
    infusion_runs(client, clock)
    body = record_form(token, dose, checked, volume_ml="30", ended_at=(checked + timedelta(minutes=3)).isoformat())
    first = client.post("/bedside/record", data=body)
    page = html(first)
    assert first.status_code == 422 and "say why (partial infusion)" in page
    body["partial_reason"] = "Patient asked to stop"
    second = client.post("/bedside/record", data=body)
    assert second.status_code == 422 and "confirm them if they are right" in html(second)
    assert 'id="duration-check"' in html(second) and 'id="duration-check" class="panel warn duration-check" hidden' not in html(second)
    body["confirm_duration"] = "yes"
    done = client.post("/bedside/record", data=body)
    assert done.status_code == 303, html(done)
    infusion = db.session.scalar(select(Infusion))
    assert infusion.partial and infusion.partial_reason == "Patient asked to stop" and infusion.duration_confirmed


def test_the_volume_is_typed_not_filled_in(client, ward, staff):
    [dose] = doses_on_ward(staff)
    token = as_nurse(client)
    page = html(client.post("/bedside/verify", data={"csrf_token": token, **scans_of(dose)}))
    assert re.search(r'<input type="number" id="volume_ml" name="volume_ml"[^>]*value=""', page)
