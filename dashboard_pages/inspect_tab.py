"""The Inspect tab: one line (a bundled example, a data set line or an upload) as the network sees
it, its CTC probabilities time-aligned under it, the beam alternatives and the confidence."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st

from dashboard_pages.common import (
    ASSETS,
    DECODERS_SHOWN,
    best_vs_lm_html,
    default_data,
    diff_html,
    heatmap_picture,
    load_lines,
    uploaded_image,
)
from htr.confidence import review_note
from htr.decode import BEAM_WIDTH
from htr.datasets import DATASETS
from htr.errors import HTRError
from htr.imageio import FORMATS, MAX_BYTES, MAX_PIXELS

if TYPE_CHECKING:
    from htr.recognizer import Recognizer


def inspect_tab(recognizer: Recognizer | None, model_error: str | None) -> None:
    """One line read with the chosen decoder: what the network saw, its matrix, the alternatives."""
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
            path = c2.text_input("Data path", default_data(), key="inspect_path")
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
    beam_width = int(c2.number_input("Beam width", 1, 64, BEAM_WIDTH, key="inspect_beam"))
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
    right.metric("Confidence", f"{result.confidence:.1%}", help="the chance that the line is read exactly")
    if note := review_note(result.words):
        left.markdown(note.strip(), unsafe_allow_html=True)
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
    picture = heatmap_picture(result.probabilities.astype(np.float32), result.image.astype(np.float32),
                              tuple(result.labels), int(result.time_stride), all_rows)
    st.image(picture, width="stretch", output_format="PNG", alt="CTC probability heatmap")
    st.caption(f"T x C = {steps} x {classes} (timesteps x classes: blank + {classes - 1} characters); one "
               f"timestep per {result.time_stride}px. Rows: {'all classes' if all_rows else 'the blank and the characters that reach P ≥ 0.05'}; "
               "red dots: the best path (most likely class at each timestep); letters under the image: the characters it emits, where they fire.")

    st.markdown("**Alternatives**")
    from htr.spelling import correct as spell

    ranked = sorted(result.alternatives, key=lambda a: -a.score)
    table = pd.DataFrame({
        "rank": range(1, len(ranked) + 1),
        "text": [a.text for a in ranked],
        "combined score": [round(float(a.score), 4) for a in ranked],
        "network log-prob": [round(float(a.log_prob), 4) for a in ranked],
        "network probability": [round(a.probability, 4) for a in ranked],
        "language model": [round(float(a.score - a.log_prob), 4) for a in ranked],
        "corrected": [spell(a.text) if correct else "" for a in ranked],
    })
    if result.decoder != "lm":
        table = table.drop(columns=["network log-prob", "language model"])
    if not correct:
        table = table.drop(columns="corrected")
    st.dataframe(table, hide_index=True, key="inspect_alternatives")
    if result.decoder == "lm":
        st.caption("Ranked by combined score = network log-prob + language model (its weighted log-probability, "
                   "bonuses and the penalty for words no dictionary holds); network probability: the network's, "
                   "per character.")
    else:
        st.caption("Ranked by combined score: the network's log-probability of the whole reading; "
                   "network probability: per character.")

