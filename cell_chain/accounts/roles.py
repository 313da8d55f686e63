"""The seven roles and which of them belong to a hospital site."""
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    LAB = "lab"
    QA = "qa"
    PHARMACIST = "pharmacist"
    NURSE = "nurse"
    COORDINATOR = "coordinator"
    MONITOR = "monitor"


SITE_ROLES = frozenset({Role.PHARMACIST, Role.NURSE, Role.COORDINATOR})
ALL_ROLES = frozenset(Role)
READERS = ALL_ROLES  # every role may read what its site scope lets it see


def is_site_role(role: str) -> bool:
    return role in SITE_ROLES
