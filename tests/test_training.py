"""The model, CTC loss, data and decoder fit together; training resumes after a kill."""

import csv
import os
import signal
import subprocess
import sys
import time


from conftest import ROOT


def test_tiny_model_overfits_a_few_real_lines(ondb_validation):
    import keras

    from htr.config import ModelConfig
    from htr.evaluate import transcribe
    from htr.metrics import error_rates
    from htr.model import build_model, compile_model, ctc_targets, model_inputs
    from htr.preprocess import preprocess
    from htr.recognizer import pad_batch
    from htr.render import render_strokes

    keras.utils.set_random_seed(0)
    samples = sorted(ondb_validation.samples, key=lambda s: len(s.text))[40:44]
    texts = [s.text for s in samples]
    config = ModelConfig(conv_filters=(16, 32, 48, 64, 64), lstm_units=64, lstm_layers=1, dropout=0.0)
    images = [preprocess(render_strokes(s.strokes, "canvas"), config.height) for s in samples]
    x = model_inputs(pad_batch(images), [im.shape[1] for im in images], config.time_stride)
    y = ctc_targets([config.encode(t) for t in texts], list(x[1]))
    model = compile_model(build_model(config), learning_rate=3e-3)
    start = time.monotonic()
    cer = 1.0
    for step in range(600):
        model.train_on_batch(x, y)
        if step % 25 == 24:
            cer = error_rates(texts, transcribe(model, config, images)).cer
            if cer == 0.0:
                break
    assert cer == 0.0, f"did not learn {texts}: CER {cer:.3f} after {step + 1} steps"
    assert time.monotonic() - start < 60


def read_rows(model_dir):
    with open(model_dir / "history.csv") as handle:
        return list(csv.DictReader(handle))


TRAIN_ARGS = ["--dataset", "folder", "--epochs", "3", "--batch-size", "4", "--lstm-units", "32",
              "--conv-filters", "8,16,16,32,32", "--workers", "2"]


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

    model_dir = tmp_path / "finetune"
    cmd = [sys.executable, "-m", "htr", "train", "--dataset", "folder", "--data", str(folder_dataset),
           "--model-dir", str(model_dir), "--init-from", str(ROOT / "model"), "--epochs", "2",
           "--batch-size", "4", "--learning-rate", "1e-5", "--schedule", "cosine", "--workers", "2"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
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

    import htr.model  # noqa: F401
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
