"""CTC decoding of a T x C probability matrix into text (class 0 is the blank).

``best`` and ``beam`` read each character on the network's evidence alone; ``lm`` (see
:mod:`htr.lm`) also weighs how likely the text is as English, so a smudged letter inside
a word is read as the word.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from htr.lm import LanguageModel

DECODERS = ("best", "beam", "lm")


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


def beam_search(probabilities: np.ndarray, beam_width: int = 16, top_k: int = 5) -> Decoded:
    """Prefix beam search through Keras' CTC decoder; scores sum over alignments."""
    import keras

    top_k = max(1, min(top_k, beam_width))
    log_probs = np.log(np.maximum(probabilities, 1e-12)).astype(np.float32)[None]
    decoded, scores = keras.ops.ctc_decode(
        log_probs,
        np.array([log_probs.shape[1]], np.int32),
        strategy="beam_search",
        beam_width=beam_width,
        top_paths=top_k,
        mask_index=0,
    )
    decoded = keras.ops.convert_to_numpy(decoded)
    scores = keras.ops.convert_to_numpy(scores)
    paths = []
    seen = set()
    for k in range(decoded.shape[0]):
        labels = tuple(int(c) for c in decoded[k, 0] if c > 0)
        if labels in seen:
            continue
        seen.add(labels)
        paths.append((list(labels), float(scores[0, k])))
    paths.sort(key=lambda p: -p[1])
    return Decoded(paths)


def decode(probabilities: np.ndarray, decoder: str = "best", beam_width: int = 16, top_k: int = 5,
           lm: LanguageModel | None = None) -> Decoded:
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
