"""The demo page in a real browser: write a line on the sketchpad with the mouse, upload an image.

Needs Chromium at /usr/bin/chromium (Debian: ``apt-get install chromium``) and the Python
``playwright`` package. Without them the tests skip, unless $CI is set: then they fail.
Set HTR_APP_SCREENSHOT=assets/app-screenshot.png to keep a screenshot of the page.
"""

import os
import shutil
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import ONDB as DATA
from conftest import ROOT, free_port

sys.path.insert(0, str(ROOT))
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# A short validation line keeps the drawing quick: software WebGL makes each pointer move costly.
DRAWN_LINE = "a09-635z-01"  # "And since the duke"
UPLOADED_LINE = "a09-635z-08"  # "for that sort of thing."
VIEWPORT = {"width": 1100, "height": 1000}
SCREENSHOT_VIEWPORT = {"width": 1280, "height": 1000}


def unavailable(reason: str):
    """Skip on a developer machine; fail in CI, where the browser test must run."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this test may not be skipped)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def lines(request):
    if not DATA.is_dir():
        unavailable(f"IAM On-Line data not found at {DATA}")
    return {s.id: s for s in request.getfixturevalue("ondb_validation").samples}


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} not found: apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed: pip install playwright")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server():
    import app

    app.get_recognizer()
    port = free_port()
    app.launch("127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.demo.close()


@pytest.fixture
def page(browser, server):
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(60_000)
    page.goto(server, wait_until="domcontentloaded")
    page.wait_for_selector("#sketch canvas")
    yield page
    page.close()


def cer(reference: str, hypothesis: str) -> float:
    from htr.metrics import line_cer

    return line_cer(reference, hypothesis)


def settled_text(page, seconds: float = 2.5, timeout: float = 60.0) -> str:
    """The recognised text once it is non-empty and has not changed for ``seconds``."""
    start = time.monotonic()
    last, since = None, time.monotonic()
    while time.monotonic() - start < timeout:
        text = page.input_value("#text textarea")
        if text != last:
            last, since = text, time.monotonic()
        elif text and time.monotonic() - since >= seconds:
            return text
        page.wait_for_timeout(250)
    raise AssertionError(f"recognised text did not settle within {timeout:.0f} s (last: {last!r})")


def drawing_area(page) -> tuple[float, float, float, float]:
    """Screen box (left, top, width, height) of the sketchpad's paper, clear of its toolbar."""
    import app

    view = page.locator("#sketch canvas").first.bounding_box()
    zoom = float(page.locator("#sketch .zoom-number").first.inner_text().strip().rstrip("%")) / 100
    width, height = app.CANVAS_SIZE[0] * zoom, app.CANVAS_SIZE[1] * zoom
    left = view["x"] + (view["width"] - width) / 2
    top = view["y"] + (view["height"] - height) / 2
    toolbar = page.locator("#sketch .toolbar-wrap").first
    if toolbar.count():
        box = toolbar.bounding_box()
        if box and box["x"] + box["width"] > left:
            width -= box["x"] + box["width"] + 8 - left
            left = box["x"] + box["width"] + 8
    return left, top, width, height


def draw_strokes(page, strokes: list[np.ndarray], tolerance: float = 1.5) -> int:
    """Replay pen trajectories with the mouse; returns the number of pointer events sent.

    The line is scaled into the paper (whiteboard units, y down) and each stroke simplified
    to within ``tolerance`` screen pixels, which keeps its shape but not every pen sample.
    """
    left, top, width, height = drawing_area(page)
    points = np.concatenate(strokes)
    lo, hi = points.min(axis=0), points.max(axis=0)
    scale = min(0.88 * width / max(hi[0] - lo[0], 1), 0.7 * height / max(hi[1] - lo[1], 1))
    origin = np.array([left + 0.06 * width, top + 0.15 * height])
    events = 0
    for stroke in strokes:
        xy = ((stroke - lo) * scale + origin).astype(np.float32)
        xy = cv2.approxPolyDP(xy.reshape(-1, 1, 2), tolerance, False).reshape(-1, 2)
        page.mouse.move(float(xy[0, 0]), float(xy[0, 1]))
        page.mouse.down()
        for x, y in xy[1:]:
            page.mouse.move(float(x), float(y))
        if len(xy) == 1:  # a dot
            page.mouse.move(float(xy[0, 0]) + 1, float(xy[0, 1]) + 1)
        page.mouse.up()
        events += len(xy) + 2
    return events


def heatmap_shown(page) -> bool:
    image = page.locator("#heatmap img").first
    image.wait_for(state="visible")
    # Visible comes before loaded: wait (bounded) for the picture itself to arrive.
    loaded = "() => { const img = document.querySelector('#heatmap img'); return !!img && img.complete && img.naturalWidth > 0 }"
    try:
        page.wait_for_function(loaded, timeout=10_000)
    except Exception:
        return False
    return True


def test_draw_a_line_on_the_sketchpad(page, lines, tmp_path):
    sample = lines[DRAWN_LINE]
    started = time.monotonic()
    events = draw_strokes(page, sample.strokes)
    drawn = time.monotonic() - started

    # "Recognise as I draw" is on: the text appears without pressing anything.
    live_text = settled_text(page)
    assert cer(sample.text, live_text) < 0.5, live_text

    page.click("#recognise-drawing")
    page.wait_for_timeout(500)
    text = settled_text(page)
    assert cer(sample.text, text) < 0.35, f"read {text!r} for {sample.text!r}"
    assert heatmap_shown(page)
    assert float(page.input_value("#confidence input")) > 0
    assert page.locator("#alternatives").get_by_text(text, exact=True).count() >= 1
    print(f"\ndrew {events} pointer events in {drawn:.1f} s; read {text!r}")

    shot = tmp_path / "app-screenshot.png"
    page.set_viewport_size(SCREENSHOT_VIEWPORT)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("HTR_APP_SCREENSHOT"):
        target = Path(os.environ["HTR_APP_SCREENSHOT"])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)


def test_upload_an_image(page, lines, tmp_path):
    from htr.render import render_strokes

    sample = lines[UPLOADED_LINE]
    image = render_strokes(sample.strokes, "paper", np.random.default_rng(3))
    path = tmp_path / "line.png"
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))

    page.get_by_role("tab", name="Upload").click()
    page.set_input_files("#upload-image input[type=file]", str(path))
    text = settled_text(page, seconds=1.5)
    assert cer(sample.text, text) < 0.35, f"read {text!r} for {sample.text!r}"
    assert heatmap_shown(page)

    # A blank picture: a warning and a status line, no traceback, and the page still works.
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((120, 500), 255, np.uint8))
    page.set_input_files("#upload-image input[type=file]", str(blank))
    page.locator("[data-testid=toast-body]").filter(has_text="No handwriting found").first.wait_for()
    assert "No handwriting found" in page.inner_text("#status")
    assert page.input_value("#text textarea") == ""
    assert "Traceback" not in page.content()

    # An example from the gallery is read when clicked.
    page.locator("#examples .gallery-item").first.click()
    assert cer("got the shape for modelling. So", settled_text(page, seconds=1.5)) < 0.1
