"""A scanned dose is named by where it is (its code, lot, the shipment it last travelled in,
whether the reader's site has it), and a receipt's stray scans by what they look like: the
words a scan screen shows instead of a payload."""
from cell_chain.accounts.services import user_by_username
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.shipments import services
from cell_chain.shipments.scan_words import unexpected_words
from tests.conftest import PASSWORD, api_token
from tests.factories import shippable_doses, signed
from tests.shipments.conftest import dispatched, scan_of


def test_the_scan_answer_names_the_doses_lot_shipment_and_site(sites, staff, client):
    received_dose, travelling, at_lab = shippable_doses(staff, count=3, lot_number="UC-2026-901")
    arrived = dispatched(staff, [received_dose])
    services.receive(arrived, scans=[scan_of(received_dose)], seal_intact=True, signature=signed(PASSWORD),
                     actor=user_by_username("lz-pharmacist"), now=utcnow())
    on_the_way = dispatched(staff, [travelling])
    db.session.commit()
    pharmacist = api_token(client, "lz-pharmacist")

    def scan(dose):
        return client.get("/api/scan", headers=pharmacist, query_string={"payload": scan_of(dose)}).get_json()

    here = scan(received_dose)
    assert (here["dose_code"], here["lot_number"], here["shipment_code"], here["at_this_site"]) == (
        received_dose.code, "UC-2026-901", arrived.code, True)
    coming = scan(travelling)
    assert (coming["shipment_code"], coming["at_this_site"]) == (on_the_way.code, False)
    lab_only = scan(at_lab)
    assert (lab_only["shipment_code"], lab_only["at_this_site"]) == (None, False)
    central = client.get("/api/scan", headers=api_token(client, "lab"), query_string={"payload": scan_of(at_lab)})
    assert central.get_json()["at_this_site"] is None
    bj = client.get("/api/scan", headers=api_token(client, "bj-pharmacist"), query_string={"payload": scan_of(at_lab)})
    assert bj.status_code == 404  # another site's dose stays unnamed to BJ


def test_unexpected_items_of_a_receipt_read_in_words(app):
    with app.test_request_context():
        assert unexpected_words("A999926000123-000004") == "Dose A999926000123-000004"
        assert unexpected_words("LZ-0001") == "Wristband of patient LZ-0001"
        assert unexpected_words("SHP-LZ-8DE4EF") == "Shipment label SHP-LZ-8DE4EF"
        assert unexpected_words("HELLO 12345") == "Not a label we print"
        assert unexpected_words("=+06000=A99992600012300garbage") == "Not a label we print"
        assert unexpected_words("=+03000&/CHA999926000001=A99992600000200=<YA001VAa") == \
            "A dose label this pharmacy does not know"
