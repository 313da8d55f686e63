"""Refusals specific to donors, lots and doses."""
from cell_chain.core.errors import DomainError


class DonorIneligible(DomainError):
    status, code, title = 409, "DONOR_INELIGIBLE", "The donor is ineligible"


class ScreeningIncomplete(DomainError):
    status, code, title = 409, "SCREENING_INCOMPLETE", "Screening results are missing"


class ReleaseBlocked(DomainError):
    status, code, title = 409, "RELEASE_BLOCKED", "The lot cannot be released yet"


class SegregationOfDuties(DomainError):
    status, code, title = 403, "SEGREGATION_OF_DUTIES", "The signer entered results for this lot"
