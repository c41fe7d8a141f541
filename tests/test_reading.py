"""Dense writing is read a second time, stretched wider; other lines are read once, as they are."""

import dataclasses
import math

import cv2
import numpy as np
import pytest

from htr import Recognizer
from htr.config import ModelConfig
from htr.metrics import error_rates
from htr.preprocess import PAD
from htr.render import render_strokes
from htr.second_reading import (
    characters_read,
    clipped_to_body,
    stretch_factor,
    stretch_width,
)


def one_hot(classes: list[int], num_classes: int = 5) -> np.ndarray:
    probs = np.full((len(classes), num_classes), 0.01, np.float32)
    probs[np.arange(len(classes)), classes] = 1.0
    return probs / probs.sum(axis=1, keepdims=True)


def test_characters_read_counts_the_best_path_characters():
    # blank=0; "1 1" merged, "1 _ 1" two characters, blanks not counted.
    assert characters_read(one_hot([0, 1, 1, 0, 1, 2, 2, 0, 3, 0])) == 4
    assert characters_read(one_hot([0, 0, 0])) == 0
    assert characters_read(one_hot([4])) == 1


def test_stretch_factor_aims_at_the_pitch_within_its_caps():
    config = ModelConfig(dense_px_per_char=16.0, max_stretch=1.3, max_width=2048)
    ten_chars = one_hot([0, 1, 0, 2] * 5 + [0, 3, 0, 4] * 5)  # 20 characters
    image = lambda ink_width: np.zeros((64, ink_width + 2 * PAD), np.float32)  # noqa: E731
    assert stretch_factor(image(400), ten_chars, config) == 1.0  # 20 px a character: not dense
    assert stretch_factor(image(290), ten_chars, config) == pytest.approx(16 * 20 / 290)  # 14.5 px
    assert stretch_factor(image(200), ten_chars, config) == pytest.approx(1.3)  # 10 px: capped
    assert stretch_factor(image(310), ten_chars, config) == 1.0  # 15.5 px: too small a change
    narrow = dataclasses.replace(config, max_width=200 + 2 * PAD + 20)
    assert stretch_factor(image(200), ten_chars, narrow) == pytest.approx(1.1)  # within the widest input
    assert stretch_factor(image(200), ten_chars, dataclasses.replace(config, dense_px_per_char=0)) == 1.0
    assert stretch_factor(image(200), one_hot([0] * 30), config) == 1.0  # nothing read


def test_stretch_width_keeps_height_border_and_ink():
    image = np.zeros((64, 108), np.float32)
    image[20:40, 10:90] = 1.0
    wider = stretch_width(image, 1.25)
    assert wider.shape == (64, 100 * 1.25 + 2 * PAD)
    assert not wider[:, :PAD].any() and not wider[:, -PAD:].any()
    assert wider.sum() == pytest.approx(image.sum() * 1.25, rel=0.02)


@pytest.fixture(scope="module")
def squeezed_lines(recognizer, ondb_split):
    """Real validation lines squeezed to 60 % of their width: written as densely as small cramped hands do."""
    samples = ondb_split.samples[200:216]
    images, texts = [], []
    for i, sample in enumerate(samples):
        line = recognizer.prepare(render_strokes(sample.strokes, "canvas", np.random.default_rng(i)))
        inner = line[:, PAD:-PAD]
        squeezed = cv2.resize(inner, (round(inner.shape[1] * 0.6), line.shape[0]), interpolation=cv2.INTER_AREA)
        images.append(np.round(255 * (1 - np.pad(squeezed, ((0, 0), (PAD, PAD))))).astype(np.uint8))  # ink on paper
        texts.append(sample.text)
    return images, texts


def with_rule(recognizer, pitch: float, clip: float = 0.0) -> Recognizer:
    config = dataclasses.replace(recognizer.config, dense_px_per_char=pitch, max_stretch=1.45, clip_bodies=clip)
    return Recognizer(recognizer.engine, config, recognizer.model_dir, recognizer.lm, recognizer.lm_error)


def test_dense_lines_are_read_again_wider_and_better(recognizer, squeezed_lines):
    images, texts = squeezed_lines
    once = with_rule(recognizer, 0).recognize_batch(images)
    twice = with_rule(recognizer, 16).recognize_batch(images)
    wider = [r for r, a in zip(twice, once) if r.image.shape[1] > a.image.shape[1]]
    assert len(wider) >= len(images) // 2
    for r in twice:  # the matrix belongs to the image the network read
        assert r.probabilities.shape[0] == math.ceil(r.image.shape[1] / r.time_stride)
    cer_once = error_rates(texts, [r.text for r in once]).cer
    cer_twice = error_rates(texts, [r.text for r in twice]).cer
    assert cer_twice < 0.9 * cer_once


def test_lines_of_ordinary_spacing_are_read_once(recognizer, ondb_split):
    samples = ondb_split.samples[200:206]
    images = [render_strokes(s.strokes, "canvas", np.random.default_rng(i)) for i, s in enumerate(samples)]
    rule = with_rule(recognizer, 16)
    prepared = [rule.prepare(image) for image in images]
    read_images, probs = rule.read(prepared)
    plain = rule.probabilities(prepared)
    for image, read_image, p, q in zip(prepared, read_images, probs, plain):
        if read_image.shape == image.shape:  # not dense: exactly the single reading
            assert np.array_equal(p, q)
    assert any(r.shape == i.shape for r, i in zip(read_images, prepared))


def test_clipping_cuts_far_ink_and_scales_the_body_up():
    config = ModelConfig(clip_bodies=2.0, max_width=2048)
    image = np.zeros((64, 408), np.float32)  # prepared: the ink spans the height inside the border
    image[PAD:64 - PAD, 20:380] = 1.0
    assert clipped_to_body(image, config) is None  # all body: nothing far from it
    image[:] = 0.0
    image[44:60, 20:380] = 1.0  # the body, 16 rows at the bottom
    image[PAD:PAD + 3, 100:110] = 1.0  # and a speck 37 rows above it
    clipped = clipped_to_body(image, config)
    assert clipped is not None and clipped.shape[0] == 64
    rows = np.flatnonzero(clipped[:, clipped.shape[1] // 2] > 0.5)
    assert len(rows) > 16 * 1.1  # the body is taller than before
    assert clipped.shape[1] > image.shape[1]  # and the line wider in proportion
    assert clipped[:PAD].max() == 0 and clipped[-PAD:].max() == 0
    assert clipped_to_body(image, dataclasses.replace(config, clip_bodies=0)) is None
    narrow = dataclasses.replace(config, max_width=450)
    assert clipped_to_body(image, narrow).shape[1] <= 450


@pytest.fixture(scope="module")
def swashed_lines(ondb_split):
    """Real validation lines with a big loop drawn below them, as flourishes (or bits of the
    next line in a tight crop) sit: scaled to the input height, the letters shrink."""
    samples = ondb_split.samples[300:312]
    images, texts = [], []
    for i, sample in enumerate(samples):
        line = render_strokes(sample.strokes, "canvas", np.random.default_rng(i))
        gray = line if line.ndim == 2 else cv2.cvtColor(line, cv2.COLOR_RGB2GRAY)
        rows = np.flatnonzero((gray < 128).any(axis=1))
        height = rows[-1] - rows[0]
        taller = np.full((gray.shape[0] + 3 * height, gray.shape[1]), 255, np.uint8)
        taller[: gray.shape[0]] = gray
        centre = (int(gray.shape[1] * 0.4), rows[-1] + int(1.6 * height))
        cv2.ellipse(taller, centre, (gray.shape[1] // 5, int(0.8 * height)), 0, 0, 360, 0, max(2, height // 12))
        images.append(taller)
        texts.append(sample.text)
    return images, texts


def test_lines_shrunk_by_far_ink_are_read_clipped_and_better(recognizer, swashed_lines):
    images, texts = swashed_lines
    whole = with_rule(recognizer, 16, clip=0).recognize_batch(images)
    clipped = with_rule(recognizer, 16, clip=2.0).recognize_batch(images)
    assert sum(c.image.shape[1] > w.image.shape[1] for c, w in zip(clipped, whole)) >= len(images) // 2
    for r in clipped:
        assert r.probabilities.shape[0] == math.ceil(r.image.shape[1] / r.time_stride)
    assert error_rates(texts, [r.text for r in clipped]).cer < 0.7 * error_rates(texts, [r.text for r in whole]).cer
