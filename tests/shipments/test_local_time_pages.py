"""The thaw form on the pharmacist's own clock: the time typed is local to the reader's zone
(their site's, or one they chose) and stored in UTC, across daylight-saving changes too."""
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update

from cell_chain.accounts.models import Site, User
from cell_chain.batches.models import Dose
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.shipments import views as shipment_views
from tests.conftest import PASSWORD
from tests.factories import shippable_doses
from tests.pages import page_text, post, section_text
from tests.shipments.conftest import dispatched, scan_of

SHANGHAI, BERLIN = ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/Berlin")


def received_dose(staff, client):  # noqa: ANN001, ANN201
    [dose] = shippable_doses(staff)
    shipment = dispatched(staff, [dose])
    response = post(client, f"/shipments/{shipment.id}/receive",
                    {"scan": [scan_of(dose)], "seal_intact": "yes", "password": PASSWORD})
    assert response.status_code == 302, page_text(response)
    return dose


def test_a_thaw_typed_on_the_lanzhou_clock_is_stored_eight_hours_earlier_in_utc(staff, as_user):
    db.session.execute(update(Site).where(Site.code == "LZ").values(time_zone="Asia/Shanghai", language="zh_Hans"))
    db.session.commit()
    client = as_user("lz-pharmacist")
    dose = received_dose(staff, client)
    form = client.get(f"/pharmacy/doses/{dose.code}/thaw").get_data(as_text=True)
    assert "解冻完成时间（Asia/Shanghai）" in form

    ward_clock = (utcnow() - timedelta(minutes=30)).astimezone(SHANGHAI).replace(second=0, microsecond=0)
    response = post(client, f"/pharmacy/doses/{dose.code}/thaw", {"thawed_at": f"{ward_clock:%Y-%m-%d %H:%M}"})
    assert response.status_code == 302, page_text(response)
    db.session.expire_all()
    stored = db.session.get(Dose, dose.id).thawed_at
    assert stored == ward_clock.replace(tzinfo=None).replace(tzinfo=UTC) - timedelta(hours=8)
    expires = ward_clock + timedelta(hours=4)
    inventory = page_text(client.get("/pharmacy"))
    assert f"于 {ward_clock:%Y-%m-%d %H:%M} CST 解冻：请在 {expires:%Y-%m-%d %H:%M} CST 前完成输注" in inventory
    inventory = client.get("/pharmacy")
    assert "有效期至 (CST)" in page_text(inventory)  # the column names the zone its times are on
    row = section_text(inventory, f"dose-{dose.code}")
    assert f"{expires:%Y-%m-%d %H:%M} 解冻后有效期" in row and f"解冻于 {ward_clock:%Y-%m-%d %H:%M}" in row


def berlin_pharmacist(client):  # noqa: ANN001
    db.session.execute(update(User).where(User.username == "lz-pharmacist").values(time_zone="Europe/Berlin"))
    db.session.commit()


def test_a_thaw_just_after_berlin_springs_forward_gives_the_right_utc(staff, as_user, monkeypatch):
    client = as_user("lz-pharmacist")
    dose = received_dose(staff, client)
    berlin_pharmacist(client)
    # 28 March 2027: at 02:00 CET the clocks go to 03:00 CEST. Now is 04:00 CEST (02:00 UTC).
    monkeypatch.setattr(shipment_views, "utcnow", lambda: datetime(2027, 3, 28, 2, 0, tzinfo=UTC))
    response = post(client, f"/pharmacy/doses/{dose.code}/thaw", {"thawed_at": "2027-03-28 03:10"})
    assert response.status_code == 302, page_text(response)
    db.session.expire_all()
    assert db.session.get(Dose, dose.id).thawed_at == datetime(2027, 3, 28, 1, 10, tzinfo=UTC)  # UTC+2 now


def test_a_time_the_berlin_clock_skipped_is_refused_with_a_reason(staff, as_user, monkeypatch):
    client = as_user("lz-pharmacist")
    dose = received_dose(staff, client)
    berlin_pharmacist(client)
    monkeypatch.setattr(shipment_views, "utcnow", lambda: datetime(2027, 3, 28, 2, 0, tzinfo=UTC))
    response = post(client, f"/pharmacy/doses/{dose.code}/thaw", {"thawed_at": "2027-03-28 02:30"})
    assert response.status_code == 422
    assert "2027-03-28 02:30 did not happen in Europe/Berlin: the clocks went forward" in page_text(response)
    db.session.expire_all()
    assert db.session.get(Dose, dose.id).thawed_at is None


def test_a_time_the_berlin_clock_showed_twice_needs_its_offset(staff, as_user, monkeypatch):
    client = as_user("lz-pharmacist")
    dose = received_dose(staff, client)
    berlin_pharmacist(client)
    # 31 October 2027: at 03:00 CEST the clocks go back to 02:00 CET. Now is 02:50 CET (01:50 UTC).
    monkeypatch.setattr(shipment_views, "utcnow", lambda: datetime(2027, 10, 31, 1, 50, tzinfo=UTC))
    path = f"/pharmacy/doses/{dose.code}/thaw"
    response = post(client, path, {"thawed_at": "2027-10-31 02:30"})
    assert response.status_code == 422 and "happened twice in Europe/Berlin" in page_text(response)
    response = post(client, path, {"thawed_at": "2027-10-31 02:30+01:00"})  # the second 02:30, in CET
    assert response.status_code == 302, page_text(response)
    db.session.expire_all()
    assert db.session.get(Dose, dose.id).thawed_at == datetime(2027, 10, 31, 1, 30, tzinfo=UTC)


def test_a_refusal_once_built_as_an_f_string_reads_in_the_readers_language(staff, as_user, client):
    from tests.conftest import api_token

    dose = received_dose(staff, as_user("lz-pharmacist"))
    headers = api_token(client, "lz-pharmacist")
    thawed = (utcnow() - timedelta(minutes=20)).replace(second=0, microsecond=0)
    first = client.post(f"/api/doses/{dose.code}/thaw", headers=headers, json={"thawed_at": thawed.isoformat()})
    assert first.status_code == 200, first.get_json()
    again = {"thawed_at": (thawed + timedelta(minutes=5)).isoformat()}
    english = client.post(f"/api/doses/{dose.code}/thaw", headers=headers, json=again).get_json()
    chinese = client.post(f"/api/doses/{dose.code}/thaw", headers=headers | {"Accept-Language": "zh-CN"},
                          json=again).get_json()
    assert english["code"] == chinese["code"] == "INVALID_TRANSITION"  # the code stays English
    # the API stays in UTC, and says so inside the sentence too
    assert english["detail"] == f"Dose {dose.code} was already thawed at {thawed:%Y-%m-%d %H:%M} UTC."
    assert chinese["detail"] == f"剂量 {dose.code} 已于 {thawed:%Y-%m-%d %H:%M} UTC 解冻。"
