"""Augmentation of real scans keeps the text readable, and varies what scans vary in."""


import numpy as np
import pytest
from conftest import IAM

from htr.metrics import error_rates
from htr.train.scan_augment import (
    augment_scan,
    binarise,
    elastic,
    neighbour_edges,
    stroke_width,
    to_gray_uint8,
)


@pytest.fixture(scope="module")
def dev_lines():
    """24 real scanned IAM lines of writers the model never saw in training (without the data
    set, the 10 shipped in tests/fixtures/iam)."""
    from htr.datasets import load_dataset
    from htr.imageio import read_image_file as load_image

    samples = load_dataset("iam", IAM, IAM / "splits" / "available-dev.txt").samples[:24]
    return [load_image(s.path) for s in samples], [s.text for s in samples]


def test_augmented_scans_stay_readable(recognizer, dev_lines):
    """The shipped model reads augmented real lines nearly as well as the originals: the
    changes are those of another scan of the same text, not damage to it."""
    images, texts = dev_lines
    clean = error_rates(texts, [r.text for r in recognizer.recognize_batch(images)]).cer
    augmented = []
    for seed in range(3):
        variants = [augment_scan(image, np.random.default_rng([seed, i])) for i, image in enumerate(images)]
        augmented.append(error_rates(texts, [r.text for r in recognizer.recognize_batch(variants)]).cer)
    assert np.mean(augmented) <= 2.0 * clean + 0.02, (clean, augmented)


def test_augmentation_is_deterministic_and_varied(dev_lines):
    image = dev_lines[0][0]
    first = augment_scan(image, np.random.default_rng(5))
    assert np.array_equal(first, augment_scan(image, np.random.default_rng(5)))
    shapes = {augment_scan(image, np.random.default_rng(seed)).shape for seed in range(8)}
    assert len(shapes) > 4  # slant, skew and stretch change the size


def test_each_change_does_what_it_says(dev_lines):
    gray = to_gray_uint8(dev_lines[0][0])
    rng = np.random.default_rng(0)
    ink = (gray < 128).sum()
    widths = [(stroke_width(gray, np.random.default_rng(s)) < 128).sum() for s in range(6)]
    assert min(widths) < ink < max(widths)  # thinner and thicker strokes both occur
    assert set(np.unique(binarise(gray))) <= {0, 255}
    bent = elastic(gray, rng, strength=3.0)
    assert bent.shape == gray.shape and not np.array_equal(bent, gray)
    edged = neighbour_edges(np.full((100, 400), 255, np.uint8), np.random.default_rng(1))
    assert edged.min() == 255  # nothing to copy from blank paper: no invented ink
    crowded = [neighbour_edges(gray, np.random.default_rng(s)) for s in range(6)]
    assert any((c[:10] < 128).sum() > (gray[:10] < 128).sum() for c in crowded)


def test_banked_paper_noise_is_reproducible_and_as_strong_as_drawn_noise():
    """Training's paper renderings take their pixel noise from a fixed bank: a resumed run must
    render the same image again, and the noise must look like the per-pixel draw validation uses."""
    import cv2

    from htr.render import photographed_paper

    ink = np.zeros((80, 600), np.uint8)
    cv2.putText(ink, "noise", (20, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.8, 255, 4)
    ink = ink.astype(np.float32) / 255.0
    banked = photographed_paper(ink, np.random.default_rng(5), banked_noise=True)
    again = photographed_paper(ink, np.random.default_rng(5), banked_noise=True)
    drawn = photographed_paper(ink, np.random.default_rng(5), banked_noise=False)
    assert np.array_equal(banked, again)
    assert not np.array_equal(banked, drawn)
    # Same paper, light and ink (every draw before the noise is shared): same brightness...
    assert abs(float(banked.mean()) - float(drawn.mean())) < 2.0
    # ...and noise of the same strength: the fine detail left after a blur.
    def grain(image):
        grey = image.astype(np.float32).mean(axis=2)
        return float(np.std(grey - cv2.GaussianBlur(grey, (0, 0), 2.0)))

    assert 0.75 < grain(banked) / grain(drawn) < 1.33
    # A different draw of the generator cuts the bank elsewhere.
    other = photographed_paper(ink, np.random.default_rng(6), banked_noise=True)
    assert not np.array_equal(banked, other)
