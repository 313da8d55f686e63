"""A HOBOware export whose temperature column carries a series label, uploaded through the API
and through the shipment page: both read it the same way, and both refuse a file without one."""
import io
from datetime import timedelta

from sqlalchemy import func, select

from cell_chain.core.db import db
from cell_chain.shipments.models import TemperatureRecord
from tests.conftest import api_token
from tests.factories import shippable_doses
from tests.pages import page_text, post, section_text
from tests.shipments.conftest import dispatched

LABELLED = "H08 Temp., °F (LGR S/N: 748084)"


def hobo_export(shipment, heading: str) -> bytes:
    """Readings every ten minutes from just after dispatch, at −300 °F (−184.4 °C), in the
    logger's own GMT+08:00 clock."""
    start = shipment.dispatched_at + timedelta(minutes=1, hours=8)
    rows = "".join(f'{i},{(start + timedelta(minutes=10 * i)).strftime("%Y-%m-%d %H:%M:%S")},-300.0\n'
                   for i in range(6))
    return f'"Plot Title: H08"\n"#","Date Time, GMT+08:00","{heading}"\n{rows}'.encode()


def records() -> int:
    return db.session.scalar(select(func.count()).select_from(TemperatureRecord))


def test_the_api_reads_a_series_labelled_temperature_column(sites, staff, client):
    shipment = dispatched(staff, shippable_doses(staff), hours_ago=2)
    headers = api_token(client, "lz-pharmacist") | {"Content-Type": "text/csv", "X-Filename": "H08.csv"}
    r = client.post(f"/api/shipments/{shipment.id}/temperature", headers=headers, data=hobo_export(shipment, LABELLED))
    assert r.status_code == 201, r.get_json()
    assert r.get_json() == {"readings": 6, "source_format": "onset-hobo", "excursions": []}
    refused = client.post(f"/api/shipments/{shipment.id}/temperature", headers=headers,
                          data=hobo_export(shipment, "RH, % (LGR S/N: 748084, LBL: Temp)"))
    assert refused.status_code == 422 and refused.get_json()["code"] == "VALIDATION_ERROR"
    assert "no temperature column" in refused.get_json()["errors"]["file"][0]
    assert records() == 1


def test_the_shipment_page_reads_a_series_labelled_temperature_column(sites, staff, as_user):
    shipment = dispatched(staff, shippable_doses(staff), hours_ago=2)
    client = as_user("lz-pharmacist")
    path, page = f"/shipments/{shipment.id}/temperature", f"/shipments/{shipment.id}"
    refused = post(client, path, {"logger_file": (io.BytesIO(hobo_export(shipment, "RH, %")), "H08.csv")},
                   token_from=page, content_type="multipart/form-data")
    assert refused.status_code == 422 and "no temperature column" in section_text(refused, "temperature")
    assert records() == 0
    uploaded = post(client, path, {"logger_file": (io.BytesIO(hobo_export(shipment, LABELLED)), "H08.csv")},
                    token_from=page, content_type="multipart/form-data")
    assert uploaded.status_code == 302, page_text(uploaded)
    assert "6 readings read from H08.csv" in page_text(client.get(page))
    assert records() == 1
