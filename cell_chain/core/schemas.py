"""Marshmallow pieces shared by every domain's API schemas."""
import marshmallow as ma
from marshmallow import validate


class StrictSchema(ma.Schema):
    """Input schemas refuse unknown fields, so a misspelt field is an error, not ignored."""

    class Meta:
        unknown = ma.RAISE


class PageArgs(StrictSchema):
    limit = ma.fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    offset = ma.fields.Integer(load_default=0, validate=validate.Range(min=0, max=10**9))


class SignatureIn(StrictSchema):
    password = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))
    meaning = ma.fields.String(validate=validate.Length(max=64), load_default="")


class WitnessIn(StrictSchema):
    username = ma.fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))


class SignatureOut(ma.Schema):
    printed_name = ma.fields.String()
    meaning = ma.fields.String()
    signed_at = ma.fields.DateTime()
    content_hash = ma.fields.String()
