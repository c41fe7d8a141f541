"""htr.heatmap: the input line stacked over its per-timestep CTC probabilities."""


import numpy as np
import pytest


from htr.heatmap import _MARGIN, recognition_heatmap, render_heatmap, row_name  # noqa: E402
from htr.results import Alternative, Recognition  # noqa: E402

CHARSET = " abc"
LABELS = ["<blank>"] + list(CHARSET)


def peaked(steps: int, path: list[int]) -> np.ndarray:
    """T x C probabilities: class ``path[t]`` gets 0.9 at step t, the rest share 0.1."""
    probs = np.full((steps, len(LABELS)), 0.1 / (len(LABELS) - 1), np.float32)
    for t, c in enumerate(path):
        probs[t] = 0.1 / (len(LABELS) - 1)
        probs[t, c] = 0.9
    return probs


def test_columns_line_up_with_the_image():
    image = np.zeros((64, 37), np.float32)
    image[20:40, 8:12] = 1.0  # a stroke under timesteps 2
    probs = peaked(10, [0, 0, 2, 0, 0, 0, 3, 0, 0, 0])  # T = ceil(37 / 4)
    out = render_heatmap(probs, image, LABELS, time_stride=4, scale=2)
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    assert out.shape[1] == _MARGIN + 10 * 4 * 2  # one 8-pixel column per timestep
    # The stroke is drawn dark at x = 8..11 -> 16..23 after scaling, right of the label margin.
    ink_rows = out[40:80, _MARGIN:, 0]
    dark = np.where(ink_rows.min(axis=0) < 100)[0]
    assert dark.min() == 16 and dark.max() == 23


def test_rows_active_or_all():
    image = np.ones((64, 40), np.float32) * 0.0
    probs = peaked(10, [0, 1, 0, 0, 2, 0, 0, 0, 0, 0])  # "c" (index 3) never fires
    probs[:, 3] = 0.0
    active = render_heatmap(probs, image, LABELS, rows="active", min_prob=0.05, scale=1)
    every = render_heatmap(probs, image, LABELS, rows="all", scale=1)
    assert every.shape[0] > active.shape[0]
    assert every.shape[1] == active.shape[1] == _MARGIN + 40


def test_wide_lines_are_not_doubled():
    probs = peaked(500, [0] * 500)
    out = render_heatmap(probs, np.zeros((64, 2000), np.float32), LABELS)
    assert out.shape[1] == _MARGIN + 2000  # automatic scale 1 beyond 2400 pixels


def test_bad_shapes_raise():
    with pytest.raises(ValueError):
        render_heatmap(np.zeros((0, 5)), np.zeros((64, 10)), LABELS)
    with pytest.raises(ValueError):
        render_heatmap(np.zeros((3, 5)), np.zeros((64, 10, 3)), LABELS)
    with pytest.raises(ValueError):
        render_heatmap(np.zeros((3, 4)), np.zeros((64, 10)), LABELS)


def test_recognition_heatmap_and_row_names():
    probs = peaked(6, [0, 2, 0, 1, 0, 3])
    r = Recognition(text="a b", confidence=0.9, alternatives=[Alternative("a b", -0.1)], probabilities=probs,
                    charset=CHARSET, image=np.zeros((64, 24), np.float32))
    out = recognition_heatmap(r, scale=3)
    assert out.shape[1] == _MARGIN + 6 * 4 * 3
    assert row_name("<blank>") == "blank" and row_name(" ") == "space" and row_name("x") == "x"


def test_best_path_marked_in_its_cells():
    path = [0, 0, 2, 2, 0, 3, 0, 1, 0, 0]
    probs = peaked(10, path)
    plain = render_heatmap(probs, np.zeros((64, 40), np.float32), LABELS, rows="all", scale=2)
    marked = render_heatmap(probs, np.zeros((64, 40), np.float32), LABELS, rows="all", scale=2, mark_best_path=True)
    red = (marked[..., 0] > 200) & (marked[..., 1] < 120) & (marked[..., 2] < 120)
    assert not ((plain[..., 0] > 200) & (plain[..., 1] < 120) & (plain[..., 2] < 120)).any()
    ys, xs = np.nonzero(red)
    steps = sorted(set((xs - _MARGIN) // 8))
    assert steps == list(range(10))  # a dot at every timestep ...
    # ... in the row of that timestep's class (12-pixel rows, blank first).
    blank_y = np.mean(ys[(xs - _MARGIN) // 8 == 0])
    for t, c in enumerate(path):
        assert np.mean(ys[(xs - _MARGIN) // 8 == t]) - blank_y == pytest.approx(12 * c, abs=1)
