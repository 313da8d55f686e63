"""Throttling wrong passwords without handing anyone a weapon.

- Sign-in: each (typed username, client address) pair gets a few free failures, then a delay
  that doubles with each further failure (capped). Existing or not, every username is
  throttled alike, so the answer says nothing about whether the account exists. Repeated
  failures from anywhere also lock the account's *sign-in* for a while; a live session or
  token is never ended by someone else's wrong password.
- Signatures: a wrong password typed when signing or witnessing is counted on the account
  (an audited alert at the threshold) and throttles further attempts of the same kind, for
  that account only: a colleague's wrong witness password never stops the witness signing
  their own work, signing in or using their session.
"""
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import String, UniqueConstraint, select, update
from sqlalchemy.orm import Mapped, mapped_column

from cell_chain.accounts.models import User
from cell_chain.accounts.permissions import require_admin
from cell_chain.core import audit
from cell_chain.core.db import UtcDateTime, db
from cell_chain.core.errors import DomainError
from cell_chain.core.messages import _l

SIGN_IN, SIGNATURE, WITNESS = "sign_in", "signature", "witness"
# Signature throttles do not depend on where the attempt came from: the signer is logged in.
ANY_CLIENT = "*"


class TooManyAttempts(DomainError):
    status, code, title = 429, "TOO_MANY_ATTEMPTS", "Too many wrong passwords: wait before trying again"


class LoginThrottle(db.Model):
    __tablename__ = "login_throttles"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column()
    last_failure_at: Mapped[datetime] = mapped_column(UtcDateTime())
    blocked_until: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (UniqueConstraint("scope", "name", "client", name="uq_login_throttles_key"),)


def _cfg(key: str) -> Any:
    return current_app.config[key]


def _key(scope: str, name: str, client: str | None) -> tuple[str, str, str]:
    return scope, (name or "").strip().lower()[:64], (client or "unknown")[:64]


def _row(scope: str, name: str, client: str | None) -> LoginThrottle | None:
    scope, name, client = _key(scope, name, client)
    return db.session.scalar(select(LoginThrottle).where(
        LoginThrottle.scope == scope, LoginThrottle.name == name, LoginThrottle.client == client))


def delay_after(failures: int) -> timedelta:
    """The wait before the next attempt after `failures` wrong passwords in a row."""
    free = _cfg("THROTTLE_FREE_ATTEMPTS")
    if failures < free:
        return timedelta(0)
    return timedelta(seconds=min(2 ** (failures - free), _cfg("THROTTLE_MAX_SECONDS")))


def check_throttle(scope: str, name: str, client: str | None, *, now: datetime) -> None:
    """Raise TooManyAttempts (with `retry_after` seconds) while the pair must wait."""
    row = _row(scope, name, client)
    if row is not None and row.blocked_until is not None and row.blocked_until > now:
        wait = max(1, int((row.blocked_until - now).total_seconds() + 0.999))
        raise TooManyAttempts(_l("Too many wrong passwords. Wait %(seconds)s seconds before trying again.", seconds=wait),
                              retry_after=wait)


def note_failure(scope: str, name: str, client: str | None, *, now: datetime) -> LoginThrottle:
    """Count one wrong password for the pair (the caller commits, in its own transaction)."""
    row = _row(scope, name, client)
    if row is None:
        scope, name, client = _key(scope, name, client)
        row = LoginThrottle(scope=scope, name=name, client=client, failures=0, last_failure_at=now)
        db.session.add(row)
    # A quiet quarter of an hour forgives the past failures.
    if now - row.last_failure_at > timedelta(minutes=_cfg("LOCKOUT_MINUTES")):
        row.failures = 0
    row.failures += 1
    row.last_failure_at = now
    wait = delay_after(row.failures)
    row.blocked_until = now + wait if wait else None
    db.session.flush()
    return row


def forget(scope: str, name: str, client: str | None) -> None:
    if (row := _row(scope, name, client)) is not None:
        db.session.delete(row)


def register_sign_in_failure(username: str, *, client: str | None, now: datetime) -> None:
    """A failed sign-in, known user or not (the caller commits). The same statements run for
    both, so the database work does not tell them apart either."""
    note_failure(SIGN_IN, username, client, now=now)
    name = (username or "").strip()[:64]
    db.session.execute(update(User).where(User.username == name)
                       .values(failed_logins=User.failed_logins + 1))
    user = db.session.scalar(select(User).where(User.username == name).execution_options(populate_existing=True))
    if user is not None and user.failed_logins >= _cfg("LOCKOUT_THRESHOLD") and not user.is_locked(now):
        user.locked_until = now + timedelta(minutes=_cfg("LOCKOUT_MINUTES"))
        user.failed_logins = 0
        audit.record_event(user, "user.locked", actor=None, at=now,
                           details={"locked_until": user.locked_until.isoformat(),
                                    "failures": _cfg("LOCKOUT_THRESHOLD"), "applies_to": "sign-in"})


def register_signature_failure(user_id: int, *, scope: str, now: datetime) -> None:
    """A wrong password when signing (`SIGNATURE`) or witnessing (`WITNESS`): counted, alerted
    at the threshold, throttled for that kind of attempt only (the caller commits)."""
    user = db.session.get(User, user_id, populate_existing=True)
    if user is None:
        return
    user.failed_signatures += 1
    row = note_failure(scope, user.username, ANY_CLIENT, now=now)
    if row.failures == _cfg("THROTTLE_FREE_ATTEMPTS"):
        audit.record_event(user, "user.signature_failures", actor=None, at=now,
                           details={"failures": row.failures, "as": scope,
                                    "throttled_until": row.blocked_until.isoformat()
                                    if row.blocked_until else None})


def lockouts(*, now: datetime) -> list[dict[str, Any]]:
    """Accounts whose sign-in is locked and the throttles still in force, for the admin."""
    rows: list[dict[str, Any]] = []
    for user in db.session.scalars(select(User).where(User.locked_until > now).order_by(User.username)):
        rows.append({"username": user.username, "kind": "account_locked", "client": None,
                     "failures": None, "until": user.locked_until})
    for row in db.session.scalars(select(LoginThrottle).where(LoginThrottle.blocked_until > now)
                                  .order_by(LoginThrottle.name, LoginThrottle.scope)):
        rows.append({"username": row.name, "kind": f"{row.scope}_throttled",
                     "client": None if row.client == ANY_CLIENT else row.client,
                     "failures": row.failures, "until": row.blocked_until})
    return rows


def clear_lockout(user: User, *, actor: User | None, reason: str | None, now: datetime) -> None:
    """An administrator lifts the account's lock and every throttle on its name (audited).
    Raises Forbidden."""
    require_admin(actor)
    throttles = list(db.session.scalars(select(LoginThrottle).where(
        LoginThrottle.name == user.username.lower())))
    details = {"locked_until": user.locked_until.isoformat() if user.locked_until else None,
               "throttles": len(throttles), "failed_signatures": user.failed_signatures}
    user.locked_until, user.failed_logins, user.failed_signatures = None, 0, 0
    for row in throttles:
        db.session.delete(row)
    audit.record_event(user, "user.lockout_cleared", actor=actor, at=now, details=details, reason=reason)
    db.session.flush()


