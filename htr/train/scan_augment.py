"""Augmentation for real scanned lines: what scans of the same text vary in.

Real line images differ from each other in stroke width (pen and scanner threshold), small
elastic wobbles of the hand, slant and skew, binarised or grey ink, paper texture and JPEG,
and the ascenders and descenders of neighbouring lines that a crop keeps at its edges. Every
change here keeps the text readable: it is applied to training images, whose label stays.
"""

import cv2
import numpy as np

from htr.render import photographed_paper


def to_gray_uint8(image: np.ndarray) -> np.ndarray:
    """Any uint8/uint16 grey, RGB or RGBA image -> uint8 grey (transparency as white)."""
    if image.dtype != np.uint8:
        image = (image.astype(np.float32) / np.iinfo(image.dtype).max * 255).astype(np.uint8)
    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        alpha = image[..., 3:4].astype(np.float32) / 255
        rgb = image[..., :3].astype(np.float32) * alpha + 255 * (1 - alpha)
        return cv2.cvtColor(rgb.astype(np.uint8), cv2.COLOR_RGB2GRAY)
    if image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return image[..., 0]


def stroke_width(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Thinner (dilate the paper) or thicker (erode it) strokes by about a pixel."""
    kernel = np.ones((2, 2) if rng.random() < 0.6 else (3, 3), np.uint8)
    return cv2.erode(gray, kernel) if rng.random() < 0.5 else cv2.dilate(gray, kernel)


def elastic(gray: np.ndarray, rng: np.random.Generator, strength: float | None = None) -> np.ndarray:
    """A smooth random displacement field: the wobble of a different hand on the same text."""
    h, w = gray.shape
    strength = rng.uniform(0.01, 0.03) * h if strength is None else strength
    coarse_h, coarse_w = max(2, h // 24), max(2, w // 24)
    dx = cv2.resize(rng.normal(0, 1, (coarse_h, coarse_w)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(rng.normal(0, 1, (coarse_h, coarse_w)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return cv2.remap(gray, xx + strength * dx, yy + strength * dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def geometry(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Slant (shear), skew (small rotation) and horizontal stretch, on a canvas that holds it all."""
    h, w = gray.shape
    shear = rng.uniform(-0.35, 0.35)
    angle = np.radians(rng.uniform(-3, 3))
    stretch = rng.uniform(0.85, 1.15)
    matrix = np.array([[stretch, shear], [0, 1]], np.float64)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = rotation @ matrix
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64) @ matrix.T
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    affine = np.hstack([matrix, -lo[:, None]])
    size = (int(np.ceil(hi[0] - lo[0])), int(np.ceil(hi[1] - lo[1])))
    paper = int(np.percentile(gray, 95))
    return cv2.warpAffine(gray, affine, size, flags=cv2.INTER_LINEAR, borderValue=paper)


def binarise(gray: np.ndarray) -> np.ndarray:
    """Black ink on white, as most IAM forms were scanned."""
    _, out = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return out


def soften(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Grey ink with soft edges, as a grey scan or a phone photo has."""
    ink = 1.0 - gray.astype(np.float32) / 255
    ink = cv2.GaussianBlur(ink, (0, 0), rng.uniform(0.5, 1.2)) * rng.uniform(0.55, 0.95)
    paper = rng.uniform(200, 255)
    return np.clip(paper * (1 - ink), 0, 255).astype(np.uint8)


def neighbour_edges(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Bits of lines above and below at the image's edges: its own ink, shifted, cut off by the crop."""
    h, w = gray.shape
    out = gray.copy()
    for edge in ("top", "bottom"):
        if rng.random() < 0.5:
            continue
        depth = int(h * rng.uniform(0.08, 0.25))
        shift = int(rng.integers(0, w))
        if edge == "top":  # the descender zone of the line above
            piece = np.roll(gray[h - depth :], shift, axis=1)
            out[:depth] = np.minimum(out[:depth], piece)
        else:  # the ascender zone of the line below
            piece = np.roll(gray[:depth], shift, axis=1)
            out[h - depth :] = np.minimum(out[h - depth :], piece)
    return out


def augment_scan(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random variant of a scanned line that reads the same (uint8 grey, or RGB on paper)."""
    gray = to_gray_uint8(image)
    if rng.random() < 0.3:
        gray = neighbour_edges(gray, rng)
    if rng.random() < 0.4:
        gray = stroke_width(gray, rng)
    if rng.random() < 0.5:
        gray = elastic(gray, rng)
    gray = geometry(gray, rng)
    style = rng.random()
    if style < 0.2:
        gray = binarise(gray)
    elif style < 0.45:
        gray = soften(gray, rng)
    elif style < 0.65:
        ink = 1.0 - gray.astype(np.float32) / 255
        return photographed_paper(np.clip(ink / max(1e-3, float(ink.max())), 0, 1), rng, banked_noise=True)
    return gray
