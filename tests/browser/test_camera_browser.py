"""The tablet camera as the scanner: Chromium's fake camera plays a video of a dose's bag label
Data Matrix, the vendored zxing-wasm reads it, and the bedside screen takes it as the dose scan."""
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from playwright.sync_api import Browser, Page, Playwright, expect

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.journey import TABLET, wedge_scan
from tests.browser.ward import log_in_to_bedside, open_ward

pytestmark = pytest.mark.browser

WIDTH, HEIGHT, FPS, SECONDS = 640, 480, 30, 2
SCALE = 10  # pixels per module: a 24 × 24 Data Matrix becomes 240 px, as a bag held before the lens


def write_label_video(path: Path, payload: str) -> Path:
    """A Y4M video (4:2:0, grey) of the label's Data Matrix, centred on white with a wide quiet
    zone; written without ffmpeg."""
    barcode = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.DataMatrix)
    image = memoryview(zxingcpp.write_barcode_to_image(barcode, scale=SCALE, add_quiet_zones=True))
    rows, cols = image.shape
    assert rows < HEIGHT - 80 and cols < WIDTH - 80, "the symbol and its quiet zone must fit the frame"
    luma = bytearray(b"\xff" * (WIDTH * HEIGHT))
    top, left = (HEIGHT - rows) // 2, (WIDTH - cols) // 2
    pixels = image.tobytes()
    for row in range(rows):
        start = (top + row) * WIDTH + left
        luma[start:start + cols] = pixels[row * cols:(row + 1) * cols]
    chroma = b"\x80" * (WIDTH // 2 * HEIGHT // 2)
    frame = b"FRAME\n" + bytes(luma) + chroma + chroma
    with path.open("wb") as video:
        video.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(FPS * SECONDS):
            video.write(frame)
    return path


@pytest.fixture
def camera_browser(playwright: Playwright, tmp_path: Path, live_server: Any) -> Iterator[tuple[Browser, Any]]:
    """This module's own Chromium, whose camera plays the first dose's bag label."""
    ward = open_ward(live_server, count=1)
    video = write_label_video(tmp_path / "bag-label.y4m", ward.bags[0])
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
        *CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video.resolve()}"])
    try:
        yield browser, ward
    finally:
        browser.close()


def test_the_camera_reads_the_dose_bag(camera_browser, live_server):
    browser, ward = camera_browser
    context = browser.new_context(viewport=TABLET, permissions=["camera"])
    page: Page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        log_in_to_bedside(page, live_server.url)
        page.goto(live_server.url + "/bedside")
        camera_button = page.get_by_role("button", name="Use camera")
        expect(camera_button).to_be_visible()  # 127.0.0.1 is a secure context
        # Hold the decoder back for a moment, to see the camera view as the nurse does.
        held: list[Any] = []
        page.route("**/zxing_reader.wasm", lambda route: held.append(route))
        camera_button.click()
        expect(page.locator("#camera-status")).to_have_text(re.compile("^Hold the wristband or the dose bag"))
        page.wait_for_function("document.getElementById('camera-video').readyState >= 2")
        expect(page.locator("#scan-step")).to_be_hidden()
        live_server.screenshot(page, "bedside-camera-view")
        deadline = time.monotonic() + 5
        while not held and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        assert held, "the decoder's .wasm was never requested"
        started = time.monotonic()
        held[0].continue_()

        prompt = page.locator("#scan-prompt")
        expect(prompt).to_have_text(f"Dose bag {ward.codes[0]} ✓ — now scan the wristband", timeout=8000)
        elapsed = time.monotonic() - started
        assert elapsed < 4, f"the camera took {elapsed:.1f} s to read the label"
        expect(page.locator("#slot-dose")).to_contain_text(f"{ward.codes[0]} ✓ (camera)")
        expect(page.locator("#camera-view")).to_be_hidden()
        # the tracks are stopped after the read: the camera light goes off
        assert page.evaluate("document.getElementById('camera-video').srcObject === null")
        expect(page.locator("#scan-input")).to_be_focused()
        live_server.screenshot(page, "bedside-camera")

        # the wristband by the handheld scanner completes the check
        wedge_scan(page, ward.wristbands[0])
        expect(page.locator("#matched")).to_be_visible()
        expect(page.locator("#matched")).to_contain_text(ward.codes[0])
        assert not [p for p in problems if not re.search(r"favicon|Failed to load resource.*404", p)], problems
    finally:
        context.close()
