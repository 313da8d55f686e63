"""Reading and posting pages in tests: a page's HTML, its text as a reader sees it, one element
by id, a table row, a form post with its CSRF token, the SQL statements a request runs, and a
client logged in as someone."""
import html as html_lib
import re
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from cell_chain.core.db import db
from tests.conftest import csrf_token, login

Page = Any  # a response, or the HTML of one


def html(page: Page) -> str:
    """The HTML of a response (a string is taken as HTML already)."""
    return page if isinstance(page, str) else page.get_data(as_text=True)


def text(fragment: str) -> str:
    """HTML as a reader sees it: without tags, entities decoded, whitespace collapsed."""
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()


def page_text(page: Page) -> str:
    return text(html(page))


def section(page: Page, ident: str) -> str:
    """The HTML of the element with this id, up to its closing tag of the same name."""
    body = html(page)
    match = re.search(rf'<(\w+)[^>]*\bid="{re.escape(ident)}"', body)
    assert match, f"no element #{ident}"
    tag = match.group(1)
    end = body.index(f"</{tag}>", match.end())
    return body[match.start():end]


def section_text(page: Page, ident: str) -> str:
    """The text of the element with this id."""
    return text(section(page, ident))


def row_of(page: Page, needle: str) -> str:
    """The text of the table row that mentions `needle`."""
    body = html(page)
    at = body.index(needle)
    return text(body[body.rindex("<tr", 0, at):body.index("</tr>", at)])


def post(client: FlaskClient, path: str, data: dict[str, Any], *, token_from: str | None = None,
         **kwargs: Any) -> Any:
    """Post a form with the CSRF token of the page at `token_from` (the form's own path by default)."""
    token = csrf_token(client, token_from or path)
    return client.post(path, data={**data, "csrf_token": token}, **kwargs)


def statements_of(request: Callable[[], Any]) -> list[str]:
    """The SQL statements run while `request()` is answered (which must answer 200)."""
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert request().status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return statements


def logged_in(app: Flask, username: str) -> FlaskClient:
    """A client with its own cookie jar, logged in as `username`."""
    client = app.test_client()
    response = login(client, username)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client
