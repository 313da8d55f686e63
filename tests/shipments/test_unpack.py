"""A mis-packed dose taken out of a box before dispatch, on both databases: service, API and page."""
import json

import pytest
from sqlalchemy import select

from cell_chain.core.audit import AuditEvent
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.core.errors import ReasonRequired
from cell_chain.shipments import services
from cell_chain.shipments.errors import NotInShipment, ShipmentState
from cell_chain.shipments.models import ShipmentItem
from tests.conftest import api_token
from tests.factories import shippable_doses
from tests.pages import html, post, section, text
from tests.shipments.conftest import dispatched, new_shipment, packed, scan_of


def test_the_dose_comes_out_allocated_with_its_reason_audited_and_can_be_packed_again(sites, staff):
    first, second = shippable_doses(staff, count=2)
    shipment = packed(staff, [first, second])
    services.unpack_dose(shipment, dose_code=first.code.lower(), reason="Packed into the wrong box",
                         actor=staff.lab, now=utcnow())
    db.session.commit()
    db.session.expire_all()
    assert first.status == "allocated" and second.status == "packed"
    assert [i.dose.code for i in shipment.items] == [second.code] and shipment.status == "packed"
    removed = db.session.scalar(select(ShipmentItem).where(ShipmentItem.dose_id == first.id))
    assert removed.removed_at is not None and removed.removal_reason == "Packed into the wrong box"
    events = {e.action: e for e in db.session.scalars(select(AuditEvent).where(
        AuditEvent.action.in_(("shipment.dose_removed", "dose.unpacked"))))}
    assert set(events) == {"shipment.dose_removed", "dose.unpacked"}
    assert {e.reason for e in events.values()} == {"Packed into the wrong box"}
    assert json.loads(events["dose.unpacked"].changes)["status"] == ["packed", "allocated"]

    # The last dose out leaves a draft box; a removed dose may go back in.
    services.unpack_dose(shipment, dose_code=second.code, reason="Wrong box", actor=staff.lab, now=utcnow())
    db.session.commit()
    assert shipment.status == "draft" and shipment.items == []
    services.pack_dose(shipment, scan=scan_of(first), actor=staff.lab, now=utcnow())
    db.session.commit()
    db.session.expire_all()
    assert [i.dose.code for i in shipment.items] == [first.code] and first.status == "packed"


def test_refused_without_a_reason_for_a_dose_not_in_the_box_and_once_dispatched(sites, staff):
    inside, outside = shippable_doses(staff, count=2)
    shipment = packed(staff, [inside])
    with pytest.raises(ReasonRequired):
        services.unpack_dose(shipment, dose_code=inside.code, reason="  ", actor=staff.lab, now=utcnow())
    db.session.rollback()
    with pytest.raises(NotInShipment):
        services.unpack_dose(shipment, dose_code=outside.code, reason="x", actor=staff.lab, now=utcnow())
    db.session.rollback()
    gone = dispatched(staff, [outside])
    with pytest.raises(ShipmentState) as refused:
        services.unpack_dose(gone, dose_code=outside.code, reason="x", actor=staff.lab, now=utcnow())
    db.session.rollback()
    assert "only before the box is dispatched" in refused.value.detail
    db.session.expire_all()
    assert inside.status == "packed" and outside.status == "in_transit" and len(gone.items) == 1


def test_api_takes_a_dose_out_for_the_lab_only_and_answers_409_after_dispatch(sites, staff, client):
    [dose] = shippable_doses(staff)
    shipment = packed(staff, [dose])
    url = f"/api/shipments/{shipment.id}/unpack"
    body = {"dose_code": dose.code, "reason": "Wrong box"}
    assert client.post(url, headers=api_token(client, "lz-pharmacist"), json=body).status_code == 403
    assert client.post(url, headers=api_token(client, "lab"), json={"dose_code": dose.code}).status_code == 422
    r = client.post(url, headers=api_token(client, "lab"), json=body)
    assert r.status_code == 200 and r.get_json()["status"] == "draft" and r.get_json()["items"] == []
    [later] = shippable_doses(staff, lot_number="L-LATER")
    gone = dispatched(staff, [later])
    r = client.post(f"/api/shipments/{gone.id}/unpack", headers=api_token(client, "lab"),
                    json={"dose_code": later.code, "reason": "Too late"})
    assert r.status_code == 409 and r.get_json()["code"] == "SHIPMENT_STATE"


def test_the_shipment_page_offers_removal_on_a_box_not_yet_dispatched(as_user, staff):
    [dose] = shippable_doses(staff)
    shipment = packed(staff, [dose])
    lab = as_user("lab")
    page = html(lab.get(f"/shipments/{shipment.id}"))
    assert "Remove from box" in section(page, f"dose-{dose.code}")
    path = f"/shipments/{shipment.id}/doses/{dose.code}/remove"
    empty = post(lab, path, {"reason": ""}, token_from=path)
    assert empty.status_code == 422 and "Say why the dose comes out of the box" in text(html(empty))
    done = post(lab, path, {"reason": "Packed for the wrong site"}, token_from=path)
    assert done.status_code == 302
    page = html(lab.get(f"/shipments/{shipment.id}"))
    assert f"Dose {dose.code} taken out of shipment {shipment.code}" in text(page)
    assert "The box is empty" in text(page)


# ---- the box label from the shipment page ---------------------------------------------------------

def test_the_box_label_prints_from_the_shipment_page_as_pdf_or_zpl_recorded_as_a_print_job(as_user, staff):
    import pypdfium2
    import zxingcpp

    from cell_chain.labels.models import PrintJob

    [dose] = shippable_doses(staff)
    empty = new_shipment(staff)
    lab = as_user("lab")
    assert "Print box label" not in html(lab.get(f"/shipments/{empty.id}"))
    shipment = packed(staff, [dose])
    page = html(lab.get(f"/shipments/{shipment.id}"))
    assert "Print box label (PDF)" in section(page, "box-label")
    path = f"/shipments/{shipment.id}/box-label"
    pdf = post(lab, path, {"format": "pdf"}, token_from=f"/shipments/{shipment.id}")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    image = pypdfium2.PdfDocument(pdf.data)[0].render(scale=300 / 72).to_pil()
    assert shipment.code in {r.text for r in zxingcpp.read_barcodes(image, text_mode=zxingcpp.TextMode.Plain)}
    job = db.session.get(PrintJob, int(pdf.headers["X-Print-Job-Id"]))
    assert (job.kind, job.target, job.is_reprint) == ("shipment", str(shipment.id), False)
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "labels.printed",
                                                      AuditEvent.entity_id == str(job.id))) is not None

    # A second print is a reprint: it needs a reason, then comes as ZPL for the Zebra printer.
    page = html(lab.get(f"/shipments/{shipment.id}"))
    assert "Reprint box label (PDF)" in page
    refused = post(lab, path, {"format": "zpl"}, token_from=f"/shipments/{shipment.id}")
    assert refused.status_code == 422 and "give the reason for the reprint" in text(html(refused))
    zpl = post(lab, path, {"format": "zpl", "reason": "Label torn"}, token_from=f"/shipments/{shipment.id}")
    assert zpl.status_code == 200 and zpl.data.startswith(b"^XA") and shipment.code.encode() in zpl.data
    assert post(as_user("lz-pharmacist"), path, {"format": "pdf"}, token_from="/").status_code == 403
