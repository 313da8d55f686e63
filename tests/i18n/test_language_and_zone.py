"""Sites and users carry a time zone and a language through the API; a user's language follows
their site unless they choose one, switchable on every page; the API stays in UTC and explains
its stable codes in the language of Accept-Language."""
from sqlalchemy import update

from cell_chain.accounts.models import User
from cell_chain.core.db import db
from cell_chain.labels.payloads import bag_payloads
from cell_chain.patients.allocation import active_allocation_of_dose
from tests.conftest import api_token, make_site, make_user
from tests.factories import doses_at_site
from tests.pages import logged_in, page_text, post


def admin_headers(client):  # noqa: ANN001, ANN201
    make_user("root", "admin")
    return api_token(client, "root")


def test_sites_carry_their_time_zone_and_language(client):
    headers = admin_headers(client)
    made = client.post("/api/sites", headers=headers, json={
        "code": "WH", "name": "Tongji Hospital", "city": "Wuhan", "time_zone": "Asia/Shanghai", "language": "zh_Hans"})
    assert made.status_code == 201, made.get_json()
    assert made.get_json() | {} == {"code": "WH", "name": "Tongji Hospital", "city": "Wuhan",
                                    "time_zone": "Asia/Shanghai", "language": "zh_Hans"}
    plain = client.post("/api/sites", headers=headers, json={"code": "XY", "name": "X", "city": "Y"}).get_json()
    assert (plain["time_zone"], plain["language"]) == ("UTC", "en")
    assert [s["time_zone"] for s in client.get("/api/sites", headers=headers).get_json()] == ["Asia/Shanghai", "UTC"]


def test_a_zone_or_language_that_does_not_exist_is_a_422_naming_the_field(client):
    headers = admin_headers(client)
    for field, value in (("time_zone", "Mars/Olympus"), ("time_zone", "../../etc/passwd"), ("language", "fr"),
                         ("time_zone", ""), ("language", None)):
        response = client.post("/api/sites", headers=headers,
                               json={"code": "ZZ", "name": "Z", "city": "Z", field: value})
        assert response.status_code == 422, (field, value)
        body = response.get_json()
        assert body["code"] == "VALIDATION_ERROR" and field in body["errors"], body


def test_users_may_choose_their_own_language_and_zone_or_follow_the_site(client):
    headers = admin_headers(client)
    client.post("/api/sites", headers=headers, json={"code": "LZ", "name": "Lanzhou", "city": "Lanzhou",
                                                     "time_zone": "Asia/Shanghai", "language": "zh_Hans"})
    own = client.post("/api/users", headers=headers, json={
        "username": "li-qa", "display_name": "Li QA", "role": "qa", "password": "a long enough phrase 42",
        "language": "zh_Hans", "time_zone": "Europe/Berlin"}).get_json()
    assert (own["language"], own["time_zone"]) == ("zh_Hans", "Europe/Berlin")
    follows = client.post("/api/users", headers=headers, json={
        "username": "lz-nurse", "display_name": "Lan Nurse", "role": "nurse", "site_code": "LZ",
        "password": "a long enough phrase 42"}).get_json()
    assert (follows["language"], follows["time_zone"]) == (None, None)
    bad = client.post("/api/users", headers=headers, json={
        "username": "x-qa", "display_name": "X", "role": "qa", "password": "a long enough phrase 42",
        "time_zone": "Asia/Nowhere"})
    assert bad.status_code == 422 and "time_zone" in bad.get_json()["errors"]


def test_site_staff_read_their_sites_language_and_can_switch_on_any_page(app):
    make_site("LZ")
    from cell_chain.accounts.models import Site

    db.session.execute(update(Site).values(time_zone="Asia/Shanghai", language="zh_Hans"))
    db.session.commit()
    make_user("lz-nurse", "nurse", "LZ")
    make_user("lab", "lab")
    nurse = logged_in(app, "lz-nurse")
    home = page_text(nurse.get("/"))
    assert "床旁" in home and "时间以 Asia/Shanghai（CST）显示" in home and "Bedside" not in home
    assert "UC-MSC trial dose tracking" in page_text(logged_in(app, "lab").get("/"))  # no site: English, UTC

    switched = post(nurse, "/language", {"language": "en", "next": "/bedside"}, token_from="/")
    assert switched.status_code == 302 and switched.headers["Location"] == "/bedside"
    home = page_text(nurse.get("/"))
    assert "Bedside" in home and "times shown in Asia/Shanghai (CST)" in home
    assert post(nurse, "/language", {"language": "zh_Hans", "next": "//evil.example"}, token_from="/").headers[
        "Location"] == "/"


def test_a_user_without_a_site_picks_another_zone_in_their_profile(app):
    make_user("monitor", "monitor")
    monitor = logged_in(app, "monitor")
    page = page_text(monitor.get("/account/preferences"))
    assert "Language and time zone" in page and "As my site: UTC" in page
    refused = post(monitor, "/account/preferences", {"language": "", "time_zone": "Atlantis/Capital"})
    assert refused.status_code == 422 and "Choose a time zone from the list" in page_text(refused)
    saved = post(monitor, "/account/preferences", {"language": "zh_Hans", "time_zone": "Europe/Berlin"})
    assert saved.status_code == 302
    assert "时间以 Europe/Berlin" in page_text(monitor.get("/"))


def test_api_messages_follow_accept_language_and_codes_stay_english(app, client, staff):
    make_site("LZ")
    for username, role in (("lz-coordinator", "coordinator"), ("lz-pharmacist", "pharmacist"), ("lz-nurse", "nurse")):
        make_user(username, role, "LZ")
    [dose] = doses_at_site(staff)
    headers = api_token(client, "lz-nurse")
    scans = {"patient_scan": "LZ-9999", "dose_scan": bag_payloads(dose).compound}
    english = client.post("/api/infusions/verify", headers=headers, json=scans).get_json()
    chinese = client.post("/api/infusions/verify", headers=headers | {"Accept-Language": "zh-CN,zh;q=0.9"},
                          json=scans).get_json()
    codes = [s["code"] for s in english["stops"]]
    assert codes == [s["code"] for s in chinese["stops"]] and codes[0] == "UNKNOWN_PATIENT"
    assert english["stops"][0]["message"] == "This wristband is not a patient of this trial."
    assert chinese["stops"][0]["message"] == "该腕带不是本试验的患者。"
    detail = client.get(f"/api/doses/{dose.code}", headers=headers | {"Accept-Language": "zh-CN"}).get_json()
    assert detail["expires_at"].endswith("+00:00")  # the API stays in UTC whatever the reader's zone
    assert active_allocation_of_dose(dose) is not None


def test_a_chinese_readers_pdf_report_has_its_heading_in_chinese_and_states_utc(app):
    import pypdfium2

    make_site("LZ")
    make_user("monitor", "monitor")
    db.session.execute(update(User).where(User.username == "monitor").values(language="zh_Hans"))
    db.session.commit()
    response = logged_in(app, "monitor").get("/reports/reconciliation/sites.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    document = pypdfium2.PdfDocument(response.get_data())
    try:
        text = document[0].get_textpage().get_text_range()
    finally:
        document.close()
    assert "按中心核对：药品计数" in text and "所有时间均为 UTC" in text and "UTC" in text.split("生成时间")[1][:40]


def test_a_chinese_readers_csv_report_labels_its_header_in_chinese_and_states_utc(app):
    import csv
    import io

    make_site("LZ")
    make_user("monitor", "monitor")
    db.session.execute(update(User).where(User.username == "monitor").values(language="zh_Hans"))
    db.session.commit()
    response = logged_in(app, "monitor").get("/reports/reconciliation/sites.csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    labels = [row[0] for row in rows[1:5] if row]
    assert labels[:3] == ["范围", "生成时间（UTC）", "打印人"]
    assert "Scope" not in labels and "Printed by" not in labels


def test_a_visitor_switches_the_login_page_to_chinese(client):
    assert "Log in to cell-chain" in page_text(client.get("/login"))
    login_page = client.get("/login").get_data(as_text=True)
    assert 'href="/language?language=zh_Hans&amp;next=/login"' in login_page  # a link: no form, no session
    switched = client.get("/language?language=zh_Hans&next=/login")
    assert switched.status_code == 302 and switched.headers["Location"] == "/login"
    assert "登录 cell-chain" in page_text(client.get("/login"))
    assert "登录 cell-chain" in page_text(client.get("/login", headers={"Accept-Language": "en"}))  # the choice wins


def test_a_refusal_once_built_as_an_f_string_follows_accept_language(client):
    headers = admin_headers(client)
    site = {"code": "WH", "name": "Tongji Hospital", "city": "Wuhan"}
    assert client.post("/api/sites", headers=headers, json=site).status_code == 201
    english = client.post("/api/sites", headers=headers, json=site).get_json()
    chinese = client.post("/api/sites", headers=headers | {"Accept-Language": "zh-CN"}, json=site).get_json()
    assert english["code"] == chinese["code"] == "VALIDATION_ERROR"
    assert english["errors"] == {"code": ["Site WH already exists."]}
    assert chinese["errors"] == {"code": ["中心 WH 已存在。"]}
    assert chinese["detail"] != english["detail"]


def test_a_moment_inside_a_message_is_read_on_the_readers_clock_with_its_zone_named(app):
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from flask import g

    from cell_chain.core.messages import _l

    expired = _l("Dose %(code)s expired at %(time)s.", code="X-1", time=datetime(2026, 12, 3, 11, 7, tzinfo=UTC))
    assert str(expired) == "Dose X-1 expired at 2026-12-03 11:07 UTC."  # no reader: UTC, named
    with app.test_request_context("/bedside"):
        g.reader_zone = ZoneInfo("Asia/Shanghai")
        assert str(expired) == "Dose X-1 expired at 2026-12-03 19:07 CST."
        g.reader_zone = ZoneInfo("Europe/Berlin")
        assert str(expired) == "Dose X-1 expired at 2026-12-03 12:07 CET."
        assert expired.text(UTC) == "Dose X-1 expired at 2026-12-03 11:07 UTC."  # a report that states UTC
