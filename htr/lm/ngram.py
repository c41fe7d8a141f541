"""A character n-gram language model: modified Kneser-Ney estimation written as an ARPA file.

KenLM (inside the decoder library) reads ARPA files but its estimator, ``lmplz``, is a
separate C++ build; a character model over a few hundred thousand lines is small enough
to estimate here in pure Python, so the language model can be rebuilt anywhere the
package runs.

Symbols are single characters; a line is ``BOS + text + EOS``. Probabilities are
interpolated modified Kneser-Ney (Chen & Goodman 1998, as KenLM's ``lmplz`` computes
them); optional count pruning keeps every n-gram that a kept longer one needs as context
or suffix, and back-off weights are renormalised so each context's distribution sums to 1.
"""

from __future__ import annotations

import gzip
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

BOS, EOS, UNK = "\x02", "\x03", "\x1a"
SPACE_TOKEN = "<space>"
_NAMES = {BOS: "<s>", EOS: "</s>", UNK: "<unk>", " ": SPACE_TOKEN}


def token_name(symbol: str) -> str:
    """The ARPA word for one character: space becomes ``<space>`` (ARPA words cannot hold spaces)."""
    return _NAMES.get(symbol, symbol)


@dataclass
class NgramModel:
    """An estimated back-off model: ``probs[n][gram]`` and ``backoffs[n][context]`` as log10."""

    order: int
    probs: list[dict[str, float]] = field(default_factory=list)
    backoffs: list[dict[str, float]] = field(default_factory=list)

    def log10_prob(self, history: str, symbol: str) -> float:
        """log10 P(symbol | history) by back-off: for tests and checks, not for decoding."""
        history = history[-(self.order - 1):] if self.order > 1 else ""
        penalty = 0.0
        while True:
            gram = history + symbol
            value = self.probs[len(gram)].get(gram)
            if value is not None:
                return penalty + value
            if not history:
                return penalty + self.probs[1][UNK]
            penalty += self.backoffs[len(history)].get(history, 0.0)
            history = history[1:]

    def sizes(self) -> list[int]:
        return [len(self.probs[n]) for n in range(1, self.order + 1)]

    def write_arpa(self, path: str | Path) -> Path:
        """Write the model in ARPA format (gzip-compressed when the name ends in ``.gz``)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(tmp, "wt", encoding="utf-8", newline="\n") as out:
            out.write("\\data\\\n")
            for n in range(1, self.order + 1):
                out.write(f"ngram {n}={len(self.probs[n])}\n")
            for n in range(1, self.order + 1):
                out.write(f"\n\\{n}-grams:\n")
                backoffs = self.backoffs[n] if n < self.order else {}
                for gram in sorted(self.probs[n]):
                    words = " ".join(token_name(s) for s in gram)
                    bow = backoffs.get(gram)
                    if bow is None:
                        out.write(f"{self.probs[n][gram]:.6f}\t{words}\n")
                    else:
                        out.write(f"{self.probs[n][gram]:.6f}\t{words}\t{bow:.6f}\n")
            out.write("\n\\end\\\n")
        tmp.replace(path)
        return path


def _discounts(adjusted: dict[str, int]) -> tuple[float, float, float]:
    """Modified Kneser-Ney discounts D1, D2, D3+ from counts of counts, kept inside (0, k)."""
    t = [0] * 5
    for count in adjusted.values():
        if count <= 4:
            t[count] += 1
    if t[1] == 0 or t[2] == 0:
        return 0.5, 1.0, 1.5  # too little data to estimate: the usual defaults
    y = t[1] / (t[1] + 2 * t[2])
    raw = [1 - 2 * y * t[2] / t[1], 2 - 3 * y * t[3] / t[2], 3 - 4 * y * t[4] / max(t[3], 1)]
    return tuple(min(max(d, 0.1 * k), k - 0.05) if math.isfinite(d) else 0.5 * k for k, d in zip((1, 2, 3), raw))


def estimate(lines: Iterable[str], order: int = 7, prune: dict[int, int] | None = None) -> NgramModel:
    """Estimate an interpolated modified Kneser-Ney character model of ``order`` from text lines.

    ``prune`` maps an order to a minimum raw count (e.g. ``{6: 2, 7: 2}``): rarer n-grams of
    that order are dropped unless a kept longer n-gram needs them.
    """
    if order < 1:
        raise ValueError("order must be at least 1")
    raw: list[dict[str, int]] = [defaultdict(int) for _ in range(order + 1)]
    for line in lines:
        if BOS in line or EOS in line or UNK in line or any(c.isspace() and c != " " for c in line):
            raise ValueError(f"text lines may hold no control characters and no whitespace but spaces: {line!r}")
        padded = BOS + line + EOS
        for n in range(1, order + 1):
            counts = raw[n]
            for i in range(len(padded) - n + 1):
                counts[padded[i : i + n]] += 1
    if not raw[1]:
        raise ValueError("no text to estimate a language model from")

    # Adjusted counts: raw counts for the top order and for n-grams starting at BOS (nothing
    # can precede them); otherwise the number of distinct characters seen before them.
    adjusted: list[dict[str, int]] = [dict() for _ in range(order + 1)]
    adjusted[order] = dict(raw[order])
    for n in range(order - 1, 0, -1):
        left = defaultdict(int)
        for gram in raw[n + 1]:
            left[gram[1:]] += 1
        adjusted[n] = {g: (c if g[0] == BOS else left.get(g, c)) for g, c in raw[n].items()}
    adjusted[1].pop(BOS, None)  # never predicted, only a context

    vocab = [s for s in adjusted[1]] + [UNK]
    probs: list[dict[str, float]] = [dict() for _ in range(order + 1)]  # natural probabilities
    gammas: list[dict[str, float]] = [dict() for _ in range(order + 1)]
    for n in range(1, order + 1):
        d1, d2, d3 = _discounts(adjusted[n])
        totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0, 0, 0])
        for gram, a in adjusted[n].items():
            stats = totals[gram[:-1]]
            stats[0] += a
            stats[1 if a == 1 else 2 if a == 2 else 3] += 1
        gamma = {h: (d1 * s[1] + d2 * s[2] + d3 * s[3]) / s[0] for h, s in totals.items()}
        gammas[n - 1] = gamma
        lower = probs[n - 1]
        uniform = 1.0 / len(vocab)
        for gram, a in adjusted[n].items():
            h = gram[:-1]
            d = d1 if a == 1 else d2 if a == 2 else d3
            backed = lower[gram[1:]] if n > 1 else uniform
            probs[n][gram] = (a - d) / totals[h][0] + gamma[h] * backed
        if n == 1:
            probs[1][UNK] = gamma[""] * uniform
            probs[1][BOS] = 0.0

    keep = _pruned(raw, order, prune or {})
    model = NgramModel(order, [dict() for _ in range(order + 1)], [dict() for _ in range(order + 1)])
    for n in range(1, order + 1):
        model.probs[n] = {g: probs[n][g] for g in keep[n]}
    # Back-off weights renormalised over what was kept: bow(h) = (1 - sum P(w|h)) / (1 - sum P(w|h')).
    for n in range(1, order):
        seen_mass: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for gram in model.probs[n + 1]:
            mass = seen_mass[gram[:-1]]
            mass[0] += model.probs[n + 1][gram]
            mass[1] += model.probs[n][gram[1:]]
        for h, (high, low) in seen_mass.items():
            model.backoffs[n][h] = max(1.0 - high, 1e-12) / max(1.0 - low, 1e-12)
    for n in range(1, order + 1):
        model.probs[n] = {g: (math.log10(p) if p > 0 else -99.0) for g, p in model.probs[n].items()}
        model.backoffs[n] = {h: math.log10(b) for h, b in model.backoffs[n].items()}
    return model


def _pruned(raw: list[dict[str, int]], order: int, prune: dict[int, int]) -> list[set[str]]:
    """N-grams to keep: raw count at least the order's threshold, plus every prefix and suffix
    of a kept longer n-gram (KenLM needs both to exist)."""
    keep: list[set[str]] = [set() for _ in range(order + 2)]
    for n in range(order, 0, -1):
        threshold = prune.get(n, 1)
        kept = {g for g, c in raw[n].items() if c >= threshold} if threshold > 1 else set(raw[n])
        for gram in keep[n + 1]:
            kept.add(gram[:-1])
            kept.add(gram[1:])
        keep[n] = kept
    keep[1] |= {BOS, UNK} | set(raw[1])
    keep[1].discard("")
    return keep
