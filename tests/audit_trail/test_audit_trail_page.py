"""The audit trail page: filters by record, person, action and local dates; fixed-size pages
in sequence order with constant statements; ids named in words; garbage filters refused with
the form's errors; the filtered trail as CSV and PDF."""
import csv
import io
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pypdfium2
import pytest
from sqlalchemy import func, select, update

from cell_chain.accounts.models import User
from cell_chain.audit_trail.queries import PAGE_SIZE, record_spellings
from cell_chain.audit_trail.words import action_words
from cell_chain.core.audit import AuditEvent
from cell_chain.core.db import db
from cell_chain.web.words import N_
from tests.conftest import login, make_site, make_user
from tests.factories import shippable_doses
from tests.pages import logged_in, statements_of


@pytest.fixture
def trail(app, staff):
    """Two lots of allocated LZ doses (lab, QA, coordinator acting) and a monitor reading."""
    make_site("LZ")
    make_user("lz-coordinator", "coordinator", "LZ", name="Cui Coordinator")
    make_user("monitor", "monitor", name="Mo Monitor")
    # The monitor's own choice of zone (a preference, not GMP data, set as the tests do).
    db.session.execute(update(User).where(User.username == "monitor").values(time_zone="Asia/Shanghai"))
    make_user("lz-nurse", "nurse", "LZ", name="Nina Nurse")
    first = shippable_doses(staff, "LZ", count=2, lot_number="UC-2026-501")
    second = shippable_doses(staff, "LZ", count=1, lot_number="UC-2026-502")
    db.session.commit()
    return {"dose": first[0].code, "other": second[0].code, "subject": None,
            "total": db.session.scalar(select(func.count()).select_from(AuditEvent))}


def _words(html: str) -> str:
    """The page's text as read, without its markup."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def _page(client, **args):
    return client.get("/audit", query_string=args)


def test_the_page_names_actions_records_and_people_in_words(client, trail):
    login(client, "monitor")
    page = _page(client).get_data(as_text=True)
    assert "Signature: Released" in page and "Lot released" in page
    assert f"Dose {trail['other']}" in _words(page)
    assert "Qian QA (qa)" in page and "Cui Coordinator (coordinator)" in page
    assert "signature.created" not in page.split("<select id=\"action\"")[0]
    assert "dose_id" not in page and "patient_id" not in page


def test_filter_by_record_in_any_case_shows_only_that_doses_history(client, trail):
    login(client, "monitor")
    page = _page(client, record=f"  {trail['dose'].lower()} ").get_data(as_text=True)
    assert f"Dose {trail['dose']}" in _words(page)
    assert trail["other"] not in page.split('id="audit-events"')[1]
    assert "Dose allocated" in page  # the dose's own events
    lot = _page(client, record="uc 2026 502").get_data(as_text=True)
    assert "Lot UC-2026-502" in _words(lot) and "Lot UC-2026-501" not in lot.split('id="audit-events"')[1]


def test_filter_by_person_and_action(client, trail):
    login(client, "monitor")
    page = _page(client, person="qa").get_data(as_text=True)
    rows = page.split('id="audit-events"')[1]
    assert "Qian QA (qa)" in rows and "Li Lab (lab)" not in rows.split("<tbody>")[1]
    released = _page(client, action="lot.released").get_data(as_text=True)
    assert "Events 1–2 of 2" in released


def test_dates_are_the_readers_local_days(client, trail):
    login(client, "monitor")  # reads in Asia/Shanghai
    newest = db.session.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))
    local_day = newest.occurred_at.astimezone(ZoneInfo("Asia/Shanghai")).date()
    same_day = _page(client, **{"from": local_day.isoformat(), "to": local_day.isoformat()}).get_data(as_text=True)
    assert f'id="event-{newest.seq}"' in same_day
    day_before = _page(client, to=(local_day - timedelta(days=1)).isoformat()).get_data(as_text=True)
    assert f'id="event-{newest.seq}"' not in day_before
    future = _page(client, **{"from": (local_day + timedelta(days=1)).isoformat()}).get_data(as_text=True)
    assert "No event matches these filters." in future
    assert "(CST)" in same_day or "Asia/Shanghai" in same_day or "UTC+8" in same_day


def test_pages_are_a_fixed_size_in_sequence_order_with_counts(client, trail):
    login(client, "monitor")
    total = trail["total"]
    assert total > PAGE_SIZE
    first = _page(client).get_data(as_text=True)
    assert f"Events 1–{PAGE_SIZE} of {total}" in first
    assert f'id="event-{total}"' in first and f'id="event-{total - PAGE_SIZE}"' not in first
    second = _page(client, page=2).get_data(as_text=True)
    assert f"Events {PAGE_SIZE + 1}–" in second and f'id="event-{total - PAGE_SIZE}"' in second
    assert 'rel="prev"' in second and "Page 2 of" in second


def test_statements_do_not_grow_with_the_page_size(app, client, trail, monkeypatch):
    login(client, "monitor")
    import cell_chain.audit_trail.queries as queries

    monkeypatch.setattr(queries, "PAGE_SIZE", 5)
    few = statements_of(lambda: _page(client))
    monkeypatch.setattr(queries, "PAGE_SIZE", 60)
    many = statements_of(lambda: _page(client))
    assert "Events 1–60 of" in _page(client).get_data(as_text=True)
    assert len(few) == len(many)
    filtered = statements_of(lambda: _page(client, record=trail["dose"], person="lz-coordinator"))
    assert len(filtered) <= len(many) + 1  # the record's lookup


@pytest.mark.parametrize("args, field", [
    ({"from": "yesterday"}, "from"), ({"to": "2026-13-45"}, "to"), ({"from": "2026-12-05", "to": "2026-12-01"}, "to"),
    ({"person": "nobody-at-all"}, "person"), ({"action": "'; DROP TABLE audit_events; --"}, "action"),
    ({"page": "-1"}, "page"), ({"page": "99999999999"}, "page"), ({"record": "x" * 500}, "record"),
    ({"from": "2026-02-30"}, "from")])
def test_garbage_filters_answer_422_with_the_forms_error_and_change_nothing(client, trail, args, field):
    login(client, "monitor")
    before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    response = _page(client, **args)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "There is a problem" in page and f'href="#{field}"' in page
    assert client.get("/audit.csv", query_string=args).status_code == 422
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_an_unknown_record_is_said_in_words(client, trail):
    login(client, "monitor")
    page = _page(client, record="NO-SUCH-THING").get_data(as_text=True)
    assert "No dose, lot, subject, shipment or donor is called “NO-SUCH-THING”" in page


def test_who_may_read_the_audit_trail(app, trail):
    for username in ("lab", "lz-coordinator", "lz-nurse"):
        reader = logged_in(app, username)
        assert _page(reader).status_code == 403, username
        assert reader.get("/audit.csv").status_code == 403
        assert reader.get("/audit.pdf").status_code == 403
    assert _page(logged_in(app, "qa")).status_code == 200
    assert app.test_client().get("/audit.csv").status_code in (302, 401)


def test_csv_of_the_filtered_trail_is_streamed_with_its_rows_in_words(client, trail):
    login(client, "monitor")
    response = client.get("/audit.csv", query_string={"record": trail["dose"].lower()})
    assert response.status_code == 200 and response.mimetype == "text/csv" and response.is_streamed
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["Audit trail"]
    assert any(r[:2] == ["Note", f"Filters: record {trail['dose'].lower()}."] for r in rows)
    header = next(i for i, r in enumerate(rows) if r[:1] == ["#"])
    assert rows[header] == ["#", "When (Asia/Shanghai)", "When (UTC)", "Who", "What", "Record", "Changes", "Reason",
                            "Signature meaning"]
    events = [r for r in rows[header + 1:] if r]
    page = _page(client, record=trail["dose"]).get_data(as_text=True)
    assert len(events) == int(re.search(r"Events 1–\d+ of (\d+)", page)[1])
    assert all(trail["other"] not in " ".join(r) for r in events)
    assert any(r[4] == "Dose allocated" and r[5] == f"Dose {trail['dose']}" for r in events)


def test_pdf_states_the_filters_zone_and_printer(client, trail):
    login(client, "monitor")
    response = client.get("/audit.pdf", query_string={"person": "qa"})
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    pdf = pypdfium2.PdfDocument(response.data)
    text = "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    assert "Qian QA (qa)" in text and "Mo Monitor" in text and "Asia/Shanghai" in text
    assert f"1 of {len(pdf)}" in text.replace("\r", "")


def test_record_spellings_cover_case_and_spacing():
    assert "LZ-0001" in record_spellings(" lz 0001 ")
    assert "UC-2026-501" in record_spellings("uc 2026 501")
    assert record_spellings("UC-2026-501")[0] == "UC-2026-501"


def test_action_words(app):
    with app.test_request_context():
        assert action_words("signature.created", {"meaning": [None, "Released"]}) == "Signature: Released"
        assert action_words("dose.dispensed") == "Dose dispensed"
        assert action_words("something.new_here") == "Something: new here"
        assert N_("x") == "x"
