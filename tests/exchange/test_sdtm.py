"""The SDTM datasets: the .xpt files read back with a second reader (pandas) and agree with
the CSV and with the database — one EX record per infusion with its lot, dose and ISO 8601
times; DA the dispensed, returned and destroyed amounts; DV the out-of-window infusions."""
import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pyreadstat
import pytest
from sqlalchemy import select

from cell_chain.batches.models import Dose
from cell_chain.core.db import db
from cell_chain.exchange import sdtm
from cell_chain.patients.models import Patient, Visit
from cell_chain.infusions.models import Infusion
from cell_chain.shipments.models import CustodyEvent
from tests.conftest import login
from tests.exchange.conftest import get
from tests.factories import released_lot
from tests.reconciliation.conftest import allocate, dispense, enrol, infuse, ship

STUDY = "NCT01573923"


@pytest.fixture
def deviating(clinic: Any, trial: dict[str, Any]) -> Any:
    """On top of the balanced trial: an LZ subject enrolled 30 days ago whose first dose is
    given now, out of its ±14-day window, and only 30 of its 40 ml."""
    now = trial["now"]
    dose = released_lot(clinic, "L-OOW", doses=1).doses[0]
    patient = enrol("LZ", days_ago=30, now=now)
    allocate(patient, dose, now=now)
    ship(clinic, "LZ", [dose], now=now)
    dispense(dose, "LZ", now=now)
    return infuse(dose, "LZ", volume_ml=30.0, reason="In hospital with pneumonia until last week", now=now)


def download(client: Any, name: str, user: str = "monitor", **query: str) -> Any:
    response = get(client, f"/api/exports/sdtm/{name}", user, query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


def xpt_frame(data: bytes) -> pd.DataFrame:
    """The second reader: pandas' own SAS transport parser (not the library that wrote it)."""
    return pd.read_sas(io.BytesIO(data), format="xport", encoding="utf-8")


def csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def same_records(frame: pd.DataFrame, rows: list[dict[str, str]], variables: tuple[sdtm.Variable, ...]) -> None:
    """The XPT and the CSV hold the same variables in the same order and the same values."""
    assert list(frame.columns) == [v.name for v in variables]
    assert len(frame) == len(rows)
    for index, row in enumerate(rows):
        assert list(row) == [v.name for v in variables]
        for variable in variables:
            value = frame.iloc[index][variable.name]
            if variable.numeric:
                assert float(row[variable.name]) == value, (variable.name, row[variable.name], value)
            else:
                assert row[variable.name] == value, (variable.name, row[variable.name], value)


def utc(text: str) -> datetime:
    """An SDTM --DTC value: ISO 8601 extended, to the second, UTC."""
    parsed = datetime.fromisoformat(text)
    assert parsed.tzinfo is None and text == parsed.strftime("%Y-%m-%dT%H:%M:%S")
    return parsed.replace(tzinfo=UTC)


def test_ex_reads_back_and_matches_the_csv_and_the_database(client, deviating):
    xpt, text = download(client, "ex.xpt"), download(client, "ex.csv")
    assert xpt.mimetype == "application/x-sas-xport" and text.mimetype == "text/csv"
    assert xpt.headers["Content-Disposition"] == 'attachment; filename="ex.xpt"'
    frame, rows = xpt_frame(xpt.data), csv_rows(text.data)
    same_records(frame, rows, sdtm.EX_VARIABLES)
    infusions = db.session.execute(
        select(Infusion, Dose, Visit.number, Patient.subject_id).join(Dose, Dose.id == Infusion.dose_id)
        .join(Visit, Visit.id == Infusion.visit_id).join(Patient, Patient.id == Infusion.patient_id)).all()
    assert len(infusions) == 3 and len(rows) == 3  # one record per infusion
    by_dose = {row["EXREFID"]: row for row in rows}
    for infusion, dose, visit, subject_id in infusions:
        row = by_dose[dose.code]
        assert row["STUDYID"] == STUDY and row["DOMAIN"] == "EX"
        assert row["USUBJID"] == f"{STUDY}-{subject_id}"
        assert row["EXLOT"] == dose.lot.lot_number
        assert float(row["EXDOSE"]) == pytest.approx(dose.cells * infusion.volume_ml / dose.volume_ml / 1e6)
        assert row["EXDOSU"] == "10^6 cells" and row["EXROUTE"] == "INTRAVENOUS"
        assert float(row["EXVAMT"]) == infusion.volume_ml and row["EXVAMTU"] == "mL"
        assert utc(row["EXSTDTC"]) == infusion.started_at.replace(microsecond=0)
        assert utc(row["EXENDTC"]) == infusion.ended_at.replace(microsecond=0)
        assert int(row["VISITNUM"]) == visit and row["VISIT"] == "MONTH 0"
        assert row["EXSEQ"] == "1"
        assert row["EXADJ"] == ("PARTIAL INFUSION: 30 OF 40 mL GIVEN" if infusion.partial else "")
    partial = by_dose[deviating_code(deviating)]
    assert partial["EXDOSE"] == "30" and partial["EXVAMT"] == "30"


def deviating_code(infusion: Infusion) -> str:
    return db.session.get(Dose, infusion.dose_id).code


def test_the_xpt_is_transport_version_5_with_the_ig_names_labels_and_lengths(client, deviating):
    for name, variables in (("ex", sdtm.EX_VARIABLES), ("da", sdtm.DA_VARIABLES), ("dv", sdtm.DV_VARIABLES)):
        data = download(client, f"{name}.xpt").data
        assert data.startswith(b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!")  # v5 (v8 says LIBV8)
        frame, meta = pyreadstat.read_xport(_file(data, name))
        assert meta.table_name == name.upper()
        assert meta.column_names == [v.name for v in variables]
        assert meta.column_labels == [v.label for v in variables]
        assert all(len(v.name) <= 8 and len(v.label) <= 40 for v in variables)
        for variable in variables:
            width = meta.variable_storage_width[variable.name]
            if variable.numeric:
                assert width == 8 and meta.readstat_variable_types[variable.name] == "double"
            else:
                longest = max((len(str(v).encode()) for v in frame[variable.name]), default=0)
                assert longest <= width <= 200, (variable.name, width)
        assert len(frame) == len(xpt_frame(data))


def _file(data: bytes, name: str) -> str:
    import tempfile

    handle = tempfile.NamedTemporaryFile(suffix=f"-{name}.xpt", delete=False)
    handle.write(data)
    handle.close()
    return handle.name


def test_da_holds_the_dispensed_returned_and_destroyed_amounts(client, deviating, trial):
    xpt, text = download(client, "da.xpt"), download(client, "da.csv")
    rows = csv_rows(text.data)
    same_records(xpt_frame(xpt.data), rows, sdtm.DA_VARIABLES)
    events = db.session.execute(select(CustodyEvent.kind, Dose.code, CustodyEvent.occurred_at)
                                .join(Dose, Dose.id == CustodyEvent.dose_id)
                                .where(CustodyEvent.kind.in_(("dispense", "return", "destroy")))).all()
    expected = {(code, sdtm.ACCOUNTED[kind][0], utc(sdtm.iso8601(at))) for kind, code, at in events}
    assert {(r["DAREFID"], r["DATESTCD"], utc(r["DADTC"])) for r in rows} == expected
    assert {r["DATESTCD"] for r in rows} == {"DISPAMT", "RETAMT", "DESTAMT"}
    for row in rows:
        assert row["DAORRES"] == row["DASTRESC"] == "40" and float(row["DASTRESN"]) == 40.0
        assert row["DAORRESU"] == row["DASTRESU"] == "mL" and row["DOMAIN"] == "DA"
        assert row["DATEST"] == {"DISPAMT": "Dispensed Amount", "RETAMT": "Returned Amount",
                                 "DESTAMT": "Destroyed Amount"}[row["DATESTCD"]]
    # The returned dose is its withdrawn subject's, though the allocation ended at withdrawal.
    returned = next(r for r in rows if r["DATESTCD"] == "RETAMT")
    assert returned["DAREFID"] == trial["returned"].code and returned["USUBJID"].startswith(f"{STUDY}-BJ-")
    sequences = {}
    for row in rows:
        sequences.setdefault(row["USUBJID"], []).append(int(row["DASEQ"]))
    assert all(seq == list(range(1, len(seq) + 1)) for seq in sequences.values())


def test_dv_holds_the_out_of_window_infusion(client, deviating):
    rows = csv_rows(download(client, "dv.csv").data)
    same_records(xpt_frame(download(client, "dv.xpt").data), rows, sdtm.DV_VARIABLES)
    [row] = rows
    assert row["DVREFID"] == deviating_code(deviating) and row["DVDECOD"] == "VISIT OUT OF WINDOW"
    assert row["DVTERM"].endswith(": In hospital with pneumonia until last week")
    assert utc(row["DVSTDTC"]) == deviating.started_at.replace(microsecond=0)
    assert row["VISITNUM"] == "1"


def test_the_data_cut_leaves_out_what_was_entered_after_it(client, deviating, trial):
    before = (trial["now"] - timedelta(minutes=1)).isoformat()
    for name in ("ex", "da", "dv"):
        cut = download(client, f"{name}.csv", cut=before)
        assert csv_rows(cut.data) == []
        assert cut.headers["X-Data-Cut"] == sdtm.iso8601(trial["now"] - timedelta(minutes=1)) + "Z"
    assert len(csv_rows(download(client, "ex.csv", cut=trial["now"].isoformat()).data)) == 3
    future = get(client, "/api/exports/sdtm/ex.csv", query_string={"cut": (datetime.now(UTC) + timedelta(hours=1)).isoformat()})
    assert future.status_code == 422 and future.get_json()["errors"] == {"cut": ["The data cut cannot be in the future."]}
    naive = get(client, "/api/exports/sdtm/ex.csv", query_string={"cut": "2026-01-01T00:00:00"})
    assert naive.status_code == 422


def test_a_cut_shown_to_the_second_keeps_what_was_entered_within_that_second(client, deviating, trial):
    """The page shows the cut to the second; a monitor opening it in the same second as the
    last entry must still get that entry."""
    second = trial["now"].replace(microsecond=0)
    for name, rows in (("ex", 3), ("da", 5), ("dv", 1)):
        cut = download(client, f"{name}.csv", cut=second.isoformat())
        assert len(csv_rows(cut.data)) == rows, name
        assert cut.headers["X-Data-Cut"] == sdtm.iso8601(second) + "Z"


def test_site_staff_get_their_own_site_and_central_roles_any(client, deviating):
    def subjects(user: str, **query: str) -> set[str]:
        rows = csv_rows(download(client, "ex.csv", user, **query).data)
        rows += csv_rows(download(client, "da.csv", user, **query).data)
        return {r["USUBJID"].removeprefix(f"{STUDY}-").split("-")[0] for r in rows}

    assert subjects("monitor") == {"LZ", "BJ"}
    assert subjects("monitor", site_code="BJ") == {"BJ"}
    assert subjects("qa", site_code="LZ") == {"LZ"}
    for user in ("lz-pharmacist", "lz-nurse", "lz-coordinator"):
        assert subjects(user) == {"LZ"}
        assert subjects(user, site_code="LZ") == {"LZ"}
        other = get(client, "/api/exports/sdtm/ex.xpt", user, query_string={"site_code": "BJ"})
        assert other.status_code == 404 and other.get_json()["code"] == "NOT_FOUND"
    lab = get(client, "/api/exports/sdtm/ex.csv", "lab")
    assert lab.status_code == 403 and lab.get_json()["code"] == "FORBIDDEN"
    assert client.get("/api/exports/sdtm/ex.csv").status_code == 401
    assert get(client, "/api/exports/sdtm/ex.json").status_code == 404
    assert get(client, "/api/exports/sdtm/ae.csv").status_code == 404


def test_an_empty_trial_gives_empty_datasets(client, clinic):
    for name, variables in (("ex", sdtm.EX_VARIABLES), ("da", sdtm.DA_VARIABLES), ("dv", sdtm.DV_VARIABLES)):
        data = download(client, f"{name}.xpt").data
        # pandas reads an empty member's header, not its (absent) rows; pyreadstat reads both.
        with pd.read_sas(io.BytesIO(data), format="xport", iterator=True, encoding="utf-8") as reader:
            assert reader.nobs == 0
            assert [f["name"].decode() if isinstance(f["name"], bytes) else f["name"] for f in reader.fields] == [
                v.name for v in variables]
        frame, meta = pyreadstat.read_xport(_file(data, name))
        assert meta.column_names == [v.name for v in variables] and len(frame) == 0
        assert download(client, f"{name}.csv").data.decode() == ",".join(v.name for v in variables) + "\r\n"


def test_the_monitor_downloads_both_as_of_the_cut_shown(client, deviating):
    login(client, "monitor")
    page = client.get("/exports/sdtm")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    import re

    shown = re.search(r'id="data-cut">([0-9-]+ [0-9:]+) UTC<', html).group(1)
    links = re.findall(r'href="(/api/exports/sdtm/[a-z]+\.(?:xpt|csv)\?cut=[^"]+)"', html)
    assert sorted(link.split("?")[0].rsplit("/", 1)[1] for link in links) == sorted(
        f"{n}.{f}" for n in ("ex", "da", "dv") for f in ("xpt", "csv"))
    counts = dict(re.findall(r'<tr id="dataset-([a-z]+)">.*?<td class="num">(\d+)</td>', html, re.S))
    # DA: every dose given is dispensed to the ward first (the BJ dose too: one DISPENSED row more)
    assert counts == {"ex": "3", "da": "5", "dv": "1"}
    for link in links:
        response = client.get(link.replace("&amp;", "&"))  # the browser's session, as a click
        assert response.status_code == 200, link
        assert response.headers["X-Data-Cut"] == shown.replace(" ", "T") + "Z"
        if link.split("?")[0].endswith(".csv"):
            assert len(csv_rows(response.data)) == int(counts[link.split("/")[-1].split(".")[0]])
    home = client.get("/").get_data(as_text=True)
    assert 'href="/exports/sdtm"' in home


def test_site_staff_see_their_sites_counts_and_others_are_refused(client, deviating):
    login(client, "lz-coordinator")
    html = client.get("/exports/sdtm").get_data(as_text=True)
    assert "Site LZ" in html and "BJ-" not in html
    lab = client.application.test_client()
    login(lab, "lab")
    assert lab.get("/exports/sdtm").status_code == 403
