"""Hard but realistic inputs made from pen trajectories, to measure robustness.

Users do not send what the training renderer draws: they draw on a big square or wide canvas
with a fixed 3-8 px brush, write tiny or huge, photograph a rotated line on off-white paper
under a lamp that lights one side, write on a form's printed line, on a notebook's ruled
paper with its red margin line or on squared paper, or light on a dark ground.
Each case here turns one line's strokes into such an image, deterministically, so the same
lines can be read clean and stressed and the error rates compared.
"""

import math
from typing import Callable

import cv2
import numpy as np

from htr.render import draw_strokes, render_strokes, scale_strokes


def draw_on_canvas(strokes: list[np.ndarray], canvas: tuple[int, int] | None, ink_height: float, brush: int,
                   rng: np.random.Generator, margin: int = 40) -> np.ndarray:
    """Black strokes of a round ``brush`` on a white (h, w) canvas, like a browser sketchpad.

    The line is shrunk if it would not fit; it lands at a random place on the canvas. With
    ``canvas=None`` the canvas is the line's size plus ``margin`` on every side.
    """
    pts = scale_strokes(strokes, ink_height)
    size = np.concatenate(pts).max(axis=0) + brush
    if canvas is None:
        canvas = (int(size[1]) + 2 * margin, int(size[0]) + 2 * margin)
    height, width = canvas
    room = np.array([width - 2 * margin, height - 2 * margin], float)
    shrink = min(1.0, *(room / size))
    pts = [p * shrink for p in pts]
    size = size * shrink
    offset = margin + rng.uniform(0, 1, 2) * np.maximum(0, room - size) + brush / 2
    image = np.full((height, width), 255, np.uint8)
    draw_strokes(image, [p + offset for p in pts], brush, 0)
    return image


def clean(strokes, rng):
    """The validation rendering: canvas look, typical size and pen."""
    return render_strokes(strokes, "canvas", rng)


def square_canvas(strokes, rng):
    """An 800 x 800 sketchpad, the line written across it with a 3-8 px brush."""
    return draw_on_canvas(strokes, (800, 800), rng.uniform(50, 90), int(rng.integers(3, 9)), rng)


def wide_canvas(strokes, rng):
    """A 1600 x 400 sketchpad with a 3-8 px brush and wide margins."""
    return draw_on_canvas(strokes, (400, 1600), rng.uniform(60, 110), int(rng.integers(3, 9)), rng)


def small_writing(strokes, rng):
    """Writing about 35 px tall (x-height near 10 px) with a fine 1-2 px pen, like a low-resolution scan."""
    return draw_on_canvas(strokes, None, rng.uniform(32, 40), int(rng.integers(1, 3)), rng)


def small_writing_thick_brush(strokes, rng):
    """The same small writing with a 3 px brush: loops and gaps close up (a known weakness)."""
    return draw_on_canvas(strokes, None, rng.uniform(32, 40), 3, rng)


def large_writing(strokes, rng):
    """Writing about 300 px tall with an 8-12 px marker."""
    return draw_on_canvas(strokes, None, rng.uniform(260, 340), int(rng.integers(8, 13)), rng, margin=120)


def _turned(image: np.ndarray, angle: float) -> np.ndarray:
    """``image`` turned ``angle`` degrees counter-clockwise on a canvas that holds it all, the corners paper."""
    h, w = image.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = int(h * sin + w * cos), int(h * cos + w * sin)
    matrix[0, 2] += (new_w - w) / 2
    matrix[1, 2] += (new_h - h) / 2
    return cv2.warpAffine(image, matrix, (new_w, new_h), flags=cv2.INTER_LINEAR, borderValue=255)


def rotated(strokes, rng):
    """The clean image turned by 3-5 degrees either way."""
    image = clean(strokes, rng)
    return _turned(image, rng.uniform(3, 5) * rng.choice([-1, 1]))


def steeply_rotated(strokes, rng):
    """The clean image turned by 10-40 degrees either way: a line photographed at an angle."""
    image = clean(strokes, rng)
    return _turned(image, rng.uniform(10, 40) * rng.choice([-1, 1]))


def _on_paper(ink: np.ndarray, paper_rgb, ink_rgb, light: np.ndarray | float, noise: float, blur: float,
              rng: np.random.Generator, jpeg: int | None = None) -> np.ndarray:
    alpha = (ink.astype(np.float32) / 255.0)[..., None]
    paper = np.asarray(paper_rgb, np.float32)[None, None, :] * np.asarray(light, np.float32)[..., None]
    image = paper * (1 - alpha) + np.asarray(ink_rgb, np.float32)[None, None, :] * alpha
    image = cv2.GaussianBlur(image, (0, 0), blur)
    image = np.clip(image + rng.normal(0, noise, image.shape), 0, 255).astype(np.uint8)
    if jpeg:
        _, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, jpeg])
        image = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    return image


def off_white_paper(strokes, rng):
    """Dark ink on cream paper, sensor noise and a slightly soft focus."""
    ink = 255 - draw_on_canvas(strokes, None, rng.uniform(60, 90), int(rng.integers(3, 6)), rng)
    paper = (rng.uniform(225, 240), rng.uniform(215, 230), rng.uniform(190, 210))
    return _on_paper(ink, paper, (45, 45, 60), 1.0, noise=rng.uniform(6, 10), blur=rng.uniform(0.8, 1.4), rng=rng)


def uneven_light_photo(strokes, rng):
    """A phone photo: light falling off to under half on one side, a soft shadow, JPEG."""
    ink = 255 - draw_on_canvas(strokes, None, rng.uniform(60, 90), int(rng.integers(3, 6)), rng, margin=60)
    h, w = ink.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    direction = rng.uniform(0, 2 * math.pi)
    ramp = (xx / w - 0.5) * math.cos(direction) + (yy / h - 0.5) * math.sin(direction)
    light = 0.75 + 0.6 * ramp  # about 0.45 on the dark side, 1.05 on the bright one
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    shadow = 1 - 0.25 * np.exp(-(((xx - cx) / (0.3 * w)) ** 2 + ((yy - cy) / (0.8 * h)) ** 2))
    paper = (rng.uniform(210, 235),) * 3
    return _on_paper(ink, paper, (30, 35, 70), light * shadow, noise=rng.uniform(3, 6), blur=rng.uniform(0.6, 1.2),
                     rng=rng, jpeg=70)


def printed_lines(strokes, rng):
    """Writing on a form's printed line, or on paper ruled in dark grey: rules across the picture."""
    height = rng.uniform(60, 90)
    ink = 255 - draw_on_canvas(strokes, None, height, int(rng.integers(3, 6)), rng)
    h, w = ink.shape
    baseline, gap = 40 + rng.uniform(0.7, 0.85) * height, rng.uniform(0.9, 1.2) * height
    rows = [baseline] if rng.random() < 0.5 else [baseline + k * gap for k in range(-3, 2)]
    rules = np.zeros((h, w), np.uint8)
    for y in rows:
        cv2.line(rules, (0, int(y)), (w, int(y)), 255, int(rng.integers(1, 3)))
    paper = rng.uniform(225, 250)
    return _layers_on_paper(paper, [(rules, (rng.uniform(40, 110),) * 3), (ink, (30, 40, 110))], rng)


def _layers_on_paper(paper: float, layers: list[tuple[np.ndarray, tuple[float, ...]]],
                     rng: np.random.Generator) -> np.ndarray:
    """RGB paper of one grey level with each (mask 0-255, colour) layer painted on it in turn;
    slightly soft, a little noise."""
    image = np.full((*layers[0][0].shape, 3), paper, np.float32)
    for layer, colour in layers:
        alpha = (layer.astype(np.float32) / 255.0)[..., None]
        image = image * (1 - alpha) + np.asarray(colour, np.float32) * alpha
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 0.9))
    return np.clip(image + rng.normal(0, 3, image.shape), 0, 255).astype(np.uint8)


def light_on_dark(strokes, rng):
    """Light writing on a dark ground: a dark-mode drawing app's screenshot, a blackboard."""
    ink = 255 - draw_on_canvas(strokes, None, rng.uniform(60, 90), int(rng.integers(3, 7)), rng)
    ground = tuple(rng.uniform(15, 60, 3))
    return _on_paper(ink, ground, (rng.uniform(210, 250),) * 3, 1.0, noise=rng.uniform(2, 8),
                     blur=rng.uniform(0.5, 1.0), rng=rng)


def _paper_with_lines(ink: np.ndarray, rng: np.random.Generator, rows: list[float], columns: list[float],
                      line_rgb, margin: float | None) -> np.ndarray:
    """Ink (0-255, 255 = ink) in blue pen on white paper printed with 1 px lines at the given
    rows and columns, and a red margin line at ``margin``; slightly soft, a little noise."""
    h, w = ink.shape
    printed = np.zeros((h, w), np.uint8)
    for y in rows:
        cv2.line(printed, (0, int(y)), (w, int(y)), 255, 1)
    for x in columns:
        cv2.line(printed, (int(x), 0), (int(x), h), 255, 1)
    red = np.zeros((h, w), np.uint8)
    if margin is not None:
        cv2.line(red, (int(margin), 0), (int(margin), h), 255, 2)
    return _layers_on_paper(rng.uniform(235, 250), [(printed, line_rgb), (red, (225, 80, 80)), (ink, (30, 40, 110))], rng)


def notebook_paper(strokes, rng):
    """A notebook line: pale blue rules a line's height apart and a red margin line down the left."""
    height = rng.uniform(60, 90)
    ink = 255 - draw_on_canvas(strokes, None, height, int(rng.integers(3, 6)), rng)
    pitch = rng.uniform(0.9, 1.2) * height
    first = (40 + rng.uniform(0.7, 0.85) * height) % pitch
    rows = list(np.arange(first, ink.shape[0], pitch))
    blue = (rng.uniform(140, 170), rng.uniform(170, 200), rng.uniform(220, 245))
    return _paper_with_lines(ink, rng, rows, [], blue, margin=rng.uniform(8, 30))


def squared_paper(strokes, rng):
    """School squared paper: a grey or blue grid of squares half the writing's height, and
    in half the pictures a red margin line down the left."""
    height = rng.uniform(60, 90)
    ink = 255 - draw_on_canvas(strokes, None, height, int(rng.integers(3, 6)), rng)
    side = rng.uniform(0.4, 0.55) * height
    rows = list(np.arange(rng.uniform(0, side), ink.shape[0], side))
    columns = list(np.arange(rng.uniform(0, side), ink.shape[1], side))
    colour = (rng.uniform(120, 170),) * 3 if rng.random() < 0.5 else (150, 180, 235)
    return _paper_with_lines(ink, rng, rows, columns, colour, margin=rng.uniform(8, 30) if rng.random() < 0.5 else None)


CASES: dict[str, Callable[[list[np.ndarray], np.random.Generator], np.ndarray]] = {
    "clean": clean,
    "square_canvas": square_canvas,
    "wide_canvas": wide_canvas,
    "small_writing": small_writing,
    "small_writing_thick_brush": small_writing_thick_brush,
    "large_writing": large_writing,
    "rotated": rotated,
    "steeply_rotated": steeply_rotated,
    "off_white_paper": off_white_paper,
    "uneven_light_photo": uneven_light_photo,
    "light_on_dark": light_on_dark,
    "printed_lines": printed_lines,
    "notebook_paper": notebook_paper,
    "squared_paper": squared_paper,
}


# Cases the shipped model does not yet read within 1.5x of clean: reported, not promised.
KNOWN_WEAK = ("small_writing_thick_brush",)


def stressed(strokes: list[np.ndarray], case: str, index: int, seed: int = 0) -> np.ndarray:
    """Line ``index`` as an image of the given case; the same arguments give the same image."""
    if case not in CASES:
        raise ValueError(f"unknown case {case!r}; expected one of {tuple(CASES)}")
    return CASES[case](strokes, np.random.default_rng([seed, 7919, index]))
