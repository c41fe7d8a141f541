"""The dashboard in a real browser: headless Chromium opens it, inspects an example, sees the heatmap."""

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT, free_port

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = ROOT / "assets" / "dashboard-screenshot.png"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: CI must install Debian's chromium for the browser tests")
    pytest.skip("Chromium not installed at /usr/bin/chromium (apt-get install -y chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def dashboard_url(tmp_path_factory):
    port = free_port()
    log = (tmp_path_factory.mktemp("streamlit") / "streamlit.log").open("w")
    env = {**os.environ, "HTR_JOBS_DIR": str(tmp_path_factory.mktemp("jobs")), "TF_CPP_MIN_LOG_LEVEL": "2"}
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start (see {log.name})")
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_inspect_an_example_and_see_the_heatmap(dashboard_url, recognizer):
    from playwright.sync_api import expect, sync_playwright

    steps, classes = recognizer.recognize(ROOT / "assets" / "example-paper-1.png").probabilities.shape

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.goto(dashboard_url)
            # The first example is inspected as soon as the model is loaded.
            expect(page.get_by_text("T x C = ", exact=False)).to_be_visible(timeout=90_000)
            # Pick another example from the list and wait for its reading.
            page.get_by_test_id("stSelectbox").filter(has_text="Example").click()
            page.get_by_role("option", name="example-paper-1.png").click()
            # The page shows the matrix of this example: T x C as the recognizer computes it.
            expect(page.get_by_text(f"T x C = {steps} x {classes} ", exact=False)).to_be_visible(timeout=60_000)
            # The ink map over its heatmap: one picture, wide and tall enough to read.
            heatmap = page.get_by_role("img", name="CTC probability heatmap")
            expect(heatmap).to_be_visible()
            box = heatmap.bounding_box()
            assert box["width"] > 600 and box["height"] > 200
            assert heatmap.evaluate("img => img.complete && img.naturalWidth > 600")
            assert page.get_by_text("Alternatives").count() >= 1
            assert page.get_by_text("Traceback").count() == 0
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()
    assert SCREENSHOT.stat().st_size > 10_000
