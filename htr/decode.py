"""CTC decoding of a T x C probability matrix into text (class 0 is the blank)."""

from dataclasses import dataclass

import numpy as np

DECODERS = ("best", "beam")


@dataclass(frozen=True)
class Decoded:
    """Top candidates, best first, as (label sequence, log-probability)."""

    paths: list[tuple[list[int], float]]


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


def decode(probabilities: np.ndarray, decoder: str = "best", beam_width: int = 16, top_k: int = 5) -> Decoded:
    if decoder == "best":
        return best_path(probabilities)
    if decoder == "beam":
        return beam_search(probabilities, beam_width, top_k)
    raise ValueError(f"unknown decoder {decoder!r}; expected one of {DECODERS}")
