"""One error path for API and pages: domain refusals, CSRF failures and unexpected faults."""
import logging

from flask import Flask, Response, render_template
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import SQLAlchemyError

from cell_chain.accounts.services import register_failed_attempt
from cell_chain.api import domain_problem, problem, wants_problem_json
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.core.errors import AuthFailure, DomainError, Unauthenticated

log = logging.getLogger(__name__)


def html_error_page(status: int, message: str | None) -> tuple[str, int]:
    return render_template("error.html", status=status, message=message), status


def count_auth_failure(error: AuthFailure) -> None:
    # The request's transaction is discarded first: a failed signature must leave no trace
    # of the signed action, but the failed attempt itself must be kept.
    db.session.rollback()
    if error.user_id is not None:
        register_failed_attempt(error.user_id, now=utcnow())
        db.session.commit()


def _domain_error(error: DomainError) -> Response | tuple[str, int]:
    db.session.rollback()
    if isinstance(error, AuthFailure):
        count_auth_failure(error)
    if wants_problem_json():
        return domain_problem(error)
    if isinstance(error, Unauthenticated):
        from cell_chain.web.views import login_redirect

        return login_redirect()
    return html_error_page(error.status, error.detail)


def _csrf_error(error: CSRFError) -> Response | tuple[str, int]:
    db.session.rollback()
    message = "The form expired or came from elsewhere. Go back, reload the page and try again."
    log.warning("CSRF refused: %s", error.description)
    if wants_problem_json():
        return problem(400, "CSRF_FAILED", "CSRF check failed", message)
    return html_error_page(400, message)


def _unexpected(error: Exception) -> Response | tuple[str, int]:
    db.session.rollback()
    log.exception("unhandled error", exc_info=error)
    message = "Something went wrong on the server. Nothing was saved. Try again or call support."
    status = 503 if isinstance(error, SQLAlchemyError) else 500
    if wants_problem_json():
        return problem(status, "INTERNAL_ERROR", "Internal error", message)
    return html_error_page(status, message)


def init_error_handlers(app: Flask) -> None:
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(CSRFError, _csrf_error)
    if not app.testing:
        app.register_error_handler(Exception, _unexpected)

    @app.teardown_request
    def _discard_uncommitted(exc: BaseException | None) -> None:
        if exc is not None:
            db.session.rollback()
