"""Pages: log in and log out."""
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from cell_chain.accounts import services
from cell_chain.accounts.sessions import end_session, start_session
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.core.errors import AccountLocked, AuthFailure

bp = Blueprint("accounts", __name__)


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect after login is a phishing aid.
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("home.index")


def _login_page(status: int = 200, **context: object) -> tuple[str, int]:
    context.setdefault("errors", {})
    context.setdefault("username", "")
    return render_template(
        "accounts/login.html", next=request.args.get("next", ""),
        idle_minutes=current_app.config["IDLE_TIMEOUT_MINUTES"], **context,
    ), status


@bp.get("/login")
def login_form() -> tuple[str, int] | Response:
    if g.get("actor") is not None:
        return redirect(_safe_next(request.args.get("next")))
    return _login_page(expired=request.args.get("expired") == "1")


@bp.post("/login")
def login() -> tuple[str, int] | Response:
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    errors: dict[str, list[str]] = {}
    if not username:
        errors["username"] = ["Enter your username."]
    if not password:
        errors["password"] = ["Enter your password."]
    if errors:
        return _login_page(422, errors=errors, username=username)
    now = utcnow()
    try:
        user = services.authenticate(username, password, now=now)
    except AccountLocked as locked:
        db.session.rollback()
        return _login_page(423, errors={"username": [locked.detail + " Ask an administrator if this is urgent."]},
                           username=username)
    except AuthFailure as failure:
        db.session.rollback()
        if failure.user_id is not None:
            services.register_failed_attempt(failure.user_id, now=now)
            db.session.commit()
        return _login_page(401, errors={"password": ["The username or password is wrong. Check them and try again."]},
                           username=username)
    start_session(user, now)
    db.session.commit()
    return redirect(_safe_next(request.args.get("next")))


@bp.post("/logout")
def logout() -> Response:
    end_session(utcnow())
    db.session.commit()
    return redirect(url_for("accounts.login_form"))
