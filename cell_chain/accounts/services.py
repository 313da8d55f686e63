"""Verbs on sites and users: create, correct, authenticate, lock out, issue tokens."""
import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from cell_chain.accounts.models import ApiToken, Site, User
from cell_chain.accounts.passwords import (
    hash_password,
    needs_rehash,
    password_matches,
    password_problems,
)
from cell_chain.accounts.roles import Role, is_site_role
from cell_chain.core import audit
from cell_chain.core.db import db, refuse_duplicate
from cell_chain.core.errors import AccountLocked, AuthFailure, Forbidden, SignatureInvalid, ValidationFailed

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_SITE_CODE = re.compile(r"^[A-Z]{2,8}$")


def _require_admin(actor: User | None) -> None:
    # `None` is the CLI acting as the system operator on the server itself.
    if actor is not None and actor.role != Role.ADMIN:
        raise Forbidden("Only an administrator manages sites and users.")


def site_by_code(code: str) -> Site | None:
    return db.session.scalar(select(Site).where(Site.code == code))


def user_by_username(username: str) -> User | None:
    return db.session.scalar(select(User).where(User.username == username))


def create_site(*, code: str, name: str, city: str, actor: User | None, now: datetime) -> Site:
    """Register a hospital site. Raises Forbidden, ValidationFailed."""
    _require_admin(actor)
    errors: dict[str, list[str]] = {}
    if not _SITE_CODE.match(code or ""):
        errors["code"] = ["Use 2 to 8 capital letters, e.g. LZ."]
    elif site_by_code(code):
        errors["code"] = [f"Site {code} already exists."]
    if not (name or "").strip():
        errors["name"] = ["Give the hospital's name."]
    if not (city or "").strip():
        errors["city"] = ["Give the city."]
    if errors:
        raise ValidationFailed(errors)
    site = Site(code=code, name=name.strip(), city=city.strip(), created_at=now)
    with refuse_duplicate(Site.code, ValidationFailed({"code": [f"Site {code} already exists."]})):
        db.session.add(site)
    audit.record_created(site, "site.created", actor=actor, at=now)
    return site


def create_user(
    *, username: str, display_name: str, role: str, password: str, site_code: str | None,
    actor: User | None, now: datetime,
) -> User:
    """Create an account. Site roles need a site; central roles must not have one.
    Raises Forbidden, ValidationFailed."""
    _require_admin(actor)
    errors: dict[str, list[str]] = {}
    if not _USERNAME.match(username or ""):
        errors["username"] = ["Use 2 to 64 lower-case letters, digits, dots, dashes or underscores."]
    elif user_by_username(username):
        errors["username"] = [f"User {username} already exists."]
    if not (display_name or "").strip():
        errors["display_name"] = ["Give the printed name used on signatures."]
    if role not in {r.value for r in Role}:
        errors["role"] = [f"Role must be one of: {', '.join(r.value for r in Role)}."]
    site = None
    if site_code:
        site = site_by_code(site_code)
        if site is None:
            errors["site_code"] = [f"No site {site_code}."]
    if role in {r.value for r in Role} and "site_code" not in errors:
        if is_site_role(role) and not site_code:
            errors["site_code"] = [f"A {role} works at a site: give site_code."]
        elif not is_site_role(role) and site_code:
            errors["site_code"] = [f"A {role} is not tied to one site: leave site_code out."]
    if problems := password_problems(password or ""):
        errors["password"] = problems
    if errors:
        raise ValidationFailed(errors)
    user = User(
        username=username, display_name=display_name.strip(), role=role, site=site,
        password_hash=hash_password(password), active=True, failed_logins=0, created_at=now,
    )
    with refuse_duplicate(User.username, ValidationFailed({"username": [f"User {username} already exists."]})):
        db.session.add(user)
    audit.record_created(user, "user.created", actor=actor, at=now)
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
    return user


def _settings() -> tuple[int, timedelta]:
    cfg = current_app.config
    return cfg["LOCKOUT_THRESHOLD"], timedelta(minutes=cfg["LOCKOUT_MINUTES"])


def _check_password(user: User | None, password: str, now: datetime,
                    failure: type[AuthFailure]) -> User:
    if user is not None and user.is_locked(now):
        raise AccountLocked(f"Locked until {user.locked_until:%H:%M} UTC after repeated failures.",
                            locked_until=user.locked_until.isoformat())
    if user is None or not user.active or not password_matches(user.password_hash, password):
        raise failure(user_id=user.id if user is not None and user.active else None)
    return user


def authenticate(username: str, password: str, *, now: datetime) -> User:
    """The user behind a username and password. Raises AccountLocked, AuthFailure (whose
    `user_id` the caller passes to `register_failed_attempt` after rolling back)."""
    user = _check_password(user_by_username(username or ""), password or "", now, AuthFailure)
    if needs_rehash(user.password_hash):  # the hashing parameters changed since it was set
        user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    return user


def confirm_password(user: User, password: str, *, now: datetime) -> None:
    """Re-entry of one's own password for an e-signature. Raises AccountLocked,
    SignatureInvalid (counted toward lock-out like a failed login)."""
    _check_password(user, password or "", now, SignatureInvalid)
    user.failed_logins = 0


def register_failed_attempt(user_id: int, *, now: datetime) -> None:
    """Count a wrong password in its own transaction; the fifth locks the account."""
    threshold, lock_for = _settings()
    db.session.execute(
        update(User).where(User.id == user_id).values(failed_logins=User.failed_logins + 1)
    )
    user = db.session.get(User, user_id, populate_existing=True)
    if user is not None and user.failed_logins >= threshold and not user.is_locked(now):
        user.locked_until = now + lock_for
        user.failed_logins = 0
        audit.record_event(user, "user.locked", actor=None, at=now,
                           details={"locked_until": user.locked_until.isoformat(),
                                    "failures": threshold})


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
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_digest(raw)))
    if token is None or token.expires_at <= now:
        return None
    user = token.user
    if not user.active or user.is_locked(now):
        return None
    return user
