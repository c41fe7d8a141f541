"""The model, CTC loss, data and decoder fit together; training resumes after a kill."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict

import pytest
from conftest import ROOT


def test_tiny_model_overfits_a_few_real_lines(ondb_validation):
    import keras

    from htr.batching import pad_batch
    from htr.config import ModelConfig
    from htr.metrics import error_rates
    from htr.network import build_model, compile_model, ctc_targets, model_inputs
    from htr.preprocess import preprocess
    from htr.render import render_strokes
    from htr.train.evaluate import transcribe

    keras.utils.set_random_seed(0)
    samples = sorted(ondb_validation.samples, key=lambda s: len(s.text))[40:44]
    texts = [s.text for s in samples]
    config = ModelConfig(conv_filters=(16, 32, 48, 64, 64), lstm_units=64, lstm_layers=1, dropout=0.0)
    images = [preprocess(render_strokes(s.strokes, "canvas"), config.height) for s in samples]
    x = model_inputs(pad_batch(images), [im.shape[1] for im in images], config.time_stride)
    y = ctc_targets([config.encode(t) for t in texts], list(x[1]))
    model = compile_model(build_model(config), learning_rate=3e-3)
    cer = 1.0
    for step in range(600):
        model.train_on_batch(x, y)
        if step % 25 == 24:
            cer = error_rates(texts, transcribe(model, config, images)).cer
            if cer == 0.0:
                break
    assert cer == 0.0, f"did not learn {texts}: CER {cer:.3f} after {step + 1} steps"


def read_rows(model_dir):
    with open(model_dir / "history.csv") as handle:
        return list(csv.DictReader(handle))


TRAIN_ARGS = ["--dataset", "folder", "--epochs", "3", "--batch-size", "4", "--lstm-units", "32",
              "--conv-filters", "8,16,16,32,32", "--workers", "2"]


def test_ctc_loss_on_a_cpu_is_keras_ctc_loss_with_its_gradient():
    """The sparse-label kernel the loss uses under TensorFlow on a CPU gives what the
    backend-neutral ``keras.ops.ctc_loss`` gives, for lines of different lengths in one batch."""
    import keras
    import numpy as np

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the sparse kernel is TensorFlow's")
    import tensorflow as tf

    from htr.network import _tensorflow_on_cpu, ctc_loss, ctc_targets, keras_ctc_loss

    assert _tensorflow_on_cpu()
    rng = np.random.default_rng(0)
    labels = [list(rng.integers(1, 80, n)) for n in (1, 7, 25, 40, 3)] + [[5, 5, 5]]
    steps = [90, 60, 120, 100, 10, 6]
    y = tf.constant(ctc_targets(labels, steps, 48))
    logits = tf.Variable(rng.standard_normal((len(labels), 120, 80)).astype(np.float32))

    results = []
    for loss in (ctc_loss, keras_ctc_loss):
        with tf.GradientTape() as tape:
            value = loss(y, logits)
            total = tf.reduce_sum(value)
        results.append((value.numpy(), tape.gradient(total, logits).numpy()))
    (fast, fast_grad), (reference, reference_grad) = results
    np.testing.assert_allclose(fast, reference, rtol=1e-4)
    np.testing.assert_allclose(fast_grad, reference_grad, atol=1e-4)
    for line, n in enumerate(steps):
        assert np.abs(fast_grad[line, n:]).max(initial=0) == 0  # nothing beyond a line's end


def test_ctc_loss_of_a_text_longer_than_its_line_is_no_error():
    """More characters than timesteps (a mislabelled or badly cut line) must not stop a
    training run with an error. TensorFlow's kernel gives that line 0; the other backends' CTC
    gives infinity (and the data loaders drop such lines before training)."""
    import keras
    import numpy as np

    from htr.network import ctc_loss, ctc_targets

    logits = np.random.default_rng(1).standard_normal((2, 8, 10)).astype(np.float32)
    value = keras.ops.convert_to_numpy(ctc_loss(ctc_targets([[1, 2, 3, 4, 5], [1, 2]], [4, 8]), logits))
    assert value[1] > 0 and np.isfinite(value[1])
    assert value[0] == 0 or np.isinf(value[0])


def test_resume_after_killed_run_loses_nothing(tmp_path, folder_dataset):
    model_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "htr", "train", "--data", str(folder_dataset), "--model-dir", str(model_dir), *TRAIN_ARGS]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    latest = model_dir / "checkpoints" / "latest"
    deadline = time.monotonic() + 240
    while not latest.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert latest.exists(), proc.stderr.read().decode()[-2000:] if proc.poll() is not None else "no checkpoint in time"
    proc.send_signal(signal.SIGKILL)  # as hard as a crash or a power cut
    proc.wait()
    done = read_rows(model_dir)
    assert 1 <= len(done) < 3
    # Starting again without --resume refuses to clobber the run.
    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    assert again.returncode == 2 and "--resume" in again.stderr
    resumed = subprocess.run(cmd + ["--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming" in resumed.stdout
    rows = read_rows(model_dir)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert rows[: len(done)] == done  # finished epochs kept exactly
    for name in ("config.json", "model.weights.h5", "metadata.json"):
        assert (model_dir / name).is_file()
    from htr import Recognizer

    result = Recognizer.load(model_dir).recognize(folder_dataset / "line00.png")
    assert result.probabilities.shape[1] == len(result.charset) + 1


def test_fine_tuning_starts_from_the_given_model_and_anneals(tmp_path, folder_dataset):
    """--init-from keeps what the shipped model knows; --schedule cosine lowers the rate each epoch."""
    import json

    from htr.cli import build_parser, train_settings

    model_dir = tmp_path / "finetune"
    # Most settings from a settings file, the rest as flags, which add to it (and would override it).
    recipe = tmp_path / "finetune.json"
    recipe.write_text(json.dumps({"dataset": "folder", "data": str(folder_dataset), "init_from": str(ROOT / "model"),
                                  "epochs": 2, "batch_size": 4, "learning_rate": 1e-5, "schedule": "cosine",
                                  "workers": 2}))
    cmd = [sys.executable, "-m", "htr", "train", "--settings", str(recipe), "--model-dir", str(model_dir),
           "--dropout", "0.2", "--deslant", "0.5"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    # The run folder keeps the settings it ran with; given back to train, they are the same settings.
    kept = json.loads((model_dir / "settings.json").read_text())
    assert kept["model_dir"] == str(model_dir) and kept["batch_size"] == 4 and kept["schedule"] == "cosine"
    assert kept["dropout"] == 0.2 and kept["deslant"] == 0.5 and kept["init_from"] == str(ROOT / "model")
    assert kept["command"].startswith("python -m htr train --settings ")
    again, _ = train_settings(build_parser().parse_args(["train", "--settings", str(model_dir / "settings.json"),
                                                          "--model-dir", str(tmp_path / "again")]))
    assert {**asdict(again), "model_dir": str(model_dir), "command": ""} == {**kept, "command": ""}
    assert "starting from the weights of" in done.stdout
    rows = read_rows(model_dir)
    # A model from scratch reads nothing after two epochs on 8 lines; the shipped one reads most.
    assert float(rows[0]["val_cer"]) < 0.3
    assert float(rows[1]["learning_rate"]) < float(rows[0]["learning_rate"]) == 1e-5
    shipped = json.loads((ROOT / "model" / "config.json").read_text())
    tuned = json.loads((model_dir / "config.json").read_text())
    for key in ("charset", "height", "conv_filters", "pools", "lstm_units", "lstm_layers"):
        assert tuned[key] == shipped[key]
    assert tuned["training"]["init_from"] == str(ROOT / "model")
    # Dropout has no weights: the fine-tuned model trains, and is saved, with the rate asked for.
    assert tuned["dropout"] == 0.2 != shipped["dropout"]
    # So has the share of slant taken out, and the fine-tuned model reads its lines that way too.
    assert tuned["deslant"] == 0.5 != shipped.get("deslant", 0.0)
    bad = subprocess.run(cmd[:-1] + ["1.5"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "deslant" in bad.stderr and "Traceback" not in bad.stderr


def test_frozen_convolutions_stay_as_the_starting_model_has_them_across_a_resume(tmp_path, folder_dataset):
    """--freeze-convolutions trains the projection, LSTMs and output layer only; the
    convolutions and their batch-norm statistics stay the starting model's, also after --resume.
    A resume that does not name the run's padding, patience or checkpoint count keeps the run's."""
    import keras
    import numpy as np

    from htr import Recognizer

    model_dir = tmp_path / "frozen"
    train = [sys.executable, "-m", "htr", "train", "--dataset", "folder", "--data", str(folder_dataset)]
    run = train + ["--model-dir", str(model_dir)]
    done = subprocess.run(run + ["--init-from", str(ROOT / "model"), "--freeze-convolutions", "--epochs", "1",
                                 "--batch-size", "4", "--learning-rate", "1e-3", "--workers", "2",
                                 "--width-quantum", "64", "--patience", "7", "--keep-checkpoints", "3"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "its convolutions frozen" in done.stdout
    resumed = subprocess.run(run + ["--resume", "--epochs", "2", "--workers", "2"], cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert [int(r["epoch"]) for r in read_rows(model_dir)] == [1, 2]
    kept = json.loads((model_dir / "checkpoints" / "epoch-0002" / "state.json").read_text())["settings"]
    assert (kept["width_quantum"], kept["patience"], kept["keep_checkpoints"], kept["epochs"]) == (64, 7, 3, 2)
    shipped = Recognizer.load(ROOT / "model", runtime="keras").model
    tuned = keras.models.load_model(model_dir / "checkpoints" / "epoch-0002" / "model.keras", compile=False)
    for before, after in zip(shipped.weights, tuned.weights, strict=True):
        assert before.shape == after.shape
        same = np.array_equal(np.asarray(before), np.asarray(after))
        assert same == before.path.startswith(("conv", "bn")), before.path
    without_start = subprocess.run(train + ["--model-dir", str(tmp_path / "scratch"), "--freeze-convolutions",
                                            "--epochs", "1"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert without_start.returncode == 2 and "--init-from" in without_start.stderr


def test_fine_tuning_from_a_folder_without_a_model_is_a_clear_error(tmp_path, folder_dataset):
    cmd = [sys.executable, "-m", "htr", "train", "--dataset", "folder", "--data", str(folder_dataset),
           "--model-dir", str(tmp_path / "run"), "--init-from", str(folder_dataset), "--epochs", "1"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "not a model folder" in done.stderr and "Traceback" not in done.stderr


def test_average_of_the_last_epochs(tmp_path, folder_dataset):
    """Training keeps the newest N checkpoints; `average` writes their mean as a loadable model."""
    import keras
    import numpy as np

    import htr.network  # noqa: F401
    from htr import Recognizer

    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "htr", "train", "--data", str(folder_dataset), "--model-dir", str(run),
           *TRAIN_ARGS, "--keep-checkpoints", "2"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    kept = sorted(p.name for p in (run / "checkpoints").glob("epoch-*"))
    assert kept == ["epoch-0002", "epoch-0003"]

    out = tmp_path / "averaged"
    average = [sys.executable, "-m", "htr", "average", "--run", str(run), "--last", "2", "--model-dir", str(out)]
    done = subprocess.run(average, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    pair = [keras.models.load_model(run / "checkpoints" / k / "model.keras", compile=False).get_weights() for k in kept]
    averaged = Recognizer.load(out)
    for mean, a, b in zip(averaged.model.get_weights(), *pair):
        np.testing.assert_allclose(mean, (a + b) / 2, rtol=1e-5, atol=1e-6)
    assert averaged.recognize(folder_dataset / "line00.png").probabilities.shape[1] == len(averaged.config.charset) + 1

    too_many = subprocess.run(average[:-4] + ["--last", "3", "--model-dir", str(tmp_path / "x")], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
    assert too_many.returncode == 2 and "fewer than the 3 asked for" in too_many.stderr


def write_ondb_folder(root, samples, ids_by_split: dict[str, list[int]]):
    """An IAM On-Line folder in the distributed (extracted) layout holding real strokes."""
    form = root / "ascii" / "a01" / "a01-000"
    form.mkdir(parents=True)
    (form / "a01-000u.txt").write_text("OCR:\n\nprompt\n\nCSR:\n\n" + "\n".join(s.text for s in samples) + "\n",
                                       encoding="iso-8859-1")
    strokes_dir = root / "lineStrokes" / "a01" / "a01-000"
    strokes_dir.mkdir(parents=True)
    for number, sample in enumerate(samples, start=1):
        points = "".join(
            "<Stroke>" + "".join(f'<Point x="{x:.1f}" y="{y:.1f}" time="0"/>' for x, y in stroke) + "</Stroke>"
            for stroke in sample.strokes)
        (strokes_dir / f"a01-000u-{number:02d}.xml").write_text(
            f"<WhiteboardCaptureSession><StrokeSet>{points}</StrokeSet></WhiteboardCaptureSession>")
    (root / "splits").mkdir()
    for split, numbers in ids_by_split.items():
        (root / "splits" / f"{split}.txt").write_text("".join(f"a01-000u-{n:02d}\n" for n in numbers))
    return root


def write_iam_folder(root, samples, train: list[int], dev: list[int]):
    """An IAM offline folder (ascii/lines.txt + lines/ PNGs) of scan-like renderings."""
    import numpy as np
    from conftest import write_png

    from htr.render import render_strokes

    rows = []
    for number, sample in enumerate(samples):
        line_id = f"b01-000-{number:02d}"
        rows.append(f"{line_id} ok 154 19 0 0 100 100 {'|'.join(sample.text.split())}")
        image = render_strokes(sample.strokes, "paper", np.random.default_rng(number))
        write_png(root / "lines" / "b01" / "b01-000" / f"{line_id}.png", image)
    (root / "ascii").mkdir(parents=True)
    (root / "ascii" / "lines.txt").write_text("\n".join(rows) + "\n")
    (root / "splits").mkdir()
    (root / "splits" / "train.txt").write_text("".join(f"b01-000-{n:02d}\n" for n in train))
    (root / "splits" / "dev.txt").write_text("".join(f"b01-000-{n:02d}\n" for n in dev))
    return root


def test_two_sources_train_validate_each_and_resume(tmp_path, ondb_validation):
    """Pen data and scanned lines in one run: each source validated on its own, every epoch, and
    the run resumes with the same columns."""
    samples = sorted(ondb_validation.samples, key=lambda s: len(s.text))[100:124]
    ondb = write_ondb_folder(tmp_path / "ondb", samples[:12], {"train": list(range(1, 9)), "validation": [9, 10, 11, 12]})
    iam = write_iam_folder(tmp_path / "iam", samples[12:], train=list(range(8)), dev=list(range(8, 12)))
    model_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "htr", "train", "--model-dir", str(model_dir),
           "--source", f"dataset=iam-ondb,data={ondb},name=pen",
           "--source", f"dataset=iam,data={iam},train={iam / 'splits' / 'train.txt'},val={iam / 'splits' / 'dev.txt'},"
                       "name=scans,share=3",
           "--epoch-lines", "12", "--epochs", "1", "--batch-size", "4", "--lstm-units", "32",
           "--conv-filters", "8,16,16,32,32", "--workers", "2", "--width-quantum", "64"]
    first = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "pen: 8 training lines (share 1), 4 validation lines" in first.stdout
    assert "scans: 8 training lines (share 3), 4 validation lines" in first.stdout
    assert "val CER" in first.stdout and "(pen " in first.stdout and "scans " in first.stdout
    resumed = subprocess.run(cmd[:cmd.index("--epochs")] + ["--epochs", "2", "--resume"], cwd=ROOT,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming" in resumed.stdout and "(pen " in resumed.stdout
    rows = read_rows(model_dir)
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    for row in rows:
        pen, scans = float(row["val_cer_pen"]), float(row["val_cer_scans"])
        assert float(row["val_cer"]) == pytest.approx((pen + scans) / 2, abs=1e-4)
    import json

    metadata = json.loads((model_dir / "metadata.json").read_text())
    assert [s["name"] for s in metadata["training"]["sources"]] == ["pen", "scans"]


def test_batches_pad_to_the_width_quantum_asked_for():
    """A fine quantum pads little (a CPU's work), a coarse one gives few widths (a GPU's compiles)."""
    import numpy as np

    from htr.train.loop import make_batches

    widths = [100, 120, 300, 310, 700, 720]
    images = [np.zeros((64, w), np.float32) for w in widths]
    labels = [[1, 2, 3]] * len(images)
    for quantum in (64, 256, 512):
        batches = make_batches(images, labels, 2, seed=0, epoch=0, stride=4, quantum=quantum)
        padded = sorted(int(batches[i][0][0].shape[2]) for i in range(len(batches)))
        assert padded == sorted(batches.widths().tolist())
        assert padded == [-(-w // quantum) * quantum for w in (120, 310, 720)]
    assert len(set(make_batches(images, labels, 2, 0, 0, 4, quantum=512).widths())) == 2


def test_epoch_mix_gives_each_source_its_share_and_cycles_through_all_lines():
    from htr.train.loop import epoch_mix

    seen = {0: [], 1: []}
    for epoch in range(6):
        picks = epoch_mix([100, 10], [1.0, 1.0], 20, seed=3, epoch=epoch)
        assert [len(p) for p in picks] == [10, 10]
        assert picks == epoch_mix([100, 10], [1.0, 1.0], 20, seed=3, epoch=epoch)  # resumable
        for source, chosen in enumerate(picks):
            seen[source] += chosen
    # 60 draws from 100 lines: no line twice; 60 from 10: each exactly 6 times.
    assert len(set(seen[0])) == 60
    assert sorted(seen[1]) == sorted(list(range(10)) * 6)
    assert epoch_mix([7], [1.0], None, seed=0, epoch=4) == [list(range(7))]


def test_bad_source_is_a_clear_error(tmp_path):
    cmd = [sys.executable, "-m", "htr", "train", "--model-dir", str(tmp_path / "run"), "--source", "dataset=iam,share=2"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "data= are required" in done.stderr and "Traceback" not in done.stderr


def test_blend_interpolates_weights_and_refuses_bad_requests(tmp_path):
    import numpy as np

    from htr import Recognizer

    out = tmp_path / "blend"
    done = subprocess.run([sys.executable, "-m", "htr", "blend", "--models", str(ROOT / "model"), str(ROOT / "model"),
                           "--weights", "0.7", "0.3", "--model-dir", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    shipped, blended = Recognizer.load(ROOT / "model", runtime="keras"), Recognizer.load(out)
    for a, b in zip(shipped.model.get_weights(), blended.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # a model blended with itself is itself
    bad = subprocess.run([sys.executable, "-m", "htr", "blend", "--models", str(ROOT / "model"), str(tmp_path / "none"),
                          "--weights", "0.5", "0.5", "--model-dir", str(tmp_path / "x")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "cannot read model" in bad.stderr and "Traceback" not in bad.stderr


def test_an_epochs_loss_is_one_figure_in_the_bar_the_summary_and_the_history(capsys):
    """Keras's bar ends on the epoch's mean loss, the figure the epoch's line and history.csv give,
    not on its last batch's (a falling loss made those 168.6 and 420.1 for one epoch)."""
    import re

    from htr.train.loop import _run_epoch

    losses = iter([900.0, 400.0, 200.0, 100.0])

    class Model:  # each step's loss falls, as early in training
        def train_on_batch(self, x, y):
            return next(losses)

    mean = _run_epoch(Model(), [(None, None)] * 4, "epoch 1/1")
    assert mean == 400.0
    printed = re.findall(r"loss: ([\d.]+)", capsys.readouterr().out)
    assert printed and float(printed[-1]) == mean  # the bar's closing figure, to its 4 decimals


def test_fewer_validation_lines_than_asked_are_explained():
    from collections import Counter

    from htr.train.loop import validation_note
    from htr.train.settings import Source

    folder = Source("folder", str(ROOT / "no-such-folder"), name="mine")
    note = validation_note(folder, 8, read=2, used=2, skipped=Counter())
    assert note.startswith("mine: 2 validation lines, not the 8 asked for: its 'validation' split has only 2")
    assert "list the lines to validate on in validation.tsv" in note
    scans = Source("iam", "iam", name="iam")
    note = validation_note(scans, 8, read=8, used=5, skipped=Counter({"image too narrow for its text": 3}))
    assert note == ("iam: 5 validation lines, not the 8 asked for: 3 of the first 8 could not be used "
                    "(3 image too narrow for its text left out)")
    assert validation_note(scans, 8, read=8, used=8, skipped=Counter()) is None
    assert validation_note(scans, None, read=300, used=299, skipped=Counter({"no ink": 1})) is None
