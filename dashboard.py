"""Model dashboard: look inside a recognition, score a model on a data set, train one.

    streamlit run dashboard.py --server.headless true --server.address 127.0.0.1 --server.port 8501

Four tabs, all over the ``htr`` package (the page itself does no machine learning):

* **Inspect** one line (a bundled example, a data set line or an uploaded image): the image as
  the network sees it, the per-timestep CTC probabilities time-aligned under it, the beam
  alternatives and the confidence.
* **Page**: a paragraph or page (a test page made from a data set, or an upload): the lines found,
  outlined and numbered on it, the text, and each line's reading with its heatmap.
* **Validate** a model on a data set split, exactly as ``python -m htr validate`` does: CER and
  WER per decoder, the spread of per-line CER, the worst lines with their errors marked.
* **Train** a model in the background (``python -m htr train`` via :mod:`htr.train.jobs`), watch its
  curves and log live, stop it and resume it. The job's state lives in its run folder, so a
  reloaded page still shows it.

Environment: ``HTR_MODEL_DIR`` (default model folder, ``model/``), ``HTR_DATA`` (default data
set folder), ``HTR_JOBS_DIR`` (where the running job is remembered, ``runs/``).
"""

from __future__ import annotations

import html
import math
import os
import time
import warnings
from pathlib import Path

from htr.tf_env import configure_tensorflow

configure_tensorflow()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from htr.datasets import DATASETS  # noqa: E402
from htr.decode import DECODERS  # noqa: E402
from htr.errors import BadImageError, HTRError, ModelLoadError  # noqa: E402
from htr.imageio import FORMATS, MAX_BYTES, MAX_PIXELS, decode_image  # noqa: E402
from htr.train.jobs import (  # noqa: E402
    FAILED,
    FINISHED,
    SCHEDULES,
    STOPPED,
    STOPPING,
    JobManager,
    TrainRequest,
)

ROOT = Path(__file__).resolve().parent
ASSETS = ROOT / "assets"
UPLOAD_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff", "webp"]  # the formats htr.imageio reads
DEFAULT_MODEL = os.environ.get("HTR_MODEL_DIR", "model/")
_SHARED_DATA = ROOT.parent / "shared" / "data" / "iam-ondb"
DEFAULT_DATA = os.environ.get("HTR_DATA") or ("../shared/data/iam-ondb" if _SHARED_DATA.is_dir() else "data/iam-ondb")
LOOKS = ("canvas", "paper", "mixed")
DECODERS_SHOWN = ("lm",) + tuple(d for d in DECODERS if d != "lm")  # the language model first: the default
REFRESH_SECONDS = 2.0


# --- cached model and data ----------------------------------------------------------------


def model_key(folder: str) -> tuple[str, int, int]:
    """(resolved folder, weights mtime, config mtime): a new key whenever the model changes."""
    path = Path(folder).expanduser().resolve()

    def mtime(name: str) -> int:
        try:
            return (path / name).stat().st_mtime_ns
        except OSError:
            return 0

    return str(path), mtime("model.weights.h5"), mtime("config.json")


def recognizer_for(key: tuple[str, int, int]):
    # The mtimes are part of the key, passed under plain names so they are hashed.
    return _load(*key)


@st.cache_resource(max_entries=3, show_spinner="Loading the model ...")
def _load(folder: str, weights_mtime: int, config_mtime: int):
    from htr import Recognizer

    return Recognizer.load(folder)


@st.cache_resource(max_entries=4, show_spinner="Reading the data set ...")
def load_lines(dataset: str, path: str, split: str):
    """A split's samples (unfiltered), kept in memory: reading IAM On-Line takes seconds."""
    from htr.datasets import load_dataset

    return load_dataset(dataset, path, split)


@st.cache_resource(max_entries=2, show_spinner=False)
def prepared_lines(dataset: str, path: str, split: str, limit: int, look: str, charset: str, height: int,
                   max_width: int, stride: int, deslant: float = 0.0):
    """The network inputs of a split exactly as ``python -m htr validate`` prepares them."""
    from htr.datasets import load_dataset
    from htr.train.augment import prepare_set

    lines = load_dataset(dataset, path, split)
    lines.filter_charset(charset)
    if limit:
        lines.samples = lines.samples[:limit]
    prepared = prepare_set(lines, height, max_width, look, augment=False, label="preparing lines",
                           min_stride=stride, deslant=deslant)
    return prepared, dict(lines.skipped)


@st.cache_data(max_entries=32, show_spinner=False)
def validation_result(model: tuple[str, int, int], dataset: str, path: str, split: str, limit: int, look: str,
                      decoder: str, beam_width: int, keep_worst: int = 50) -> dict:
    """Score one decoder on a split; cached per model (folder + mtimes), data, look and decoder.

    The progress bar is made here (not passed in) so that Streamlit can replay a cached call.
    """
    slot = st.empty()

    def report(fraction: float, text: str) -> None:
        slot.progress(min(1.0, fraction), text=text)

    try:
        return _validate(model, dataset, path, split, limit, look, decoder, beam_width, keep_worst, report)
    finally:
        slot.empty()


def _validate(model, dataset, path, split, limit, look, decoder, beam_width, keep_worst, report) -> dict:
    from htr.metrics import error_rates, line_cer
    from htr.train.evaluate import transcribe

    recognizer = recognizer_for(model)
    config = recognizer.config
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        used = recognizer.resolve_decoder(decoder)  # lm without a language model: beam search
    report(0.02, f"{decoder}: preparing the lines of {dataset} {split} ...")
    prepared, skipped = prepared_lines(dataset, path, split, limit, look, config.charset, config.height,
                                       config.max_width, config.time_stride, config.deslant)
    images, texts = prepared.images, prepared.texts
    if not images:
        raise HTRError(f"{dataset} split {split!r} in {path} has no usable lines")
    # The same width-sorted batches of 32 as htr.train.evaluate.transcribe, one at a time for progress.
    order = np.argsort([im.shape[1] for im in images], kind="stable")
    predictions = [""] * len(images)
    for start in range(0, len(order), 32):
        chunk = order[start : start + 32]
        read = transcribe(recognizer.model, config, [images[i] for i in chunk], used, beam_width, lm=recognizer.lm)
        for i, text in zip(chunk, read):
            predictions[i] = text
        done = min(len(order), start + 32)
        report(0.1 + 0.9 * done / len(order), f"{decoder}: {done}/{len(order)} lines")
    rates = error_rates(texts, predictions)
    cers = [line_cer(t, p) for t, p in zip(texts, predictions)]
    worst = sorted(range(len(cers)), key=lambda i: (-cers[i], i))[:keep_worst]
    return {
        "decoder": decoder,
        "used": used,
        "fallback": None if used == decoder else recognizer.lm_error,
        "rates": rates.as_dict(),
        "skipped": sum(skipped.values()),
        "skipped_reasons": skipped,
        "ids": list(prepared.ids),
        "references": list(texts),
        "predictions": predictions,
        "line_cer": cers,
        "worst": [(i, ink_picture(images[i])) for i in worst],
        "computed_at": time.strftime("%H:%M:%S"),
    }


# --- pictures -----------------------------------------------------------------------------


@st.cache_data(max_entries=64, show_spinner=False)
def heatmap_png(probabilities: np.ndarray, image: np.ndarray, labels: tuple[str, ...], stride: int,
                all_rows: bool = False) -> bytes:
    """The ink map over its C x T probability heatmap (pixel-aligned), best path marked, as PNG."""
    import cv2

    from htr.heatmap import render_heatmap

    picture = render_heatmap(probabilities, image, labels, stride, rows="all" if all_rows else "active",
                             mark_best_path=True)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    return encoded.tobytes()


def ink_picture(image: np.ndarray) -> np.ndarray:
    """The (H, W) ink map (1 = ink) as dark ink on white, uint8."""
    return (255 * (1 - np.clip(image, 0, 1))).astype(np.uint8)


def marked_pair(first: str, second: str) -> tuple[str, str]:
    """Two texts as HTML, the characters that differ highlighted.

    Struck out in red: characters of ``first`` that ``second`` lacks or has otherwise; green:
    what ``second`` has instead (or in excess).
    """
    from rapidfuzz.distance import Levenshtein

    left, right = [], []
    wrong = "background:#ffd6d6;color:#9b0000;text-decoration:line-through"
    extra = "background:#d8f0d2;color:#14520b"
    for op in Levenshtein.opcodes(first, second):
        a = html.escape(first[op.src_start : op.src_end])
        b = html.escape(second[op.dest_start : op.dest_end])
        if op.tag == "equal":
            left.append(a)
            right.append(b)
        else:
            if a:
                left.append(f'<span style="{wrong}">{a}</span>')
            if b:
                right.append(f'<span style="{extra}">{b}</span>')
    return "".join(left), "".join(right)


def diff_html(reference: str, prediction: str) -> str:
    """Truth and prediction on two lines, the characters that differ highlighted (see :func:`marked_pair`).

    The texts are shown as written (line CER is scored with punctuation spacing normalised,
    so a space before a full stop costs nothing there).
    """
    truth, read = marked_pair(reference, prediction)
    mono = "font-family:monospace;white-space:pre-wrap"
    return f'<div style="{mono}">truth&nbsp;: {truth}<br>read&nbsp;&nbsp;: {read}</div>'


def best_vs_lm_html(best: str, lm: str) -> str:
    """Best path and the language model's reading side by side, what the LM changed marked."""
    left, right = marked_pair(best, lm)
    cell = "font-family:monospace;white-space:pre-wrap;vertical-align:top;padding:4px 12px 4px 0;width:50%"
    same = "" if best != lm else " (the same)"
    return (f'<table style="width:100%;border:none"><tr><th style="text-align:left">Best path (letters alone)</th>'
            f'<th style="text-align:left">Language model (words){same}</th></tr>'
            f'<tr><td style="{cell}">{left}</td><td style="{cell}">{right}</td></tr></table>')


def decode_upload(name: str, data: bytes) -> np.ndarray:
    """An uploaded file as an image array, read by the package's one reader (as the CLI and app read)."""
    if not data:
        raise BadImageError(f"{name}: the file is empty")
    return decode_image(data.tobytes() if hasattr(data, 'tobytes') else data, name)


def uploaded_image(label: str, key: str, prompt: str, help: str | None = None) -> np.ndarray | None:
    """The image chosen in a file uploader, or None (saying ``prompt``) until one is chosen;
    an unreadable file raises the package's error."""
    upload = st.file_uploader(label, type=UPLOAD_TYPES, key=key, help=help)
    if upload is None:
        st.info(prompt)
        return None
    return decode_upload(upload.name, upload.getvalue())


# --- sidebar: the model -------------------------------------------------------------------


def sidebar_model():
    """The model folder picker; returns (recognizer or None, key, error message or None)."""
    st.sidebar.header("Model")
    st.session_state.setdefault("model_dir", DEFAULT_MODEL)  # (the Train tab's "Use this model" sets it too)
    folder = st.sidebar.text_input("Model folder", key="model_dir",
                                   help="a folder with config.json and model.weights.h5")
    key = model_key(folder)
    try:
        if not folder.strip():
            raise ModelLoadError("enter a model folder")
        recognizer = recognizer_for(key)
    except ModelLoadError as exc:
        st.sidebar.error("No model loaded")
        return None, key, f"No usable model in `{folder}`: {exc}"
    config = recognizer.config
    st.sidebar.success(f"Loaded `{folder}`")
    st.sidebar.caption(f"{config.num_classes} classes (blank + {len(config.charset)} characters), input height "
                       f"{config.height}px, one timestep per {config.time_stride}px")
    training = _metadata(Path(key[0])).get("training", {})
    if training.get("best_val_cer") is not None:
        trained_on = training.get("dataset") or ", ".join(s.get("name", "") for s in training.get("sources", []))
        st.sidebar.caption(f"Trained {training.get('epochs_run')} epochs on {trained_on}; "
                           f"best validation CER {training['best_val_cer']:.4f} (epoch {training.get('best_epoch')})")
    return recognizer, key, None


def _metadata(folder: Path) -> dict:
    import json

    try:
        data = json.loads((folder / "metadata.json").read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


# --- Inspect ------------------------------------------------------------------------------


def inspect_tab(recognizer, model_error: str | None) -> None:
    examples = sorted(ASSETS.glob("example*.png")) or sorted(p for p in ASSETS.glob("*.png") if "screenshot" not in p.name)
    sources = (["Example"] if examples else []) + ["Data set line", "Upload"]
    source = st.radio("Line to inspect", sources, horizontal=True, key="inspect_source")
    truth = None
    image = None
    try:
        if source == "Example":
            name = st.selectbox("Example", [p.name for p in examples], key="inspect_example")
            image = str(ASSETS / name)
        elif source == "Data set line":
            c1, c2, c3, c4, c5 = st.columns([1, 2, 1, 1, 1])
            dataset = c1.selectbox("Data set", DATASETS, key="inspect_dataset")
            path = c2.text_input("Data path", DEFAULT_DATA, key="inspect_path")
            split = c3.text_input("Split", "validation", key="inspect_split")
            index = int(c4.number_input("Line index", min_value=0, value=0, step=1, key="inspect_index"))
            look = c5.selectbox("Look (pen data)", ("canvas", "paper"), key="inspect_look")
            lines = load_lines(dataset, str(Path(path).expanduser().resolve()), split)
            if not lines.samples:
                raise HTRError(f"{dataset} split {split!r} in {path} has no lines")
            if index >= len(lines.samples):
                raise HTRError(f"line index {index} is out of range: the split has {len(lines.samples)} lines (0 to {len(lines.samples) - 1})")
            sample = lines.samples[index]
            from htr.train.augment import sample_image

            image = sample_image(sample, look, None)
            truth = sample.text
            st.caption(f"{sample.id}: {len(lines.samples)} lines in this split")
        else:
            image = uploaded_image("Image of one handwritten line", "inspect_upload",
                                   "Upload an image of one line of handwriting.",
                                   help=f"{FORMATS}; up to {MAX_PIXELS // 1_000_000} megapixels and "
                                        f"{MAX_BYTES // 1_000_000} MB")
            if image is None:
                return
    except HTRError as exc:
        st.error(str(exc))
        return

    c1, c2, c3, c4, c5 = st.columns(5)
    decoder = c1.selectbox("Decoder", DECODERS_SHOWN, key="inspect_decoder",
                           help="lm: beam search with the language model, which reads words; beam: beam search "
                                "on the network alone; best: the greedy reading")
    beam_width = int(c2.number_input("Beam width", 1, 64, 16, key="inspect_beam"))
    top_k = int(c3.number_input("Alternatives", 1, 10, 5, key="inspect_topk"))
    correct = c4.checkbox("Spelling correction", False, key="inspect_correct",
                          help="off by default, as in the app: it mends some misread words but changes names")
    all_rows = c5.checkbox("All classes in heatmap", False, key="inspect_all_rows")
    if recognizer is None:
        st.warning(model_error or "Load a model first (sidebar).")
        return
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = recognizer.recognize(image, decoder=decoder, beam_width=beam_width, top_k=top_k, correct=correct)
    except HTRError as exc:
        st.error(f"Cannot read this image: {exc}")
        return
    for warning in caught:
        st.warning(str(warning.message))

    left, right = st.columns([3, 1])
    left.markdown("**Recognised text**")
    left.code(result.text or " ", language=None)
    if result.corrected is not None and result.corrected != result.text:
        left.caption(f"With spelling correction: {result.corrected}")
    right.metric("Confidence", f"{result.confidence:.1%}")
    if truth is not None:
        from htr.metrics import line_cer

        right.metric("Line CER", f"{line_cer(truth, result.text):.3f}")
        st.markdown(diff_html(truth, result.text), unsafe_allow_html=True)
    if result.decoder == "lm":
        from htr.decode import best_path

        best = recognizer.config.decode(best_path(result.probabilities).paths[0][0])
        st.markdown(best_vs_lm_html(best, result.text), unsafe_allow_html=True)
        if truth is not None:
            from htr.metrics import line_cer

            st.caption(f"Line CER: best path {line_cer(truth, best):.3f}, language model {line_cer(truth, result.text):.3f}")

    steps, classes = result.probabilities.shape
    st.markdown("**What the network sees, and what it reads at each timestep** (normalised ink map, "
                f"{result.image.shape[1]} x {result.image.shape[0]}px, over its CTC probabilities)")
    png = heatmap_png(result.probabilities.astype(np.float32), result.image.astype(np.float32),
                      tuple(result.labels), int(result.time_stride), all_rows)
    st.image(png, width="stretch", alt="CTC probability heatmap")
    st.caption(f"T x C = {steps} x {classes} (timesteps x classes: blank + {classes - 1} characters); one "
               f"timestep per {result.time_stride}px. Rows: {'all classes' if all_rows else 'the blank and the characters that reach P ≥ 0.05'}; "
               "red dots: the best path (most likely class at each timestep); letters under the image: the characters it emits, where they fire.")

    st.markdown("**Alternatives**")
    from htr.spelling import correct as spell

    table = pd.DataFrame({
        "rank": range(1, len(result.alternatives) + 1),
        "text": [a.text for a in result.alternatives],
        "score": [round(float(a.score), 4) for a in result.alternatives],
        "log-prob": [round(float(a.log_prob), 4) for a in result.alternatives],
        "probability": [round(math.exp(a.log_prob), 4) for a in result.alternatives],
        "corrected": [spell(a.text) if correct else "" for a in result.alternatives],
    })
    if result.decoder != "lm":
        table = table.drop(columns="log-prob")
    if not correct:
        table = table.drop(columns="corrected")
    st.dataframe(table, hide_index=True, key="inspect_alternatives")
    if result.decoder == "lm":
        st.caption("score: what ranks the language model's beam (network log-probability + weighted LM "
                   "log-probability + bonuses); log-prob and probability: the network's alone")
    else:
        st.caption("score: log-probability of the whole reading under the model")


# --- Page ---------------------------------------------------------------------------------

PAGE_KINDS = {"IAM On-Line form, drawn whole": "form", "IAM dev lines, stacked": "stacked"}
_SHARED_IAM = ROOT.parent / "shared" / "data" / "iam"
DEFAULT_IAM = os.environ.get("HTR_IAM_DATA") or ("../shared/data/iam" if _SHARED_IAM.is_dir() else "data/iam")


@st.cache_data(max_entries=8, show_spinner="Making the page...")
def data_page(kind: str, path: str, index: int, look: str):
    """A test page made by htr.synth.pages from a data set (the image, its lines' truth boxes and texts)."""
    from htr.synth.pages import group_forms, read_line_boxes, render_form, stack_lines

    if kind == "form":
        forms = list(group_forms(load_lines("iam-ondb", path, "validation").samples).values())
    else:
        boxes = read_line_boxes(Path(path))
        dev = load_lines("iam", path, str(Path(path) / "splits" / "available-dev.txt"))
        forms = [f for f in group_forms([s for s in dev.samples if s.id in boxes]).values() if len(f) >= 2]
    if not forms:
        raise HTRError(f"no pages can be made from {path}")
    if index >= len(forms):
        raise HTRError(f"page index {index} is out of range: {len(forms)} pages (0 to {len(forms) - 1})")
    rng = np.random.default_rng(index)
    if kind == "form":
        page = render_form(forms[index], look, rng)
    else:
        page = stack_lines(forms[index], read_line_boxes(Path(path)), rng)
    return page.image, page.boxes, page.texts, page.name


def page_tab(recognizer, model_error: str | None) -> None:
    """A paragraph or page: the lines found, outlined and numbered, each line's reading and heatmap."""
    source = st.radio("Page to read", ["Data set page", "Upload"], horizontal=True, key="page_source")
    truth = None
    try:
        if source == "Data set page":
            c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
            kind = PAGE_KINDS[c1.selectbox("Page", list(PAGE_KINDS), key="page_kind")]
            path = c2.text_input("Data path", DEFAULT_DATA if kind == "form" else DEFAULT_IAM,
                                 key=f"page_path_{kind}")
            index = int(c3.number_input("Page index", min_value=0, value=0, step=1, key="page_index"))
            look = c4.selectbox("Look (pen data)", ("canvas", "paper"), key="page_look", disabled=kind != "form")
            image, boxes, texts, name = data_page(kind, str(Path(path).expanduser().resolve()), index, look)
            truth = (boxes, texts)
            st.caption(f"{name}: {len(texts)} lines, {image.shape[1]} x {image.shape[0]} px")
        else:
            image = uploaded_image("Photo or scan of a paragraph or page", "page_upload",
                                   "Upload a photo or scan of a paragraph or page of handwriting.")
            if image is None:
                return
    except HTRError as exc:
        st.error(str(exc))
        return
    c1, c2 = st.columns(2)
    decoder = c1.selectbox("Decoder", DECODERS_SHOWN, key="page_decoder")
    layout = c2.selectbox("Layout", ("auto", "page", "line"), key="page_layout",
                          help="auto: one line or many, decided from the image; page: always find lines")
    if recognizer is None:
        st.warning(model_error or "Load a model first (sidebar).")
        return
    from htr.page import draw_lines, recognize_page

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            page = recognize_page(recognizer, image, layout, decoder)
    except HTRError as exc:
        st.error(f"Cannot read this image: {exc}")
        return
    left, right = st.columns([3, 2])
    left.image(draw_lines(image, page), width="stretch", alt="the lines found, outlined and numbered")
    found = page.segmentation
    left.caption(f"{len(page.lines)} line{'s' if len(page.lines) != 1 else ''} found"
                 + (f"; skew {found.skew:+.1f}°, line pitch {found.line_height:.0f} px" if found else "")
                 + ("; read as one line" if page.layout == "line" else ""))
    right.markdown("**Recognised text**")
    right.code(page.text or " ", language=None)
    right.metric("Confidence", f"{page.confidence:.1%}")
    if truth is not None:
        from htr.metrics import error_rates
        from htr.synth.pages import match_lines

        boxes, texts = truth
        m = match_lines(boxes, [line.box for line in page.lines])
        page_cer = error_rates(["\n".join(texts)], [page.text]).cer
        right.metric("Page CER", f"{page_cer:.3f}")
        right.caption(f"lines found (IoU ≥ 0.5): {m.matched} of {m.truth}; split {m.split}, merged {m.merged}")
    table = pd.DataFrame({
        "line": range(1, len(page.lines) + 1),
        "text": [line.text for line in page.lines],
        "confidence": [round(float(line.confidence), 4) for line in page.lines],
        "box (x, y, w, h)": [", ".join(str(int(round(v))) for v in line.box) for line in page.lines],
    })
    st.dataframe(table, hide_index=True, key="page_lines")
    st.markdown("**Each line as the network saw it, over its CTC probabilities**")
    for number, line in enumerate(page.lines, start=1):
        r = line.recognition
        with st.expander(f"Line {number}: {line.text}", expanded=number == 1):
            st.image(heatmap_png(r.probabilities.astype(np.float32), r.image.astype(np.float32), tuple(r.labels),
                                 int(r.time_stride)), width="stretch", alt=f"heatmap of line {number}")
            st.caption(f"line {number}: T x C = {r.probabilities.shape[0]} x {r.probabilities.shape[1]}")


# --- Validate -----------------------------------------------------------------------------


def validate_tab(recognizer, key, model_error: str | None) -> None:
    with st.form("validate_form"):
        c1, c2, c3, c4 = st.columns([1, 2, 1, 1])
        dataset = c1.selectbox("Data set", DATASETS, key="val_dataset")
        path = c2.text_input("Data path", DEFAULT_DATA, key="val_path")
        split = c3.text_input("Split", "validation", key="val_split")
        look = c4.selectbox("Look (pen data)", LOOKS, key="val_look")
        c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
        decoders = c1.multiselect("Decoders", DECODERS_SHOWN, default=["best", "lm"], key="val_decoders")
        beam_width = int(c2.number_input("Beam width", 1, 64, 16, key="val_beam"))
        limit = int(c3.number_input("Line limit (0 = all)", 0, 100_000, 50, key="val_limit"))
        worst_n = int(c4.number_input("Worst lines shown", 0, 50, 8, key="val_worst"))
        submitted = st.form_submit_button("Run validation")
    if submitted:
        st.session_state["val_request"] = (dataset, path, split, look, tuple(decoders), beam_width, limit)
    request = st.session_state.get("val_request")
    if request is None:
        st.info("Choose a data set split and press *Run validation*. Results are kept, so running the same "
                "validation again (or after a reload) is instant.")
        return
    if recognizer is None:
        st.warning(model_error or "Load a model first (sidebar).")
        return
    dataset, path, split, look, decoders, beam_width, limit = request
    if not decoders:
        st.error("Choose at least one decoder.")
        return
    resolved = str(Path(path).expanduser().resolve())
    results = {}
    try:
        for decoder in decoders:
            results[decoder] = validation_result(key, dataset, resolved, split, limit, look, decoder, beam_width)
    except HTRError as exc:
        st.error(str(exc))
        return
    except ValueError as exc:  # e.g. an unknown look for this data set
        st.error(f"Cannot validate: {exc}")
        return

    for decoder in decoders:
        if results[decoder].get("fallback"):
            st.warning(f"{decoder}: {results[decoder]['fallback']}; these are beam search's figures")
    first = results[decoders[0]]
    st.caption(f"{dataset} `{path}` split `{split}`, look {look}, {first['rates']['lines']} lines"
               f"{f' (first {limit})' if limit else ''}, {first['skipped']} skipped; model `{key[0]}`; "
               f"computed at {first['computed_at']}")
    columns = st.columns(2 * len(decoders))
    for i, decoder in enumerate(decoders):
        rates = results[decoder]["rates"]
        columns[2 * i].metric(f"CER ({decoder})", f"{rates['cer']:.4f}")
        columns[2 * i + 1].metric(f"WER ({decoder})", f"{rates['wer']:.4f}")
    summary = pd.DataFrame([{"decoder": d, **results[d]["rates"], "skipped": results[d]["skipped"]} for d in decoders])
    st.dataframe(summary, hide_index=True, key="val_summary")

    st.markdown("**Per-line CER**")
    edges = np.linspace(0, 1, 11)
    hist = {}
    for decoder in decoders:
        counts, _ = np.histogram(np.clip(results[decoder]["line_cer"], 0, 1), bins=edges)
        hist[decoder] = counts
    labels = [f"{a:.1f}-{b:.1f}" for a, b in zip(edges[:-1], edges[1:])]
    labels[-1] = "0.9-1.0+"
    st.bar_chart(pd.DataFrame(hist, index=pd.Index(labels, name="line CER")), x_label="line CER",
                 y_label="lines", stack=False)

    shown = st.selectbox("Worst lines of", decoders, key="val_worst_decoder") if len(decoders) > 1 else decoders[0]
    worst_n = int(st.session_state.get("val_worst", 8))
    result = results[shown]
    if worst_n:
        st.markdown(f"**The {min(worst_n, len(result['worst']))} worst lines ({shown})**")
    for i, picture in result["worst"][:worst_n]:
        st.markdown(f"`{result['ids'][i]}` — line CER **{result['line_cer'][i]:.3f}**")
        st.image(picture, width="content")
        st.markdown(diff_html(result["references"][i], result["predictions"][i]), unsafe_allow_html=True)
    if "best" in results and "lm" in results:
        lm_changes(results["best"], results["lm"], worst_n or 8)


def lm_changes(best: dict, lm: dict, shown: int) -> None:
    """The lines the language model reads differently from best path: how many it mends or mars."""
    changed = [i for i, (a, b) in enumerate(zip(best["predictions"], lm["predictions"])) if a != b]
    better = sum(lm["line_cer"][i] < best["line_cer"][i] for i in changed)
    worse = sum(lm["line_cer"][i] > best["line_cer"][i] for i in changed)
    st.markdown(f"**Where the language model reads differently** — {len(changed)} of {len(best['predictions'])} "
                f"lines: {better} better, {worse} worse, {len(changed) - better - worse} as good")
    for i in changed[:shown]:
        st.markdown(f"`{best['ids'][i]}` — line CER best path {best['line_cer'][i]:.3f}, "
                    f"language model {lm['line_cer'][i]:.3f}; truth: {html.escape(best['references'][i])}",
                    unsafe_allow_html=True)
        st.markdown(best_vs_lm_html(best["predictions"][i], lm["predictions"][i]), unsafe_allow_html=True)


# --- Train --------------------------------------------------------------------------------


def jobs() -> JobManager:
    return JobManager(os.environ.get("HTR_JOBS_DIR", str(ROOT / "runs")))


def train_tab(key) -> None:
    manager = jobs()
    active = manager.active()
    current = manager.current()
    default_out = str(current) if current else "runs/dashboard"
    # A reloaded page starts from the settings of the last job launched.
    last = manager.status(current).request if current else {}
    st.caption("Runs `python -m htr train` in the background; its state is read from the run folder, so "
               "closing or reloading this page does not stop it. One training job at a time.")
    c1, c2, c3 = st.columns([1, 2, 1])
    dataset = c1.selectbox("Data set", DATASETS, index=_index(DATASETS, last.get("dataset"), 0), key="train_dataset")
    data = c2.text_input("Data path", last.get("data") or DEFAULT_DATA, key="train_path")
    look = c3.selectbox("Look (pen data)", LOOKS, index=_index(LOOKS, last.get("look"), 2), key="train_look")
    c1, c2, c3, c4 = st.columns(4)
    epochs = int(c1.number_input("Epochs", 1, 1000, int(last.get("epochs") or 10), key="train_epochs"))
    batch = int(c2.number_input("Batch size", 1, 512, int(last.get("batch_size") or 32), key="train_batch"))
    limit = int(c3.number_input("Training lines (0 = all)", 0, 1_000_000, int(last.get("limit") or 0), key="train_limit"))
    val_limit = int(c4.number_input("Validation lines (0 = all)", 0, 1_000_000, int(last.get("val_limit") or 0),
                                    key="train_val_limit"))
    second = st.checkbox("Train on a second data set too (e.g. real scans beside pen data)",
                         value=len(last.get("sources") or []) > 1, key="train_two")
    sources: list[str] = []
    if second:
        d1, d2, d3 = st.columns([1, 2, 1])
        dataset2 = d1.selectbox("Second data set", DATASETS, index=_index(DATASETS, "iam", 1), key="train_dataset2")
        data2 = d2.text_input("Its path", str(ROOT.parent / "shared" / "data" / "iam"), key="train_path2")
        share2 = d3.number_input("Its share of each epoch", 0.05, 0.95, 0.5, 0.05, key="train_share2")
        s1, s2, s3 = st.columns(3)
        train2 = s1.text_input("Its training split (name or file)", "train", key="train_split2")
        val2 = s2.text_input("Its validation split (name or file)", "validation", key="train_val2")
        epoch_lines = int(s3.number_input("Lines per epoch (0 = all)", 0, 1_000_000, 0, key="train_epoch_lines"))
        name1, name2 = (dataset, dataset2) if dataset != dataset2 else (f"{dataset}-1", f"{dataset2}-2")
        sources = [f"dataset={dataset},data={data},name={name1},share={1 - share2:g}",
                   f"dataset={dataset2},data={data2},train={train2},val={val2},name={name2},share={share2:g}"]
        st.caption("Each data set is validated on its own every epoch; the best model has the lowest mean "
                   "of their CERs.")
    f1, f2, f3 = st.columns([2, 1, 1])
    init_from = f1.text_input("Fine-tune from a model folder (empty: train from scratch)", last.get("init_from") or "",
                              key="train_init", placeholder="e.g. model/",
                              help="start from this trained model's weights and architecture (--init-from)")
    learning_rate = f2.number_input("Learning rate", 1e-6, 1.0, float(last.get("learning_rate") or 1e-3), 1e-4,
                                    format="%.1e", key="train_lr",
                                    help="1e-3 from scratch; lower (e.g. 3e-4) to fine-tune")
    schedule = f3.selectbox("Schedule", SCHEDULES, index=_index(SCHEDULES, last.get("schedule"), 0),
                            key="train_schedule",
                            help="plateau: halve the rate when validation stalls; cosine: anneal it to 1 % "
                                 "over the epochs")
    g1, g2, g3 = st.columns([2, 1, 1])
    freeze = g1.checkbox("Freeze the convolutions (fine-tuning only)", value=bool(last.get("freeze_convolutions")),
                         key="train_freeze",
                         help="train the projection, LSTMs and output layer on the starting model's convolutions: "
                              "faster, and what the convolutions read stays as it was (--freeze-convolutions)")
    dropout = g2.number_input("Dropout (empty: the model's own)", 0.0, 0.95,
                              value=last.get("dropout"), step=0.05, key="train_dropout",
                              help="dropout after the projection and each LSTM layer (--dropout)")
    deslant = g3.number_input("Deslant (empty: the model's own)", 0.0, 1.0,
                              value=last.get("deslant"), step=0.25, key="train_deslant",
                              help="share of each line's slant taken out before the network sees it, in "
                                   "training and reading alike; 1 sets every line upright (--deslant)")
    out = st.text_input("Output model folder (the run folder)", default_out, key="train_out")
    run_dir = Path(out).expanduser().resolve() if out.strip() else None
    status = manager.status(run_dir) if run_dir else None

    b1, b2, _ = st.columns([1, 1, 3])
    start = b1.button("Start training", key="train_start", disabled=active is not None, type="primary")
    resume = b2.button("Resume", key="train_resume",
                       disabled=active is not None or status is None or not status.resumable,
                       help="continue the run in the output folder from its last completed epoch")
    if active is not None:
        st.info(f"A job is running in `{active.run_dir}`; stop it to launch another.")
    if start or resume:
        try:
            if run_dir is None:
                raise HTRError("choose an output model folder")
            base = dict(status.request) if (resume and status and status.request) else {}
            request = TrainRequest(**{**base, "dataset": base.get("dataset", dataset), "data": base.get("data", data),
                                      "model_dir": str(run_dir), "epochs": epochs,
                                      "batch_size": base.get("batch_size", batch),
                                      "limit": base.get("limit", limit or None),
                                      "val_limit": base.get("val_limit", val_limit or None),
                                      "look": base.get("look", look), "resume": bool(resume),
                                      "sources": base.get("sources", sources),
                                      "epoch_lines": base.get("epoch_lines",
                                                              (epoch_lines or None) if second else None),
                                      "init_from": base.get("init_from", init_from.strip() or None),
                                      "learning_rate": base.get("learning_rate", float(learning_rate)),
                                      "schedule": base.get("schedule", schedule),
                                      "freeze_convolutions": base.get("freeze_convolutions", bool(freeze)),
                                      "dropout": base.get("dropout", None if dropout is None else float(dropout)),
                                      "deslant": base.get("deslant", None if deslant is None else float(deslant))})
            launched = manager.launch(request)
        except HTRError as exc:
            st.error(str(exc))
        else:
            st.session_state["train_notice"] = (f"{'Resumed' if resume else 'Started'} training in "
                                                f"`{launched.run_dir}` (pid {launched.pid}).")
            st.rerun()  # drawn again at once with the job running: launching disabled
    notice = st.session_state.pop("train_notice", None)
    if notice:
        st.success(notice)

    shown = active.run_dir if active is not None else run_dir
    if shown is not None:
        job_panel(manager, shown, live=active is not None)

    history_path = Path(key[0]) / "history.csv"
    if history_path.is_file() and (shown is None or Path(key[0]) != shown):
        with st.expander(f"Training curves of the loaded model ({key[0]})"):
            show_curves(_history(Path(key[0])), "model")


def _index(options, value, default: int) -> int:
    return list(options).index(value) if value in options else default


def _history(folder: Path) -> list[dict]:
    from htr.train.loop import read_history

    try:
        return read_history(folder)
    except (OSError, ValueError, KeyError):
        return []


def show_curves(history: list[dict], key: str) -> None:
    if not history:
        st.caption("No completed epoch yet.")
        return
    frame = pd.DataFrame(history)
    frame["epoch"] = frame["epoch"].astype(int)
    frame = frame.set_index("epoch")
    c1, c2 = st.columns(2)
    c1.markdown("Training loss")
    c1.line_chart(frame[["loss"]], x_label="epoch", y_label="CTC loss")
    c2.markdown("Validation error rates")
    per_source = [c for c in frame.columns if c.startswith("val_cer_")]
    c2.line_chart(frame[["val_cer", "val_wer", *per_source]], x_label="epoch", y_label="rate")
    st.dataframe(frame.reset_index(), hide_index=True, key=f"history_{key}")


def job_panel(manager: JobManager, run_dir: Path, live: bool) -> None:
    """The run folder's job, refreshed every few seconds while it runs."""

    @st.fragment(run_every=REFRESH_SECONDS if live else None)
    def panel():
        status = manager.status(run_dir)
        st.subheader(f"Run `{run_dir}`")
        if status.running:
            planned = status.epochs_planned
            label = f"{status.state}: epoch {status.epochs_done}" + (f" of {planned}" if planned else "") + " done"
            st.progress(min(1.0, status.epochs_done / planned) if planned else 0.0, text=label)
            if st.button("Stop training", key="train_stop", disabled=status.state == STOPPING,
                         help="interrupts the run; the last completed epoch is kept and can be resumed"):
                with st.spinner("Stopping (the current epoch is abandoned) ..."):
                    status = manager.stop(run_dir)
                st.rerun()
        elif status.state == FINISHED:
            st.success(f"finished: {status.message or f'{status.epochs_done} epochs'}")
        elif status.state == STOPPED:
            if status.epochs_done:
                st.warning(f"stopped after epoch {status.epochs_done}: {status.message}")
            else:
                st.warning("stopped before its first epoch ended: there is nothing to resume; start it again")
        elif status.state == FAILED:
            st.error(f"failed: {status.message} (full log: {run_dir / 'train.log'})")
        elif not status.history:
            st.caption("No training run in this folder yet.")
        if status.command:
            st.caption(f"`{status.command_line}`")
        if status.history:
            last = status.history[-1]
            best = min(status.history, key=lambda row: row["val_cer"])
            m1, m2, m3, m4 = st.columns(4)
            planned = status.epochs_planned
            m1.metric("Epoch", f"{status.epochs_done}" + (f" / {planned}" if planned else ""))
            m2.metric("Loss", f"{last['loss']:.3f}")
            m3.metric("Validation CER", f"{last['val_cer']:.4f}")
            m4.metric(f"Best validation CER (epoch {int(best['epoch'])})", f"{best['val_cer']:.4f}")
            show_curves(status.history, "run")
        if not status.running and (run_dir / "model.weights.h5").is_file():
            model_actions(run_dir)
        if status.log_tail:
            st.markdown("Log (last lines)")
            st.code(status.log_tail, language=None)
        if live and not status.running:
            st.rerun()  # the job ended: redraw the whole tab (buttons, no more refreshing)

    panel()


def served_model_dir() -> Path:
    """The folder the app serves its model from (the app's own rule)."""
    return Path(os.environ.get("HTR_MODEL_DIR", ROOT / "model")).expanduser().resolve()


def model_actions(run_dir: Path) -> None:
    """Use a run's best model: in the Inspect and Validate tabs, or as the model the app serves."""
    from htr.train.install import install_model

    served = served_model_dir()
    in_use = Path(st.session_state.get("model_dir") or DEFAULT_MODEL).expanduser().resolve() == run_dir
    c1, c2, _ = st.columns([1, 1, 1])
    if c1.button("Use this model in Inspect and Validate", key="train_use_model", disabled=in_use,
                 help="loads this run's best model in the sidebar's model folder"):
        st.session_state["use_model"] = str(run_dir)
        st.rerun()
    if c2.button("Install as the app's model ...", key="train_install", disabled=run_dir == served,
                 help=f"copies this run's best model into {served}, the folder the demo app serves"):
        st.session_state["install_from"] = str(run_dir)
    if st.session_state.get("install_from") != str(run_dir):
        return
    st.warning(f"Replace the model in `{served}` with this run's best model? The files it replaces move to a "
               "backup folder beside it. Restart the app to serve the new model.")
    y, n, _ = st.columns([1, 1, 3])
    if n.button("Cancel", key="train_install_cancel"):
        st.session_state.pop("install_from", None)
        st.rerun()
    if y.button("Yes, install it", key="train_install_confirm", type="primary"):
        st.session_state.pop("install_from", None)
        try:
            installed = install_model(run_dir, served)
        except (HTRError, OSError) as exc:
            st.error(f"Could not install the model: {exc}")
            return
        kept = " The served language model stays, with settings tuned for the previous model." \
            if installed.kept_lm else ""
        backup = f" The replaced files are in `{installed.backup}`." if installed.backup else ""
        st.success(f"Installed `{run_dir}` as the app's model in `{served}`.{backup}{kept} Restart the app "
                   "to serve it.")


# --- page ---------------------------------------------------------------------------------


def main() -> None:
    st.set_page_config(page_title="Handwriting recognizer dashboard", page_icon="✍️", layout="wide")
    st.title("Handwriting recognizer dashboard")
    if "use_model" in st.session_state:  # "Use this model" in the Train tab, before the picker is drawn
        st.session_state["model_dir"] = st.session_state.pop("use_model")
    recognizer, key, model_error = sidebar_model()
    if model_error:
        st.error(model_error)
    inspect, pages, validate, train = st.tabs(["Inspect", "Page", "Validate", "Train"])
    with inspect:
        inspect_tab(recognizer, model_error)
    with pages:
        page_tab(recognizer, model_error)
    with validate:
        validate_tab(recognizer, key, model_error)
    with train:
        train_tab(key)


main()
