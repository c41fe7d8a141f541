"""Shared fixtures: real IAM On-Line lines (from the shared data folder) and small data sets."""

import os
import socket
from pathlib import Path

import numpy as np
import pytest

from htr.tf_env import configure_tensorflow

configure_tensorflow(training=True)  # the tests train small models

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("HTR_DATA", ROOT.parent / "shared" / "data"))
ONDB = DATA / "iam-ondb"
MODEL_DIR = ROOT / "model"


@pytest.fixture(scope="session")
def ondb_validation():
    """The IAM On-Line validation split (real handwriting), loaded once."""
    if not ONDB.is_dir():
        pytest.skip("IAM On-Line data not found at ../shared/data/iam-ondb")
    from htr.datasets import load_dataset

    return load_dataset("iam-ondb", ONDB, "validation")


@pytest.fixture(scope="session")
def iam_dev_forms():
    """The real IAM available-dev lines grouped by form (lines with a box in lines.txt), and
    the boxes: the material of stacked test pages, loaded once."""
    iam = DATA / "iam"
    if not (iam / "lines").is_dir():
        pytest.skip("IAM line images not found")
    from htr.datasets import load_dataset
    from htr.synth.pages import group_forms, read_line_boxes

    dev = load_dataset("iam", iam, str(iam / "splits" / "available-dev.txt"))
    boxes = read_line_boxes(iam)
    return list(group_forms([s for s in dev.samples if s.id in boxes]).values()), boxes


@pytest.fixture(scope="session")
def recognizer():
    from htr import Recognizer

    return Recognizer.load(MODEL_DIR)


def free_port() -> int:
    """A loopback port nothing listens on, for servers the tests start."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_png(path: Path, image: np.ndarray) -> Path:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), image)
    return path


@pytest.fixture
def folder_dataset(tmp_path, ondb_validation):
    """A plain-folder data set of 12 rendered real lines, train/validation lists included."""
    from htr.render import render_strokes

    root = tmp_path / "lines"
    rows = []
    for i, sample in enumerate(ondb_validation.samples[:12]):
        name = f"line{i:02d}.png"
        write_png(root / name, render_strokes(sample.strokes, "canvas"))
        rows.append(f"{name}\t{sample.text}")
    (root / "labels.tsv").write_text("\n".join(rows) + "\n")
    (root / "train.tsv").write_text("\n".join(rows[:8]) + "\n")
    (root / "validation.tsv").write_text("\n".join(rows[8:]) + "\n")
    return root
