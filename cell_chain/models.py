"""Imports every model module so that metadata (and Alembic) sees the whole schema, and the
plug-ins that register label sources, scan recognisers, dose-view parts and lookback."""
# ruff: noqa: I001  - the plug-ins register in this order
from cell_chain.accounts.models import ApiToken, Site, User  # noqa: F401
from cell_chain.accounts.signatures import Signature  # noqa: F401
from cell_chain.core.audit import AuditEvent  # noqa: F401
from cell_chain.core.audit_chain import AuditCheckpoint  # noqa: F401
from cell_chain.web.session_store import StoredSession  # noqa: F401
from cell_chain.batches.models import DinSequence, Donor, Dose, Lot, ReleaseSpec, ScreeningResult, TestResult  # noqa: F401
from cell_chain.labels.models import LabelVerification, PrintedLabel, PrintJob  # noqa: F401
from cell_chain.patients.models import Allocation, CoiSequence, Patient, SubjectSequence, Visit  # noqa: F401
from cell_chain.infusions.models import BedsideCheck, Infusion, InfusionDraft  # noqa: F401
from cell_chain.shipments.models import (  # noqa: F401
    CustodyEvent, Excursion, Shipment, ShipmentItem, TemperatureRecord, TemperatureWaiver, UnexpectedItem,
)

from cell_chain.patients import labels as _patient_labels  # noqa: F401
from cell_chain.patients import scans as _patient_scans  # noqa: F401
from cell_chain.labels import scans as _label_scans  # noqa: F401
from cell_chain.shipments import custody as _custody  # noqa: F401
from cell_chain.shipments import labels as _shipment_labels  # noqa: F401
from cell_chain.shipments import scans as _shipment_scans  # noqa: F401
from cell_chain.infusions import bedside as _bedside  # noqa: F401
