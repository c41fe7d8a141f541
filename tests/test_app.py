"""The Gradio demo (app.py): handlers called directly, then the served /recognize endpoint."""

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

sys.path.insert(0, str(ROOT))
import app  # noqa: E402
from htr.metrics import error_rates, line_cer  # noqa: E402
from htr.render import render_strokes  # noqa: E402

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
    assert text == "" and corrected == "" and confidence is None and heatmap is None
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
    assert list(alternatives["log-prob"]) == sorted(alternatives["log-prob"], reverse=True)
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
        (lambda tmp: "no such image.png", "did not arrive"),
        (lambda tmp: 42, "not an image"),
    ],
    ids=["none", "payload-without-file", "blank-white", "blank-black", "tiny", "empty-array", "4d-array",
         "missing-file", "number"],
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
    cases["notes.png"] = "not an image"
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
    start = time.perf_counter()
    text = app.recognize(big)[0]
    assert line_cer(EXAMPLE_TEXT, text) < 0.15
    path = tmp_path / "big.png"
    cv2.imwrite(str(path), big, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    assert line_cer(EXAMPLE_TEXT, app.recognize(str(path))[0]) < 0.15
    assert time.perf_counter() - start < 30
    with pytest.raises(gr.Error, match="No handwriting"):
        app.recognize(np.full((8000, 8000, 3), 255, np.uint8))


# Sketchpad values: {"background", "layers", "composite"} with RGBA arrays, None when empty.

def rgba_canvas(ink: np.ndarray | None = None, paper_alpha: int = 255) -> np.ndarray:
    h, w = (260, 1200) if ink is None else ink.shape
    canvas = np.zeros((h, w, 4), np.uint8)
    canvas[..., :3] = 255
    canvas[..., 3] = paper_alpha
    if ink is not None:
        canvas[ink > 0, :3] = 17
        canvas[ink > 0, 3] = 255
    return canvas


def drawn_ink() -> np.ndarray:
    """The example line as a stroke mask on a 1200 x 260 canvas."""
    ink = (255 - line_image()) > 60
    mask = np.zeros((260, 1200), np.uint8)
    mask[50 : 50 + ink.shape[0], 100 : 100 + ink.shape[1]] = ink * 255
    return mask


def test_sketch_empty_values(recognizer):
    empty = [
        None,
        {"background": None, "layers": [], "composite": None},
        {"background": None, "layers": [None], "composite": None},
        {"background": rgba_canvas(), "layers": [], "composite": rgba_canvas()},
        {"background": rgba_canvas(), "layers": [rgba_canvas(paper_alpha=0)], "composite": rgba_canvas()},
        {"background": None, "layers": [rgba_canvas(paper_alpha=0)], "composite": None},
    ]
    for value in empty:
        with pytest.warns(UserWarning, match="empty"):
            outputs = app.recognize_sketch(value)
        assert_no_output(outputs, "draw one line")
        live = app.recognize_sketch_live(value, "beam", 16, 5, False, True)
        assert_no_output(live, "draw one line")


def test_sketch_tiny_canvas_gets_a_message(recognizer):
    with pytest.warns(UserWarning, match="too small"):
        outputs = app.recognize_sketch({"background": None, "layers": [], "composite": rgba_canvas()[:3, :3]})
    assert_no_output(outputs, "too small")


def test_sketch_drawings(recognizer):
    ink = drawn_ink()
    layer = rgba_canvas(ink, paper_alpha=0)  # strokes on a transparent layer
    values = {
        "composite": {"background": rgba_canvas(), "layers": [layer], "composite": rgba_canvas(ink)},
        "transparent-composite": {"background": None, "layers": [layer], "composite": layer},
        "layers-only": {"background": None, "layers": [layer], "composite": None},
        "layer-over-background": {"background": rgba_canvas()[..., :3], "layers": [layer], "composite": None},
    }
    for name, value in values.items():
        text, corrected, confidence, alternatives, heatmap, status = app.recognize_sketch(value, "beam", 16, 5)
        assert line_cer(EXAMPLE_TEXT, text) < 0.15, name
        assert confidence > 0.3 and len(alternatives) >= 1 and heatmap is not None, name
    live = app.recognize_sketch_live(values["composite"], "best", 16, 5, False, True)
    assert line_cer(EXAMPLE_TEXT, live[0]) < 0.15


def test_live_recognition_can_be_switched_off():
    outputs = app.recognize_sketch_live({"composite": rgba_canvas(drawn_ink())}, "beam", 16, 5, False, False)
    assert len(outputs) == N_OUTPUTS
    assert all(output == gr.skip() for output in outputs)


def test_upload_tab_warns_instead_of_raising(recognizer, tmp_path):
    (tmp_path / "notes.png").write_text("not a picture")
    for value, words in [(None, "upload"), (str(tmp_path / "notes.png"), "not an image"),
                         (np.full((50, 200), 255, np.uint8), "no handwriting found")]:
        with pytest.warns(UserWarning):
            outputs = app.recognize_upload(value)
        assert_no_output(outputs, words)
    assert line_cer(EXAMPLE_TEXT, app.recognize_upload(str(EXAMPLE))[0]) < 0.1


def test_queue_runs_two_recognitions_at_a_time():
    assert app.demo._queue.default_concurrency_limit == 2
    model_events = [fn for fn in app.demo.fns.values() if fn.name.startswith("recognize")]
    assert len(model_events) >= 4 and all(fn.concurrency_id == "model" for fn in model_events)


def test_host_and_port_from_flags_and_environment():
    assert (vars(app.parse_args([], {}))) == {"host": "127.0.0.1", "port": 7860}
    env = {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "8080"}
    assert vars(app.parse_args([], env)) == {"host": "0.0.0.0", "port": 8080}
    assert vars(app.parse_args(["--host", "127.0.0.1", "--port", "9000"], env)) == {"host": "127.0.0.1", "port": 9000}


def test_api_exposes_only_recognize():
    info = app.demo.get_api_info()
    named = [name for name in info["named_endpoints"]]
    assert named == ["/recognize"]
    endpoint = info["named_endpoints"]["/recognize"]
    assert endpoint["parameters"][0]["component"] == "Image"
    assert endpoint["returns"][0]["component"] == "Textbox"


# ---------------------------------------------------------------------------
# Served: the /recognize endpoint through gradio_client


@pytest.fixture(scope="module")
def server(recognizer):
    port = free_port()
    app.launch("127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.demo.close()


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
    for name, words in [("notes.txt", "not an image"), ("blank.png", "no handwriting found"),
                        ("tiny.png", "too small")]:
        with pytest.raises(AppError) as excinfo:
            client.predict(handle_file(str(tmp_path / name)), api_name="/recognize")
        assert words in str(excinfo.value).lower(), name
    text = client.predict(handle_file(str(EXAMPLE)), api_name="/recognize")[0]
    assert line_cer(EXAMPLE_TEXT, text) < 0.1


def test_python_app_py_serves_quickly(tmp_path):
    """`python app.py --port N` starts (model included) in under 15 s and serves the page."""
    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port + 1))  # the flag must win
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        elapsed = math.inf
        while time.perf_counter() - start < 60 and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    if response.status == 200:
                        elapsed = time.perf_counter() - start
                        break
            except OSError:
                time.sleep(0.25)
        assert proc.poll() is None, proc.stdout.read()
        assert elapsed < 15, f"started in {elapsed:.1f} s"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
