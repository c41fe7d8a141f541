"""The confidence: a line's chance of being read exactly, each word's of being right, with its box."""

import json
import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from htr.alignment import align, log_softmax_floor
from htr.confidence import (
    CONFIDENCE_FILE,
    REVIEW_THRESHOLD,
    Calibration,
    Logistic,
    auroc,
    errors_caught,
    expected_calibration_error,
    review_note,
    risk_coverage,
)
from htr.decode import best_path
from htr.metrics import line_cer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "assets" / "example-canvas-1.png"
EXAMPLE_TEXT = "got the shape for modelling. So"
PAPER_TEXT = "Later a Roman road took"


def test_dictionary_evidence_tells_words_from_misreadings():
    from htr.spelling import NO_LETTERS_LOG_FREQUENCY, dictionary_evidence

    unknown, common = dictionary_evidence("the")
    assert unknown == 0.0 and common > 6
    assert dictionary_evidence("Roman,")[0] == 0.0  # case and punctuation aside
    unknown, frequency = dictionary_evidence("foman")
    assert unknown == 1.0 and frequency == 0.0
    assert dictionary_evidence("1961") == (0.0, NO_LETTERS_LOG_FREQUENCY)
    assert dictionary_evidence("well-qzxv")[0] == 1.0  # one unknown run is enough


def test_shipped_calibration_trusts_a_dictionary_word_more(recognizer):
    """The same network evidence, once as a word in the dictionary and once as one in none: the
    shipped word model gives the unknown word the lower chance, and its line the lower confidence."""
    import dataclasses

    from htr.confidence import assess, measure
    from htr.decode import decode

    read = recognizer.recognize(str(EXAMPLE), decoder="lm")
    assert read.text == EXAMPLE_TEXT
    decoded = decode(read.probabilities, "lm", 16, 5, lm=recognizer.lm)
    found = measure(read.probabilities, decoded, recognizer.config.decode, lm=recognizer.lm)
    k = found.word_texts.index("shape")
    assert found.words[k]["not_in_dictionary"] == 0.0
    unknown = dataclasses.replace(found, words=[dict(w) for w in found.words])
    unknown.words[k].update(not_in_dictionary=1.0, dictionary_log_frequency=0.0)
    line_known, words_known = assess(found, "lm", recognizer.calibration)
    line_unknown, words_unknown = assess(unknown, "lm", recognizer.calibration)
    assert words_unknown[k].confidence < words_known[k].confidence
    assert line_unknown < line_known


def test_logistic_fit_recovers_a_known_relation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20000, 3)) * [1.0, 3.0, 0.5] + [0.0, 5.0, -1.0]
    logit = 2.0 * x[:, 0] - 0.5 * (x[:, 1] - 5.0) + 0.3
    right = rng.random(len(x)) < 1 / (1 + np.exp(-logit))
    rows = [{"a": a, "b": b, "noise": c} for a, b, c in x]
    model = Logistic.fit(rows, right, l2=0.01)
    coef = np.array(model.coef) / np.array(model.scale)  # back in the features' own units
    assert coef == pytest.approx([2.0, -0.5, 0.0], abs=0.08)
    intercept = model.intercept - float(np.dot(coef, model.mean))
    assert intercept == pytest.approx(0.3 + 2.5, abs=0.2)
    # Calibrated on its own data: the mean prediction is the share right.
    assert model.predict(rows).mean() == pytest.approx(right.mean(), abs=1e-3)
    assert Logistic.from_dict(json.loads(json.dumps(model.to_dict()))).predict(rows[:5]) == \
        pytest.approx(model.predict(rows[:5]))


def test_figures_of_a_confidence():
    right = np.array([1, 1, 0, 1, 0, 0], bool)
    assert auroc(np.array([0.9, 0.8, 0.1, 0.7, 0.2, 0.3]), right) == 1.0
    assert auroc(np.array([0.1, 0.2, 0.9, 0.3, 0.8, 0.7]), right) == 0.0
    assert auroc(np.full(6, 0.5), right) == 0.5
    assert expected_calibration_error(np.array([0.75] * 4), np.array([1, 1, 1, 0])) == pytest.approx(0.0)
    assert expected_calibration_error(np.array([0.95] * 4), np.array([1, 0, 1, 0])) == pytest.approx(0.45)
    errors = np.array([0, 0, 5, 0, 3, 2])
    assert errors_caught(np.array([0.9, 0.8, 0.1, 0.7, 0.2, 0.3]), errors, 0.5) == 1.0
    curve = risk_coverage(np.array([0.9, 0.8, 0.1, 0.7, 0.2, 0.3]), errors)
    assert curve.checked[0] == 0 and curve.errors_left[0] == 1.0 and curve.errors_left[-1] == 0.0
    assert curve.errors_left[1] == pytest.approx(0.5)  # the least confident line holds 5 of the 10 errors


def _matrix(frames: list[int], classes: int = 5, sure: float = 0.9) -> np.ndarray:
    probs = np.full((len(frames), classes), (1 - sure) / (classes - 1))
    probs[np.arange(len(frames)), frames] = sure
    return probs


def test_alignment_places_each_character_on_its_frames():
    probs = _matrix([0, 1, 1, 0, 0, 2, 0, 2, 0])  # "a", "b", "b" (a blank between the two b's)
    found = align(log_softmax_floor(probs), [1, 2, 2])
    assert found.spans.tolist() == [[1, 2], [5, 5], [7, 7]]
    assert found.frames.tolist() == [-1, 0, 0, -1, -1, 1, -1, 2, -1]
    assert found.viterbi == pytest.approx(best_path(probs).paths[0][1])
    assert found.total > found.viterbi  # more alignments than the best one
    # The summed probability of every reading of these frames is at most 1.
    assert math.exp(found.total) <= 1.0
    # A reading the frames cannot hold is spread evenly rather than failing.
    assert align(log_softmax_floor(probs[:2]), [1, 2, 3]).spans[:, 0].tolist() == [0, 0, 1]


def test_confidence_higher_for_a_right_reading_than_a_wrong_one(recognizer):
    assert recognizer.calibration is not None  # the shipped model ships its calibration
    right = recognizer.recognize(str(EXAMPLE), decoder="lm")
    assert right.text == EXAMPLE_TEXT
    assert right.confidence > REVIEW_THRESHOLD and not right.needs_review
    # A scanned line the language model reads right and best path misreads ("foman" for "Roman"):
    # the wrong reading is flagged, and its wrong word is its least sure.
    paper = ROOT / "assets" / "example-paper-1.png"
    read = recognizer.recognize(str(paper), decoder="lm")
    misread = recognizer.recognize(str(paper), decoder="best")
    assert read.text == PAPER_TEXT and misread.text == PAPER_TEXT.replace("Roman", "foman")
    assert misread.confidence < REVIEW_THRESHOLD < read.confidence
    assert misread.needs_review and not read.needs_review
    by_text = {w.text: w.confidence for w in misread.words}
    assert by_text["foman"] == min(by_text.values()) < REVIEW_THRESHOLD
    assert min(w.confidence for w in read.words) > REVIEW_THRESHOLD
    # Scribbles are no line of writing: what is read there is flagged.
    rng = np.random.default_rng(1)
    scribble = np.full((80, 600), 255, np.uint8)
    for _ in range(40):
        x, y = rng.integers(0, 600), rng.integers(10, 70)
        cv2.line(scribble, (int(x), int(y)), (int(x + rng.integers(-40, 40)), int(rng.integers(10, 70))), 0, 3)
    garbage = recognizer.recognize(scribble, decoder="lm")
    assert garbage.confidence < REVIEW_THRESHOLD < right.confidence and garbage.needs_review


@pytest.mark.parametrize("decoder", ["lm", "best", "beam"])
def test_words_have_boxes_in_the_line_in_order(recognizer, decoder):
    result = recognizer.recognize(str(EXAMPLE), decoder=decoder, top_k=1)
    assert [w.text for w in result.words] == result.text.split()
    height, width = result.image.shape
    previous_end = 0
    for word in result.words:
        x, y, w, h = word.box
        assert (y, h) == (0, height) and w > 0
        assert previous_end <= x and x + w <= width
        previous_end = x + w
        assert 0.0 <= word.confidence <= 1.0
    # The boxes hold the line's ink: most of it lies inside them.
    ink = result.image > 0.5 * result.image.max()  # the ink map: ink bright on black
    inside = np.zeros(width, bool)
    for x, _, w, _ in (word.box for word in result.words):
        inside[x : x + w] = True
    assert ink[:, inside].sum() > 0.85 * ink.sum()


def test_json_contract_has_confidence_words_and_review(recognizer, tmp_path):
    from htr.page import recognize_page

    data = recognizer.recognize(str(EXAMPLE), decoder="lm").to_json("x.png")
    assert list(data)[:5] == ["path", "text", "confidence", "needs_review", "words"]
    assert isinstance(data["needs_review"], bool) and 0 < data["confidence"] <= 1
    assert [w["text"] for w in data["words"]] == data["text"].split()
    assert all(set(w) == {"text", "confidence", "box"} and len(w["box"]) == 4 for w in data["words"])
    assert {"decoder", "alternatives"} <= set(data)
    line = cv2.imread(str(EXAMPLE), cv2.IMREAD_GRAYSCALE)
    page_image = np.full((line.shape[0] * 3 + 80, line.shape[1] + 40), 255, np.uint8)
    page_image[20 : 20 + line.shape[0], 20 : 20 + line.shape[1]] = line
    page_image[60 + 2 * line.shape[0] : 60 + 3 * line.shape[0], 20 : 20 + line.shape[1]] = line
    page = recognize_page(recognizer, page_image, layout="page", decoder="lm").to_json()
    assert isinstance(page["needs_review"], bool)
    assert page["confidence"] == pytest.approx(np.mean([line["confidence"] for line in page["lines"]]), abs=1e-3)
    for found in page["lines"]:
        assert {"box", "text", "confidence", "needs_review", "words", "alternatives"} <= set(found)


def test_a_folder_without_calibration_gets_the_network_measure(recognizer, tmp_path):
    from htr import Recognizer

    folder = tmp_path / "model"
    shutil.copytree(ROOT / "model", folder, ignore=shutil.ignore_patterns(CONFIDENCE_FILE, "*.h5", "recipe"))
    plain = Recognizer(recognizer.engine, recognizer.config, folder, recognizer.lm)
    assert plain.calibration is None
    result = plain.recognize(str(EXAMPLE), decoder="best")
    score = best_path(result.probabilities).paths[0][1]
    assert result.confidence == pytest.approx(math.exp(score / (len(result.text) + 1)), rel=1e-6)
    (folder / CONFIDENCE_FILE).write_text("{not json")
    with pytest.warns(UserWarning, match="cannot be used"):
        assert Calibration.load(folder) is None


def test_review_note_marks_the_unsure_words():
    from htr.confidence import Word

    assert review_note([Word("sure", 0.9, (0, 0, 4, 64))]) == ""
    note = review_note([Word("sure", 0.9, (0, 0, 4, 64)), Word("<odd>", 0.2, (8, 0, 4, 64))])
    assert "sure <mark>&lt;odd&gt;</mark>" in note


def test_confidence_separates_exact_lines_on_real_validation_lines(recognizer, ondb_split):
    """On the first 120 lines of the report half of IAM On-Line validation (which the calibration
    was not fitted on): exact lines score above wrong ones, and the confidence is about the share exact."""
    from htr.datasets.base import line_part
    from htr.render import render_strokes
    from htr.text import normalize_for_scoring

    samples = [s for s in ondb_split.samples if line_part(s.id) == "report"][:120]
    results = recognizer.recognize_batch([render_strokes(s.strokes, "canvas") for s in samples], decoder="lm",
                                         find_paper=False)
    exact = np.array([normalize_for_scoring(r.text) == normalize_for_scoring(s.text) for r, s in zip(results, samples)])
    confidence = np.array([r.confidence for r in results])
    assert auroc(confidence, exact) > 0.75
    assert abs(confidence.mean() - exact.mean()) < 0.12
    errors = np.array([line_cer(s.text, r.text) for r, s in zip(results, samples)])
    assert errors_caught(confidence, errors, 0.3) > 0.5
