"""API: the SDTM datasets for the trial's submission, as SAS transport v5 or CSV
(/api/exports/sdtm/{ex,da,dv}.{xpt,csv}); monitors and above the whole trial, site staff
their own site."""
from datetime import datetime
from typing import Any

import marshmallow as ma
from flask import Response, current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from cell_chain.accounts.permissions import require_actor, roles_required
from cell_chain.web.api import problems
from cell_chain.core.clock import utcnow
from cell_chain.core.errors import ValidationFailed
from cell_chain.exchange import sdtm
from cell_chain.core.messages import _l

blp = Blueprint("sdtm_api", __name__, url_prefix="/api/exports/sdtm",
                description="CDISC SDTM datasets (EX, DA, DV) for the trial's submission")

MIMETYPES = {"xpt": "application/x-sas-xport", "csv": "text/csv"}


class ExportQuery(ma.Schema):
    site_code = ma.fields.String(validate=ma.validate.Length(1, 8), metadata={
        "description": "One site (central roles; site staff always get their own)"})
    cut = ma.fields.AwareDateTime(metadata={
        "description": "The data cut: records entered after it are left out (default: now; not in the future)"})


def export(name: str, fmt: str, *, site_code: str | None, cut: datetime | None, actor: Any,
           now: datetime) -> Response:
    """The dataset file, with the data cut in the X-Data-Cut header."""
    scope = sdtm.scope_for(actor, site_code)
    cut = now if cut is None else cut
    if cut > now:
        raise ValidationFailed({"cut": [_l("The data cut cannot be in the future.")]})
    dataset = sdtm.build(name, scope, cut=cut, study_id=current_app.config.get("SDTM_STUDYID", sdtm.STUDY_ID))
    body = sdtm.to_xpt(dataset) if fmt == "xpt" else sdtm.to_csv(dataset)
    response = Response(body, mimetype=MIMETYPES[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    response.headers["X-Data-Cut"] = sdtm.iso8601(cut) + "Z"
    return response


_FILE = {"description": "The dataset (SAS transport v5 or CSV)",
         "headers": {"X-Data-Cut": {"description": "The data cut, UTC", "schema": {"type": "string"}}},
         "content": {MIMETYPES["xpt"]: {"schema": {"type": "string", "format": "binary"}},
                     MIMETYPES["csv"]: {"schema": {"type": "string"}}}}


@blp.route("/<any(ex, da, dv):dataset>.<any(xpt, csv):fmt>")
class DatasetFile(MethodView):
    @roles_required(*sdtm.READERS)
    @blp.arguments(ExportQuery, location="query")
    @blp.doc(responses={"200": _FILE})
    @problems(blp, 401, 403, 404, 422)
    def get(self, query: dict[str, Any], dataset: str, fmt: str) -> Response:
        """An SDTM dataset: EX (one record per infusion), DA (dispensed, returned and destroyed
        amounts per dose and subject) or DV (doses given out of window)."""
        return export(dataset, fmt, site_code=query.get("site_code"), cut=query.get("cut"),
                      actor=require_actor(), now=utcnow())
