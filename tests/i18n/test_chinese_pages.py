"""Every page of every role, read in Simplified Chinese, holds no English sentence of the
catalogue: the pages are crawled from each demo user's home page with their language set to
zh_Hans, and each page's visible text is searched for the English messages."""
import html as html_lib
import re
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

from babel.messages.pofile import read_po
from sqlalchemy import update

from cell_chain.accounts.models import User
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.demo import DEMO_PASSWORD, seed_demo
from tests.conftest import login

PO = Path(__file__).resolve().parents[2] / "cell_chain" / "translations" / "zh_Hans" / "LC_MESSAGES" / "messages.po"
USERS = ("admin", "lab", "qa", "monitor", "lz-pharmacist", "lz-nurse", "lz-coordinator")
# Downloads, API and actions are not pages to read.
NOT_PAGES = re.compile(r"^/(api|fhir|static)/|\.(pdf|csv|xpt|svg|zpl|png)(\?|$)|/logout$")
PAGES_PER_USER = 40


def english_phrases() -> list[str]:
    """The English runs of the catalogue long enough to be sentences (three words or more),
    split at placeholders and markup."""
    with PO.open("rb") as po:
        catalogue = read_po(po, locale="zh_Hans")
    phrases = set()
    for entry in catalogue:
        if not entry.id or entry.string == entry.id:
            continue
        for run in re.split(r"%\([a-z_0-9]+\)s|<[^>]+>", entry.id):
            run = " ".join(run.split()).strip(" .,:;·—()")
            if len(re.findall(r"[A-Za-z]{2,}", run)) >= 3:
                phrases.add(run)
    return sorted(phrases, key=len, reverse=True)


def visible_text(body: str) -> str:
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def links(body: str) -> list[str]:
    found = []
    for href in re.findall(r'href="([^"]+)"', body):
        path = urldefrag(html_lib.unescape(href))[0]
        if path.startswith("/") and not path.startswith("//") and not NOT_PAGES.search(path):
            found.append(path)
    return found


def crawl(client, start: str = "/") -> dict[str, str]:  # noqa: ANN001
    """path → visible text of every HTML page reachable from `start` (breadth first)."""
    seen: dict[str, str] = {}
    queue = [start]
    while queue and len(seen) < PAGES_PER_USER:
        path = queue.pop(0)
        if path in seen:
            continue
        response = client.get(path)
        if not response.content_type.startswith("text/html"):
            seen[path] = ""
            continue
        body = response.get_data(as_text=True)
        seen[path] = visible_text(body)
        queue += [link for link in links(body) if link not in seen]
    return seen


def test_no_english_sentence_is_left_on_any_page_read_in_chinese(app):
    seed_demo(utcnow())
    db.session.execute(update(User).values(language="zh_Hans"))
    db.session.commit()
    phrases = english_phrases()
    left: list[str] = []
    pages = 0
    for username in USERS:
        client = app.test_client()
        assert login(client, username, DEMO_PASSWORD).status_code == 302
        for path, text in crawl(client).items():
            pages += bool(text)
            left += [f"{username} {urlsplit(path).path}: {phrase!r}" for phrase in phrases if phrase in text]
    assert pages > 60, "the crawl should reach most pages of the seven roles"
    assert not left, f"{len(left)} English phrases on Chinese pages:\n" + "\n".join(sorted(set(left)))


def test_the_search_finds_an_english_sentence():
    phrases = english_phrases()
    assert "Scan the wristband and the dose bag" in phrases
    assert any(p in visible_text("<h1>Scan the wristband and the dose bag</h1>") for p in phrases)
