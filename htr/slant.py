"""Slant: how far a writer's upright strokes lean, and a line sheared so that they stand up.

Writers lean their letters anywhere from 30 degrees back to 30 degrees forward. A network
can learn every slant from augmented data, but it reads unseen hands better when every line
it trains on and reads is set upright first (docs/experiments/2026-11-27-upright-writing.md): one less way for
writers to differ.

The slant comes from the edges of the near-upright strokes: a stroke ``x = x0 + k * y`` has
its intensity gradient ``(gx, gy)`` along ``(1, -k)``, so each strong edge pixel votes
``k = -gy / gx``, weighted by its strength squared; the weighted median is the line's slant.
Horizontal strokes (large ``|k|``) do not vote.
"""

import cv2
import numpy as np

_MAX_LEAN = 1.0  # |k| of an edge that still votes: 45 degrees from upright
_STRONG = 0.3  # an edge votes when its gradient is this share of the line's strongest
_MIN_VOTES = 50  # fewer voting pixels than this (a dot, a dash): no slant found
_INK = 0.5  # the ink level that counts when trimming the sheared line


def line_slant(ink: np.ndarray) -> float:
    """The shear ``s`` that sets the strokes of an ink map (ink bright on black) upright:
    ``x' = x + s * (y - centre)``. Positive for writing that leans forward; 0 when unsure."""
    if ink.size == 0 or float(ink.max()) <= 0:
        return 0.0
    smooth = cv2.GaussianBlur(ink.astype(np.float32), (3, 3), 0)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
    strength = np.hypot(gx, gy)
    voting = (strength > _STRONG * float(strength.max())) & (np.abs(gx) > 1e-6)
    lean = -gy[voting] / gx[voting]
    weight = strength[voting] ** 2
    upright_ish = np.abs(lean) < _MAX_LEAN
    lean, weight = lean[upright_ish], weight[upright_ish]
    if len(lean) < _MIN_VOTES:
        return 0.0
    order = np.argsort(lean)
    cumulative = np.cumsum(weight[order])
    median = float(lean[order][np.searchsorted(cumulative, cumulative[-1] / 2)])
    return -median


def sheared(ink: np.ndarray, shear: float) -> np.ndarray:
    """``ink`` sheared by ``x' = x + shear * (y - centre)`` on a canvas wide enough to hold it all."""
    height, width = ink.shape
    extra = int(np.ceil(abs(shear) * height))
    matrix = np.array([[1.0, shear, extra / 2 - shear * (height - 1) / 2], [0.0, 1.0, 0.0]])
    return cv2.warpAffine(ink, matrix, (width + extra, height), flags=cv2.INTER_LINEAR, borderValue=0.0)


def deslanted(ink: np.ndarray, share: float = 1.0, max_width: int | None = None) -> tuple[np.ndarray, float]:
    """An ink map cropped to its line with ``share`` of its slant taken out, trimmed to its ink
    again and at most ``max_width`` wide; and the shear applied (0.0, and ``ink`` itself, if none)."""
    if min(ink.shape) < 2 or share == 0.0:
        return ink, 0.0
    shear = share * line_slant(ink)
    if shear == 0.0:
        return ink, 0.0
    upright = sheared(ink, shear)
    columns = np.flatnonzero((upright > _INK).any(axis=0))
    if len(columns) == 0:
        return ink, 0.0
    upright = upright[:, max(0, columns[0] - 1): columns[-1] + 2]
    if max_width and upright.shape[1] > max_width:
        upright = cv2.resize(upright, (max_width, upright.shape[0]), interpolation=cv2.INTER_AREA)
    return np.clip(upright, 0.0, 1.0).astype(np.float32), shear
