"""The Page tab: a paragraph or page (a test page made from a data set, or an upload): the lines
found, outlined and numbered on it, the text, and each line's reading with its heatmap."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st

from dashboard_pages.common import (
    DECODERS_SHOWN,
    default_data,
    default_iam,
    heatmap_picture,
    load_lines,
    uploaded_image,
)
from htr.errors import HTRError

if TYPE_CHECKING:
    from htr.recognizer import Recognizer

PAGE_KINDS = {"IAM On-Line form, drawn whole": "form", "IAM dev lines, stacked": "stacked"}


@st.cache_data(max_entries=8, show_spinner="Making the page...")
def data_page(kind: str, path: str, index: int, look: str) -> tuple[np.ndarray, list, list[str], str]:
    """A test page made by :mod:`htr.synth.pages` from a data set, as its benchmarks make them
    (the image, its lines' truth boxes and texts, its name)."""
    from htr.synth.pages import form_pages, group_forms, stacked_pages

    if kind == "form":
        samples = load_lines("iam-ondb", path, "validation").samples
        pages = form_pages(samples, 1, (look,), first=index)
        if not pages:
            forms = len(group_forms(samples))
            raise HTRError(f"page index {index} is out of range: {forms} pages (0 to {forms - 1})" if forms
                           else f"no pages can be made from {path}")
    else:
        samples = load_lines("iam", path, str(Path(path) / "splits" / "available-dev.txt")).samples
        pages = stacked_pages(samples, Path(path), 1, first=index)  # (forms reused past the last, new spacing)
        if not pages:
            raise HTRError(f"no pages can be made from {path}")
    page = pages[0]
    return page.image, page.boxes, page.texts, page.name


def page_tab(recognizer: Recognizer | None, model_error: str | None) -> None:
    """A paragraph or page: the lines found, outlined and numbered, each line's reading and heatmap."""
    have_data = Path(default_data()).is_dir()  # without the data sets the tab opens on an upload
    source = st.radio("Page to read", ["Data set page", "Upload"], index=0 if have_data else 1, horizontal=True,
                      key="page_source")
    if not have_data:
        st.caption(f"No data sets in `{Path(default_data()).parent}` (set HTR_DATA to the folder holding "
                   "iam-ondb/ and iam/), so pages come from uploads.")
    truth = None
    try:
        if source == "Data set page":
            c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
            kind = PAGE_KINDS[c1.selectbox("Page", list(PAGE_KINDS), key="page_kind")]
            path = c2.text_input("Data path", default_data() if kind == "form" else default_iam(),
                                 key=f"page_path_{kind}")
            index = int(c3.number_input("Page index", min_value=0, value=0, step=1, key="page_index"))
            look = c4.selectbox("Look (pen data)", ("canvas", "paper"), key="page_look", disabled=kind != "form")
            if not Path(path).expanduser().is_dir():  # no data sets here: say what works instead
                st.info(f"No {'IAM On-Line' if kind == 'form' else 'IAM'} data set in `{path}` (set HTR_DATA to the "
                        "folder holding iam-ondb/ and iam/): test pages are made from it. Upload a page instead.")
                return
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
            st.image(heatmap_picture(r.probabilities.astype(np.float32), r.image.astype(np.float32),
                                     tuple(r.labels), int(r.time_stride)),
                     width="stretch", output_format="PNG", alt=f"heatmap of line {number}")
            st.caption(f"line {number}: T x C = {r.probabilities.shape[0]} x {r.probabilities.shape[1]}")

