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
    id = ma.fields.Integer(allow_none=True, metadata={"description": "null when the event is gone"})
    seq = ma.fields.Integer()
    action = ma.fields.String(allow_none=True)
    reason = ma.fields.String()


class CheckpointOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    through_seq = ma.fields.Integer(required=True)
    through_hash = ma.fields.String(required=True)
    verified_at = ma.fields.DateTime(required=True)


class ChainReportOut(ma.Schema):
    ok = ma.fields.Boolean(required=True)
    events = ma.fields.Integer(required=True, metadata={"description": "the newest event's seq"})
    first_broken = ma.fields.Nested(BrokenEvent, allow_none=True, required=True)
    complete = ma.fields.Boolean(required=True, metadata={
        "description": "every event is covered by the checkpoint or was verified now"})
    verified_through = ma.fields.Integer(required=True, allow_none=True)
    checked = ma.fields.Integer(required=True, metadata={"description": "events recomputed now"})
    unverified = ma.fields.Integer(required=True, metadata={
        "description": "newer events left for the next full verification"})
    checkpoint = ma.fields.Nested(CheckpointOut, allow_none=True, required=True)
