"""Adapting to one writer, for real but tiny: the folder it writes loads everywhere, and an
interrupted adaptation leaves nothing behind."""

import json
from pathlib import Path

import pytest
from conftest import WRITER_LINES
from conftest import WRITER_TEXTS as TEXTS

from htr.config import ModelConfig
from htr.train.adapt import Adapted, AdaptSettings, adapt, read_labels, write_model

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
# The quickest adaptation that still trains: one epoch of one rendering per line.
# Four lines are too few for the default two folds of four: one held-out share checks them.
TINY = AdaptSettings(epochs=1, copies=1, batch_size=4, minutes=None, holdout=0.25)
# Four lines in two folds of two: the least that shows the cross-validated way.
TINY_FOLDS = {"copies": 1, "batch_size": 4, "minutes": None, "folds": 2, "min_fold_lines": 2}


@pytest.fixture(scope="module")
def lines():
    rows = "\n".join(f"{WRITER_LINES / (line_id + '.png')}\t{text}" for line_id, text in TEXTS.items())
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        labels = Path(tmp) / "labels.tsv"
        labels.write_text(rows + "\n")
        return read_labels(labels, ModelConfig.load(ROOT / "model"))


@pytest.fixture(scope="module")
def adapted(lines, tmp_path_factory):
    out = tmp_path_factory.mktemp("adapt") / "mine"
    result = adapt(lines, ROOT / "model", out, TINY, log=lambda *_: None, source="four fixture lines")
    return out, result


def test_adapted_folder_is_complete_and_says_what_it_is(adapted):
    out, result = adapted
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.weights.h5", "model.onnx", "model.onnx.json", "lm", "confidence.json",
            "metadata.json"} <= names
    base = json.loads((ROOT / "model" / "config.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert config["lm"] == base["lm"] and config["charset"] == base["charset"]
    meta = json.loads((out / "metadata.json").read_text())["adapted"]
    assert meta["from"] == str((ROOT / "model").resolve())
    named = sorted(name for line in meta["train_lines"] + meta["heldout_lines"] for name in TEXTS if name in line)
    assert named == sorted(TEXTS)
    assert len(meta["train_lines"]) == 3 and len(meta["heldout_lines"]) == 1 and meta["folds"] == 0
    assert meta["heldout_cer_before"] == round(result.cer_before, 5)
    assert meta["heldout_cer_after"] <= meta["heldout_cer_before"]  # the guard: never worse on the held-out share
    assert meta["lines_from"] == "four fixture lines"
    assert not list(out.parent.glob(".mine.adapting-*"))


def test_cross_validated_adaptation_reads_every_line_once_then_adapts_on_all(lines, tmp_path):
    settings = AdaptSettings(epochs=2, guard=False, **TINY_FOLDS)
    result = adapt(lines, ROOT / "model", tmp_path / "mine", settings, log=lambda *_: None)
    meta = json.loads((tmp_path / "mine" / "metadata.json").read_text())["adapted"]
    assert sorted(meta["heldout_lines"]) == sorted(meta["train_lines"]) == sorted(l.id for l in lines)
    assert [h["epoch"] for h in meta["history"]] == [0, 1, 2]
    # every line read once by the base model and after each epoch by a model that did not see it
    from htr.text import normalize_for_scoring

    assert {h["cv_chars"] for h in meta["history"]} == {sum(len(normalize_for_scoring(t)) for t in TEXTS.values())}
    assert result.best_epoch in (1, 2) and not result.kept_base and meta["folds"] == 2


def test_cross_validated_guard_keeps_the_base_model_when_adapting_reads_worse(lines, tmp_path):
    """A learning rate far too high wrecks the network on the other folds' lines: the guard sees it."""
    import numpy as np

    settings = AdaptSettings(epochs=1, learning_rate=0.5, **TINY_FOLDS)
    result = adapt(lines, ROOT / "model", tmp_path / "mine", settings, log=lambda *_: None)
    assert result.kept_base and result.best_epoch == 0
    assert result.history[1]["cv_char_errors"] > result.history[0]["cv_char_errors"]
    from htr.network import build_model

    config = ModelConfig.load(ROOT / "model")
    base, kept = build_model(config), build_model(config)
    base.load_weights(ROOT / "model" / "model.weights.h5")
    kept.load_weights(tmp_path / "mine" / "model.weights.h5")
    assert all(np.array_equal(a, b) for a, b in zip(base.get_weights(), kept.get_weights()))


def test_adapted_folder_loads_in_the_cli_and_the_app(adapted, capsys):
    from htr.cli import main
    from htr.recognizer import Recognizer
    from htr.train.teach import PersonalModels

    out, _ = adapted
    recognizer = Recognizer.load(out)
    assert recognizer.runtime == "onnx" and recognizer.lm is not None
    line = WRITER_LINES / "a03-011-05.png"
    assert main(["predict", str(line), "--model-dir", str(out), "--decoder", "best", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["text"] == recognizer.recognize(line).text
    models = PersonalModels()
    info = models.set("session", out)
    assert info["train_lines"] and models.recognizer("session") is not None


def test_interrupted_adaptation_leaves_no_folder(lines, tmp_path, monkeypatch):
    out = tmp_path / "mine"

    def interrupt(fraction, stage):
        if stage == "adapting":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        adapt(lines, ROOT / "model", out, TINY, log=lambda *_: None, on_progress=interrupt)
    assert list(tmp_path.iterdir()) == []

    # Ctrl-C while the folder is being written: the part written so far goes too.
    def interrupted(weights, config, folder):
        (folder / "model.weights.h5").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr("htr.train.loop.export_weights", interrupted)
    result = Adapted(out, "model", [], [], 0.1, 0.1, True, 0, 1, 1.0)
    with pytest.raises(KeyboardInterrupt):
        write_model([], ModelConfig.load(ROOT / "model"), ROOT / "model", out, result, TINY)
    assert list(tmp_path.iterdir()) == []


def test_teach_in_the_app_then_read_with_the_personal_model_and_switch_back(monkeypatch, tmp_path):
    from functools import partial

    import gradio as gr

    import app
    from app_glue import SESSION
    from htr.ink import load_ink
    from htr.train.teach import adapt_lines

    monkeypatch.setattr(app, "adapt_lines", partial(adapt_lines, settings=TINY))
    monkeypatch.setattr(app, "PERSONAL_DIR", tmp_path)
    ink = sorted((FIXTURES / "iam-ondb" / "lineStrokes").rglob("*.xml"))
    lines, index = [], 0
    for path in ink[:4]:
        drawing = json.dumps({"strokes": [s.tolist() for s in load_ink(path)]})
        lines, index, prompt, text, photo, count = app.teach_add(drawing, None, f"line {path.stem[-2:]}", lines,
                                                                 index)
    assert len(lines) == 4 and index == 4 and "4 lines" in count and prompt.endswith(app.PROMPTS[4])
    # Nothing written: nothing added, the prompt stays.
    same = app.teach_add('{"strokes": []}', None, "a line", lines, index)
    assert len(same[0]) == 4 and same[1] == 4

    status, download, switch = app.teach_adapt(lines, progress=lambda *a, **k: None)
    assert "personal model is ready" in status, status
    assert download["visible"] and Path(download["value"]).suffix == ".zip"
    assert switch["value"] == app.MY_MODEL
    base = app._recognizer or app.get_recognizer()
    token = SESSION.set("local")
    try:
        assert app.get_recognizer() is not base
        assert "base" in app.choose_model(app.BASE_MODEL)
        assert app.get_recognizer() is base
        app.choose_model(app.MY_MODEL)
        assert app.get_recognizer() is not base
    finally:
        SESSION.reset(token)
    assert app.get_recognizer() is base  # other sessions read with the base model

    # The downloaded .zip loads again.
    status, _, switch = app.teach_load(download["value"])
    assert "Loaded your personal model" in status and switch["value"] == app.MY_MODEL
    # /adapt says what is wrong with its input.
    with pytest.raises(gr.Error, match="at least 3"):
        app.adapt_api(json.dumps({"lines": [{"text": "a", "strokes": [[[0, 0], [5, 9]]]}]}))
    with pytest.raises(gr.Error, match="expected"):
        app.adapt_api("not json")
