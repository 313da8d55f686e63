"""Reading the audit trail (the writing side lives in cell_chain.core.audit)."""
from sqlalchemy import select

from cell_chain.core.audit import AuditEvent
from cell_chain.core.db import db


def list_events(*, entity_type: str | None = None, entity_id: str | None = None,
                limit: int = 50, offset: int = 0) -> list[AuditEvent]:
    stmt = select(AuditEvent).order_by(AuditEvent.seq.desc())
    if entity_type:
        stmt = stmt.where(AuditEvent.entity_type == entity_type)
    if entity_id:
        stmt = stmt.where(AuditEvent.entity_id == entity_id)
    return list(db.session.scalars(stmt.limit(limit).offset(offset)))
