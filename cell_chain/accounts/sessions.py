"""Who is calling: a bearer token for API clients, a session cookie for the web UI."""
from datetime import datetime, timedelta

from flask import current_app, g, request, session

from cell_chain.accounts.models import User
from cell_chain.accounts.services import user_for_token
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def load_actor() -> None:
    """before_request: set g.actor (or None) and whether it came from a token."""
    g.actor, g.via_token = None, False
    now = utcnow()
    if (raw := bearer_token()) is not None:
        g.via_token = True
        g.actor = user_for_token(raw, now=now)
        return
    uid, seen = session.get("uid"), session.get("seen")
    if uid is None:
        return
    idle = timedelta(minutes=current_app.config["IDLE_TIMEOUT_MINUTES"])
    if seen is None or now - datetime.fromisoformat(seen) > idle:
        session.clear()
        g.session_expired = True
        return
    user = db.session.get(User, uid)
    if user is None or not user.active or user.is_locked(now) or session.get("auth") != user.password_hash[-16:]:
        session.clear()
        return
    session["seen"] = now.isoformat()
    g.actor = user


def start_session(user: User, now: datetime) -> None:
    # A fresh session at login, so nothing set before authentication survives it.
    session.clear()
    session.permanent = True
    session["uid"] = user.id
    session["seen"] = now.isoformat()
    # Changing the password invalidates existing sessions.
    session["auth"] = user.password_hash[-16:]


def end_session() -> None:
    session.clear()
