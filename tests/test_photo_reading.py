"""Phone photos of real handwriting through every face: the sheet is found, flattened and read,
and the results say where it lay in the photo. Scans come out exactly as before.

The photos are made by :mod:`htr.synth.photos` from real IAM lines (the data sets where present,
else the handful shipped in ``tests/fixtures``): a page stacked from one form's lines, and one
line on an index card, each lying on a desk and seen at an angle.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import IAM, MODEL_DIR

FACE_TIMEOUT = 600


@pytest.fixture(scope="module")
def real_lines():
    from htr.datasets import load_dataset

    lines = load_dataset("iam", IAM, str(IAM / "splits" / "available-dev.txt"))
    if len(lines.samples) < 3:
        pytest.skip(f"no IAM lines at {IAM}")
    return lines


@pytest.fixture(scope="module")
def page_photo(real_lines, tmp_path_factory):
    """A page of one form's real lines, photographed on a wooden desk (the tune part's desks),
    with its scan beside it."""
    from htr.synth.pages import stacked_pages
    from htr.synth.photos import photograph

    page = stacked_pages(real_lines.samples, IAM, 1, seed=1, min_lines=3)[0]
    scan = page.image if page.image.dtype == np.uint8 else np.clip(page.image * 255, 0, 255).astype(np.uint8)
    folder = tmp_path_factory.mktemp("photos")
    for seed in range(40):  # the first seed whose photo shows the whole sheet on a desk
        photo = photograph(scan, page.text, seed=seed, part="tune", look="desk")
        if photo.whole and photo.spec.desk != "white":
            break
    (folder / "page.jpg").write_bytes(photo.jpeg)
    import cv2

    cv2.imwrite(str(folder / "scan.png"), scan)
    return folder / "page.jpg", folder / "scan.png", photo, page


@pytest.fixture(scope="module")
def line_photo(real_lines, tmp_path_factory):
    """One real line on an index card lying on a desk."""
    from htr.imageio import read_image
    from htr.synth.photos import photograph

    sample = real_lines.samples[0]
    scan = read_image(sample.path)
    scan = scan if scan.ndim == 2 else scan[..., 0]
    for seed in range(40):
        photo = photograph(scan, sample.text, seed=seed, part="tune", look="desk", small=True)
        if photo.whole and photo.spec.desk != "white":
            break
    path = tmp_path_factory.mktemp("line") / "line.jpg"
    path.write_bytes(photo.jpeg)
    return path, photo, sample


def cer(truth: str, text: str) -> float:
    from htr.metrics import error_rates

    return error_rates([truth], [text]).cer


def corners_close(found, truth, photo_size) -> bool:
    return float(np.abs(np.asarray(found, float) - truth).max()) < 0.03 * max(photo_size)


def test_recognizer_reads_a_photographed_page_and_says_where_the_sheet_lies(recognizer, page_photo):
    from htr.page import draw_lines, recognize_page

    path, scan_path, photo, page = page_photo
    read = recognize_page(recognizer, path, layout="page")
    assert read.paper is not None and corners_close(read.paper.corners, photo.corners, photo.size)
    scanned = recognize_page(recognizer, scan_path, layout="page")
    assert scanned.paper is None
    assert len(read.lines) == len(scanned.lines) == len(page.texts)
    assert cer(page.text, read.text) <= max(0.12, 1.5 * cer(page.text, scanned.text))
    data = read.to_json(str(path))
    assert len(data["paper"]) == 4 and all(len(line["polygon"]) == 4 for line in data["lines"])
    # each line's polygon lies on the sheet, in the photo's own pixels
    import cv2

    sheet = np.asarray(data["paper"], np.float32).reshape(-1, 1, 2)
    assert all(cv2.pointPolygonTest(sheet, (float(x), float(y)), False) >= 0
               for line in data["lines"] for x, y in line["polygon"])
    overlay = draw_lines(path, read)
    assert overlay.shape[:2] == (photo.size[1], photo.size[0])  # drawn on the photo as sent


def test_a_scan_reads_exactly_as_with_the_sheet_finder_off(recognizer, page_photo, real_lines):
    _, scan_path, _, _ = page_photo
    for image in [scan_path, *(s.path for s in real_lines.samples[:3])]:
        on = recognizer.recognize(image, decoder="best")
        off = recognizer.recognize(image, decoder="best", find_paper=False)
        assert on.paper is None and "paper" not in on.to_json()
        assert on.text == off.text and np.array_equal(on.probabilities, off.probabilities)


def test_recognizer_reads_a_photographed_line(recognizer, line_photo):
    path, photo, sample = line_photo
    read = recognizer.recognize(path, decoder="lm")
    assert read.paper is not None and corners_close(read.paper.corners, photo.corners, photo.size)
    as_sent = recognizer.recognize(path, decoder="lm", find_paper=False)
    assert cer(sample.text, read.text) < cer(sample.text, as_sent.text)
    assert cer(sample.text, read.text) <= 0.2, read.text


def test_command_line_reads_photos_of_a_page_and_a_line(page_photo, line_photo):
    page_path, _, photo, page = page_photo
    line_path, _, sample = line_photo
    run = subprocess.run([sys.executable, "-m", "htr", "predict", str(page_path), str(line_path), "--json",
                          "--model-dir", str(MODEL_DIR)], capture_output=True, text=True, timeout=FACE_TIMEOUT)
    assert run.returncode == 0, run.stderr[-2000:]
    page_json, line_json = (json.loads(line) for line in run.stdout.splitlines())
    assert len(page_json["lines"]) == len(page.texts) and len(page_json["paper"]) == 4
    assert cer(page.text, page_json["text"]) <= 0.12
    assert "lines" not in line_json and len(line_json["paper"]) == 4
    assert cer(sample.text, line_json["text"]) <= 0.2


def test_app_reads_photos_on_its_upload_and_page_tabs(page_photo, line_photo):
    pytest.importorskip("gradio")
    import app

    page_path, _, photo, page = page_photo
    text, _, overlay, table, status = app.recognize_page_upload(str(page_path), "lm")[:5]
    assert cer(page.text, text) <= 0.12 and len(table) == len(page.texts), status
    from htr.imageio import read_image

    assert read_image(overlay).shape[:2] == (photo.size[1], photo.size[0])  # the photo, outlined
    line_path, _, sample = line_photo
    line_text = app.recognize_upload(str(line_path), "lm")[0]
    assert cer(sample.text, line_text) <= 0.2


@pytest.fixture(scope="module")
def desk_photo(tmp_path_factory):
    """A phone photo of a wooden desk with nothing on it."""
    from htr.synth.photos import encode_jpeg, make_desk

    desk = make_desk("wood", (1500, 2000), np.random.default_rng(7))
    path = tmp_path_factory.mktemp("desk") / "desk.jpg"
    path.write_bytes(encode_jpeg(np.clip(desk, 0, 255).astype(np.uint8), 6, 80))
    return path


def test_a_photo_of_only_desk_says_no_handwriting_found_on_every_face(recognizer, desk_photo):
    from htr.errors import NoInkError
    from htr.page import recognize_page

    for read in (lambda: recognizer.recognize(desk_photo),
                 lambda: recognize_page(recognizer, desk_photo, layout="auto"),
                 lambda: recognize_page(recognizer, desk_photo, layout="page")):
        with pytest.raises(NoInkError, match="no handwriting found"):
            read()
    run = subprocess.run([sys.executable, "-m", "htr", "predict", str(desk_photo), "--model-dir", str(MODEL_DIR)],
                         capture_output=True, text=True, timeout=FACE_TIMEOUT)
    assert run.returncode != 0 and "no handwriting found" in run.stderr, (run.stdout, run.stderr)
    pytest.importorskip("gradio")
    import app

    assert "only a desk or background" in app.recognize_upload(str(desk_photo), "best")[-1]
    assert "only a desk or background" in app.recognize_page_upload(str(desk_photo), "best")[4]


def test_two_sheets_and_a_cut_sheet_are_said(recognizer, tmp_path):
    """Two sheets side by side: the larger is read and the page says how many it saw; a sheet
    running out of the photo: the page says that writing beyond the edge is lost."""
    import cv2
    from test_paper import desk, on_desk, written_sheet

    from htr.page import read_page_image

    big = np.float32([[820, 150], [1500, 170], [1490, 1060], [810, 1050]])
    two = on_desk(on_desk(desk("dark", 1), written_sheet(), big), written_sheet(600, 720, 4),
                  np.float32([[120, 300], [620, 290], [630, 900], [130, 910]]))
    cut = on_desk(desk("wood"), written_sheet(), np.float32([[700, 300], [1800, 380], [1760, 1500], [640, 1400]]))
    for name, photo, key, words in [("two.png", two, "sheets", "2 sheets of paper"),
                                    ("cut.png", cut, "paper_cut", "runs out of the photo")]:
        path = tmp_path / name
        cv2.imwrite(str(path), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
        reading = read_page_image(recognizer, path, "best")
        assert key in reading.page.to_json() and any(words in text for text in reading.hints.texts)
        assert all(key not in line.to_json() for line in reading.page.lines)
    run = subprocess.run([sys.executable, "-m", "htr", "predict", str(tmp_path / "two.png"), "--json",
                          "--model-dir", str(MODEL_DIR)], capture_output=True, text=True, timeout=FACE_TIMEOUT)
    assert json.loads(run.stdout)["sheets"] == 2, run.stderr[-2000:]
