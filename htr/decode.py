"""CTC decoding of a T x C probability matrix into text (class 0 is the blank).

``best`` and ``beam`` read each character on the network's evidence alone; ``lm`` (see
:mod:`htr.lm.decoder`) also weighs how likely the text is as English, so a smudged letter inside
a word is read as the word.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


class LanguageModelDecoder(Protocol):
    """What the ``lm`` decoder needs of a loaded language model (:class:`htr.lm.decoder.LanguageModel`)."""

    def decode(self, probabilities: np.ndarray, beam_width: int, top_k: int) -> "Decoded": ...

DECODERS = ("best", "beam", "lm")
# Beams kept by beam search and the language-model decoder unless a caller asks for other. 32
# read the real scans' report half with 7 % fewer character errors (3.44 -> 3.20 %), but the
# confidence then told right from wrong less well there (line AUROC 0.853 -> 0.843, errors in
# the least confident 30 % of canvas lines 72.2 -> 69.2 %), so 16 stays (docs/language-model.md).
BEAM_WIDTH = 16
# Beam search: classes tried per step, and how far (natural log) below the best a candidate
# may fall before it is dropped (e^-25: it could never be among the alternatives shown).
BEAM_TOKENS = 8
BEAM_THRESHOLD = 25.0


@dataclass(frozen=True)
class Decoded:
    """Top candidates, best first, as (label sequence, score).

    The score ranks the candidates: the network's log-probability for ``best`` and ``beam``;
    for ``lm`` that plus the weighted language-model log-probability and bonuses.
    ``log_probs`` holds the network's own log-probability of each candidate where it differs
    from the score (``lm``), for confidences that mean the same under every decoder.
    """

    paths: list[tuple[list[int], float]]
    log_probs: list[float] | None = None

    def log_prob(self, k: int = 0) -> float:
        """The network's log-probability of candidate ``k``."""
        return self.paths[k][1] if self.log_probs is None else self.log_probs[k]


def best_path(probabilities: np.ndarray) -> Decoded:
    """Most likely class per timestep, repeats merged, blanks dropped.

    The score is the log-probability of that single alignment.
    """
    best = probabilities.argmax(axis=-1)
    score = float(np.log(np.maximum(probabilities[np.arange(len(best)), best], 1e-12)).sum())
    keep = np.ones(len(best), bool)
    keep[1:] = best[1:] != best[:-1]
    labels = [int(c) for c in best[keep] if c != 0]
    return Decoded([(labels, score)])


def beam_search(probabilities: np.ndarray, beam_width: int = BEAM_WIDTH, top_k: int = 5) -> Decoded:
    """CTC prefix beam search; a candidate's score sums over all its alignments.

    Runs flashlight-text's C++ lexicon-free search with no language model, so it needs
    neither TensorFlow nor Python loops. At each step only the ``BEAM_TOKENS`` likeliest classes
    extend a candidate, and candidates ``BEAM_THRESHOLD`` nats below the best are dropped: on
    150 validation lines this read exactly what trying every class does, 7x faster.
    """
    from flashlight.lib.text.decoder import (
        CriterionType,
        LexiconFreeDecoder,
        LexiconFreeDecoderOptions,
        ZeroLM,
    )

    top_k = max(1, min(top_k, beam_width))
    log_probs = np.ascontiguousarray(np.log(np.maximum(probabilities, 1e-12)), np.float32)
    steps, classes = log_probs.shape
    options = LexiconFreeDecoderOptions(max(1, int(beam_width)), min(BEAM_TOKENS, classes), BEAM_THRESHOLD,
                                        0.0, 0.0, True, CriterionType.CTC)
    results = LexiconFreeDecoder(options, ZeroLM(), -1, 0, []).decode(log_probs.ctypes.data, steps, classes)
    paths: list[tuple[list[int], float]] = []
    seen: set[tuple[int, ...]] = set()
    for result in results:
        labels = tuple(collapse(np.asarray(result.tokens, np.int64)[1 : steps + 1]))
        if labels not in seen:
            seen.add(labels)
            paths.append((list(labels), float(result.score)))
        if len(paths) >= top_k:
            break
    if not paths:  # nothing survived (cannot happen: the best candidate is always kept), stay total
        return Decoded([([], float(log_probs[:, 0].sum()))])
    paths.sort(key=lambda p: -p[1])
    return Decoded(paths)


def collapse(frames: np.ndarray) -> list[int]:
    """One class per timestep -> labels: repeats merged, blanks dropped."""
    frames = np.asarray(frames)
    keep = np.ones(len(frames), bool)
    keep[1:] = frames[1:] != frames[:-1]
    return [int(c) for c in frames[keep] if c != 0]


def decode(probabilities: np.ndarray, decoder: str = "best", beam_width: int = BEAM_WIDTH, top_k: int = 5,
           lm: LanguageModelDecoder | None = None) -> Decoded:
    """Decode with ``decoder``; ``lm`` is the loaded language model the ``lm`` decoder needs."""
    if decoder == "best":
        return best_path(probabilities)
    if decoder == "beam":
        return beam_search(probabilities, beam_width, top_k)
    if decoder == "lm":
        if lm is None:
            raise ValueError("the lm decoder needs a language model: this model folder has none "
                             "(python -m htr lm build --out MODEL_DIR/lm ...)")
        return lm.decode(probabilities, beam_width, top_k)
    raise ValueError(f"unknown decoder {decoder!r}; expected one of {DECODERS}")
