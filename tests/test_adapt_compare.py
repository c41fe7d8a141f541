"""What adapting changed: the checked lines read by the base and the adapted model
(htr.train.compare), on the shipped model and a tiny adaptation of it."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from conftest import WRITER_LINES as LINES
from conftest import WRITER_TEXTS as TEXTS

from htr.config import ModelConfig
from htr.errors import DataError
from htr.train.adapt import AdaptSettings, adapt, read_labels
from htr.train.compare import changed_readings, folds_of


def labels_file(folder: Path) -> Path:
    """The four fixture lines as a labels file (absolute paths), as an adapt job is given one."""
    folder.mkdir(parents=True, exist_ok=True)
    labels = folder / "labels.tsv"
    labels.write_text("".join(f"{LINES / (name + '.png')}\t{text}\n" for name, text in TEXTS.items()))
    return labels


def readings(model: Path, labels: Path, line_id: str) -> str:
    """A line of the labels file read by ``model``, as the comparison must read it."""
    from htr import Recognizer
    from htr.train.adapt import label_rows, read_line_file

    path = {i: p for i, _, p in label_rows(labels)[0]}[line_id]
    return Recognizer.load(model).recognize(read_line_file(path)[0], decoder="best", find_paper=False).text


def test_the_same_weights_change_no_reading_and_missing_lines_are_named(tmp_path):
    labels = labels_file(tmp_path / "lines")
    same = tmp_path / "same"
    shutil.copytree(ROOT / "model", same)
    ids = [f"line {n} ({LINES / (name + '.png')})" for n, name in enumerate(TEXTS, start=1)]
    meta = {"adapted": {"from": str(ROOT / "model"), "lines_from": str(labels), "train_lines": ids[:1],
                        "heldout_lines": [*ids[1:], "line 9 (gone.png)"], "folds": 0}}
    (same / "metadata.json").write_text(json.dumps(meta))
    result = changed_readings(same)
    assert result.checked == ids[1:] and result.changed == []
    assert result.missing == [f"line 9 (gone.png): no longer in {labels}"]
    assert folds_of(meta["adapted"]) == 0 and folds_of({"settings": {"folds": 2}}) == 2

    meta["adapted"]["lines_from"] = "4 lines taught in the app"
    (same / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="are not kept"):
        changed_readings(same)
    with pytest.raises(DataError, match="no adapted model"):
        changed_readings(ROOT / "model")


@pytest.fixture(scope="module")
def adapted(tmp_path_factory):
    """A tiny adaptation from a labels file: three of the four lines checked; a high learning
    rate and no guard, so readings surely move."""
    folder = tmp_path_factory.mktemp("compare")
    labels = labels_file(folder / "lines")
    lines = read_labels(labels, ModelConfig.load(ROOT / "model"))
    settings = AdaptSettings(epochs=1, copies=4, batch_size=4, minutes=None, holdout=0.75, folds=0, guard=False,
                             learning_rate=3e-3)
    adapt(lines, ROOT / "model", folder / "mine", settings, log=lambda *_: None, source=str(labels))
    return folder / "mine", labels


def test_a_tiny_adaptation_shows_the_lines_it_reads_differently(adapted):
    out, labels = adapted
    checked = json.loads((out / "metadata.json").read_text())["adapted"]["heldout_lines"]
    assert len(checked) == 3

    result = changed_readings(out)
    assert result.checked == checked and not result.missing and result.changed
    changed = {line.id: line for line in result.changed}
    for line_id in checked:
        base, mine = readings(ROOT / "model", labels, line_id), readings(out, labels, line_id)
        if line_id in changed:
            line = changed[line_id]
            assert (line.base, line.adapted) == (base, mine) and base != mine
            assert line.text == TEXTS[Path(line_id.split("(", 1)[1].rstrip(")")).stem]
            assert line.base_heatmap.ndim == 3 and line.base_heatmap.dtype == np.uint8
            assert not np.array_equal(line.base_heatmap, line.adapted_heatmap)
        else:
            assert base == mine  # left out: read the same by both


def test_the_dashboard_shows_both_readings_of_each_changed_line(adapted, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from dashboard_pages.common import diff_html

    monkeypatch.setenv("HTR_JOBS_DIR", str(tmp_path / "jobs"))
    out, _ = adapted
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=180)
    at.run()
    at.text_input(key="adapt_out").set_value(str(out)).run()
    assert not at.exception and not any("read differently" in m.value for m in at.markdown)  # asked for only
    before = len(at.get("image"))
    at.toggle(key="adapt_compare").set_value(True).run()
    assert not at.exception, at.exception
    result = changed_readings(out)
    shown = [m.value for m in at.markdown]
    assert any(f"{len(result.changed)} of 3 checked lines read differently" in m for m in shown), shown
    for line in result.changed:
        assert any(line.id in m for m in shown)
        assert diff_html(line.text, line.base) in shown and diff_html(line.text, line.adapted) in shown
    assert len(at.get("image")) == before + 2 * len(result.changed)  # each changed line's two heatmaps
