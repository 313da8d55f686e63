"""API schemas for the audit trail."""
import json

import marshmallow as ma
from marshmallow import validate

from cell_chain.core.schemas import PageArgs


class AuditQuery(PageArgs):
    entity_type = ma.fields.String(validate=validate.Length(max=64))
    entity_id = ma.fields.String(validate=validate.Length(max=64))


class AuditEventOut(ma.Schema):
    seq = ma.fields.Integer()
    occurred_at = ma.fields.DateTime()
    actor = ma.fields.String(attribute="actor_username")
    action = ma.fields.String()
    entity_type = ma.fields.String()
    entity_id = ma.fields.String()
    changes = ma.fields.Function(lambda ev: json.loads(ev.changes),
                                 metadata={"type": "object", "description": "field → [old, new]"})
    reason = ma.fields.String(allow_none=True)
    prev_hash = ma.fields.String()
    hash = ma.fields.String()


class BrokenEvent(ma.Schema):
    id = ma.fields.Integer()
    seq = ma.fields.Integer()
    action = ma.fields.String()
    reason = ma.fields.String()


class ChainReportOut(ma.Schema):
    ok = ma.fields.Boolean(required=True)
    events = ma.fields.Integer(required=True)
    first_broken = ma.fields.Nested(BrokenEvent, allow_none=True, required=True)
