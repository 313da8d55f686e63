"""Browser tests: the app served on 127.0.0.1 from a thread, driven by Debian's Chromium."""
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

from cell_chain import create_app
from cell_chain.core.db import db
from tests.conftest import FAST_ARGON2

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt-get install chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@dataclass
class LiveServer:
    app: Flask
    url: str

    def screenshot(self, page: Any, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


_RESPONSE = "cell_chain.tests.response"


class _ClosingRequestHandler(WSGIRequestHandler):
    """Closes the response when the browser drops the connection.

    Werkzeug's development server drains the socket before closing the response; a browser
    that resets the connection (leaving a page while a script loads) makes that drain raise,
    the close is skipped and the static file stays open: a ResourceWarning in whichever
    test the garbage collector next runs in.
    """

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        response = (environ or {}).get(_RESPONSE)
        if response is not None and hasattr(response, "close"):
            response.close()


def _remembering_response(app: Flask) -> Any:
    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        response = app(environ, start_response)
        environ[_RESPONSE] = response
        return response
    return wsgi


@contextmanager
def serve(database: Path) -> Iterator[LiveServer]:
    """The app over `database` (an SQLite file), served from a thread until the block ends."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}", "SECRET_KEY": "browser-test",
                      "ARGON2_PARAMS": FAST_ARGON2})
    server = make_server("127.0.0.1", 0, _remembering_response(app), threaded=True,
                         request_handler=_ClosingRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(app, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(timeout=5)
        with app.app_context():
            db.engine.dispose()


@contextmanager
def serve_copy(database: Path, folder: Path) -> Iterator[LiveServer]:
    """`serve` over a copy of `database` (a template built once), so the test may change it."""
    path = folder / database.name
    shutil.copy(database, path)
    with serve(path) as server:
        yield server


@pytest.fixture
def live_server(sqlite_template: Path, tmp_path: Path) -> Iterator[LiveServer]:
    with serve_copy(sqlite_template, tmp_path) as server:
        yield server
