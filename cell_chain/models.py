"""Imports every model module so that metadata (and Alembic) sees the whole schema."""
from cell_chain.accounts.models import ApiToken, Site, User  # noqa: F401
from cell_chain.core.audit import AuditEvent  # noqa: F401
from cell_chain.core.signatures import Signature  # noqa: F401
from cell_chain.batches.models import (  # noqa: F401
    DinSequence, Donor, Dose, Lot, ReleaseSpec, ScreeningResult, TestResult,
)
from cell_chain.labels.models import LabelVerification, PrintedLabel, PrintJob  # noqa: F401
from cell_chain.infusions.models import Allocation, CoiSequence, Patient, SubjectSequence, Visit  # noqa: F401
