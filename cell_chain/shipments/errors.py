"""Refusals about shipments, packing, receipt and site pharmacy actions."""
from cell_chain.core.errors import DomainError


class PackRefused(DomainError):
    """A dose that cannot go into this box; `code` says why."""

    status, code, title = 409, "PACK_REFUSED", "This dose cannot be packed into this shipment"

    def __init__(self, code: str, detail: str, **extra: object) -> None:
        super().__init__(detail, **extra)
        self.code = code


class ShipmentState(DomainError):
    status, code, title = 409, "SHIPMENT_STATE", "Not allowed in the shipment's current state"


class NotInShipment(DomainError):
    status, code, title = 409, "DOSE_NOT_IN_SHIPMENT", "The dose is not in this shipment"


class NotInCustody(DomainError):
    status, code, title = 409, "NOT_IN_SITE_CUSTODY", "The dose is not in this pharmacy's custody"


class NoExcursion(DomainError):
    status, code, title = 409, "NO_OPEN_EXCURSION", "The shipment has no excursion awaiting a decision"


class UnknownDose(DomainError):
    """A well-formed dose label naming no dose here: a refusal, not a missing page."""

    status, code, title = 422, "UNKNOWN_DOSE", "No dose with this label is known"


class TemperatureDataMissing(DomainError):
    """The dose's shipment has no logger file and no QA waiver: nobody knows how it travelled."""

    status, code, title = 409, "TEMPERATURE_DATA_MISSING", "The shipment's temperature data is missing"


class TemperatureDataPresent(DomainError):
    status, code, title = 409, "TEMPERATURE_DATA_PRESENT", "The shipment already has temperature data"


class AwaitingQaDecision(DomainError):
    """A dose quarantined until QA decides (an open excursion) is neither destroyed nor returned yet."""

    status, code, title = 409, "AWAITING_QA_DECISION", "QA has not yet decided on this dose"


class BagMismatch(DomainError):
    """The bag scanned to confirm a hand-over is not the dose being handed over."""

    status, code, title = 409, "BAG_MISMATCH", "The bag scanned is not this dose"
