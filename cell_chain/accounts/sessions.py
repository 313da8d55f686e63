"""Who is calling: a bearer token for API clients, a session cookie for the web UI."""
import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app, g, request, session
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select, update

from cell_chain.accounts.models import User, UserSession
from cell_chain.accounts.services import user_for_token
from cell_chain.core.clock import utcnow
from cell_chain.core.db import begin_for_write, db, restore_request_mode


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


_SEEN_GRANULARITY = timedelta(seconds=30)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _open_session(raw: str | None) -> UserSession | None:
    if not isinstance(raw, str):
        return None
    found = db.session.scalar(select(UserSession).where(UserSession.token_hash == _digest(raw)))
    return found if found is not None and found.ended_at is None else None


def load_actor() -> None:
    """before_request: set g.actor (or None) and whether it came from a token."""
    g.actor, g.via_token = None, False
    now = utcnow()
    if (raw := bearer_token()) is not None:
        g.via_token = True
        g.actor = user_for_token(raw, now=now)
        return
    sid = session.get("sid")
    if sid is None:
        return
    current = _open_session(sid)
    user = current.user if current is not None else None
    if current is None or user is None or not user.active:
        session.clear()
        return
    idle = timedelta(minutes=current_app.config["IDLE_TIMEOUT_MINUTES"])
    seen = current.last_seen_at or current.started_at
    if now - seen > idle:
        _touch(current.id, ended_at=now)
        session.clear()
        g.session_expired = True
        return
    if now - seen > _SEEN_GRANULARITY:
        # Its own short transaction, and not on every request: a page view must not hold
        # SQLite's write lock for the rest of the request.
        _touch(current.id, last_seen_at=now)
        current = db.session.get(UserSession, current.id)
        user = current.user if current is not None else None
        if current is None or user is None:
            session.clear()
            return
    g.actor, g.user_session = user, current


def _touch(session_id: int, **values: datetime) -> None:
    begin_for_write()
    db.session.execute(update(UserSession).where(UserSession.id == session_id).values(**values))
    db.session.commit()
    restore_request_mode()


def start_session(user: User, now: datetime) -> None:
    """A fresh session at login (the caller commits): nothing set before authentication
    survives it, and its id is new, so a session id planted before login is worthless."""
    session.clear()
    raw = secrets.token_urlsafe(32)
    db.session.add(UserSession(user=user, token_hash=_digest(raw), started_at=now, last_seen_at=now))
    session.permanent = True
    # Nothing but the opaque id: the idle time and the account live on the server, and a
    # password change or deactivation ends the session there.
    session["sid"] = raw
    # A fresh CSRF token with the fresh session, written with it: the first page after login
    # then changes nothing in the stored session.
    g.pop("csrf_token", None)
    generate_csrf()


def end_session(now: datetime) -> None:
    """Log out (the caller commits): the session ends on the server as well as in the browser."""
    if (current := _open_session(session.get("sid"))) is not None:
        current.ended_at = now
    session.clear()
