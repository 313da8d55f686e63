"""SQLite: a GET begins its transactions deferred (core.db), holding no lock while it reads or
renders a PDF; other requests take the write lock at their first statement, as before. A
deferred transaction that writes after all and finds that another wrote since it read cannot
upgrade ("database is locked", at once: SQLite does not wait for an upgrading reader): its
reads are stale, so the request runs again from the start, this time taking the write lock at
its start. PostgreSQL needs none of this; this only wraps SQLite apps."""
import logging
import random
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Flask, g, request
from sqlalchemy.exc import OperationalError

from cell_chain.core.db import begin_for_write, db, read_mostly

log = logging.getLogger(__name__)

ATTEMPTS = 3


def _is_busy(error: OperationalError) -> bool:
    return db.engine.dialect.name == "sqlite" and "database is locked" in str(error.orig)


def _rewind_uploads() -> None:
    # The body was read by the first attempt: uploads start again from their first byte.
    for upload in request.files.values():
        upload.stream.seek(0)


def retry_when_busy(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return view(*args, **kwargs)
            except OperationalError as error:
                if attempt == ATTEMPTS or not _is_busy(error) or g.get("committed"):
                    raise
                log.info("SQLite snapshot outdated: %s %s runs again (attempt %d)", request.method,
                         request.path, attempt + 1)
                # The next attempt takes the write lock at its start, waiting its turn, so it
                # cannot be outdated again (SQLite gives up at once on upgrading a reader).
                begin_for_write()
                _rewind_uploads()
                time.sleep(random.uniform(0.001, 0.005))
        raise AssertionError("unreachable")

    return wrapper


def init_busy_retry(app: Flask) -> None:
    """Wrap every view, once all blueprints are registered."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    # First of all before_request functions: the caller's lookup is the request's first query.
    app.before_request_funcs.setdefault(None, []).insert(
        0, lambda: read_mostly(request.method in ("GET", "HEAD", "OPTIONS")))
    # Threads outlive requests: what a request set must not pass to the next one.
    app.teardown_request(lambda exc: read_mostly(False))
    for endpoint, view in list(app.view_functions.items()):
        app.view_functions[endpoint] = retry_when_busy(view)
