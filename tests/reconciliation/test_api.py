"""The reports over HTTP: JSON, CSV and PDF agree; who sees what; the statement count does not
grow with the trial."""
import csv
import io

import pypdfium2
import pytest

from tests.conftest import api_token
from tests.reconciliation.conftest import StatementCounter, balanced_trial, enrol, troubled_trial

REPORTS = ("patients", "sites", "lots", "discrepancies")


@pytest.fixture
def balanced(clinic):
    return balanced_trial(clinic)


def get_json(client, path, user="monitor"):
    response = client.get(path, headers=api_token(client, user))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def csv_tables(text):
    """{table title: (header, rows, totals)} from export.report_csv's layout."""
    lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    tables, index = {}, 0
    while index < len(lines):
        if lines[index] == [] and index + 2 < len(lines) and len(lines[index + 1]) == 1:
            title, header = lines[index + 1][0], lines[index + 2]
            rows, index = [], index + 3
            while index < len(lines) and lines[index] != []:
                rows.append(dict(zip(header, lines[index], strict=True)))
                index += 1
            tables[title] = rows
        else:
            index += 1
    return tables


def pdf_text(data):
    pdf = pypdfium2.PdfDocument(data)
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in pdf)
    finally:
        pdf.close()


def test_json_reports_for_the_monitor(client, balanced):
    patients = get_json(client, "/api/reconciliation/patients")
    assert patients["site_code"] is None and patients["total_patients"] == 7
    assert [p["subject_id"] for p in patients["patients"]][:2] == ["BJ-0001", "BJ-0002"]
    assert patients["total"]["planned"] == 24 and patients["total"]["administered"] == 2
    visit = next(p for p in patients["patients"] if p["subject_id"] == "LZ-0001")["visits"][0]
    assert visit["outcome"] == "administered_in_window" and visit["lot_number"] == "L-ONE"
    assert [s["meaning"] for s in visit["infusion"]["signatures"]] == ["Administered", "Witnessed"]
    sites = get_json(client, "/api/reconciliation/sites")
    assert [s["site_code"] for s in sites["sites"]] == ["BJ", "LZ"]
    assert sites["total"] | {} == sites["total"] and sites["total"]["received"] == 5 and sites["total"]["balanced"]
    lots = get_json(client, "/api/reconciliation/lots")
    assert lots["total_lots"] == 3 and lots["total"]["in_stock_by_location"] == {"LZ": 1, "in_transit": 1, "lab": 1}
    discrepancies = get_json(client, "/api/reconciliation/discrepancies")
    assert discrepancies["count"] == 0 and discrepancies["discrepancies"] == [] and discrepancies["by_code"] == {}


def test_csv_and_pdf_carry_the_json_numbers(client, balanced):
    headers = api_token(client, "monitor")
    sites = get_json(client, "/api/reconciliation/sites")
    csv_response = client.get("/reports/reconciliation/sites.csv", headers=headers)
    assert csv_response.status_code == 200 and csv_response.mimetype == "text/csv"
    text = csv_response.get_data(as_text=True)
    table = csv_tables(text)["Drug accountability per site"]
    for site in [*sites["sites"], {**sites["total"], "site_code": "Total"}]:
        row = next(r for r in table if r["Site"] == site["site_code"])
        for key, title in (("received", "Received"), ("administered", "Administered"), ("destroyed", "Destroyed"),
                           ("returned", "Returned"), ("on_hand", "On hand"), ("imbalance", "Imbalance"),
                           ("in_transit", "In transit")):
            assert row[title] == str(site[key]), (site["site_code"], key)
    assert "Mona Monitor (monitor, monitor)" in text and "Pharmacist LZ" in text and "Received" in text
    pdf = client.get("/reports/reconciliation/sites.pdf", headers=headers)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    printed = pdf_text(pdf.data)
    assert "Mona Monitor" in printed and "Pharmacist LZ" in printed and "Destroyed" in printed
    lz = next(s for s in sites["sites"] if s["site_code"] == "LZ")
    numbers = " ".join(str(lz[k]) for k in ("received", "administered", "destroyed", "returned", "on_hand"))
    assert numbers in " ".join(printed.split())

    patients = get_json(client, "/api/reconciliation/patients")
    text = client.get("/reports/reconciliation/patients.csv", headers=headers).get_data(as_text=True)
    tables = csv_tables(text)
    rows = tables["Planned doses per patient"]
    assert len(rows) == sum(max(len(p["visits"]), 1) for p in patients["patients"])
    for patient in patients["patients"]:
        for visit in patient["visits"]:
            row = next(r for r in rows if r["Subject"] == patient["subject_id"] and r["Visit"] == str(visit["number"]))
            assert (row["Outcome"], row["Dose"], row["Lot"]) == (
                visit["outcome"].replace("_", " "), visit["dose_code"] or "", visit["lot_number"] or "")
    totals = {r["Measure"]: r for r in tables["Totals per site"]}
    for site in [*patients["sites"], {**patients["total"], "site_code": "Total"}]:
        assert totals["Planned doses"][site["site_code"]] == str(site["planned"])
        assert totals["Administered"][site["site_code"]] == str(site["administered"])
        assert totals["SAEs"][site["site_code"]] == str(site["serious_adverse_events"])
    assert "Nurse LZ" in text and "Coordinator BJ" in text  # infusion and withdrawal signatures
    printed = " ".join(pdf_text(client.get("/reports/reconciliation/patients.pdf", headers=headers).data).split())
    assert "Second Nurse LZ" in printed and "Anaphylaxis, resolved" in printed

    lots = get_json(client, "/api/reconciliation/lots")
    rows = {r["Lot"]: r for r in csv_tables(client.get("/reports/reconciliation/lots.csv",
                                                       headers=headers).get_data(as_text=True))["Dose accounting per lot"]}
    for lot in lots["lots"]:
        assert rows[lot["lot_number"]]["Prepared"] == str(lot["prepared"])
        assert rows[lot["lot_number"]]["In stock"] == str(lot["in_stock"])
    assert rows["Total"]["Prepared"] == "8"
    printed = pdf_text(client.get("/reports/reconciliation/lots.pdf", headers=headers).data)
    assert "Qian QA" in printed and "L-LAB" in printed


def test_discrepancy_downloads_match_the_json(client, clinic):
    troubled_trial(clinic)
    headers = api_token(client, "monitor")
    listed = get_json(client, "/api/reconciliation/discrepancies")
    # read now, not three hours on: the dispensed dose is not overdue yet
    assert listed["count"] == 12 and set(listed["by_code"].values()) == {1}
    assert "DISPENSED_NOT_ADMINISTERED" not in listed["by_code"]
    text = client.get("/reports/reconciliation/discrepancies.csv", headers=headers).get_data(as_text=True)
    tables = csv_tables(text)
    assert {r["Code"]: r["Count"] for r in tables["Discrepancies by code"]} == {
        code: str(n) for code, n in listed["by_code"].items()} | {"Total": "12"}
    assert [r["Explanation"] for r in tables["Discrepancies"]] == [d["explanation"] for d in listed["discrepancies"]]
    printed = " ".join(pdf_text(client.get("/reports/reconciliation/discrepancies.pdf", headers=headers).data).split())
    for discrepancy in listed["discrepancies"]:
        assert discrepancy["code"] in printed
    only = get_json(client, "/api/reconciliation/discrepancies?code=VISIT_MISSED")
    assert only["count"] == 1 and only["discrepancies"][0]["code"] == "VISIT_MISSED"
    assert only["discrepancies"][0]["objects"][0] == {"type": "patient", "id": "LZ-0005", "label": "LZ-0005"}
    filtered = csv_tables(client.get("/reports/reconciliation/discrepancies.csv?code=SHIPMENT_SHORT",
                                     headers=headers).get_data(as_text=True))["Discrepancies"]
    assert [r["Code"] for r in filtered] == ["SHIPMENT_SHORT"]
    paged = get_json(client, "/api/reconciliation/discrepancies?limit=5&offset=10")
    assert [d["code"] for d in paged["discrepancies"]] == [d["code"] for d in listed["discrepancies"][10:]]


def test_site_staff_see_only_their_site(client, balanced):
    patients = get_json(client, "/api/reconciliation/patients", "lz-coordinator")
    assert patients["site_code"] == "LZ" and {p["site_code"] for p in patients["patients"]} == {"LZ"}
    assert [s["site_code"] for s in patients["sites"]] == ["LZ"] and patients["total"]["patients"] == 4
    sites = get_json(client, "/api/reconciliation/sites", "bj-pharmacist")
    assert [s["site_code"] for s in sites["sites"]] == ["BJ"] and sites["total"]["received"] == 2
    assert sites["signatures"] == []  # on request only
    signed = get_json(client, "/api/reconciliation/sites?signatures=true", "bj-pharmacist")["signatures"]
    assert {(s["printed_name"], s["meaning"]) for s in signed} == {("Pharmacist BJ", "Received"),
                                                                   ("Pharmacist BJ", "Returned")}
    assert get_json(client, "/api/reconciliation/sites?site_code=BJ", "bj-pharmacist")["site_code"] == "BJ"
    headers = api_token(client, "lz-pharmacist")
    other = client.get("/api/reconciliation/sites?site_code=BJ", headers=headers)
    assert other.status_code == 404 and other.get_json()["code"] == "NOT_FOUND"
    assert client.get("/api/reconciliation/lots", headers=headers).status_code == 403
    text = client.get("/reports/reconciliation/patients.csv", headers=headers).get_data(as_text=True)
    rows = csv_tables(text)["Planned doses per patient"]
    assert {r["Subject"][:3] for r in rows} == {"LZ-"} and "BJ-0001" not in text
    assert client.get("/reports/reconciliation/patients.pdf?site_code=BJ", headers=headers).status_code == 404
    # the monitor may narrow to one site
    narrowed = get_json(client, "/api/reconciliation/patients?site_code=BJ")
    assert {p["site_code"] for p in narrowed["patients"]} == {"BJ"}


@pytest.mark.parametrize("user, report, status", [
    ("lab", "patients", 403), ("nurse", "sites", 403), ("lz-nurse", "sites", 403), ("lz-pharmacist", "lots", 403),
    ("lab", "lots", 200), ("qa", "discrepancies", 200), ("lz-nurse", "patients", 200), ("admin", "lots", 200),
])
def test_who_reads_which_report(client, clinic, user, report, status):
    from tests.conftest import make_user

    if user in ("admin", "nurse"):
        make_user(user, user, "LZ" if user == "nurse" else None)
    headers = api_token(client, user)
    assert client.get(f"/api/reconciliation/{report}", headers=headers).status_code == status
    assert client.get(f"/reports/reconciliation/{report}.csv", headers=headers).status_code == status


def test_without_login_and_unknown_names(client, clinic):
    assert client.get("/api/reconciliation/sites").status_code == 401
    assert client.get("/reports/reconciliation/sites.csv").status_code == 302  # to the login page
    headers = api_token(client, "monitor")
    assert client.get("/reports/reconciliation/nothing.csv", headers=headers).status_code == 404
    assert client.get("/api/reconciliation/patients?limit=0", headers=headers).status_code == 422
    assert client.get("/api/reconciliation/discrepancies?code=NOPE", headers=headers).status_code == 422
    assert client.get("/reports/reconciliation/discrepancies.csv?code=NOPE", headers=headers).status_code == 422
    assert client.get("/api/reconciliation/sites?site_code=XX", headers=headers).status_code == 404


def test_statement_count_is_the_same_at_10_and_100_patients(client, clinic):
    """Each report costs the same number of statements whatever the size of the trial."""
    from tests.factories import doses_at_site

    balanced_trial(clinic)
    for _ in range(3):
        enrol("LZ")
    headers = {"monitor": api_token(client, "monitor"), "lz-pharmacist": api_token(client, "lz-pharmacist")}

    def counts():
        measured = {}
        for user, token in headers.items():
            for report in REPORTS:
                if user == "lz-pharmacist" and report == "lots":
                    continue
                for path in (f"/api/reconciliation/{report}", f"/reports/reconciliation/{report}.csv"):
                    with StatementCounter() as counter:
                        response = client.get(path, headers=token)
                        assert response.status_code == 200
                        response.get_data()  # a download runs its statements as it is read
                    measured[(user, path)] = len(counter)
        return measured

    few = counts()
    doses_at_site(clinic, "LZ", count=6, lot_number="L-MORE")
    doses_at_site(clinic, "BJ", count=4, lot_number="L-MORE-BJ")
    for n in range(80):
        enrol("LZ" if n % 2 else "BJ", arm="control" if n % 5 == 0 else "msc", days_ago=n * 3)
    assert get_json(client, "/api/reconciliation/patients")["total_patients"] == 100
    assert counts() == few


@pytest.mark.parametrize("report", REPORTS)
def test_csv_downloads_are_streamed(client, balanced, report):
    """The header block goes out before the report's statements run; the rows follow as the
    database yields them, and the streamed file is the whole report."""
    headers = api_token(client, "monitor")
    response = client.get(f"/reports/reconciliation/{report}.csv", headers=headers)
    assert response.status_code == 200 and response.is_streamed
    chunks = iter(response.response)
    with StatementCounter() as counter:
        first = next(chunks).decode("utf-8")
    assert first == "\ufeff" and len(counter) == 0
    with StatementCounter() as counter:
        header = next(chunks).decode("utf-8")
    assert header.startswith("Reconciliation") and '\r\nPrinted by,"Mona Monitor' in header
    assert len(counter) == 0
    with StatementCounter() as counter:
        rest = b"".join(chunks).decode("utf-8")
    assert len(counter) > 0
    response.close()
    again = client.get(f"/reports/reconciliation/{report}.csv", headers=headers).get_data(as_text=True)
    assert rest.startswith("\r\n") and csv_tables(header + rest) == csv_tables(again) != {}
