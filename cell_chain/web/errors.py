"""One error path for API and pages: domain refusals, CSRF failures and unexpected faults."""
import logging
from collections.abc import Callable

from flask import Flask, Response, g, has_request_context, make_response, redirect, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session
from werkzeug.exceptions import InternalServerError, ServiceUnavailable

from cell_chain.core.db import db
from cell_chain.core.errors import AuthFailure, DomainError, Unauthenticated
from cell_chain.core.messages import translated
from cell_chain.web.api import domain_problem, error_renderer, problem, wants_problem_json
from cell_chain.web.error_page import html_error_page

log = logging.getLogger(__name__)


# Hook: accounts counts a wrong password toward lock-out (web knows no accounts). Each
# listener runs in its own transaction after the failed request's work is discarded.
_AUTH_FAILURE_LISTENERS: list[Callable[[AuthFailure], None]] = []


def on_auth_failure(listener: Callable[[AuthFailure], None]) -> None:
    if listener not in _AUTH_FAILURE_LISTENERS:
        _AUTH_FAILURE_LISTENERS.append(listener)


def count_auth_failure(error: AuthFailure) -> None:
    # The request's transaction is discarded first: a failed signature must leave no trace
    # of the signed action, but the failed attempt itself must be kept.
    db.session.rollback()
    for listener in _AUTH_FAILURE_LISTENERS:
        listener(error)
    db.session.commit()


def login_redirect() -> Response:
    expired = "1" if g.get("session_expired") else None
    target = request.full_path.rstrip("?")
    return redirect(url_for("accounts.login_form", next=None if target == "/" else target,
                            expired=expired))


def render_domain_error(error: DomainError) -> Response | tuple[str, int]:
    """The answer to a refusal: problem+json for the API, the login page or an error page."""
    db.session.rollback()
    if isinstance(error, AuthFailure):
        count_auth_failure(error)
    if wants_problem_json():
        response = domain_problem(error)
        if "retry_after" in error.extra:
            response.headers["Retry-After"] = str(error.extra["retry_after"])
        return response
    if isinstance(error, Unauthenticated):
        return login_redirect()
    return html_error_page(error.status, translated(error.detail))


def _csrf_error(error: CSRFError) -> Response | tuple[str, int]:
    db.session.rollback()
    message = _("The form expired or came from elsewhere. Go back, reload the page and try again.")
    log.warning("CSRF refused: %s", error.description)
    if wants_problem_json():
        return problem(400, "CSRF_FAILED", "CSRF check failed", message)
    return html_error_page(400, message)


# The database is down, unreachable or gave up on the statement (lost connection, server
# shutting down, disk full, lock or serialisation timeout): a fault of the service, worth a
# retry. Every other exception, SQLAlchemy's included, is a programming error: a 500.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)


@event.listens_for(Session, "after_commit")
def _note_commit(session: Session) -> None:
    # A fault after the route's commit must not be reported as "nothing was saved".
    if has_request_context():
        g.committed = True


def _rollback_quietly() -> None:
    try:
        db.session.rollback()
    except SQLAlchemyError:
        # The connection is gone: the database has discarded the transaction already.
        log.warning("rollback after a failed request failed too", exc_info=True)


def _unexpected(error: Exception) -> Response:
    _rollback_quietly()
    saved = bool(g.get("committed"))
    if isinstance(error, DATABASE_UNAVAILABLE):
        log.error("database unavailable: %s", error, exc_info=error)
        status, code, title = 503, "SERVICE_UNAVAILABLE", "Service unavailable"
        message = _("The database is not answering.") + " "
    else:
        log.exception("unhandled error", exc_info=error)
        status, code, title = 500, "INTERNAL_ERROR", "Internal error"
        message = _("Something went wrong on the server.") + " "
    message += (_("Your change was saved, but the answer could not be completed: reload before doing it again.")
                if saved else _("Nothing was saved. Try again in a moment or call support."))
    if (render := error_renderer(request.path)) is not None:
        response = render(ServiceUnavailable(message) if status == 503 else InternalServerError(message))
    elif wants_problem_json():
        response = problem(status, code, title, message)
    else:
        if status == 503:
            # The page header names the user; reloading them would ask the database again.
            g.actor = None
        response = make_response(html_error_page(status, message))
    response.headers["Cache-Control"] = "no-store"
    if status == 503:
        response.headers["Retry-After"] = "5"
    return response


def init_error_handlers(app: Flask) -> None:
    app.register_error_handler(DomainError, render_domain_error)
    app.register_error_handler(CSRFError, _csrf_error)
    if not app.testing:
        app.register_error_handler(Exception, _unexpected)

    @app.teardown_request
    def _discard_uncommitted(exc: BaseException | None) -> None:
        if exc is not None:
            _rollback_quietly()
