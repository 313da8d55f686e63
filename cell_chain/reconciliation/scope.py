"""Who reads which reconciliation report, and over which rows: central roles the whole trial
(or one site they name), site staff only their own site (the one site-scoping rule)."""
from dataclasses import dataclass

from sqlalchemy import select

from cell_chain.accounts.models import Site, User
from cell_chain.accounts.permissions import require_role, scope_to_site
from cell_chain.accounts.roles import Role
from cell_chain.core.db import db
from cell_chain.core.errors import NotFound
from cell_chain.core.messages import Message, _l

CENTRAL = (Role.ADMIN, Role.QA, Role.MONITOR)
# Site roles see their own site's rows; lots are the manufacturer's, read centrally only.
PATIENTS_READERS = (*CENTRAL, Role.COORDINATOR, Role.PHARMACIST, Role.NURSE)
SITES_READERS = (*CENTRAL, Role.LAB, Role.PHARMACIST, Role.COORDINATOR)
LOTS_READERS = (*CENTRAL, Role.LAB)
DISCREPANCY_READERS = (*CENTRAL, Role.LAB, Role.PHARMACIST, Role.COORDINATOR, Role.NURSE)
READERS = {"patients": PATIENTS_READERS, "sites": SITES_READERS, "lots": LOTS_READERS,
           "discrepancies": DISCREPANCY_READERS}


@dataclass(frozen=True)
class Scope:
    """The rows a report covers: one site, or the whole trial when `site_id` is None."""

    site_id: int | None = None
    site_code: str | None = None

    @property
    def description(self) -> Message:
        return _l("Site %(site)s", site=self.site_code) if self.site_code else _l("Whole trial (all sites)")


def scope_for(actor: User, report: str, site_code: str | None = None) -> Scope:
    """The actor's scope for `report`, narrowed to `site_code` when given. Raises Forbidden
    (role), NotFound (a site that is not among the actor's: not revealed)."""
    require_role(actor, READERS[report])
    return scope_of(actor, site_code)


def scope_of(actor: User, site_code: str | None = None) -> Scope:
    """The rows `actor` may read: their own site's (site staff) or the whole trial, narrowed to
    `site_code` when given. Raises NotFound for a site that is not among the actor's."""
    if site_code is None:
        return Scope(actor.site_id, actor.site_code) if actor.site_id is not None else Scope()
    site = db.session.scalar(scope_to_site(select(Site).where(Site.code == site_code), Site, actor))
    if site is None:
        raise NotFound(_l("No site %(site)s among yours.", site=site_code))
    return Scope(site.id, site.code)
