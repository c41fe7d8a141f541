"""How sure a reading is: a line's chance of being read exactly, and each word's of being right.

The network's per-character probability along the chosen path (the measure before this one)
separates exact lines from wrong ones poorly (AUROC 0.68 on real IAM lines): the network is
sure of most characters of most lines, right or wrong. What does separate them is measured
here from the same T x C matrix and the decoder's candidates (:func:`evidence`): the reading's
probability summed over all its CTC alignments, its weakest characters, the probability mass
the network put elsewhere, the margin to the next candidate, and where the language model
and the network's own best path disagree. A logistic regression per decoder turns these into
a probability, fitted on the ``tune`` halves of the validation sets so that a line's
confidence is the share of such lines read exactly, and a word's the share of such words read
right (``benchmarks/confidence.py --fit`` writes ``confidence.json`` into the model folder;
figures: ``docs/confidence.md``). A model folder without that file gets the old measure.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from htr.alignment import align, log_softmax_floor

CONFIDENCE_FILE = "confidence.json"
# A line whose confidence (its chance of being read exactly) is under this needs a person to check it;
# so does a word under it, which the app marks.
REVIEW_THRESHOLD = 0.5
# Candidates decoded for the confidence's margin and agreement features, however few are shown.
CANDIDATES = 5
# What a line's model weighs (chosen by two-fold cross-validation on the tune halves, docs/confidence.md):
# its words' chances (a line is exact when every word is right), the margin to the next candidate and
# the candidates' spread, the language model's part of the score, the network's probability of the
# reading, its length, and how far the decoder moved from the network's best path.
LINE_FEATURES = ["words_log_sum", "words_min", "margin", "top_posterior", "lm_per_char", "total_per_char",
                 "log_length", "best_path_edits"]
# A margin to the next candidate is capped here (natural log): beyond it, no candidate competes.
MAX_MARGIN = 20.0


@dataclass(frozen=True)
class Word:
    """One word of a reading: its text, its chance of being right, and where it is.

    ``box`` is (x, y, w, h) in the pixels of the line image the network read
    (``Recognition.image``, 64 px high), from the frames its characters were read on.
    """

    text: str
    confidence: float
    box: tuple[int, int, int, int]

    def to_json(self) -> dict:
        return {"text": self.text, "confidence": round(float(self.confidence), 4), "box": [int(v) for v in self.box]}


@dataclass
class Evidence:
    """What a reading's confidence is measured from: the line's features and each word's."""

    line: dict[str, float]
    words: list[dict[str, float]]
    word_texts: list[str]
    word_boxes: list[tuple[int, int, int, int]]


def _words(text: str) -> list[tuple[int, int]]:
    """Character ranges [start, end) of the space-separated words of ``text``."""
    ranges, start = [], None
    for i, char in enumerate(text + " "):
        if char == " ":
            if start is not None:
                ranges.append((start, i))
                start = None
        elif start is None:
            start = i
    return ranges


def _word_frames(spans: np.ndarray, ranges: list[tuple[int, int]], steps: int) -> list[tuple[int, int]]:
    """Each word's frames [first, last]: from its first character's to its last's, widened by up to
    two frames into the gap on either side (a CTC peak fires inside its letter, not at its edges)."""
    frames = []
    for k, (a, b) in enumerate(ranges):
        first, last = int(spans[a, 0]), int(spans[b - 1, 1])
        before = int(spans[ranges[k - 1][1] - 1, 1]) + 1 if k else 0
        after = int(spans[ranges[k + 1][0], 0]) - 1 if k + 1 < len(ranges) else steps - 1
        frames.append((max(before, first - 2), min(after, last + 2)))
    return frames


def _entropy(probabilities: np.ndarray) -> np.ndarray:
    p = np.maximum(probabilities, 1e-12)
    return -(p * np.log(p)).sum(axis=1)


def _word_set(text: str) -> set[str]:
    return set(text.split())


def evidence(probabilities: np.ndarray, labels: list[int], text: str, candidates: list[tuple[str, float, float]],
             best_path: list[int], best_path_text: str, time_stride: int = 4, height: int = 64,
             lm_scores: np.ndarray | None = None) -> Evidence:
    """The features of one reading (``labels``, spelling ``text``) of a T x C softmax matrix.

    ``candidates`` are the decoder's readings, best first, as (text, the score the decoder ranked
    them by, the network's log-probability); ``best_path`` (spelling ``best_path_text``) is the
    network's own best path, for where a decoder overrode it. ``lm_scores``: the language model's
    log10-probability of each character of ``text`` and of its end (None: no language model, and
    no features from it).
    """
    from rapidfuzz.distance import Levenshtein

    from htr.spelling import dictionary_evidence

    probabilities = np.asarray(probabilities, np.float64)
    logs = log_softmax_floor(probabilities)
    steps = len(probabilities)
    alignment = align(logs, labels)
    n = len(labels)
    labels_arr = np.asarray(labels, np.int64)
    # Each character's probability at its likeliest frame: how sure the network was of it.
    at = [a + int(np.argmax(logs[a : b + 1, c])) for (a, b), c in zip(alignment.spans, labels_arr)]
    peaks = logs[at, labels_arr] if n else np.zeros(0)
    # The likeliest other character at each character's peak: what it could have been instead.
    rivals = probabilities[at].copy() if n else np.zeros((0, probabilities.shape[1]))
    if n:
        rivals[np.arange(n), labels_arr] = 0.0
        rivals[:, 0] = 0.0
    rival = rivals.max(axis=1) if n else np.zeros(0)
    # Where the reading has a blank, how likely some character was there: a missed comma or letter.
    hidden = np.where(alignment.frames < 0, probabilities[:, 1:].max(axis=1), 0.0)
    top = probabilities.max(axis=1)
    doubt = 1.0 - top
    entropy = _entropy(probabilities)
    scores = np.array([c[1] for c in candidates], np.float64)
    margin = min(MAX_MARGIN, float(scores[0] - scores[1])) if len(scores) > 1 else MAX_MARGIN
    posterior = np.exp(scores - scores.max())
    posterior /= posterior.sum()
    line = {
        "total_per_char": alignment.total / (n + 1),
        "viterbi_per_char": alignment.viterbi / (n + 1) if np.isfinite(alignment.viterbi) else -30.0,
        "total": max(alignment.total, -200.0),
        "peak_sum": float(peaks.sum()),
        "peak_min": float(peaks.min()) if n else 0.0,
        "doubtful_chars": float(np.sum(peaks < math.log(0.9))),
        "doubt_sum": float(doubt.sum()),
        "entropy_sum": float(entropy.sum()),
        "margin": margin,
        "top_posterior": float(np.log(max(posterior[0], 1e-12))),
        "best_path_edits": float(Levenshtein.distance(text, best_path_text)),
        "expected_edits": float(sum(p * Levenshtein.distance(text, c[0]) for c, p in zip(candidates, posterior))),
        # The language model's part of the score, per character (0 for the decoders without one).
        "lm_per_char": float(candidates[0][1] - candidates[0][2]) / (n + 1),
        "rival_sum": float(rival.sum()),
        "hidden_sum": float(hidden.sum()),
        "hidden_max": float(hidden.max()) if steps else 0.0,
        "log_length": math.log(n + 1),
    }
    if lm_scores is not None:
        # How English the reading is: a misread letter often makes a word no one writes.
        line["lm_mean"] = float(np.mean(lm_scores))
        line["lm_min"] = float(np.min(lm_scores))
    ranges = _words(text)
    frames = _word_frames(alignment.spans, ranges, steps) if n else []
    best_words = _word_set(best_path_text)
    words, boxes = [], []
    for (a, b), (f0, f1) in zip(ranges, frames):
        word = text[a:b]
        support = float(sum(p for c, p in zip(candidates, posterior) if word in _word_set(c[0])))
        w_peaks = peaks[a:b]
        words.append({
            "peak_sum": float(w_peaks.sum()),
            "peak_min": float(w_peaks.min()),
            "doubt_sum": float(doubt[f0 : f1 + 1].sum()),
            "entropy_sum": float(entropy[f0 : f1 + 1].sum()),
            "support": math.log(max(support, 1e-6)),
            "in_best_path": float(word in best_words),
            "rival_sum": float(rival[a:b].sum()),
            "rival_max": float(rival[a:b].max()),
            "hidden_sum": float(hidden[f0 : f1 + 1].sum()),
            "hidden_max": float(hidden[f0 : f1 + 1].max()),
            "log_length": math.log(b - a + 1),
            "line_total_per_char": line["total_per_char"],
        })
        words[-1]["not_in_dictionary"], words[-1]["dictionary_log_frequency"] = dictionary_evidence(word)
        if lm_scores is not None:
            w_lm = lm_scores[a : b + 1]  # the word's characters and what ends it
            words[-1]["lm_mean"] = float(w_lm.mean())
            words[-1]["lm_min"] = float(w_lm.min())
        boxes.append((f0 * time_stride, 0, (f1 - f0 + 1) * time_stride, height))
    return Evidence(line, words, [text[a:b] for a, b in ranges], boxes)


def measure(probabilities: np.ndarray, decoded, decode_labels, time_stride: int = 4, height: int = 64,
            lm=None) -> Evidence:
    """The evidence for the first of a decoder's candidates (:class:`htr.decode.Decoded`);
    ``decode_labels`` turns a label sequence into text (``ModelConfig.decode``); ``lm`` the loaded
    language model (:class:`htr.lm.decoder.LanguageModel`), if any, whichever decoder read."""
    from htr.decode import best_path

    labels = decoded.paths[0][0]
    candidates = [(decode_labels(path), float(score), float(decoded.log_prob(k)))
                  for k, (path, score) in enumerate(decoded.paths)]
    best = best_path(probabilities).paths[0][0]
    text = candidates[0][0]
    lm_scores = lm.char_scores(text) if lm is not None else None
    return evidence(probabilities, labels, text, candidates, best, decode_labels(best), time_stride, height, lm_scores)


def line_confidence(probabilities: np.ndarray, decoded, config, decoder: str, calibration: Calibration | None,
                    lm=None) -> float:
    """The confidence of a decoder's reading of a line, as :class:`htr.recognizer.Recognizer` gives it."""
    found = measure(probabilities, decoded, config.decode, config.time_stride, config.height, lm)
    return assess(found, decoder, calibration)[0]


@dataclass
class Logistic:
    """A logistic regression on named features, standardised: P(right) = sigmoid(w . z + b)."""

    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    fitted: dict = field(default_factory=dict)  # what it was fitted on: rows, positives

    def usable(self, row: dict[str, float]) -> bool:
        """Whether ``row`` has every feature the model needs."""
        return all(f in row for f in self.features)

    def matrix(self, rows: list[dict[str, float]]) -> np.ndarray:
        return np.array([[row[f] for f in self.features] for row in rows], np.float64).reshape(-1, len(self.features))

    def predict(self, rows: list[dict[str, float]]) -> np.ndarray:
        if not rows:
            return np.zeros(0)
        z = (self.matrix(rows) - np.asarray(self.mean)) / np.asarray(self.scale)
        return _sigmoid(z @ np.asarray(self.coef) + self.intercept)

    @classmethod
    def fit(cls, rows: list[dict[str, float]], right: np.ndarray, features: list[str] | None = None,
            l2: float = 1.0) -> Logistic:
        """Maximum likelihood with an L2 penalty (Newton's method): on its own data its mean
        prediction equals the share right, which is what calibration asks."""
        features = list(features or rows[0].keys())
        x = np.array([[row[f] for f in features] for row in rows], np.float64)
        y = np.asarray(right, np.float64)
        mean = x.mean(axis=0)
        scale = x.std(axis=0)
        scale[scale < 1e-9] = 1.0
        coef, intercept = fit_logistic((x - mean) / scale, y, l2)
        return cls(features, mean.tolist(), scale.tolist(), coef.tolist(), float(intercept),
                   {"rows": len(y), "right": int(y.sum())})

    def to_dict(self) -> dict:
        return {"features": self.features, "mean": self.mean, "scale": self.scale, "coef": self.coef,
                "intercept": self.intercept, "fitted": self.fitted}

    @classmethod
    def from_dict(cls, data: dict) -> Logistic:
        model = cls(list(data["features"]), [float(v) for v in data["mean"]], [float(v) for v in data["scale"]],
                    [float(v) for v in data["coef"]], float(data["intercept"]), dict(data.get("fitted", {})))
        if not (len(model.features) == len(model.mean) == len(model.scale) == len(model.coef)):
            raise ValueError("features, mean, scale and coef differ in length")
        return model


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, np.float64)))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 50) -> tuple[np.ndarray, float]:
    """Weights and intercept of a logistic regression of ``y`` (0/1) on ``x`` (rows), by Newton's
    method with ``l2`` times the squared weights as penalty (the intercept is not penalised)."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    rows, cols = x.shape
    design = np.hstack([x, np.ones((rows, 1))])
    penalty = np.full(cols + 1, float(l2))
    penalty[-1] = 0.0
    w = np.zeros(cols + 1)
    for _ in range(iterations):
        p = _sigmoid(design @ w)
        gradient = design.T @ (p - y) + penalty * w
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return w[:-1], float(w[-1])


@dataclass
class Calibration:
    """The fitted confidence models of one model folder: per decoder, one for lines, one for words."""

    lines: dict[str, Logistic]
    words: dict[str, Logistic]
    source: dict = field(default_factory=dict)  # how it was made: command, sets, halves

    @classmethod
    def load(cls, model_dir: str | Path | None) -> Calibration | None:
        """The folder's ``confidence.json``, or None where it has none or it cannot be read."""
        if model_dir is None:
            return None
        path = Path(model_dir) / CONFIDENCE_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            return cls({k: Logistic.from_dict(v) for k, v in data["lines"].items()},
                       {k: Logistic.from_dict(v) for k, v in data["words"].items()}, dict(data.get("source", {})))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            import warnings

            warnings.warn(f"{path} cannot be used ({exc}); confidences are the network's per-character "
                          "probability instead", stacklevel=2)
            return None

    def save(self, model_dir: str | Path) -> Path:
        path = Path(model_dir) / CONFIDENCE_FILE
        data = {"lines": {k: v.to_dict() for k, v in self.lines.items()},
                "words": {k: v.to_dict() for k, v in self.words.items()}, "source": self.source}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)
        return path


def _with_words(line: dict[str, float], chances: np.ndarray) -> dict[str, float]:
    """A line's features and its words' chances: a line is exact when every word is right."""
    logs = np.log(np.clip(chances, 1e-6, 1.0)) if len(chances) else np.zeros(1)
    return {**line, "words_log_sum": float(logs.sum()), "words_min": float(logs.min())}


def assess(found: Evidence, decoder: str, calibration: Calibration | None) -> tuple[float, list[Word]]:
    """A reading's confidence and its words, from its evidence, by ``decoder``'s fitted models
    (the words' first: the line's model starts from them).

    Without a fitted model (a folder with no ``confidence.json``, none for this decoder, or one
    that needs what could not be measured, such as the language model's features without one)
    the line gets the network's geometric-mean probability per character (plus the line end)
    of its best alignment, and each word that of its own characters' peaks: the old measure.
    """
    line_model = calibration.lines.get(decoder) if calibration else None
    word_model = calibration.words.get(decoder) if calibration else None
    if word_model is not None and all(word_model.usable(w) for w in found.words):
        chances = word_model.predict(found.words)
    else:
        word_model = None
        chances = np.array([math.exp(w["peak_sum"] / (math.exp(w["log_length"]) - 1)) for w in found.words])
    line = _with_words(found.line, chances)
    if word_model is not None and line_model is not None and line_model.usable(line):
        confidence = float(line_model.predict([line])[0])
    else:
        confidence = float(math.exp(found.line["viterbi_per_char"]))
    words = [Word(t, float(c), b) for t, c, b in zip(found.word_texts, chances, found.word_boxes)]
    return confidence, words


def fit_calibration(readings: dict[str, list[tuple[Evidence, bool, list[bool]]]], source: dict | None = None,
                    l2: float = 1.0, line_features: list[str] | None = None) -> Calibration:
    """The line and word models of each decoder from its readings of lines whose truth is known:
    (evidence, read exactly?, each word right?). The word model uses every word feature; the line
    model :data:`LINE_FEATURES`, its words' chances (from the word model) among them."""
    lines, words = {}, {}
    for decoder, rows in readings.items():
        word_rows = [w for found, _, _ in rows for w in found.words]
        word_right = np.array([ok for _, _, right in rows for ok in right], bool)
        words[decoder] = Logistic.fit(word_rows, word_right, l2=l2)
        line_rows = [_with_words(found.line, words[decoder].predict(found.words)) for found, _, _ in rows]
        lines[decoder] = Logistic.fit(line_rows, np.array([exact for _, exact, _ in rows], bool),
                                      line_features or LINE_FEATURES, l2)
    return Calibration(lines, words, dict(source or {}))


def needs_review(confidence: float) -> bool:
    """Whether a line (or word) of this confidence should be checked by a person."""
    return confidence < REVIEW_THRESHOLD


def review_note(words: list[Word]) -> str:
    """A paragraph for under the text: the reading with the words under the review threshold
    marked (HTML ``<mark>``), or an empty string where every word is above it."""
    if not any(needs_review(w.confidence) for w in words):
        return ""
    import html

    marked = " ".join(f"<mark>{html.escape(w.text)}</mark>" if needs_review(w.confidence) else html.escape(w.text)
                      for w in words)
    return f"\n\nCheck the marked words (under {REVIEW_THRESHOLD:.0%} sure): {marked}"


# Measuring a confidence: what the benchmark reports and the dashboard draws.


def auroc(scores: np.ndarray, right: np.ndarray) -> float:
    """The chance that a right item scores above a wrong one (ties count half)."""
    scores = np.asarray(scores, np.float64)
    right = np.asarray(right, bool)
    pos, neg = int(right.sum()), int((~right).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # Average ranks over ties.
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[right].sum() - pos * (pos + 1) / 2) / (pos * neg))


def expected_calibration_error(confidence: np.ndarray, right: np.ndarray, bins: int = 10) -> float:
    """Mean |share right - mean confidence| over equal-width confidence bins, weighted by their items."""
    confidence = np.asarray(confidence, np.float64)
    right = np.asarray(right, np.float64)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.sum() * abs(right[inside].mean() - confidence[inside].mean())
    return float(total / len(confidence)) if len(confidence) else float("nan")


@dataclass
class Reliability:
    """A reliability diagram's bins: mean confidence, share right and items in each."""

    confidence: list[float]
    accuracy: list[float]
    count: list[int]


def reliability(confidence: np.ndarray, right: np.ndarray, bins: int = 10) -> Reliability:
    confidence = np.asarray(confidence, np.float64)
    right = np.asarray(right, np.float64)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    out = Reliability([], [], [])
    for b in range(bins):
        inside = which == b
        if inside.any():
            out.confidence.append(float(confidence[inside].mean()))
            out.accuracy.append(float(right[inside].mean()))
            out.count.append(int(inside.sum()))
    return out


@dataclass
class RiskCoverage:
    """Checking lines from the least confident up: after checking ``checked`` (share of lines),
    ``errors_left`` of the character errors remain unchecked (share of all of them)."""

    checked: list[float]
    errors_left: list[float]


def risk_coverage(confidence: np.ndarray, char_errors: np.ndarray) -> RiskCoverage:
    confidence = np.asarray(confidence, np.float64)
    errors = np.asarray(char_errors, np.float64)
    order = np.argsort(confidence, kind="mergesort")
    total = max(errors.sum(), 1e-12)
    found = np.concatenate([[0.0], np.cumsum(errors[order])])
    checked = np.arange(len(errors) + 1) / max(1, len(errors))
    return RiskCoverage(checked.tolist(), (1.0 - found / total).tolist())


def errors_caught(confidence: np.ndarray, char_errors: np.ndarray, share: float = 0.3) -> float:
    """The share of all character errors that are on the ``share`` of lines with the lowest confidence."""
    confidence = np.asarray(confidence, np.float64)
    errors = np.asarray(char_errors, np.float64)
    if errors.sum() == 0:
        return float("nan")
    order = np.argsort(confidence, kind="mergesort")
    k = round(share * len(errors))
    return float(errors[order[:k]].sum() / errors.sum())


@dataclass
class ConfidenceReport:
    """How well line confidences flag the lines to check, on lines whose truth is known."""

    lines: int
    exact: float  # share of lines read exactly
    auroc: float  # exact against wrong lines
    errors_in_lowest_30: float  # share of the character errors on the 30 % least confident lines
    ece: float  # expected calibration error, 10 bins
    flagged: float  # share of lines that need review
    errors_flagged: float  # share of the character errors on them
    risk: RiskCoverage
    reliability: Reliability


def confidence_report(references: list[str], predictions: list[str], confidences: list[float]) -> ConfidenceReport:
    """The figures, risk-coverage curve and reliability diagram of line confidences (exact as CER
    scores it: spacing around punctuation normalised)."""
    from rapidfuzz.distance import Levenshtein

    from htr.text import normalize_for_scoring

    errors = np.array([Levenshtein.distance(normalize_for_scoring(r), normalize_for_scoring(p))
                       for r, p in zip(references, predictions)], np.float64)
    confidence = np.asarray(confidences, np.float64)
    exact = errors == 0
    flagged = confidence < REVIEW_THRESHOLD
    return ConfidenceReport(
        lines=len(errors), exact=float(exact.mean()) if len(errors) else float("nan"),
        auroc=auroc(confidence, exact), errors_in_lowest_30=errors_caught(confidence, errors, 0.3),
        ece=expected_calibration_error(confidence, exact), flagged=float(flagged.mean()) if len(errors) else 0.0,
        errors_flagged=float(errors[flagged].sum() / errors.sum()) if errors.sum() else float("nan"),
        risk=risk_coverage(confidence, errors), reliability=reliability(confidence, exact))
