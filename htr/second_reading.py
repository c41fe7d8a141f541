"""Reading prepared lines: one pass through the network, and second readings where a line's
shape is far from what the network reads best.

- Dense writing (many characters per pixel of line height: small letters packed tightly)
  leaves the network few timesteps per character. Stretched wider it reads better, while
  stretching a normally spaced line makes it worse; so each line is read once, its characters
  counted on the best path, and only a line denser than the model's ``dense_px_per_char`` is
  stretched to that pitch and read again.
- Tall ink far above or below the line's body (big flourishes, bits of the neighbouring lines
  that real crops keep) shrinks the letters when the whole crop is scaled to the input height.
  Such a line is also read cut to ``clip_bodies`` body heights above and below its body,
  scaled up, and the reading the network is more confident of is kept: a flourish cut off
  costs less than letters shrunk, but not always.

docs/experiments/2026-11-26-reading-a-line-twice.md has the measurements that chose both settings.
"""

from typing import Callable, Sequence

import cv2
import numpy as np

from htr.config import ModelConfig
from htr.decode import best_path
from htr.engine import Engine, run_batches
from htr.preprocess import PAD, core_band
from htr.results import confidence_from_score

MIN_STRETCH = 1.05  # smaller stretches change too little to be worth a second reading
MIN_CUT = 0.02  # a clip that removes less of the height than this is not worth one either
_INK = 0.35  # a prepared line's ink level that counts for finding its body


def characters_read(probabilities: np.ndarray) -> int:
    """Characters of the best path of a T x C softmax."""
    return len(best_path(probabilities).paths[0][0])


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


def clipped_to_body(image: np.ndarray, config: ModelConfig) -> np.ndarray | None:
    """The line cut to ``clip_bodies`` body heights above and below its body and scaled back up
    to the input height (wider in proportion); None if that would cut (next to) nothing."""
    if config.clip_bodies <= 0 or image.shape[0] <= 2 * PAD or image.shape[1] <= 2 * PAD:
        return None
    inner = image[PAD:-PAD, PAD:-PAD]
    mask = inner > _INK
    if not mask.any():
        return None
    top, bottom = core_band(mask)
    body = max(4, bottom - top)
    y0 = max(0, int(top - config.clip_bodies * body))
    y1 = min(inner.shape[0], int(bottom + config.clip_bodies * body))
    if y1 - y0 > (1 - MIN_CUT) * inner.shape[0] or y1 - y0 < 2:
        return None
    height = inner.shape[0]
    width = min(round(inner.shape[1] * height / (y1 - y0)), config.max_width - 2 * PAD)
    scaled = cv2.resize(inner[y0:y1], (max(1, width), height), interpolation=cv2.INTER_LINEAR)
    return np.pad(scaled, ((PAD, PAD), (PAD, PAD))).astype(np.float32)


def confidence(probabilities: np.ndarray) -> float:
    """The best path's geometric-mean probability per character (as ``Recognition.confidence``)."""
    labels, score = best_path(probabilities).paths[0]
    return confidence_from_score(score, len(labels))


def _read_stretching_dense(engine: Engine, config: ModelConfig, images: list[np.ndarray], batch_size: int,
                           on_batch: Callable[[int], None] | None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    probs = run_batches(engine, images, config.time_stride, batch_size, on_batch)
    factors = [stretch_factor(image, p, config) for image, p in zip(images, probs)]
    again = [i for i, factor in enumerate(factors) if factor > 1.0]
    if again:
        wider = [stretch_width(images[i], factors[i]) for i in again]
        for i, image, p in zip(again, wider, run_batches(engine, wider, config.time_stride, batch_size)):
            images[i], probs[i] = image, p
    return images, probs


def read_lines(engine: Engine, config: ModelConfig, images: Sequence[np.ndarray], batch_size: int = 32,
               on_batch: Callable[[int], None] | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The images the network finally read (dense lines stretched, tall ones perhaps clipped)
    and their T x C softmax, in the given order."""
    originals = list(images)
    read, probs = _read_stretching_dense(engine, config, list(originals), batch_size, on_batch)
    clipped = {i: c for i, c in enumerate(clipped_to_body(image, config) for image in originals) if c is not None}
    if clipped:
        order = list(clipped)
        other_read, other_probs = _read_stretching_dense(engine, config, [clipped[i] for i in order], batch_size, None)
        for i, image, p in zip(order, other_read, other_probs):
            if confidence(p) > confidence(probs[i]):
                read[i], probs[i] = image, p
    return read, probs
