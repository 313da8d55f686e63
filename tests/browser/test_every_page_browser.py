"""Every page of every role, in English and in Chinese, on a portrait (800×1280) and a
landscape (1280×800) tablet: nothing scrolls sideways, no button or link is cut off, squeezed
or covered, and axe-core finds no WCAG 2.x A/AA violation nor best-practice failure.

The pages are found as each person finds them: following the links from their home page in
the browser (one page of each kind: `/lots/UC-2026-001` stands for every lot page), plus the
pages behind actions that are not links: a refused sign-in, a form sent empty, and at the
bedside the scan page, MATCHED and STOP."""
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select, update

from cell_chain import create_app
from cell_chain.accounts.models import User
from cell_chain.batches.models import Dose
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.demo import DEMO_PASSWORD, seed_demo
from cell_chain.labels.payloads import bag_payloads
from cell_chain.patients.models import Allocation, Patient, Visit
from tests.browser.conftest import SCREENSHOTS, LiveServer, serve_copy
from tests.conftest import FAST_ARGON2

pytestmark = pytest.mark.browser

PORTRAIT, LANDSCAPE = {"width": 800, "height": 1280}, {"width": 1280, "height": 800}
USERS = ("admin", "lab", "qa", "monitor", "lz-pharmacist", "lz-nurse", "lz-coordinator")
LANGUAGES = ("en", "zh_Hans")
# Downloads, the API and actions are not pages to look at.
NOT_PAGES = re.compile(r"^/(api|fhir|static)/|\.(pdf|csv|xpt|svg|zpl|png|json)(\?|$)|/logout$|/(print|download|export)\b")
PAGES_PER_USER = 30
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
# The rules whose results depend on the layout, run again at the second width: contrast (a
# reflowed table puts text on other backgrounds, a wrapped tag on another box), target size and
# spacing (buttons squeezed together), scrollable regions (a table that scrolls in one width
# only). The others read the markup, the same at both widths.
AXE_LAYOUT_RULES = ["color-contrast", "target-size", "scrollable-region-focusable", "meta-viewport",
                    "landmark-unique", "region"]
AXE_SCRIPT = Axe().axe_script

# Run in the page: the document's width, then every visible link and button, brought into
# view, must lie inside the viewport and inside any box that clips it, be as wide as its
# words need, and be what a finger at its centre touches.
LAYOUT_CHECK = """async () => {
  // As a person sees it: after the page has laid itself out again for the new size.
  await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
  const problems = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth) {
    problems.push(`the document is ${doc.scrollWidth} px wide in a ${window.innerWidth} px window`);
  }
  const name = el => `${el.tagName.toLowerCase()} "${(el.innerText || el.value || el.getAttribute('aria-label') || '').trim().slice(0, 40)}"`;
  for (const el of document.querySelectorAll('a[href], button, input[type=submit]')) {
    if (el.closest('[hidden], [inert], .visually-hidden, .skip-link')) continue;
    // Not shown (display none, visibility hidden, inside a closed <details>): nothing to check.
    if (!el.checkVisibility({visibilityProperty: true, contentVisibilityAuto: true})) continue;
    el.scrollIntoView({block: 'center', inline: 'nearest'});
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    if (box.left < -0.5 || box.right > window.innerWidth + 0.5) {
      problems.push(`${name(el)} lies outside the window (${Math.round(box.left)}–${Math.round(box.right)} px)`);
      continue;
    }
    if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1) {
      problems.push(`${name(el)} is cut off: ${el.clientWidth} px wide, its words need ${el.scrollWidth} px`);
      continue;
    }
    let clipped = false;
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      if (getComputedStyle(up).overflowX === 'visible') continue;
      const frame = up.getBoundingClientRect();
      if (box.left < frame.left - 0.5 || box.right > frame.right + 0.5) {
        problems.push(`${name(el)} is cut off by its ${up.tagName.toLowerCase()}.${up.className} (${Math.round(box.left)}–${Math.round(box.right)} px shown in ${Math.round(frame.left)}–${Math.round(frame.right)} px)`);
        clipped = true;
        break;
      }
    }
    if (clipped) continue;
    const first = el.getClientRects()[0];
    const x = first.left + first.width / 2, y = first.top + first.height / 2;
    const hit = document.elementFromPoint(x, y);
    if (hit && hit !== el && !el.contains(hit)) {
      problems.push(`${name(el)} is covered by ${hit.tagName.toLowerCase()}.${hit.className}`);
    }
  }
  window.scrollTo(0, 0);
  return problems;
}"""

LINKS = """() => Array.from(document.querySelectorAll('a[href]'), a => a.getAttribute('href'))"""


def kind_of(path: str) -> str:
    """One page of each kind: identifiers (any path segment with a digit) stand for all."""
    return "/".join("*" if re.search(r"\d", part) else part for part in urlsplit(path).path.split("/"))


@pytest.fixture(scope="session")
def demo_template(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo data (seed_demo), seeded once per worker and copied for each test."""
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite3"
    shutil.copy(sqlite_template, path)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "SECRET_KEY": "browser-test",
                      "ARGON2_PARAMS": FAST_ARGON2})
    with app.app_context():
        seed_demo(utcnow())
        db.session.commit()
        db.engine.dispose()
    return path


@pytest.fixture
def demo_server(demo_template: Path, tmp_path: Path) -> Iterator[LiveServer]:
    with serve_copy(demo_template, tmp_path) as server:
        yield server


def seen_pages(inspector: "Inspector") -> list[str]:
    return [f"looked at: {what}" for what in inspector.looked]


class Inspector:
    """Looks at pages as one person in one language, noting every problem found."""

    def __init__(self, server: LiveServer, page: Page, username: str, language: str) -> None:
        self.server, self.page, self.username, self.language = server, page, username, language
        self.problems: list[str] = []
        self.looked: list[str] = []
        self.console: list[str] = []
        page.on("console", lambda m: self.console.append(m.text) if m.type == "error" else None)

    def look(self, what: str, *, shots: tuple[str, ...] = ()) -> None:
        """The page as it is now, at both sizes (resized, not reloaded). axe runs at both: a
        reflowed layout (stacked table rows) puts text on other backgrounds, so contrast and
        overlap results can differ between the two widths."""
        page = self.page
        self.looked.append(what)
        page.evaluate(AXE_SCRIPT)
        for size in (PORTRAIT, LANDSCAPE):
            page.set_viewport_size(size)
            label = f"{what} at {size['width']}×{size['height']}"
            self.problems += [f"{label}: {p}" for p in page.evaluate(LAYOUT_CHECK)]
            only = ({"type": "tag", "values": AXE_TAGS} if size is PORTRAIT
                    else {"type": "rule", "values": AXE_LAYOUT_RULES})
            results = page.evaluate("options => axe.run(document, options)",
                                    {"runOnly": only, "resultTypes": ["violations"]})
            for violation in results["violations"]:
                targets = "; ".join(" ".join(n["target"]) for n in violation["nodes"][:4])
                self.problems.append(f"{label}: axe {violation['id']} ({violation['help']}) at {targets}")
            for shot in shots:
                self.shoot(f"{size['width']}x{size['height']}-{shot}")
        page.set_viewport_size(PORTRAIT)
        csp = [m for m in self.console if "Content Security Policy" in m or "Refused to" in m]
        self.problems += [f"{what}: {m}" for m in csp]
        self.console.clear()


    def shoot(self, name: str) -> None:
        """The whole page, or its first screens if it is very long (a full trail would be a
        60,000-pixel picture nobody looks at)."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"every-page-{self.username}-{self.language}-{name}.png"
        tall = self.page.evaluate("() => document.documentElement.scrollHeight") > 4000
        self.page.screenshot(path=str(path), full_page=True,
                             clip={"x": 0, "y": 0, "width": self.page.viewport_size["width"], "height": 4000}
                             if tall else None)


def sign_in(page: Page, url: str, username: str, password: str) -> None:
    page.goto(url + "/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("form button[type=submit]").last.click()


def crawl(inspector: Inspector, url: str) -> dict[str, str]:
    """path → kind of every page reachable from the home page (breadth first, one per kind)."""
    page = inspector.page
    seen: dict[str, str] = {}
    kinds: set[str] = set()
    queue = ["/"]
    busiest = ("", 0)
    while queue and len(seen) < PAGES_PER_USER:
        path = queue.pop(0)
        if kind_of(path) in kinds:
            continue
        kinds.add(kind_of(path))
        response = page.goto(url + path)
        if response is None or not response.headers.get("content-type", "").startswith("text/html"):
            continue
        seen[path] = kind_of(path)
        size = page.evaluate("() => document.documentElement.scrollHeight")
        if path != "/" and size > busiest[1]:
            busiest = (path, size)
        inspector.look(path, shots=("home",) if path == "/" else ())
        for href in page.evaluate(LINKS):
            target = urlsplit(href)
            if target.netloc and f"{target.scheme}://{target.netloc}" != url:
                continue
            link = target.path + (f"?{target.query}" if target.query else "")
            if link.startswith("/") and not NOT_PAGES.search(link) and kind_of(link) not in kinds:
                queue.append(link)
    if busiest[0]:  # already checked above: only its pictures
        page.goto(url + busiest[0])
        for size in (PORTRAIT, LANDSCAPE):
            page.set_viewport_size(size)
            inspector.shoot(f"{size['width']}x{size['height']}-busiest")
        page.set_viewport_size(PORTRAIT)
    return seen


def bedside(inspector: Inspector, server: LiveServer) -> None:
    """The nurse's scan page, MATCHED (the demo dose dispensed to lz-nurse with its patient's
    wristband) and STOP (that bag with another patient's wristband)."""
    with server.app.app_context():
        dose = db.session.scalars(select(Dose).where(Dose.status == "dispensed").order_by(Dose.id)).first()
        assert dose is not None, "the demo has a dose on the LZ ward"
        bag = bag_payloads(dose).compound
        subject = db.session.scalar(
            select(Patient.subject_id).join(Visit, Visit.patient_id == Patient.id)
            .join(Allocation, Allocation.visit_id == Visit.id).where(Allocation.dose_id == dose.id, Allocation.active))
        other = db.session.scalar(select(Patient.subject_id).where(Patient.subject_id.like("LZ-%"),
                                                                 Patient.subject_id != subject))
    page = inspector.page
    for wristband, state in ((subject, "matched"), (other, "stop")):
        page.goto(server.url + "/bedside")
        expect(page.locator("#scan-input")).to_be_focused()
        if state == "matched":
            inspector.look("/bedside (scan)", shots=("scan",))
        for payload in (wristband, bag):
            page.keyboard.type(payload)
            page.keyboard.press("Enter")
        expect(page.locator(f"#{state}")).to_be_visible()
        inspector.look(f"/bedside ({state.upper()})", shots=(state,))


def failed_forms(inspector: Inspector, server: LiveServer) -> None:
    """A form sent with its required fields empty comes back with its errors."""
    page = inspector.page
    forms = {"lz-coordinator": "/patients/new", "lab": "/donors/new"}
    target = forms.get(inspector.username)
    if target is None:
        return
    response = page.goto(server.url + target)
    assert response is not None and response.ok, target
    page.locator("main form button[type=submit]").last.click()
    expect(page.locator(".error-summary")).to_be_visible()
    inspector.look(f"{target} (sent empty)", shots=("failed-form",))


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("username", USERS)
def test_every_page_fits_both_tablets_and_passes_axe(demo_server: LiveServer, browser: Browser,
                                                     username: str, language: str):
    with demo_server.app.app_context():
        db.session.execute(update(User).values(language=language))
        db.session.commit()
    context = browser.new_context(viewport=PORTRAIT, locale="zh-CN" if language == "zh_Hans" else "en-GB")
    page = context.new_page()
    inspector = Inspector(demo_server, page, username, language)
    try:
        sign_in(page, demo_server.url, username, "not-the-password")
        expect(page.locator(".error-summary")).to_be_visible()
        inspector.look("/login (refused)")
        sign_in(page, demo_server.url, username, DEMO_PASSWORD)
        expect(page.locator(".error-summary")).to_have_count(0)
        pages = crawl(inspector, demo_server.url)
        assert len(pages) >= 3, f"{username} reached only {sorted(pages)}"
        if username == "lz-nurse":
            bedside(inspector, demo_server)
        failed_forms(inspector, demo_server)
    finally:
        context.close()
        # The findings, kept beside the screenshots for whoever fixes them.
        report = SCREENSHOTS.parent / f"every-page-{username}-{language}.txt"
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text("\n".join([*seen_pages(inspector), "", *inspector.problems]) + "\n")
    assert not inspector.problems, (f"{username} ({language}), {len(pages)} pages: {len(inspector.problems)} problems:\n"
                                    + "\n".join(inspector.problems))
