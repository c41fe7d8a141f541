"""Pages in the demo, in a real browser: a photographed paragraph comes back with its lines
outlined and numbered and each line's text, a dense page of real scanned lines comes back with
outlines that keep to their own lines and fits a phone's screen, and a drawing of several lines
on the taller canvas is read line by line. Needs Chromium and playwright, as
tests/test_app_browser.py.

Set HTR_APP_PAGE_PHONE_SCREENSHOT=docs/images/page-tab-phone.png to keep the phone's view of the
Page tab, and HTR_APP_PAGE_PHOTO_SCREENSHOT=docs/images/page-tab-photo.png to keep the view of a
phone photo of a page read on a desktop."""

import urllib.request

import cv2
import numpy as np
from conftest import write_png
from test_app_browser import PHONE, browser, keep_screenshot, open_page, samples, server  # noqa: F401 (fixtures)

from htr.metrics import error_rates
from htr.page import LINE_COLOURS
from htr.synth.canvas_replay import REPLAY_JS, place, wait_answered
from htr.synth.pages import group_forms, render_form, stack_lines

# Where the Page tab's parts are on the screen, and whether anything scrolls sideways.
LAYOUT_JS = """() => {
  const box = s => { const e = document.querySelector(s); if (!e) return null;
                     const r = e.getBoundingClientRect(); return {x: r.x, y: r.y, w: r.width, h: r.height}; };
  const table = document.querySelector('#page-lines .virtual-table-viewport');
  const doc = document.documentElement;
  const img = document.querySelector('#page-image img');
  return {overlay: box('#page-overlay img'), table: box('#page-lines'), label: box('#page-image label'),
          preview: box('#page-image img'), fit: img ? getComputedStyle(img).objectFit : null,
          tableScroll: [table.scrollWidth, table.clientWidth], pageScroll: [doc.scrollWidth, doc.clientWidth]};
}"""


def check_layout(layout: dict, min_overlay: float) -> None:
    """The whole uploaded page in view under its label, the outlined page at least
    ``min_overlay`` px wide, and no column of the table (nor the page) off-screen sideways."""
    assert layout["preview"]["y"] >= layout["label"]["y"] + layout["label"]["h"] - 1  # the label covers none of it
    assert layout["fit"] in ("contain", "scale-down")
    assert layout["overlay"]["w"] >= min_overlay
    assert layout["tableScroll"][0] <= layout["tableScroll"][1] + 1, layout["tableScroll"]
    assert layout["pageScroll"][0] <= layout["pageScroll"][1], layout["pageScroll"]


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
    layout = page.evaluate(LAYOUT_JS)
    check_layout(layout, 500)
    assert layout["table"]["x"] > layout["overlay"]["x"] + layout["overlay"]["w"]  # side by side on a desktop
    assert "Traceback" not in page.content()
    page.context.close()


def test_a_dense_page_on_a_phone(browser, server, iam_dev_forms, tmp_path):  # noqa: F811
    """Real scanned lines squeezed until descenders reach the line below: the outlines the page
    endpoint returns keep to their own lines (two lines' outlines share well under 1 % of either),
    and on a phone the outlined page takes the screen's width with the table under it, every
    column in view."""
    from gradio_client import Client, handle_file

    forms, boxes = iam_dev_forms
    form = next(f for f in forms if f[0].id.startswith("a03-011-"))[:6]
    dense = stack_lines(form, boxes, np.random.default_rng(7), squeeze=0.6)
    path = write_png(tmp_path / "dense.png", dense.image)
    _, lines, _, _, _ = Client(server, verbose=False).predict(handle_file(str(path)), decoder="best",
                                                             api_name="/recognize_page")
    assert len(lines) == len(form)
    h, w = dense.image.shape[:2]
    masks = []
    for line in lines:
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [np.round(np.asarray(line["polygon"])).astype(np.int32)], 1)
        masks.append(mask.astype(bool))
    for i in range(len(masks)):
        for j in range(i + 1, len(masks)):
            shared = int((masks[i] & masks[j]).sum())
            assert shared <= 0.01 * min(masks[i].sum(), masks[j].sum()), (i + 1, j + 1, shared)

    page = open_page(browser, server, viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page.get_by_role("tab", name="Page").click()
    page.set_input_files("#page-image input[type=file]", str(path))
    page.wait_for_function("() => document.querySelector('#page-text textarea').value.length > 0")
    page.wait_for_function("() => { const i = document.querySelector('#page-overlay img');"
                           " return !!i && i.complete && i.naturalWidth > 0 }")
    page.wait_for_timeout(300)
    layout = page.evaluate(LAYOUT_JS)
    check_layout(layout, 300)
    assert layout["table"]["y"] >= layout["overlay"]["y"] + layout["overlay"]["h"]  # the table under the page
    page.evaluate("y => window.scrollTo(0, y)", layout["overlay"]["y"] - 40)
    page.wait_for_timeout(300)
    keep_screenshot(page, "HTR_APP_PAGE_PHONE_SCREENSHOT", tmp_path, "page-tab-phone.png")
    page.context.close()


def test_a_phone_photo_of_a_page_on_a_desk(browser, server, iam_dev_forms, tmp_path):  # noqa: F811
    """A page of real lines photographed lying on a wooden desk, at an angle, stored sideways
    (EXIF): the Page tab reads its lines, and outlines the sheet and the lines on the photo as sent."""
    from htr.imageio import read_image
    from htr.synth.photos import photograph

    forms, boxes = iam_dev_forms
    form = next(f for f in forms if f[0].id.startswith("a03-011-"))[:6]
    scan = stack_lines(form, boxes, np.random.default_rng(3))
    for seed in range(100):  # the first photo on a wooden desk with the whole sheet in view, turned by EXIF
        photo = photograph(scan.image, scan.text, seed, part="tune", look="desk", long_side=1800)
        if photo.whole and photo.spec.desk == "wood" and photo.spec.orientation != 1 and not photo.spec.two_sheets:
            break
    path = tmp_path / "page-photo.jpg"
    path.write_bytes(photo.jpeg)
    page = open_page(browser, server, viewport={"width": 1280, "height": 1000})
    page.get_by_role("tab", name="Page").click()
    page.set_input_files("#page-image input[type=file]", str(path))
    page.wait_for_function("() => document.querySelector('#page-text textarea').value.length > 0")
    text = page.input_value("#page-text textarea")
    assert text.count("\n") == len(form) - 1
    assert error_rates([scan.text], [text]).cer < 0.15, text
    page.wait_for_function("() => { const i = document.querySelector('#page-overlay img');"
                           " return !!i && i.complete && i.naturalWidth > 0 }")
    src = page.get_attribute("#page-overlay img", "src")
    with urllib.request.urlopen(src if src.startswith("http") else server.rstrip("/") + src) as reply:
        overlay = cv2.imdecode(np.frombuffer(reply.read(), np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    upright = read_image(photo.jpeg)
    assert overlay.shape[:2] == upright.shape[:2]  # drawn on the photo as sent, turned upright
    changed = np.abs(overlay.astype(int) - upright.astype(int)).sum(axis=2) > 60
    for corner in photo.corners:  # the sheet's outline passes by each of its corners
        x, y = np.round(corner).astype(int)
        assert changed[max(0, y - 12): y + 12, max(0, x - 12): x + 12].any(), corner
    layout = page.evaluate(LAYOUT_JS)
    check_layout(layout, 500)
    page.evaluate("y => window.scrollTo(0, y)", layout["overlay"]["y"] - 130)  # the photo sent and its overlay
    page.wait_for_timeout(300)
    keep_screenshot(page, "HTR_APP_PAGE_PHOTO_SCREENSHOT", tmp_path, "page-tab-photo.png")
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
