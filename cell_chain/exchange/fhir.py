"""FHIR R5 resources built from cell-chain's records with the fhir.resources models (each is
validated by its model as it is built). Pure: the records come in, the resources go out."""
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fhir.resources.adverseevent import AdverseEvent, AdverseEventSuspectEntity
from fhir.resources.biologicallyderivedproduct import (
    BiologicallyDerivedProduct,
    BiologicallyDerivedProductCollection,
    BiologicallyDerivedProductProperty,
)
from fhir.resources.biologicallyderivedproductdispense import (
    BiologicallyDerivedProductDispense,
    BiologicallyDerivedProductDispensePerformer,
)
from fhir.resources.annotation import Annotation
from fhir.resources.bundle import Bundle, BundleEntry, BundleEntrySearch, BundleLink
from fhir.resources.capabilitystatement import (
    CapabilityStatement,
    CapabilityStatementImplementation,
    CapabilityStatementRest,
    CapabilityStatementRestResource,
    CapabilityStatementRestResourceInteraction,
    CapabilityStatementRestResourceOperation,
    CapabilityStatementRestResourceSearchParam,
    CapabilityStatementRestSecurity,
    CapabilityStatementSoftware,
)
from fhir.resources.codeableconcept import CodeableConcept
from fhir.resources.codeablereference import CodeableReference
from fhir.resources.coding import Coding
from fhir.resources.humanname import HumanName
from fhir.resources.identifier import Identifier
from fhir.resources.location import Location
from fhir.resources.operationoutcome import OperationOutcome, OperationOutcomeIssue
from fhir.resources.organization import Organization
from fhir.resources.patient import Patient as FhirPatient
from fhir.resources.period import Period
from fhir.resources.procedure import Procedure, ProcedurePerformer
from fhir.resources.provenance import Provenance, ProvenanceAgent
from fhir.resources.quantity import Quantity
from fhir.resources.range import Range
from fhir.resources.reference import Reference
from fhir.resources.researchstudy import ResearchStudy, ResearchStudyComparisonGroup
from fhir.resources.researchsubject import ResearchSubject
from fhir.resources.resource import Resource
from fhir.resources.signature import Signature as FhirSignature

from cell_chain.accounts.models import Site, User
from cell_chain.batches.models import Dose
from cell_chain.accounts.signatures import Meaning, Signature
from cell_chain.patients.models import Patient, Visit
from cell_chain.infusions.models import Infusion
from cell_chain.shipments.models import CustodyEvent

FHIR_JSON = "application/fhir+json"
FHIR_VERSION = "5.0.0"
STUDY_ID = "NCT01573923"
STUDY_TITLE = ("Umbilical cord mesenchymal stem cells for liver cirrhosis: a Phase 1 trial "
               "(4x10^7 cells in 40 ml IV every three months, four doses)")

# Identifier and code systems. ISBT 128 is identified by its HL7 OID; cell-chain's own
# identifiers (subjects, donors, users, doses) by URNs of this installation.
ISBT128 = "urn:oid:2.16.840.1.113883.6.18"
ISBT128_DIN = f"{ISBT128}.2.1"
ISBT128_FIN = f"{ISBT128}.2.2"
ISBT128_PRODUCT = f"{ISBT128}.2.3"  # DIN + product code with its division
DOSE_CODE = "urn:cell-chain:dose"
SUBJECT_ID = "urn:cell-chain:subject-id"
DONOR_CODE = "urn:cell-chain:donor"
USERNAME = "urn:cell-chain:user"
SITE_CODE = "urn:cell-chain:site"
PROPERTY = "urn:cell-chain:product-property"
ERROR_CODE = "urn:cell-chain:error-code"
NCT = "https://clinicaltrials.gov"
UCUM = "http://unitsofmeasure.org"
PRODUCT_STATUS = "http://hl7.org/fhir/biologicallyderived-product-status"
PRODUCT_CATEGORY = "http://hl7.org/fhir/product-category"
SERIOUSNESS = "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness"
STUDY_PHASE = "http://hl7.org/fhir/research-study-phase"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
SIGNATURE_TYPE = "urn:iso-astm:E1762-95:2013"
# ASTM E1762 signature types: the signer's own act, and a witness of the event.
AUTHOR_SIGNATURE, EVENT_WITNESS_SIGNATURE = "1.2.840.10065.1.12.1.1", "1.2.840.10065.1.12.1.9"

# A dose's state in the product-status value set (its own state is in productStatus.display).
PRODUCT_STATUSES = {
    "prepared": "processing", "available": "available", "allocated": "allocated", "packed": "allocated",
    "in_transit": "distributed", "received": "distributed", "dispensed": "distributed",
    "administered": "used",
}
TOLERANCE = {0: "no discomfort", 1: "mild", 2: "moderate", 3: "severe", 4: "life-threatening"}


@dataclass(frozen=True)
class Facility:
    """The manufacturing facility (ISBT 128 FIN and name, from configuration)."""

    fin: str
    name: str


@dataclass(frozen=True)
class ProductRecord:
    """A dose with what its BiologicallyDerivedProduct says: the subject it is allocated to
    (if any) and its storage."""

    dose: Dose
    subject_id: str | None


@dataclass
class SubjectRecords:
    """Everything cell-chain holds about one subject, loaded by fhir_access."""

    patient: Patient
    products: list[ProductRecord] = field(default_factory=list)
    dispenses: list[tuple[CustodyEvent, Dose, User | None]] = field(default_factory=list)
    infusions: list[tuple[Infusion, Dose, Visit, User, User]] = field(default_factory=list)
    signatures: list[tuple[Signature, list[str]]] = field(default_factory=list)  # with what each signs


def _ref(resource_type: str, resource_id: str, display: str | None = None) -> Reference:
    return Reference(reference=f"{resource_type}/{resource_id}", display=display)


def _person(user: User | None, name: str | None = None) -> Reference:
    """Staff are named by their username and printed name (no Practitioner resources)."""
    if user is None:
        return Reference(display=name or "unknown")
    return Reference(identifier=Identifier(system=USERNAME, value=user.username),
                     display=name or user.display_name)


def _concept(text: str, system: str | None = None, code: str | None = None,
             display: str | None = None) -> CodeableConcept:
    codings = [Coding(system=system, code=code, display=display)] if code else None
    return CodeableConcept(coding=codings, text=text)


def _quantity(value: float, unit: str, code: str) -> Quantity:
    return Quantity(value=value, unit=unit, system=UCUM, code=code)


def product_identifiers(dose: Dose) -> list[Identifier]:
    """The lot's DIN, the DIN with the product code and division (the ISBT 128 product
    identity), and the dose code (unique, with the dose number)."""
    product = f"{dose.lot.product_code}V{dose.division}"
    return [
        Identifier(system=ISBT128_DIN, value=dose.lot.din),
        Identifier(system=ISBT128_PRODUCT, value=f"{dose.lot.din}{product}"),
        Identifier(system=DOSE_CODE, value=dose.code),
    ]


def biologically_derived_product(record: ProductRecord, facility: Facility) -> BiologicallyDerivedProduct:
    dose, lot = record.dose, record.dose.lot
    if lot.presentation == "fresh":
        storage = Range(low=_quantity(2, "°C", "Cel"), high=_quantity(8, "°C", "Cel"))
    else:
        storage = Range(high=_quantity(-150, "°C", "Cel"))
    status = PRODUCT_STATUSES.get(dose.status, "unknown")
    return BiologicallyDerivedProduct(
        id=dose.code,
        identifier=product_identifiers(dose),
        productCategory=Coding(system=PRODUCT_CATEGORY, code="cells", display="Cells"),
        productCode=_concept("UC-MSC, umbilical cord mesenchymal stromal cells", ISBT128,
                             lot.product_code),
        productStatus=Coding(system=PRODUCT_STATUS, code=status, display=dose.status),
        expirationDate=dose.expires_at,
        division=dose.division,
        processingFacility=[_ref("Organization", facility.fin, facility.name)],
        biologicalSourceEvent=Identifier(system=ISBT128_DIN, value=lot.donor.din),
        collection=BiologicallyDerivedProductCollection(
            source=Reference(identifier=Identifier(system=DONOR_CODE, value=lot.donor.donor_code),
                             display=f"Cord donor {lot.donor.donor_code}"),
            collectedDateTime=lot.donor.collected_on.isoformat(),
        ),
        storageTempRequirements=storage,
        property=[
            BiologicallyDerivedProductProperty(type=_concept("Cell count", PROPERTY, "cells"),
                                               valueQuantity=_quantity(dose.cells, "cells", "{cells}")),
            BiologicallyDerivedProductProperty(type=_concept("Volume", PROPERTY, "volume"),
                                               valueQuantity=_quantity(dose.volume_ml, "mL", "mL")),
            BiologicallyDerivedProductProperty(type=_concept("Viability", PROPERTY, "viability"),
                                               valueQuantity=_quantity(dose.viability_pct, "%", "%")),
            BiologicallyDerivedProductProperty(type=_concept("Lot number", PROPERTY, "lot"),
                                               valueString=lot.lot_number),
        ],
    )


def dispense(event: CustodyEvent, dose: Dose, subject_id: str, nurse: User | None,
             returned: bool) -> BiologicallyDerivedProductDispense:
    """The pharmacy's hand-over of a dose to the ward for its patient."""
    return BiologicallyDerivedProductDispense(
        id=str(event.id),
        status="returned" if returned else "issued",
        product=_ref("BiologicallyDerivedProduct", dose.code),
        patient=_ref("Patient", subject_id),
        whenHandedOver=event.occurred_at,
        destination=Reference(display=event.to_party),
        performer=[BiologicallyDerivedProductDispensePerformer(
            function=_concept("Receiving nurse"), actor=_person(nurse))] if nurse else None,
        quantity=_quantity(dose.volume_ml, "mL", "mL"),
    )


def procedure(infusion: Infusion, dose: Dose, visit: Visit, nurse: User, witness: User,
              subject_id: str, site_code: str) -> Procedure:
    """One infusion: who gave it and who witnessed it, the product used, and how it went."""
    partial = f" (partial: {infusion.volume_ml:g} of {dose.volume_ml:g} ml)" if infusion.partial else ""
    complications = []
    if infusion.adverse_events:
        complications.append(CodeableReference(concept=_concept(infusion.adverse_events)))
    if infusion.serious:
        complications.append(CodeableReference(reference=_ref("AdverseEvent", str(infusion.id))))
    notes = []
    if infusion.out_of_window:
        notes.append(Annotation(text=f"Given outside the visit window: {infusion.deviation_reason or 'no reason given'}"))
    return Procedure(
        id=str(infusion.id),
        identifier=[Identifier(system=f"{ISBT128}.2.4", value=infusion.coi)],
        status="completed",
        category=[_concept("Investigational cell therapy infusion")],
        code=_concept(f"Intravenous infusion of UC-MSC, visit {visit.number}{partial}"),
        subject=_ref("Patient", subject_id),
        occurrencePeriod=Period(start=infusion.started_at, end=infusion.ended_at),
        recorded=infusion.recorded_at,
        recorder=_person(nurse),
        performer=[ProcedurePerformer(function=_concept("Administering nurse"), actor=_person(nurse)),
                   ProcedurePerformer(function=_concept("Witness"), actor=_person(witness))],
        location=_ref("Location", site_code),
        used=[CodeableReference(reference=_ref("BiologicallyDerivedProduct", dose.code))],
        outcome=_concept(f"Tolerance grade {infusion.tolerance_grade} "
                         f"({TOLERANCE.get(infusion.tolerance_grade, 'unknown')})"),
        complication=complications or None,
        note=notes or None,
    )


def adverse_event(infusion: Infusion, dose: Dose, subject_id: str, nurse: User) -> AdverseEvent:
    """The serious adverse event recorded with an infusion."""
    return AdverseEvent(
        id=str(infusion.id),
        status="completed",
        actuality="actual",
        code=_concept(infusion.adverse_events or "Serious adverse event at infusion"),
        subject=_ref("Patient", subject_id),
        occurrenceDateTime=infusion.started_at,
        recordedDate=infusion.recorded_at,
        recorder=_person(nurse),
        seriousness=_concept("Serious", SERIOUSNESS, "serious", "Serious"),
        study=[_ref("ResearchStudy", STUDY_ID)],
        suspectEntity=[AdverseEventSuspectEntity(
            instanceReference=_ref("BiologicallyDerivedProduct", dose.code))],
    )


def patient(record: Patient) -> FhirPatient:
    """The subject by pseudonym only: subject ID, initials (as an anonymous name) and birth year."""
    return FhirPatient(
        id=record.subject_id,
        identifier=[Identifier(system=SUBJECT_ID, value=record.subject_id)],
        active=record.status == "active",
        name=[HumanName(use="anonymous", text=record.initials)],
        birthDate=str(record.birth_year),
        managingOrganization=_ref("Organization", record.site.code, record.site.name),
    )


def research_study(sites: Iterable[Site]) -> ResearchStudy:
    return ResearchStudy(
        id=STUDY_ID,
        identifier=[Identifier(system=NCT, value=STUDY_ID)],
        status="active",
        title=STUDY_TITLE,
        phase=_concept("Phase 1", STUDY_PHASE, "phase-1", "Phase 1"),
        comparisonGroup=[
            ResearchStudyComparisonGroup(linkId="msc", name="MSC + conventional therapy"),
            ResearchStudyComparisonGroup(linkId="control", name="Conventional therapy alone"),
        ],
        site=[_ref("Location", site.code, site.name) for site in sites] or None,
    )


def research_subject(record: Patient) -> ResearchSubject:
    end = record.withdrawn_at if record.status == "withdrawn" else None
    return ResearchSubject(
        id=record.subject_id,
        identifier=[Identifier(system=SUBJECT_ID, value=record.subject_id)],
        status="active",
        period=Period(start=record.enrolled_on.isoformat(), end=end),
        study=_ref("ResearchStudy", STUDY_ID),
        subject=_ref("Patient", record.subject_id),
        assignedComparisonGroup=record.arm,
    )


def site_organization(site: Site) -> Organization:
    return Organization(id=site.code, identifier=[Identifier(system=SITE_CODE, value=site.code)],
                        active=True, name=site.name)


def site_location(site: Site) -> Location:
    return Location(id=site.code, identifier=[Identifier(system=SITE_CODE, value=site.code)],
                    status="active", name=site.name, description=site.city,
                    managingOrganization=_ref("Organization", site.code, site.name))


def facility_organization(facility: Facility) -> Organization:
    return Organization(id=facility.fin, identifier=[Identifier(system=ISBT128_FIN, value=facility.fin)],
                        active=True, name=facility.name)


def provenance(signature: Signature, targets: list[str], signer: User | None) -> Provenance:
    """One e-signature: who signed, when, what it means, and the resources it signs for."""
    witnessed = signature.meaning == Meaning.WITNESSED.value
    kind = EVENT_WITNESS_SIGNATURE if witnessed else AUTHOR_SIGNATURE
    who = _person(signer, signature.printed_name)
    return Provenance(
        id=str(signature.id),
        target=[Reference(reference=target) for target in targets],
        recorded=signature.signed_at,
        activity=_concept(signature.meaning),
        agent=[ProvenanceAgent(
            type=_concept("Witness" if witnessed else "Author", PARTICIPANT_TYPE,
                          "verifier" if witnessed else "author"),
            who=who)],
        signature=[FhirSignature(
            type=[Coding(system=SIGNATURE_TYPE, code=kind, display=signature.meaning)],
            when=signature.signed_at, who=who)],
    )


def capability_statement(now: datetime, base_url: str) -> CapabilityStatement:
    def read(resource_type: str, **extra: Any) -> CapabilityStatementRestResource:
        return CapabilityStatementRestResource(
            type=resource_type, interaction=[CapabilityStatementRestResourceInteraction(code="read"),
                                             *extra.pop("interactions", [])], **extra)

    contained = ["ResearchStudy", "ResearchSubject", "BiologicallyDerivedProductDispense", "AdverseEvent",
                 "Provenance", "Organization", "Location"]
    return CapabilityStatement(
        status="active", date=now, kind="instance", fhirVersion=FHIR_VERSION, format=["json"],
        software=CapabilityStatementSoftware(name="cell-chain"),
        implementation=CapabilityStatementImplementation(description="cell-chain read-only FHIR API",
                                                         url=base_url),
        description=("Read-only. Resources of the types " + ", ".join(contained)
                     + " are served inside Patient/{id}/$everything."),
        rest=[CapabilityStatementRest(
            mode="server",
            security=CapabilityStatementRestSecurity(
                description="Bearer token from POST /api/auth/token; site staff see their own site only."),
            resource=[
                read("BiologicallyDerivedProduct",
                     interactions=[CapabilityStatementRestResourceInteraction(code="search-type")],
                     searchParam=[CapabilityStatementRestResourceSearchParam(
                         name="identifier", type="token",
                         documentation="The DIN, the DIN with product code and division, or the dose code")]),
                read("Patient", operation=[CapabilityStatementRestResourceOperation(
                    name="everything", definition="http://hl7.org/fhir/OperationDefinition/Patient-everything")]),
                read("Procedure"),
            ],
        )],
    )


def bundle(resources: list[Resource], base_url: str, self_url: str, matches: int | None = None) -> Bundle:
    """A searchset: the first `matches` resources matched, the rest are included."""
    matched = len(resources) if matches is None else matches
    return Bundle(
        type="searchset", total=matched,
        link=[BundleLink(relation="self", url=self_url)],
        entry=[BundleEntry(fullUrl=f"{base_url}/{r.get_resource_type()}/{r.id}", resource=r,
                           search=BundleEntrySearch(mode="match" if i < matched else "include"))
               for i, r in enumerate(resources)] or None,
    )


def operation_outcome(status: int, code: str, message: str) -> OperationOutcome:
    issue_code = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
                  409: "conflict", 422: "invalid", 503: "transient"}.get(status, "exception")
    return OperationOutcome(issue=[OperationOutcomeIssue(
        severity="error", code=issue_code, diagnostics=message,
        details=_concept(message, ERROR_CODE, code))])
