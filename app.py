"""Handwriting recognition demo: draw or upload one line of handwriting and read it back.

    python app.py                       # http://127.0.0.1:7860
    python app.py --host 0.0.0.0 --port 8080

GRADIO_SERVER_NAME / GRADIO_SERVER_PORT set the address too (the flags win). HTR_MODEL_DIR
picks another model folder (default: ./model). The named endpoint ``/recognize`` takes an
image file first, then decoder, beam width, top-k and spelling correction, and returns the
text first, then the corrected text, confidence, alternatives, heatmap and a status line:

    from gradio_client import Client, handle_file
    Client("http://127.0.0.1:7860").predict(handle_file("line.png"), api_name="/recognize")
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import math
import os
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import PIL.Image  # noqa: E402
import PIL.ImageOps  # noqa: E402
from gradio.utils import get_upload_folder  # noqa: E402

from htr.decode import DECODERS  # noqa: E402
from htr.errors import BadImageError, NoInkError  # noqa: E402
from htr.heatmap import recognition_heatmap  # noqa: E402
from htr.preprocess import to_gray  # noqa: E402

ROOT = Path(__file__).resolve().parent
MODEL_DIR = Path(os.environ.get("HTR_MODEL_DIR", ROOT / "model"))
ASSETS = ROOT / "assets"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860

# Images above this many pixels are refused before decoding (a 10,000 x 10,000 photo is
# far beyond any phone); larger ones are shrunk to WORK_SIDE on the long side on arrival,
# which is all the recognizer uses anyway.
MAX_PIXELS = 100_000_000
WORK_SIDE = 2400
_MIN_RANGE = 0.04  # an image whose grey levels span less than this is one uniform colour
CANVAS_SIZE = (1200, 260)  # width, height: room for one line of writing
MAX_BEAM = 64
MAX_TOP_K = 10
ALTERNATIVE_COLUMNS = ["#", "text", "log-prob", "prob"]
DECODER_CHOICES = [("Beam search", "beam"), ("Best path (greedy)", "best")]
DECODER_NAMES = {value: label.lower() for label, value in DECODER_CHOICES}

log = logging.getLogger("htr.app")

# ---------------------------------------------------------------------------
# The model: loaded once, on first use or at start-up, shared by every request.

_recognizer = None
_recognizer_lock = threading.Lock()


def get_recognizer():
    """The shared :class:`htr.Recognizer`, loaded on first call (about 5 seconds)."""
    global _recognizer
    if _recognizer is None:
        with _recognizer_lock:
            if _recognizer is None:
                from htr import Recognizer

                rec = Recognizer.load(MODEL_DIR)
                _warm_up(rec)
                _recognizer = rec
    return _recognizer


def _warm_up(rec) -> None:
    """Run each decoder once so the first visitor does not wait for graph tracing."""
    line = np.full((64, 320), 255, np.uint8)
    cv2.putText(line, "warm up", (10, 44), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, 1.3, 0, 3, cv2.LINE_AA)
    for decoder in DECODERS:
        recognition_heatmap(rec.recognize(line, decoder=decoder))


# ---------------------------------------------------------------------------
# Inputs: whatever Gradio or a caller hands over -> a numpy image.


def _shrink(image: np.ndarray) -> np.ndarray:
    """Bring very large arrays down to WORK_SIDE on the long side, keeping their dtype."""
    h, w = image.shape[:2]
    factor = WORK_SIDE / max(h, w)
    if factor >= 1 or image.dtype not in (np.uint8, np.uint16, np.float32):
        return image  # (the recognizer shrinks other pixel types itself, after converting them)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_AREA)


_ARRAY_MODES = ("L", "LA", "RGB", "RGBA", "I;16", "I", "F")


def _plain_mode(im: PIL.Image.Image) -> PIL.Image.Image:
    """Palette, 1-bit, CMYK ... images as L/RGB(A); 8/16/32-bit grey ones as they are."""
    if im.mode in ("I;16B", "I;16L"):
        return im.convert("I;16")
    if im.mode in _ARRAY_MODES:
        return im
    has_alpha = "A" in im.getbands() or "transparency" in im.info
    return im.convert("RGBA" if has_alpha else "RGB")


def _from_pil(im: PIL.Image.Image) -> np.ndarray:
    im = _plain_mode(im)
    array = np.asarray(im)
    if im.mode == "I":  # 32-bit integers: in practice 16-bit data
        array = np.clip(array, 0, 65535).astype(np.uint16)
    return array


def read_image_file(path: str | Path) -> np.ndarray:
    """Decode an image file (PNG, JPEG, WebP, GIF, BMP, TIFF ...) with its EXIF rotation applied."""
    path = Path(path)
    if not path.is_file():
        raise BadImageError("the image file did not arrive; please upload it again")
    if path.stat().st_size == 0:
        raise BadImageError("the file is empty")
    try:
        with warnings.catch_warnings():
            # The size is checked below, before any pixels are decoded.
            warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)
            im = PIL.Image.open(path)
        with im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise BadImageError(
                    f"the image is too large ({w} x {h} pixels); the limit is {MAX_PIXELS // 1_000_000} megapixels"
                )
            if im.format == "JPEG":
                im.draft(im.mode, (WORK_SIDE, WORK_SIDE))  # decode big photos at reduced size
            im = _plain_mode(PIL.ImageOps.exif_transpose(im))
            factor = max(im.size) // WORK_SIDE
            if factor >= 2:
                im = im.reduce(factor)
            array = _from_pil(im)
    except BadImageError:
        raise
    except PIL.Image.DecompressionBombError as exc:
        raise BadImageError("the image is too large to open safely") from exc
    except PIL.UnidentifiedImageError as exc:
        raise BadImageError("the file is not an image (use PNG, JPEG, WebP, BMP or TIFF)") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BadImageError("the image file is damaged or truncated") from exc
    return _shrink(array)


def read_image(value: Any) -> np.ndarray:
    """An uploaded value (file path, Gradio file dict, numpy array, PIL image) -> numpy image."""
    if value is None:
        raise BadImageError("no image received: upload or paste a picture of one line of handwriting")
    if isinstance(value, dict):  # a Gradio FileData payload
        path = value.get("path")
        if not path:
            raise BadImageError("no image received: upload or paste a picture of one line of handwriting")
        return read_image_file(path)
    if isinstance(value, (str, Path)):
        return read_image_file(value)
    if isinstance(value, PIL.Image.Image):
        return _shrink(_from_pil(value))
    if isinstance(value, np.ndarray):
        if value.ndim not in (2, 3) or value.size == 0:
            raise BadImageError(f"not an image: an array of shape {value.shape}")
        return _shrink(value)
    raise BadImageError(f"not an image: got {type(value).__name__}")


def sketch_image(sketch: Any) -> np.ndarray | None:
    """The drawing in a Sketchpad value ({background, layers, composite}); None if nothing is drawn."""
    if sketch is None:
        return None
    if not isinstance(sketch, dict):
        return read_image(sketch)
    composite = sketch.get("composite")
    if composite is not None:
        return read_image(composite)
    layers = [read_image(layer) for layer in (sketch.get("layers") or []) if layer is not None]
    background = sketch.get("background")
    if not layers:
        return None if background is None else read_image(background)
    # No composite sent: paint the layers over the background (or white paper) ourselves.
    h, w = layers[0].shape[:2]
    paper = np.full((h, w, 3), 255.0, np.float32)
    if background is not None:
        paper = _rgb(read_image(background), (h, w))
    for layer in layers:
        rgba = _rgba(layer, (h, w))
        alpha = rgba[..., 3:4] / 255.0
        paper = paper * (1 - alpha) + rgba[..., :3] * alpha
    return paper.astype(np.uint8)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if np.issubdtype(image.dtype, np.integer):
        return (image.astype(np.float32) * 255.0 / np.iinfo(image.dtype).max).astype(np.uint8)
    img = image.astype(np.float32)
    return np.clip(img * (255.0 if img.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)


def _rgba(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    image = _to_uint8(image)
    if image.ndim == 2:
        image = np.dstack([image] * 3 + [np.full_like(image, 255)])
    elif image.shape[2] == 3:
        image = np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])
    if image.shape[:2] != size:
        image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return image.astype(np.float32)


def _rgb(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    rgba = _rgba(image, size)
    alpha = rgba[..., 3:4] / 255.0
    return rgba[..., :3] * alpha + 255.0 * (1 - alpha)


def _ink_from_alpha(image: np.ndarray) -> np.ndarray | None:
    """For a transparent image whose strokes are light (white ink on nothing): the alpha as dark ink."""
    if image.ndim != 3 or image.shape[2] not in (2, 4):
        return None
    alpha = _to_uint8(image[..., -1])
    if int(alpha.max()) - int(alpha.min()) < 64:
        return None
    return 255 - alpha


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
            "Draw or upload one line of dark writing on a light background."
        )
    text = str(exc).strip() or "this image could not be read"
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _settings(decoder: Any, beam_width: Any, top_k: Any) -> tuple[str, int, int]:
    decoder = str(decoder or "beam").strip().lower()
    decoder = {label.lower(): value for label, value in DECODER_CHOICES}.get(decoder, decoder)
    if decoder not in DECODERS:
        raise gr.Error(f"Unknown decoder {decoder!r}: use 'beam' or 'best'.", title="Bad setting", print_exception=False)
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
    rows = [
        [rank, alt.text, round(float(alt.score), 3), round(math.exp(float(alt.score)), 4)]
        for rank, alt in enumerate(recognition.alternatives, start=1)
    ]
    return pd.DataFrame(rows, columns=ALTERNATIVE_COLUMNS)


def read_line(image: np.ndarray, decoder: str, beam_width: int, top_k: int, correct: bool) -> tuple:
    """Recognise a prepared numpy image; BadImageError/NoInkError pass through."""
    rec = get_recognizer()
    start = time.perf_counter()

    def run(array: np.ndarray):
        gray = to_gray(array)  # BadImageError for arrays that are not images or are too small
        if float(gray.max() - gray.min()) < _MIN_RANGE:
            raise NoInkError("the image is one uniform colour")
        return rec.recognize(array, decoder=decoder, beam_width=beam_width, top_k=top_k, correct=bool(correct))

    try:
        r = run(image)
    except NoInkError:
        ink = _ink_from_alpha(image)
        if ink is None:
            raise
        r = run(ink)
    elapsed = time.perf_counter() - start
    heatmap = save_png(recognition_heatmap(r), "heatmap.png")
    corrected = r.corrected if r.corrected is not None else ""
    status = f"Read with {DECODER_NAMES[decoder]} in {elapsed * 1000:.0f} ms."
    if not r.text.strip():
        status = "The model read no characters here; try writing larger and clearer, on one line."
    return r.text, corrected, round(float(r.confidence), 4), alternatives_table(r), heatmap, status


def recognize(image: Any, decoder: str = "beam", beam_width: int = 16, top_k: int = 5, correct: bool = False) -> tuple:
    """The ``/recognize`` endpoint: an image file (or array) of one handwritten line.

    Returns (text, corrected text, confidence, alternatives, heatmap, status). Unusable
    input raises ``gr.Error`` with a message saying what to do.
    """
    decoder, beam_width, top_k = _settings(decoder, beam_width, top_k)
    try:
        array = read_image(image)
        return read_line(array, decoder, beam_width, top_k, correct)
    except BadImageError as exc:
        raise gr.Error(friendly(exc), title="Can't read this image", print_exception=False) from None
    except gr.Error:
        raise
    except Exception:
        log.exception("recognition failed")
        raise gr.Error("Something went wrong while reading this image. Please try another one.",
                       print_exception=False) from None


def recognize_upload(image: Any, decoder: str = "beam", beam_width: int = 16, top_k: int = 5,
                     correct: bool = False) -> tuple:
    """The Upload tab: like ``recognize``, but problems become a warning and a status line."""
    if image is None:
        message = "Upload, paste or photograph one line of handwriting, or click an example."
        gr.Warning(message, title="No image yet")
        return empty_outputs(message)
    try:
        return recognize(image, decoder, beam_width, top_k, correct)
    except gr.Error as exc:
        gr.Warning(exc.message, title="Can't read this image")
        return empty_outputs(exc.message)


def recognize_sketch(sketch: Any, decoder: str = "beam", beam_width: int = 16, top_k: int = 5,
                     correct: bool = False, live: bool = False) -> tuple:
    """Read the sketchpad. Problems become a status line (and a toast, unless live)."""
    decoder, beam_width, top_k = _settings(decoder, beam_width, top_k)
    try:
        image = sketch_image(sketch)
        if image is None:
            raise NoInkError("nothing drawn yet")
        return read_line(image, decoder, beam_width, top_k, correct)
    except NoInkError:
        message = "Draw one line of handwriting on the canvas, then press **Recognise drawing**."
        if not live:
            gr.Warning("The canvas is empty: write a line of text on it first.", title="Nothing to read")
        return empty_outputs(message)
    except BadImageError as exc:
        if not live:
            gr.Warning(friendly(exc), title="Can't read this drawing")
        return empty_outputs(friendly(exc))
    except Exception:
        log.exception("recognition of a drawing failed")
        if not live:
            gr.Warning("Something went wrong while reading the drawing. Please try again.")
        return empty_outputs("Something went wrong while reading the drawing. Please try again.")


def recognize_sketch_live(sketch: Any, decoder: str, beam_width: int, top_k: int, correct: bool, live: bool) -> tuple:
    """Recognition as the user draws (when 'Recognise as I draw' is on)."""
    if not live:
        return tuple(gr.skip() for _ in range(6))
    return recognize_sketch(sketch, decoder, beam_width, top_k, correct, live=True)


# ---------------------------------------------------------------------------
# The page.

DESCRIPTION = """\
# Handwriting recognition
Write **one line** of text on the canvas (or upload a photo or scan of one line) and the model
reads it: a convolutional-recurrent network trained with CTC on real handwriting. Under the input,
see what the network saw and how sure it was of each character, step by step.
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

CSS = """
#sketch canvas { cursor: crosshair; }
#examples .gallery { flex-direction: column; align-items: stretch; }
#examples .gallery-item .container { width: 100%; height: auto; max-width: none; max-height: none; }
#examples .gallery-item img { width: 100%; height: 56px; object-fit: contain; background: white; }
"""


def example_files() -> list[str]:
    return [str(p) for p in sorted(ASSETS.glob("example-*.png"))]


def blank_canvas() -> dict:
    white = np.full((CANVAS_SIZE[1], CANVAS_SIZE[0], 3), 255, np.uint8)
    return {"background": white, "layers": [], "composite": None}


def build_demo() -> gr.Blocks:
    # Uploads and heatmaps older than an hour are removed from Gradio's cache every 30 minutes.
    with gr.Blocks(title="Handwriting recognition", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(DESCRIPTION)
        with gr.Tabs():
            with gr.Tab("Draw", id="draw"):
                sketch = gr.Sketchpad(
                    value=blank_canvas(),
                    label="Write one line here (pen size and colour: toolbar on the left)",
                    elem_id="sketch",
                    type="numpy",
                    image_mode="RGBA",
                    canvas_size=CANVAS_SIZE,
                    fixed_canvas=True,
                    brush=gr.Brush(default_size=3, colors=["#111111", "#1e3a8a", "#4b5563"], color_mode="fixed"),
                    eraser=gr.Eraser(default_size=12),
                    layers=False,
                    transforms=(),
                    buttons=["download"],
                    height=340,
                )
                with gr.Row():
                    draw_button = gr.Button("Recognise drawing", variant="primary", elem_id="recognise-drawing",
                                            scale=3)
                    live = gr.Checkbox(value=True, label="Recognise as I draw", elem_id="live", scale=1)
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
        with gr.Row(equal_height=True):
            text = gr.Textbox(label="Recognised text", elem_id="text", interactive=False, buttons=["copy"], scale=4)
            confidence = gr.Number(label="Confidence (0 to 1)", elem_id="confidence", precision=3,
                                   interactive=False, scale=1, min_width=120)
        corrected = gr.Textbox(label="Spelling-corrected text", elem_id="corrected", interactive=False,
                               visible=False, buttons=["copy"])
        status = gr.Markdown("Draw or upload a line of handwriting.", label="Status", elem_id="status")
        heatmap = gr.Image(
            label="CTC probability heatmap",
            elem_id="heatmap",
            type="filepath",
            format="png",
            interactive=False,
            buttons=["download", "fullscreen"],
        )
        gr.Markdown(HEATMAP_NOTE, elem_id="heatmap-note")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                alternatives = gr.Dataframe(
                    headers=ALTERNATIVE_COLUMNS,
                    datatype=["number", "str", "number", "number"],
                    label="Top alternatives",
                    elem_id="alternatives",
                    interactive=False,
                    wrap=True,
                )
            with gr.Column(scale=2):
                with gr.Accordion("Decoding", open=True):
                    decoder = gr.Radio(DECODER_CHOICES, value="beam", label="Decoder", elem_id="decoder")
                    beam_width = gr.Slider(1, MAX_BEAM, value=16, step=1, label="Beam width", elem_id="beam-width")
                    top_k = gr.Slider(1, MAX_TOP_K, value=5, step=1, label="Alternatives (top-k)", elem_id="top-k")
                    correct = gr.Checkbox(value=False, label="Spelling correction", elem_id="correct")
                    gr.Markdown(CORRECTION_NOTE)

        outputs = [text, corrected, confidence, alternatives, heatmap, status]
        settings = [decoder, beam_width, top_k, correct]

        # The public API: /recognize raises gr.Error on unusable input, so clients get a clear message.
        # It hangs on a hidden trigger; the page itself uses recognize_upload, which warns instead.
        api_trigger = gr.Button(visible=False, elem_id="api-trigger")
        api_trigger.click(
            recognize,
            inputs=[image, *settings],
            outputs=outputs,
            api_name="recognize",
            api_description="Read one line of handwriting from an image file.",
            preprocess=False,  # the file is read here, so unreadable files get a clear message
            concurrency_id="model",
        )
        # The page's own events: not part of the API, sharing the model's concurrency group.
        page_only = dict(outputs=outputs, api_visibility="private", concurrency_id="model")
        upload = dict(fn=recognize_upload, inputs=[image, *settings], preprocess=False, **page_only)
        gr.on([upload_button.click, image.upload], **upload)
        if examples is not None:
            examples.load_input_event.then(**upload)
        draw_button.click(recognize_sketch, inputs=[sketch, *settings], **page_only)
        sketch.change(recognize_sketch_live, inputs=[sketch, *settings, live], trigger_mode="always_last",
                      show_progress="hidden", **page_only)
        correct.change(lambda on: gr.update(visible=bool(on)), inputs=correct, outputs=corrected,
                       api_visibility="private", queue=False)
    # At most two recognitions run at once (all events share the "model" group); the rest wait in line.
    demo.queue(default_concurrency_limit=2, max_size=100)
    return demo


demo = build_demo()

THEME = gr.themes.Default(
    font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
)


def launch(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, **kwargs):
    """Serve ``demo``; returns what ``Blocks.launch`` does."""
    return demo.launch(server_name=host, server_port=port, theme=THEME, css=CSS, show_error=False, **kwargs)


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
