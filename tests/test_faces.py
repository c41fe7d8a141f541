"""Every face reads an image the same way: the command line, the package, the app and the dashboard.

A real scanned line (IAM, a writer unseen in training) saved as a JPEG with each EXIF
orientation 1-8, and as its negative (light on dark), reads as the upright image does, and
an image over the pixel limit gets the same message everywhere.
"""

import json
import os
import subprocess
import sys

import numpy as np
import PIL.Image
import PIL.ImageOps
import pytest
from conftest import DATA, MODEL_DIR, ROOT

from htr.errors import BadImageError
from htr.imageio import MAX_PIXELS
from htr.metrics import line_cer

IAM = DATA / "iam"
T = PIL.Image.Transpose
# What a camera stores for each orientation: the inverse of the transpose that shows it upright.
STORED = {1: None, 2: T.FLIP_LEFT_RIGHT, 3: T.ROTATE_180, 4: T.FLIP_TOP_BOTTOM, 5: T.TRANSPOSE,
          6: T.ROTATE_90, 7: T.TRANSVERSE, 8: T.ROTATE_270}
OVERSIZE = (11_000, 10_000)
TOO_LARGE = f"is too large ({OVERSIZE[0]} x {OVERSIZE[1]} pixels); the limit is {MAX_PIXELS // 1_000_000} megapixels"


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """(text, {name: path}): the upright line as a JPEG, and one JPEG per EXIF orientation."""
    from htr.datasets import load_dataset

    if not (IAM / "lines").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"real IAM lines not found at {IAM}")
        pytest.skip(f"real IAM lines not found at {IAM}")
    sample = load_dataset("iam", IAM, IAM / "splits" / "available-dev.txt").samples[0]
    upright = PIL.Image.open(sample.path).convert("RGB")
    folder = tmp_path_factory.mktemp("photos")
    paths = {"upright": folder / "upright.jpg"}
    upright.save(paths["upright"], quality=95)
    for orientation, transpose in STORED.items():
        exif = PIL.Image.Exif()
        exif[0x0112] = orientation
        paths[orientation] = folder / f"orientation-{orientation}.jpg"
        (upright if transpose is None else upright.transpose(transpose)).save(paths[orientation], quality=95, exif=exif)
    assert PIL.Image.open(paths[6]).size == upright.size[::-1]  # stored sideways
    paths["negative"] = folder / "negative.jpg"  # light writing on a dark ground
    PIL.ImageOps.invert(upright).save(paths["negative"], quality=95)
    return sample.text, paths


@pytest.fixture(scope="module")
def oversize(tmp_path_factory):
    """A small file (1-bit PNG) whose image is over the pixel limit."""
    path = tmp_path_factory.mktemp("big") / "enormous.png"
    PIL.Image.new("1", OVERSIZE, 1).save(path)
    return path


def assert_same_reading(text: str, readings: dict, face: str) -> None:
    """Each orientation's CER, and the negative's, within 1.1 x of the upright image's."""
    upright = line_cer(text, readings["upright"])
    assert upright < 0.2, (face, readings["upright"])
    assert set(readings) == {"upright", "negative", *STORED}
    for name, reading in readings.items():
        assert line_cer(text, reading) <= 1.1 * upright + 1e-9, (face, name, reading, readings["upright"])


def test_command_line(photos, oversize):
    text, paths = photos
    names = list(paths)
    run = subprocess.run([sys.executable, "-m", "htr", "predict", *map(str, paths.values()), str(oversize),
                          "--model-dir", str(MODEL_DIR), "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr  # one image could not be read
    rows = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == len(names) + 1, run.stdout
    assert_same_reading(text, {name: row["text"] for name, row in zip(names, rows)}, "predict")
    assert TOO_LARGE in rows[-1]["error"]


def test_package(photos, oversize, recognizer):
    text, paths = photos
    assert_same_reading(text, {name: recognizer.recognize(path, decoder="lm").text for name, path in paths.items()},
                        "Recognizer")
    with pytest.raises(BadImageError, match=__import__("re").escape(TOO_LARGE)):
        recognizer.recognize(oversize)
    with pytest.raises(BadImageError, match=r"too large \(11000 x 10000 pixels\)"):
        recognizer.recognize(np.zeros((10_000, 11_000), np.uint8))


def test_app(photos, oversize):
    gr = pytest.importorskip("gradio")
    import app

    text, paths = photos
    upload = {name: {"path": str(path), "orig_name": path.name} for name, path in paths.items()}
    assert_same_reading(text, {name: app.recognize(payload, "lm")[0] for name, payload in upload.items()}, "app")
    with pytest.raises(gr.Error) as excinfo:
        app.recognize({"path": str(oversize), "orig_name": oversize.name})
    assert TOO_LARGE in excinfo.value.message


def test_dashboard(photos, oversize):
    from streamlit.testing.v1 import AppTest

    text, paths = photos
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=180)
    at.run()
    at.radio(key="inspect_source").set_value("Upload").run()
    readings = {}
    for name, path in paths.items():
        at.file_uploader(key="inspect_upload").set_value((path.name, path.read_bytes(), "image/jpeg")).run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        readings[name] = at.code[0].value
    assert_same_reading(text, readings, "dashboard")
    at.file_uploader(key="inspect_upload").set_value((oversize.name, oversize.read_bytes(), "image/png")).run()
    assert any(TOO_LARGE in e.value for e in at.error), [e.value for e in at.error]


def test_file_size_limit_is_checked_before_reading(photos, monkeypatch):
    """A file over MAX_BYTES is refused by size, whether it comes as a path, an upload or bytes."""
    import htr.imageio as imageio

    path = photos[1]["upright"]
    monkeypatch.setattr(imageio, "MAX_BYTES", path.stat().st_size - 1)
    limit = f"the limit is {imageio.MAX_BYTES // 1_000_000} MB"
    for value in (path, str(path), {"path": str(path), "orig_name": path.name}, path.read_bytes()):
        with pytest.raises(BadImageError, match=limit):
            imageio.read_image(value)
    monkeypatch.setattr(imageio, "MAX_BYTES", path.stat().st_size)
    assert imageio.read_image(path).shape[:2] == PIL.Image.open(path).size[::-1]
