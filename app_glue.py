"""Gradio glue for app.py, with no reading in it: Gradio's file cache, the order of replies per
browser session, what API endpoints raise, which files a request may name, and the writing
surface's markup and scripts."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import gradio as gr
import numpy as np
from gradio.data_classes import ImageData
from gradio.utils import get_upload_folder
from pydantic import model_validator

from htr.cli import DEFAULT_DECODER
from htr.decode import BEAM_WIDTH
from htr.errors import BadImageError
from htr.hints import DECODER_NAMES
from htr.imageio import encode_png

log = logging.getLogger("htr.app")
ASSETS = Path(__file__).resolve().parent / "assets"


def save_png(image: np.ndarray, name: str) -> str:
    """Write an RGB image into Gradio's file cache, atomically, and return its path.

    Gradio names cached outputs by content; writing them in place would let a request that
    produces the same picture truncate the file while another client is downloading it.
    """
    data = encode_png(image)
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


SEND_A_FILE = ("Send the image itself, not a path on the server: with gradio_client, "
               "client.predict(handle_file(\"line.png\"), api_name=\"/recognize\").")
BARE_STRING = "htr.bare-string"


class UploadedImage(ImageData):
    """The image input's payload; a bare string (a path sent without ``handle_file``) is a clear error."""

    model_config = {"title": "ImageData"}  # the API description stays Gradio's own

    @model_validator(mode="before")
    @classmethod
    def _mark_bare_strings(cls, value: Any) -> Any:
        # (An error raised here would reach the client as a generic one, with a server
        # traceback: the handler raises it instead.)
        return {"orig_name": value, "meta": {"_type": BARE_STRING}} if isinstance(value, str) else value


def uploaded(image: Any, request: gr.Request | None) -> Any:
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


def skips(n_outputs: int) -> tuple:
    """Leave every output as it is."""
    return tuple(gr.skip() for _ in range(n_outputs))


# Where each line area's confidence is among its outputs (ResultArea.outputs: text, corrected, confidence, ...).
CONFIDENCE_OUTPUT = {"draw": 2, "upload": 2, "page": 1}


def confidence_shown(area: str, outputs: tuple) -> tuple:
    """The confidence box hidden, its place kept, while there is no reading: Gradio's number box
    shows 0 for no value, which reads as a reading with confidence 0."""
    at = CONFIDENCE_OUTPUT.get(area)
    if at is None or len(outputs) <= at or isinstance(outputs[at], dict):  # a skip or an update already
        return outputs
    value = outputs[at]
    shown = gr.update(value=value, visible=True if value is not None else "hidden")
    return (*outputs[:at], shown, *outputs[at + 1 :])


# The browser session a page's read is for: the model it reads with may be its personal one.
SESSION: ContextVar[str | None] = ContextVar("htr_session", default=None)


def latest_only(area: str, request: gr.Request | None, read: Callable[[], tuple], n_outputs: int) -> tuple:
    """Run ``read`` and return its outputs for the page (:func:`confidence_shown`), or skips if a
    later read of the area was shown first."""
    session = getattr(request, "session_hash", None) if request is not None else None
    if session is None:
        return confidence_shown(area, read())
    key = (session, area)
    ticket = _latest.begin(key)
    token = SESSION.set(session)
    try:
        outputs = read()
    finally:
        SESSION.reset(token)
    if not _latest.show(key, ticket):
        return skips(n_outputs)
    return confidence_shown(area, outputs)


# The writing surface (assets/sketchpad.js). Pen sizes offered, in CSS pixels: for the eye only
# (the strokes are read).
PEN_SIZES = {"Fine": 2, "Medium": 4, "Bold": 8, "Marker": 16}
DEFAULT_PEN = 4
PAD_JS = (ASSETS / "sketchpad.js").read_text(encoding="utf-8")
ACK_JS = "watch('value', () => window.dispatchEvent(new CustomEvent('htr-draw-answer', { detail: props.value })));"
# Runs in the browser before the reread: the canvas grows or shrinks; the inputs pass through.
TALL_PAD_JS = ("(...args) => { document.querySelector('#pad .htr-pad')?.classList.toggle('htr-tall', "
               "!!args[args.length - 1]); return args; }")


LIVE_OFF = ' data-live="off"'


def pad_html(live: bool = True) -> str:
    """The writing surface's markup: pen sizes, undo, clear, the reading state and the canvas
    (``live=False``: a pad that never asks for reads, only collects the writing)."""
    pens = "".join(
        f'<button type="button" class="htr-pen" data-pen="{size}" aria-pressed="{str(size == DEFAULT_PEN).lower()}" '
        f'title="{name} pen ({size} px)" aria-label="{name} pen"><span style="height:{min(size, 14)}px"></span></button>'
        for name, size in PEN_SIZES.items()
    )
    return (
        f'<div class="htr-pad htr-empty" data-pen="{DEFAULT_PEN}" data-state="idle" data-seq="0" data-answered="0"'
        f'{"" if live else LIVE_OFF}>'
        f'<div class="htr-pad-bar"><div class="htr-pens" role="group" aria-label="Pen size">{pens}</div>'
        '<button type="button" class="htr-undo" title="Undo the last stroke" disabled>Undo</button>'
        '<button type="button" class="htr-clear" title="Clear the canvas" disabled>Clear</button>'
        '<span class="htr-pad-state" role="status" aria-live="polite"></span></div>'
        '<div class="htr-surface"><canvas aria-label="Writing area: write one line of text"></canvas>'
        '<div class="htr-placeholder">Write one line here with a mouse, a pen or a finger</div></div></div>'
    )


# The page's words.
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

def example_files() -> list[str]:
    """The example pictures the Upload tab offers."""
    return [str(p) for p in sorted(ASSETS.glob("example-*.png"))]


HEATMAP_NOTE = (
    "Top: the line as the network saw it (cropped, scaled to 64 pixels high). Below it, one column per "
    "timestep (4 pixels of the line): the character the network picked where it fired, then the "
    "probability of each character (rows) at that moment; *blank* is CTC's \"no new character\"."
)

ALTERNATIVES_LABEL = ("Alternatives, ranked by combined score = the network's log-probability + the language "
                      "model's part (weighted log-probability, bonuses and the dictionary's penalty; empty "
                      "without it); network probability: per character")
ALTERNATIVE_COLUMNS = ["#", "text", "combined score", "network probability", "language model"]


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
                                   interactive=False, scale=1, min_width=110, visible="hidden")  # until a reading
        corrected = gr.Textbox(label="Spelling-corrected text", elem_id=f"{prefix}-corrected", interactive=False,
                               visible=False, buttons=["copy"])
        status_md = gr.Markdown(status, elem_id=f"{prefix}-status")
        with gr.Accordion("What the network saw", open=True, elem_id=f"{prefix}-details"):
            # No label badge: drawn over the picture's top left, it hid the line's first letters.
            heatmap = gr.Image(label="CTC probability heatmap", show_label=False, elem_id=f"{prefix}-heatmap",
                               type="filepath", format="png", interactive=False, buttons=["download", "fullscreen"],
                               elem_classes=["heatmap-scroll"])
            gr.Markdown(HEATMAP_NOTE)
            alternatives = gr.Dataframe(headers=ALTERNATIVE_COLUMNS, datatype=["number", "str", "number", "number", "number"],
                                        label=ALTERNATIVES_LABEL, elem_id=f"{prefix}-alternatives",
                                        interactive=False, wrap=True)
    return ResultArea(text, corrected, confidence, alternatives, heatmap, status_md)


MAX_BEAM = 64
MAX_TOP_K = 10
DECODER_CHOICES = [("Language model", "lm"), ("Beam search", "beam"), ("Best path (greedy)", "best")]


def check_settings(decoder: Any, beam_width: Any, top_k: Any) -> tuple[str, int, int]:
    """Decoder, beam width and top-k as a request sent them, checked and clamped to the sliders."""
    decoder = str(decoder or DEFAULT_DECODER).strip().lower()
    decoder = {label.lower(): value for label, value in DECODER_CHOICES}.get(decoder, decoder)
    if decoder not in DECODER_NAMES:
        raise gr.Error(f"Unknown decoder {decoder!r}: use 'lm', 'beam' or 'best'.", title="Bad setting",
                       print_exception=False)
    try:
        beam_width = int(beam_width if beam_width is not None else BEAM_WIDTH)
        top_k = int(top_k if top_k is not None else 5)
    except (TypeError, ValueError):
        raise gr.Error("Beam width and top-k must be whole numbers.", title="Bad setting", print_exception=False) from None
    beam_width = min(max(beam_width, 1), MAX_BEAM)
    top_k = min(max(top_k, 1), MAX_TOP_K, beam_width)
    return decoder, beam_width, top_k


# The page's look. Its own margins sit outside what app.css can reach: narrow them on phones.
CSS = (ASSETS / "app.css").read_text(encoding="utf-8")
THEME = gr.themes.Default(
    font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
)

HEAD = "<style>@media (max-width: 640px) { .gradio-container .app { padding: 10px 8px !important; } }</style>"
