"""API schemas for authentication, sites and users."""
import marshmallow as ma
from marshmallow import validate

from cell_chain.accounts.models import LANGUAGES
from cell_chain.accounts.roles import Role
from cell_chain.core.clock import is_zone_name
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


def _zone(value: str) -> None:
    if not is_zone_name(value):
        raise ma.ValidationError("Not an IANA time zone; use a name such as Asia/Shanghai or Europe/Berlin.")


def _time_zone(**kwargs: object) -> ma.fields.String:
    return ma.fields.String(validate=[validate.Length(min=1, max=64), _zone], metadata={
        "description": "IANA time zone, e.g. Asia/Shanghai", "example": "Asia/Shanghai"}, **kwargs)


def _language(**kwargs: object) -> ma.fields.String:
    return ma.fields.String(validate=validate.OneOf(LANGUAGES), metadata={
        "description": "Language of the pages: en (English) or zh_Hans (Simplified Chinese)"}, **kwargs)


class SiteIn(StrictSchema):
    code = ma.fields.String(required=True, validate=validate.Length(min=1, max=8))
    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))
    city = ma.fields.String(required=True, validate=validate.Length(min=1, max=100))
    time_zone = _time_zone()
    language = _language()


class SiteOut(ma.Schema):
    code = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    city = ma.fields.String(required=True)
    time_zone = ma.fields.String(required=True)
    language = ma.fields.String(required=True, validate=validate.OneOf(LANGUAGES))


class UserIn(StrictSchema):
    username = ma.fields.String(required=True, validate=validate.Length(min=1, max=64))
    display_name = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))
    role = ma.fields.String(required=True, validate=validate.OneOf(ROLE_NAMES))
    site_code = ma.fields.String(allow_none=True, validate=validate.Length(max=8))
    password = ma.fields.String(required=True, load_only=True,
                                validate=validate.Length(min=1, max=200))
    language = _language(allow_none=True)
    time_zone = _time_zone(allow_none=True)


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
    language = ma.fields.String(allow_none=True, metadata={"description": "Own choice; null: the site's"})
    time_zone = ma.fields.String(allow_none=True, metadata={
        "description": "Own choice; null: the site's (the facility's for users without a site)"})
