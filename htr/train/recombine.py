"""New lines from a writer's own words: cut each line at its word gaps, join words anew.

A few lines teach a recurrent reader their texts as well as their hand: trained on them alone
it learns to expect those letter sequences. Cut into words (where the ink's gaps match the
spaces of the text) and joined in new orders, the same writer's words make lines of texts never
seen, so what is learnt is the hand. A line is cut only where the gaps are unambiguous: the
narrowest gap taken as a space is clearly wider than the widest one left inside a word.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLEAR_MARGIN = 1.3  # the narrowest space-gap / the widest gap inside a word
MIN_SPACE = 0.1  # the narrowest space-gap, in line heights


@dataclass
class InkWord:
    """A word of a line: its text, and its strokes (ink) or its columns of an ink map (image)."""

    text: str
    strokes: list[np.ndarray] | None = None  # x from 0, y relative to the line's middle, in line heights
    columns: np.ndarray | None = None  # (height, width) slice of the line's ink map


def _pick_gaps(starts: np.ndarray, ends: np.ndarray, spaces: int, min_gap: float) -> list[int] | None:
    """Indices i of the gaps (between piece i and i+1) taken as spaces, or None where unclear."""
    if spaces == 0:
        return []
    gaps = starts[1:] - ends[:-1]
    if len(gaps) < spaces:
        return None
    order = np.argsort(gaps)[::-1]
    chosen, rest = gaps[order[:spaces]], gaps[order[spaces:]]
    if chosen.min() < min_gap or (len(rest) and chosen.min() < CLEAR_MARGIN * max(rest.max(), 0)):
        return None
    return sorted(int(i) for i in order[:spaces])


def stroke_words(strokes: list[np.ndarray], text: str) -> list[InkWord] | None:
    """A line's strokes cut into its words, or None where its gaps do not show them clearly."""
    words = text.split()
    points = np.concatenate(strokes)
    y_lo, y_hi = np.percentile(points[:, 1], [5, 95])
    height = max(1e-6, float(y_hi - y_lo))
    middle = float(np.median(points[:, 1]))
    # Pieces: strokes whose x-extents overlap (an i's dot lies over its stem).
    spans = sorted((float(s[:, 0].min()), float(s[:, 0].max()), k) for k, s in enumerate(strokes))
    pieces: list[list] = []
    for lo, hi, k in spans:
        if pieces and lo <= pieces[-1][1]:
            pieces[-1][1] = max(pieces[-1][1], hi)
            pieces[-1][2].append(k)
        else:
            pieces.append([lo, hi, [k]])
    cuts = _pick_gaps(np.array([p[0] for p in pieces]), np.array([p[1] for p in pieces]), len(words) - 1,
                      MIN_SPACE * height)
    if cuts is None:
        return None
    out, start = [], 0
    for word, end in zip(words, [*cuts, len(pieces) - 1], strict=True):
        members = [strokes[k] for piece in pieces[start : end + 1] for k in piece[2]]
        left = min(float(s[:, 0].min()) for s in members)
        out.append(InkWord(word, strokes=[np.stack([(s[:, 0] - left) / height, (s[:, 1] - middle) / height], 1)
                                          for s in members]))
        start = end + 1
    return out


def map_words(ink: np.ndarray, text: str, threshold: float = 0.2) -> list[InkWord] | None:
    """A preprocessed line's ink map cut into its words, or None where its gaps are unclear."""
    words = text.split()
    inked = (ink > threshold).sum(axis=0) > 0
    padded = np.concatenate([[False], inked, [False]])
    changes = np.flatnonzero(padded[1:] != padded[:-1])
    starts, ends = changes[0::2], changes[1::2]  # runs of inked columns: [start, end)
    if len(starts) == 0:
        return None
    cuts = _pick_gaps(starts.astype(float), ends.astype(float), len(words) - 1, MIN_SPACE * ink.shape[0])
    if cuts is None:
        return None
    out, first = [], 0
    for word, last in zip(words, [*cuts, len(starts) - 1], strict=True):
        out.append(InkWord(word, columns=ink[:, starts[first] : ends[last]]))
        first = last + 1
    return out


def joined_strokes(words: list[InkWord], rng: np.random.Generator) -> list[np.ndarray]:
    """Words' strokes side by side, a space of 0.3 to 0.6 line heights between them."""
    out, x = [], 0.0
    for word in words:
        width = max(float(s[:, 0].max()) for s in word.strokes)
        shift = rng.uniform(-0.05, 0.05)
        out.extend(np.stack([s[:, 0] + x, s[:, 1] + shift], 1).astype(np.float32) for s in word.strokes)
        x += width + rng.uniform(0.3, 0.6)
    return out


def joined_map(words: list[InkWord], rng: np.random.Generator, height: int) -> np.ndarray:
    """Words' ink-map columns side by side, a space of 0.25 to 0.5 of the height between them."""
    margin = np.zeros((height, int(height * 0.25)), np.float32)
    parts = [margin]
    for k, word in enumerate(words):
        if k:
            parts.append(np.zeros((height, int(rng.uniform(0.25, 0.5) * height)), np.float32))
        parts.append(word.columns.astype(np.float32))
    parts.append(margin)
    return np.concatenate(parts, axis=1)


def new_line(pool: list[InkWord], rng: np.random.Generator, low: int = 2, high: int = 6) -> list[InkWord]:
    """A few words drawn from the writer's pool, in a new order."""
    count = int(rng.integers(low, high + 1))
    return [pool[int(k)] for k in rng.choice(len(pool), size=min(count, len(pool)), replace=False)]
