"""Slant: found from the strokes' edges, and taken out without losing ink or the line's height."""

import numpy as np
import pytest

from htr.preprocess import PAD, preprocess
from htr.render import render_strokes
from htr.slant import deslanted, line_slant, sheared


def bars(lean: float, height: int = 48, width: int = 400) -> np.ndarray:
    """Upright bars (a crude line of 'l's and 'i's) sheared so their tops lean ``lean`` forward."""
    ink = np.zeros((height, width), np.float32)
    for x in range(40, width - 40, 23):
        ink[6:height - 6, x:x + 4] = 1.0
    return sheared(ink, -lean)


@pytest.mark.parametrize("lean", [-0.5, -0.25, 0.0, 0.3, 0.6])
def test_the_slant_of_sheared_bars_is_the_shear_that_undoes_it(lean):
    assert line_slant(bars(lean)) == pytest.approx(lean, abs=0.05)


def test_a_blank_or_tiny_line_has_no_slant():
    assert line_slant(np.zeros((40, 200), np.float32)) == 0.0
    dot = np.zeros((40, 200), np.float32)
    dot[18:21, 100:103] = 1.0
    assert line_slant(dot) == 0.0
    assert line_slant(np.zeros((0, 0), np.float32)) == 0.0


def test_deslanting_sets_the_strokes_upright_and_keeps_height_and_ink():
    leaning = bars(0.5)
    upright, shear = deslanted(leaning)
    assert shear == pytest.approx(0.5, abs=0.05)
    assert upright.shape[0] == leaning.shape[0]
    assert abs(line_slant(upright)) < 0.05
    assert upright.sum() == pytest.approx(leaning.sum(), rel=0.03)
    # Trimmed to the ink again, and upright bars take less width than leaning ones.
    assert upright[:, 0].max() < 0.5 and upright[:, -1].max() < 0.5
    assert upright[:, :3].max() > 0.5 and upright[:, -3:].max() > 0.5
    assert upright.shape[1] < leaning.shape[1]
    half, half_shear = deslanted(leaning, share=0.5)
    assert half_shear == pytest.approx(shear / 2)
    assert line_slant(half) == pytest.approx(0.25, abs=0.05)


def test_an_empty_line_or_no_share_leaves_the_line_as_it_is():
    empty = np.zeros((56, 100), np.float32)
    assert deslanted(empty) == (empty, 0.0)
    leaning = bars(0.4)
    assert deslanted(leaning, share=0.0) == (leaning, 0.0)
    assert deslanted(np.zeros((1, 6), np.float32))[1] == 0.0


def test_deslanting_keeps_a_long_line_within_the_widest_input():
    upright, _ = deslanted(bars(0.6, width=1000), max_width=600)
    assert upright.shape[1] == 600


def test_preprocessing_sets_a_slanted_line_upright_when_asked(ondb_split):
    """A real line leaned forward: prepared as the model's config says, upright or as written."""
    sample = ondb_split.samples[40]
    gray = render_strokes(sample.strokes, "canvas", np.random.default_rng(0))
    gray = gray if gray.ndim == 2 else gray.mean(axis=2).astype(np.uint8)
    ink = sheared(255.0 - gray.astype(np.float32), -0.5)  # leaning 0.5 further forward
    leaning = np.clip(255 - ink, 0, 255).astype(np.uint8)
    as_written = preprocess(leaning, 64, 2048)
    upright = preprocess(leaning, 64, 2048, deslant=1.0)
    assert upright.shape[0] == as_written.shape[0] == 64
    assert not upright[:PAD].any() and not upright[-PAD:].any()
    assert not upright[:, :PAD].any() and not upright[:, -PAD:].any()
    assert line_slant(as_written[PAD:-PAD, PAD:-PAD]) > 0.35
    assert abs(line_slant(upright[PAD:-PAD, PAD:-PAD])) < 0.1
    assert upright.shape[1] < as_written.shape[1]
    assert np.array_equal(preprocess(leaning, 64, 2048, deslant=0.0), as_written)


def test_real_writing_keeps_its_slant_estimate_under_a_known_shear(ondb_validation):
    """Real pen lines: leaning them further by 0.3 moves the slant found by close to 0.3."""
    moved = []
    for i, sample in enumerate(ondb_validation.samples[:12]):
        gray = render_strokes(sample.strokes, "canvas", np.random.default_rng(i))
        gray = gray if gray.ndim == 2 else gray.mean(axis=2)
        ink = (1.0 - gray.astype(np.float32) / 255.0)
        moved.append(line_slant(sheared(ink, -0.3)) - line_slant(ink))
    assert np.median(moved) == pytest.approx(0.3, abs=0.08)
