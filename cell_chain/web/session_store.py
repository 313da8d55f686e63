"""Session data kept on the server. The browser's cookie carries only a random id: the CSRF
token, flash messages and the signed-in session's id are stored here (under the id's hash),
never in a cookie anyone can read."""
import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, Request, Response
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import String, Text, delete, insert, select, update
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.datastructures import CallbackDict

from cell_chain.core.clock import utcnow
from cell_chain.core.db import UtcDateTime, begin_for_read, begin_for_write, db, restore_request_mode

# A session kept in use is written back at most this often when nothing in it changed: the
# row's time is what lets an abandoned session expire.
_REFRESH = timedelta(minutes=10)
_serializer = TaggedJSONSerializer()


class StoredSession(db.Model):
    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[str] = mapped_column(Text())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ServerSession(CallbackDict, SessionMixin):  # type: ignore[misc]
    def __init__(self, initial: dict[str, Any] | None = None, key: str | None = None,
                 updated_at: datetime | None = None) -> None:
        def on_update(session: "ServerSession") -> None:
            session.modified = True

        super().__init__(initial, on_update)
        self.key, self.updated_at, self.modified = key, updated_at, False
        # Signing in or out changes the signed-in id: the stored session then gets a new key,
        # so an id planted in a browser before login is worth nothing after it.
        self.signed_in_as = (initial or {}).get("sid")


class ServerSessionInterface(SessionInterface):
    def open_session(self, app: Flask, request: Request) -> ServerSession:
        key = request.cookies.get(self.get_cookie_name(app))
        if not key or len(key) > 128:
            return ServerSession()
        lifetime = app.permanent_session_lifetime
        # A read of its own: the request's transaction then begins as the request's kind needs.
        begin_for_read()
        row = db.session.execute(select(StoredSession.data, StoredSession.updated_at)
                                 .where(StoredSession.id_hash == _digest(key))).first()
        db.session.rollback()
        restore_request_mode()
        if row is None or utcnow() - row.updated_at > lifetime:
            return ServerSession()
        try:
            data = _serializer.loads(row.data)
        except ValueError:
            return ServerSession()
        return ServerSession(data, key, row.updated_at)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, ServerSession)
        name, domain, path = self.get_cookie_name(app), self.get_cookie_domain(app), self.get_cookie_path(app)
        now = utcnow()
        if not session:
            if session.key is not None:
                _remove(session.key)
                response.delete_cookie(name, domain=domain, path=path,
                                       secure=self.get_cookie_secure(app),
                                       samesite=self.get_cookie_samesite(app),
                                       httponly=self.get_cookie_httponly(app))
            return
        renewed = session.key is None or session.get("sid") != session.signed_in_as
        stale = session.updated_at is None or now - session.updated_at > _REFRESH
        if not (renewed or session.modified or stale):
            return
        data = _serializer.dumps(dict(session))
        # The request's own work is committed or abandoned by now: a short write of its own.
        begin_for_write()
        if renewed:
            if session.key is not None:
                db.session.execute(delete(StoredSession).where(StoredSession.id_hash == _digest(session.key)))
            session.key = secrets.token_urlsafe(32)
            db.session.execute(delete(StoredSession)
                               .where(StoredSession.updated_at < now - app.permanent_session_lifetime))
            db.session.execute(insert(StoredSession).values(
                id_hash=_digest(session.key), data=data, updated_at=now))
        else:
            db.session.execute(update(StoredSession).where(StoredSession.id_hash == _digest(session.key))
                               .values(data=data, updated_at=now))
        db.session.commit()
        restore_request_mode()
        response.set_cookie(name, session.key, expires=self.get_expiration_time(app, session),
                            httponly=self.get_cookie_httponly(app), domain=domain, path=path,
                            secure=self.get_cookie_secure(app), samesite=self.get_cookie_samesite(app))
        response.vary.add("Cookie")


def _remove(key: str) -> None:
    begin_for_write()
    db.session.execute(delete(StoredSession).where(StoredSession.id_hash == _digest(key)))
    db.session.commit()
    restore_request_mode()


def init_app(app: Flask) -> None:
    app.session_interface = ServerSessionInterface()
