"""The FHIR R5 API: every resource served parses and validates with the fhir.resources R5
models; $everything links an infusion to its product and its signatures; site scoping and
errors as on /api, in FHIR's own terms."""
from typing import Any

import pytest
from fhir.resources import get_fhir_model_class
from fhir.resources.bundle import Bundle
from sqlalchemy import select

from cell_chain.core.db import db
from cell_chain.exchange import fhir
from cell_chain.infusions.models import Infusion
from tests.conftest import api_token
from tests.exchange.conftest import get
from tests.reconciliation.conftest import subject_of

FHIR_JSON = "application/fhir+json"


def resource(response: Any, resource_type: str) -> Any:
    """The response's resource, parsed and validated by its R5 model."""
    assert response.mimetype == FHIR_JSON, (response.status_code, response.mimetype)
    body = response.get_json()
    assert body["resourceType"] == resource_type, body
    model = get_fhir_model_class(resource_type).model_validate(body)
    # The model round-trips the document exactly: no element was dropped or invented.
    assert model.model_dump(mode="json", exclude_none=True) == body
    return model


def entries(bundle: Bundle) -> dict[str, Any]:
    """Bundle entries by `Type/id`, each validated again through its own R5 model."""
    found = {}
    for entry in bundle.entry or []:
        body = entry.resource.model_dump(mode="json", exclude_none=True)
        get_fhir_model_class(body["resourceType"]).model_validate(body)
        key = f"{body['resourceType']}/{body['id']}"
        assert entry.fullUrl.endswith("/fhir/" + key)
        assert key not in found, f"{key} twice"
        found[key] = entry.resource
    return found


def everything(client: Any, subject_id: str, user: str = "monitor") -> dict[str, Any]:
    response = get(client, f"/fhir/Patient/{subject_id}/$everything", user)
    assert response.status_code == 200, response.get_json()
    bundle = resource(response, "Bundle")
    assert bundle.type == "searchset" and bundle.total == 1
    return entries(bundle)


def test_everything_leads_from_the_procedure_to_the_product_and_both_signatures(client, trial):
    given = trial["given"]
    found = everything(client, subject_of(given))
    procedures = [r for key, r in found.items() if key.startswith("Procedure/")]
    assert len(procedures) == 1
    procedure = procedures[0]
    assert procedure.status == "completed" and procedure.subject.reference == f"Patient/{subject_of(given)}"
    [used] = procedure.used
    product = found[used.reference.reference]  # resolves inside the bundle
    assert product.get_resource_type() == "BiologicallyDerivedProduct" and product.id == given.code
    din = [i.value for i in product.identifier if i.system == fhir.ISBT128_DIN]
    assert din == [given.lot.din]
    assert product.productStatus.code == "used"
    infusion = db.session.scalar(select(Infusion).where(Infusion.dose_id == given.id))
    assert procedure.occurrencePeriod.start == infusion.started_at
    assert procedure.occurrencePeriod.end == infusion.ended_at
    performers = {p.function.text: p.actor.display for p in procedure.performer}
    assert performers == {"Administering nurse": "Nurse LZ", "Witness": "Second Nurse LZ"}
    assert procedure.outcome.text.startswith("Tolerance grade 1")
    signed = [r for r in found.values() if r.get_resource_type() == "Provenance"
              and r.target[0].reference == f"Procedure/{procedure.id}"]
    by_meaning = {p.activity.text: p for p in signed}
    assert set(by_meaning) == {"Administered", "Witnessed"}
    nurse, witness = by_meaning["Administered"], by_meaning["Witnessed"]
    assert nurse.signature[0].who.display == "Nurse LZ" and witness.signature[0].who.display == "Second Nurse LZ"
    assert nurse.signature[0].type[0].code == fhir.AUTHOR_SIGNATURE
    assert witness.signature[0].type[0].code == fhir.EVENT_WITNESS_SIGNATURE
    assert nurse.recorded == infusion.recorded_at and nurse.signature[0].when == infusion.recorded_at
    # The product's own history is signed too: the lot's release by QA, the shipment's
    # dispatch by the lab and receipt by the pharmacist.
    product_signatures = {p.activity.text: p.signature[0].who.display for p in found.values()
                          if p.get_resource_type() == "Provenance"
                          and f"BiologicallyDerivedProduct/{given.code}" in [t.reference for t in p.target]}
    assert product_signatures == {"Released": "Qian QA", "Dispatched": "Li Lab", "Received": "Pharmacist LZ"}
    [dispense] = [r for r in found.values() if r.get_resource_type() == "BiologicallyDerivedProductDispense"]
    assert dispense.product.reference == f"BiologicallyDerivedProduct/{given.code}"
    assert dispense.status == "issued" and dispense.patient.reference == f"Patient/{subject_of(given)}"
    assert {"Patient/" + subject_of(given), "ResearchSubject/" + subject_of(given),
            "ResearchStudy/NCT01573923", "Organization/LZ", "Location/LZ", "Organization/A9999"} <= set(found)
    assert not [k for k in found if k.startswith("AdverseEvent/")]


def test_a_serious_event_is_an_adverse_event_the_procedure_names(client, trial):
    sae = trial["sae"]
    found = everything(client, subject_of(sae))
    [procedure] = [r for k, r in found.items() if k.startswith("Procedure/")]
    event = found[f"AdverseEvent/{procedure.id}"]
    assert event.seriousness.coding[0].code == "serious"
    assert event.code.text == "Anaphylaxis, resolved"
    assert event.suspectEntity[0].instanceReference.reference == f"BiologicallyDerivedProduct/{sae.code}"
    complications = {c.concept.text if c.concept else c.reference.reference for c in procedure.complication}
    assert complications == {"Anaphylaxis, resolved", f"AdverseEvent/{procedure.id}"}
    assert procedure.outcome.text.startswith("Tolerance grade 3")


def test_a_returned_dose_of_a_withdrawn_subject_carries_the_return_signature(client, trial):
    returned = trial["returned"]
    assert db.session.scalar(select(Infusion.id).where(Infusion.dose_id == returned.id)) is None  # never given
    from cell_chain.patients.models import Allocation

    allocation = db.session.scalar(select(Allocation).where(Allocation.dose_id == returned.id))
    subject_id = allocation.visit.patient.subject_id
    found = everything(client, subject_id)
    assert found[f"Patient/{subject_id}"].active is False
    assert found[f"ResearchSubject/{subject_id}"].period.end is not None
    meanings = {r.activity.text for r in found.values() if r.get_resource_type() == "Provenance"}
    assert "Withdrawn" in meanings


def test_the_product_carries_its_isbt_128_identity_storage_and_properties(client, trial):
    dose = trial["on_hand"]
    product = resource(get(client, f"/fhir/BiologicallyDerivedProduct/{dose.code}"), "BiologicallyDerivedProduct")
    assert product.productCode.coding[0].code == dose.lot.product_code
    assert product.division == dose.division
    assert product.expirationDate == dose.expires_at
    assert product.productStatus.code == "distributed" and product.productStatus.display == "received"
    assert product.collection.source.identifier.value == dose.lot.donor.donor_code
    assert product.processingFacility[0].reference == "Organization/A9999"
    assert product.storageTempRequirements.high.value == -150 and product.storageTempRequirements.low is None
    values = {p.type.coding[0].code: p.valueQuantity or p.valueString for p in product.property}
    assert values["cells"].value == dose.cells and values["cells"].code == "{cells}"
    assert values["volume"].value == dose.volume_ml and values["volume"].unit == "mL"
    assert values["viability"].value == dose.viability_pct
    assert values["lot"] == dose.lot.lot_number
    identifiers = {i.system: i.value for i in product.identifier}
    assert identifiers[fhir.ISBT128_DIN] == dose.lot.din
    assert identifiers[fhir.DOSE_CODE] == dose.code
    assert identifiers[f"{fhir.ISBT128}.2.3"] == f"{dose.lot.din}{dose.lot.product_code}V{dose.division}"


def test_search_by_identifier(client, trial):
    given, lz_lot = trial["given"], trial["given"].lot

    def search(identifier: str, user: str = "monitor") -> list[str]:
        bundle = resource(get(client, "/fhir/BiologicallyDerivedProduct", user,
                              query_string={"identifier": identifier}), "Bundle")
        assert bundle.total == len(bundle.entry or [])
        return [e.resource.id for e in bundle.entry or []]

    lot_codes = sorted(d.code for d in lz_lot.doses)
    assert search(lz_lot.din) == lot_codes
    assert search(f"{fhir.ISBT128_DIN}|{lz_lot.din}") == lot_codes
    assert search(f"{fhir.DOSE_CODE}|{given.code}") == [given.code]
    assert search(given.code) == [given.code]
    assert search(f"{lz_lot.din}{lz_lot.product_code}V{given.division}") == [given.code]
    assert search(f"{fhir.DOSE_CODE}|{lz_lot.din}") == []  # a DIN is not a dose code
    assert search("A999999999999") == []
    # A BJ nurse finds none of LZ's doses; an LZ nurse finds them.
    assert search(lz_lot.din, "bj-nurse") == []
    assert search(lz_lot.din, "lz-nurse") == lot_codes


def test_site_staff_read_only_their_own_site(client, trial):
    given, sae = trial["given"], trial["sae"]
    infusion_id = db.session.scalar(select(Infusion.id).where(Infusion.dose_id == sae.id))
    away = [f"/fhir/Patient/{subject_of(sae)}", f"/fhir/Patient/{subject_of(sae)}/$everything",
            f"/fhir/BiologicallyDerivedProduct/{sae.code}", f"/fhir/Procedure/{infusion_id}"]
    for user in ("lz-nurse", "lz-pharmacist", "lz-coordinator"):
        for path in away:
            response = get(client, path, user)
            assert response.status_code == 404, (user, path)
            outcome = resource(response, "OperationOutcome")
            assert outcome.issue[0].code == "not-found"
            assert outcome.issue[0].details.coding[0].code == "NOT_FOUND"
        found = everything(client, subject_of(given), user)
        assert "ResearchStudy/NCT01573923" in found
        assert [s.reference for s in found["ResearchStudy/NCT01573923"].site] == ["Location/LZ"]
    for user in ("bj-nurse", "monitor", "qa", "lab"):
        assert get(client, f"/fhir/Procedure/{infusion_id}", user).status_code == 200, user


def test_every_resource_served_validates(client, trial):
    """Each endpoint, for every subject and dose of the trial, as the monitor."""
    from cell_chain.patients.models import Patient

    served = [resource(get(client, "/fhir/metadata"), "CapabilityStatement")]
    for subject_id in db.session.scalars(select(Patient.subject_id)):
        served.append(resource(get(client, f"/fhir/Patient/{subject_id}"), "Patient"))
        served.append(resource(get(client, f"/fhir/Patient/{subject_id}/$everything"), "Bundle"))
    for dose in (trial[name] for name in ("given", "destroyed", "on_hand", "sae", "returned", "travelling")):
        served.append(resource(get(client, f"/fhir/BiologicallyDerivedProduct/{dose.code}"),
                               "BiologicallyDerivedProduct"))
    for infusion_id in db.session.scalars(select(Infusion.id)):
        served.append(resource(get(client, f"/fhir/Procedure/{infusion_id}"), "Procedure"))
    kinds = {r.get_resource_type() for r in served}
    for bundle in (r for r in served if r.get_resource_type() == "Bundle"):
        kinds |= {key.partition("/")[0] for key in entries(bundle)}
    assert kinds == {"CapabilityStatement", "Patient", "Bundle", "BiologicallyDerivedProduct", "Procedure",
                     "ResearchSubject", "ResearchStudy", "Organization", "Location", "Provenance",
                     "BiologicallyDerivedProductDispense", "AdverseEvent"}


def test_the_capability_statement_lists_what_is_served(client, trial):
    statement = resource(get(client, "/fhir/metadata"), "CapabilityStatement")
    assert statement.fhirVersion == "5.0.0" and statement.format == ["json"]
    served = {r.type: sorted(i.code for i in r.interaction) for r in statement.rest[0].resource}
    assert served == {"BiologicallyDerivedProduct": ["read", "search-type"], "Patient": ["read"],
                      "Procedure": ["read"]}
    rules = {str(rule) for rule in client.application.url_map.iter_rules() if str(rule).startswith("/fhir/")}
    assert rules == {"/fhir/metadata", "/fhir/BiologicallyDerivedProduct", "/fhir/BiologicallyDerivedProduct/<code>",
                     "/fhir/Patient/<subject_id>", "/fhir/Patient/<subject_id>/$everything",
                     "/fhir/Procedure/<int:infusion_id>"}


def test_the_patient_carries_no_names(client, trial):
    subject_id = subject_of(trial["given"])
    patient = resource(get(client, f"/fhir/Patient/{subject_id}"), "Patient")
    assert [(n.use, n.text, n.family, n.given) for n in patient.name] == [("anonymous", "AB", None, None)]
    assert patient.birthDate == "1975" and patient.telecom is None and patient.address is None
    assert [i.value for i in patient.identifier] == [subject_id]


def test_errors_are_operation_outcomes(client, trial):
    subject_id = subject_of(trial["given"])
    anonymous = client.get(f"/fhir/Patient/{subject_id}")
    assert anonymous.status_code == 401
    assert resource(anonymous, "OperationOutcome").issue[0].code == "login"
    unknown = get(client, "/fhir/Observation/1")
    assert unknown.status_code == 404 and resource(unknown, "OperationOutcome").issue[0].code == "not-found"
    wrong_method = client.post("/fhir/metadata", headers=api_token(client, "monitor"), json={})
    assert wrong_method.status_code == 405 and wrong_method.headers["Allow"]
    assert resource(wrong_method, "OperationOutcome").issue[0].code == "not-supported"
    no_identifier = get(client, "/fhir/BiologicallyDerivedProduct")
    assert no_identifier.status_code == 422
    assert "identifier" in resource(no_identifier, "OperationOutcome").issue[0].diagnostics
    nul = get(client, "/fhir/BiologicallyDerivedProduct", query_string={"identifier": "A\x00"})
    assert nul.status_code == 422 and resource(nul, "OperationOutcome").issue[0].code == "invalid"
    for path in ("/fhir/Procedure/0", f"/fhir/Procedure/{2**40}", "/fhir/BiologicallyDerivedProduct/nope"):
        response = get(client, path)
        assert response.status_code == 404, path
        resource(response, "OperationOutcome")


def _statements(client: Any, path: str, headers: dict[str, str], **kwargs: Any) -> int:
    from tests.reconciliation.conftest import StatementCounter

    with StatementCounter() as counter:
        assert client.get(path, headers=headers, **kwargs).status_code == 200, path
    return len(counter)


@pytest.mark.parametrize("user", ["lz-nurse", "monitor"])
def test_queries_do_not_grow_with_the_records(client, trial, user):
    """A search costs the same statements for a lot of three doses as for a lot of two, and
    $everything the same for a subject with an infusion, a dispense and signatures as for one
    with none of these (no query per record)."""
    headers = api_token(client, user)
    three, two = trial["given"].lot.din, trial["sae"].lot.din
    assert len(trial["given"].lot.doses) == 3 and len(trial["sae"].lot.doses) == 2
    search = "/fhir/BiologicallyDerivedProduct"
    assert (_statements(client, search, headers, query_string={"identifier": three})
            == _statements(client, search, headers, query_string={"identifier": two}))
    infused = subject_of(trial["given"])
    waiting = trial["in_transit_patient"].subject_id
    assert (_statements(client, f"/fhir/Patient/{infused}/$everything", headers)
            == _statements(client, f"/fhir/Patient/{waiting}/$everything", headers))
