"""Imports every model module so that metadata (and Alembic) sees the whole schema."""
from cell_chain.accounts.models import ApiToken, Site, User  # noqa: F401
from cell_chain.core.audit import AuditEvent  # noqa: F401
from cell_chain.core.audit_chain import AuditCheckpoint  # noqa: F401
from cell_chain.core.signatures import Signature  # noqa: F401
from cell_chain.batches.models import (  # noqa: F401
    DinSequence, Donor, Dose, Lot, ReleaseSpec, ScreeningResult, TestResult,
)
from cell_chain.labels.models import LabelVerification, PrintedLabel, PrintJob  # noqa: F401
from cell_chain.infusions.models import (  # noqa: F401
    Allocation, BedsideCheck, CoiSequence, Infusion, Patient, SubjectSequence, Visit,
)
from cell_chain.shipments.models import (  # noqa: F401
    CustodyEvent, Excursion, Shipment, ShipmentItem, TemperatureRecord, UnexpectedItem,
)

# Plug-ins that register label sources, scan recognisers and dose-view parts at import.
from cell_chain.infusions import labels as _infusion_labels, scans as _infusion_scans  # noqa: E402,F401
from cell_chain.labels import scans as _label_scans  # noqa: E402,F401
from cell_chain.shipments import custody as _custody, labels as _shipment_labels  # noqa: E402,F401
from cell_chain.shipments import scans as _shipment_scans  # noqa: E402,F401
from cell_chain.infusions import bedside as _bedside  # noqa: E402,F401
