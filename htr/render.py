"""Draw pen trajectories as line images, in the two looks users give us.

*canvas*: a uniform dark pen on white, like a sketchpad in a browser.
*paper*: grey or blue ink on textured off-white paper, blurred, unevenly lit, JPEG-compressed,
like a phone photo or a scan. Geometry (size, pen width, slant, rotation, baseline wobble,
stretch) is randomised for both so the model sees many writers' hands.
"""

import math

import cv2
import numpy as np

LOOKS = ("canvas", "paper")


def scale_strokes(strokes: list[np.ndarray], ink_height: float) -> list[np.ndarray]:
    """Strokes in pixels, top-left at the origin, the line's robust height = ``ink_height``."""
    points = np.concatenate(strokes)
    lo = points.min(axis=0)
    # Whiteboard lines are ~ 5-10x taller than a letter's x-height; use a robust height.
    y_lo, y_hi = np.percentile(points[:, 1], [1, 99])
    scale = ink_height / max(1.0, y_hi - y_lo)
    return [(stroke - lo) * scale for stroke in strokes]


def draw_strokes(image: np.ndarray, strokes: list[np.ndarray], thickness: int, colour: int,
                 antialias: bool = True) -> None:
    """Round-pen strokes (pixel coordinates, quarter-pixel precision) onto ``image``.

    ``antialias=False`` draws hard two-level edges, as a browser sketchpad hands them over.
    """
    supersample, shift = 4, 2  # cv2 fixed-point bits: coordinates in quarter pixels
    line_type = cv2.LINE_AA if antialias else cv2.LINE_8
    polylines = [np.round(p * supersample).astype(np.int32).reshape(-1, 1, 2) for p in strokes]
    cv2.polylines(image, polylines, False, colour, thickness, line_type, shift)
    for p in polylines:
        if len(p) == 1:  # a dot
            cv2.circle(image, tuple(int(v) for v in p[0, 0]), thickness * supersample // 2, colour, -1, line_type, shift)


def _geometry(strokes: list[np.ndarray], rng: np.random.Generator | None, ink_height: float,
              wide: bool) -> tuple[list[np.ndarray], float]:
    """Strokes transformed to pixel coordinates; returns them and the pen width."""
    slant = rng.uniform(-0.25, 0.25) if rng else 0.0
    stretch = rng.uniform(0.8, 1.25) if rng else 1.0
    max_angle = 5.0 if wide else 3.0
    angle = math.radians(rng.uniform(-max_angle, max_angle)) if rng else 0.0
    wobble = rng.uniform(0, 0.06) * ink_height if rng else 0.0
    period = rng.uniform(150, 600) if rng else 1.0
    phase = rng.uniform(0, 2 * math.pi) if rng else 0.0
    cos, sin = math.cos(angle), math.sin(angle)
    out = []
    for xy in scale_strokes(strokes, ink_height):
        x, y = xy[:, 0] * stretch, xy[:, 1]
        x = x - slant * (y - ink_height)
        y = y + wobble * np.sin(2 * math.pi * x / period + phase)
        out.append(np.stack([x * cos - y * sin, x * sin + y * cos], axis=1))
    # Pen-like strokes; in wide variety a third are thick, like a broad brush on small writing.
    if rng is None:
        ratio = 0.045
    elif wide and rng.random() < 0.35:
        ratio = rng.uniform(0.08, 0.2)
    else:
        ratio = rng.uniform(0.025, 0.08)
    pen = ink_height * ratio
    return out, pen


def render_strokes(
    strokes: list[np.ndarray],
    look: str = "canvas",
    rng: np.random.Generator | None = None,
    ink_height: float | None = None,
    wide: bool = False,
) -> np.ndarray:
    """A uint8 grayscale image of the line (canvas) or an RGB one (paper).

    Without ``rng`` the rendering is plain and deterministic. ``wide`` widens the random
    ranges for training (more rotation, thick brushes, smaller and larger writing) beyond the
    typical inputs that validation renders, and takes the paper look's pixel noise from a bank
    (faster; see :func:`_sensor_noise`).
    """
    if look not in LOOKS:
        raise ValueError(f"unknown look {look!r}; expected one of {LOOKS}")
    # A quarter of wide canvas renderings imitate a sketchpad: any size from 20 to 300 px,
    # a fixed 1-12 px brush, hard-edged (aliased) strokes in one grey.
    sketch = wide and look == "canvas" and rng is not None and rng.random() < 0.25
    if ink_height is None:
        low, high = (20, 300) if sketch else (30, 140) if wide else (40, 110)
        ink_height = (math.exp(rng.uniform(math.log(low), math.log(high))) if sketch
                      else rng.uniform(low, high) if rng else 70.0)
    pts, pen = _geometry(strokes, rng, ink_height, wide)
    antialias = True
    if sketch:
        pen = float(rng.integers(1, 13))
        pen = min(pen, max(1.0, 0.22 * ink_height))
        antialias = rng.random() < 0.4
    allp = np.concatenate(pts)
    margin = pen + (rng.uniform(4, 30) if rng else 10)
    offset = allp.min(axis=0) - margin
    size = np.ceil(allp.max(axis=0) - offset + margin).astype(int)
    canvas = np.zeros((size[1], size[0]), np.uint8)
    draw_strokes(canvas, [p - offset for p in pts], max(1, int(round(pen))), 255, antialias)
    ink = canvas.astype(np.float32) / 255.0
    if look == "canvas":
        darkness = rng.uniform(0.8, 1.0) if rng else 1.0
        return np.clip(255.0 * (1.0 - darkness * ink), 0, 255).astype(np.uint8)
    return photographed_paper(ink, rng if rng is not None else np.random.default_rng(0), banked_noise=wide)


_NOISE_BANK_SIZE = 1 << 22  # 4 M float32 values, 16 MB per process
_noise_bank: np.ndarray | None = None


def _sensor_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float, banked: bool) -> np.ndarray:
    """Gaussian pixel noise, drawn per pixel, or (``banked``) cut at a random place from one
    fixed draw: drawing a normal per pixel costs more than all the rest of a paper rendering,
    which bounds how fast training can feed a GPU. Validation keeps per-pixel draws, so the
    rendered validation sets stay exactly as they were."""
    global _noise_bank
    size = math.prod(shape)
    if not banked or size > _NOISE_BANK_SIZE:
        return rng.normal(0, sigma, shape).astype(np.float32)
    if _noise_bank is None:
        _noise_bank = np.random.default_rng(20261126).standard_normal(_NOISE_BANK_SIZE, dtype=np.float32)
    start = int(rng.integers(0, _NOISE_BANK_SIZE - size + 1))
    return _noise_bank[start : start + size].reshape(shape) * np.float32(sigma)


def photographed_paper(ink: np.ndarray, rng: np.random.Generator, banked_noise: bool = False) -> np.ndarray:
    """Composite ink onto a photographed-paper background (``banked_noise``: for training)."""
    h, w = ink.shape
    paper = np.array([rng.uniform(200, 250)] * 3, np.float32) + rng.normal(0, 6, 3).astype(np.float32)
    # Slowly varying texture and light: a coarse noise field blown up, plus a gradient.
    coarse = cv2.resize(rng.normal(0, 1, (max(2, h // 24), max(2, w // 24))).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    gx, gy = rng.normal(0, 1, 2)
    slope = rng.uniform(0, 0.25)
    light = (1.0 + slope * (gx * (np.arange(w, dtype=np.float32) / w - 0.5)[None, :]
                            + gy * (np.arange(h, dtype=np.float32) / h - 0.5)[:, None])
             + rng.uniform(0, 0.04) * coarse).astype(np.float32)
    blue_ink = rng.random() < 0.4
    ink_colour = (np.array([rng.uniform(90, 160), rng.uniform(30, 70), rng.uniform(10, 50)], np.float32) if blue_ink
                  else np.full(3, rng.uniform(10, 110), np.float32))  # BGR
    strength = ink * np.float32(rng.uniform(0.75, 1.0))
    lit = light * (1 - strength)  # paper shows through where the ink is faint
    image = cv2.merge([paper[c] * lit + ink_colour[c] * strength for c in range(3)])
    sigma = rng.uniform(0.3, 1.6)
    image = cv2.GaussianBlur(image, (0, 0), sigma)
    image += _sensor_noise(rng, image.shape, rng.uniform(2, 10), banked_noise)
    image = np.clip(image, 0, 255).astype(np.uint8)
    quality = int(rng.uniform(30, 90))
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    image = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
