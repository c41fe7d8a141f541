"""Where each character of a reading sits in the network's frames (CTC forced alignment).

Whatever decoder chose a reading, its characters are placed on the T x C probability matrix
by the single likeliest alignment (Viterbi over CTC's blank-interleaved label sequence), and
the same pass sums over all alignments for the reading's whole probability (the CTC forward
algorithm). A word's frames give its span in the line image the network read, and the
probabilities on a character's frames say how sure the network was of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_FLOOR = 1e-12


@dataclass(frozen=True)
class Alignment:
    """A reading placed on the frames.

    ``frames[t]`` is the index of the character emitted at timestep ``t`` (-1: a blank);
    ``spans[i]`` the first and last timestep of character ``i``; ``viterbi`` the
    log-probability of that one alignment, ``total`` of the reading summed over all its
    alignments (log P(reading | line), the quantity CTC trains).
    """

    frames: np.ndarray
    spans: np.ndarray
    viterbi: float
    total: float


def align(log_probs: np.ndarray, labels: list[int] | np.ndarray) -> Alignment:
    """The likeliest alignment of ``labels`` (class indices, 0 the blank) to a T x C log-softmax.

    A reading too long for the frames (never one a decoder gave) is spread evenly instead.
    """
    log_probs = np.asarray(log_probs, np.float64)
    labels = np.asarray(labels, np.int64)
    steps, length = len(log_probs), len(labels)
    if length == 0:
        score = float(log_probs[:, 0].sum()) if steps else 0.0
        return Alignment(np.full(steps, -1, np.int64), np.zeros((0, 2), np.int64), score, score)
    repeats = int(np.sum(labels[1:] == labels[:-1]))
    if steps < length + repeats:
        return _even(steps, length)
    extended = np.zeros(2 * length + 1, np.int64)
    extended[1::2] = labels
    states = len(extended)
    # A skip over a blank is allowed into a character that differs from the one two states back.
    skip = np.zeros(states, bool)
    skip[3::2] = labels[1:] != labels[:-1]
    emit = log_probs[:, extended]  # T x S
    # Scores of the previous step padded with two impossible states in front, so that the step
    # from one state back and the skip from two back are slices.
    best = np.full(states + 2, -np.inf)
    total = np.full(states + 2, -np.inf)
    best[2:4] = emit[0, :2]
    total[2:4] = emit[0, :2]
    blocked = np.where(skip, 0.0, -np.inf)
    back = np.zeros((steps, states), np.int8)
    for t in range(1, steps):
        stay, step, jump = best[2:], best[1:-1], best[:-2] + blocked
        moved = step > stay
        top = np.where(moved, step, stay)
        jumped = jump > top
        back[t] = np.where(jumped, 2, moved)
        new_best = np.where(jumped, jump, top) + emit[t]
        total[2:] = np.logaddexp(np.logaddexp(total[2:], total[1:-1]), total[:-2] + blocked) + emit[t]
        best[2:] = new_best
    best, total = best[2:], total[2:]
    end = states - 1 if best[-1] >= best[-2] else states - 2
    viterbi = float(best[end])
    total_score = float(np.logaddexp(total[-1], total[-2]))
    path = np.empty(steps, np.int64)
    state = end
    for t in range(steps - 1, -1, -1):
        path[t] = state
        state -= int(back[t, state])
    frames = np.where(path % 2 == 1, path // 2, -1)
    return Alignment(frames, _spans(frames, length), viterbi, total_score)


def _spans(frames: np.ndarray, length: int) -> np.ndarray:
    spans = np.zeros((length, 2), np.int64)
    index = np.arange(len(frames))
    for i in range(length):
        where = index[frames == i]
        spans[i] = (where[0], where[-1])
    return spans


def _even(steps: int, length: int) -> Alignment:
    edges = np.linspace(0, steps, length + 1)
    spans = np.stack([np.floor(edges[:-1]), np.maximum(np.floor(edges[:-1]), np.ceil(edges[1:]) - 1)], 1)
    spans = np.clip(spans, 0, max(0, steps - 1)).astype(np.int64)
    frames = np.full(steps, -1, np.int64)
    for i, (a, b) in enumerate(spans):
        frames[a : b + 1] = i
    return Alignment(frames, spans, -np.inf, -np.inf)


def log_softmax_floor(probabilities: np.ndarray) -> np.ndarray:
    """Natural-log probabilities, floored as the decoders floor them."""
    return np.log(np.maximum(np.asarray(probabilities, np.float64), _FLOOR))
