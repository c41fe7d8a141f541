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

Each tab is a module of ``dashboard_pages/`` that lays out its widgets and calls ``htr``.

Environment (see :mod:`htr.paths`): ``HTR_MODEL_DIR`` (default model folder, ``model/``),
``HTR_DATA`` (the folder holding the data sets ``iam-ondb/`` and ``iam/``; without them the
dashboard still opens, reading examples and uploads), ``HTR_JOBS_DIR`` (where the running job
is remembered, ``runs/``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from htr.tf_env import configure_tensorflow

configure_tensorflow()

import streamlit as st  # noqa: E402

from dashboard_pages.common import default_model, model_key, recognizer_for  # noqa: E402
from dashboard_pages.inspect_tab import inspect_tab  # noqa: E402
from dashboard_pages.page_tab import page_tab  # noqa: E402
from dashboard_pages.train_tab import train_tab  # noqa: E402
from dashboard_pages.validate_tab import validate_tab  # noqa: E402
from htr.errors import ModelLoadError  # noqa: E402

if TYPE_CHECKING:
    from htr.recognizer import Recognizer

# --- sidebar: the model -------------------------------------------------------------------


def sidebar_model() -> tuple[Recognizer | None, tuple[str, int, int], str | None]:
    """The model folder picker; returns (recognizer or None, key, error message or None)."""
    st.sidebar.header("Model")
    st.session_state.setdefault("model_dir", default_model())  # (the Train tab's "Use this model" sets it too)
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
    """A model folder's metadata.json, or {} when it has none (a model made elsewhere)."""
    import json

    try:
        data = json.loads((folder / "metadata.json").read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


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
