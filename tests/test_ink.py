"""Digital ink as input: InkML and IAM On-Line XML files read through the CLI and the recognizer."""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from htr.errors import BadInkError, NoInkError
from htr.ink import (MAX_DRAWING_CHARS, MAX_POINTS, Drawing, drawing_seq, load_ink, parse_drawing, parse_inkml,
                     render_ink, strokes_from_json)
from htr.metrics import error_rates


def inkml(strokes, qualified: bool = False) -> str:
    """A W3C InkML document; ``qualified`` writes every point after the first as a difference."""
    traces = []
    for stroke in strokes:
        if qualified and len(stroke) > 1:
            first, rest = stroke[0], np.diff(stroke, axis=0)
            points = [f"{first[0]:.0f} {first[1]:.0f}"] + [f"'{dx:.0f} '{dy:.0f}" for dx, dy in rest]
        else:
            points = [f"{x:.0f} {y:.0f}" for x, y in stroke]
        traces.append("<trace>" + ", ".join(points) + "</trace>")
    return '<ink xmlns="http://www.w3.org/2003/InkML">' + "".join(traces) + "</ink>"


def iam_xml(strokes) -> str:
    body = "".join("<Stroke>" + "".join(f'<Point x="{x:.0f}" y="{y:.0f}" time="0"/>' for x, y in s) + "</Stroke>"
                   for s in strokes)
    return f"<WhiteboardCaptureSession><StrokeSet>{body}</StrokeSet></WhiteboardCaptureSession>"


def test_inkml_traces_and_difference_qualifiers():
    strokes = [np.array([[10, 20], [13, 24], [19, 30]], np.float32), np.array([[50, 60]], np.float32)]
    for qualified in (False, True):
        parsed = parse_inkml(inkml(strokes, qualified))
        assert len(parsed) == 2
        for a, b in zip(parsed, strokes):
            np.testing.assert_allclose(a, b)
    # Second differences ("): 0, +1, +1 velocity steps from (0, 0) with a start velocity of 2.
    accel = parse_inkml('<ink><trace>0 0, \'2 \'0, "1 "0, "1 "0</trace></ink>')[0]
    np.testing.assert_allclose(accel[:, 0], [0, 2, 5, 9])


@pytest.mark.parametrize("bad, error", [
    ("<ink><trace>1 2, x y</trace></ink>", BadInkError),
    ("<ink><trace>", BadInkError),
    ("<notink/>", BadInkError),
    ("<ink></ink>", NoInkError),
])
def test_bad_inkml_is_a_clear_error(bad, error):
    with pytest.raises(error):
        parse_inkml(bad)


@pytest.mark.parametrize("bad", ['{"strokes": [[[1, "a"]]]}', '{"strokes": [[[NaN, 1]]]}', "[[1, 2, 3]]", "{}", "not json"])
def test_bad_stroke_json_is_a_clear_error(bad):
    with pytest.raises(BadInkError):
        strokes_from_json(bad)


def test_a_drawing_from_a_writing_surface():
    """One parser for what a browser or an API caller sends: strokes, the surface's version, its pen."""
    drawing = parse_drawing('{"seq": 7, "pen": 4, "strokes": [[[0, 0, 0], [10, 30, 16]], []]}')
    assert isinstance(drawing, Drawing) and drawing.seq == 7 and drawing.pen == 4.0
    assert len(drawing.strokes) == 1 and drawing.strokes[0].shape == (2, 2) and drawing.strokes[0].dtype == np.float32
    bare = parse_drawing(b"[[[0, 0], [10, 30]]]")  # a bare stroke list, as bytes: no version, no pen
    assert (bare.seq, bare.pen) == (0, 0.0) and np.array_equal(bare.strokes[0], drawing.strokes[0])
    assert parse_drawing({"strokes": [[[1, 2]]], "seq": "x", "pen": 1e9}).pen == 200  # clamped; junk is 0
    assert strokes_from_json('{"strokes": [[[0, 0], [10, 30]]]}')[0].tolist() == [[0, 0], [10, 30]]
    assert drawing_seq('{"seq": 12, "strokes": []}') == 12  # read even where there is nothing to draw
    assert drawing_seq('{"seq": 12, "strokes": [') == drawing_seq(None) == drawing_seq("[]") == 0


@pytest.mark.parametrize("value, error, words", [
    (None, NoInkError, "no strokes"), ("  ", NoInkError, "no strokes"), ('{"strokes": []}', NoInkError, "no strokes"),
    ("{not json", BadInkError, "not valid JSON"), ("42", BadInkError, "expected"),
    ('{"lines": []}', BadInkError, "expected"),
    ("[" + " " * MAX_DRAWING_CHARS + "]", BadInkError, "too large"),
    (json.dumps({"strokes": [[[i, 0] for i in range(MAX_POINTS + 1)]]}), BadInkError, "too many points"),
])
def test_what_is_not_a_drawing(value, error, words):
    with pytest.raises(error, match=words):
        parse_drawing(value)


def test_a_long_flat_scrawl_is_drawn_at_a_sensible_size_or_refused():
    wide = render_ink([np.array([[0, 0], [3000, 10], [6000, 0]], np.float32)])
    assert wide.shape[1] <= 6200
    with pytest.raises(BadInkError, match="wider than tall"):
        render_ink([np.array([[0, 0], [1e7, 1]], np.float32)])


def test_predict_reads_inkml_and_iam_ondb_files(tmp_path, ondb_validation):
    """`predict` gives the text of a drawing from either ink format, as well as from its image."""
    samples = [s for s in ondb_validation.samples if len(s.text) >= 15][:4]
    paths = []
    for i, sample in enumerate(samples):
        (tmp_path / f"line{i}.inkml").write_text(inkml(sample.strokes, qualified=i % 2 == 1))
        (tmp_path / f"line{i}.xml").write_text(iam_xml(sample.strokes))
        paths += [str(tmp_path / f"line{i}.inkml"), str(tmp_path / f"line{i}.xml")]
    (tmp_path / "broken.inkml").write_text("<ink><trace>1 2,")
    done = subprocess.run([sys.executable, "-m", "htr", "predict", "--decoder", "best", "--json", *paths,
                           str(tmp_path / "broken.inkml")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]  # the broken file is reported, the others read
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert "error" in rows[-1] and "broken.inkml" in rows[-1]["path"]
    texts = [r["text"] for r in rows[:-1]]
    assert texts[0::2] == texts[1::2]  # both formats of a line read the same
    references = [s.text for s in samples]
    assert error_rates(references, texts[0::2]).cer < 0.15
    assert len(load_ink(paths[1])) == len(samples[0].strokes)
