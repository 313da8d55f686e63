"""The read-only FHIR R5 API under /fhir: bearer token (or session), every role, site-scoped;
answers application/fhir+json, errors as OperationOutcome."""
import http
from typing import Any

import marshmallow as ma
from fhir.resources.resource import Resource
from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from werkzeug.exceptions import HTTPException

from cell_chain.accounts.permissions import require_actor, roles_required
from cell_chain.accounts.roles import ALL_ROLES
from cell_chain.web.api import _HTTP_CODES, _flatten_messages, register_error_renderer
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.core.errors import DomainError
from cell_chain.exchange import fhir
from cell_chain.exchange import fhir_access as access

blp = Blueprint("fhir", __name__, url_prefix="/fhir",
                description="FHIR R5, read-only: products, infusions and subjects for hospital systems")

# Every role reads FHIR resources within its site scope, as it reads the same records on /api.
FHIR_READERS = tuple(sorted(ALL_ROLES))


def _schema(*resource_types: str) -> dict[str, Any]:
    return {"type": "object", "required": ["resourceType"],
            "properties": {"resourceType": {"type": "string", "enum": list(resource_types)}}}


def _documented(resource_type: str, *errors: int) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": f"The {resource_type}",
                                         "content": {fhir.FHIR_JSON: {"schema": _schema(resource_type)}}}}
    for status in errors:
        responses[str(status)] = {"description": f"{http.HTTPStatus(status).phrase} (OperationOutcome)",
                                  "content": {fhir.FHIR_JSON: {"schema": _schema("OperationOutcome")}}}
    return {"responses": responses}


def fhir_response(resource: Resource, status: int = 200) -> Response:
    return Response(resource.model_dump_json(exclude_none=True), status=status, mimetype=fhir.FHIR_JSON)


def _base_url() -> str:
    return request.url_root.rstrip("/") + blp.url_prefix


def outcome(status: int, code: str, message: str) -> Response:
    return fhir_response(fhir.operation_outcome(status, code, message), status)


@blp.errorhandler(DomainError)
def _domain_error(error: DomainError) -> Response:
    db.session.rollback()
    message = error.detail
    if errors := error.extra.get("errors"):
        message += " " + "; ".join(f"{name}: {' '.join(texts)}" for name, texts in errors.items())
    return outcome(error.status, error.code, message)


def http_outcome(error: HTTPException) -> Response:
    """An HTTP error under /fhir (routing, validation) as an OperationOutcome."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    if status == 422 and "messages" in data:
        fields = _flatten_messages(data["messages"])
        message = "Invalid search: " + "; ".join(f"{name}: {' '.join(texts)}" for name, texts in fields.items())
        return outcome(422, "VALIDATION_ERROR", message)
    phrase = http.HTTPStatus(status).phrase if status in http.HTTPStatus._value2member_map_ else "Error"
    code = _HTTP_CODES.get(status, phrase.upper().replace(" ", "_"))
    response = outcome(status, code, error.description or phrase)
    if status == 405 and getattr(error, "valid_methods", None):
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


blp.register_error_handler(HTTPException, http_outcome)
register_error_renderer(blp.url_prefix + "/", http_outcome)


class IdentifierSearch(ma.Schema):
    identifier = ma.fields.String(required=True, validate=ma.validate.Length(1, 200), metadata={
        "description": "`[system|]value`: the DIN, the DIN with product code and division, or the dose code"})


@blp.route("/metadata")
class Metadata(MethodView):
    @roles_required(*FHIR_READERS)
    @blp.doc(**_documented("CapabilityStatement", 401, 422))
    def get(self) -> Response:
        """The CapabilityStatement: what this server serves."""
        require_actor()
        return fhir_response(fhir.capability_statement(utcnow(), _base_url()))


@blp.route("/BiologicallyDerivedProduct/<code>")
class ProductResource(MethodView):
    @roles_required(*FHIR_READERS)
    @blp.doc(**_documented("BiologicallyDerivedProduct", 401, 404, 422))
    def get(self, code: str) -> Response:
        """A dose as a BiologicallyDerivedProduct (its id is the dose code)."""
        record = access.product(code, require_actor())
        return fhir_response(fhir.biologically_derived_product(record, access.facility()))


@blp.route("/BiologicallyDerivedProduct")
class ProductSearch(MethodView):
    @roles_required(*FHIR_READERS)
    @blp.arguments(IdentifierSearch, location="query")
    @blp.doc(**_documented("Bundle", 401, 422))
    def get(self, query: dict[str, Any]) -> Response:
        """Search by identifier: a searchset Bundle of the products the caller may see."""
        system, _, value = query["identifier"].rpartition("|")
        records = access.products_by_identifier(system or None, value, require_actor())
        facility = access.facility()
        resources = [fhir.biologically_derived_product(r, facility) for r in records]
        return fhir_response(fhir.bundle(resources, _base_url(), request.url))


@blp.route("/Patient/<subject_id>")
class PatientResource(MethodView):
    @roles_required(*FHIR_READERS)
    @blp.doc(**_documented("Patient", 401, 404, 422))
    def get(self, subject_id: str) -> Response:
        """A subject by subject ID: pseudonym, initials and birth year only."""
        return fhir_response(fhir.patient(access.subject(subject_id, require_actor())))


@blp.route("/Patient/<subject_id>/$everything")
class PatientEverything(MethodView):
    @roles_required(*FHIR_READERS)
    @blp.doc(**_documented("Bundle", 401, 404, 422))
    def get(self, subject_id: str) -> Response:
        """Everything about one subject as a Bundle: the subject, the study, the site and the
        facility, the products given or allocated, their dispenses, the infusions (Procedure),
        serious adverse events and a Provenance per e-signature."""
        actor = require_actor()
        patient = access.subject(subject_id, actor)
        return fhir_response(fhir.bundle(access.everything_resources(patient, actor), _base_url(), request.url,
                                          matches=1))


@blp.route("/Procedure/<int:infusion_id>")
class ProcedureResource(MethodView):
    @roles_required(*FHIR_READERS)
    @blp.doc(**_documented("Procedure", 401, 404, 422))
    def get(self, infusion_id: int) -> Response:
        """An infusion as a Procedure."""
        infusion, dose, visit, nurse, witness, patient = access.infusion(infusion_id, require_actor())
        return fhir_response(fhir.procedure(infusion, dose, visit, nurse, witness, patient.subject_id,
                                            access.site_of(patient).code))
