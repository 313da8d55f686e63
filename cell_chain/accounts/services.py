"""Verbs on sites and users: create, correct, authenticate, lock out, issue tokens."""
import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from cell_chain.accounts.lockout import (
    ANY_CLIENT,
    SIGN_IN,
    SIGNATURE,
    check_throttle,
    forget,
    register_sign_in_failure,
    register_signature_failure,
)
from cell_chain.accounts.models import LANGUAGES, ApiToken, Site, User, UserSession
from cell_chain.accounts.passwords import hash_password, needs_rehash, password_matches, password_problems
from cell_chain.accounts.permissions import require_admin
from cell_chain.accounts.roles import Role, is_site_role
from cell_chain.core import audit
from cell_chain.core.clock import is_zone_name
from cell_chain.core.db import db, refuse_duplicate
from cell_chain.core.errors import AuthFailure, Forbidden, ReasonRequired, SignatureInvalid, ValidationFailed
from cell_chain.core.messages import _l

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_SITE_CODE = re.compile(r"^[A-Z]{2,8}$")


_require_admin = require_admin


def site_by_code(code: str) -> Site | None:
    return db.session.scalar(select(Site).where(Site.code == code))


def user_by_username(username: str) -> User | None:
    return db.session.scalar(select(User).where(User.username == username))


def create_site(*, code: str, name: str, city: str, actor: User | None, now: datetime,
                time_zone: str = "UTC", language: str = "en") -> Site:
    """Register a hospital site with its IANA time zone and language. Raises Forbidden,
    ValidationFailed."""
    _require_admin(actor)
    errors: dict[str, list[str]] = {}
    if not _SITE_CODE.match(code or ""):
        errors["code"] = [_l("Use 2 to 8 capital letters, e.g. LZ.")]
    elif site_by_code(code):
        errors["code"] = [_l("Site %(code)s already exists.", code=code)]
    if not (name or "").strip():
        errors["name"] = [_l("Give the hospital's name.")]
    if not (city or "").strip():
        errors["city"] = [_l("Give the city.")]
    errors.update(_preference_problems(language, time_zone))
    if errors:
        raise ValidationFailed(errors)
    site = Site(code=code, name=name.strip(), city=city.strip(), time_zone=time_zone, language=language,
                created_at=now)
    with refuse_duplicate(Site.code, ValidationFailed({"code": [_l("Site %(code)s already exists.", code=code)]})):
        db.session.add(site)
    audit.record_created(site, "site.created", actor=actor, at=now)
    return site


def create_user(
    *, username: str, display_name: str, role: str, password: str, site_code: str | None,
    actor: User | None, now: datetime, language: str | None = None, time_zone: str | None = None,
) -> User:
    """Create an account. Site roles need a site; central roles must not have one.
    Raises Forbidden, ValidationFailed."""
    _require_admin(actor)
    errors: dict[str, list[str]] = {}
    if not _USERNAME.match(username or ""):
        errors["username"] = [_l("Use 2 to 64 lower-case letters, digits, dots, dashes or underscores.")]
    elif user_by_username(username):
        errors["username"] = [_l("User %(username)s already exists.", username=username)]
    if not (display_name or "").strip():
        errors["display_name"] = [_l("Give the printed name used on signatures.")]
    if role not in {r.value for r in Role}:
        errors["role"] = [_l("Role must be one of: %(roles)s.", roles=", ".join(r.value for r in Role))]
    site = None
    if site_code:
        site = site_by_code(site_code)
        if site is None:
            errors["site_code"] = [_l("No site %(site)s.", site=site_code)]
    if role in {r.value for r in Role} and "site_code" not in errors:
        if is_site_role(role) and not site_code:
            errors["site_code"] = [_l("A %(role)s works at a site: give site_code.", role=role)]
        elif not is_site_role(role) and site_code:
            errors["site_code"] = [_l("A %(role)s is not tied to one site: leave site_code out.", role=role)]
    if problems := password_problems(password or ""):
        errors["password"] = problems
    errors.update(_preference_problems(language, time_zone))
    if errors:
        raise ValidationFailed(errors)
    user = User(
        username=username, display_name=display_name.strip(), role=role, site=site,
        language=language, time_zone=time_zone,
        password_hash=hash_password(password), active=True, failed_logins=0, created_at=now,
        # A password an administrator chose is known to two people until its owner changes it.
        must_change_password=actor is not None,
    )
    with refuse_duplicate(User.username, ValidationFailed({"username": [_l("User %(username)s already exists.", username=username)]})):
        db.session.add(user)
    audit.record_created(user, "user.created", actor=actor, at=now)
    return user


def _preference_problems(language: str | None, time_zone: str | None) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if language is not None and language not in LANGUAGES:
        errors["language"] = [_l("Language must be one of: %(languages)s.", languages=", ".join(LANGUAGES))]
    if time_zone is not None and not is_zone_name(time_zone):
        errors["time_zone"] = [_l("Not an IANA time zone; use a name such as Asia/Shanghai.")]
    return errors


def set_preferences(user: User, *, language: str | None, time_zone: str | None, actor: User,
                    now: datetime) -> User:
    """A user's own language and time zone (None: follow the site). Only the user sets them.
    Raises Forbidden, ValidationFailed."""
    if actor.id != user.id:
        raise Forbidden(_l("Only the user chooses their own language and time zone."))
    if errors := _preference_problems(language, time_zone):
        raise ValidationFailed(errors)
    if (user.language, user.time_zone) != (language, time_zone):
        user.language, user.time_zone = language, time_zone
        audit.record_change(user, "user.preferences_changed", actor=actor, at=now)
    return user


def correct_user(
    user: User, changes: dict[str, Any], *, reason: str | None, actor: User | None, now: datetime
) -> User:
    """Correct a user's printed name or active flag. Raises Forbidden, ReasonRequired."""
    _require_admin(actor)
    for field in ("display_name", "active"):
        if field in changes:
            setattr(user, field, changes[field])
    audit.record_change(user, "user.corrected", actor=actor, at=now, reason=reason,
                        correction=True)
    if changes.get("active") is False:
        # Deactivation is final for what was issued: reactivating the account later must not
        # bring old tokens or browser sessions back.
        revoke_credentials(user, now=now)
    return user


def revoke_credentials(user: User, *, now: datetime, keep_token: ApiToken | None = None,
                       keep_session: Any = None) -> int:
    """End every token and browser session of `user` except the ones kept; how many ended."""
    ended = 0
    for token in db.session.scalars(select(ApiToken).where(
            ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None), ApiToken.expires_at > now)):
        if keep_token is None or token.id != keep_token.id:
            token.revoked_at, ended = now, ended + 1
    for open_session in db.session.scalars(select(UserSession).where(
            UserSession.user_id == user.id, UserSession.ended_at.is_(None))):
        if keep_session is None or open_session.id != keep_session.id:
            open_session.ended_at, ended = now, ended + 1
    return ended


def change_password(user: User, *, old_password: str, new_password: str, now: datetime,
                    keep_token: ApiToken | None = None, keep_session: Any = None) -> int:
    """The owner changes their password: the old one is required, the new one must meet the
    policy; every other token and session of theirs ends (audited). Raises SignatureInvalid
    (a wrong old password, counted like a wrong signature), ValidationFailed."""
    confirm_password(user, old_password or "", now=now)
    if problems := password_problems(new_password or "", username=user.username):
        raise ValidationFailed({"new_password": problems})
    if password_matches(user.password_hash, new_password):
        raise ValidationFailed({"new_password": [_l("Choose a password different from the current one.")]})
    user.password_hash = hash_password(new_password)
    user.must_change_password = False
    ended = revoke_credentials(user, now=now, keep_token=keep_token, keep_session=keep_session)
    audit.record_event(user, "user.password_changed", actor=user, at=now,
                       details={"by": "owner", "credentials_ended": ended})
    return ended


def set_password(user: User, *, password: str, reason: str | None, actor: User | None,
                 now: datetime) -> None:
    """An administrator sets a new password (a forgotten one): it must be changed at the next
    sign-in, and every token and session of the account ends (audited). Raises Forbidden,
    ValidationFailed, ReasonRequired."""
    require_admin(actor)
    if not (reason or "").strip():
        raise ReasonRequired(_l("Give the reason for setting this password."))
    if problems := password_problems(password or "", username=user.username):
        raise ValidationFailed({"password": problems})
    user.password_hash = hash_password(password)
    user.must_change_password = True
    ended = revoke_credentials(user, now=now)
    audit.record_event(user, "user.password_set", actor=actor, at=now, reason=reason.strip() if reason else None,
                       details={"by": "admin", "credentials_ended": ended})


def _settings() -> tuple[int, timedelta]:
    cfg = current_app.config
    return cfg["LOCKOUT_THRESHOLD"], timedelta(minutes=cfg["LOCKOUT_MINUTES"])


def authenticate(username: str, password: str, *, now: datetime, client: str | None = None) -> User:
    """The user behind a username and password, signing in from `client` (an address).
    Unknown, inactive, locked and wrong-password attempts raise the same AuthFailure and cost
    the same time (the hash always runs); the caller rolls back and passes the failure to
    `register_auth_failure`. Raises TooManyAttempts while this name and client must wait."""
    check_throttle(SIGN_IN, username or "", client, now=now)
    user = user_by_username(username or "")
    matches = password_matches(user.password_hash if user is not None else None, password or "")
    if user is None or not user.active or user.is_locked(now) or not matches:
        raise _failure(AuthFailure(), scope=SIGN_IN, username=username or "", client=client,
                       user_id=user.id if user is not None else None)
    forget(SIGN_IN, username, client)
    if needs_rehash(user.password_hash):  # the hashing parameters changed since it was set
        user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    return user


def _failure(error: AuthFailure, *, scope: str, username: str, client: str | None,
             user_id: int | None) -> AuthFailure:
    error.scope, error.username, error.client, error.user_id = scope, username, client, user_id
    return error


def confirm_password(user: User, password: str, *, now: datetime, scope: str = SIGNATURE) -> None:
    """Re-entry of a password for an e-signature (`scope` SIGNATURE for one's own,
    WITNESS for a witness). Raises SignatureInvalid (counted on the account and throttled,
    never a lock-out), TooManyAttempts."""
    check_throttle(scope, user.username, ANY_CLIENT, now=now)
    if not user.active or not password_matches(user.password_hash, password or ""):
        raise _failure(SignatureInvalid(), scope=scope, username=user.username, client=ANY_CLIENT,
                       user_id=user.id)
    forget(scope, user.username, ANY_CLIENT)


def register_auth_failure(error: AuthFailure, *, now: datetime) -> None:
    """Count a wrong password in its own transaction (the caller commits)."""
    scope = getattr(error, "scope", SIGN_IN)
    if scope == SIGN_IN:
        register_sign_in_failure(getattr(error, "username", ""), client=getattr(error, "client", None), now=now)
    elif error.user_id is not None:
        register_signature_failure(error.user_id, scope=scope, now=now)


def register_failed_attempt(user_id: int, *, now: datetime, client: str | None = None) -> None:
    """A failed sign-in of a known account (the fifth in a row locks its sign-in)."""
    user = db.session.get(User, user_id)
    if user is not None:
        register_sign_in_failure(user.username, client=client, now=now)


def _token_digest(raw: str) -> str:
    # Tokens carry 256 bits of randomness, so a fast hash is enough to make a leak useless.
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_token(user: User, *, now: datetime) -> tuple[str, ApiToken]:
    raw = secrets.token_urlsafe(32)
    hours = current_app.config["TOKEN_HOURS"]
    token = ApiToken(user=user, token_hash=_token_digest(raw), created_at=now,
                     expires_at=now + timedelta(hours=hours))
    db.session.add(token)
    return raw, token


def user_for_token(raw: str, *, now: datetime) -> User | None:
    token = token_for(raw)
    if token is None or token.expires_at <= now or token.revoked_at is not None:
        return None
    # A lock on the account's sign-in does not end a token: only its owner, an administrator
    # or deactivation does.
    return token.user if token.user.active else None


def token_for(raw: str) -> ApiToken | None:
    return db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_digest(raw)))


def revoke_token(token: ApiToken, *, now: datetime) -> None:
    """Log an API client out: the token stops working at once."""
    if token.revoked_at is None:
        token.revoked_at = now
