"""Refusals about patients, visits and allocation."""
from cell_chain.core.errors import DomainError


class PatientNotInMscArm(DomainError):
    status, code, title = 409, "PATIENT_NOT_IN_MSC_ARM", "The patient receives no MSC doses"


class VisitClosed(DomainError):
    status, code, title = 409, "VISIT_CLOSED", "The visit is done or skipped"


class VisitAlreadyAllocated(DomainError):
    status, code, title = 409, "VISIT_ALREADY_ALLOCATED", "The visit already has a dose"


class NotTheNextVisit(DomainError):
    status, code, title = 409, "NOT_THE_NEXT_VISIT", "A dose goes to the patient's next visit first"


class DoseNotSuitable(DomainError):
    status, code, title = 409, "DOSE_NOT_SUITABLE", "The dose cannot be allocated to this visit"


class NoSuitableDose(DomainError):
    status, code, title = 409, "NO_SUITABLE_DOSE", "No released dose will be in date for this visit"


class NotAllocated(DomainError):
    status, code, title = 409, "NOT_ALLOCATED", "The dose is not allocated"
