"""The Validate tab: a model scored on a data set split exactly as ``python -m htr validate`` scores
it (:func:`htr.train.evaluate.evaluate_recognizer`): CER and WER per decoder, the spread of per-line
CER, the worst lines with their errors marked."""

from __future__ import annotations

import html
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st

from dashboard_pages.common import (
    DATA_PATH_PLACEHOLDER,
    DATASETS_SHOWN,
    DECODERS_SHOWN,
    FORMAT_LINE,
    LOOKS,
    best_vs_lm_html,
    data_set_folder,
    data_sets_note,
    diff_html,
    ink_picture,
    recognizer_for,
)
from htr.decode import BEAM_WIDTH
from htr.errors import HTRError

if TYPE_CHECKING:
    from htr.recognizer import Recognizer


@dataclass
class DecoderResult:
    """One decoder's figures on a split and every line's reading, as plain data Streamlit can cache."""

    decoder: str  # the one asked for
    used: str  # the one that read (lm without a language model: beam)
    fallback: str | None  # why they differ
    rates: dict  # ErrorRates.as_dict(): cer, wer, the counts, lines
    skipped: int
    skipped_reasons: dict[str, int]
    ids: list[str]
    references: list[str]
    predictions: list[str]
    line_cer: list[float]
    worst: list[tuple[int, np.ndarray]] = field(default_factory=list)  # (line, its ink map), worst first
    computed_at: str = ""
    confidences: list[float] = field(default_factory=list)  # each line's confidence (htr.confidence)


@st.cache_resource(max_entries=2, show_spinner=False)
def prepared_lines(dataset: str, path: str, split: str, limit: int, look: str, charset: str, height: int,
                   max_width: int, stride: int, deslant: float = 0.0):
    """The network inputs of a split exactly as ``python -m htr validate`` prepares them
    (:func:`htr.train.evaluate.prepare_part`), and the lines skipped, by reason."""
    from htr.train.evaluate import load_lines, prepare_part

    lines = load_lines(dataset, path, split, charset, "all", limit or None)  # a fresh copy: preparing trims it
    prepared = prepare_part(lines, height, max_width, look, "all", limit or None, min_stride=stride,
                            deslant=deslant)
    return prepared, dict(lines.skipped)


@st.cache_data(max_entries=32, show_spinner=False)
def validation_result(model: tuple[str, int, int], dataset: str, path: str, split: str, limit: int, look: str,
                      decoder: str, beam_width: int, keep_worst: int = 50) -> DecoderResult:
    """Score one decoder on a split; cached per model (folder + mtimes), data, look and decoder.

    The progress bar is made here (not passed in) so that Streamlit can replay a cached call.
    """
    slot = st.empty()

    def report(done: int, total: int, stage: str) -> None:
        share = done / max(1, total)
        fraction = 0.1 + 0.45 * share + (0.45 if stage == "decoding" else 0.0)
        slot.progress(min(1.0, fraction), text=f"{decoder}: {stage} {done}/{total} lines")

    try:
        slot.progress(0.02, text=f"{decoder}: preparing the lines of {dataset} {split} ...")
        return _validate(model, dataset, path, split, limit, look, decoder, beam_width, keep_worst, report)
    finally:
        slot.empty()


def _validate(model: tuple[str, int, int], dataset: str, path: str, split: str, limit: int, look: str,
              decoder: str, beam_width: int, keep_worst: int, report) -> DecoderResult:
    """The figures, readings and worst lines of one decoder."""
    from htr.metrics import line_cer
    from htr.train.evaluate import evaluate_recognizer

    recognizer = recognizer_for(model)
    config = recognizer.config
    prepared, skipped = prepared_lines(dataset, path, split, limit, look, config.charset, config.height,
                                       config.max_width, config.time_stride, config.deslant)
    if not prepared.images:
        raise HTRError(f"{dataset} split {split!r} in {path} has no usable lines")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lm without a language model: beam search, said below
        result = evaluate_recognizer(recognizer, prepared.images, prepared.texts, prepared.ids, decoder,
                                     beam_width, on_progress=report, confidence=True)
    cers = [line_cer(t, p) for t, p in zip(result.references, result.predictions)]
    worst = sorted(range(len(cers)), key=lambda i: (-cers[i], i))[:keep_worst]
    return DecoderResult(
        decoder=decoder,
        used=result.decoder,
        fallback=None if result.decoder == decoder else recognizer.lm_error,
        rates=result.rates.as_dict(),
        skipped=sum(skipped.values()),
        skipped_reasons=skipped,
        ids=result.ids,
        references=result.references,
        predictions=result.predictions,
        line_cer=cers,
        worst=[(i, ink_picture(prepared.images[i])) for i in worst],
        computed_at=time.strftime("%H:%M:%S"),
        confidences=result.confidences,
    )


def validate_tab(recognizer: Recognizer | None, key: tuple[str, int, int], model_error: str | None) -> None:
    """The chosen split scored per decoder; the request is kept so a rerun or reload shows it again."""
    with st.form("validate_form"):
        c1, c2, c3, c4 = st.columns([1, 2, 1, 1])
        dataset = c1.selectbox("Data set", DATASETS_SHOWN, key="val_dataset",
                               help=f"folder: {FORMAT_LINE}; iam-ondb, iam: the IAM data sets as distributed")
        path = c2.text_input("Data path", key="val_path", placeholder=DATA_PATH_PLACEHOLDER)
        split = c3.text_input("Split", "validation", key="val_split")
        look = c4.selectbox("Look (pen data)", LOOKS, key="val_look")
        c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
        decoders = c1.multiselect("Decoders", DECODERS_SHOWN, default=["best", "lm"], key="val_decoders")
        beam_width = int(c2.number_input("Beam width", 1, 64, BEAM_WIDTH, key="val_beam"))
        limit = int(c3.number_input("Line limit (0 = all)", 0, 100_000, 50, key="val_limit"))
        worst_n = int(c4.number_input("Worst lines shown", 0, 50, 8, key="val_worst"))
        st.caption(data_sets_note())
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
    typed, path = path.strip(), data_set_folder(dataset, path)
    if not path:
        st.info(f"Enter the folder of your lines under *Data path*: {FORMAT_LINE}.")
        return
    if not typed and not Path(path).expanduser().exists():
        st.info(f"The {dataset} data set is not in `{path}`: set HTR_DATA to the folder holding iam-ondb/ and "
                "iam/, or score a folder of your own lines.")
        return
    resolved = str(Path(path).expanduser().resolve())
    if dataset == "folder":
        from htr.datasets.folder import scoring_split

        split, note = scoring_split(resolved, split)
        if note:
            st.info(note)
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
        if results[decoder].fallback:
            st.warning(f"{decoder}: {results[decoder].fallback}; these are beam search's figures")
    first = results[decoders[0]]
    st.caption(f"{dataset} `{path}` split `{split}`, look {look}, {first.rates['lines']} lines"
               f"{f' (first {limit})' if limit else ''}, {first.skipped} skipped; model `{key[0]}`; "
               f"computed at {first.computed_at}")
    columns = st.columns(2 * len(decoders))
    for i, decoder in enumerate(decoders):
        rates = results[decoder].rates
        columns[2 * i].metric(f"CER ({decoder})", f"{rates['cer']:.4f}")
        columns[2 * i + 1].metric(f"WER ({decoder})", f"{rates['wer']:.4f}")
    summary = pd.DataFrame([{"decoder": d, **results[d].rates, "skipped": results[d].skipped} for d in decoders])
    st.dataframe(summary, hide_index=True, key="val_summary")

    st.markdown("**Per-line CER**")
    edges = np.linspace(0, 1, 11)
    hist = {}
    for decoder in decoders:
        counts, _ = np.histogram(np.clip(results[decoder].line_cer, 0, 1), bins=edges)
        hist[decoder] = counts
    labels = [f"{a:.1f}-{b:.1f}" for a, b in zip(edges[:-1], edges[1:])]
    labels[-1] = "0.9-1.0+"
    st.bar_chart(pd.DataFrame(hist, index=pd.Index(labels, name="line CER")), x_label="line CER",
                 y_label="lines", stack=False)

    confidence_charts(results, decoders)

    shown = st.selectbox("Worst lines of", decoders, key="val_worst_decoder") if len(decoders) > 1 else decoders[0]
    worst_n = int(st.session_state.get("val_worst", 8))
    result = results[shown]
    if worst_n:
        st.markdown(f"**The {min(worst_n, len(result.worst))} worst lines ({shown})**")
    for i, picture in result.worst[:worst_n]:
        st.markdown(f"`{result.ids[i]}` — line CER **{result.line_cer[i]:.3f}**")
        st.image(picture, width="content")
        st.markdown(diff_html(result.references[i], result.predictions[i]), unsafe_allow_html=True)
    if "best" in results and "lm" in results:
        lm_changes(results["best"], results["lm"], worst_n or 8)


def confidence_charts(results: dict[str, DecoderResult], decoders: list[str]) -> None:
    """Does the confidence flag what to check? Character errors left after checking the least
    confident lines first (against checking in any order), and confidence against share exact."""
    from htr.confidence import REVIEW_THRESHOLD, confidence_report

    reports = {d: confidence_report(results[d].references, results[d].predictions, results[d].confidences)
               for d in decoders if results[d].confidences}
    if not reports:
        return
    st.markdown("**Confidence: which lines to check** (a line's confidence is its chance of being read exactly)")
    st.dataframe(pd.DataFrame([{"decoder": d, "lines exact": f"{r.exact:.1%}", "AUROC exact vs wrong": round(r.auroc, 3),
                                "errors in the 30 % least confident": f"{r.errors_in_lowest_30:.1%}",
                                "calibration error (ECE)": round(r.ece, 3),
                                f"needs review (< {REVIEW_THRESHOLD})": f"{r.flagged:.1%}",
                                "errors on them": f"{r.errors_flagged:.1%}"} for d, r in reports.items()]),
                 hide_index=True, key="val_confidence")
    left, right = st.columns(2)
    risk = pd.DataFrame({f"by confidence ({d})": pd.Series(r.risk.errors_left, index=r.risk.checked)
                         for d, r in reports.items()})
    risk["in any order"] = 1.0 - risk.index.to_numpy()
    risk.index.name = "share of lines checked"
    left.line_chart(risk, x_label="share of lines checked, least confident first",
                    y_label="share of character errors left")
    bins = pd.concat([pd.DataFrame({"line confidence": r.reliability.confidence, "share exact": r.reliability.accuracy,
                                    "decoder": d}) for d, r in reports.items()])
    ideal = pd.DataFrame({"line confidence": [0.0, 1.0], "share exact": [0.0, 1.0], "decoder": "ideal"})
    right.line_chart(pd.concat([bins, ideal]), x="line confidence", y="share exact", color="decoder",
                     x_label="line confidence (bins of 0.1)", y_label="share of lines exact")


def lm_changes(best: DecoderResult, lm: DecoderResult, shown: int) -> None:
    """The lines the language model reads differently from best path: how many it mends or mars."""
    changed = [i for i, (a, b) in enumerate(zip(best.predictions, lm.predictions)) if a != b]
    better = sum(lm.line_cer[i] < best.line_cer[i] for i in changed)
    worse = sum(lm.line_cer[i] > best.line_cer[i] for i in changed)
    st.markdown(f"**Where the language model reads differently** — {len(changed)} of {len(best.predictions)} "
                f"lines: {better} better, {worse} worse, {len(changed) - better - worse} as good")
    for i in changed[:shown]:
        st.markdown(f"`{best.ids[i]}` — line CER best path {best.line_cer[i]:.3f}, "
                    f"language model {lm.line_cer[i]:.3f}; truth: {html.escape(best.references[i])}",
                    unsafe_allow_html=True)
        st.markdown(best_vs_lm_html(best.predictions[i], lm.predictions[i]), unsafe_allow_html=True)
