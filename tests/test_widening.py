"""`python -m htr widen`: a wider model reads exactly as the trained one it grew from, and trains on."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT


def _widen(tmp_path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "htr", "widen", "--from", str(ROOT / "model"), "--model-dir", str(tmp_path / "wide"),
           *extra]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_a_widened_model_reads_real_lines_as_the_original_then_trains_on(tmp_path, folder_dataset, recognizer):
    from htr import Recognizer

    done = _widen(tmp_path, "--conv-filters", "40,80,112,144,176", "--lstm-units", "192")
    assert done.returncode == 0, done.stderr[-2000:]
    config = json.loads((tmp_path / "wide" / "config.json").read_text())
    assert config["conv_filters"] == [40, 80, 112, 144, 176] and config["lstm_units"] == 192
    assert config["training"]["widened_from"]["lstm_units"] == 160
    assert (tmp_path / "wide" / config["lm"]["path"]).is_file()  # the same tuned language model

    wide = Recognizer.load(tmp_path / "wide", runtime="keras")
    for image in sorted(folder_dataset.glob("line*.png"))[:4]:
        before, after = recognizer.recognize(image), wide.recognize(image)
        assert after.text == before.text
        np.testing.assert_allclose(after.probabilities, before.probabilities, atol=1e-4)

    # Training goes on from the trained accuracy: a model of this size from scratch reads
    # nothing after one epoch on 8 lines.
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "htr", "train", "--dataset", "folder", "--data", str(folder_dataset),
           "--model-dir", str(run), "--init-from", str(tmp_path / "wide"), "--epochs", "1",
           "--batch-size", "4", "--learning-rate", "1e-5", "--workers", "2"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    with open(run / "history.csv") as f:
        assert float(next(csv.DictReader(f))["val_cer"]) < 0.3
    assert json.loads((run / "config.json").read_text())["lstm_units"] == 192


def test_widening_refuses_to_narrow_or_to_miscount(tmp_path, capsys):
    from htr.cli import main

    out = str(tmp_path / "wide")
    assert main(["widen", "--from", str(ROOT / "model"), "--model-dir", out, "--lstm-units", "100"]) == 2
    assert "only adds units" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="takes 5 comma-separated numbers"):
        main(["widen", "--from", str(ROOT / "model"), "--model-dir", out, "--conv-filters", "64,64"])
    assert main(["widen", "--from", str(tmp_path / "nothing"), "--model-dir", out]) == 2
    assert "not a model folder" in capsys.readouterr().err
    assert not (tmp_path / "wide" / "model.weights.h5").exists()
