"""Adapting to one writer: what bad input is told (no training here; see test_adapt_training.py)."""

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from htr.config import ModelConfig
from htr.train.teach import PersonalModels, TaughtLine, load_prompts, unzip_model, write_lines, zip_model
from htr.train.adapt import MIN_LINES, AdaptInputError, check_output, read_labels, split_lines

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
IAM_LINES = sorted((FIXTURES / "iam" / "lines").rglob("*.png"))
ONDB_LINES = sorted((FIXTURES / "iam-ondb" / "lineStrokes").rglob("*.xml"))
TEXTS = {
    "a01-011-00": "Delegates from Mr. Kenneth Kaunda's United National Independence",
    "a01-011-02": "National Congress (400,000) will meet in London today",
    "a01-011-03": "to discuss a common course of action. Sir Roy is",
    "a03-011-00": "But he now feels, in view of a changed international",
}


@pytest.fixture(scope="module")
def config():
    return ModelConfig.load(ROOT / "model")


def labels_file(folder: Path, rows: list[tuple[Path | str, str]]) -> Path:
    """A labels.tsv in ``folder`` with the given files copied beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for source, text in rows:
        source = Path(source)
        if source.is_file() and source.parent != folder:
            shutil.copy(source, folder / source.name)
        out.append(f"{source.name}\t{text}")
    path = folder / "labels.tsv"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def iam(line_id: str) -> Path:
    return next(p for p in IAM_LINES if p.stem == line_id)


def good_rows() -> list[tuple[Path, str]]:
    return [(iam(line_id), text) for line_id, text in TEXTS.items()]


def test_good_lines_of_every_kind_are_read(tmp_path, config):
    drawing = tmp_path / "drawn.json"
    from htr.ink import load_ink

    strokes = load_ink(ONDB_LINES[0])
    drawing.write_text(json.dumps({"seq": 3, "pen": 4, "strokes": [s.tolist() for s in strokes]}))
    labels = labels_file(tmp_path, [*good_rows(), (ONDB_LINES[1], "an ink line"), (drawing, "a drawn line")])
    lines = read_labels(labels, config)
    assert [l.text for l in lines][-2:] == ["an ink line", "a drawn line"]
    assert lines[0].strokes is None and lines[-1].strokes is not None and lines[-2].strokes is not None
    assert all(l.image.size for l in lines)


def test_fewer_than_three_lines_is_refused(tmp_path, config):
    labels = labels_file(tmp_path, good_rows()[:2])
    with pytest.raises(AdaptInputError, match=f"at least {MIN_LINES}"):
        read_labels(labels, config)


def test_every_problem_is_listed_at_once(tmp_path, config):
    (tmp_path / "broken.png").write_bytes(b"not an image at all")
    blank = tmp_path / "blank.png"
    from tests.conftest import write_png

    write_png(blank, np.full((60, 400), 255, np.uint8))
    rows = [
        *good_rows(),
        (iam("a01-011-00"), ""),  # empty text
        (iam("a01-011-02"), "text with a character ~ the model cannot write"),
        (iam("a01-011-03"), "x" * 400),  # far too long for its image: another line's text
        (tmp_path / "broken.png", "unreadable"),
        (blank, "nothing written"),
        (tmp_path / "missing.png", "no such file"),
    ]
    labels = labels_file(tmp_path / "set", rows)
    shutil.copy(tmp_path / "broken.png", tmp_path / "set" / "broken.png")
    shutil.copy(blank, tmp_path / "set" / "blank.png")
    with labels.open("a") as handle:
        handle.write("a row without a tab\n")
    with pytest.raises(AdaptInputError) as caught:
        read_labels(labels, config)
    problems = caught.value.problems
    message = str(caught.value)
    assert len(problems) == 7, problems
    assert "without a tab" in problems[0] and "expected 'path<TAB>text'" in problems[0]
    assert any("text is empty" in p for p in problems)
    assert any("'~'" in p for p in problems)
    assert any("too long for its image" in p for p in problems)
    assert any("broken.png" in p and "cannot be read" in p for p in problems)
    assert any("blank.png" in p and "cannot be read" in p for p in problems)
    assert any("no such file" in p for p in problems)
    assert "nothing was changed" in message


def test_an_output_folder_that_exists_is_refused(tmp_path):
    (tmp_path / "mine").mkdir()
    with pytest.raises(Exception, match="already exists"):
        check_output(tmp_path / "mine")
    assert check_output(tmp_path / "new") == tmp_path / "new"


def test_cli_says_what_is_wrong_before_any_work(tmp_path):
    labels = labels_file(tmp_path / "set", good_rows()[:2])
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")

    def run(*args):
        return subprocess.run([sys.executable, "-m", "htr", "adapt", *map(str, args)], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)

    taken = run(labels, "--model-dir", ROOT / "model", "--out", tmp_path / "taken")
    assert taken.returncode == 2 and "already exists" in taken.stderr
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"
    few = run(labels, "--model-dir", ROOT / "model", "--out", tmp_path / "out")
    assert few.returncode == 2 and "at least 3" in few.stderr
    assert not (tmp_path / "out").exists()


def test_cli_asks_for_more_lines_when_too_few_kept_the_base_model(tmp_path, monkeypatch, capsys):
    """With fewer lines than the folds need, a kept base model comes with how many to add."""
    from htr.cli import main
    from htr.train.adapt import Adapted, fewest_lines_for_folds

    labels = labels_file(tmp_path / "set", good_rows())
    kept = []

    def adapt(lines, model_dir, out, settings, log, source):  # the guard's verdict, without the training
        return Adapted(Path(out), str(model_dir), [], [], 0.1, 0.1, kept[-1], 0, 1, 1.0)

    monkeypatch.setattr("htr.train.adapt.adapt", adapt)
    missing = fewest_lines_for_folds() - len(TEXTS)
    assert missing > 0
    kept.append(True)
    assert main(["adapt", str(labels), "--out", str(tmp_path / "a")]) == 0
    assert f"with {len(TEXTS)} lines a gain cannot be told from chance: add {missing} more lines" in capsys.readouterr().err
    kept.append(False)  # adapted: nothing to ask
    assert main(["adapt", str(labels), "--out", str(tmp_path / "b")]) == 0
    assert "more lines" not in capsys.readouterr().err
    kept.append(True)  # one held-out share chosen (--folds 0): no number of lines changes the way it is checked
    assert main(["adapt", str(labels), "--out", str(tmp_path / "c"), "--folds", "0"]) == 0
    assert "more lines" not in capsys.readouterr().err


def test_held_out_share_is_fixed_and_never_empty(config):
    from htr.train.adapt import WriterLine

    lines = [WriterLine(f"line {i}", "a", np.zeros((2, 2), np.uint8)) for i in range(10)]
    train, held = split_lines(lines, 0.3)
    assert len(held) == 3 and len(train) == 7
    assert split_lines(lines, 0.3)[1] == held
    train, held = split_lines(lines[:3], 0.3)
    assert len(held) == 1 and len(train) == 2


def test_prompts_are_training_text_only():
    prompts = load_prompts()
    assert len(prompts) >= 24
    validation = (FIXTURES / "iam-ondb" / "splits" / "validation.txt").read_text()
    assert all(p and len(p) <= 40 for p in prompts)
    assert not any(p in validation for p in prompts)


def test_taught_lines_become_a_labels_file(tmp_path, config):
    from htr.ink import load_ink

    strokes = [s.tolist() for s in load_ink(ONDB_LINES[0])]
    from htr.imageio import read_image_file

    lines = [TaughtLine("a drawn line", strokes=strokes), TaughtLine("  a  photo ", image=read_image_file(iam("a01-011-00"))),
             TaughtLine("another", strokes=strokes)]
    labels = write_lines(lines, tmp_path / "taught")
    read = read_labels(labels, config)
    assert [l.text for l in read] == ["a drawn line", "a photo", "another"]


def test_a_zip_that_is_no_model_is_refused(tmp_path):
    from htr.errors import ModelLoadError

    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(ModelLoadError, match="no model folder"):
        unzip_model(bad, tmp_path / "out")
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("model.weights.h5", "")
        archive.writestr("../outside.txt", "x")
    with pytest.raises(ModelLoadError, match="outside"):
        unzip_model(evil, tmp_path / "out")
    assert not (tmp_path / "outside.txt").exists()
    (tmp_path / "text.zip").write_text("not a zip")
    with pytest.raises(ModelLoadError, match="not a .zip"):
        unzip_model(tmp_path / "text.zip", tmp_path / "out")


def test_personal_models_per_session_and_the_switch_back(tmp_path):
    archive = zip_model(ROOT / "model", tmp_path / "model.zip")
    folder = unzip_model(archive, tmp_path / "personal")
    assert (folder / "model.onnx").is_file() and (folder / "lm").is_dir()
    models = PersonalModels(size=1)
    assert models.recognizer("a") is None
    models.set("a", folder)
    personal = models.recognizer("a")
    assert personal is not None and models.folder("a") == folder
    assert models.recognizer("b") is None
    assert models.use("a", False) and models.recognizer("a") is None
    assert models.use("a", True) and models.recognizer("a") is personal
    assert not models.use("b", True)
    models.set("b", folder)  # size 1: the oldest session's model is let go
    assert models.recognizer("a") is None and models.recognizer("b") is not None


def _word(x0: float, letters: int) -> list[np.ndarray]:
    """A fake written word: one zigzag stroke per letter, touching, from x0."""
    return [np.array([[x0 + 10 * k, 0], [x0 + 10 * k + 5, 20], [x0 + 10 * k + 10, 0]], np.float32)
            for k in range(letters)]


def test_lines_are_cut_at_clear_word_gaps_only():
    from htr.train.recombine import joined_strokes, map_words, stroke_words

    strokes = _word(0, 3) + _word(60, 2) + _word(110, 4)  # gaps of 30 and 30 between words
    words = stroke_words(strokes, "the at word")
    assert [w.text for w in words] == ["the", "at", "word"]
    assert [len(w.strokes) for w in words] == [3, 2, 4]
    assert stroke_words(strokes, "two words") is None  # two spaces' worth of gaps, one space: unclear
    assert stroke_words(strokes, "one two three four") is None  # fewer gaps than spaces
    line = joined_strokes(words[::-1], np.random.default_rng(0))
    assert len(line) == 9 and np.concatenate(line)[:, 0].min() == 0
    ink = np.zeros((64, 200), np.float32)
    ink[20:40, 10:50] = ink[20:40, 80:120] = 1.0
    ink[20:40, 122:160] = 1.0  # a gap of 2 inside the second word
    assert [w.columns.shape[1] for w in map_words(ink, "ab cd")] == [40, 80]
    assert map_words(ink, "ab cd ef") is None  # the gap inside a word is no space


def test_an_adaptation_job_is_refused_before_it_starts(tmp_path):
    from htr.errors import HTRError
    from htr.train.jobs import JobManager, adapt_command, adapt_job_dir

    manager = JobManager(tmp_path / "runs")
    labels = labels_file(tmp_path / "set", good_rows())
    with pytest.raises(HTRError, match="no labels file"):
        manager.launch_adapt(tmp_path / "nothing.tsv", ROOT / "model", tmp_path / "out")
    with pytest.raises(HTRError, match="no trained model"):
        manager.launch_adapt(labels, tmp_path, tmp_path / "out")
    (tmp_path / "taken").mkdir()
    with pytest.raises(HTRError, match="already exists"):
        manager.launch_adapt(labels, ROOT / "model", tmp_path / "taken")
    assert manager.current() is None and not adapt_job_dir(tmp_path / "out").exists()
    command = adapt_command(labels, ROOT / "model", tmp_path / "out", 1.5, python="python")
    assert command[:4] == ["python", "-m", "htr", "adapt"] and command[-2:] == ["--minutes", "1.5"]


def test_folds_choose_among_the_epochs_every_fold_reached(config, monkeypatch):
    """A fold cut short by the time budget reads fewer epochs: its missing errors must not make
    the later epochs look better (here the second fold stops after epoch 1)."""
    import numpy as np

    import htr.train.adapt as adapt_module
    from htr.metrics import ErrorRates
    from htr.train.adapt import AdaptSettings, WriterLine

    from conftest import WRITER_LINES, WRITER_TEXTS
    from htr.imageio import read_image_file

    name, text = next(iter(WRITER_TEXTS.items()))
    image = read_image_file(WRITER_LINES / f"{name}.png")
    lines = [WriterLine(f"w-{i}", text, image) for i in range(8)]
    fold = {"k": -1}
    # errors read by the fold (after epoch 0, 1, 2): fold 0 improves slowly, fold 1 is cut short
    errors = {0: [10, 6, 3], 1: [10, 6]}

    class FakeModel:
        class optimizer:  # noqa: N801
            variables: list = []

        def set_weights(self, weights):
            fold["k"] += 1
            fold["epoch"] = 0

        def test_on_batch(self, x, y):
            return 1.0

    def fake_rates(engine, config, images, texts, decoder="best", lm=None):
        wrong = errors[fold["k"]][fold["epoch"]]
        return ErrorRates(0.0, 0.0, wrong, 40, 0, 8, len(texts))

    def fake_train(model, config, train, settings, started, on_epoch, report, log=None, epochs=None):
        for epoch in range(1, len(errors[fold["k"]])):
            fold["epoch"] = epoch
            on_epoch(epoch, 0.0)
        return epoch

    monkeypatch.setattr(adapt_module, "heldout_rates", fake_rates)
    monkeypatch.setattr(adapt_module, "train_epochs", fake_train)
    settings = AdaptSettings(epochs=2, folds=2, minutes=None)
    best, history, before, after = adapt_module._cross_validated(FakeModel(), config, lines, settings, [],
                                                                 lambda *_: None, lambda *_: None)
    assert best == 1  # epoch 2 holds only fold 0's 3 errors: not comparable with 6 + 6
    assert [h["epoch"] for h in history] == [0, 1]
    assert history[1]["cv_char_errors"] == 12 and history[0]["cv_char_errors"] == 20


def test_summary_of_an_adaptation_says_how_it_was_checked():
    from htr.train.teach import summary

    held = {"train_lines": ["a", "b", "c"], "heldout_lines": ["d"], "heldout_cer_before": 0.1,
            "heldout_cer_after": 0.05, "seconds": 30, "folds": 0}
    assert summary(held) == ("adapted on 4 of your lines in 30 s; on the 1 lines held out it reads 10.0% → 5.0% "
                             "of characters wrong.")
    folds = {**held, "train_lines": list("abcd"), "heldout_lines": list("abcd"), "folds": 2, "kept_base": True}
    text = summary(folds)
    assert text.startswith("adapted on 4 of your lines in 30 s; each of your lines read by a model adapted on the "
                           "others, it reads 10.0% → 5.0%") and "keeps the base model's weights" in text
    # fewer lines than the folds need, and the base model kept: the sentence says to write more
    few = {**held, "kept_base": True}
    assert summary(few).endswith("keeps the base model's weights. With 4 lines a gain cannot be told from chance: "
                                 "write 4 more (8 or more are each checked against the others) and adapt again.")
    assert "write" not in summary({**held, "kept_base": False})
    # ... nor where the adaptation was told to use no folds (its metadata's settings)
    assert "write" not in summary({**few, "settings": {"folds": 0}})
    # a folder whose metadata has no figures still gets its sentence
    assert summary({"folds": 2, "heldout_lines": list("abcd"), "seconds": 5}).startswith("adapted on 4 of your lines")
