"""Finding 4: logger values outside the calendar or the clock's range are a 422 naming the line,
on the API and the page alike, never a 500."""
import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from cell_chain.core.db import db
from cell_chain.shipments.loggers import LoggerFileError, parse_logger_file
from cell_chain.shipments.models import TemperatureRecord
from tests.conftest import api_token, csrf_token, login
from tests.factories import shippable_doses
from tests.hardening.conftest import dispatched

OFFSETS = ["+24:00", "+99:99", "-99", "+2400", "+14:60", "-15:00"]
EDGES = ["0001-01-01T00:30:00+01:00", "9999-12-31T23:59:59-01:00"]


def _plain(stamp: str) -> bytes:
    return f"timestamp,celsius\n2026-01-01T00:00:00Z,5.0\n{stamp},5.0\n".encode()


def _hobo(zone: str) -> bytes:
    return (f'"Plot Title: trip"\n"#","Date Time, GMT{zone}","Temp, °C (LGR S/N: 1)"\n'
            '1,01/13/26 10:00:00 AM,5.0\n2,01/13/26 10:10:00 AM,5.1\n').encode()


BAD_FILES = ([(f"offset {z}", _plain(f"2026-01-01T00:10:00{z}"), 3) for z in OFFSETS]
             + [(f"edge {e}", _plain(e), 3) for e in EDGES]
             + [("HOBO GMT+30:00", _hobo("+30:00"), 2), ("HOBO GMT-14:60", _hobo("-14:60"), 2)])


@pytest.mark.parametrize(("name", "data", "line"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_the_parser_refuses_out_of_range_values_naming_the_line(name, data, line):
    with pytest.raises(LoggerFileError) as refused:
        parse_logger_file(data)
    assert f"line {line}:" in str(refused.value)


def test_the_widest_real_offsets_still_read():
    trace = parse_logger_file(_plain("2026-01-01T14:10:00+14:00"))
    assert [r.at.isoformat() for r in trace.readings] == ["2026-01-01T00:00:00+00:00", "2026-01-01T00:10:00+00:00"]
    assert parse_logger_file(_hobo("-12:00")).readings[0].at.hour == 22


@pytest.fixture
def journey(sites, staff):  # noqa: F811
    return dispatched(staff, shippable_doses(staff), hours_ago=3)


@pytest.mark.parametrize(("name", "data", "line"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_the_api_answers_422_naming_the_line(client, journey, name, data, line):
    response = client.post(f"/api/shipments/{journey.id}/temperature",
                           headers=api_token(client, "lz-pharmacist") | {"Content-Type": "text/csv"}, data=data)
    assert response.status_code == 422, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == "VALIDATION_ERROR" and f"line {line}:" in body["errors"]["file"][0]
    assert db.session.scalar(select(func.count()).select_from(TemperatureRecord)) == 0


@pytest.mark.parametrize(("name", "data", "line"), BAD_FILES[::3], ids=[b[0] for b in BAD_FILES[::3]])
def test_the_page_answers_422_with_the_same_message(app, journey, name, data, line):
    page = app.test_client()
    assert login(page, "lz-pharmacist").status_code == 302
    token = csrf_token(page, f"/shipments/{journey.id}")
    response = page.post(f"/shipments/{journey.id}/temperature", content_type="multipart/form-data",
                         data={"csrf_token": token, "logger_file": (io.BytesIO(data), "trip.csv")})
    assert response.status_code == 422
    assert f"line {line}:" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(TemperatureRecord)) == 0


def test_a_good_file_after_the_refusals_is_stored(client, journey):
    start = journey.dispatched_at + timedelta(minutes=1)
    data = "timestamp,celsius\n" + "\n".join(
        f"{(start + timedelta(minutes=10 * i)).isoformat()},-180" for i in range(3))
    response = client.post(f"/api/shipments/{journey.id}/temperature",
                           headers=api_token(client, "lz-pharmacist") | {"Content-Type": "text/csv"},
                           data=data.encode())
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["readings"] == 3
