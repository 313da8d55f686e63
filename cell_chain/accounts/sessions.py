"""Who is calling: a bearer token for API clients, a session cookie for the web UI."""
import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app, g, request, session
from sqlalchemy import select

from cell_chain.accounts.models import User, UserSession
from cell_chain.accounts.services import user_for_token
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


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
    sid, seen = session.get("sid"), session.get("seen")
    if sid is None:
        return
    idle = timedelta(minutes=current_app.config["IDLE_TIMEOUT_MINUTES"])
    if seen is None or now - datetime.fromisoformat(seen) > idle:
        session.clear()
        g.session_expired = True
        return
    current = _open_session(sid)
    user = current.user if current is not None else None
    if user is None or not user.active or user.is_locked(now) or session.get("auth") != user.password_hash[-16:]:
        session.clear()
        return
    session["seen"] = now.isoformat()
    g.actor = user


def start_session(user: User, now: datetime) -> None:
    """A fresh session at login (the caller commits): nothing set before authentication
    survives it, and its id is new, so a session id planted before login is worthless."""
    session.clear()
    raw = secrets.token_urlsafe(32)
    db.session.add(UserSession(user=user, token_hash=_digest(raw), started_at=now))
    session.permanent = True
    session["sid"] = raw
    session["seen"] = now.isoformat()
    # Changing the password invalidates existing sessions.
    session["auth"] = user.password_hash[-16:]


def end_session(now: datetime) -> None:
    """Log out (the caller commits): the session ends on the server as well as in the browser."""
    if (current := _open_session(session.get("sid"))) is not None:
        current.ended_at = now
    session.clear()
