"""Trace for recall and lookback: forward from a donor, backward from a patient, as JSON, as
pages and as CSV/PDF, scoped to the caller's site, in a fixed number of statements."""
import csv
import io
import re
from datetime import timedelta

import pypdfium2
import pytest

from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.core.errors import NotFound, ValidationFailed
from cell_chain.core.isbt128 import mod37_2_check
from cell_chain.labels.payloads import bag_payloads
from cell_chain.reconciliation import trace
from cell_chain.shipments import custody
from tests.conftest import api_token, login, make_user
from tests.factories import make_donor, make_lot
from tests.reconciliation.conftest import REPORTS, StatementCounter
from tests.reconciliation.trace_history import RECALL_REASON, History, donor_history, hospitals, patient_with, ship, user


@pytest.fixture
def history(app, staff) -> History:
    hospitals()
    return donor_history(staff, utcnow() - timedelta(hours=2))


def _doses(body: dict) -> dict[str, dict]:
    return {d["code"]: d for lot in body["lots"] for d in lot["doses"]}


# ---- forward ----------------------------------------------------------------------------------

def test_forward_trace_follows_each_dose_to_its_place_or_patient(client, history):
    h = history
    response = client.get(f"/api/trace/donors/{h.donor.din}", headers=api_token(client, "monitor"))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["din"] == h.donor.din and body["matched"] == "donor"
    assert body["donor"] == {"donor_code": "D-TRACE", "din": h.donor.din, "din_check": mod37_2_check(h.donor.din),
                             "collected_on": h.donor.collected_on.isoformat(), "status": "eligible"}
    assert [s["meaning"] for s in body["signatures"]] == ["Eligibility determined"]
    assert [lot["lot_number"] for lot in body["lots"]] == ["L-T1", "L-T2"]
    first, second = body["lots"]
    assert first["status"] == "recalled" and first["recalled"] is True and first["recall_reason"] == RECALL_REASON
    assert first["recalled_at"].startswith(h.recalled_at.isoformat()[:19])
    assert [s["meaning"] for s in first["signatures"]] == ["Released", "Recalled"]
    assert {s["printed_name"] for s in first["signatures"]} == {"Qian QA"}
    assert second["status"] == "released" and second["recalled"] is False and second["recall_reason"] is None

    doses = _doses(body)
    given = doses[h.given.code]
    assert given["status"] == "administered" and given["custodian"] == f"patient:{h.lz_given.subject_id}"
    assert given["custody_unbroken"] is True
    assert given["patient"]["subject_id"] == h.lz_given.subject_id and given["patient"]["site_code"] == "LZ"
    assert given["patient"]["visit"] == 1 and given["patient"]["coi"] == h.infusion.coi
    assert given["patient"]["administered_at"].startswith((h.now - timedelta(minutes=40)).isoformat()[:19])
    assert given["patient"]["volume_ml"] == 40.0 and given["patient"]["partial"] is False
    assert [s["meaning"] for s in given["signatures"]] == ["Administered", "Witnessed"]

    travelling = doses[h.travelling.code]
    assert travelling["status"] == "quarantined"  # the recall reached it with the courier
    assert travelling["custodian"] == "courier:ColdChain" and travelling["location"] == "In transit: courier ColdChain"
    assert travelling["patient"]["subject_id"] == h.bj_waiting.subject_id
    assert travelling["patient"]["administered_at"] is None

    destroyed = doses[h.destroyed.code]
    assert destroyed["status"] == "destroyed" and destroyed["custodian"] == "destroyed:LZ"
    assert destroyed["location"] == "Destroyed at LZ"
    assert [s["meaning"] for s in destroyed["signatures"]] == ["Destroyed", "Witnessed"]

    stocked = doses[h.stocked.code]
    assert stocked["status"] == "received" and stocked["location"] == "BJ site pharmacy"
    assert stocked["patient"]["subject_id"] == h.bj_stocked.subject_id
    at_lab = doses[h.at_lab.code]
    assert at_lab["custodian"] == "lab:A9999" and at_lab["patient"] is None and at_lab["status"] == "available"
    # lookback: who was given a dose of this donor
    assert body["patients"] == [h.lz_given.subject_id]


def test_trace_uses_the_custody_rules(history):
    """Each dose's custodian and chain check are what shipments.custody says for it alone."""
    found = trace.trace_donor(history.donor.din, actor=user("monitor"))
    doses = {d.code: d for d in found.doses}
    assert len(doses) == 5
    for dose in (history.given, history.travelling, history.destroyed, history.stocked, history.at_lab):
        assert doses[dose.code].custodian == custody.current_custodian(dose)
        assert doses[dose.code].custody_unbroken == custody.custody_view(dose)[1]


def test_recall_lookback_names_the_patients_the_trace_finds(history):
    assert history.recall.affected_patients == [history.lz_given.subject_id]
    found = trace.trace_donor(history.first.din, actor=user("monitor"))
    exposed = sorted({d.patient.subject_id for lot in found.lots if lot.recalled for d in lot.doses
                      if d.patient and d.patient.administered_at})
    assert exposed == history.recall.affected_patients


def test_a_lots_din_finds_its_donor(client, history):
    body = client.get(f"/api/trace/donors/{history.second.din}", headers=api_token(client, "qa")).get_json()
    assert body["matched"] == "lot" and body["din"] == history.second.din
    assert body["donor"]["din"] == history.donor.din and len(body["lots"]) == 2


@pytest.mark.parametrize("shape", ["eye", "eye_check", "payload", "compact_check", "lower"])
def test_dins_as_people_and_scanners_give_them(history, shape):
    din = history.donor.din
    given = {"eye": f"{din[:5]} {din[5:7]} {din[7:]}", "eye_check": f"{din[:5]} {din[5:7]} {din[7:]} {mod37_2_check(din)}",
             "payload": f"={din}00", "compact_check": f"{din}[{mod37_2_check(din)}]", "lower": din.lower()}[shape]
    assert trace.parse_din(given) == din


def wrong_check(din: str) -> str:
    return "Z" if mod37_2_check(din) != "Z" else "Y"


@pytest.mark.parametrize("bad", ["", "XYZ", "A9999", "O999926000001", "A99992600000100X", "=A999926000001",
                                 f"A9999 26 000001 {wrong_check('A999926000001')}", "x" * 500, "A999926000001;DROP",
                                 None, 12])
def test_malformed_dins_are_refused(bad):
    with pytest.raises(ValidationFailed):
        trace.parse_din(bad)


def test_unknown_and_malformed_answer_404_and_422(client, history):
    headers = api_token(client, "monitor")
    unknown = client.get("/api/trace/donors/A999926999999", headers=headers)
    assert unknown.status_code == 404 and unknown.get_json()["code"] == "NOT_FOUND"
    malformed = client.get("/api/trace/donors/not-a-din", headers=headers)
    assert malformed.status_code == 422 and malformed.mimetype == "application/problem+json"
    assert malformed.get_json()["code"] == "VALIDATION_ERROR" and "din" in malformed.get_json()["errors"]
    bad_check = client.get(f"/api/trace/donors/{history.donor.din}{wrong_check(history.donor.din)}",
                             headers=headers)
    assert bad_check.status_code == 422
    assert client.get("/api/trace/patients/LZ-9999", headers=headers).status_code == 404
    bad_subject = client.get("/api/trace/patients/no%20such%20thing", headers=headers)
    assert bad_subject.status_code == 422 and "subject_id" in bad_subject.get_json()["errors"]


def test_site_staff_see_only_their_sites_doses(client, history, staff):
    h = history
    lz = client.get(f"/api/trace/donors/{h.donor.din}", headers=api_token(client, "lz-pharmacist")).get_json()
    assert [lot["lot_number"] for lot in lz["lots"]] == ["L-T1"]
    assert set(_doses(lz)) == {h.given.code, h.destroyed.code}
    bj = client.get(f"/api/trace/donors/{h.donor.din}", headers=api_token(client, "bj-coordinator")).get_json()
    assert set(_doses(bj)) == {h.travelling.code, h.stocked.code} and bj["patients"] == []
    # a donor none of whose doses went to the site's patients is not revealed
    other = make_lot(staff, make_donor(staff, "D-ELSEWHERE"), "L-ELSE", doses=1)
    lz_headers = api_token(client, "lz-coordinator")
    assert client.get(f"/api/trace/donors/{other.donor.din}", headers=lz_headers).status_code == 404
    assert client.get(f"/api/trace/donors/{other.din}", headers=api_token(client, "monitor")).status_code == 200


def test_who_may_trace(client, history):
    din = history.donor.din
    for role in ("qa", "lab", "monitor"):
        assert client.get(f"/api/trace/donors/{din}", headers=api_token(client, role)).status_code == 200
    make_user("admin", "admin")
    assert client.get(f"/api/trace/donors/{din}", headers=api_token(client, "admin")).status_code == 200
    nurse = client.get(f"/api/trace/donors/{din}", headers=api_token(client, "lz-nurse"))
    assert nurse.status_code == 403 and nurse.get_json()["code"] == "FORBIDDEN"
    assert client.get(f"/api/trace/patients/{history.lz_given.subject_id}",
                      headers=api_token(client, "lz-nurse")).status_code == 403
    assert client.get(f"/api/trace/donors/{din}").status_code == 401


# ---- backward ---------------------------------------------------------------------------------

def test_backward_trace_from_a_patient_to_lots_and_donors_with_recall_status(client, history):
    h = history
    body = client.get(f"/api/trace/patients/{h.lz_given.subject_id}", headers=api_token(client, "monitor")).get_json()
    assert body["subject_id"] == h.lz_given.subject_id and body["site_code"] == "LZ" and body["arm"] == "msc"
    [dose] = body["doses"]
    assert dose["code"] == h.given.code and dose["visit"] == 1 and dose["status"] == "administered"
    assert dose["administered_at"] is not None and dose["volume_ml"] == 40.0 and dose["lookback"] is True
    assert dose["lot"]["lot_number"] == "L-T1" and dose["lot"]["recalled"] is True
    assert dose["lot"]["recall_reason"] == RECALL_REASON and dose["lot"]["recalled_at"] is not None
    assert dose["donor"]["din"] == h.donor.din and dose["donor"]["donor_code"] == "D-TRACE"
    assert [s["meaning"] for s in dose["signatures"]] == ["Administered", "Witnessed"]
    assert {s["printed_name"] for s in dose["signatures"]} == {"Nurse LZ", "Second Nurse LZ"}
    assert body["lookback_doses"] == [h.given.code]


def test_a_dose_allocated_but_not_given_is_not_a_lookback(client, history):
    body = client.get(f"/api/trace/patients/{history.bj_waiting.subject_id}",
                      headers=api_token(client, "bj-coordinator")).get_json()
    [dose] = body["doses"]
    assert dose["administered_at"] is None and dose["lot"]["recalled"] is True and dose["lookback"] is False
    assert dose["location"] == "In transit: courier ColdChain" and body["lookback_doses"] == []
    unrecalled = client.get(f"/api/trace/patients/{history.bj_stocked.subject_id}",
                            headers=api_token(client, "qa")).get_json()
    assert unrecalled["doses"][0]["lot"]["status"] == "released" and unrecalled["doses"][0]["lot"]["recalled_at"] is None


def test_another_sites_patient_answers_404(client, history):
    bj = api_token(client, "bj-coordinator")
    assert client.get(f"/api/trace/patients/{history.lz_given.subject_id}", headers=bj).status_code == 404
    assert client.get(f"/api/trace/patients/{history.bj_waiting.subject_id}", headers=bj).status_code == 200


def test_a_patient_with_no_doses_has_an_empty_trace(history):
    from cell_chain.patients.enrolment import enrol_patient

    control = enrol_patient(site_code="LZ", arm="control", enrolled_on=utcnow().date(), initials="CO",
                            birth_year=1970, actor=user("lz-coordinator"), now=utcnow())
    db.session.commit()
    found = trace.trace_patient(control.subject_id.lower(), actor=user("monitor"))
    assert found.doses == [] and found.arm == "control" and found.lookback_doses == []


# ---- set-based ----------------------------------------------------------------------------------

def test_statements_do_not_grow_with_lots_doses_and_events(history, staff):
    monitor = user("monitor")
    din, subject = history.donor.din, history.lz_given.subject_id
    # Counted: the transaction's BEGIN, reloading the (expired) actor, then the trace's own
    # statements: donor, lots, doses with their patients, custody events, signatures.
    with StatementCounter() as before:
        trace.trace_donor(din, actor=monitor)
    with StatementCounter() as patient_before:
        trace.trace_patient(subject, actor=monitor)
    now = history.now
    more = make_lot(staff, history.donor, "L-T3", doses=4, now=now)
    from cell_chain.batches import services as batches
    from tests.factories import signed

    batches.release_lot(more, signature=signed(), actor=staff.qa, now=now)
    for dose in more.doses:
        patient_with(dose, "LZ", now)
    ship(staff, "LZ", list(more.doses), now)
    db.session.commit()
    with StatementCounter() as after:
        found = trace.trace_donor(din, actor=monitor)
    assert len(found.doses) == 9 and len(found.lots) == 3
    assert len(after) == len(before) <= 7
    with StatementCounter() as patient_after:
        trace.trace_patient(subject, actor=monitor)
    assert len(patient_after) == len(patient_before) <= 7


# ---- the trace form, pages and files ----------------------------------------------------------

def test_trace_form_finds_what_is_typed_or_scanned(client, history):
    login(client, "monitor")
    assert client.get("/trace").status_code == 200
    h = history
    cases = {
        h.lz_given.subject_id.lower(): f"/trace/patients/{h.lz_given.subject_id}",
        f"{h.donor.din[:5]} {h.donor.din[5:7]} {h.donor.din[7:]} {mod37_2_check(h.donor.din)}": f"/trace/donors/{h.donor.din}",
        f"={h.second.din}00\r\n": f"/trace/donors/{h.second.din}",  # a DIN barcode with the scanner's Enter
        bag_payloads(h.stocked).compound: f"/trace/donors/{h.second.din}",  # a dose bag's Data Matrix
    }
    for entry, target in cases.items():
        response = client.get("/trace", query_string={"q": entry})
        assert response.status_code == 302, entry
        assert response.headers["Location"].endswith(target)
    for entry, message in (("", "Enter or scan"), ("hello", "Enter a DIN"), ("=+06000garbage", "not one of our dose labels"),
                           (f"{h.donor.din}{wrong_check(h.donor.din)}", "check character")):
        response = client.get("/trace", query_string={"q": entry})
        assert response.status_code == 422, entry
        page = response.get_data(as_text=True)
        assert "There is a problem" in page and message in page and 'href="#q"' in page


def test_donor_page_shows_the_tree_with_lookback(client, history):
    login(client, "monitor")
    page = client.get(f"/trace/donors/{history.donor.din}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for dose in (history.given, history.travelling, history.destroyed, history.stocked, history.at_lab):
        assert f'id="dose-{dose.code}"' in html
    assert "Lookback:" in html and history.lz_given.subject_id in html
    assert f'href="/trace/patients/{history.lz_given.subject_id}"' in html
    assert RECALL_REASON in html and "In transit: courier ColdChain" in html
    assert 'class="row-lookback"' in html
    assert f"/reports/trace/donors/{history.donor.din}.pdf" in html
    assert "style=" not in html  # CSP: no inline styles


def test_patient_page_links_back_to_the_donor(client, history):
    login(client, "lz-coordinator")
    html = client.get(f"/trace/patients/{history.lz_given.subject_id}").get_data(as_text=True)
    assert "Lookback:" in html and history.given.code in html
    assert f'href="/trace/donors/{history.donor.din}#lot-L-T1"' in html
    assert client.get(f"/trace/patients/{history.bj_waiting.subject_id}").status_code == 404


def test_trace_pages_need_a_login_and_a_role(client, history):
    response = client.get("/trace")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    login(client, "lz-nurse")
    assert client.get("/trace").status_code == 403


def test_trace_as_csv_and_pdf(app, client, history):
    h = history
    login(client, "monitor")
    response = client.get(f"/reports/trace/donors/{h.donor.din}.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert f'filename="trace-donor-{h.donor.din}-' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert rows[0] == ["Forward trace: donor D-TRACE to patients"]
    assert ["Printed by", "Mona Monitor (monitor, monitor)"] in rows
    dose_rows = {r[1]: r for r in rows if len(r) > 5 and r[1] in {d.code for d in h.first.doses + h.second.doses}}
    assert dose_rows[h.given.code][5] == h.lz_given.subject_id and dose_rows[h.given.code][3].startswith("In patient")
    assert dose_rows[h.travelling.code][2] == "quarantined"
    assert any(r[:2] == ["Qian QA", "Recalled"] for r in rows)

    pdf = client.get(f"/reports/trace/patients/{h.lz_given.subject_id}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    document = pypdfium2.PdfDocument(pdf.get_data())
    text = " ".join(" ".join(document[i].get_textpage().get_text_range().split()) for i in range(len(document)))
    document.close()
    assert f"Backward trace: patient {h.lz_given.subject_id} to donors" in text
    assert h.given.code in text and "LOOKBACK" in text and "Nurse LZ Administered" in text
    assert "Printed by Mona Monitor (monitor, monitor)" in text

    donor_pdf = client.get(f"/reports/trace/donors/{h.donor.din}.pdf")
    assert donor_pdf.status_code == 200
    document = pypdfium2.PdfDocument(donor_pdf.get_data())
    REPORTS.mkdir(parents=True, exist_ok=True)
    document[0].render(scale=150 / 72).to_pil().save(REPORTS / "trace-donor-page1.png")
    text = " ".join(document[0].get_textpage().get_text_range().split())
    document.close()
    assert "Forward trace: donor D-TRACE to patients" in text and h.travelling.code in text

    other = app.test_client()
    login(other, "bj-coordinator")
    assert other.get(f"/reports/trace/patients/{h.lz_given.subject_id}.pdf").status_code == 404
    assert other.get("/reports/trace/donors/garbage.csv").status_code == 422


def test_resolving_refuses_unknown_labels(history):
    with pytest.raises(ValidationFailed):
        trace.resolve_entry("   ")
    with pytest.raises(NotFound):
        trace.trace_donor("A999926999999", actor=user("monitor"))


# ---- query plans --------------------------------------------------------------------------------

WATCHED = ("doses", "allocations", "infusions", "visits")


def _explain(stmt, *, dialect: str) -> list[dict]:
    """The plan's reads of doses, allocations, infusions and visits:
    [{'relation', 'kind', 'indexed', 'index'}]."""
    from sqlalchemy import text

    sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
    if dialect == "sqlite":
        rows = db.session.execute(text(f"EXPLAIN QUERY PLAN {sql}")).all()
        found = []
        for row in rows:
            detail = row[-1]
            for relation in WATCHED:
                if re.match(rf"(SCAN|SEARCH) {relation}\b", detail):
                    found.append({"relation": relation, "kind": detail.split()[0],
                                  "indexed": detail.startswith("SEARCH"), "index": detail})
        return found
    db.session.execute(text("SET LOCAL enable_seqscan = off"))  # tiny tables: ask for the indexed plan
    [[plan]] = db.session.execute(text(f"EXPLAIN (FORMAT JSON) {sql}")).all()
    found = []

    def walk(node: dict) -> None:
        if node.get("Relation Name") in WATCHED:
            found.append({"relation": node["Relation Name"], "kind": node["Node Type"],
                          "indexed": "Index Cond" in node or "Recheck Cond" in node,
                          "index": node.get("Index Name")})
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    db.session.rollback()
    return found


def test_patient_trace_reads_only_its_doses_and_allocations_through_indexes(history, dialect):
    from sqlalchemy import and_, or_, select

    from cell_chain.batches.models import Dose
    from cell_chain.patients.models import Allocation, Visit
    from cell_chain.infusions.models import Infusion
    from cell_chain.reconciliation.rules import allocation_active

    patient = history.lz_given
    ids = trace.patient_dose_ids(patient.id)
    assert ids == [history.given.id]
    given = select(Infusion.dose_id).where(Infusion.patient_id == patient.id)
    allocated = (select(Allocation.dose_id).select_from(Visit)
                 .join(Allocation, and_(Allocation.visit_id == Visit.id, allocation_active()))
                 .where(Visit.patient_id == patient.id))
    for stmt in (trace.patient_doses_statement(ids), given, allocated):
        scans = _explain(stmt, dialect=dialect)
        assert scans and all(scan["indexed"] for scan in scans), scans
    if dialect == "postgresql":
        # The form it replaces, one OR of two IN (subquery) filters, reads every dose.
        old = select(Dose.id).where(or_(Dose.id.in_(given), Dose.id.in_(allocated)))
        assert not all(scan["indexed"] for scan in _explain(old, dialect=dialect))


def test_donor_trace_finds_active_allocations_through_the_partial_index(history, dialect):
    from sqlalchemy import and_, select

    from cell_chain.batches.models import Dose
    from cell_chain.patients.models import Allocation

    lot_ids = [history.first.id, history.second.id]
    scans = _explain(trace.donor_doses_statement(lot_ids, site_id=None), dialect=dialect)
    allocations = [scan for scan in scans if scan["relation"] == "allocations"]
    assert allocations and all(scan["indexed"] for scan in allocations), scans
    if dialect == "sqlite":
        assert all("uq_allocations_active_dose" in scan["index"] for scan in allocations), scans
        # "active = 1", how SQLite renders a boolean column, does not match the partial
        # index's own "WHERE active": the join with it reads every allocation.
        old = (select(Dose.id).select_from(Dose)
               .outerjoin(Allocation, and_(Allocation.dose_id == Dose.id, Allocation.active))
               .where(Dose.lot_id.in_(lot_ids)))
        old_scans = [s for s in _explain(old, dialect=dialect) if s["relation"] == "allocations"]
        assert not any("uq_allocations_active_dose" in scan["index"] for scan in old_scans), old_scans
