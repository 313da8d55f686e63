"""Pages: log in and log out, the password, and the reader's language and time zone."""
from urllib.parse import urlsplit
from zoneinfo import available_timezones

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_babel import gettext as _
from flask_babel import refresh
from werkzeug.wrappers import Response

from cell_chain.accounts import services
from cell_chain.accounts.lockout import TooManyAttempts
from cell_chain.accounts.permissions import require_actor, roles_required
from cell_chain.accounts.roles import ALL_ROLES
from cell_chain.accounts.sessions import end_session, start_session
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.core.errors import AuthFailure, DomainError
from cell_chain.accounts.models import LANGUAGES
from cell_chain.core.errors import ValidationFailed
from cell_chain.web.errors import count_auth_failure
from cell_chain.web.locale import LANGUAGE_NAMES, facility_zone_name

bp = Blueprint("accounts", __name__)

WRONG_SIGN_IN = _l("The username or password is wrong, or the account is locked after repeated failures. "
                 "Check them and try again; an administrator can unlock an account.")


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
        errors["username"] = [_("Enter your username.")]
    if not password:
        errors["password"] = [_("Enter your password.")]
    if errors:
        return _login_page(422, errors=errors, username=username)
    now = utcnow()
    try:
        user = services.authenticate(username, password, now=now, client=request.remote_addr)
    except TooManyAttempts as waiting:
        db.session.rollback()
        page, status = _login_page(429, errors={"password": [waiting.detail]}, username=username)
        return Response(page, status, headers={"Retry-After": str(waiting.extra["retry_after"])})
    except AuthFailure as failure:
        # Unknown name, locked account or wrong password: one answer, so none is revealed.
        db.session.rollback()
        services.register_auth_failure(failure, now=now)
        db.session.commit()
        return _login_page(401, errors={"password": [WRONG_SIGN_IN]}, username=username)
    start_session(user, now)
    db.session.commit()
    return redirect(_safe_next(request.args.get("next")))


@bp.post("/logout")
def logout() -> Response:
    end_session(utcnow())
    db.session.commit()
    return redirect(url_for("accounts.login_form"))


@bp.get("/account/password")
@roles_required(*ALL_ROLES)
def password_form() -> tuple[str, int]:
    return render_template("accounts/password.html", errors={},
                           required=require_actor().must_change_password), 200


@bp.post("/account/password")
@roles_required(*ALL_ROLES)
def change_password() -> tuple[str, int] | Response:
    actor = require_actor()
    old, new = request.form.get("old_password", ""), request.form.get("new_password", "")
    errors: dict[str, list[str]] = {}
    if not old:
        errors["old_password"] = [_("Enter your current password.")]
    if not new:
        errors["new_password"] = [_("Enter the new password.")]
    status = 422
    if not errors:
        try:
            services.change_password(actor, old_password=old, new_password=new, now=utcnow(),
                                     keep_session=g.get("user_session"))
            db.session.commit()
            flash(_('Your password is changed. Your other devices and API tokens are signed out.'), "ok")
            return redirect(url_for("home.index"))
        except AuthFailure as failure:
            count_auth_failure(failure)
            errors, status = {"old_password": [_("The current password is wrong.")]}, failure.status
        except DomainError as error:
            db.session.rollback()
            status = error.status
            errors = {"new_password": list(error.extra.get("errors", {}).get("new_password", [error.detail]))}
    return render_template("accounts/password.html", errors=errors,
                           required=require_actor().must_change_password), status


@bp.get("/language")
def visitor_language() -> Response:
    """A visitor's switch (a link: no form, so no session is made for someone who never uses
    it): the language for this browser session. A signed-in user's choice is their profile's,
    changed by the form (POST)."""
    language, target = request.args.get("language", ""), _safe_next(request.args.get("next"))
    if language in LANGUAGES and g.get("actor") is None:
        session["language"] = language
    return redirect(target)


@bp.post("/language")
def switch_language() -> Response:
    """The switch on every page: the signed-in user's own language from now on (a visitor's for
    this browser session)."""
    language = request.form.get("language", "")
    target = _safe_next(request.form.get("next"))
    if language not in LANGUAGES:
        return redirect(target)
    actor = g.get("actor")
    if actor is None:
        session["language"] = language
        return redirect(target)
    services.set_preferences(actor, language=language, time_zone=actor.time_zone, actor=actor, now=utcnow())
    db.session.commit()
    return redirect(target)


def _zones() -> list[str]:
    return sorted(zone for zone in available_timezones() if "/" in zone and not zone.startswith(("Etc/", "SystemV/")))


def _preferences_page(status: int = 200, errors: dict[str, list[str]] | None = None,
                      form: dict[str, str] | None = None) -> tuple[str, int]:
    actor = require_actor()
    return render_template(
        "accounts/preferences.html", errors=errors or {}, zones=_zones(), languages=LANGUAGE_NAMES,
        form=form or {"language": actor.language or "", "time_zone": actor.time_zone or ""},
        default_language=actor.site.language if actor.site else "en",
        default_zone=actor.site.time_zone if actor.site else facility_zone_name(),
    ), status


@bp.get("/account/preferences")
@roles_required(*ALL_ROLES)
def preferences_form() -> tuple[str, int]:
    return _preferences_page()


@bp.post("/account/preferences")
@roles_required(*ALL_ROLES)
def save_preferences() -> tuple[str, int] | Response:
    actor = require_actor()
    form = {"language": request.form.get("language", ""), "time_zone": request.form.get("time_zone", "").strip()}
    try:
        services.set_preferences(actor, language=form["language"] or None, time_zone=form["time_zone"] or None,
                                 actor=actor, now=utcnow())
    except ValidationFailed as error:
        db.session.rollback()
        return _preferences_page(422, errors={
            field: [_("Choose a language from the list.") if field == "language"
                    else _("Choose a time zone from the list, for example Asia/Shanghai.")]
            for field in error.extra.get("errors", {})}, form=form)
    db.session.commit()
    g.pop("reader_zone", None)
    refresh()
    flash(_("Your language and time zone are saved."), "ok")
    return redirect(url_for("accounts.preferences_form"))
