"""Handwriting recognition demo: write or upload one line of handwriting and read it back.

    python app.py                       # http://127.0.0.1:7860
    python app.py --host 0.0.0.0 --port 8080

GRADIO_SERVER_NAME / GRADIO_SERVER_PORT set the address too (the flags win). HTR_MODEL_DIR
picks another model folder (default: ./model).

The Draw tab's canvas records pen strokes (assets/sketchpad.js) and the server reads the
strokes themselves, rendered the way the model's training lines are, so neither the size of
the screen nor the pen chosen changes what the model sees.

Two named endpoints take the input first, then decoder, beam width, top-k and spelling
correction, and return the text first, then the corrected text, confidence, alternatives,
heatmap and a status line: ``/recognize`` an image file, ``/recognize_strokes`` pen strokes
as JSON, ``{"strokes": [[[x, y, t], ...], ...]}``:

    from gradio_client import Client, handle_file
    client = Client("http://127.0.0.1:7860")
    client.predict(handle_file("line.png"), api_name="/recognize")
    client.predict('{"strokes": [[[0, 0, 0], [10, 30, 16]]]}', api_name="/recognize_strokes")

A third, ``/recognize_page``, reads a paragraph or page from an image file and returns its text
(lines joined by newlines), the lines (``[{"box": [x, y, w, h], "text", "confidence",
"alternatives"}]``), the confidence, the image with the lines outlined and numbered, and a status:

    client.predict(handle_file("letter.jpg"), api_name="/recognize_page")
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import tempfile
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Gradio rebuilds its per-function timing summary (a pandas table of up to 10,000 past events)
# after every event by default: a cost per request that grows with the server's age.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "500")
from htr.tf_env import configure_tensorflow  # noqa: E402

configure_tensorflow()

import cv2  # noqa: E402
import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from gradio.data_classes import ImageData  # noqa: E402
from gradio.utils import get_upload_folder  # noqa: E402
from pydantic import model_validator  # noqa: E402

from htr.errors import BadImageError, BadInkError, NoInkError  # noqa: E402
from htr.heatmap import recognition_heatmap  # noqa: E402
from htr.imageio import read_image  # noqa: E402
from htr.ink import ink_shape, strokes_from_json  # noqa: E402
from htr.preprocess import as_dark_on_light, ink_map, to_gray  # noqa: E402

ROOT = Path(__file__).resolve().parent
MODEL_DIR = Path(os.environ.get("HTR_MODEL_DIR", ROOT / "model"))
ASSETS = ROOT / "assets"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860

MAX_BEAM = 64
MAX_TOP_K = 10
ALTERNATIVE_COLUMNS = ["#", "text", "log-prob", "prob"]
DECODER_CHOICES = [("Language model", "lm"), ("Beam search", "beam"), ("Best path (greedy)", "best")]
# Requests read at once: one per CPU core, each on one ONNX Runtime thread (README, "Load test":
# on 2 cores, 2 served more requests, sooner, than 4 or 8); HTR_APP_CONCURRENCY overrides.
CONCURRENCY = int(os.environ.get("HTR_APP_CONCURRENCY") or max(2, os.cpu_count() or 2))
DEFAULT_DECODER = "lm"  # fewest errors on every validation set; falls back to beam search without an LM
DECODER_NAMES = {value: label.lower() for label, value in DECODER_CHOICES}

log = logging.getLogger("htr.app")

# ---------------------------------------------------------------------------
# The model: loaded once, on first use or at start-up, shared by every request.

_recognizer = None
_recognizer_lock = threading.Lock()


def get_recognizer():
    """The shared :class:`htr.Recognizer`, loaded on first call (under a second on ONNX Runtime)."""
    global _recognizer
    if _recognizer is None:
        with _recognizer_lock:
            if _recognizer is None:
                from htr import Recognizer

                rec = Recognizer.load(MODEL_DIR, threads=1)  # one thread per request, CONCURRENCY at once
                _warm_up(rec)
                _recognizer = rec
    return _recognizer


def _warm_up(rec) -> None:
    """Run each decoder once so the first visitor does not wait for graph tracing."""
    line = np.full((64, 320), 255, np.uint8)
    cv2.putText(line, "warm up", (10, 44), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, 1.3, 0, 3, cv2.LINE_AA)
    for _, decoder in DECODER_CHOICES:
        recognition_heatmap(rec.recognize(line, decoder=decoder))


# ---------------------------------------------------------------------------
# Recognition and what the page shows of it.


def save_png(image: np.ndarray, name: str) -> str:
    """Write an RGB image into Gradio's file cache, atomically, and return its path.

    Gradio names cached outputs by content; writing them in place would let a request that
    produces the same picture truncate the file while another client is downloading it.
    """
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("could not encode the heatmap as PNG")
    data = encoded.tobytes()
    folder = Path(get_upload_folder()) / hashlib.sha256(data).hexdigest()[:48]
    path = folder / name
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        fd, staging = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(staging, path)
        except BaseException:
            Path(staging).unlink(missing_ok=True)
            raise
    return str(path)


def friendly(exc: BadImageError) -> str:
    """A message for people: what was wrong with the image and what to do."""
    if isinstance(exc, NoInkError):
        return (
            "No handwriting found: the image looks blank or too faint. "
            "Draw or upload one line of writing that stands out clearly from its background."
        )
    return _sentence(str(exc).strip() or "this image could not be read")


def friendly_ink(exc: BadImageError) -> str:
    """A message for people about pen strokes sent for reading."""
    if isinstance(exc, NoInkError):
        return "No strokes received: the drawing is empty. Write one line of handwriting first."
    return _sentence(str(exc).strip() or "these strokes could not be read")


def _sentence(text: str) -> str:
    first = text.split(" ", 1)[0]
    named = first.endswith(":") and "." in first  # "notes.png: ..." keeps the file's own name
    return (text if named else text[0].upper() + text[1:]) + ("" if text.endswith(".") else ".")


def _settings(decoder: Any, beam_width: Any, top_k: Any) -> tuple[str, int, int]:
    decoder = str(decoder or DEFAULT_DECODER).strip().lower()
    decoder = {label.lower(): value for label, value in DECODER_CHOICES}.get(decoder, decoder)
    if decoder not in DECODER_NAMES:
        raise gr.Error(f"Unknown decoder {decoder!r}: use 'lm', 'beam' or 'best'.", title="Bad setting",
                       print_exception=False)
    try:
        beam_width = int(beam_width if beam_width is not None else 16)
        top_k = int(top_k if top_k is not None else 5)
    except (TypeError, ValueError):
        raise gr.Error("Beam width and top-k must be whole numbers.", title="Bad setting", print_exception=False) from None
    beam_width = min(max(beam_width, 1), MAX_BEAM)
    top_k = min(max(top_k, 1), MAX_TOP_K, beam_width)
    return decoder, beam_width, top_k


def empty_outputs(status: str) -> tuple:
    """What the outputs show when there is nothing to read."""
    return "", "", None, pd.DataFrame(columns=ALTERNATIVE_COLUMNS), None, status


def alternatives_table(recognition) -> pd.DataFrame:
    """Rank, text, log-probability and per-character probability of each reading.

    The probability is the one the confidence is made of (the geometric mean over the
    characters and the line end), so the first row's equals the confidence; the whole-line
    probability, exp(log-prob), is tiny for any line of some length and says little.
    """
    rows = []
    for rank, alt in enumerate(recognition.alternatives, start=1):
        log_prob = float(getattr(alt, "log_prob", None) if getattr(alt, "log_prob", None) is not None else alt.score)
        rows.append([rank, alt.text, round(log_prob, 3), round(alt.probability, 4)])
    return pd.DataFrame(rows, columns=ALTERNATIVE_COLUMNS)


HINT_MARK = "⚠️"


def _with_hints(status: str, hints: list[str]) -> str:
    return status + "".join(f"\n\n{HINT_MARK} {hint}" for hint in hints)


def _notify_hint(status: str) -> None:
    """A notice with the status line's first hint, for reads the user asked for by a click."""
    if HINT_MARK in status:
        gr.Warning(status.split(HINT_MARK, 1)[1].replace("**", "").strip(), title="Hint")


def _outputs(r, elapsed: float, decoder: str, hints: list[str]) -> tuple:
    """The six outputs of a reading: text, corrected text, confidence, alternatives, heatmap, status."""
    heatmap = save_png(recognition_heatmap(r), "heatmap.png")
    corrected = r.corrected if r.corrected is not None else ""
    status = f"Read with {DECODER_NAMES.get(r.decoder, r.decoder)} in {elapsed * 1000:.0f} ms."
    if r.decoder != decoder:
        status += " (The language model could not be loaded; see the server log.)"
    if not r.text.strip():
        status = "The model read no characters here; try writing larger and clearer, on one line."
    return (r.text, corrected, round(float(r.confidence), 4), alternatives_table(r), heatmap,
            _with_hints(status, hints))


# ---------------------------------------------------------------------------
# Hints: input the model can read, but not well.

SEVERAL_LINES_HINT = (
    "**This looks like {lines} lines of writing.** Here the recognizer reads one line at a time: "
    "tick *Several lines* to read a drawing line by line, or read a picture in the *Page* tab."
)
BLOB_HINT = (
    "**The strokes run into each other** (scribbled over, or a very thick pen on small writing): "
    "write the letters apart, with a thinner pen."
)
SMALL_DRAWING_HINT = "**The writing is very small** (about {height} pixels tall): write larger for a better reading."
SMALL_IMAGE_HINT = (
    "**The writing is very small in this picture** (about {height} pixels tall): "
    "a closer photo or a higher-resolution scan reads better."
)
SMALL_DRAWING_PX = 24  # drawn lines shorter than this lose detail to the pointer's pixel grid
SMALL_IMAGE_PX = 20  # the height of most of the ink of an image's line, in pixels
_HINT_SIDE = 1200  # images are looked at this size (long side) for hints


def drawing_hints(strokes: list[np.ndarray], pen: float = 0.0, on_screen: bool = False) -> list[str]:
    """Hints for a drawing: several lines, a blot of ink, and (on screen) very small writing."""
    shape = ink_shape(strokes, pen)
    hints = []
    if shape.lines > 1:
        hints.append(SEVERAL_LINES_HINT.format(lines=shape.lines))
    if shape.blob:
        hints.append(BLOB_HINT)
    if on_screen and shape.height < SMALL_DRAWING_PX:
        hints.append(SMALL_DRAWING_HINT.format(height=max(1, round(shape.height))))
    return hints


def ink_bands(image: np.ndarray) -> tuple[list[tuple[int, int, float, int]], float]:
    """Bands of ink rows in an image, largest share first: (top, bottom, share, writing height).

    Rows holding ink are grouped into runs; runs closer than a fifth of the tallest are one
    band (dots, accents and descenders belong to their line). Returns the bands and the
    scale the image was looked at (positions and heights are in that scale).
    """
    gray = as_dark_on_light(to_gray(image))
    scale = min(1.0, _HINT_SIDE / max(gray.shape))
    if scale < 1:
        size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    ink = ink_map(gray)
    peak = float(np.percentile(ink, 99.9))
    if peak < 0.12:
        return [], scale
    otsu, _ = cv2.threshold(np.clip(ink * 255, 0, 255).astype(np.uint8), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = ink > max(otsu / 255.0, 0.12, 0.35 * peak)
    profile = mask.sum(axis=1).astype(np.float64)
    if profile.sum() == 0:
        return [], scale
    rows = np.flatnonzero(profile > max(1.0, 0.02 * profile.max()))
    runs: list[list[int]] = []
    for row in rows:
        if runs and row == runs[-1][1] + 1:
            runs[-1][1] = row
        else:
            runs.append([row, row])
    tallest = max(b - a + 1 for a, b in runs)
    merged = [runs[0]]
    for a, b in runs[1:]:
        if a - merged[-1][1] - 1 < 0.2 * tallest:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    total = profile.sum()
    bands = []
    for a, b in merged:
        part = profile[a : b + 1]
        # the writing's height: rows between 5 % and 95 % of the band's ink
        cumulative = np.cumsum(part) / part.sum()
        height = int(np.searchsorted(cumulative, 0.95) - np.searchsorted(cumulative, 0.05) + 1)
        bands.append((a, b + 1, float(part.sum() / total), height))
    bands.sort(key=lambda band: -band[2])
    return bands, scale


def image_hints(image: np.ndarray) -> list[str]:
    """Hints for an uploaded image: several lines of writing, or writing too small to read well."""
    try:
        bands, scale = ink_bands(image)
    except BadImageError:
        return []
    if not bands:
        return []
    hints = []
    tallest = max(b - a for a, b, _, _ in bands)
    lines = [band for band in bands if band[2] >= 0.12 and band[1] - band[0] >= 0.3 * tallest]
    if len(lines) > 1:
        hints.append(SEVERAL_LINES_HINT.format(lines=len(lines)))
    height = bands[0][3] / scale
    if height < SMALL_IMAGE_PX:
        hints.append(SMALL_IMAGE_HINT.format(height=max(1, round(height))))
    return hints


# ---------------------------------------------------------------------------
# Reading images.


def read_line(image: np.ndarray, decoder: str, beam_width: int, top_k: int, correct: bool) -> tuple:
    """Recognise a prepared numpy image; BadImageError/NoInkError pass through."""
    rec = get_recognizer()
    start = time.perf_counter()
    r = rec.recognize(image, decoder=decoder, beam_width=beam_width, top_k=top_k, correct=bool(correct))
    elapsed = time.perf_counter() - start
    return _outputs(r, elapsed, decoder, image_hints(image))


SEND_A_FILE = ("Send the image itself, not a path on the server: with gradio_client, "
               "client.predict(handle_file(\"line.png\"), api_name=\"/recognize\").")


class UploadedImage(ImageData):
    """The image input's payload; a bare string (a path sent without ``handle_file``) is a clear error."""

    model_config = {"title": "ImageData"}  # the API description stays Gradio's own

    @model_validator(mode="before")
    @classmethod
    def _mark_bare_strings(cls, value: Any) -> Any:
        # (An error raised here would reach the client as a generic one, with a server
        # traceback: the handler raises it instead.)
        return {"orig_name": value, "meta": {"_type": BARE_STRING}} if isinstance(value, str) else value


BARE_STRING = "htr.bare-string"


def _uploaded(image: Any, request: gr.Request | None) -> Any:
    """A served request may only name a file the server received (an upload or an example)."""
    if request is None:  # called from Python: any path the caller can read
        return image
    if isinstance(image, dict) and (image.get("meta") or {}).get("_type") == BARE_STRING:
        raise gr.Error(SEND_A_FILE, title="Can't read this image", print_exception=False)
    path = image.get("path") if isinstance(image, dict) else image if isinstance(image, str) else None
    if path is None:
        return image
    resolved = Path(str(path)).resolve()
    if not any(resolved.is_relative_to(Path(folder).resolve()) for folder in (get_upload_folder(), ASSETS)):
        raise gr.Error(SEND_A_FILE, title="Can't read this image", print_exception=False)
    return image


@contextmanager
def api_errors(explain: Callable[[BadImageError], str], title: str, what: str, retry: str) -> Iterator[None]:
    """What an API endpoint raises: unusable input, a ``gr.Error`` saying what to do; any other
    failure is logged with its traceback and reported to the client plainly, without one."""
    try:
        yield
    except BadImageError as exc:
        raise gr.Error(explain(exc), title=title, print_exception=False) from None
    except gr.Error:
        raise
    except Exception:
        log.exception("reading %s failed", what)
        raise gr.Error(f"Something went wrong while reading {what}. {retry}", print_exception=False) from None


def recognize(image: Any, decoder: str = DEFAULT_DECODER,
              beam_width: int = 16, top_k: int = 5, correct: bool = False,
              request: gr.Request = None) -> tuple:
    """The ``/recognize`` endpoint: an image file (or array) of one handwritten line.

    Returns (text, corrected text, confidence, alternatives, heatmap, status). Unusable
    input raises ``gr.Error`` with a message saying what to do.
    """
    decoder, beam_width, top_k = _settings(decoder, beam_width, top_k)
    with api_errors(friendly, "Can't read this image", "this image", "Please try another one."):
        return read_line(read_image(_uploaded(image, request)), decoder, beam_width, top_k, correct)


# ---------------------------------------------------------------------------
# Reading pen strokes.

EMPTY_DRAWING = '{"seq": 0, "strokes": []}'
MAX_DRAWING_CHARS = 8_000_000  # JSON text: far above htr.ink's point limit at any precision


@dataclass
class Drawing:
    """What the writing surface (or an API caller) sends: strokes, its version and pen width."""

    strokes: list[np.ndarray]
    seq: int = 0
    pen: float = 0.0


def _json_object(value: Any) -> Any:
    """The drawing's JSON decoded (a dict or a bare list of strokes); BadInkError/NoInkError."""
    if value is None:
        raise NoInkError("no strokes received")
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        if not value.strip():
            raise NoInkError("no strokes received")
        if len(value) > MAX_DRAWING_CHARS:
            raise BadInkError(f"the drawing is too large ({len(value):,} characters of JSON; "
                              f"at most {MAX_DRAWING_CHARS:,})")
        try:
            return json.loads(value)
        except ValueError as exc:
            raise BadInkError(f'strokes are not valid JSON ({exc}); send {{"strokes": [[[x, y, t], ...], ...]}}') from None
    return value


def _number(value: Any, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return min(max(number, low), high) if math.isfinite(number) else 0.0


def parse_drawing(value: Any) -> Drawing:
    """A drawing as JSON (``{"strokes": [[[x, y, t], ...], ...]}``, a bare stroke list, or decoded).

    Raises NoInkError for an empty drawing and BadInkError for anything that is not strokes.
    """
    data = _json_object(value)
    if not isinstance(data, (dict, list, tuple)):
        raise BadInkError(f'expected {{"strokes": [[[x, y, t], ...], ...]}}, got {type(data).__name__}')
    seq = int(_number(data.get("seq"), 0, 2**53)) if isinstance(data, dict) else 0
    pen = _number(data.get("pen"), 0, 200) if isinstance(data, dict) else 0.0
    return Drawing(strokes_from_json(data), seq, pen)


def drawing_seq(value: Any) -> int:
    """The version number the writing surface put in its JSON (0 if there is none)."""
    try:
        data = _json_object(value)
    except BadImageError:
        return 0
    return int(_number(data.get("seq"), 0, 2**53)) if isinstance(data, dict) else 0


def read_strokes(drawing: Drawing, decoder: str, beam_width: int, top_k: int, correct: bool,
                 on_screen: bool = False) -> tuple:
    """Recognise a drawing from its strokes (rendered as the model's training lines are)."""
    rec = get_recognizer()
    start = time.perf_counter()
    r = rec.recognize_strokes(drawing.strokes, decoder=decoder, beam_width=beam_width, top_k=top_k,
                              correct=bool(correct))
    elapsed = time.perf_counter() - start
    return _outputs(r, elapsed, decoder, drawing_hints(drawing.strokes, drawing.pen, on_screen))


def recognize_strokes(strokes: Any, decoder: str = DEFAULT_DECODER, beam_width: int = 16, top_k: int = 5,
                      correct: bool = False) -> tuple:
    """The ``/recognize_strokes`` endpoint: pen strokes of one handwritten line, as JSON.

    ``strokes`` is ``{"strokes": [[[x, y, t], ...], ...]}`` (y down, any scale; t optional).
    Returns what ``/recognize`` does; unusable input raises ``gr.Error`` saying what to do.
    """
    decoder, beam_width, top_k = _settings(decoder, beam_width, top_k)
    with api_errors(friendly_ink, "Can't read this drawing", "these strokes", "Please try again."):
        return read_strokes(parse_drawing(strokes), decoder, beam_width, top_k, correct)


# ---------------------------------------------------------------------------
# Paragraphs and pages: the lines found, outlined and numbered, and read one by one.

LINE_COLUMNS = ["#", "text", "confidence", "box (x, y, w, h)"]
PAGE_STATUS = "Upload, paste or photograph a paragraph or a page of handwriting."


def lines_table(lines: list[dict]) -> pd.DataFrame:
    """The Page tab's table of the lines ``/recognize_page`` returns."""
    rows = [[i, line["text"], line["confidence"], ", ".join(map(str, line["box"]))]
            for i, line in enumerate(lines, start=1)]
    return pd.DataFrame(rows, columns=LINE_COLUMNS)


def lines_json(page) -> list[dict]:
    return [line.to_json() for line in page.lines]


def _page_status(page, elapsed: float, decoder: str) -> str:
    n = len(page.lines)
    status = (f"Found {n} line{'s' if n != 1 else ''}; read with {DECODER_NAMES.get(page.decoder, page.decoder)} "
              f"in {elapsed * 1000:.0f} ms.")
    if page.decoder != decoder:
        status += " (The language model could not be loaded; see the server log.)"
    return status


def read_page(image: Any, decoder: str, beam_width: int, top_k: int, correct: bool) -> tuple:
    """(page, overlay path, elapsed) for an image; BadImageError passes through."""
    from htr.page import draw_lines, recognize_page

    array = read_image(image)
    start = time.perf_counter()
    page = recognize_page(get_recognizer(), array, "auto", decoder, beam_width, top_k, bool(correct))
    elapsed = time.perf_counter() - start
    return page, save_png(draw_lines(array, page), "lines.png"), elapsed


def recognize_page_api(image: Any, decoder: str = DEFAULT_DECODER, beam_width: int = 16, top_k: int = 5,
                       correct: bool = False, request: gr.Request = None) -> tuple:
    """The ``/recognize_page`` endpoint: an image of a paragraph or page (or of one line).

    Returns (text: the lines joined by newlines, lines: [{"box": [x, y, w, h], "text",
    "confidence", "alternatives"}], confidence, the image with the lines outlined and
    numbered, status). Unusable input raises ``gr.Error`` with a message saying what to do.
    """
    decoder, beam_width, top_k = _settings(decoder, beam_width, top_k)
    with api_errors(lambda exc: friendly(exc).replace("one line of", "a page of"), "Can't read this image",
                    "this page", "Please try another image."):
        page, overlay, elapsed = read_page(_uploaded(image, request), decoder, beam_width, top_k, correct)
    return (page.text, lines_json(page), round(float(page.confidence), 4), overlay,
            _page_status(page, elapsed, decoder))


def empty_page_outputs(status: str) -> tuple:
    return "", None, None, pd.DataFrame(columns=LINE_COLUMNS), status


def recognize_page_upload(image: Any, decoder: Any = DEFAULT_DECODER, beam_width: Any = 16, top_k: Any = 5,
                          correct: Any = False, request: gr.Request = None) -> tuple:
    """The Page tab: text, confidence, outlined lines, each line's text; problems become a status line."""
    def read() -> tuple:
        if image is None:
            gr.Warning(PAGE_STATUS, title="No image yet")
            return empty_page_outputs(PAGE_STATUS)
        try:
            text, lines, confidence, overlay, status = recognize_page_api(image, decoder, beam_width, top_k,
                                                                          correct, request)
        except gr.Error as exc:
            gr.Warning(exc.message, title="Can't read this image")
            return empty_page_outputs(exc.message)
        return text, confidence, overlay, lines_table(lines), status

    return _latest_only("page", request, read, N_PAGE_OUTPUTS)


def read_drawing_lines(drawing: Drawing, decoder: str, beam_width: int, top_k: int, correct: bool) -> tuple:
    """The Draw tab with "Several lines": each line of the drawing read; the heatmap's place
    shows the drawing with its lines outlined and numbered, the table each line's reading."""
    from htr.page import draw_lines, recognize_page_strokes
    from htr.render import draw_strokes

    start = time.perf_counter()
    page = recognize_page_strokes(get_recognizer(), drawing.strokes, "auto", decoder, beam_width, top_k,
                                  bool(correct))
    elapsed = time.perf_counter() - start
    if page.layout == "line":
        r = page.lines[0].recognition
        return _outputs(r, elapsed, decoder, drawing_hints(drawing.strokes, drawing.pen, True))
    points = np.concatenate(drawing.strokes)
    origin = points.min(axis=0) - 12
    size = np.ceil(points.max(axis=0) - origin + 12).astype(int)
    canvas = np.full((size[1], size[0]), 255, np.uint8)
    draw_strokes(canvas, [s - origin for s in drawing.strokes], max(2, int(round(drawing.pen or 3))), 0)
    for line in page.lines:
        x, y, w, h = line.box
        line.box = (x - origin[0], y - origin[1], w, h)
        line.polygon = None
    overlay = save_png(draw_lines(canvas, page), "lines.png")
    corrected = page.corrected or ""
    table = pd.DataFrame([[i, line.text, round(float(line.recognition.alternatives[0].log_prob), 3),
                           round(float(line.confidence), 4)] for i, line in enumerate(page.lines, start=1)],
                         columns=ALTERNATIVE_COLUMNS)
    return (page.text, corrected, round(float(page.confidence), 4), table, overlay,
            _page_status(page, elapsed, decoder))


# ---------------------------------------------------------------------------
# The page's own events (not part of the API).


class LatestReply:
    """Per browser session and result area: a reply is dropped once a later request's is shown.

    Reads of one area can overlap (a live read, the button, a changed setting); whichever
    finishes last must not put an older drawing's text over a newer one's.
    """

    def __init__(self, sessions: int = 4096):
        self._lock = threading.Lock()
        self._issued: OrderedDict[tuple, int] = OrderedDict()
        self._shown: dict[tuple, int] = {}
        self._sessions = sessions

    def begin(self, key: tuple) -> int:
        with self._lock:
            ticket = self._issued.pop(key, 0) + 1
            self._issued[key] = ticket
            while len(self._issued) > self._sessions:
                old, _ = self._issued.popitem(last=False)
                self._shown.pop(old, None)
            return ticket

    def show(self, key: tuple, ticket: int) -> bool:
        """True if this reply may be shown (no later request's reply was shown already)."""
        with self._lock:
            if self._shown.get(key, 0) > ticket:
                return False
            self._shown[key] = ticket
            return True


_latest = LatestReply()


def _latest_only(area: str, request: gr.Request | None, read, n_outputs: int) -> tuple:
    """Run ``read`` and return its outputs, or skips if a later read of the area was shown first."""
    session = getattr(request, "session_hash", None) if request is not None else None
    if session is None:
        return read()
    key = (session, area)
    ticket = _latest.begin(key)
    outputs = read()
    if not _latest.show(key, ticket):
        return tuple(gr.skip() for _ in range(n_outputs))
    return outputs


EMPTY_CANVAS_STATUS = "Write one line of handwriting on the canvas; it is read as you write."


def _read_drawing_page(value: Any, decoder: Any, beam_width: Any, top_k: Any, correct: Any,
                       explicit: bool, several: Any = False) -> tuple:
    """The Draw tab's outputs for a drawing, plus the version read; problems become a status line."""
    seq = str(drawing_seq(value))
    decoder, beam_width, top_k = _settings(decoder, beam_width, top_k)
    try:
        drawing = parse_drawing(value)
        if several is True:
            outputs = read_drawing_lines(drawing, decoder, beam_width, top_k, correct)
        else:
            outputs = read_strokes(drawing, decoder, beam_width, top_k, correct, on_screen=True)
        if explicit:
            _notify_hint(outputs[-1])
        return (*outputs, seq)
    except NoInkError:
        if explicit:
            gr.Warning("The canvas is empty: write a line of text on it first.", title="Nothing to read")
        return (*empty_outputs(EMPTY_CANVAS_STATUS), seq)
    except BadImageError as exc:
        if explicit:
            gr.Warning(friendly_ink(exc), title="Can't read this drawing")
        return (*empty_outputs(friendly_ink(exc)), seq)
    except Exception:
        log.exception("recognition of a drawing failed")
        message = "Something went wrong while reading the drawing. Please try again."
        if explicit:
            gr.Warning(message)
        return (*empty_outputs(message), seq)


def read_drawing(value: Any, decoder: Any = DEFAULT_DECODER, beam_width: Any = 16, top_k: Any = 5, correct: Any = False,
                 several: Any = False, request: gr.Request = None) -> tuple:
    """'Recognise drawing': read the canvas now; an empty canvas or a hint also gets a toast."""
    return _latest_only("draw", request,
                        lambda: _read_drawing_page(value, decoder, beam_width, top_k, correct, True, several),
                        N_DRAW_OUTPUTS)


def read_drawing_live(value: Any, decoder: Any = DEFAULT_DECODER, beam_width: Any = 16, top_k: Any = 5,
                      correct: Any = False, several: Any = False, request: gr.Request = None) -> tuple:
    """A read the canvas asks for while the user writes (or clears): a status line, no toasts."""
    return _latest_only("draw", request,
                        lambda: _read_drawing_page(value, decoder, beam_width, top_k, correct, False, several),
                        N_DRAW_OUTPUTS)


def reread_drawing(value: Any, decoder: Any = DEFAULT_DECODER,
                   beam_width: Any = 16, top_k: Any = 5, correct: Any = False, several: Any = False,
                   request: gr.Request = None) -> tuple:
    """A setting changed: read the drawing again with it (nothing to do on an empty canvas)."""
    try:
        parse_drawing(value)
    except BadImageError:
        return tuple(gr.skip() for _ in range(N_DRAW_OUTPUTS))
    return read_drawing_live(value, decoder, beam_width, top_k, correct, several, request)


def recognize_upload(image: Any, decoder: Any = DEFAULT_DECODER,
                     beam_width: Any = 16, top_k: Any = 5, correct: Any = False,
                     request: gr.Request = None) -> tuple:
    """The Upload tab: like ``recognize``, but problems become a warning and a status line."""
    def read() -> tuple:
        if image is None:
            message = "Upload, paste or photograph one line of handwriting, or click an example."
            gr.Warning(message, title="No image yet")
            return empty_outputs(message)
        try:
            outputs = recognize(image, decoder, beam_width, top_k, correct, request)
        except gr.Error as exc:
            gr.Warning(exc.message, title="Can't read this image")
            return empty_outputs(exc.message)
        _notify_hint(outputs[-1])
        return outputs

    return _latest_only("upload", request, read, N_OUTPUTS)


def reread_upload(image: Any, decoder: Any = DEFAULT_DECODER,
                  beam_width: Any = 16, top_k: Any = 5, correct: Any = False,
                  request: gr.Request = None) -> tuple:
    """A setting changed: read the uploaded image again with it (nothing to do without one)."""
    if image is None:
        return tuple(gr.skip() for _ in range(N_OUTPUTS))
    return _latest_only("upload", request,
                        lambda: _reread_image(image, decoder, beam_width, top_k, correct, request), N_OUTPUTS)


def _reread_image(image: Any, decoder: Any, beam_width: Any, top_k: Any, correct: Any,
                  request: gr.Request | None = None) -> tuple:
    try:
        return recognize(image, decoder, beam_width, top_k, correct, request)
    except gr.Error as exc:
        return empty_outputs(exc.message)


def clear_upload(request: gr.Request = None) -> tuple:
    """The picture was removed: so is its reading."""
    return _latest_only("upload", request, lambda: empty_outputs(UPLOAD_STATUS), N_OUTPUTS)


N_OUTPUTS = 6
N_DRAW_OUTPUTS = N_OUTPUTS + 1  # and the version of the drawing that was read
N_PAGE_OUTPUTS = 5  # text, confidence, outlined lines, lines table, status
UPLOAD_STATUS = "Upload, paste or photograph one line of handwriting, or click an example."


# ---------------------------------------------------------------------------
# The page.

DESCRIPTION = """\
# Handwriting recognition
Write **one line** of text on the canvas (or upload a photo or scan of one line) and the model
reads it as you write: a convolutional-recurrent network trained with CTC on real handwriting. Under
the result, see what the network saw and how sure it was of each character, step by step.
For a paragraph or a page, use the **Page** tab (or tick *Several lines* to write more than one).
"""

CORRECTION_NOTE = (
    "Spelling correction replaces each word with the closest dictionary word. It often fixes "
    "misread letters but can *hurt* accuracy on names, rare words, numbers and punctuation."
)

HEATMAP_NOTE = (
    "Top: the line as the network saw it (cropped, scaled to 64 pixels high). Below it, one column per "
    "timestep (4 pixels of the line): the character the network picked where it fired, then the "
    "probability of each character (rows) at that moment; *blank* is CTC's \"no new character\"."
)

ALTERNATIVES_LABEL = "Top alternatives (prob: per-character probability, as the confidence)"

# Pen sizes offered on the canvas, in CSS pixels: for the eye only (the strokes are read).
PEN_SIZES = {"Fine": 2, "Medium": 4, "Bold": 8, "Marker": 16}
DEFAULT_PEN = 4

ACK_JS = "watch('value', () => window.dispatchEvent(new CustomEvent('htr-draw-answer', { detail: props.value })));"


def pad_html() -> str:
    """The writing surface's markup: pen sizes, undo, clear, the reading state and the canvas."""
    pens = "".join(
        f'<button type="button" class="htr-pen" data-pen="{size}" aria-pressed="{str(size == DEFAULT_PEN).lower()}" '
        f'title="{name} pen ({size} px)" aria-label="{name} pen"><span style="height:{min(size, 14)}px"></span></button>'
        for name, size in PEN_SIZES.items()
    )
    return (
        f'<div class="htr-pad htr-empty" data-pen="{DEFAULT_PEN}" data-state="idle" data-seq="0" data-answered="0">'
        f'<div class="htr-pad-bar"><div class="htr-pens" role="group" aria-label="Pen size">{pens}</div>'
        '<button type="button" class="htr-undo" title="Undo the last stroke" disabled>Undo</button>'
        '<button type="button" class="htr-clear" title="Clear the canvas" disabled>Clear</button>'
        '<span class="htr-pad-state" role="status" aria-live="polite"></span></div>'
        '<div class="htr-surface"><canvas aria-label="Writing area: write one line of text"></canvas>'
        '<div class="htr-placeholder">Write one line here with a mouse, a pen or a finger</div></div></div>'
    )


def example_files() -> list[str]:
    return [str(p) for p in sorted(ASSETS.glob("example-*.png"))]


@dataclass
class ResultArea:
    """One tab's outputs, in the order the handlers return them."""

    text: gr.Textbox
    corrected: gr.Textbox
    confidence: gr.Number
    alternatives: gr.Dataframe
    heatmap: gr.Image
    status: gr.Markdown

    @property
    def outputs(self) -> list:
        return [self.text, self.corrected, self.confidence, self.alternatives, self.heatmap, self.status]


def result_area(prefix: str, status: str) -> ResultArea:
    """Text, confidence and status right under the input; the heatmap and alternatives below."""
    with gr.Column(elem_id=f"{prefix}-result", elem_classes=["result"]):
        with gr.Row(equal_height=True):
            text = gr.Textbox(label="Recognised text", elem_id=f"{prefix}-text", interactive=False, buttons=["copy"],
                              scale=4, min_width=180)
            confidence = gr.Number(label="Confidence (0 to 1)", elem_id=f"{prefix}-confidence", precision=3,
                                   interactive=False, scale=1, min_width=110)
        corrected = gr.Textbox(label="Spelling-corrected text", elem_id=f"{prefix}-corrected", interactive=False,
                               visible=False, buttons=["copy"])
        status_md = gr.Markdown(status, elem_id=f"{prefix}-status")
        with gr.Accordion("What the network saw", open=True, elem_id=f"{prefix}-details"):
            heatmap = gr.Image(label="CTC probability heatmap", elem_id=f"{prefix}-heatmap", type="filepath",
                               format="png", interactive=False, buttons=["download", "fullscreen"],
                               elem_classes=["heatmap-scroll"])
            gr.Markdown(HEATMAP_NOTE)
            alternatives = gr.Dataframe(headers=ALTERNATIVE_COLUMNS, datatype=["number", "str", "number", "number"],
                                        label=ALTERNATIVES_LABEL, elem_id=f"{prefix}-alternatives",
                                        interactive=False, wrap=True)
    return ResultArea(text, corrected, confidence, alternatives, heatmap, status_md)


def build_demo() -> gr.Blocks:
    # Uploads and heatmaps older than an hour are removed from Gradio's cache every 30 minutes.
    with gr.Blocks(title="Handwriting recognition", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(DESCRIPTION, elem_id="intro")
        with gr.Tabs():
            with gr.Tab("Draw", id="draw"):
                pad = gr.HTML(value=EMPTY_DRAWING, html_template=pad_html(), js_on_load=PAD_JS,
                              apply_default_css=False, elem_id="pad")
                with gr.Row(elem_id="draw-actions"):
                    draw_button = gr.Button("Recognise drawing", variant="primary", elem_id="recognise-drawing",
                                            scale=3, min_width=150)
                    live = gr.Checkbox(value=True, label="Recognise as I draw", elem_id="live", scale=1, interactive=True,
                                       min_width=150)
                    several = gr.Checkbox(value=False, label="Several lines (taller canvas)", elem_id="several-lines",
                                          scale=1, interactive=True, min_width=150)
                draw = result_area("draw", EMPTY_CANVAS_STATUS)
                # The version of the drawing each reply belongs to, for the canvas's reading state.
                ack = gr.HTML(value="0", html_template="", js_on_load=ACK_JS, visible="hidden", elem_id="draw-ack")
            with gr.Tab("Upload", id="upload"):
                with gr.Row():
                    with gr.Column(scale=3):
                        image = gr.Image(
                            label="Photo or scan of one line of handwriting",
                            elem_id="upload-image",
                            sources=["upload", "webcam", "clipboard"],
                            type="filepath",
                            image_mode=None,
                            height=260,
                        )
                        image.data_model = UploadedImage  # a bare path string gets a clear error
                        upload_button = gr.Button("Recognise image", variant="primary", elem_id="recognise-image")
                    with gr.Column(scale=2):
                        files = example_files()
                        examples = gr.Examples(
                            examples=[[p] for p in files],
                            inputs=[image],
                            label="Examples: click one to read it",
                            elem_id="examples",
                            api_visibility="private",
                            examples_per_page=8,
                        ) if files else None
                upload = result_area("upload", UPLOAD_STATUS)
            with gr.Tab("Page", id="page"):
                with gr.Row():
                    with gr.Column(scale=2):
                        page_image = gr.Image(label="Photo or scan of a paragraph or a page", elem_id="page-image",
                                              sources=["upload", "webcam", "clipboard"], type="filepath",
                                              image_mode=None, height=320)
                        page_image.data_model = UploadedImage
                        page_button = gr.Button("Read page", variant="primary", elem_id="read-page")
                    with gr.Column(scale=3):
                        page_text = gr.Textbox(label="Recognised text", elem_id="page-text", lines=4, max_lines=30,
                                               interactive=False, buttons=["copy"])
                        page_confidence = gr.Number(label="Confidence (0 to 1)", elem_id="page-confidence",
                                                    precision=3, interactive=False)
                        page_status = gr.Markdown(PAGE_STATUS, elem_id="page-status")
                with gr.Row(elem_id="page-result"):
                    page_overlay = gr.Image(label="Lines found, outlined and numbered", elem_id="page-overlay",
                                            type="filepath", format="png", interactive=False,
                                            buttons=["download", "fullscreen"], scale=3)
                    page_lines = gr.Dataframe(headers=LINE_COLUMNS, datatype=["number", "str", "number", "str"],
                                              label="Each line's reading", elem_id="page-lines", interactive=False,
                                              wrap=True, scale=2)
                page_lines_json = gr.JSON(visible=False, label="lines")
        with gr.Accordion("Decoding", open=True, elem_id="decoding"):
            with gr.Row():
                decoder = gr.Radio(DECODER_CHOICES, value=DEFAULT_DECODER, label="Decoder", elem_id="decoder")
                beam_width = gr.Slider(1, MAX_BEAM, value=16, step=1, label="Beam width", elem_id="beam-width")
                top_k = gr.Slider(1, MAX_TOP_K, value=5, step=1, label="Alternatives (top-k)", elem_id="top-k")
            correct = gr.Checkbox(value=False, label="Spelling correction", elem_id="correct")
            gr.Markdown(CORRECTION_NOTE)

        settings = [decoder, beam_width, top_k, correct]
        draw_outputs = [*draw.outputs, ack]

        # The public API, on hidden triggers: both raise gr.Error on unusable input, so clients
        # get a clear message. The page itself uses the handlers below, which warn instead.
        api_trigger = gr.Button(visible=False, elem_id="api-trigger")
        api_trigger.click(
            recognize,
            inputs=[image, *settings],
            outputs=upload.outputs,
            api_name="recognize",
            api_description="Read one line of handwriting from an image file.",
            preprocess=False,  # the file is read here, so unreadable files get a clear message
            concurrency_id="model",
        )
        strokes_json = gr.Textbox(visible=False, label="strokes", elem_id="api-strokes")
        strokes_trigger = gr.Button(visible=False, elem_id="api-strokes-trigger")
        strokes_trigger.click(
            recognize_strokes,
            inputs=[strokes_json, *settings],
            outputs=draw.outputs,
            api_name="recognize_strokes",
            api_description='Read one line of handwriting from pen strokes: JSON {"strokes": [[[x, y, t], ...], ...]}.',
            concurrency_id="model",
        )

        page_trigger = gr.Button(visible=False, elem_id="api-page-trigger")
        page_trigger.click(
            recognize_page_api,
            inputs=[page_image, *settings],
            outputs=[page_text, page_lines_json, page_confidence, page_overlay, page_status],
            api_name="recognize_page",
            api_description="Read a paragraph or page of handwriting from an image file: the text (lines joined by "
                            "newlines), each line's box, text, confidence and alternatives, the confidence, and the "
                            "image with the lines outlined and numbered.",
            preprocess=False,
            concurrency_id="model",
        )

        # The page's own events: not part of the API, sharing the model's concurrency group.
        # "always_last": while a read runs, further triggers collapse into one read of the latest input.
        page = dict(api_visibility="private", concurrency_id="model", trigger_mode="always_last")
        pad.submit(read_drawing_live, inputs=[pad, *settings, several], outputs=draw_outputs, show_progress="hidden",
                   **page)
        draw_button.click(read_drawing, inputs=[pad, *settings, several], outputs=draw_outputs,
                          show_progress="minimal", **page)
        # "Several lines": a taller canvas, and the drawing read line by line.
        several.change(reread_drawing, inputs=[pad, *settings, several], outputs=draw_outputs, js=TALL_PAD_JS,
                       show_progress="minimal", **page)
        page_outputs = [page_text, page_confidence, page_overlay, page_lines, page_status]
        page_read = dict(fn=recognize_page_upload, inputs=[page_image, *settings], outputs=page_outputs,
                         preprocess=False, show_progress="minimal", **page)
        gr.on([page_button.click, page_image.upload], **page_read)
        page_image.clear(lambda: empty_page_outputs(PAGE_STATUS), outputs=page_outputs, **page)
        upload_read = dict(fn=recognize_upload, inputs=[image, *settings], outputs=upload.outputs, preprocess=False,
                           show_progress="minimal", **page)
        gr.on([upload_button.click, image.upload], **upload_read)
        if examples is not None:
            examples.load_input_event.then(**upload_read)
        image.clear(clear_upload, outputs=upload.outputs, **page)
        # A changed setting reads the current drawing and picture again.
        changed = [decoder.change, correct.change, beam_width.release, top_k.release]
        gr.on(changed, reread_drawing, inputs=[pad, *settings, several], outputs=draw_outputs,
              show_progress="minimal", **page)
        gr.on(changed, reread_upload, inputs=[image, *settings], outputs=upload.outputs, preprocess=False,
              show_progress="minimal", **page)
        correct.change(lambda on: (gr.update(visible=bool(on)), gr.update(visible=bool(on))), inputs=correct,
                       outputs=[draw.corrected, upload.corrected], api_visibility="private", queue=False)
    # At most CONCURRENCY recognitions run at once (all events share the "model" group); the rest
    # wait in line. ONNX Runtime reads a line on one thread without the GIL, so a few run side by side.
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=200)
    return demo


PAD_JS = (ASSETS / "sketchpad.js").read_text(encoding="utf-8")
# Runs in the browser before the reread: the canvas grows or shrinks; the inputs pass through.
TALL_PAD_JS = ("(...args) => { document.querySelector('#pad .htr-pad')?.classList.toggle('htr-tall', "
               "!!args[args.length - 1]); return args; }")
CSS = (ASSETS / "app.css").read_text(encoding="utf-8")
demo = build_demo()

THEME = gr.themes.Default(
    font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
)


# The page's own margins sit outside what the css above can reach: narrow them on phones.
HEAD = "<style>@media (max-width: 640px) { .gradio-container .app { padding: 10px 8px !important; } }</style>"


def launch(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, **kwargs):
    """Serve ``demo``; returns what ``Blocks.launch`` does."""
    return demo.launch(server_name=host, server_port=port, theme=THEME, css=CSS, head=HEAD, show_error=False,
                       **kwargs)


def parse_args(argv: list[str] | None = None, environ: dict | None = None) -> argparse.Namespace:
    """--host/--port, defaulting to $GRADIO_SERVER_NAME/$GRADIO_SERVER_PORT, then 127.0.0.1:7860."""
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(description="Handwriting recognition demo (Gradio).")
    parser.add_argument("--host", default=environ.get("GRADIO_SERVER_NAME") or DEFAULT_HOST,
                        help="address to serve on (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(environ.get("GRADIO_SERVER_PORT") or DEFAULT_PORT),
                        help="port (default: $GRADIO_SERVER_PORT or 7860)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    start = time.perf_counter()
    get_recognizer()
    log.info("model loaded from %s in %.1f s", MODEL_DIR, time.perf_counter() - start)
    launch(args.host, args.port)


if __name__ == "__main__":
    main()
