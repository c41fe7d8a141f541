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

``/adapt`` makes a personal model from a writer's lines (strokes or base64 images) and returns
it as a .zip and its figures, ``model_id`` among them; the three reading endpoints take that id
as their last, optional argument and then read with the personal model.

Reading, hints and messages are :mod:`htr`'s (:mod:`htr.hints`, :mod:`htr.ink`, :mod:`htr.page`);
this file lays out the page and wires it to them.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Gradio rebuilds its per-function timing summary (a pandas table of up to 10,000 past events)
# after every event by default: a cost per request that grows with the server's age.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "500")
from htr.tf_env import configure_tensorflow  # noqa: E402

configure_tensorflow()

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402

from app_glue import (  # noqa: E402
    ACK_JS,
    ALTERNATIVE_COLUMNS,
    CORRECTION_NOTE,
    CSS,
    DECODER_CHOICES,
    DESCRIPTION,
    HEAD,
    MAX_BEAM,
    MAX_TOP_K,
    PAD_JS,
    TALL_PAD_JS,
    THEME,
    UploadedImage,
    api_errors,
    check_settings,
    example_files,
    SESSION,
    latest_only,
    pad_html,
    result_area,
    save_png,
    skips,
    uploaded,
)
from htr.cli import DEFAULT_DECODER  # noqa: E402
from htr.confidence import review_note  # noqa: E402
from htr.decode import BEAM_WIDTH  # noqa: E402
from htr.errors import BadImageError, HTRError, NoInkError  # noqa: E402
from htr.heatmap import recognition_heatmap  # noqa: E402
from htr.hints import (  # noqa: E402
    HintedReading,
    first_hint,
    page_status,
    problem,
    read_drawing_line,
    read_image_line,
    reading_status,
    with_hints,
)
from htr.ink import EMPTY_DRAWING, Drawing, drawing_seq, parse_drawing  # noqa: E402
from htr.page import read_drawing_lines, read_page_image  # noqa: E402
from htr.paths import default_model_dir  # noqa: E402
from htr.train.teach import (  # noqa: E402
    PersonalModels,
    TaughtLine,
    adapt_lines,
    load_prompts,
    parse_lines,
    summary,
    unzip_model,
    zip_model,
)

MODEL_DIR = default_model_dir()
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860

# Requests read at once: one per CPU core, each on one ONNX Runtime thread (docs/experiments/2026-11-24-load-test.md:
# on 2 cores, 2 served more requests, sooner, than 4 or 8); HTR_APP_CONCURRENCY overrides.
CONCURRENCY = int(os.environ.get("HTR_APP_CONCURRENCY") or max(2, os.cpu_count() or 2))

log = logging.getLogger("htr.app")

# The model: loaded once, on first use or at start-up, shared by every request.

_recognizer = None
_recognizer_lock = threading.Lock()


def get_recognizer(model_id: str | None = None):
    """The recognizer of this read: the personal model ``model_id`` names (API callers), the
    session's personal model where it reads with one (the Teach tab), else the shared
    :class:`htr.Recognizer`, loaded on first call. An unknown ``model_id`` raises ModelLoadError."""
    if model_id and str(model_id).strip():
        return _by_id.by_id(PERSONAL_DIR, str(model_id).strip())
    personal = _personal.recognizer(SESSION.get())
    if personal is not None:
        return personal
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
    for recognition in rec.warm_up_decoders([decoder for _, decoder in DECODER_CHOICES]):
        recognition_heatmap(recognition)


# Personal models (the Teach tab): each browser session's, kept on the server until it ends.
_personal = PersonalModels(size=int(os.environ.get("HTR_PERSONAL_MODELS") or 8), threads=1)
# ... and those API callers name by the model_id /adapt returned (kept apart: callers do not
# push browser sessions' models out).
_by_id = PersonalModels(size=int(os.environ.get("HTR_PERSONAL_MODELS") or 8), threads=1)
PERSONAL_DIR = Path(os.environ.get("HTR_PERSONAL_DIR") or Path(tempfile.gettempdir()) / "htr-personal")


# What the page shows of a reading.


def empty_outputs(status: str) -> tuple:
    """What the outputs show when there is nothing to read."""
    return "", "", None, pd.DataFrame(columns=ALTERNATIVE_COLUMNS), None, status


def alternatives_table(recognition) -> pd.DataFrame:
    """Each reading ranked by the score the decoder ranked it by, shown as the combined score: the
    network's log-probability plus the language model's part (None for the decoders without one),
    and the network's probability per character (the geometric mean over the characters and the
    line end; the whole line's, exp(log-prob), is tiny for any line of some length)."""
    lm = recognition.decoder == "lm"
    ranked = sorted(recognition.alternatives, key=lambda alt: -alt.score)
    rows = [[rank, alt.text, round(float(alt.score), 3), round(alt.probability, 4),
             round(float(alt.score - alt.log_prob), 3) if lm else None]
            for rank, alt in enumerate(ranked, start=1)]
    return pd.DataFrame(rows, columns=ALTERNATIVE_COLUMNS)


def _notify_hint(status: str) -> None:
    """A notice with the status line's first hint, for reads the user asked for by a click."""
    if hint := first_hint(status):
        gr.Warning(hint, title="Hint")


def api_recognizer(model_id: Any, title: str):
    """The recognizer an API call reads with (:func:`get_recognizer`); an unknown ``model_id`` is a
    ``gr.Error`` saying so."""
    if model_id is not None and not isinstance(model_id, str):
        raise gr.Error(f"model_id must be a string, got {type(model_id).__name__}", title=title,
                       print_exception=False)
    try:
        return get_recognizer(model_id)
    except HTRError as exc:
        raise gr.Error(str(exc), title=title, print_exception=False) from None


def _outputs(reading: HintedReading, decoder: str) -> tuple:
    """The six outputs of a reading: text, corrected text, confidence, alternatives, heatmap, status."""
    r = reading.recognition
    status = reading_status(r.decoder, decoder, reading.seconds, r.text) + review_note(r.words)
    return (r.text, r.corrected if r.corrected is not None else "", round(float(r.confidence), 4),
            alternatives_table(r), save_png(recognition_heatmap(r), "heatmap.png"),
            with_hints(status, reading.hints))


# The API: /recognize, /recognize_strokes and /recognize_page.


def recognize(image: Any, decoder: str = DEFAULT_DECODER,
              beam_width: int = BEAM_WIDTH, top_k: int = 5, correct: bool = False, model_id: str | None = None,
              request: gr.Request = None) -> tuple:
    """The ``/recognize`` endpoint: an image file (or array) of one handwritten line, read with
    the personal model ``model_id`` names (from ``/adapt``), or the base model without one.

    Returns (text, corrected text, confidence, alternatives, heatmap, status). Unusable
    input raises ``gr.Error`` with a message saying what to do.
    """
    decoder, beam_width, top_k = check_settings(decoder, beam_width, top_k)
    recognizer = api_recognizer(model_id, "Can't read this image")
    with api_errors(problem, "Can't read this image", "this image", "Please try another one."):
        image = uploaded(image, request)
        return _outputs(read_image_line(recognizer, image, decoder, beam_width, top_k, correct), decoder)


def read_strokes(drawing: Drawing, decoder: str, beam_width: int, top_k: int, correct: bool,
                 on_screen: bool = False, recognizer=None) -> tuple:
    """Recognise a drawing from its strokes (rendered as the model's training lines are)."""
    return _outputs(read_drawing_line(recognizer or get_recognizer(), drawing, decoder, beam_width, top_k, correct,
                                      on_screen), decoder)


def recognize_strokes(strokes: Any, decoder: str = DEFAULT_DECODER, beam_width: int = BEAM_WIDTH, top_k: int = 5,
                      correct: bool = False, model_id: str | None = None) -> tuple:
    """The ``/recognize_strokes`` endpoint: pen strokes of one handwritten line, as JSON.

    ``strokes`` is ``{"strokes": [[[x, y, t], ...], ...]}`` (y down, any scale; t optional);
    ``model_id`` as for ``/recognize``. Returns what ``/recognize`` does; unusable input raises
    ``gr.Error`` saying what to do.
    """
    decoder, beam_width, top_k = check_settings(decoder, beam_width, top_k)
    recognizer = api_recognizer(model_id, "Can't read this drawing")
    with api_errors(lambda exc: problem(exc, "strokes"), "Can't read this drawing", "these strokes",
                    "Please try again."):
        return read_strokes(parse_drawing(strokes), decoder, beam_width, top_k, correct, recognizer=recognizer)


LINE_COLUMNS = ["#", "text", "confidence", "box (x, y, w, h)"]
# Shares of the table's width: the text wraps in its column, so every column stays in view
# on a phone (390 px) as on a desktop, without scrolling sideways.
LINE_COLUMN_WIDTHS = ["8%", "49%", "20%", "23%"]
PAGE_STATUS = "Upload, paste or photograph a paragraph or a page of handwriting."


def lines_table(lines: list[dict]) -> pd.DataFrame:
    """The Page tab's table of the lines ``/recognize_page`` returns."""
    rows = [[i, line["text"], line["confidence"], ", ".join(map(str, line["box"]))]
            for i, line in enumerate(lines, start=1)]
    return pd.DataFrame(rows, columns=LINE_COLUMNS)


def recognize_page_api(image: Any, decoder: str = DEFAULT_DECODER, beam_width: int = BEAM_WIDTH, top_k: int = 5,
                       correct: bool = False, model_id: str | None = None, request: gr.Request = None) -> tuple:
    """The ``/recognize_page`` endpoint: an image of a paragraph or page (or of one line), read
    with the personal model ``model_id`` names, as for ``/recognize``.

    Returns (text: the lines joined by newlines, lines: [{"box": [x, y, w, h], "text",
    "confidence", "alternatives"}], confidence, the image with the lines outlined and
    numbered, status). Unusable input raises ``gr.Error`` with a message saying what to do.
    """
    decoder, beam_width, top_k = check_settings(decoder, beam_width, top_k)
    recognizer = api_recognizer(model_id, "Can't read this image")
    with api_errors(lambda exc: problem(exc, "page"), "Can't read this image", "this page",
                    "Please try another image."):
        reading = read_page_image(recognizer, uploaded(image, request), decoder, beam_width, top_k, correct)
        overlay = save_png(reading.overlay, "lines.png")
    page = reading.page
    return (page.text, [line.to_json() for line in page.lines], round(float(page.confidence), 4), overlay,
            with_hints(page_status(len(page.lines), page.decoder, decoder, reading.seconds), reading.hints))


# The page's own events (not part of the API): problems become a status line and a notice.


def empty_page_outputs(status: str) -> tuple:
    return "", None, None, pd.DataFrame(columns=LINE_COLUMNS), status


def recognize_page_upload(image: Any, decoder: Any = DEFAULT_DECODER, beam_width: Any = BEAM_WIDTH, top_k: Any = 5,
                          correct: Any = False, request: gr.Request = None) -> tuple:
    """The Page tab: text, confidence, outlined lines, each line's text; problems become a status line."""
    def read() -> tuple:
        if image is None:
            gr.Warning(PAGE_STATUS, title="No image yet")
            return empty_page_outputs(PAGE_STATUS)
        try:
            text, lines, confidence, overlay, status = recognize_page_api(image, decoder, beam_width, top_k,
                                                                          correct, request=request)
        except gr.Error as exc:
            gr.Warning(exc.message, title="Can't read this image")
            return empty_page_outputs(exc.message)
        return text, confidence, overlay, lines_table(lines), status

    return latest_only("page", request, read, N_PAGE_OUTPUTS)


def read_several_lines(drawing: Drawing, decoder: str, beam_width: int, top_k: int, correct: bool) -> tuple:
    """The Draw tab with "Several lines": each line of the drawing read; the heatmap's place
    shows the drawing with its lines outlined and numbered, the table each line's reading."""
    reading = read_drawing_lines(get_recognizer(), drawing, decoder, beam_width, top_k, correct, on_screen=True)
    page = reading.page
    if reading.overlay is None:  # one line
        return _outputs(HintedReading(page.lines[0].recognition, reading.hints, reading.seconds), decoder)
    table = pd.concat([alternatives_table(line.recognition).head(1).assign(**{"#": i, "text": line.text})
                       for i, line in enumerate(page.lines, start=1)], ignore_index=True)
    return (page.text, page.corrected or "", round(float(page.confidence), 4), table,
            save_png(reading.overlay, "lines.png"), page_status(len(page.lines), page.decoder, decoder, reading.seconds))


EMPTY_CANVAS_STATUS = "Write one line of handwriting on the canvas; it is read as you write."


def _read_drawing_page(value: Any, decoder: Any, beam_width: Any, top_k: Any, correct: Any,
                       explicit: bool, several: Any = False) -> tuple:
    """The Draw tab's outputs for a drawing, plus the version read; problems become a status line."""
    seq = str(drawing_seq(value))
    decoder, beam_width, top_k = check_settings(decoder, beam_width, top_k)
    try:
        drawing = parse_drawing(value)
        if several is True:
            outputs = read_several_lines(drawing, decoder, beam_width, top_k, correct)
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
            gr.Warning(problem(exc, "strokes"), title="Can't read this drawing")
        return (*empty_outputs(problem(exc, "strokes")), seq)
    except Exception:
        log.exception("recognition of a drawing failed")
        message = "Something went wrong while reading the drawing. Please try again."
        if explicit:
            gr.Warning(message)
        return (*empty_outputs(message), seq)


def read_drawing(value: Any, decoder: Any = DEFAULT_DECODER, beam_width: Any = BEAM_WIDTH, top_k: Any = 5, correct: Any = False,
                 several: Any = False, request: gr.Request = None) -> tuple:
    """'Recognise drawing': read the canvas now; an empty canvas or a hint also gets a toast."""
    return latest_only("draw", request, lambda: _read_drawing_page(value, decoder, beam_width, top_k, correct, True,
                                                                   several), N_DRAW_OUTPUTS)


def read_drawing_live(value: Any, decoder: Any = DEFAULT_DECODER, beam_width: Any = BEAM_WIDTH, top_k: Any = 5,
                      correct: Any = False, several: Any = False, request: gr.Request = None) -> tuple:
    """A read the canvas asks for while the user writes (or clears): a status line, no toasts."""
    return latest_only("draw", request, lambda: _read_drawing_page(value, decoder, beam_width, top_k, correct, False,
                                                                   several), N_DRAW_OUTPUTS)


def reread_drawing(value: Any, decoder: Any = DEFAULT_DECODER, beam_width: Any = BEAM_WIDTH, top_k: Any = 5,
                   correct: Any = False, several: Any = False, request: gr.Request = None) -> tuple:
    """A setting changed: read the drawing again with it (nothing to do on an empty canvas)."""
    try:
        parse_drawing(value)
    except BadImageError:
        return skips(N_DRAW_OUTPUTS)
    return read_drawing_live(value, decoder, beam_width, top_k, correct, several, request)


def recognize_upload(image: Any, decoder: Any = DEFAULT_DECODER, beam_width: Any = BEAM_WIDTH, top_k: Any = 5,
                     correct: Any = False, request: gr.Request = None) -> tuple:
    """The Upload tab: like ``recognize``, but problems become a warning and a status line."""
    def read() -> tuple:
        if image is None:
            gr.Warning(UPLOAD_STATUS, title="No image yet")
            return empty_outputs(UPLOAD_STATUS)
        try:
            outputs = recognize(image, decoder, beam_width, top_k, correct, request=request)
        except gr.Error as exc:
            gr.Warning(exc.message, title="Can't read this image")
            return empty_outputs(exc.message)
        _notify_hint(outputs[-1])
        return outputs

    return latest_only("upload", request, read, N_OUTPUTS)


def reread_upload(image: Any, decoder: Any = DEFAULT_DECODER, beam_width: Any = BEAM_WIDTH, top_k: Any = 5,
                  correct: Any = False, request: gr.Request = None) -> tuple:
    """A setting changed: read the uploaded image again with it (nothing to do without one)."""
    def read() -> tuple:
        try:
            return recognize(image, decoder, beam_width, top_k, correct, request=request)
        except gr.Error as exc:
            return empty_outputs(exc.message)

    return skips(N_OUTPUTS) if image is None else latest_only("upload", request, read, N_OUTPUTS)


def clear_upload(request: gr.Request = None) -> tuple:
    """The picture was removed: so is its reading."""
    return latest_only("upload", request, lambda: empty_outputs(UPLOAD_STATUS), N_OUTPUTS)


N_OUTPUTS = 6
N_DRAW_OUTPUTS = N_OUTPUTS + 1  # and the version of the drawing that was read
N_PAGE_OUTPUTS = 5  # text, confidence, outlined lines, lines table, status
UPLOAD_STATUS = "Upload, paste or photograph one line of handwriting, or click an example."


# The Teach tab: prompted lines written on a canvas (or photographed), then a personal model.

PROMPTS = load_prompts()
BASE_MODEL, MY_MODEL = "Base model", "My personal model"
TEACH_GOAL = 10  # lines asked for: measured, 10 lines take a writer's errors down (docs/adapt.md)
TEACH_INTRO = ("Teach the recognizer your handwriting: write each sentence below on the canvas (or upload a photo "
               "of it written on paper), press **Add this line**, and after about ten lines press **Adapt**. From "
               "then on the Draw and Upload tabs read with your personal model; switch back to the base model at "
               "any time, and download your model to load it again later.")


def _prompt(index: int) -> tuple[str, str]:
    text = PROMPTS[index % len(PROMPTS)]
    return f"**Write:** {text}", text


def _count(lines: list) -> str:
    n = len(lines)
    more = f"; {TEACH_GOAL - n} more to go" if n < TEACH_GOAL else ": ready to adapt"
    return f"**{n} line{'s' if n != 1 else ''}** so far{more}."


def teach_add(drawing: Any, photo: Any, text: Any, lines: list, index: int) -> tuple:
    """Add the written (or photographed) line with its text; then the next prompt."""
    text = " ".join(str(text or "").split())
    lines = list(lines or [])
    if not text:
        gr.Warning("Type the text of the line first.", title="No text")
        return lines, index, *_prompt(index), photo, _count(lines)
    unknown = get_recognizer().config.unknown_characters(text)
    if unknown:
        gr.Warning(f"The model cannot write {' '.join(sorted(unknown))}: leave it out of the text.",
                   title="Unknown characters")
        return lines, index, *_prompt(index)[:1], text, photo, _count(lines)
    if photo:
        lines.append({"text": text, "image": str(photo)})
    else:
        try:
            lines.append({"text": text, "strokes": [s.tolist() for s in parse_drawing(drawing).strokes]})
        except BadImageError:
            gr.Warning("Write the sentence on the canvas (or upload a photo of it) first.", title="Nothing written")
            return lines, index, *_prompt(index)[:1], text, photo, _count(lines)
    index += 1
    return lines, index, *_prompt(index), None, _count(lines)


def teach_skip(index: int) -> tuple:
    index += 1
    return index, *_prompt(index)


def _taught(lines: list) -> list[TaughtLine]:
    from htr.imageio import read_image

    return [TaughtLine(l["text"], strokes=l.get("strokes"),
                       image=read_image(l["image"]) if l.get("image") else None) for l in lines]


def _personal_outputs(session: str, folder: Path, info: dict, status: str) -> tuple:
    """Status, the download button (the model as a .zip) and the model switch, set to the personal model."""
    archive = zip_model(folder, folder.with_suffix(".zip"))
    return (status, gr.update(value=str(archive), visible=True), gr.update(value=MY_MODEL, visible=True))


def teach_adapt(lines: list, progress: gr.Progress = gr.Progress(), request: gr.Request = None) -> tuple:
    """Adapt the model to the session's lines (one adaptation at a time on the server)."""
    from htr.errors import HTRError

    session = getattr(request, "session_hash", None) or "local"
    if len(lines or []) < 3:
        gr.Warning("Add at least 3 lines first (10 or more work best).", title="Too few lines")
        return f"Add at least 3 lines first; you have {len(lines or [])}.", gr.update(), gr.update()
    progress(0, desc="waiting for the adapter")
    try:
        result = adapt_lines(_taught(lines), MODEL_DIR, PERSONAL_DIR, wait=600,
                             on_progress=lambda fraction, stage: progress(fraction, desc=stage))
        info = _personal.set(session, result.out)
    except HTRError as exc:
        gr.Warning(str(exc), title="Can't adapt")
        return str(exc).replace("\n", "  \n"), gr.update(), gr.update()
    return _personal_outputs(session, result.out, info, f"Your personal model is ready: {summary(info)} "
                             "The Draw and Upload tabs now read with it.")


def teach_load(archive: Any, request: gr.Request = None) -> tuple:
    """Load a personal model from its .zip (as the download gave it)."""
    from htr.errors import HTRError

    session = getattr(request, "session_hash", None) or "local"
    if not archive:
        return gr.update(), gr.update(), gr.update()
    try:
        folder = unzip_model(archive, PERSONAL_DIR)
        info = _personal.set(session, folder)
    except HTRError as exc:
        gr.Warning(str(exc), title="Can't load this model")
        return str(exc), gr.update(), gr.update()
    return _personal_outputs(session, folder, info, f"Loaded your personal model: {summary(info)}")


def choose_model(choice: str, request: gr.Request = None) -> str:
    """The switch between the personal and the base model."""
    session = getattr(request, "session_hash", None) or "local"
    has = _personal.use(session, choice == MY_MODEL)
    if choice == MY_MODEL and not has:
        return "No personal model yet: teach one in the Teach tab."
    return f"Reading with the {'personal' if choice == MY_MODEL else 'base'} model."


def adapt_api(lines_json: Any, request: gr.Request = None) -> tuple:
    """The ``/adapt`` endpoint: ``{"lines": [{"text": "...", "strokes": [[[x, y, t], ...], ...]}`` or
    ``{"text": "...", "image": "<base64 PNG or JPEG>"}, ...]}`` (at least 3 lines) -> (the personal
    model as a .zip, its adaptation figures as JSON with the ``model_id`` the reading endpoints take).

    The figures carry the id (rather than a third output) so that callers unpacking two values go on working.
    """
    from htr.train.teach import describe

    try:
        lines = parse_lines(lines_json)
        result = adapt_lines(lines, MODEL_DIR, PERSONAL_DIR, wait=600)
    except HTRError as exc:  # AdaptInputError lists every line's problem
        raise gr.Error(str(exc), title="Can't adapt", print_exception=False) from None
    archive = zip_model(result.out, result.out.with_suffix(".zip"))
    return str(archive), {**describe(result.out), "model_id": result.out.name}


# The page.

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
                    gr.Checkbox(value=True, label="Recognise as I draw", elem_id="live", scale=1, interactive=True,
                                       min_width=150)
                    several = gr.Checkbox(value=False, label="Several lines (taller canvas)", elem_id="several-lines",
                                          scale=1, interactive=True, min_width=150)
                draw = result_area("draw", EMPTY_CANVAS_STATUS)
                # The version of the drawing each reply belongs to, for the canvas's reading state.
                ack = gr.HTML(value="0", html_template="", js_on_load=ACK_JS, visible="hidden", elem_id="draw-ack")
            with gr.Tab("Upload", id="upload"):
                with gr.Row(elem_id="upload-input-row"):  # on a phone: image, button, result, then examples
                    with gr.Column(scale=3):
                        image = gr.Image(label="Photo or scan of one line of handwriting", elem_id="upload-image",
                                         sources=["upload", "webcam", "clipboard"], type="filepath", image_mode=None,
                                         height=260)
                        image.data_model = UploadedImage  # a bare path string gets a clear error
                        upload_button = gr.Button("Recognise image", variant="primary", elem_id="recognise-image")
                    with gr.Column(scale=2, elem_id="upload-examples-column"):
                        files = example_files()
                        examples = gr.Examples(examples=[[p] for p in files], inputs=[image], elem_id="examples",
                                               label="Examples: click one to read it", api_visibility="private",
                                               examples_per_page=8) if files else None
                upload = result_area("upload", UPLOAD_STATUS)
            with gr.Tab("Page", id="page"):
                with gr.Row():
                    with gr.Column(scale=2):
                        page_image = gr.Image(label="Photo or scan of a paragraph or a page", elem_id="page-image",
                                              sources=["upload", "webcam", "clipboard"], type="filepath",
                                              image_mode=None, height=360, elem_classes=["htr-whole-image"])
                        page_image.data_model = UploadedImage
                        page_button = gr.Button("Read page", variant="primary", elem_id="read-page")
                    with gr.Column(scale=3):
                        page_text = gr.Textbox(label="Recognised text", elem_id="page-text", lines=4, max_lines=30,
                                               interactive=False, buttons=["copy"])
                        page_confidence = gr.Number(label="Confidence (0 to 1)", elem_id="page-confidence",
                                                    precision=3, interactive=False, visible="hidden")  # until a reading
                        page_status = gr.Markdown(PAGE_STATUS, elem_id="page-status")
                # Side by side where both fit at 320 px or more; on a phone the outlined page
                # takes the full width and the table comes under it.
                with gr.Row(elem_id="page-result"):
                    page_overlay = gr.Image(label="Lines found, outlined and numbered", elem_id="page-overlay",
                                            type="filepath", format="png", interactive=False,
                                            buttons=["download", "fullscreen"], scale=3, min_width=320,
                                            elem_classes=["htr-whole-image"])
                    page_lines = gr.Dataframe(headers=LINE_COLUMNS, datatype=["number", "str", "number", "str"],
                                              label="Each line's reading", elem_id="page-lines", interactive=False,
                                              wrap=True, column_widths=LINE_COLUMN_WIDTHS, scale=2, min_width=320)
                page_lines_json = gr.JSON(visible=False, label="lines")
            with gr.Tab("Teach", id="teach"):
                gr.Markdown(TEACH_INTRO, elem_id="teach-intro")
                first_prompt, first_text = _prompt(0)
                teach_prompt = gr.Markdown(first_prompt, elem_id="teach-prompt")
                teach_pad = gr.HTML(value=EMPTY_DRAWING, html_template=pad_html(live=False), js_on_load=PAD_JS,
                                    apply_default_css=False, elem_id="teach-pad")
                with gr.Row():
                    teach_text = gr.Textbox(value=first_text, label="The line's text (change it if you wrote "
                                            "something else)", elem_id="teach-text", scale=3)
                    teach_photo = gr.Image(label="Or a photo of the line on paper", elem_id="teach-photo",
                                           sources=["upload", "webcam", "clipboard"], type="filepath",
                                           image_mode=None, height=120, scale=2)
                with gr.Row():
                    teach_add_button = gr.Button("Add this line", elem_id="teach-add", variant="secondary")
                    teach_skip_button = gr.Button("Another sentence", elem_id="teach-skip")
                    teach_adapt_button = gr.Button("Adapt", elem_id="teach-adapt", variant="primary")
                teach_count = gr.Markdown(_count([]), elem_id="teach-count")
                teach_status = gr.Markdown("", elem_id="teach-status")
                with gr.Row():
                    teach_download = gr.DownloadButton("Download my model (.zip)", visible=False,
                                                       elem_id="teach-download")
                    teach_zip = gr.File(label="Load my model again (.zip)", file_types=[".zip"], type="filepath",
                                        elem_id="teach-zip", height=90)
                teach_lines = gr.State([])
                teach_index = gr.State(0)
        model_choice = gr.Radio([BASE_MODEL, MY_MODEL], value=BASE_MODEL, label="Read with", visible=False,
                                elem_id="model-choice", interactive=True)
        model_note = gr.Markdown("", elem_id="model-note")
        with gr.Accordion("Decoding", open=True, elem_id="decoding"):
            with gr.Row():
                decoder = gr.Radio(DECODER_CHOICES, value=DEFAULT_DECODER, label="Decoder", elem_id="decoder")
                beam_width = gr.Slider(1, MAX_BEAM, value=BEAM_WIDTH, step=1, label="Beam width", elem_id="beam-width")
                top_k = gr.Slider(1, MAX_TOP_K, value=5, step=1, label="Alternatives (top-k)", elem_id="top-k")
            correct = gr.Checkbox(value=False, label="Spelling correction", elem_id="correct")
            gr.Markdown(CORRECTION_NOTE)

        settings = [decoder, beam_width, top_k, correct]
        draw_outputs = [*draw.outputs, ack]

        # The public API, on hidden triggers: both raise gr.Error on unusable input, so clients
        # get a clear message. The page itself uses the handlers below, which warn instead.
        # The personal model to read with (the model_id /adapt returned); empty: the base model.
        api_model_id = gr.Textbox(value="", visible=False, label="model_id", elem_id="api-model-id")
        api_trigger = gr.Button(visible=False, elem_id="api-trigger")
        api_trigger.click(recognize, inputs=[image, *settings, api_model_id], outputs=upload.outputs,
                          api_name="recognize",
                          api_description="Read one line of handwriting from an image file (model_id: a personal "
                                          "model from /adapt; empty: the base model).",
                          preprocess=False,  # the file is read here, so unreadable files get a clear message
                          concurrency_id="model")
        strokes_json = gr.Textbox(visible=False, label="strokes", elem_id="api-strokes")
        strokes_trigger = gr.Button(visible=False, elem_id="api-strokes-trigger")
        strokes_trigger.click(recognize_strokes, inputs=[strokes_json, *settings, api_model_id],
                              outputs=draw.outputs, api_name="recognize_strokes", concurrency_id="model",
                              api_description="Read one line of handwriting from pen strokes: "
                                              'JSON {"strokes": [[[x, y, t], ...], ...]} (model_id: a personal '
                                              "model from /adapt; empty: the base model).")
        page_trigger = gr.Button(visible=False, elem_id="api-page-trigger")
        page_trigger.click(recognize_page_api, inputs=[page_image, *settings, api_model_id], api_name="recognize_page",
                           outputs=[page_text, page_lines_json, page_confidence, page_overlay, page_status],
                           api_description="Read a paragraph or page of handwriting from an image file: the text "
                                           "(lines joined by newlines), each line's box, text, confidence and "
                                           "alternatives, the confidence, and the image with the lines outlined and "
                                           "numbered (model_id: a personal model from /adapt; empty: the base "
                                           "model).", preprocess=False, concurrency_id="model")

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
        # The Teach tab: adaptations one at a time (their own group), readers keep the "model" group.
        teach = dict(api_visibility="private")
        teach_add_button.click(teach_add, inputs=[teach_pad, teach_photo, teach_text, teach_lines, teach_index],
                               outputs=[teach_lines, teach_index, teach_prompt, teach_text, teach_photo, teach_count],
                               **teach).then(
            None, js="() => { const p = document.querySelector('#teach-pad .htr-pad'); "
                     "if (p && !p.classList.contains('htr-empty')) p.querySelector('.htr-clear')?.click(); }")
        teach_skip_button.click(teach_skip, inputs=teach_index, outputs=[teach_index, teach_prompt, teach_text],
                                **teach)
        personal_outputs = [teach_status, teach_download, model_choice]
        teach_adapt_button.click(teach_adapt, inputs=teach_lines, outputs=personal_outputs, concurrency_id="adapt",
                                 concurrency_limit=1, show_progress="full", **teach)
        teach_zip.upload(teach_load, inputs=teach_zip, outputs=personal_outputs, **teach)
        model_choice.change(choose_model, inputs=model_choice, outputs=model_note, **teach).then(
            reread_drawing, inputs=[pad, *settings, several], outputs=draw_outputs, show_progress="minimal",
            **page).then(reread_upload, inputs=[image, *settings], outputs=upload.outputs, preprocess=False,
                         show_progress="minimal", **page)
        adapt_json = gr.Textbox(visible=False, label="lines", elem_id="api-adapt-lines")
        adapt_trigger = gr.Button(visible=False, elem_id="api-adapt-trigger")
        adapt_trigger.click(adapt_api, inputs=adapt_json, outputs=[gr.File(visible=False), gr.JSON(visible=False)],
                            api_name="adapt", concurrency_id="adapt", concurrency_limit=1,
                            api_description='Adapt the model to one writer: JSON {"lines": [{"text": "...", '
                                            '"strokes": [[[x, y, t], ...], ...]} or {"text": "...", "image": '
                                            '"<base64 PNG or JPEG of the line>"}, ...]} (at least 3 lines, 10 or '
                                            'more work best). Returns the personal model as a .zip (a model folder '
                                            'for --model-dir) and its adaptation figures, with the model_id that '
                                            '/recognize, /recognize_strokes and /recognize_page read with.')
    # At most CONCURRENCY recognitions run at once (all events share the "model" group); the rest
    # wait in line. ONNX Runtime reads a line on one thread without the GIL, so a few run side by side.
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=200)
    return demo


demo = build_demo()

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
