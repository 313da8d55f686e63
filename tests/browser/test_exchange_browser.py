"""The monitor downloads the SDTM datasets from their page in Chromium: each file is as of the
data cut the page shows, and the .xpt reads back with pandas."""
import csv
import io
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import Page, expect

from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.demo import DEMO_PASSWORD
from tests.fuzz.world import seed_world

pytestmark = pytest.mark.browser


def test_the_monitor_downloads_exposure_as_of_the_cut_shown(live_server, page: Page, tmp_path: Path):
    with live_server.app.app_context():
        seed_world(utcnow())  # an infusion at LZ and one at BJ
        db.session.commit()
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(live_server.url + "/login")
    page.get_by_label("Username").fill("monitor")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="SDTM datasets").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("SDTM datasets for the submission")
    cut = page.locator("#data-cut").inner_text()  # "YYYY-MM-DD HH:MM:SS UTC"
    expect(page.locator("#dataset-ex td.num")).to_have_text("2")
    live_server.screenshot(page, "sdtm-downloads")

    with page.expect_download() as csv_download:
        page.locator("#dataset-ex").get_by_role("link", name="ex.csv").click()
    rows = list(csv.DictReader(io.StringIO(Path(csv_download.value.path()).read_text(encoding="utf-8"))))
    assert csv_download.value.suggested_filename == "ex.csv"
    assert sorted(r["USUBJID"].split("-")[1] for r in rows) == ["BJ", "LZ"]

    with page.expect_download() as xpt_download:
        page.locator("#dataset-ex").get_by_role("link", name="ex.xpt").click()
    frame = pd.read_sas(xpt_download.value.path(), format="xport", encoding="utf-8")
    assert xpt_download.value.suggested_filename == "ex.xpt"
    assert sorted(frame["EXREFID"]) == sorted(r["EXREFID"] for r in rows)
    assert all(r["EXSTDTC"] <= cut.replace(" UTC", "").replace(" ", "T") for r in rows)
