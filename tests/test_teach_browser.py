"""The Teach tab in a real browser: ten lines written on its canvas, Adapt, then the Draw tab reads
a new line of the same writer with the personal model, and the switch brings the base model back.

The writer is an IAM On-Line validation form (one person's lines, unseen in training), written
stroke by stroke as pointer events (htr/synth/canvas_replay.py). The adaptation is made short
and unguarded here (2 epochs, no held-out check), so that it surely changes the network: the
test is of the page's wiring, not of how much adapting helps (benchmarks/adapt.py measures that).
"""

import json
from functools import partial

import pytest
from conftest import free_port

from htr.synth.canvas_replay import CHROMIUM, CHROMIUM_ARGS, clear, wait_answered, write_line
from htr.train.adapt import AdaptSettings

FORM = "d09-664z"  # 12 lines: 10 to teach, 2 to read
QUICK = AdaptSettings(epochs=2, copies=2, minutes=None, guard=False, learning_rate=3e-3, folds=0)


@pytest.fixture(scope="module")
def writer(ondb_validation):
    lines = [s for s in ondb_validation.samples if s.id.startswith(FORM)]
    if len(lines) < 12:
        pytest.skip(f"form {FORM} not in the IAM On-Line validation lines at hand")
    return lines


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: apt-get install -y chromium")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import app
    from htr.train import teach

    app.get_recognizer()
    saved = app.adapt_lines, app.PERSONAL_DIR
    app.adapt_lines = partial(teach.adapt_lines, settings=QUICK)
    app.PERSONAL_DIR = tmp_path_factory.mktemp("personal")
    port = free_port()
    app.launch("127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.demo.close()
    app.adapt_lines, app.PERSONAL_DIR = saved


def test_teach_ten_lines_then_read_with_the_personal_model_and_switch_back(browser, server, writer):
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(120_000)
    page.goto(server, wait_until="domcontentloaded")
    page.get_by_role("tab", name="Teach").click()
    page.wait_for_function("() => document.querySelector('#teach-pad canvas').width > 0")
    for number, sample in enumerate(writer[:10], start=1):
        assert page.locator("#teach-prompt").inner_text().startswith("Write:")
        write_line(page, sample.strokes, 50, pad="#teach-pad")
        page.fill("#teach-text textarea", sample.text)  # what this writer wrote, not the prompt
        page.click("#teach-add")
        page.wait_for_function(f"() => document.querySelector('#teach-count').innerText.includes('{number} line')")
        page.wait_for_function("() => document.querySelector('#teach-pad .htr-pad').classList.contains('htr-empty')")
    assert "ready to adapt" in page.locator("#teach-count").inner_text()
    page.click("#teach-adapt")
    page.wait_for_selector("#teach-download", state="visible", timeout=600_000)
    assert "personal model is ready" in page.locator("#teach-status").inner_text()
    assert page.locator("#model-choice input[value='My personal model']").is_checked()

    # A new line of the writer's, read by the personal model, then by the base model, then again
    # by the personal one: the first of the form's last two lines whose readings differ.
    page.get_by_role("tab", name="Draw").click()
    page.wait_for_function("() => document.querySelector('#pad canvas').width > 0")
    text = "() => document.querySelector('#draw-text textarea').value"
    readings = []
    for sample in writer[10:]:
        clear(page)
        write_line(page, sample.strokes, 50)
        wait_answered(page)
        mine = page.evaluate(text)
        page.locator("#model-choice label", has_text="Base model").click()
        try:
            page.wait_for_function(f"() => ({text})() !== {json.dumps(mine)}", timeout=30_000)
        except Exception:  # the base model reads this line alike: try the next one
            readings.append((sample.text, mine))
            page.locator("#model-choice label", has_text="My personal model").click()
            page.wait_for_timeout(3000)
            continue
        assert "base model" in page.locator("#model-note").inner_text()
        page.locator("#model-choice label", has_text="My personal model").click()
        page.wait_for_function(f"() => ({text})() === {json.dumps(mine)}", timeout=30_000)
        assert "personal" in page.locator("#model-note").inner_text()
        break
    else:
        pytest.fail(f"the personal model read every new line as the base model did: {readings}")
    page.context.close()
