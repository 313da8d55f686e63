"""API schemas for authentication, sites and users."""
import marshmallow as ma
from marshmallow import validate

from cell_chain.accounts.roles import Role
from cell_chain.core.schemas import StrictSchema

ROLE_NAMES = [r.value for r in Role]


class TokenRequest(StrictSchema):
    username = ma.fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))


class UserBrief(ma.Schema):
    username = ma.fields.String()
    display_name = ma.fields.String()
    role = ma.fields.String(validate=validate.OneOf(ROLE_NAMES))
    site_code = ma.fields.String(allow_none=True)


class TokenOut(ma.Schema):
    token = ma.fields.String(required=True)
    expires_at = ma.fields.DateTime(required=True)
    user = ma.fields.Nested(UserBrief, required=True)


class SiteIn(StrictSchema):
    code = ma.fields.String(required=True, validate=validate.Length(min=1, max=8))
    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))
    city = ma.fields.String(required=True, validate=validate.Length(min=1, max=100))


class SiteOut(ma.Schema):
    code = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    city = ma.fields.String(required=True)


class UserIn(StrictSchema):
    username = ma.fields.String(required=True, validate=validate.Length(min=1, max=64))
    display_name = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))
    role = ma.fields.String(required=True, validate=validate.OneOf(ROLE_NAMES))
    site_code = ma.fields.String(allow_none=True, validate=validate.Length(max=8))
    password = ma.fields.String(required=True, load_only=True,
                                validate=validate.Length(min=1, max=200))


class UserCorrection(StrictSchema):
    display_name = ma.fields.String(validate=validate.Length(min=1, max=200))
    active = ma.fields.Boolean()
    reason = ma.fields.String(validate=validate.Length(max=2000))


class PasswordChange(StrictSchema):
    old_password = ma.fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=200))
    new_password = ma.fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=200))


class PasswordSet(StrictSchema):
    password = ma.fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=200))
    reason = ma.fields.String(required=True, validate=validate.Length(min=1, max=2000))


class UnlockIn(StrictSchema):
    reason = ma.fields.String(required=True, validate=validate.Length(min=1, max=2000))


class PasswordChanged(ma.Schema):
    credentials_ended = ma.fields.Integer(required=True)


class LockoutOut(ma.Schema):
    username = ma.fields.String(required=True)
    kind = ma.fields.String(required=True, validate=validate.OneOf(
        ["account_locked", "sign_in_throttled", "signature_throttled", "witness_throttled"]))
    client = ma.fields.String(allow_none=True)
    failures = ma.fields.Integer(allow_none=True)
    until = ma.fields.DateTime(required=True)


class UserOut(UserBrief):
    active = ma.fields.Boolean()
    created_at = ma.fields.DateTime()
