"""The dashboard's Page tab (Streamlit's AppTest): the lines of a page found and outlined, the
page read, and a heatmap for every line."""

import pytest
from conftest import ONDB, ROOT

APP = str(ROOT / "dashboard.py")


def fresh_page():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.mark.skipif(not ONDB.is_dir(), reason=f"IAM On-Line lines not found at {ONDB}")
def test_a_drawn_form_is_outlined_and_read_line_by_line(recognizer, ondb_validation, tmp_path, monkeypatch):
    import numpy as np

    from htr.page import recognize_page
    from htr.synth.pages import group_forms, render_form

    monkeypatch.setenv("HTR_JOBS_DIR", str(tmp_path / "jobs"))
    at = fresh_page()
    if at.radio(key="page_source").value != "Data set page":  # without the data sets it opens on an upload
        at.radio(key="page_source").set_value("Data set page").run()
        at.text_input(key="page_path_form").set_value(str(ONDB)).run()
    at.text_input(key="page_path_form").set_value(str(ONDB))
    at.number_input(key="page_index").set_value(1)
    at.selectbox(key="page_decoder").set_value("best").run()
    assert not at.exception and not [e.value for e in at.error]
    form = list(group_forms(ondb_validation.samples).values())[1]
    page = render_form(form, "canvas", np.random.default_rng(1))
    expected = recognize_page(recognizer, page.image, "auto", "best")
    assert len(expected.lines) == len(form)
    # the text, the lines table and one heatmap per line, each with its own matrix size
    assert any(c.value == expected.text for c in at.code)
    table = next(d.value for d in at.dataframe if "box (x, y, w, h)" in d.value.columns)
    assert list(table["text"]) == [line.text for line in expected.lines]
    captions = "\n".join(c.value for c in at.caption)
    for number, line in enumerate(expected.lines, start=1):
        steps, classes = line.recognition.probabilities.shape
        assert f"line {number}: T x C = {steps} x {classes}" in captions
    assert f"lines found (IoU ≥ 0.5): {len(form)} of {len(form)}; split 0, merged 0" in captions
    assert any(m.label == "Page CER" for m in at.metric)
    assert len(at.get("image")) >= 1 + len(form)  # the outlined page and every line's heatmap

    # a folder that is not there: a calm message saying what works instead, no traceback
    at.text_input(key="page_path_form").set_value(str(tmp_path / "nowhere")).run()
    assert any("No IAM On-Line data set" in i.value and "Upload a page" in i.value for i in at.info)
    assert not at.exception and not at.error
