"""The shipped model on inputs its training renderer does not draw.

Every case turns the same fixed validation lines into another kind of picture (htr/stress.py);
its character error rate must stay within 1.5x of the same lines' clean rendering.
"""

import numpy as np
import pytest

from htr.metrics import error_rates
from htr.preprocess import line_tilt
from htr.synth.stress import CASES, KNOWN_WEAK, stressed

LINES = 60
TOLERANCE = 1.5


def _cer(recognizer, samples, case: str) -> float:
    images = [stressed(sample.strokes, case, index) for index, sample in enumerate(samples)]
    predictions = [r.text for r in recognizer.recognize_batch(images)]
    return error_rates([s.text for s in samples], predictions).cer


@pytest.fixture(scope="module")
def lines(ondb_split):
    return ondb_split.samples[:LINES]


@pytest.fixture(scope="module")
def clean_cer(recognizer, lines):
    cer = _cer(recognizer, lines, "clean")
    assert 0 < cer < 0.2, f"clean CER {cer:.2%}: the shipped model does not read its validation lines"
    return cer


@pytest.mark.parametrize("case", [c for c in CASES if c != "clean" and c not in KNOWN_WEAK])
def test_hard_input_stays_within_tolerance_of_clean(recognizer, lines, clean_cer, case):
    cer = _cer(recognizer, lines, case)
    assert cer <= TOLERANCE * clean_cer, f"{case}: CER {cer:.2%} vs clean {clean_cer:.2%}"


def test_cases_are_what_they_claim(lines):
    """The stressed images really are big, small, rotated, tinted and unevenly lit."""
    strokes = lines[0].strokes
    assert stressed(strokes, "square_canvas", 0).shape == (800, 800)
    assert stressed(strokes, "wide_canvas", 0).shape == (400, 1600)
    small, large = stressed(strokes, "small_writing", 0), stressed(strokes, "large_writing", 0)
    assert small.shape[0] < 140 and large.shape[0] > 400
    for case in ("square_canvas", "wide_canvas", "small_writing", "large_writing"):
        image = stressed(strokes, case, 0)
        ink_fraction = float((image < 128).mean())
        assert 0.001 < ink_fraction < 0.15, case  # mostly white margin, some ink
    paper = stressed(strokes, "off_white_paper", 0)
    assert paper.ndim == 3 and np.median(paper[..., 2]) < np.median(paper[..., 0]) < 245  # cream, not white
    photo = stressed(strokes, "uneven_light_photo", 0).astype(float).mean(axis=2)
    corners = [photo[:20, :20].mean(), photo[:20, -20:].mean(), photo[-20:, :20].mean(), photo[-20:, -20:].mean()]
    assert max(corners) - min(corners) > 40  # one side far darker than the other
    assert np.array_equal(stressed(strokes, "rotated", 3), stressed(strokes, "rotated", 3))
    for case, (low, high) in (("rotated", (1, 8)), ("steeply_rotated", (8, 42))):
        tilts = [abs(line_tilt(stressed(strokes, case, i) < 128)) for i in range(4)]
        assert all(low <= tilt <= high for tilt in tilts), (case, tilts)
    notebook = stressed(strokes, "notebook_paper", 0).astype(int)
    red = (notebook[..., 0] > 150) & (notebook[..., 1] < 130)
    assert red.mean(axis=0).max() > 0.9  # a red margin line from top to bottom
    squared = [stressed(strokes, "squared_paper", i).astype(int).min(axis=2) < 215 for i in range(2)]
    for lines in squared:  # printed lines across and down the whole picture
        assert (lines.mean(axis=1) > 0.9).sum() >= 2 and (lines.mean(axis=0) > 0.9).sum() >= 4
    with pytest.raises(ValueError, match="unknown case"):
        stressed(strokes, "sideways", 0)
