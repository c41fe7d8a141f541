"""The Gradio demo (app.py): handlers called directly, then the served /recognize and /recognize_strokes."""

import json
import math
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import PIL.Image
import pytest

gr = pytest.importorskip("gradio")

from conftest import ONDB as DATA  # noqa: E402
from conftest import ROOT, free_port  # noqa: E402

needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"IAM On-Line data not found at {DATA}")

import app  # noqa: E402
import app_glue  # noqa: E402
from htr.hints import DECODER_NAMES  # noqa: E402
from htr.ink import MAX_DRAWING_CHARS, strokes_from_json  # noqa: E402
from htr.metrics import error_rates, line_cer  # noqa: E402
from htr.render import render_strokes  # noqa: E402
from test_hints import stacked  # noqa: E402

EXAMPLE = ROOT / "assets" / "example-canvas-1.png"
EXAMPLE_TEXT = "got the shape for modelling. So"
N_OUTPUTS = 6


@pytest.fixture(scope="module")
def recognizer():
    """The app's own shared recognizer (loaded once per process)."""
    return app.get_recognizer()


@pytest.fixture(scope="module")
def validation_lines(ondb_validation):
    return ondb_validation.samples


def line_image() -> np.ndarray:
    """A clean canvas-look line (gray uint8, dark ink on white) from the shipped example."""
    return cv2.imread(str(EXAMPLE), cv2.IMREAD_GRAYSCALE)


def write_png(path: Path, image: np.ndarray) -> Path:
    if image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    elif image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), image)
    return path


def error_message(excinfo) -> str:
    return str(excinfo.value.message if hasattr(excinfo.value, "message") else excinfo.value)


def assert_no_output(outputs, status_words: str):
    text, corrected, confidence, alternatives, heatmap, status = outputs
    # No reading: the confidence box is hidden (its place kept), not a 0 (Gradio's number box shows 0 for nothing).
    assert text == "" and corrected == "" and confidence == gr.update(value=None, visible="hidden") and heatmap is None
    assert len(alternatives) == 0
    assert status_words.lower() in status.lower()


# ---------------------------------------------------------------------------
# Handlers, called directly


def test_recognize_example_file(recognizer):
    text, corrected, confidence, alternatives, heatmap, status = app.recognize(str(EXAMPLE))
    assert line_cer(EXAMPLE_TEXT, text) < 0.1
    assert corrected == ""
    assert 0.0 < confidence <= 1.0
    assert list(alternatives.columns) == app.ALTERNATIVE_COLUMNS
    assert 1 <= len(alternatives) <= 5 and alternatives.iloc[0]["text"] == text
    beam = app.recognize(str(EXAMPLE), "beam")[3]  # beam search ranks by the network's log-probability
    assert list(beam["combined score"]) == sorted(beam["combined score"], reverse=True)
    picture = cv2.imread(heatmap)  # a PNG in Gradio's file cache
    assert picture is not None and picture.ndim == 3 and picture.shape[1] > 600
    assert "ms" in status


def test_recognize_accepts_gradio_file_payload_and_arrays(recognizer):
    from_payload = app.recognize({"path": str(EXAMPLE), "orig_name": "line.png", "meta": {"_type": "gradio.FileData"}})
    from_array = app.recognize(line_image())
    from_rgb = app.recognize(cv2.cvtColor(line_image(), cv2.COLOR_GRAY2RGB))
    from_pil = app.recognize(PIL.Image.open(EXAMPLE))
    assert from_payload[0] == from_array[0] == from_rgb[0] == from_pil[0]


def test_settings_decoder_top_k_and_correction(recognizer):
    best = app.recognize(str(EXAMPLE), "best", 16, 5, False)
    assert len(best[3]) == 1 and "best path" in best[5]
    beam = app.recognize(str(EXAMPLE), "beam", 4, 3, True)
    assert 1 <= len(beam[3]) <= 3
    assert beam[1] and line_cer(EXAMPLE_TEXT, beam[1]) < 0.2  # spelling-corrected text is filled in
    # Values outside the sliders are clamped; the decoder's label works as well as its value.
    assert app.recognize(str(EXAMPLE), "Beam search", 0, 99)[0] == beam[0]
    with pytest.raises(gr.Error, match="Unknown decoder"):
        app.recognize(str(EXAMPLE), "greedy-ish")
    with pytest.raises(gr.Error, match="whole numbers"):
        app.recognize(str(EXAMPLE), "beam", "wide")


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda tmp: None, "no image received"),
        (lambda tmp: {"path": None}, "no image received"),
        (lambda tmp: np.full((120, 600), 255, np.uint8), "no handwriting found"),
        (lambda tmp: np.zeros((120, 600, 3), np.uint8), "no handwriting found"),  # uniform colour
        (lambda tmp: np.zeros((3, 3), np.uint8), "too small"),
        (lambda tmp: np.zeros((0, 10), np.uint8), "not an image"),
        (lambda tmp: np.zeros((4, 4, 4, 4), np.uint8), "not an image"),
        (lambda tmp: "no such image.png", "no such file"),
        (lambda tmp: {"path": str(tmp / "gone.png"), "orig_name": "line.png"}, "did not arrive"),
        (lambda tmp: 42, "not an image"),
    ],
    ids=["none", "payload-without-file", "blank-white", "blank-black", "tiny", "empty-array", "4d-array",
         "missing-file", "upload-gone", "number"],
)
def test_bad_inputs_raise_friendly_errors(recognizer, tmp_path, make, words):
    with pytest.raises(gr.Error) as excinfo:
        app.recognize(make(tmp_path))
    message = error_message(excinfo)
    assert words in message.lower()
    assert "Traceback" not in message and "/tmp" not in message


def test_bad_files_raise_friendly_errors(recognizer, tmp_path):
    cases = {}
    (tmp_path / "notes.png").write_text("These are my notes, not a picture.\n")
    cases["notes.png"] = "not a readable image"
    (tmp_path / "empty.png").write_bytes(b"")
    cases["empty.png"] = "empty"
    data = EXAMPLE.read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    cases["cut.png"] = "damaged or truncated"
    PIL.Image.new("1", (11_000, 10_000), 1).save(tmp_path / "enormous.png")
    cases["enormous.png"] = "too large"
    write_png(tmp_path / "blank.png", np.full((200, 800, 3), 255, np.uint8))
    cases["blank.png"] = "no handwriting found"
    write_png(tmp_path / "clear.png", np.zeros((200, 800, 4), np.uint8))  # fully transparent
    cases["clear.png"] = "no handwriting found"
    for name, words in cases.items():
        with pytest.raises(gr.Error) as excinfo:
            app.recognize(str(tmp_path / name))
        assert words in error_message(excinfo).lower(), name
    # The recognizer still works after all that.
    assert line_cer(EXAMPLE_TEXT, app.recognize(str(EXAMPLE))[0]) < 0.1


def test_transparent_and_16_bit_pngs(recognizer, tmp_path):
    ink = 255 - line_image()
    dark_on_clear = np.dstack([np.zeros_like(ink)] * 3 + [ink])  # black strokes, transparent paper
    light_on_clear = np.dstack([np.full_like(ink, 255)] * 3 + [ink])  # white strokes, transparent paper
    deep = (line_image().astype(np.uint16) * 257)  # 16-bit grey
    for name, image in [("dark.png", dark_on_clear), ("light.png", light_on_clear), ("deep.png", deep)]:
        text = app.recognize(str(write_png(tmp_path / name, image)))[0]
        assert line_cer(EXAMPLE_TEXT, text) < 0.15, name


def test_huge_images_are_shrunk_not_refused(recognizer, tmp_path):
    line = line_image()
    big = np.full((8000, 8000), 255, np.uint8)
    scaled = cv2.resize(line, (7000, round(line.shape[0] * 7000 / line.shape[1])), interpolation=cv2.INTER_CUBIC)
    big[3000 : 3000 + scaled.shape[0], 500:7500] = scaled
    text = app.recognize(big)[0]
    assert line_cer(EXAMPLE_TEXT, text) < 0.15
    path = tmp_path / "big.png"
    cv2.imwrite(str(path), big, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    assert line_cer(EXAMPLE_TEXT, app.recognize(str(path))[0]) < 0.15
    with pytest.raises(gr.Error, match="No handwriting"):
        app.recognize(np.full((8000, 8000, 3), 255, np.uint8))


# Pen strokes: the Draw tab's canvas and the /recognize_strokes endpoint.

def strokes_json(strokes: list[np.ndarray], height: float = 60.0, seq: int | None = None, pen: float | None = None,
                 ms_per_point: float = 8.0) -> str:
    """Strokes as the canvas sends them: CSS pixels (the line ``height`` tall), [x, y, t] points."""
    points = np.concatenate(strokes)
    lo, scale = points.min(axis=0), height / max(float(np.ptp(points[:, 1])), 1.0)
    out, t = [], 0.0
    for stroke in strokes:
        xy = (stroke - lo) * scale + 20
        out.append([[round(float(x), 2), round(float(y), 2), round(t + i * ms_per_point)] for i, (x, y) in enumerate(xy)])
        t += len(xy) * ms_per_point + 120
    data: dict = {"strokes": out}
    if seq is not None:
        data["seq"] = seq
    if pen is not None:
        data["pen"] = pen
    return json.dumps(data)


@needs_data
def test_recognize_strokes_reads_real_lines(recognizer, validation_lines):
    for sample in validation_lines[:4]:
        sent = strokes_json(sample.strokes)
        text, corrected, confidence, alternatives, heatmap, status = app.recognize_strokes(sent)
        assert line_cer(sample.text, text) < 0.25, (sample.text, text)
        # exactly what the package reads from the same strokes
        assert text == recognizer.recognize_strokes(strokes_from_json(sent), decoder=app.DEFAULT_DECODER).text
        assert 0 < confidence <= 1 and alternatives.iloc[0]["text"] == text
        assert cv2.imread(heatmap) is not None and "ms" in status and "⚠️" not in status
    # a bare list of strokes works too, and the settings apply
    text, _, _, alternatives, _, status = app.recognize_strokes(
        json.dumps(json.loads(strokes_json(validation_lines[0].strokes))["strokes"]), "best")
    assert len(alternatives) == 1 and "best path" in status


@pytest.mark.parametrize(
    "value, words",
    [
        (None, "drawing is empty"),
        ("", "drawing is empty"),
        ("   ", "drawing is empty"),
        ('{"strokes": []}', "drawing is empty"),
        ('{"strokes": [[], []]}', "drawing is empty"),
        ("{not json", "not valid json"),
        ('{"lines": [[[0, 0]]]}', 'expected {"strokes"'),
        ("42", "expected"),
        ('"a line"', "expected"),
        ('{"strokes": "abc"}', "must be a list"),
        ('{"strokes": [[[1], [2]]]}', "points must be [x, y]"),
        ('{"strokes": [[[[1, 2]]]]}', "points must be [x, y]"),
        ('{"strokes": [[["a", "b"]]]}', "not a list of [x, y] points"),
        ('{"strokes": [[[NaN, 1, 0], [2, 3, 4]]]}', "not finite"),
        ('{"strokes": [[[Infinity, 1]]]}', "not finite"),
    ],
    ids=["none", "empty", "blank", "no-strokes", "empty-strokes", "invalid-json", "wrong-key", "number", "string",
         "strokes-not-list", "one-coordinate", "too-deep", "not-numbers", "nan", "infinity"],
)
def test_strokes_bad_inputs_raise_friendly_errors(recognizer, value, words):
    with pytest.raises(gr.Error) as excinfo:
        app.recognize_strokes(value)
    message = error_message(excinfo)
    assert words.lower() in message.lower()
    assert "Traceback" not in message


def test_strokes_limits(recognizer):
    from htr.ink import MAX_POINTS, MAX_STROKES

    too_many_points = json.dumps({"strokes": [[[i % 500, i % 7, i] for i in range(MAX_POINTS + 1)]]})
    with pytest.raises(gr.Error, match="(?i)too many points"):
        app.recognize_strokes(too_many_points)
    with pytest.raises(gr.Error, match="(?i)too many strokes"):
        app.recognize_strokes(json.dumps({"strokes": [[[i, 0]] for i in range(MAX_STROKES + 1)]}))
    with pytest.raises(gr.Error, match="(?i)too large"):
        app.recognize_strokes('{"strokes": [' + " " * MAX_DRAWING_CHARS + "]}")
    # The server still reads after all that.
    stroke = [[x, 20 + 10 * math.sin(x / 5), 0] for x in range(0, 200, 2)]
    assert app.recognize_strokes(json.dumps({"strokes": [stroke]}))[2] > 0


@needs_data
def test_canvas_reads_and_reports_the_version_it_read(recognizer, validation_lines):
    sample = validation_lines[1]
    outputs = app.read_drawing_live(strokes_json(sample.strokes, seq=7, pen=4), "beam", 16, 5, False)
    assert len(outputs) == N_OUTPUTS + 1 and outputs[-1] == "7"
    assert line_cer(sample.text, outputs[0]) < 0.25
    # An empty canvas (cleared): empty outputs, a status line, no toast when live.
    cleared = app.read_drawing_live('{"seq": 8, "pen": 4, "strokes": []}', "beam", 16, 5, False)
    assert_no_output(cleared[:N_OUTPUTS], "write one line") and cleared[-1] == "8"
    # The button on an empty canvas: a toast as well.
    with pytest.warns(UserWarning, match="empty"):
        pressed = app.read_drawing('{"seq": 9, "strokes": []}')
    assert_no_output(pressed[:N_OUTPUTS], "write one line") and pressed[-1] == "9"
    # Damaged JSON from a page: a status line saying so, never an exception.
    broken = app.read_drawing_live('{"seq": 10, "strokes": [[[1, 2]', "beam", 16, 5, False)
    assert_no_output(broken[:N_OUTPUTS], "not valid json") and broken[-1] == "0"
    # A changed setting re-reads a drawing, and leaves an empty canvas alone.
    again = app.reread_drawing(strokes_json(sample.strokes, seq=11), "best", 16, 5, False)
    assert again[0] and len(again[3]) == 1 and again[-1] == "11"
    assert all(output == gr.skip() for output in app.reread_drawing('{"seq": 12, "strokes": []}', "best", 16, 5, False))


def test_replies_for_older_requests_are_dropped():
    latest = app_glue.LatestReply(sessions=2)
    key = ("session", "draw")
    first, second = latest.begin(key), latest.begin(key)
    assert latest.show(key, second)  # the newer read finished first ...
    assert not latest.show(key, first)  # ... so the older one's reply is dropped
    third = latest.begin(key)
    assert latest.show(key, third)
    # In order, both are shown.
    a, b = latest.begin(("other", "draw")), latest.begin(("other", "draw"))
    assert latest.show(("other", "draw"), a) and latest.show(("other", "draw"), b)
    latest.begin(("third", "draw"))  # the oldest session is forgotten, so memory stays bounded
    assert len(latest._issued) == 2 and key not in latest._issued

    class Request:
        session_hash = "s1"

    outputs = app_glue.latest_only("draw", Request(), lambda: ("text", "", 0.5, "", "", "", "7"), 7)
    assert outputs == ("text", "", gr.update(value=0.5, visible=True), "", "", "", "7")  # the confidence shown
    assert app_glue.latest_only("draw", None, lambda: ("direct",), 1) == ("direct",)


@needs_data
def test_hints_for_drawings(recognizer, validation_lines):
    one, two = validation_lines[0].strokes, validation_lines[2].strokes
    several = app.recognize_strokes(strokes_json(stacked(one, two), height=140))
    assert "2 lines of writing" in several[-1] and "one line at a time" in several[-1]
    small = app.read_drawing_live(strokes_json(one, height=15, seq=1, pen=2), "beam", 16, 5, False)
    assert "very small" in small[N_OUTPUTS - 1]
    # A blot: the same place scribbled over and over with the thickest pen.
    t = np.linspace(0, 40 * np.pi, 2000)
    scribble = [np.stack([120 + 50 * np.sin(1.03 * t) + t / 3, 60 + 30 * np.sin(1.7 * t)], axis=1)]
    blot = app.read_drawing_live(strokes_json(scribble, height=60, pen=16), "beam", 16, 5, False)
    assert "run into each other" in blot[N_OUTPUTS - 1]
    with pytest.warns(UserWarning, match="one line at a time"):
        app.read_drawing(strokes_json(stacked(one, two), height=140))


@needs_data
def test_hints_for_images(recognizer, validation_lines):
    lines = [render_strokes(s.strokes, "canvas") for s in validation_lines[:3]]
    width = max(line.shape[1] for line in lines)
    page = np.concatenate([np.pad(line, ((0, 0), (0, width - line.shape[1])), constant_values=255) for line in lines])
    assert "3 lines of writing" in app.recognize(page)[-1]
    assert "⚠️" not in app.recognize(lines[0])[-1]
    tiny = render_strokes(validation_lines[0].strokes, "canvas", ink_height=16)
    tiny = np.pad(tiny, 60, constant_values=255)
    assert "very small" in app.recognize(tiny)[-1]
    with pytest.warns(UserWarning, match="one line at a time"):
        app.recognize_upload(page)


@pytest.mark.parametrize("decoder", DECODER_NAMES)
def test_alternatives_are_ranked_by_the_score_they_show(recognizer, decoder):
    text, _, confidence, alternatives, _, _ = app.recognize(str(EXAMPLE), decoder, 16, 5)
    scores = list(alternatives["combined score"])
    assert scores == sorted(scores, reverse=True) and alternatives.iloc[0]["text"] == text
    assert list(alternatives["#"]) == list(range(1, len(alternatives) + 1))
    probs = list(alternatives["network probability"])
    assert all(0.0 < p <= 1.0 for p in probs)
    lm = list(alternatives["language model"])
    assert all((v is not None) == (decoder == "lm") for v in lm)
    # The combined score is the network's log-probability plus the language model's part.
    for score, lm_part, text_, prob in zip(scores, lm, alternatives["text"], probs):
        network = score - (lm_part or 0.0)
        assert prob == pytest.approx(math.exp(network / (len(text_) + 1)), abs=2e-3)


def test_unsure_words_are_marked_under_the_text(recognizer):
    paper = str(ROOT / "assets" / "example-paper-1.png")
    text, _, confidence, _, _, status = app.recognize(paper, "best")  # best path misreads "Roman" as "foman"
    assert "foman" in text and confidence < 0.5
    assert "Check the marked words" in status and "<mark>foman</mark>" in status and "<mark>Later</mark>" not in status
    text, _, confidence, _, _, status = app.recognize(paper, "lm")  # the language model reads it right
    assert "Roman" in text and "<mark>" not in status


def test_upload_tab_warns_instead_of_raising(recognizer, tmp_path):
    (tmp_path / "notes.png").write_text("not a picture")
    for value, words in [(None, "upload"), (str(tmp_path / "notes.png"), "not a readable image"),
                         (np.full((50, 200), 255, np.uint8), "no handwriting found")]:
        with pytest.warns(UserWarning):
            outputs = app.recognize_upload(value)
        assert_no_output(outputs, words)
    read = app.recognize_upload(str(EXAMPLE))
    assert line_cer(EXAMPLE_TEXT, read[0]) < 0.1
    assert read[2]["visible"] is True and 0 < read[2]["value"] <= 1  # a reading shows its confidence
    # Before anything is read, the box is hidden; the API returns the number itself.
    box = next(b for b in app.demo.blocks.values() if getattr(b, "elem_id", None) == "upload-confidence")
    assert box.visible == "hidden"
    assert app.recognize(str(EXAMPLE))[2] == pytest.approx(read[2]["value"])
    # The Page tab's likewise: hidden until a page is read, then shown with the page's confidence.
    box = next(b for b in app.demo.blocks.values() if getattr(b, "elem_id", None) == "page-confidence")
    assert box.visible == "hidden"
    page = app.recognize_page_upload(str(EXAMPLE))
    assert page[1]["visible"] is True and 0 < page[1]["value"] <= 1


def test_queue_runs_a_few_recognitions_at_a_time():
    assert app.demo._queue.default_concurrency_limit == app.CONCURRENCY >= 2
    assert app.get_recognizer().runtime == "onnx"
    # The Teach tab's events: collecting lines and switching models read nothing; adapting has its own group.
    teach = {"teach_add", "teach_skip", "teach_load", "choose_model", "teach_adapt", "adapt_api"}
    adapting = [fn for fn in app.demo.fns.values() if fn.name in ("teach_adapt", "adapt_api")]
    assert len(adapting) == 2 and all(fn.concurrency_id == "adapt" and fn.concurrency_limit == 1 for fn in adapting)
    model_events = [fn for fn in app.demo.fns.values()
                    if fn.name not in ("<lambda>", "load_example", *teach) and fn.fn is not None]
    names = {fn.name for fn in model_events}
    assert {"recognize", "recognize_strokes", "read_drawing", "read_drawing_live", "reread_drawing",
            "recognize_upload", "reread_upload"} <= names
    assert all(fn.concurrency_id == "model" for fn in model_events), [(fn.name, fn.concurrency_id) for fn in model_events]
    # Page reads collapse while one runs: at most one more, with the latest input.
    assert all(fn.trigger_mode == "always_last" for fn in model_events if fn.name.startswith(("read", "reread")))


def test_host_and_port_from_flags_and_environment():
    assert (vars(app.parse_args([], {}))) == {"host": "127.0.0.1", "port": 7860}
    env = {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "8080"}
    assert vars(app.parse_args([], env)) == {"host": "0.0.0.0", "port": 8080}
    assert vars(app.parse_args(["--host", "127.0.0.1", "--port", "9000"], env)) == {"host": "127.0.0.1", "port": 9000}


def test_api_exposes_recognize_and_recognize_strokes():
    info = app.demo.get_api_info()
    assert list(info["named_endpoints"]) == ["/recognize", "/recognize_strokes", "/recognize_page", "/adapt"]
    adapt = info["named_endpoints"]["/adapt"]
    assert [p["component"] for p in adapt["parameters"]] == ["Textbox"]
    assert [r["component"] for r in adapt["returns"]] == ["File", "Json"]
    page = info["named_endpoints"]["/recognize_page"]
    assert page["parameters"][0]["component"] == "Image"
    assert [r["component"] for r in page["returns"]] == ["Textbox", "Json", "Number", "Image", "Markdown"]
    endpoint = info["named_endpoints"]["/recognize"]
    assert endpoint["parameters"][0]["component"] == "Image"
    assert endpoint["returns"][0]["component"] == "Textbox"
    strokes = info["named_endpoints"]["/recognize_strokes"]
    assert strokes["parameters"][0]["component"] == "Textbox"
    assert [p["parameter_name"] for p in strokes["parameters"]] == ["strokes", "decoder", "beam_width", "top_k", "correct",
                                                                  "model_id"]
    # The personal model to read with comes last and may be left out: callers of before go on working.
    for reading in (endpoint, strokes, page):
        last = reading["parameters"][-1]
        assert last["parameter_name"] == "model_id" and last["parameter_has_default"] and last["parameter_default"] == ""
    assert [r["component"] for r in strokes["returns"]] == [r["component"] for r in endpoint["returns"]]


# ---------------------------------------------------------------------------
# Served: /recognize and /recognize_strokes through gradio_client


@pytest.fixture(scope="module")
def server(recognizer):
    port = free_port()
    app.launch("127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.demo.close()


@needs_data
def test_api_reads_a_page(server, validation_lines, tmp_path):
    from gradio_client import Client, handle_file

    from htr.synth.pages import group_forms, render_form

    form = list(group_forms(validation_lines).values())[4]
    page = render_form(form, "paper", np.random.default_rng(5), line_height=50)
    path = write_png(tmp_path / "page.png", page.image)
    client = Client(server, verbose=False)
    text, lines, confidence, overlay, status = client.predict(handle_file(str(path)), decoder="best",
                                                              api_name="/recognize_page")
    assert text == "\n".join(line["text"] for line in lines) and len(lines) == len(form)
    assert error_rates([page.text], [text]).cer < 0.25
    assert 0 < confidence <= 1 and f"Found {len(form)} lines" in status
    for line, truth in zip(lines, page.boxes):
        assert set(line) == {"box", "polygon", "text", "confidence", "needs_review", "words", "alternatives"} and len(line["box"]) == 4
        assert abs(line["box"][1] + line["box"][3] / 2 - truth[1] - truth[3] / 2) < truth[3] / 2
    assert cv2.imread(overlay).shape[:2] == page.image.shape[:2]
    # one line through the page endpoint: one line, read as /recognize reads it
    line = write_png(tmp_path / "line.png", render_strokes(validation_lines[0].strokes, "canvas"))
    single = client.predict(handle_file(str(line)), decoder="best", api_name="/recognize_page")
    assert len(single[1]) == 1 and single[0] == client.predict(handle_file(str(line)), decoder="best",
                                                               api_name="/recognize")[0]


@needs_data
def test_api_reads_rendered_validation_lines(server, validation_lines, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    refs, hyps = [], []
    for i, sample in enumerate(validation_lines[:5]):
        image = render_strokes(sample.strokes, "canvas", np.random.default_rng(i))
        path = write_png(tmp_path / f"line-{i}.png", image)
        result = client.predict(handle_file(str(path)), api_name="/recognize")
        assert len(result) == N_OUTPUTS
        text, corrected, confidence, alternatives, heatmap, status = result
        refs.append(sample.text)
        hyps.append(text)
        assert 0 < confidence <= 1
        assert alternatives["headers"] == app.ALTERNATIVE_COLUMNS
        assert 1 <= len(alternatives["data"]) <= 5 and alternatives["data"][0][1] == text
        assert Path(heatmap).is_file() and Path(heatmap).stat().st_size > 0
    cer = error_rates(refs, hyps).cer
    assert cer < 0.25, list(zip(refs, hyps))

    # All the arguments, by name.
    result = client.predict(handle_file(str(path)), decoder="beam", beam_width=8, top_k=3, correct=True,
                            api_name="/recognize")
    assert result[1] and len(result[3]["data"]) <= 3
    result = client.predict(handle_file(str(path)), decoder="best", api_name="/recognize")
    assert len(result[3]["data"]) == 1


def test_api_bad_input_gives_clear_error_and_keeps_serving(server, tmp_path):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    client = Client(server, verbose=False)
    (tmp_path / "notes.txt").write_text("not a picture")
    write_png(tmp_path / "blank.png", np.full((100, 400), 255, np.uint8))
    write_png(tmp_path / "tiny.png", np.zeros((2, 2), np.uint8))
    for name, words in [("notes.txt", "notes.txt: not a readable image"), ("blank.png", "no handwriting found"),
                        ("tiny.png", "too small")]:
        with pytest.raises(AppError) as excinfo:
            client.predict(handle_file(str(tmp_path / name)), api_name="/recognize")
        assert words in str(excinfo.value).lower(), name
    text = client.predict(handle_file(str(EXAMPLE)), api_name="/recognize")[0]
    assert line_cer(EXAMPLE_TEXT, text) < 0.1


def test_api_unknown_personal_model_is_named_and_no_id_reads_with_the_base_model(server):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    client = Client(server, verbose=False)
    for model_id, words in [("personal-" + "0" * 32, "no personal model personal-0000"),
                            ("../model", "is no personal model id")]:
        with pytest.raises(AppError, match=words):
            client.predict(handle_file(str(EXAMPLE)), model_id=model_id, api_name="/recognize")
        with pytest.raises(AppError, match=words):
            client.predict('{"strokes": [[[0, 0], [5, 9]]]}', model_id=model_id, api_name="/recognize_strokes")
    base = app.get_recognizer().recognize(EXAMPLE, decoder="best").text
    assert client.predict(handle_file(str(EXAMPLE)), "best", model_id="", api_name="/recognize")[0] == base


def test_api_path_strings_get_a_hint_and_no_traceback(server, capfd, tmp_path):
    """A path sent as a plain string (not ``handle_file``), or a payload naming a file the
    server never received, is refused with a hint; nothing on the server is read."""
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    client = Client(server, verbose=False)
    on_server = tmp_path / "line.png"
    on_server.write_bytes(EXAMPLE.read_bytes())
    capfd.readouterr()
    for value in [str(EXAMPLE), "line.png", {"path": str(on_server)}, {"path": "/etc/hostname"}]:
        with pytest.raises(AppError) as excinfo:
            client.predict(value, api_name="/recognize")
        assert "handle_file(" in str(excinfo.value) and "not a path on the server" in str(excinfo.value), value
    assert "Traceback" not in "".join(capfd.readouterr())
    text = client.predict(handle_file(str(EXAMPLE)), api_name="/recognize")[0]
    assert line_cer(EXAMPLE_TEXT, text) < 0.1


@needs_data
def test_api_reads_strokes(server, validation_lines):
    from gradio_client import Client

    client = Client(server, verbose=False)
    refs, hyps = [], []
    for sample in validation_lines[5:9]:
        result = client.predict(strokes_json(sample.strokes), api_name="/recognize_strokes")
        assert len(result) == N_OUTPUTS
        text, corrected, confidence, alternatives, heatmap, status = result
        refs.append(sample.text)
        hyps.append(text)
        assert 0 < confidence <= 1 and alternatives["data"][0][1] == text
        assert alternatives["headers"][2] == "combined score"  # the rows are ranked by it
        assert [row[2] for row in alternatives["data"]] == sorted((row[2] for row in alternatives["data"]), reverse=True)
        assert Path(heatmap).is_file() and "ms" in status
    assert error_rates(refs, hyps).cer < 0.2, list(zip(refs, hyps))
    result = client.predict(strokes_json(validation_lines[5].strokes), decoder="best", beam_width=4, top_k=3,
                            correct=True, api_name="/recognize_strokes")
    assert result[1] and len(result[3]["data"]) == 1


def test_api_strokes_bad_input_gives_clear_error_and_keeps_serving(server):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(server, verbose=False)
    for value, words in [("", "drawing is empty"), ('{"strokes": []}', "drawing is empty"),
                         ("{oops", "not valid json"), ('{"strokes": [[[NaN, 2]]]}', "not finite"),
                         ('{"strokes": [[[1], [2]]]}', "points must be")]:
        with pytest.raises(AppError) as excinfo:
            client.predict(value, api_name="/recognize_strokes")
        assert words in str(excinfo.value).lower(), value
    stroke = [[x, 20 + 10 * math.sin(x / 5), 0] for x in range(0, 200, 2)]
    assert client.predict(json.dumps({"strokes": [stroke]}), api_name="/recognize_strokes")[2] > 0


def test_python_app_py_serves_the_page(tmp_path):
    """`python app.py --port N` starts (model included) and serves the page on that port.

    (How fast it starts is measured in benchmarks/, not asserted here: CI shares its machine.)"""
    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port + 1))  # the flag must win
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        elapsed = math.inf
        while time.perf_counter() - start < 300 and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    if response.status == 200:
                        elapsed = time.perf_counter() - start
                        break
            except OSError:
                time.sleep(0.25)
        assert proc.poll() is None, proc.stdout.read()
        assert elapsed < math.inf, "the page was not served"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
