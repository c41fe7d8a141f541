"""Does the confidence flag what to check? Fitting it, and its figures on the validation sets.

Reads each line of the model card's validation sets once (IAM On-Line validation in the
canvas and the paper look, the real scans of IAM ``available-dev``), decodes it with every
decoder, and measures each reading's confidence evidence (:func:`htr.confidence.measure`).

``--fit`` fits the line and word models of each decoder on the ``tune`` halves (all three sets
together) and writes them to ``MODEL_DIR/confidence.json``, which the recognizer loads with
the model. The figures are always measured on the ``report`` halves, which chose nothing:
the AUROC of line confidence for exact against wrong lines (and of the old per-character
measure), the share of character errors on the 30 % of lines with the lowest confidence, the
expected calibration error (10 bins), the word confidence's AUROC and calibration error, and
what the ``needs_review`` flag catches.

    python benchmarks/confidence.py [--fit] [--model-dir model] [--cache DIR] [--plot docs/confidence.png] \\
        [--iam-ondb ../shared/data/iam-ondb] [--iam ../shared/data/iam] [--limit N] [--cross-fit] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from htr.decode import BEAM_WIDTH  # noqa: E402
from htr.train.evaluate import add_validation_set_options  # noqa: E402

DECODERS = ("lm", "best", "beam")


def line_labels(reference: str, hypothesis: str) -> tuple[bool, int, list[bool]]:
    """Whether a reading is exact (as CER scores it), its character errors, and whether each
    of its space-separated words is right (matched to the same word in the reference)."""
    from rapidfuzz.distance import Levenshtein

    from htr.text import normalize_for_scoring

    ref, hyp = normalize_for_scoring(reference), normalize_for_scoring(hypothesis)
    errors = Levenshtein.distance(ref, hyp)
    hyp_words, ref_words = hypothesis.split(), reference.split()
    right = [False] * len(hyp_words)
    for tag, _, _, h0, h1 in Levenshtein.opcodes(ref_words, hyp_words):
        if tag == "equal":
            for k in range(h0, h1):
                right[k] = True
    return errors == 0, errors, right


def read_sets(args) -> list[dict]:
    """Per set: texts, ids and each line's softmax (cached under ``--cache``)."""
    cache = Path(args.cache) / f"probs-{args.limit or 'all'}.pkl" if args.cache else None
    if cache and cache.is_file():
        return pickle.loads(cache.read_bytes())
    from htr.recognizer import Recognizer
    from htr.train.evaluate import prepare_validation_sets, probabilities

    recognizer = Recognizer.load(args.model_dir)
    sets = []
    for name, prepared in prepare_validation_sets(recognizer.config, args.iam_ondb, args.iam, args.iam_split,
                                                  args.limit):
        probs = probabilities(recognizer.engine, recognizer.config, prepared.images, label=f"reading {name}")
        sets.append({"name": name, "texts": prepared.texts, "ids": prepared.ids, "probs": probs})
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps(sets))
    return sets


def measure_sets(args, sets: list[dict]) -> list[dict]:
    """Per set and decoder: each line's reading, evidence and labels (cached under ``--cache``)."""
    cache = Path(args.cache) / f"evidence-{args.limit or 'all'}.pkl" if args.cache else None
    if cache and cache.is_file():
        return pickle.loads(cache.read_bytes())
    from htr.confidence import CANDIDATES, measure
    from htr.datasets.base import line_part
    from htr.decode import decode
    from htr.progress import Progress
    from htr.recognizer import Recognizer
    from htr.results import confidence_from_score

    recognizer = Recognizer.load(args.model_dir)
    config = recognizer.config
    rows = []
    for s in sets:
        parts = [line_part(i) for i in s["ids"]]
        for decoder in DECODERS:
            bar = Progress(len(s["probs"]), f"{s['name']}, {decoder}")
            for probs, text, part, line_id in zip(s["probs"], s["texts"], parts, s["ids"]):
                decoded = decode(probs, decoder, args.beam_width, CANDIDATES, lm=recognizer.lm)
                found = measure(probs, decoded, config.decode, config.time_stride, config.height, recognizer.lm)
                reading = config.decode(decoded.paths[0][0])
                exact, errors, words_right = line_labels(text, reading)
                # The measure before this one: the network's per-character probability of the reading.
                old = confidence_from_score(decoded.log_prob(0), len(decoded.paths[0][0]))
                rows.append({"set": s["name"], "id": line_id, "part": part, "decoder": decoder, "reading": reading,
                             "old": old,
                             "truth": text, "evidence": found, "exact": exact, "char_errors": errors,
                             "words_right": words_right})
                bar.update(1)
            bar.close()
    if cache:
        cache.write_bytes(pickle.dumps(rows))
    return rows


def readings(rows: list[dict], part: str) -> dict[str, list]:
    """Per decoder, what a calibration is fitted on: (evidence, exact?, each word right?) of
    every set's ``part`` half."""
    return {decoder: [(r["evidence"], r["exact"], r["words_right"]) for r in rows
                      if r["decoder"] == decoder and r["part"] == part] for decoder in DECODERS}


def fit(rows: list[dict], model_dir: str, command: str):
    """The line and word models of each decoder, from the tune halves of all sets."""
    from htr.confidence import fit_calibration

    sets = list(dict.fromkeys(r["set"] for r in rows))
    calibration = fit_calibration(readings(rows, "tune"),
                                  {"command": command, "fitted_on": [f"{s}, tune half" for s in sets]})
    return calibration, calibration.save(model_dir)


def report(rows: list[dict], calibration) -> list[dict]:
    """The figures of each set and decoder on its report half."""
    from htr.confidence import assess

    figures = []
    for name in dict.fromkeys(r["set"] for r in rows):
        for decoder in DECODERS:
            part = [r for r in rows if r["set"] == name and r["decoder"] == decoder and r["part"] == "report"]
            if part:
                figures.append(set_figures(name, decoder, part,
                                           [assess(r["evidence"], decoder, calibration) for r in part]))
    return figures


def calibrations_by_half(rows: list[dict], calibration) -> dict[str, object]:
    """The calibration that scores each half, fitted on the other: the given one (fitted on the
    tune halves) for the report halves, one fitted the same way on the report halves for the
    tune halves. A model folder without confidence.json gets the tune halves' fitted here, so
    that both halves are scored by a fitted one."""
    from htr.confidence import fit_calibration

    return {"report": calibration or fit_calibration(readings(rows, "tune")),
            "tune": fit_calibration(readings(rows, "report"))}


def cross_fitted(rows: list[dict], scoring: dict[str, object], draws: int = 2000) -> list[dict]:
    """The figures of each set on all its lines, each line's confidence from a calibration not
    fitted on it (``scoring``: :func:`calibrations_by_half`). Twice the lines of one report half,
    so sampling moves the figures less (on the scans' 183 report lines alone a perfect calibration
    shows an ECE of about 0.07). With a 90 % interval of the errors caught (lines drawn again
    with replacement)."""
    from htr.confidence import assess, errors_caught

    rng = np.random.default_rng(0)
    figures = []
    for name in dict.fromkeys(r["set"] for r in rows):
        for decoder in DECODERS:
            part = [r for r in rows if r["set"] == name and r["decoder"] == decoder]
            if not part:
                continue
            assessed = [assess(r["evidence"], decoder, scoring[r["part"]]) for r in part]
            found = set_figures(name, decoder, part, assessed)
            confidence = np.array([c for c, _ in assessed])
            errors = np.array([r["char_errors"] for r in part])
            drawn = [rng.integers(0, len(part), len(part)) for _ in range(draws)]
            caught = [errors_caught(confidence[i], errors[i], 0.3) for i in drawn]
            found["errors_in_lowest_30_interval"] = [float(np.percentile(caught, 5)), float(np.percentile(caught, 95))]
            figures.append(found)
    return figures


def fit_poisson(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 100) -> np.ndarray:
    """Weights (intercept last) of a Poisson regression of counts ``y`` on standardised ``x``, by
    Newton's method with ``l2`` times the squared weights as penalty (not the intercept's)."""
    design = np.hstack([x, np.ones((len(x), 1))])
    penalty = np.full(design.shape[1], float(l2))
    penalty[-1] = 0.0
    w = np.zeros(design.shape[1])
    w[-1] = np.log(max(float(np.mean(y)), 1e-6))
    for _ in range(iterations):
        mu = np.exp(np.clip(design @ w, -30, 30))
        gradient = design.T @ (mu - y) + penalty * w
        hessian = (design * mu[:, None]).T @ design + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return w


def ranked_by_expected_errors(rows: list[dict], scoring: dict[str, object], decoder: str = "lm") -> list[dict]:
    """Whether a ranking aimed at the character errors themselves would catch more than the
    confidence (the chance of an exact line) does: each half's lines ranked by a Poisson
    regression of their number of character errors on every line feature, the words' chances and
    the line's confidence (the log of it and of its complement), fitted on the other half with
    that half's calibration, as ``--cross-fit`` scores them. Per set: the errors in the 30 % of
    lines ranked most erroneous, on all lines and on the report half, beside the confidence's
    (``scoring``: :func:`calibrations_by_half`)."""
    from htr.confidence import _with_words, assess, errors_caught

    lines = [r for r in rows if r["decoder"] == decoder]

    def features(r: dict, fitted) -> tuple[list[float], float]:
        words = fitted.words[decoder].predict(r["evidence"].words)
        line = _with_words(r["evidence"].line, words)
        confidence = assess(r["evidence"], decoder, fitted)[0]
        return ([line[k] for k in sorted(line)] + [np.log(max(confidence, 1e-6)), np.log(max(1 - confidence, 1e-6))],
                confidence)

    scored = {}
    for part, other in (("tune", "report"), ("report", "tune")):
        fitted = scoring[part]  # fitted on the other half, as the Poisson model is
        train = np.array([features(r, fitted)[0] for r in lines if r["part"] == other])
        mean, scale = train.mean(0), train.std(0) + 1e-9
        w = fit_poisson((train - mean) / scale, np.array([r["char_errors"] for r in lines if r["part"] == other]))
        for r in lines:
            if r["part"] == part:
                x, confidence = features(r, fitted)
                scored[id(r)] = (float(np.append((np.array(x) - mean) / scale, 1.0) @ w), confidence)
    figures = []
    for name in dict.fromkeys(r["set"] for r in lines):
        part = [r for r in lines if r["set"] == name]
        expected = np.array([scored[id(r)][0] for r in part])
        confidence = np.array([scored[id(r)][1] for r in part])
        errors = np.array([r["char_errors"] for r in part])
        report_half = np.array([r["part"] == "report" for r in part])
        figures.append({"set": name, "decoder": decoder, "lines": len(part),
                        "by_expected_errors": errors_caught(-expected, errors, 0.3),
                        "by_confidence": errors_caught(confidence, errors, 0.3),
                        "report_by_expected_errors": errors_caught(-expected[report_half], errors[report_half], 0.3),
                        "report_by_confidence": errors_caught(confidence[report_half], errors[report_half], 0.3),
                        "at_most": errors_caught(-errors.astype(float), errors, 0.3)})
    return figures


def set_figures(name: str, decoder: str, part: list[dict], assessed: list) -> dict:
    """The figures of one set's lines read by one decoder, from their assessed confidences."""
    from htr.confidence import auroc, errors_caught, expected_calibration_error, needs_review

    confidence = np.array([c for c, _ in assessed])
    old = np.array([r["old"] for r in part])
    exact = np.array([r["exact"] for r in part])
    errors = np.array([r["char_errors"] for r in part])
    word_conf = np.array([w.confidence for _, ws in assessed for w in ws])
    word_right = np.array([ok for r in part for ok in r["words_right"]])
    flagged = np.array([needs_review(c) for c in confidence])
    return {
        "set": name, "decoder": decoder, "lines": len(part), "exact": float(exact.mean()),
        "auroc": auroc(confidence, exact), "auroc_old": auroc(old, exact),
        "errors_in_lowest_30": errors_caught(confidence, errors, 0.3),
        "errors_in_lowest_30_old": errors_caught(old, errors, 0.3),
        # The most any order could catch: the 30 % of lines with the most errors.
        "errors_in_lowest_30_oracle": errors_caught(-errors.astype(float), errors, 0.3),
        "ece": expected_calibration_error(confidence, exact),
        "ece_sampling": ece_of_perfect_calibration(confidence),
        "ece_old": expected_calibration_error(old, exact),
        "words": len(word_right), "word_auroc": auroc(word_conf, word_right),
        "word_ece": expected_calibration_error(word_conf, word_right),
        "flagged": float(flagged.mean()),
        "errors_flagged": float(errors[flagged].sum() / max(1, errors.sum())),
    }


def cross_validate(rows: list[dict]) -> list[tuple[str, str, list[float]]]:
    """How the line model's features were chosen: each candidate fitted on one half of the tune
    halves' forms and scored on the other (two folds, by form as the halves are made), the mean
    AUROC per set. The report halves play no part."""
    import hashlib

    from htr.confidence import LINE_FEATURES, assess, auroc, fit_calibration
    from htr.datasets.base import form_key

    evidence = [f for f in rows[0]["evidence"].line]
    candidates = {"every line feature, no word chances": (evidence, 1.0),
                  "every line feature, no word chances, L2 10": (evidence, 10.0),
                  "every line feature + word chances, L2 10": (evidence + ["words_log_sum", "words_min"], 10.0),
                  "LINE_FEATURES, L2 10": (LINE_FEATURES, 10.0),
                  "LINE_FEATURES (shipped), L2 1": (LINE_FEATURES, 1.0)}
    sets = list(dict.fromkeys(r["set"] for r in rows))
    out = []
    for decoder in DECODERS:
        tune = [r for r in rows if r["decoder"] == decoder and r["part"] == "tune"]
        # (by another hash than the halves': CRC32 is linear, so every tune form has one parity under it)
        fold = [hashlib.md5(form_key(r["id"]).encode()).digest()[0] % 2 for r in tune]
        for name, (features, l2) in candidates.items():
            scores = np.zeros(len(sets))
            for k in (0, 1):
                train = [(r["evidence"], r["exact"], r["words_right"]) for r, f in zip(tune, fold) if f != k]
                calibration = fit_calibration({decoder: train}, l2=l2, line_features=features)
                for i, name_ in enumerate(sets):
                    test = [r for r, f in zip(tune, fold) if f == k and r["set"] == name_]
                    confidence = [assess(r["evidence"], decoder, calibration)[0] for r in test]
                    scores[i] += auroc(np.array(confidence), np.array([r["exact"] for r in test])) / 2
            out.append((decoder, name, scores.tolist()))
    return out


def ece_of_perfect_calibration(confidence: np.ndarray, draws: int = 2000) -> float:
    """The mean ECE of these confidences on lines drawn exact with exactly those chances: what
    sampling alone gives on a set this size (on 183 lines it is far from 0)."""
    from htr.confidence import expected_calibration_error

    rng = np.random.default_rng(0)
    return float(np.mean([expected_calibration_error(confidence, rng.random(len(confidence)) < confidence)
                          for _ in range(draws)]))


def single_features(rows: list[dict], decoder: str = "lm") -> list[tuple[str, float, float]]:
    """Each line feature's AUROC alone for exact against wrong (tune halves, all sets), and each
    word feature's for right against wrong words: how the features were chosen."""
    from htr.confidence import auroc

    tune = [r for r in rows if r["decoder"] == decoder and r["part"] == "tune"]
    exact = np.array([r["exact"] for r in tune])
    out = []
    for feature in tune[0]["evidence"].line:
        values = np.array([r["evidence"].line[feature] for r in tune])
        out.append(("line", feature, auroc(values, exact)))
    right = np.array([ok for r in tune for ok in r["words_right"]])
    for feature in tune[0]["evidence"].words[0]:
        values = np.array([w[feature] for r in tune for w in r["evidence"].words])
        out.append(("word", feature, auroc(values, right)))
    return out


def plot(rows: list[dict], calibration, path: str, decoder: str = "lm") -> None:
    """Risk-coverage curves (new and old measure) and a reliability diagram, per set, as a PNG."""
    from htr.confidence import assess, reliability, risk_coverage

    panels = []
    for name in dict.fromkeys(r["set"] for r in rows):
        part = [r for r in rows if r["set"] == name and r["decoder"] == decoder and r["part"] == "report"]
        confidence = np.array([assess(r["evidence"], decoder, calibration)[0] for r in part])
        old = np.array([r["old"] for r in part])
        errors = np.array([r["char_errors"] for r in part])
        exact = np.array([r["exact"] for r in part])
        panels.append((name, risk_coverage(confidence, errors), risk_coverage(old, errors),
                       reliability(confidence, exact)))
    draw_figure(panels).save(path)


def draw_figure(panels):
    """One row per set: risk-coverage (new and old measure; the line of checking at random) on the
    left, the reliability diagram on the right. Drawn with PIL: the project has no plotting library."""
    from PIL import Image, ImageDraw

    size, pad, gap = 300, 46, 30
    width = 2 * (size + pad + gap)
    height = len(panels) * (size + 2 * pad)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    blue, grey, orange = (31, 119, 180), (150, 150, 150), (255, 127, 14)

    def frame(x0, y0, title, xlabel, ylabel):
        draw.rectangle([x0, y0, x0 + size, y0 + size], outline="black")
        for k in range(0, 11, 2):
            v = k / 10
            draw.line([x0 + v * size, y0 + size, x0 + v * size, y0 + size + 4], fill="black")
            draw.text((x0 + v * size - 8, y0 + size + 6), f"{v:.1f}", fill="black")
            draw.line([x0 - 4, y0 + size - v * size, x0, y0 + size - v * size], fill="black")
            draw.text((x0 - 26, y0 + size - v * size - 5), f"{v:.1f}", fill="black")
        draw.text((x0, y0 - 30), title, fill="black")
        draw.text((x0 + size / 2 - 60, y0 + size + 20), xlabel, fill="black")
        draw.text((x0 + 4, y0 + 4), ylabel, fill="black")

    def curve(x0, y0, xs, ys, color, width_=2):
        points = [(x0 + x * size, y0 + size - y * size) for x, y in zip(xs, ys)]
        draw.line(points, fill=color, width=width_)

    for row, (name, new, old, rel) in enumerate(panels):
        y0 = row * (size + 2 * pad) + pad
        x0 = pad
        frame(x0, y0, f"{name}: error left after checking the least confident lines", "share of lines checked",
              "share of character errors left")
        curve(x0, y0, [0, 1], [1, 0], grey, 1)
        curve(x0, y0, old.checked, old.errors_left, orange)
        curve(x0, y0, new.checked, new.errors_left, blue)
        draw.text((x0 + size - 150, y0 + 20), "confidence", fill=blue)
        draw.text((x0 + size - 150, y0 + 34), "per-character probability", fill=orange)
        draw.text((x0 + size - 150, y0 + 48), "random order", fill=grey)
        x1 = x0 + size + pad + gap
        frame(x1, y0, f"{name}: reliability", "line confidence", "share of lines exact")
        curve(x1, y0, [0, 1], [0, 1], grey, 1)
        for c, a, n in zip(rel.confidence, rel.accuracy, rel.count):
            r = 2 + min(10, n ** 0.5 / 2)
            cx, cy = x1 + c * size, y0 + size - a * size
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=blue)
        curve(x1, y0, rel.confidence, rel.accuracy, blue)
    return image


def main() -> None:
    parser = argparse.ArgumentParser()
    add_validation_set_options(parser)
    parser.add_argument("--beam-width", type=int, default=BEAM_WIDTH)
    parser.add_argument("--fit", action="store_true", help="fit on the tune halves and write MODEL_DIR/confidence.json")
    parser.add_argument("--out", help="the folder --fit writes confidence.json to (default: the model folder)")
    parser.add_argument("--cache", help="keep the network's outputs and the evidence here between runs")
    parser.add_argument("--plot", help="write the risk-coverage and reliability figure (PNG) here")
    parser.add_argument("--features", action="store_true", help="also print each feature's AUROC alone, and "
                        "the line model's candidates cross-validated on the tune halves")
    parser.add_argument("--cross-fit", action="store_true", help="also the figures on all lines of each set, "
                        "each line scored by a calibration not fitted on it (the tune halves' for the report "
                        "halves, one fitted on the report halves for the tune halves)")
    parser.add_argument("--rank-errors", action="store_true", help="also how many errors a ranking by a model "
                        "of each line's number of errors (cross-fitted) would put in its first 30 %%, beside the "
                        "confidence's")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    from htr.confidence import Calibration

    rows = measure_sets(args, read_sets(args))
    if args.fit:
        calibration, path = fit(rows, args.out or args.model_dir, "python benchmarks/confidence.py --fit")
        print(f"wrote {path}")
    else:
        calibration = Calibration.load(args.out or args.model_dir)
        if calibration is None:
            print(f"{args.model_dir} has no confidence.json: the old measure is reported (--fit makes one)",
                  file=sys.stderr)
    if args.features:
        print("\n| level | feature | AUROC alone (lm, tune halves) |\n| --- | --- | --- |")
        for level, feature, value in single_features(rows):
            print(f"| {level} | {feature} | {value:.3f} |")
        sets = list(dict.fromkeys(r["set"] for r in rows))
        print(f"\n| decoder | line model | {' | '.join(sets)} |\n| --- | --- |{' --- |' * len(sets)}")
        for decoder, name, scores in cross_validate(rows):
            print(f"| {decoder} | {name} | {' | '.join(f'{v:.3f}' for v in scores)} |")
    figures = report(rows, calibration)
    print("\nReport halves (the calibration was fitted on the tune halves):\n")
    print("| set | decoder | lines | exact | AUROC | AUROC, old measure | errors in lowest 30 % | old | at most | "
          "ECE | ECE, old | ECE from sampling alone | word AUROC | word ECE | needs review | errors there |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for f in figures:
        print(f"| {f['set']} | {f['decoder']} | {f['lines']} | {f['exact']:.1%} | {f['auroc']:.3f} | "
              f"{f['auroc_old']:.3f} | {f['errors_in_lowest_30']:.1%} | {f['errors_in_lowest_30_old']:.1%} | "
              f"{f['errors_in_lowest_30_oracle']:.1%} | {f['ece']:.3f} | {f['ece_old']:.3f} | {f['ece_sampling']:.3f} | "
              f"{f['word_auroc']:.3f} | {f['word_ece']:.3f} | {f['flagged']:.1%} | {f['errors_flagged']:.1%} |")
    scoring = calibrations_by_half(rows, calibration) if args.cross_fit or args.rank_errors else None
    if args.cross_fit:
        print("\nAll lines, cross-fitted (each half scored by the calibration fitted on the other):\n")
        print("| set | decoder | lines | exact | AUROC | errors in lowest 30 % (90 % interval) | at most | ECE | "
              "ECE from sampling alone | word AUROC | word ECE |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        crossed = cross_fitted(rows, scoring)
        for f in crossed:
            low, high = f["errors_in_lowest_30_interval"]
            print(f"| {f['set']} | {f['decoder']} | {f['lines']} | {f['exact']:.1%} | {f['auroc']:.3f} | "
                  f"{f['errors_in_lowest_30']:.1%} ({low:.1%}–{high:.1%}) | {f['errors_in_lowest_30_oracle']:.1%} | "
                  f"{f['ece']:.3f} | {f['ece_sampling']:.3f} | {f['word_auroc']:.3f} | {f['word_ece']:.3f} |")
        figures = figures + [dict(f, cross_fitted=True) for f in crossed]
    if args.rank_errors:
        print("\nErrors in the first 30 % of lines, ranked by a Poisson regression of each line's character errors "
              "(cross-fitted), against the confidence's lowest 30 % (lm):\n")
        print("| set | lines | by expected errors | by confidence | report half: by expected errors | "
              "by confidence | at most |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        ranked = ranked_by_expected_errors(rows, scoring)
        for f in ranked:
            print(f"| {f['set']} | {f['lines']} | {f['by_expected_errors']:.1%} | {f['by_confidence']:.1%} | "
                  f"{f['report_by_expected_errors']:.1%} | {f['report_by_confidence']:.1%} | {f['at_most']:.1%} |")
        figures = figures + [dict(f, ranked_by_expected_errors=True) for f in ranked]
    if args.plot:
        plot(rows, calibration, args.plot)
        print(f"\nwrote {args.plot}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
