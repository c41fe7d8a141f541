"""Reading prepared lines: one pass through the network, and a second, stretched, for dense writing.

Condensed writing (many characters per pixel of line height: small letters packed tightly, or
a line whose tall flourishes shrink everything else when it is scaled to the input height)
leaves the network few timesteps per character, and it misreads such lines far more often.
Stretched wider they read better, while stretching a normally spaced line makes it worse; so
each line is read once, its characters counted from the best path, and only a line denser than
the model's ``dense_px_per_char`` is stretched to that pitch and read again (README, "Dense
writing", has the measurements that chose the pitch).
"""

from typing import Callable, Sequence

import cv2
import numpy as np

from htr.config import ModelConfig
from htr.engine import Engine, run_batches
from htr.preprocess import PAD

MIN_STRETCH = 1.05  # smaller stretches change too little to be worth a second reading


def characters_read(probabilities: np.ndarray) -> int:
    """Characters of the best path of a T x C softmax: argmax runs that are not blank."""
    best = probabilities.argmax(axis=-1)
    starts = np.ones(len(best), bool)
    starts[1:] = best[1:] != best[:-1]
    return int(np.count_nonzero(starts & (best != 0)))


def stretch_factor(image: np.ndarray, probabilities: np.ndarray, config: ModelConfig) -> float:
    """How much wider to read a line again (1.0: as it is)."""
    if config.dense_px_per_char <= 0:
        return 1.0
    ink_width = image.shape[1] - 2 * PAD
    chars = characters_read(probabilities)
    if chars == 0 or ink_width <= 0:
        return 1.0
    factor = min(config.max_stretch, config.dense_px_per_char * chars / ink_width,
                 (config.max_width - 2 * PAD) / ink_width)
    return factor if factor >= MIN_STRETCH else 1.0


def stretch_width(image: np.ndarray, factor: float) -> np.ndarray:
    """A prepared line ``factor`` times wider, its empty border kept as it was."""
    inner = image[:, PAD:-PAD] if image.shape[1] > 2 * PAD else image
    width = max(1, round(inner.shape[1] * factor))
    wider = cv2.resize(inner, (width, image.shape[0]), interpolation=cv2.INTER_LINEAR)
    return np.pad(wider, ((0, 0), (PAD, PAD))).astype(np.float32)


def read_lines(engine: Engine, config: ModelConfig, images: Sequence[np.ndarray], batch_size: int = 32,
               on_batch: Callable[[int], None] | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The images the network finally read (dense lines stretched) and their T x C softmax."""
    images = list(images)
    probs = run_batches(engine, images, config.time_stride, batch_size, on_batch)
    factors = [stretch_factor(image, p, config) for image, p in zip(images, probs)]
    again = [i for i, factor in enumerate(factors) if factor > 1.0]
    if again:
        wider = [stretch_width(images[i], factors[i]) for i in again]
        for i, image, p in zip(again, wider, run_batches(engine, wider, config.time_stride, batch_size)):
            images[i], probs[i] = image, p
    return images, probs
