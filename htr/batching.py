"""Grouping lines into batches by width, and padding a batch to one width.

Two things make a line read the same alone and padded in a batch beside wider lines. The
convolutions see about 20 pixels right of each timestep, so every line gets at least
``RIGHT_MARGIN`` pixels of empty paper after its ink: the features of its own timesteps are
then the same whatever follows. And the LSTMs are told each line's own length (the Keras
mask, or the ``sequence_lens`` of ONNX's native LSTM op), so the backward pass starts at the
line's end, not in the padding. Batching lines of similar width then only saves work
(``tests/test_onnx.py`` shows what padding does without these).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

# Empty paper after every line's ink: more than the convolutions' reach to the right.
RIGHT_MARGIN = 32
# Lines in one batch are at most this much wider than its narrowest (relative, plus pixels).
MAX_PAD_RATIO = 0.1
MAX_PAD_PIXELS = 16


def pad_batch(images: Sequence[np.ndarray], quantum: int = 64, margin: int = 0) -> np.ndarray:
    """Stack (H, W) ink maps into (N, H, W, 1), padding with empty paper on the right.

    The batch is ``margin`` pixels wider than its widest line, rounded up to a multiple of
    ``quantum`` (a compiled Keras graph is reused for all widths of one multiple).
    """
    width = max(im.shape[1] for im in images) + margin
    width = int(math.ceil(width / quantum) * quantum)
    batch = np.zeros((len(images), images[0].shape[0], width, 1), np.float32)
    for i, im in enumerate(images):
        batch[i, :, : im.shape[1], 0] = im
    return batch


def width_batches(widths: Sequence[int], batch_size: int, max_pad_ratio: float = MAX_PAD_RATIO,
                  max_pad_pixels: int = MAX_PAD_PIXELS) -> list[list[int]]:
    """Indices of ``widths`` in batches of at most ``batch_size`` lines of similar width.

    Lines are taken narrowest first; a batch closes when the next line is wider than its
    narrowest by more than ``max_pad_ratio`` of it plus ``max_pad_pixels``.
    """
    order = sorted(range(len(widths)), key=lambda i: widths[i])
    batches: list[list[int]] = []
    for i in order:
        if (batches and len(batches[-1]) < batch_size
                and widths[i] <= widths[batches[-1][0]] * (1 + max_pad_ratio) + max_pad_pixels):
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches
