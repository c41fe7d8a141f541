"""The public API every face uses: Recognizer.load + recognize / recognize_batch."""

import math

import numpy as np
import pytest

from htr import BadImageError, ModelLoadError, NoInkError, Recognizer
from htr.metrics import error_rates
from htr.render import render_strokes


@pytest.fixture(scope="module")
def lines(ondb_validation):
    samples = ondb_validation.samples[100:108] or ondb_validation.samples[:8]  # without the data: shipped lines
    return [render_strokes(s.strokes, "canvas", np.random.default_rng(i)) for i, s in enumerate(samples)], [
        s.text for s in samples
    ]


def test_recognition_carries_text_confidence_alternatives_and_matrix(recognizer, lines):
    images, texts = lines
    result = recognizer.recognize(images[0], decoder="beam", beam_width=16, top_k=4)
    assert result.text == result.alternatives[0].text
    assert 1 <= len(result.alternatives) <= 4
    assert 0.0 < result.confidence <= 1.0
    T, C = result.probabilities.shape
    assert C == len(result.charset) + 1 == len(result.labels)
    assert T == math.ceil(result.image.shape[1] / result.time_stride)
    assert np.allclose(result.probabilities.sum(axis=1), 1.0, atol=1e-4)
    assert result.image.shape[0] == recognizer.config.height


def test_shipped_model_reads_real_validation_lines(recognizer, lines):
    images, texts = lines
    hypotheses = [r.text for r in recognizer.recognize_batch(images)]
    assert error_rates(texts, hypotheses).cer < 0.2


def test_batch_equals_single(recognizer, lines):
    images, _ = lines
    batch = recognizer.recognize_batch(images[:4], batch_size=4)
    for image, together in zip(images[:4], batch):
        alone = recognizer.recognize(image)
        assert alone.text == together.text
        assert alone.confidence == pytest.approx(together.confidence, rel=0.05)


def test_beam_is_at_least_as_likely_as_best_path(recognizer, lines):
    images, _ = lines
    for image in images[:3]:
        best = recognizer.recognize(image, decoder="best")
        beam = recognizer.recognize(image, decoder="beam")
        # Beam scores sum over alignments, so they are never below one alignment's score.
        assert beam.alternatives[0].score >= best.alternatives[0].score - 1e-3


def test_spelling_correction_keeps_the_raw_text(recognizer, lines):
    images, _ = lines
    result = recognizer.recognize(images[0], correct=True)
    assert result.corrected is not None and result.text
    assert recognizer.recognize(images[0]).corrected is None


def test_bad_inputs(recognizer, tmp_path):
    with pytest.raises(NoInkError):
        recognizer.recognize(np.full((200, 800, 3), 255, np.uint8))
    with pytest.raises(BadImageError):
        recognizer.recognize(tmp_path / "missing.png")
    with pytest.raises(BadImageError):
        recognizer.recognize(np.zeros((1, 1), np.uint8))
    with pytest.raises(ValueError, match="unknown decoder"):
        recognizer.recognize(np.zeros((10, 10), np.uint8), decoder="magic")


def test_load_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        Recognizer.load(tmp_path / "nothing")
    (tmp_path / "config.json").write_text("{ broken")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        Recognizer.load(tmp_path)
