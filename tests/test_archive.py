"""Reading an archive (``predict FOLDER --out OUT``): one file per input in each format, PAGE XML
and ALTO valid and readable, resuming after an interrupted run, failures recorded, and the Ray
engine writing what the local one writes."""

import io
import json
import os
import shutil
import xml.etree.ElementTree as ET
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, MODEL_DIR, ROOT, write_png
from test_cli import htr

from htr.archive import (
    ERRORS,
    MANIFEST,
    STATE_DIR,
    ReadSettings,
    find_inputs,
    read_archive,
)
from htr.formats import ALTO_NS, PAGE_NS

SCHEMAS = ROOT / "tests" / "data" / "schemas"
ALTO_XSD = SCHEMAS / "alto-4-4.xsd"
LINES = sorted((FIXTURES / "iam" / "lines").rglob("*.png"))


@pytest.fixture(scope="module")
def tree(tmp_path_factory, iam_dev_forms) -> Path:
    """A small archive: a stacked page of real lines, single lines in nested folders, pen strokes."""
    from htr.synth.pages import stack_lines

    root = tmp_path_factory.mktemp("archive") / "letters"
    forms, boxes = iam_dev_forms
    page = stack_lines(forms[0][:3], boxes, np.random.default_rng(3), squeeze=0.9)
    write_png(root / "box1" / "page-1.png", page.image)
    for k, line in enumerate(LINES[:2]):
        shutil.copy(line, root / "box1" / f"line-{k}.png")
    (root / "box2" / "sub").mkdir(parents=True)
    shutil.copy(LINES[2], root / "box2" / "sub" / "line-2.png")
    ink = min((FIXTURES / "iam-ondb" / "lineStrokes").rglob("*.xml"))
    shutil.copy(ink, root / "box2" / "strokes.xml")
    (root / "box2" / "notes.txt").write_text("not a page")
    return root


def _copy(tree: Path, dest: Path) -> Path:
    shutil.copytree(tree, dest, symlinks=True)
    return dest


def _read(names, out, fmt="jsonl", **kw):
    return read_archive([str(n) for n in names], out, ReadSettings(format=fmt, decoder="best"), MODEL_DIR,
                        progress=False, **kw)


def _outputs(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and STATE_DIR not in p.relative_to(out).parts and p.name != ERRORS}


def test_the_tree_is_mirrored_and_nothing_else_is_read(tree, tmp_path):
    inputs = find_inputs([str(tree)], tmp_path / "out", "pagexml")
    assert [i.output for i in inputs] == ["box1/line-0.xml", "box1/line-1.xml", "box1/page-1.xml",
                                          "box2/strokes.xml", "box2/sub/line-2.xml"]
    # several inputs: placed under their common parent, each folder by its own name
    inputs = find_inputs([str(tree / "box1"), str(tree / "box2" / "sub" / "line-2.png")], tmp_path / "o", "txt")
    assert [i.output for i in inputs] == ["box1/line-0.txt", "box1/line-1.txt", "box1/page-1.txt",
                                          "box2/sub/line-2.txt"]
    # two inputs with one stem keep their suffixes apart; OUT inside the tree is not walked
    shutil.copy(LINES[0], tmp_path / "a.png")
    shutil.copy(LINES[0], tmp_path / "a.jpg")
    (tmp_path / "out").mkdir()
    shutil.copy(LINES[0], tmp_path / "out" / "old.png")
    assert [i.output for i in find_inputs([str(tmp_path)], tmp_path / "out", "jsonl")] == ["a.jpg.json", "a.png.json"]


def test_json_and_text_outputs_are_what_predict_prints(tree, tmp_path):
    for fmt, flag in (("jsonl", "--json"), ("txt", None)):
        out = tmp_path / fmt
        assert htr("predict", tree, "--out", out, "--format", fmt, "--decoder", "best").returncode == 0
        files = sorted(str(p) for p in tree.rglob("*") if p.suffix in (".png", ".xml"))
        printed = htr("predict", *files, "--decoder", "best", *([flag] if flag else []))
        assert printed.returncode == 0, printed.stderr
        written = "".join(p.read_text() for p in sorted(out.rglob("*.json" if fmt == "jsonl" else "*.txt")))
        assert sorted(written.splitlines()) == sorted(printed.stdout.splitlines())


def _page_text(path: Path) -> str:
    ns = {"pc": PAGE_NS}
    root = ET.parse(path).getroot()
    return "\n".join(line.findtext("pc:TextEquiv/pc:Unicode", "", ns)
                     for line in root.iterfind(".//pc:TextLine", ns))


def test_page_xml_and_alto_validate_and_carry_the_text(tree, tmp_path):
    import xmlschema

    texts = {}
    assert _read([tree], tmp_path / "json").failed == 0
    for path in (tmp_path / "json").rglob("*.json"):
        texts[str(path.relative_to(tmp_path / "json").with_suffix(""))] = json.loads(path.read_text())["text"]
    assert len(texts) == 5 and any("\n" in t for t in texts.values())

    summary = _read([tree], tmp_path / "page", "pagexml")
    assert summary.read == 5 and summary.failed == 0
    page_schema = xmlschema.XMLSchema(str(SCHEMAS / "page.xsd"))
    for name, text in texts.items():
        path = tmp_path / "page" / f"{name}.xml"
        page_schema.validate(str(path))
        assert _page_text(path) == text
        page = ET.parse(path).getroot().find(f"{{{PAGE_NS}}}Page")
        assert int(page.get("imageWidth")) > 0 and page.get("imageFilename") == Path(name).name + (
            ".xml" if name.endswith("strokes") else ".png")
        for line in page.iter(f"{{{PAGE_NS}}}TextLine"):  # outline, baseline, text with confidence
            assert len(line.find(f"{{{PAGE_NS}}}Coords").get("points").split()) >= 4
            assert line.find(f"{{{PAGE_NS}}}Baseline") is not None
            assert 0 <= float(line.find(f"{{{PAGE_NS}}}TextEquiv").get("conf")) <= 1

    # a single-line image is a one-line page covering the image; its words lie inside it
    single = ET.parse(tmp_path / "page" / "box1" / "line-0.xml").getroot()
    assert len(list(single.iter(f"{{{PAGE_NS}}}TextLine"))) == 1
    from PIL import Image

    width, height = Image.open(tree / "box1" / "line-0.png").size
    words = [np.array([p.split(",") for p in w.find(f"{{{PAGE_NS}}}Coords").get("points").split()], int)
             for w in single.iter(f"{{{PAGE_NS}}}Word")]
    assert len(words) == len(texts["box1/line-0"].split())
    assert all(w[:, 0].max() < width and w[:, 1].max() < height for w in words)
    assert [w[:, 0].min() for w in words] == sorted(w[:, 0].min() for w in words)

    assert _read([tree], tmp_path / "alto", "alto").failed == 0
    from alto_tools.alto_tools import alto_parse, alto_text

    alto_schema = None
    if ALTO_XSD.is_file():
        alto_schema = xmlschema.XMLSchema(str(ALTO_XSD), locations={"http://www.w3.org/1999/xlink":
                                                                    str(SCHEMAS / "xlink.xsd")})
    for name, text in texts.items():
        path = tmp_path / "alto" / f"{name}.xml"
        if alto_schema is not None:
            alto_schema.validate(str(path))
        with open(path, "rb") as handle:  # read by alto-tools, an ALTO reader
            _, xml, namespace = alto_parse(handle)
            printed = io.StringIO()
            with redirect_stdout(printed):
                alto_text(xml, namespace)
        assert namespace == ALTO_NS
        assert [row.strip() for row in printed.getvalue().strip("\n").split("\n")] == \
               [" ".join(row.split()) for row in text.split("\n")]
    if alto_schema is None:
        pytest.skip(f"ALTO read back, but not validated: {ALTO_XSD} (ALTO v4.4's schema) is not here")


def test_an_interrupted_run_resumes_and_a_finished_one_reads_nothing(tree, tmp_path):
    out = tmp_path / "out"
    stop_after = 2

    def interrupt(item, outcome):
        interrupt.count += 1
        if interrupt.count == stop_after:
            raise KeyboardInterrupt

    interrupt.count = 0
    with pytest.raises(KeyboardInterrupt):
        _read([tree], out, "pagexml", on_outcome=interrupt)
    first = {name: (out / name).stat().st_mtime_ns for name in _outputs(out)}
    assert len(first) == stop_after
    assert not list((out / STATE_DIR).glob("tmp/*"))
    # what a kill leaves: a temporary file being written, the manifest's last line cut short
    (out / STATE_DIR / "tmp").mkdir(exist_ok=True)
    (out / STATE_DIR / "tmp" / "123-9.xml").write_bytes(b"<?xml half")
    with open(out / STATE_DIR / MANIFEST, "a") as handle:
        handle.write('{"output": "box2/stro')

    summary = _read([tree], out, "pagexml")
    assert (summary.read, summary.skipped, summary.failed) == (5 - stop_after, stop_after, 0)
    assert {name: (out / name).stat().st_mtime_ns for name in first} == first  # not rewritten
    assert len(_outputs(out)) == 5 and not (out / STATE_DIR / "tmp").exists()

    again = _read([tree], out, "pagexml")
    assert (again.read, again.skipped) == (0, 5)

    # an input changed since its output: read again; other settings: everything read again
    target = tree / "box1" / "line-1.png"
    later = (out / "box1" / "line-1.xml").stat().st_mtime_ns + 10**9
    os.utime(target, ns=(later, later))
    assert _read([tree], out, "pagexml").read == 1
    other = read_archive([str(tree)], out, ReadSettings(format="pagexml", decoder="beam"), MODEL_DIR, progress=False)
    assert other.read == 5


def test_failures_are_recorded_and_the_rest_is_read(tree, tmp_path):
    root = _copy(tree, tmp_path / "tree")
    (root / "box1" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    (root / "box2" / "gone.jpg").symlink_to(root / "nowhere.jpg")  # a file that cannot be opened
    out = tmp_path / "out"
    result = htr("predict", root, "--out", out, "--format", "alto", "--decoder", "best")
    assert result.returncode == 1
    errors = [json.loads(row) for row in (out / ERRORS).read_text().splitlines()]
    assert [(Path(e["path"]).name, e["error"]) for e in errors] == [
        ("corrupt.png", "not a readable image (use PNG, JPEG, WebP, BMP, GIF or TIFF)"), ("gone.jpg", "no such file")]
    assert len(_outputs(out)) == 5
    assert "read 5, skipped 0 (done before), failed 2" in result.stderr
    # a second run tries the failed ones again, and only them
    again = htr("predict", root, "--out", out, "--format", "alto", "--decoder", "best")
    assert again.returncode == 1 and "read 0, skipped 5 (done before), failed 2" in again.stderr


@pytest.fixture
def local_ray():
    """A local Ray of 2 CPUs for the test (one start for its runs), shut down after it."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_ray_writes_what_the_local_engine_writes(tree, tmp_path, local_ray):
    root = tmp_path / "two"
    (root / "sub").mkdir(parents=True)
    shutil.copy(tree / "box1" / "page-1.png", root / "page-1.png")
    shutil.copy(LINES[0], root / "sub" / "line.png")
    (root / "sub" / "bad.png").write_bytes(b"not an image")
    for engine in ("local", "ray"):
        summary = _read([root], tmp_path / engine, "pagexml", engine=engine, workers=2 if engine == "ray" else None)
        assert (summary.read, summary.failed) == (2, 1)
    local, ray = _outputs(tmp_path / "local"), _outputs(tmp_path / "ray")
    assert list(local) == ["page-1.xml", "sub/line.xml"] and local == ray
    assert (tmp_path / "local" / ERRORS).read_bytes() == (tmp_path / "ray" / ERRORS).read_bytes()
    # resumable the same way: nothing left to read
    assert _read([root], tmp_path / "ray", "pagexml", engine="ray", workers=2).skipped == 2


def test_ray_missing_or_options_without_out_say_what_to_do(tmp_path):
    from test_packaging import run_without_training

    block_ray = ("import importlib.abc, sys\n"
                 "class _B(importlib.abc.MetaPathFinder):\n"
                 "    def find_spec(self, name, path=None, target=None):\n"
                 "        if name.split('.')[0] == 'ray': raise ModuleNotFoundError(name=name)\n"
                 "sys.meta_path.insert(0, _B())\n"
                 "from htr.__main__ import main\nsys.exit(main(sys.argv[1:]))")
    shutil.copy(LINES[0], tmp_path / "a.png")
    result = run_without_training(block_ray, "predict", str(tmp_path), "--out", str(tmp_path / "out"),
                                  "--engine", "ray")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: --engine ray needs Ray") and 'pip install "htr[ray]"' in lines[-1]
    assert "Traceback" not in result.stderr
    for args in ((str(tmp_path),), (str(tmp_path / "a.png"), "--format", "alto")):
        result = htr("predict", *args)
        assert result.returncode == 2 and "give --out OUT" in result.stderr


def test_a_photo_is_given_in_the_photo_s_own_pixels(tree, tmp_path):
    """A phone photo larger than the reader's working size: its flattened sheet is read, and
    the PAGE outlines are mapped back onto the sheet in the photo as stored."""
    import cv2

    from htr.synth.photos import photograph

    page = cv2.imread(str(tree / "box1" / "page-1.png"), cv2.IMREAD_GRAYSCALE)
    photo = photograph(page, "", seed=2, long_side=3200)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "photo.jpg").write_bytes(photo.jpeg)
    assert _read([tmp_path / "in"], tmp_path / "out", "pagexml").read == 1
    root = ET.parse(tmp_path / "out" / "photo.xml").getroot()
    page_node = root.find(f"{{{PAGE_NS}}}Page")
    assert (int(page_node.get("imageWidth")), int(page_node.get("imageHeight"))) == tuple(photo.size)
    sheet = photo.corners.astype(np.float32).reshape(-1, 1, 2)
    lines = list(root.iter(f"{{{PAGE_NS}}}TextLine"))
    assert len(lines) == 3
    for line in lines:
        points = [tuple(float(v) for v in p.split(",")) for p in line.find(f"{{{PAGE_NS}}}Coords").get("points").split()]
        assert all(cv2.pointPolygonTest(sheet, p, True) > -4 for p in points)
    # and the lines lie where the sheet's writing is: across most of its width
    xs = [float(p.split(",")[0]) for line in lines for p in line.find(f"{{{PAGE_NS}}}Coords").get("points").split()]
    assert max(xs) - min(xs) > 0.5 * (photo.corners[:, 0].max() - photo.corners[:, 0].min())
