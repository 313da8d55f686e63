"""Finding 8: site staff reading a lot see their own site's doses only, as with doses."""
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.patients.allocation import allocate_dose
from tests.conftest import api_token, login, make_site, make_user
from tests.factories import released_lot
from tests.infusions.conftest import coordinator, enrol
from tests.pages import statements_of


def _lot_shared_by_two_sites(staff):
    for code in ("LZ", "BJ"):
        make_site(code)
        make_user(f"{code.lower()}-coordinator", "coordinator", code)
    make_user("monitor", "monitor")
    lot = released_lot(staff, "L-SHARED", doses=3)
    ours, theirs, spare = lot.doses
    now = utcnow()
    allocate_dose(enrol("LZ").visits[0], dose=ours, actor=coordinator("LZ"), now=now)
    allocate_dose(enrol("BJ").visits[0], dose=theirs, actor=coordinator("BJ"), now=now)
    db.session.commit()
    return lot, ours.code, theirs.code, spare.code


def test_the_api_lists_only_the_sites_doses(app, client, staff):
    lot, ours, theirs, spare = _lot_shared_by_two_sites(staff)
    mine = client.get(f"/api/lots/{lot.id}", headers=api_token(client, "lz-coordinator"))
    assert mine.status_code == 200
    assert [d["code"] for d in mine.get_json()["doses"]] == [ours]
    everything = client.get(f"/api/lots/{lot.id}", headers=api_token(client, "monitor")).get_json()
    assert [d["code"] for d in everything["doses"]] == [ours, theirs, spare]


def test_the_lot_page_and_board_show_only_the_sites_doses(app, staff):
    lot, ours, theirs, spare = _lot_shared_by_two_sites(staff)
    page = app.test_client()
    login(page, "bj-coordinator")
    text = page.get(f"/lots/{lot.id}").get_data(as_text=True)
    assert theirs in text and ours not in text and spare not in text
    assert "Doses (1)" in text
    monitor = app.test_client()
    login(monitor, "monitor")
    text = monitor.get(f"/lots/{lot.id}").get_data(as_text=True)
    assert ours in text and theirs in text and spare in text


def _lot_with_one_dose_at_each_site(staff, number, doses):
    lot = released_lot(staff, number, doses=doses)
    now = utcnow()
    allocate_dose(enrol("LZ").visits[0], dose=lot.doses[0], actor=coordinator("LZ"), now=now)
    allocate_dose(enrol("BJ").visits[0], dose=lot.doses[1], actor=coordinator("BJ"), now=now)
    db.session.commit()
    return lot.id


def _statements_once_settled(request):
    """The statements of `request` run twice in a row, counted the second time: the first may
    record that the browser session was seen again (every 30 s), which is not the lot's cost."""
    request()
    return len(statements_of(request))


def test_site_staff_read_a_lot_in_as_many_statements_whatever_its_dose_count(app, client, staff):
    """The site of every dose is looked up at once (the lot page, the API and the board), not
    one query per dose."""
    _lot_shared_by_two_sites(staff)
    small = _lot_with_one_dose_at_each_site(staff, "L-FIVE", 5)
    token = api_token(client, "lz-coordinator")
    page = app.test_client()
    login(page, "lz-coordinator")
    board = _statements_once_settled(lambda: page.get("/lots"))
    large = _lot_with_one_dose_at_each_site(staff, "L-FORTY", 40)
    assert _statements_once_settled(lambda: page.get("/lots")) == board
    for read in (lambda lot: page.get(f"/lots/{lot}"),
                 lambda lot: client.get(f"/api/lots/{lot}", headers=token)):
        assert (_statements_once_settled(lambda: read(large))
                == _statements_once_settled(lambda: read(small)))
    shown = client.get(f"/api/lots/{large}", headers=token).get_json()["doses"]
    assert len(shown) == 1
