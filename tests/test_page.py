"""Reading whole pages: the API, the command line, and single lines read exactly as before."""

import json

import numpy as np
import pytest
from conftest import write_png
from test_cli import htr

from htr.metrics import error_rates
from htr.page import recognize_page, recognize_page_strokes
from htr.synth.pages import group_forms, render_form, stack_lines

STACKED_FORM = "a03-011-"  # 6 real scanned lines of one form (also in tests/fixtures/iam)


@pytest.fixture(scope="module")
def stacked_page(iam_dev_forms):
    all_forms, boxes = iam_dev_forms
    form = next(f for f in all_forms if f[0].id.startswith(STACKED_FORM))
    return stack_lines(form[:6], boxes, np.random.default_rng(7), squeeze=0.7), form[0]


def test_single_lines_read_exactly_as_before(recognizer, ondb_validation, stacked_page):
    from htr.render import render_strokes

    images = [render_strokes(s.strokes, look, np.random.default_rng(i))
              for i, (s, look) in enumerate(zip(ondb_validation.samples[20:24] or ondb_validation.samples[-4:],
                                                ("canvas", "paper") * 2))]
    images.append(str(stacked_page[1].path))  # a real scan, bits of the neighbouring lines at its edges
    for image in images:
        before = recognizer.recognize(image, "beam", top_k=3)
        page = recognize_page(recognizer, image, "auto", "beam", top_k=3)
        assert page.layout == "line" and len(page.lines) == 1
        assert page.to_json("x.png") == before.to_json("x.png")
        np.testing.assert_array_equal(page.lines[0].recognition.probabilities, before.probabilities)


def test_a_page_is_read_line_by_line(recognizer, stacked_page):
    page, _ = stacked_page
    result = recognize_page(recognizer, page.image, "auto", "best")
    assert result.layout == "page" and len(result.lines) == len(page.texts)
    assert result.text == "\n".join(line.text for line in result.lines)
    assert error_rates([page.text], [result.text]).cer < 0.25
    assert min(line.confidence for line in result.lines) <= result.confidence <= max(line.confidence for line in result.lines)
    data = result.to_json("page.png")
    assert set(data) == {"path", "text", "confidence", "needs_review", "decoder", "lines"}
    for line, truth in zip(data["lines"], page.boxes):
        assert set(line) == {"box", "polygon", "text", "confidence", "needs_review", "words", "alternatives"}
        x, y, w, h = line["box"]
        assert abs((y + h / 2) - (truth[1] + truth[3] / 2)) < truth[3] / 2  # each line where it is on the page
        outline = np.asarray(line["polygon"])  # the line's outline, inside its box
        assert len(outline) >= 4 and (outline >= [x - 1, y - 1]).all() and (outline <= [x + w + 1, y + h + 1]).all()
    # read as one line, the same page is nonsense
    flat = recognize_page(recognizer, page.image, "line", "best")
    assert flat.layout == "line" and error_rates([page.text], [flat.text]).cer > 0.5


def test_a_drawing_of_several_lines(recognizer, ondb_validation):
    lines = list(group_forms(ondb_validation.samples).values())[2][:3]
    strokes = [p * 0.1 for s in lines for p in s.strokes]  # as a sketchpad sends them, in screen pixels
    result = recognize_page_strokes(recognizer, strokes, "auto", "best")
    assert result.layout == "page" and len(result.lines) == 3
    # every stroke went to its own line: each line reads exactly as its own strokes alone
    alone = [recognizer.recognize_strokes([p * 0.1 for p in s.strokes], "best").text for s in lines]
    assert [line.text for line in result.lines] == alone
    assert error_rates([s.text for s in lines], alone).cer < 0.3
    one = recognize_page_strokes(recognizer, [p * 0.1 for p in lines[0].strokes], "auto", "best")
    assert one.layout == "line" and one.to_json() == recognizer.recognize_strokes(
        [p * 0.1 for p in lines[0].strokes], "best").to_json()


def test_predict_layouts(tmp_path, ondb_validation):
    forms = list(group_forms(ondb_validation.samples).values())
    page = render_form(forms[1], "paper", np.random.default_rng(0), line_height=50)
    page_png = write_png(tmp_path / "page.png", page.image)
    from htr.render import render_strokes

    line_png = write_png(tmp_path / "line.png", render_strokes(ondb_validation.samples[0].strokes, "canvas"))
    auto = htr("predict", page_png, line_png, "--json", "--decoder", "best")
    line = htr("predict", line_png, "--json", "--decoder", "best", "--layout", "line")
    assert auto.returncode == 0 and line.returncode == 0, auto.stderr[-2000:] + line.stderr[-2000:]
    page_obj, line_obj = [json.loads(row) for row in auto.stdout.splitlines()]
    assert line_obj == json.loads(line.stdout)  # one line through auto: exactly the one-line contract
    assert set(page_obj) == {"path", "text", "confidence", "needs_review", "decoder", "lines"}
    assert len(page_obj["lines"]) == len(page.texts) and page_obj["text"].count("\n") == len(page.texts) - 1
    assert error_rates([page.text], [page_obj["text"]]).cer < 0.2
    plain = htr("predict", page_png, "--layout", "page")
    rows = plain.stdout.splitlines()
    assert plain.returncode == 0 and len(rows) == len(page.texts) and rows[0].startswith(f"{page_png}:1\t")
