"""Loading a patient or visit for a route or page, scoped to what the reader may see."""
from cell_chain.accounts.permissions import require_actor, scoped_get_or_404
from cell_chain.core.errors import NotFound
from cell_chain.patients.models import Patient, Visit
from cell_chain.core.messages import _l


def patient_or_404(subject_id: str) -> Patient:
    """Another site's patient is not found, as if it did not exist."""
    return scoped_get_or_404(Patient, require_actor(), Patient.subject_id == subject_id)


def visit_or_404(patient: Patient, number: int) -> Visit:
    visit = next((v for v in patient.visits if v.number == number), None)
    if visit is None:
        raise NotFound(_l("%(subject)s has no visit %(number)s.", subject=patient.subject_id, number=number))
    return visit
