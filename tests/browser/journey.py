"""The people of an end-to-end journey, each in their own browser context and logged in as
themselves (`log_in` for a single person's test); scanning as a keyboard-wedge scanner does; printing a label through its page (the
PDF opens in a new tab) and reading the printed PDF's barcodes back with zxing-cpp; numbered
screenshots of each screen."""
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pypdfium2
import zxingcpp
from playwright.sync_api import Browser, Locator, Page, Route, expect

from tests.browser.conftest import SCREENSHOTS, LiveServer
from tests.conftest import PASSWORD

DESKTOP = {"width": 1280, "height": 900}
REFUSED_FORM = re.compile(r"Failed to load resource: the server responded with a status of (409|422) ")
TABLET = {"width": 800, "height": 1280}
SCAN_DPI = 300  # what a label scanner sees of a printed label, as tests/labels decode it


@dataclass
class PrintedLabels:
    """A printed PDF as a scanner would read it: each page's barcodes (format, exact text)."""

    pdf: bytes
    pages: list[list[tuple[str, str]]]

    def payloads(self, fmt: str) -> list[str]:
        """Each page's barcode of this format (one per page), in print order."""
        found = []
        for page in self.pages:
            texts = [text for name, text in page if name == fmt]
            assert len(texts) == 1, f"expected one {fmt} on each page, found {page}"
            found.append(texts[0])
        return found


def read_printed(pdf: bytes) -> PrintedLabels:
    assert pdf.startswith(b"%PDF-"), pdf[:60]
    document = pypdfium2.PdfDocument(pdf)
    try:
        pages = []
        for index in range(len(document)):
            image = document[index].render(scale=SCAN_DPI / 72).to_pil()
            found = zxingcpp.read_barcodes(image, text_mode=zxingcpp.TextMode.Plain)
            pages.append(sorted((result.format.name, result.text) for result in found))
        return PrintedLabels(pdf, pages)
    finally:
        document.close()


def log_in(page: Page, url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(url + "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def wedge_scan(page: Page, payload: str) -> None:
    """As a keyboard-wedge scanner: the characters, then Enter, into whatever has the focus."""
    page.keyboard.type(payload)
    page.keyboard.press("Enter")


@dataclass
class Journey:
    """One journey's browser, server and screenshot numbering."""

    server: LiveServer
    browser: Browser
    prefix: str = "journey"
    shots: int = 0
    problems: list[str] = field(default_factory=list)
    refused_forms: list[str] = field(default_factory=list)  # posted to on purpose, to see a refusal

    def __post_init__(self) -> None:
        # A journey's pictures are numbered in order: an earlier run's extra ones would mislead.
        for old in SCREENSHOTS.glob(f"{self.prefix}-[0-9][0-9]-*.png"):
            old.unlink()

    @property
    def url(self) -> str:
        return self.server.url

    def shot(self, page: Page, step: str) -> None:
        """The screen as the person sees it, pictures included (a label preview is rendered
        while the page is already shown)."""
        page.wait_for_function("() => Array.from(document.images).every(image => image.complete)")
        self.shots += 1
        self.server.screenshot(page, f"{self.prefix}-{self.shots:02d}-{step}")

    def shot_label(self, printed: PrintedLabels, step: str) -> None:
        """The printed label itself (its first page, as it comes out of the printer): the
        browser shows a PDF in a viewer that headless Chromium leaves blank."""
        self.shots += 1
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        document = pypdfium2.PdfDocument(printed.pdf)
        try:
            document[0].render(scale=150 / 72).to_pil().save(
                SCREENSHOTS / f"{self.prefix}-{self.shots:02d}-{step}.png")
        finally:
            document.close()

    @contextmanager
    def person(self, username: str, *, viewport: dict[str, int] = DESKTOP) -> Iterator[Page]:
        """A person's own device: a fresh browser context, logged in as them, logged out at
        the end. Script errors and Content-Security-Policy refusals are collected."""
        context = self.browser.new_context(viewport=viewport)
        page = context.new_page()

        def note(message: Any) -> None:
            # The app serves no favicon, and a refused form comes back as its page with a 409
            # or 422 status (the steps check what it says); anything else logged as an error
            # is a fault.
            url = message.location.get("url", "")
            if message.type != "error" or "favicon.ico" in url:
                return
            if REFUSED_FORM.match(message.text) and url in {self.url + p for p in self.refused_forms}:
                return
            self.problems.append(f"{username}: {message.text} at {url}")

        page.on("console", note)
        page.on("pageerror", lambda error: self.problems.append(f"{username}: {error}"))
        try:
            page.goto(self.url + "/")
            expect(page.get_by_role("heading", name="Log in to cell-chain")).to_be_visible()
            page.get_by_label("Username").fill(username)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("button", name="Log out")).to_be_visible()
            yield page
            page.get_by_role("button", name="Log out").click()
            expect(page.get_by_role("heading", name="Log in to cell-chain")).to_be_visible()
        finally:
            context.close()

    def print_pdf(self, page: Page, button: Locator, path: str) -> PrintedLabels:
        """Press a print button whose form answers a PDF in a new tab; the PDF as the printer
        gets it. The app's page stays as it was in its own tab. The browser's own request goes
        to the server once; its answer is kept on the way back (a popup's first request is
        seen by the context's routes, not the page's)."""
        answers: list[Any] = []
        pattern = re.compile(re.escape(self.url) + path + r"(\?.*)?$")

        def keep(route: Route) -> None:
            if route.request.method != "POST":
                route.fallback()
                return
            response = route.fetch()
            answers.append(response)
            route.fulfill(response=response)

        shown = page.url
        context = page.context
        context.route(pattern, keep)
        try:
            with context.expect_event("response", predicate=lambda r: r.request.method == "POST"
                                      and bool(pattern.match(r.url))):
                with page.expect_popup() as opened:
                    button.click()
            opened.value.close()
            page.bring_to_front()  # back to the app's tab, as the person does after printing
        finally:
            context.unroute(pattern, keep)
        assert page.url == shown, "the print replaced the app's page instead of opening a new tab"
        assert len(answers) == 1
        answer = answers[0]
        assert answer.status == 200 and answer.headers["content-type"] == "application/pdf", (
            answer.status, answer.text()[:500])
        return read_printed(answer.body())
