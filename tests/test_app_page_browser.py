"""Pages in the demo, in a real browser: a photographed paragraph comes back with its lines
outlined and numbered and each line's text, and a drawing of several lines on the taller canvas
is read line by line. Needs Chromium and playwright, as tests/test_app_browser.py."""

import urllib.request

import cv2
import numpy as np
from conftest import write_png
from test_app_browser import browser, open_page, samples, server  # noqa: F401 (fixtures)

from htr.metrics import error_rates
from htr.page import LINE_COLOURS
from htr.synth.canvas_replay import REPLAY_JS, place, wait_answered
from htr.synth.pages import group_forms, render_form


def test_upload_a_paragraph_and_see_its_lines(browser, server, samples, tmp_path):  # noqa: F811
    form = list(group_forms(samples).values())[1]
    paragraph = render_form(form, "paper", np.random.default_rng(11), line_height=48)
    path = write_png(tmp_path / "paragraph.jpg", paragraph.image)
    page = open_page(browser, server, viewport={"width": 1280, "height": 900})
    page.get_by_role("tab", name="Page").click()
    page.set_input_files("#page-image input[type=file]", str(path))
    page.wait_for_function("() => document.querySelector('#page-text textarea').value.length > 0")
    text = page.input_value("#page-text textarea")
    assert text.count("\n") == len(form) - 1
    assert error_rates([paragraph.text], [text]).cer < 0.25
    # the picture comes back with the lines outlined, one colour each, and the table lists them
    page.wait_for_function("() => { const i = document.querySelector('#page-overlay img');"
                           " return !!i && i.complete && i.naturalWidth > 0 }")
    src = page.get_attribute("#page-overlay img", "src")
    with urllib.request.urlopen(src if src.startswith("http") else server.rstrip("/") + src) as reply:
        overlay = cv2.imdecode(np.frombuffer(reply.read(), np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    assert overlay.shape[:2] == paragraph.image.shape[:2]
    colours = set(LINE_COLOURS[: len(form)])
    seen = {c for c in colours if (np.abs(overlay.astype(int) - c).sum(axis=2) < 30).sum() > 200}
    assert seen == colours
    table = page.inner_text("#page-lines")
    assert all(line in table for line in text.split("\n"))  # each line's text beside the picture
    assert "Traceback" not in page.content()
    page.context.close()


def test_several_lines_on_the_taller_canvas(browser, server, samples):  # noqa: F811
    lines = list(group_forms(samples).values())[2][:3]
    page = open_page(browser, server, viewport={"width": 1280, "height": 900})
    before = page.locator("#pad canvas").bounding_box()["height"]
    page.click("#several-lines input[type=checkbox]")
    page.wait_for_function(f"() => document.querySelector('#pad canvas').getBoundingClientRect().height > {before + 100}")
    # three lines, one under the other, 50 px tall, as a hand writes them
    strokes, top = [], 20.0
    for sample in lines:
        placed = place(sample.strokes, 50, top=top, left=20)
        strokes += placed
        top += 50 * 1.6
    page.evaluate(REPLAY_JS, {"strokes": strokes, "pauseAfter": -1, "pauseMs": 0, "gapMs": 2, "pointerType": "mouse"})
    wait_answered(page)
    text = page.input_value("#draw-text textarea")
    assert text.count("\n") == 2, text
    assert error_rates(["\n".join(s.text for s in lines)], [text]).cer < 0.3
    assert "lines" in page.inner_text("#draw-status")
    page.context.close()
