"""Loaders on small fixtures in the original formats, damaged items included."""

import io
import tarfile

import numpy as np
import pytest
from conftest import write_png

from htr.config import IAM_CHARSET
from htr.datasets import load_dataset
from htr.errors import DataError
from htr.render import render_strokes
from htr.train.augment import prepare_set

STROKE_XML = """<?xml version="1.0" encoding="ISO-8859-1"?>
<WhiteboardCaptureSession><StrokeSet>
<Stroke colour="black" start_time="1" end_time="2">{points}</Stroke>
<Stroke colour="black" start_time="3" end_time="4"><Point x="900" y="1000" time="3"/><Point x="960" y="1150" time="3.1"/></Stroke>
</StrokeSet></WhiteboardCaptureSession>"""


def stroke_xml(seed: int) -> str:
    rng = np.random.default_rng(seed)
    xs = np.linspace(1000, 3000, 80)
    ys = 1100 + 120 * np.sin(xs / 60.0 + seed) + rng.normal(0, 5, 80)
    return STROKE_XML.format(points="".join(f'<Point x="{x:.0f}" y="{y:.0f}" time="1"/>' for x, y in zip(xs, ys)))


ASCII = "OCR:\n\nprompt text here\n\nCSR:\n\nMr . Gaitskell said\n\" Yes , \" he said\nthird line\n"


def make_ondb(root, packed: bool):
    files = {
        "ascii/a01/a01-000/a01-000u.txt": ASCII.encode("iso-8859-1"),
        "lineStrokes/a01/a01-000/a01-000u-01.xml": stroke_xml(1).encode(),
        "lineStrokes/a01/a01-000/a01-000u-02.xml": stroke_xml(2).encode(),
        "lineStrokes/a01/a01-000/a01-000u-03.xml": b"<WhiteboardCaptureSession><StrokeSet><Stroke>",  # corrupt
        "lineStrokes/a01/a01-000/a01-000u-04.xml": stroke_xml(4).encode(),  # no CSR line 4
    }
    root.mkdir(parents=True)
    if packed:
        for archive, prefix in (("ascii-all.tar.gz", "ascii/"), ("lineStrokes-all.tar.gz", "lineStrokes/")):
            with tarfile.open(root / archive, "w:gz") as tar:
                for name, data in files.items():
                    if name.startswith(prefix):
                        info = tarfile.TarInfo(name)
                        info.size = len(data)
                        tar.addfile(info, io.BytesIO(data))
    else:
        for name, data in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
    (root / "splits").mkdir()
    ids = [f"a01-000u-0{i}" for i in range(1, 6)]  # 05 does not exist at all
    (root / "splits" / "train.txt").write_text("\n".join(ids) + "\n")
    return root


@pytest.mark.parametrize("packed", [True, False], ids=["archives", "extracted"])
def test_iam_ondb_pairs_strokes_with_csr_lines_and_skips_damage(tmp_path, packed):
    root = make_ondb(tmp_path / "ondb", packed)
    lines = load_dataset("iam-ondb", root, "train")
    assert [s.id for s in lines.samples] == ["a01-000u-01", "a01-000u-02"]
    assert [s.text for s in lines.samples] == ["Mr. Gaitskell said", '"Yes," he said']
    assert lines.samples[0].strokes[0].shape == (80, 2)
    assert lines.skipped == {"corrupt stroke file": 1, "no transcription": 1, "missing stroke file": 1}
    with pytest.warns(UserWarning, match="skipped 3 bad item"):
        lines.warn_skipped()


def make_iam(root, ondb_samples):
    """IAM offline layout: ascii/lines.txt, lines/aNN/aNN-XXX/*.png, splits/."""
    rows = ["# IAM lines.txt header", "#"]
    for i, sample in enumerate(ondb_samples[:3]):
        line_id = f"a01-000u-0{i}"
        words = sample.text.replace(",", " ,").replace(".", " .").split()
        rows.append(f"{line_id} ok 154 19 408 746 1661 89 {'|'.join(words)}")
        write_png(root / "lines" / "a01" / "a01-000u" / f"{line_id}.png", render_strokes(sample.strokes, "paper"))
    rows.append("a01-000u-03 ok 154 19 408 746 1661 89 corrupt|image")
    (root / "lines" / "a01" / "a01-000u" / "a01-000u-03.png").write_bytes(b"\x89PNG broken")
    rows.append("a01-000u-04 ok 154 19 408 746 1661 89 missing|image")
    rows.append("a01-000u-05 ok 154 19 408 746 1661 89 unknown|\u00e9|char")
    write_png(root / "lines" / "a01" / "a01-000u" / "a01-000u-05.png", render_strokes(ondb_samples[5].strokes, "paper"))
    (root / "ascii").mkdir(parents=True)
    (root / "ascii" / "lines.txt").write_text("\n".join(rows) + "\n")
    (root / "splits").mkdir()
    (root / "splits" / "trainset.txt").write_text("\n".join(f"a01-000u-0{i}" for i in range(6)) + "\n")
    return root


def test_iam_offline_loader_and_damaged_items_train_anyway(tmp_path, ondb_validation):
    root = make_iam(tmp_path / "iam", ondb_validation.samples)
    lines = load_dataset("iam", root, "train")
    assert len(lines) == 5  # the missing image is dropped at once
    assert lines.skipped == {"missing image": 1}
    assert lines.samples[0].text == ondb_validation.samples[0].text  # '|' -> space, detokenised
    lines.filter_charset(IAM_CHARSET)
    assert lines.skipped["unknown characters"] == 1
    prepared = prepare_set(lines, 64, 2048, augment=True, seed=1)
    assert len(prepared.images) == 3 and all(im.shape[0] == 64 for im in prepared.images)
    assert lines.skipped["unreadable or blank image"] == 1
    with pytest.warns(UserWarning, match="skipped 3 bad item") as record:
        lines.warn_skipped()
    assert len(record) == 1


def test_folder_dataset_splits(folder_dataset):
    assert len(load_dataset("folder", folder_dataset, "train")) == 8
    assert len(load_dataset("folder", folder_dataset, "validation")) == 4
    (folder_dataset / "train.tsv").unlink()
    (folder_dataset / "validation.tsv").unlink()
    train = load_dataset("folder", folder_dataset, "train")
    val = load_dataset("folder", folder_dataset, "validation")
    assert len(train) + len(val) == 12 and not {s.id for s in train.samples} & {s.id for s in val.samples}
    assert len(load_dataset("folder", folder_dataset, "all")) == 12


def test_missing_or_wrong_data_folders_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_dataset("iam-ondb", tmp_path / "nope", "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="split list not found"):
        load_dataset("iam-ondb", tmp_path / "empty", "train")
    with pytest.raises(DataError, match="lines.txt is missing"):
        load_dataset("iam", tmp_path / "empty", "train")
    with pytest.raises(DataError, match="labels.tsv"):
        load_dataset("folder", tmp_path / "empty", "train")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "labels.tsv").write_text("no tab here\n")
    with pytest.raises(DataError, match="file<TAB>text"):
        load_dataset("folder", tmp_path / "bad", "all")


def test_real_iam_ondb_validation_split(ondb_split):
    assert len(ondb_split) == 1120
    assert all(s.text and s.strokes for s in ondb_split.samples)
    assert not any(" ." in s.text or " ," in s.text for s in ondb_split.samples[:200])


def test_render_looks(ondb_validation):
    strokes = ondb_validation.samples[0].strokes
    canvas = render_strokes(strokes, "canvas")
    assert canvas.ndim == 2 and canvas.dtype == np.uint8 and canvas.min() < 50 and canvas.max() == 255
    assert np.array_equal(canvas, render_strokes(strokes, "canvas"))  # no rng: deterministic
    paper = render_strokes(strokes, "paper", np.random.default_rng(0))
    assert paper.ndim == 3 and paper.shape[2] == 3
    assert np.median(paper) < 253 and len(np.unique(paper)) > 50  # tinted, textured paper
    with pytest.raises(ValueError, match="unknown look"):
        render_strokes(strokes, "chalk")


def test_rendering_in_processes_matches_threads(ondb_validation):
    """Training renders in worker processes; the images are those the threaded path makes."""
    from htr.datasets.base import LineSet

    def subset():
        return LineSet("validation", ondb_validation.samples[:10])

    threaded = prepare_set(subset(), 64, 2048, seed=3, epoch=2, workers=2)
    in_processes = prepare_set(subset(), 64, 2048, seed=3, epoch=2, workers=2, processes=True)
    assert in_processes.texts == threaded.texts and len(threaded.images) == 10
    for a, b in zip(threaded.images, in_processes.images):
        assert a.shape == b.shape and b.dtype == np.float32
        assert np.abs(a - b).max() <= 0.5 / 255 + 1e-6  # sent back as 8-bit
    different_epoch = prepare_set(subset(), 64, 2048, seed=3, epoch=3, workers=2, processes=True)
    assert any(a.shape != b.shape or not np.allclose(a, b) for a, b in zip(threaded.images, different_epoch.images))


def test_iam_ondb_limit_reads_only_the_first_lines(tmp_path):
    """A quick run on a few lines parses only their stroke files (the corrupt third is never read)."""
    root = make_ondb(tmp_path / "ondb", packed=True)
    lines = load_dataset("iam-ondb", root, "train", limit=2)
    assert [s.id for s in lines.samples] == ["a01-000u-01", "a01-000u-02"]
    assert not lines.skipped


def test_forms_are_dated_by_their_first_pen_down_and_grouped_into_rounds(tmp_path):
    from pathlib import Path

    from htr.datasets.iam_ondb import form_start_times, writing_rounds

    shipped = form_start_times(Path(__file__).parent / "fixtures" / "iam-ondb")
    # a09-583z's four lines began at 14234613.43, .57 (line 02), .76 and 668.29: the earliest is the form's.
    assert shipped["a09-583z"] == pytest.approx(14234613.43)
    assert set(shipped) == {"a09-583z", "a09-589z", "a09-595z"}

    packed = form_start_times(make_ondb(tmp_path / "ondb", packed=True))
    assert packed == {"a01-000u": pytest.approx(1.0)}  # the corrupt line is skipped, not fatal

    minute = 60.0
    times = {"a01-000u": 0.0, "c02-010u": 3 * minute, "e03-020u": 7 * minute,  # one sitting
             "a04-030u": 10 * minute,  # a category already in the round: the next writer
             "g05-040u": 13 * minute,
             "k06-050u": 2 * 3600.0}  # hours later
    assert writing_rounds(times) == [["a01-000u", "c02-010u", "e03-020u"], ["a04-030u", "g05-040u"], ["k06-050u"]]
    assert writing_rounds(times, max_gap_s=60.0) == [["a01-000u"], ["c02-010u"], ["e03-020u"], ["a04-030u"],
                                                     ["g05-040u"], ["k06-050u"]]
