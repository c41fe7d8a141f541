"""What the dashboard's tabs share: defaults, the cached model and data, pictures and text marking."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from htr.datasets import DATASETS
from htr.datasets.folder import FORMAT_LINE
from htr.decode import DECODERS
from htr.errors import BadImageError
from htr.imageio import decode_image
from htr.paths import SOURCE_ROOT, default_model_dir, iam_dir, iam_ondb_dir

if TYPE_CHECKING:
    from htr.recognizer import Recognizer

ROOT = SOURCE_ROOT
ASSETS = ROOT / "assets"
UPLOAD_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff", "webp"]  # the formats htr.imageio reads


def default_model() -> str:
    """The model folder the sidebar starts from (``HTR_MODEL_DIR``, read at each run of the page)."""
    return str(default_model_dir())


def default_data() -> str:
    """The IAM On-Line folder the tabs offer (``HTR_DATA``: the folder holding iam-ondb/ and iam/)."""
    return str(iam_ondb_dir())


def default_iam() -> str:
    """The IAM (scanned lines) folder the Page tab offers for stacked pages."""
    return str(iam_dir())


DEFAULT_MODEL = default_model()  # as when the dashboard started (the Train tab's defaults)
DEFAULT_DATA = default_data()
# Validate and Train start from the user's own lines; the IAM data sets are offered beside them.
DATASETS_SHOWN = ("folder",) + tuple(d for d in DATASETS if d != "folder")
FORMAT_DOCS = "docs/training.md, section *Your own lines*"
DATA_PATH_PLACEHOLDER = "your folder with labels.tsv (empty for an IAM data set: its folder in HTR_DATA)"


def data_set_folder(dataset: str, path: str) -> str:
    """The folder to read: the one typed, else an IAM data set's own folder in ``HTR_DATA``
    (a folder of one's own lines has no default: empty stays empty)."""
    if path.strip():
        return path.strip()
    return {"iam-ondb": default_data(), "iam": default_iam()}.get(dataset, "")


def data_sets_note() -> str:
    """One line under a data set choice: the folder format, and the IAM data sets found."""
    found = [name for name in ("iam-ondb", "iam") if Path(data_set_folder(name, "")).is_dir()]
    line = f"Your own lines: {FORMAT_LINE}; the format: {FORMAT_DOCS}."
    if found:
        line += (f" Found in `{Path(default_data()).parent}`: {', '.join(found)} — choose it as the data set "
                 "and leave the path empty.")
    return line
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


def recognizer_for(key: tuple[str, int, int]) -> Recognizer:
    """The model of a :func:`model_key`, loaded once (the mtimes, passed under plain names, are hashed)."""
    return _load(*key)


@st.cache_resource(max_entries=3, show_spinner="Loading the model ...")
def _load(folder: str, weights_mtime: int, config_mtime: int) -> Recognizer:
    from htr import Recognizer

    return Recognizer.load(folder)


@st.cache_resource(max_entries=4, show_spinner="Reading the data set ...")
def load_lines(dataset: str, path: str, split: str):
    """A split's samples (unfiltered), kept in memory: reading IAM On-Line takes seconds."""
    from htr.datasets import load_dataset

    return load_dataset(dataset, path, split)


# --- pictures -----------------------------------------------------------------------------


@st.cache_data(max_entries=64, show_spinner=False)
def heatmap_picture(probabilities: np.ndarray, image: np.ndarray, labels: tuple[str, ...], stride: int,
                    all_rows: bool = False) -> np.ndarray:
    """The ink map over its C x T probability heatmap (pixel-aligned), best path marked, RGB
    (shown with ``output_format="PNG"``: JPEG would blur the thin rows)."""
    from htr.heatmap import render_heatmap

    return render_heatmap(probabilities, image, labels, stride, rows="all" if all_rows else "active",
                          mark_best_path=True)


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

