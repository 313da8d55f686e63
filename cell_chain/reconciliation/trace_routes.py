"""API: forward and backward trace (recall and lookback)."""
from flask.views import MethodView
from flask_smorest import Blueprint

from cell_chain.accounts.permissions import require_actor, roles_required
from cell_chain.reconciliation import trace
from cell_chain.reconciliation import trace_schemas as s
from cell_chain.web.api import problems

blp = Blueprint("trace_api", __name__, url_prefix="/api/trace", description="Trace for recall and lookback")


@blp.route("/donors/<din>")
class DonorTraceResource(MethodView):
    @roles_required(*trace.TRACE_READERS)
    @blp.response(200, s.DonorTraceOut)
    @problems(blp, 401, 403, 404, 422)
    def get(self, din: str) -> trace.DonorTrace:
        """Forward: the donor's lots, their doses, where each is now or which patient
        received it. A lot's DIN finds its donor. Site staff see their own site's doses."""
        return trace.trace_donor(din, actor=require_actor())


@blp.route("/patients/<subject_id>")
class PatientTraceResource(MethodView):
    @roles_required(*trace.TRACE_READERS)
    @blp.response(200, s.PatientTraceOut)
    @problems(blp, 401, 403, 404, 422)
    def get(self, subject_id: str) -> trace.PatientTrace:
        """Backward: the patient's doses (given or allocated), their lots with recall status,
        and donors (DIN)."""
        return trace.trace_patient(subject_id, actor=require_actor())
