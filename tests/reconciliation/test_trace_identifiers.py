"""Every identifier the screens show, as people type it, reads as one identifier: the trace's
one normaliser (no query), and the form finding each of them on both databases."""
from datetime import timedelta

import pytest

from cell_chain.core.clock import utcnow
from cell_chain.core.errors import ValidationFailed
from cell_chain.core.isbt128 import mod37_2_check
from cell_chain.reconciliation import trace
from cell_chain.reconciliation.trace_identifiers import normalise_identifier
from tests.conftest import login
from tests.reconciliation.trace_history import History, donor_history, hospitals

DIN = "A999926000123"


@pytest.fixture
def history(app, staff) -> History:
    hospitals()
    return donor_history(staff, utcnow() - timedelta(hours=2))


@pytest.mark.parametrize("typed, kind, key", [
    ("LZ-0001", "subject", "LZ-0001"), ("lz-0001", "subject", "LZ-0001"), (" LZ 0001 ", "subject", "LZ-0001"),
    ("lz_0001", "subject", "LZ-0001"), ("LZ0001", "subject", "LZ-0001"), ("lz\u3000-\u30000001", "subject", "LZ-0001"),
    (f"{DIN}-000004", "dose", f"{DIN}-000004"), (f"{DIN.lower()}-000004", "dose", f"{DIN}-000004"),
    (f" {DIN[:5]} {DIN[5:7]} {DIN[7:]} - 000004 ", "dose", f"{DIN}-000004"),
    (DIN, "din", DIN), (DIN.lower(), "din", DIN), (f"{DIN[:5]} {DIN[5:7]} {DIN[7:]}", "din", DIN),
    (f"{DIN[:5]} {DIN[5:7]} {DIN[7:]} {mod37_2_check(DIN)}", "din", DIN), (f"{DIN}[{mod37_2_check(DIN)}]", "din", DIN),
    (f"={DIN}00", "din", DIN),
    ("UC-2026-201", "name", "UC-2026-201"), ("uc-2026-201", "name", "UC-2026-201"), ("d-001", "name", "D-001"),
])
def test_each_identifier_in_any_case_or_spacing_reads_as_one(typed, kind, key):
    found = normalise_identifier(typed)
    assert (found.kind, found.key) == (kind, key)


def test_a_name_is_tried_as_typed_with_hyphens_and_without_spaces():
    assert normalise_identifier(" uc 2026  201 ").spellings == ("UC 2026 201", "UC-2026-201", "UC2026201")


def test_a_scanned_label_is_kept_exactly():
    payload = "=+06000=A99992600012300"
    assert normalise_identifier(f"{payload}\r\n") == normalise_identifier(payload)
    assert normalise_identifier(payload).kind == "scan" and normalise_identifier(payload).key == payload


@pytest.mark.parametrize("bad", ["", "   ", None, 12, "x" * 201, ["LZ-0001"]])
def test_empty_or_garbage_is_refused(bad):
    with pytest.raises(ValidationFailed):
        normalise_identifier(bad)


def test_a_wrong_check_character_is_named():
    wrong = "Z" if mod37_2_check(DIN) != "Z" else "Y"
    with pytest.raises(ValidationFailed) as refused:
        normalise_identifier(f"{DIN[:5]} {DIN[5:7]} {DIN[7:]} {wrong}")
    assert "check character" in refused.value.extra["errors"]["q"][0]


def test_subject_ids_with_spaces_read_on_the_api_too():
    assert trace.parse_subject_id(" lz 0042 ") == "LZ-0042"


def test_the_form_finds_every_identifier_whatever_its_case_or_spacing(client, history):
    login(client, "monitor")
    h = history
    lot = h.second
    dose = lot.doses[0]
    donor_din = h.donor.din
    cases = {
        lot.lot_number.lower(): lot.din,
        f" {lot.lot_number.replace('-', ' ')} ": lot.din,
        dose.code.lower(): lot.din,
        h.donor.donor_code.lower(): donor_din,
        donor_din.lower(): donor_din,
    }
    for entry, din in cases.items():
        response = client.get("/trace", query_string={"q": entry})
        assert response.status_code == 302, entry
        assert response.headers["Location"].endswith(f"/trace/donors/{din}"), entry
    subject = h.lz_given.subject_id
    spaced = client.get("/trace", query_string={"q": f" {subject.lower().replace('-', ' ')} "})
    assert spaced.headers["Location"].endswith(f"/trace/patients/{subject}")


def test_nothing_matching_is_said_in_words(client, history):
    login(client, "monitor")
    for entry in ("UC-2099-999", "LZ-9999", "A999926999999-000001"):
        response = client.get("/trace", query_string={"q": entry})
        assert response.status_code == 422, entry
        page = response.get_data(as_text=True)
        assert "Nothing in cell-chain matches" in page and "There is a problem" in page, entry
