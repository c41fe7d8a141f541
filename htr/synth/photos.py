"""Phone photos of real handwriting on a desk, with the sheet's true corners, made from scans.

A user photographs a page lying on a desk: the sheet is a bright quadrilateral seen in
perspective, with the desk around it (dark, wooden, coloured, grey, fabric or white), a lamp
lighting one side, a hand's or phone's shadow, defocus, sensor noise, JPEG at quality 50-90 and
an EXIF orientation the reader must undo. Here the sheet is a real IAM scan (a line, or a page
stacked from real lines by :mod:`htr.synth.pages`) given a paper margin, optional faint rules
or squares under the writing, blue or black ink, and then photographed that way.

The settings come in two parts so that a detector tuned on one can be measured honestly on the
other: ``tune`` (some desks, milder angles) is what a detector is developed on; ``report``
(other desks, steeper angles) is only measured. Every photo is deterministic from its seed.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
import PIL.Image

# Desks of each part: none shared, so the report part's desks are never seen while tuning.
TUNE_DESKS = ("dark", "wood", "coloured", "pale")
REPORT_DESKS = ("grey-textured", "fabric", "dark-wood", "coloured-pale", "white")
# Camera tilt (degrees off straight down) and turn in the picture (degrees) of each part.
TUNE_ANGLES = {"tilt": (0.0, 15.0), "turn": 6.0}
REPORT_ANGLES = {"tilt": (8.0, 25.0), "turn": 10.0}
LOOKS = ("desk", "fills")  # desk visible around the paper; paper filling the frame
ORIENTATIONS = (1, 3, 6, 8)  # EXIF: upright, 180, 90 clockwise, 90 counter-clockwise


@dataclass(frozen=True)
class PhotoSpec:
    """What one photo shows: chosen from the seed and part, kept with the photo for reports."""

    part: str
    look: str
    desk: str
    coverage: float  # share of the frame the sheet covers (before any cut by the frame)
    tilt: float
    turn: float
    orientation: int
    quality: int
    ink: str
    rules: str  # none, ruled, squared
    shadow: bool
    lamp: bool
    blur: float
    two_sheets: bool
    cut: bool  # the sheet pushed partly out of the frame
    small: bool  # sticky note / index card (single lines)


@dataclass
class Photo:
    """An encoded phone photo and its truth, in the coordinates of the upright decoded image."""

    jpeg: bytes
    corners: np.ndarray  # 4 x 2: top-left, top-right, bottom-right, bottom-left of the written sheet
    whole: bool  # every corner of the sheet is inside the frame
    text: str
    spec: PhotoSpec
    size: tuple[int, int] = (0, 0)  # upright width, height
    extra: dict = field(default_factory=dict)


def _noise_field(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Smooth random field in [-1, 1]: noise drawn small and enlarged (cheap at photo size)."""
    h, w = shape
    small = rng.standard_normal((max(2, int(h / scale)), max(2, int(w / scale)))).astype(np.float32)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return big / max(1e-6, float(np.abs(big).max()))


def make_desk(kind: str, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """An RGB float32 desk texture of ``shape`` (h, w), values 0-255."""
    h, w = shape
    grain = rng.standard_normal((h, w), dtype=np.float32)
    if kind in ("dark", "dark-wood", "wood"):
        if kind == "dark":
            base = rng.uniform(25, 70)
            tint = np.array([1.0, 1.0, 1.0]) + rng.uniform(-0.15, 0.15, 3)
            image = base * tint[None, None, :] + 8 * _noise_field(rng, shape, 60)[..., None] + 3 * grain[..., None]
        else:
            # wood: stretched noise gives the grain's streaks, a sine their rings
            angle = rng.uniform(-0.3, 0.3) + (0 if rng.random() < 0.5 else math.pi / 2)
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            along = xx * math.cos(angle) + yy * math.sin(angle)
            across = -xx * math.sin(angle) + yy * math.cos(angle)
            streak = _noise_field(rng, (h, max(2, w // 40)), 2)
            streak = cv2.resize(streak, (w, h), interpolation=cv2.INTER_LINEAR)
            rings = np.sin(across / rng.uniform(6, 20) + 3 * _noise_field(rng, shape, 150))
            value = 0.6 * rings + 0.5 * streak + 0.1 * np.sin(along / 400)
            if kind == "wood":
                colour = np.array([rng.uniform(140, 190), rng.uniform(95, 130), rng.uniform(55, 80)])
            else:
                colour = np.array([rng.uniform(60, 95), rng.uniform(35, 55), rng.uniform(20, 35)])
            image = colour[None, None, :] * (1 + 0.18 * value[..., None]) + 3 * grain[..., None]
    elif kind in ("coloured", "coloured-pale"):
        hue = rng.uniform(0, 180)
        sat = rng.uniform(120, 230) if kind == "coloured" else rng.uniform(60, 110)
        val = rng.uniform(110, 210) if kind == "coloured" else rng.uniform(170, 220)
        hsv = np.uint8([[[hue, sat, val]]])
        colour = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)
        image = colour[None, None, :] * (1 + 0.05 * _noise_field(rng, shape, 80)[..., None]) + 3 * grain[..., None]
    elif kind == "grey-textured":
        base = rng.uniform(90, 160)
        speckle = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 1.5)
        image = (base + 25 * speckle + 12 * _noise_field(rng, shape, 40))[..., None] * np.ones(3, np.float32)
    elif kind == "fabric":
        colour = cv2.cvtColor(np.uint8([[[rng.uniform(0, 180), rng.uniform(40, 160), rng.uniform(60, 170)]]]),
                              cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)
        period = rng.uniform(4, 9)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        weave = np.sin(xx / period * math.pi) * np.sin(yy / period * math.pi)
        folds = _noise_field(rng, shape, 200)
        image = colour[None, None, :] * (1 + 0.15 * weave[..., None] + 0.2 * folds[..., None]) + 4 * grain[..., None]
    elif kind == "pale":  # a light laminate or painted desk: a little darker than paper, faintly mottled
        base = rng.uniform(195, 235)
        tint = np.array([1.0, 1.0, 1.0]) + rng.uniform(-0.04, 0.04, 3)
        image = base * tint[None, None, :] * (1 + 0.03 * _noise_field(rng, shape, 30)[..., None]) + 2 * grain[..., None]
    elif kind == "white":
        base = rng.uniform(215, 245)
        image = (base + 4 * _noise_field(rng, shape, 80))[..., None] * np.ones(3, np.float32) + 2 * grain[..., None]
    else:
        raise ValueError(f"unknown desk {kind!r}")
    return np.clip(image, 0, 255).astype(np.float32)


def make_sheet(scan: np.ndarray, rng: np.random.Generator, ink: str, rules: str, small: bool,
               sticky: bool = False) -> np.ndarray:
    """The scan (grey uint8, writing dark) on a sheet: a paper margin, faint rules or squares
    under the writing, the ink recoloured blue or black. RGB float32."""
    gray = scan.astype(np.float32)
    h, w = gray.shape
    if small:  # an index card or sticky note: a little room around one line
        top, side = int(h * rng.uniform(0.3, 0.9)), int(max(h * 0.3, w * rng.uniform(0.03, 0.1)))
    else:
        top, side = int(w * rng.uniform(0.05, 0.14)), int(w * rng.uniform(0.05, 0.12))
    sheet = np.full((h + 2 * top, w + 2 * side), 255.0, np.float32)
    sheet[top : top + h, side : side + w] = gray
    ink_amount = 1.0 - sheet / 255.0
    H, W = sheet.shape
    lines = np.zeros((H, W), np.float32)
    step = max(12, int(rng.uniform(0.02, 0.035) * max(H, W) if not small else h * rng.uniform(0.35, 0.5)))
    if rules in ("ruled", "squared"):
        for y in range(int(rng.uniform(0, step)), H, step):
            cv2.line(lines, (0, y), (W, y), 1.0, 1 + (step > 40))
    if rules == "squared":
        for x in range(int(rng.uniform(0, step)), W, step):
            cv2.line(lines, (x, 0), (x, H), 1.0, 1 + (step > 40))
    lines *= rng.uniform(0.15, 0.35)
    if sticky:
        paper = np.array([rng.uniform(245, 255), rng.uniform(235, 250), rng.uniform(150, 200)], np.float32)
    else:
        paper = np.array([252, 250, 245], np.float32) - rng.uniform(0, 12) + rng.uniform(-3, 3, 3)
    rule_colour = np.array([150, 175, 225] if rng.random() < 0.6 else [160, 160, 160], np.float32)
    ink_colour = np.array([25, 45, 150] if ink == "blue" else [25, 25, 30], np.float32) + rng.uniform(-10, 10, 3)
    image = paper[None, None, :] * (1 - lines[..., None]) + rule_colour[None, None, :] * lines[..., None]
    image = image * (1 - ink_amount[..., None]) + ink_colour[None, None, :] * ink_amount[..., None]
    return image


def _tilted_rectangle(width: float, height: float, tilt: float, rng: np.random.Generator) -> np.ndarray:
    """A width x height rectangle seen by a pinhole camera tilted ``tilt`` degrees from straight
    down, in a random direction: 4 x 2 corners (tl, tr, br, bl), centred on 0."""
    corners = np.array([[-width, -height, 0], [width, -height, 0], [width, height, 0], [-width, height, 0]], np.float64) / 2
    direction = rng.uniform(0, 2 * math.pi)
    axis = np.array([math.cos(direction), math.sin(direction), 0.0])
    rvec = axis * math.radians(tilt)
    rotation, _ = cv2.Rodrigues(rvec)
    focal = 1.1 * max(width, height)  # a phone's wide lens, the sheet about filling the view
    points = corners @ rotation.T + np.array([0, 0, focal * 1.2])
    projected = points[:, :2] * focal / points[:, 2:3]
    return (projected - projected.mean(axis=0)).astype(np.float64)


def _shadow(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A soft hand- or phone-shaped shadow entering from an edge: a multiplier in (0.45, 1]."""
    h, w = shape
    mask = np.zeros((h, w), np.uint8)
    side = int(rng.integers(4))
    scale = max(h, w)
    edge = [(int(rng.uniform(0.2, 0.8) * w), h + 10), (int(rng.uniform(0.2, 0.8) * w), -10),
            (-10, int(rng.uniform(0.2, 0.8) * h)), (w + 10, int(rng.uniform(0.2, 0.8) * h))][side]
    inward = np.array([[0, -1], [0, 1], [1, 0], [-1, 0]][side], np.float64)
    reach = rng.uniform(0.15, 0.4) * scale
    tip = np.array(edge, np.float64) + inward * reach
    if rng.random() < 0.5:  # phone: a rounded bar
        cv2.line(mask, edge, tuple(int(v) for v in tip), 255, int(0.12 * scale))
    else:  # hand: a palm and fingers
        cv2.line(mask, edge, tuple(int(v) for v in tip), 255, int(0.15 * scale))
        across = np.array([-inward[1], inward[0]])
        for k in range(4):
            start = tip + across * (k - 1.5) * 0.04 * scale
            end = start + inward * rng.uniform(0.08, 0.15) * scale
            cv2.line(mask, tuple(int(v) for v in start), tuple(int(v) for v in end), 255, int(0.03 * scale))
    # blurred at an eighth of the size: the same soft edge, 60 x less work
    small = cv2.resize(mask, (max(1, w // 8), max(1, h // 8)), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    soft = cv2.resize(cv2.GaussianBlur(small, (0, 0), 0.03 * scale / 8), (w, h), interpolation=cv2.INTER_LINEAR)
    return 1.0 - rng.uniform(0.25, 0.55) * soft


def _lamp(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A desk lamp's light: bright near a point off to one side, falling to 45-75 % across."""
    h, w = shape
    cx, cy = rng.uniform(-0.3, 1.3) * w / 8, rng.uniform(-0.3, 1.3) * h / 8
    yy, xx = np.mgrid[0 : max(2, h // 8), 0 : max(2, w // 8)].astype(np.float32)
    dist = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) / (max(h, w) / 8)
    low = rng.uniform(0.45, 0.75)
    light = (low + (1 - low) * np.exp(-(dist / rng.uniform(0.5, 0.9)) ** 2)).astype(np.float32)
    return cv2.resize(light, (w, h), interpolation=cv2.INTER_LINEAR)


def choose_spec(part: str, look: str, rng: np.random.Generator, small: bool) -> PhotoSpec:
    """The photo's settings: the part decides desks and angles, the rest is shared."""
    if part not in ("tune", "report"):
        raise ValueError(f"unknown part {part!r}; expected tune or report")
    if look not in LOOKS:
        raise ValueError(f"unknown look {look!r}; expected one of {LOOKS}")
    desks, angles = (TUNE_DESKS, TUNE_ANGLES) if part == "tune" else (REPORT_DESKS, REPORT_ANGLES)
    extra = rng.random()
    return PhotoSpec(
        part=part, look=look, desk=str(rng.choice(desks)),
        coverage=float(rng.uniform(0.2, 0.9)),
        tilt=float(rng.uniform(*angles["tilt"])), turn=float(rng.uniform(-angles["turn"], angles["turn"])),
        orientation=int(rng.choice(ORIENTATIONS, p=[0.55, 0.15, 0.15, 0.15])),
        quality=int(rng.integers(50, 91)), ink=str(rng.choice(["blue", "black"])),
        rules=str(rng.choice(["none", "ruled", "squared"], p=[0.5, 0.3, 0.2])),
        shadow=bool(rng.random() < 0.35), lamp=bool(rng.random() < 0.5), blur=float(rng.uniform(0, 1.5)),
        two_sheets=bool(look == "desk" and not small and extra < 0.1),
        cut=bool(look == "desk" and 0.1 <= extra < 0.22), small=small,
    )


def _place(sheet_size: tuple[int, int], frame: tuple[int, int], spec: PhotoSpec, rng: np.random.Generator,
           coverage: float, centre: np.ndarray | None = None) -> np.ndarray:
    """Where the sheet's corners land in the frame (w, h): tilted, turned, scaled to cover
    ``coverage`` of the frame, placed at random where it fits (or at ``centre``)."""
    sw, sh = sheet_size
    fw, fh = frame
    quad = _tilted_rectangle(sw, sh, spec.tilt, rng)
    turn = math.radians(spec.turn)
    rot = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
    quad = quad @ rot.T
    area = 0.5 * abs(np.dot(quad[:, 0], np.roll(quad[:, 1], 1)) - np.dot(quad[:, 1], np.roll(quad[:, 0], 1)))
    quad *= math.sqrt(coverage * fw * fh / area)
    span = quad.max(axis=0) - quad.min(axis=0)
    if spec.look == "desk" and not spec.cut:
        fit = min(1.0, 0.96 * fw / span[0], 0.96 * fh / span[1])  # whole in the frame, a little desk left
        quad *= fit
        span = quad.max(axis=0) - quad.min(axis=0)
    if centre is None:
        room = np.array([fw, fh]) - span
        low = -quad.min(axis=0)
        if spec.look == "fills":  # the sheet covers the frame: its corners outside it
            centre = np.array([fw, fh]) / 2 + rng.uniform(-0.5, 0.5, 2) * np.maximum(0, -room)
        elif spec.cut:
            centre = low + rng.uniform(0, 1, 2) * room + rng.choice([-1, 1], 2) * rng.uniform(0.1, 0.3, 2) * span
        else:
            centre = low + rng.uniform(0.1, 0.9, 2) * np.maximum(room, 0)
    return (quad + centre).astype(np.float32)


def photograph(scan: np.ndarray, text: str, seed: int, part: str = "tune", look: str = "desk",
               small: bool = False, other: np.ndarray | None = None, long_side: int = 2000) -> Photo:
    """One phone photo of ``scan`` (grey uint8 writing, dark on light) on a desk.

    ``small`` makes the paper an index card or sticky note (for a single line); ``other`` is
    another scan, photographed beside the first when the settings ask for two sheets (it is
    made the smaller one). The photo's long side is ``long_side`` (decoded at the reader's
    working size without further shrinking).
    """
    rng = np.random.default_rng(seed)
    spec = choose_spec(part, look, rng, small)
    landscape = small or rng.random() < 0.3
    fw, fh = (long_side, int(long_side * 0.75)) if landscape else (int(long_side * 0.75), long_side)
    sheet = make_sheet(scan, rng, spec.ink, spec.rules, small, sticky=small and rng.random() < 0.4)
    sh, sw = sheet.shape[:2]
    filled = None
    if look == "fills":
        # a close-up framed just inside the sheet's edges (a phone's crop, or a card held near),
        # the camera held squarer than over a desk so that the writing stays in the frame
        spec = replace(spec, tilt=spec.tilt / 3, turn=spec.turn / (10 if small else 4))
        turn = math.radians(spec.turn)
        quad = _tilted_rectangle(sw, sh, spec.tilt, rng) @ np.array(
            [[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]]).T
        x0, x1 = max(quad[0, 0], quad[3, 0]), min(quad[1, 0], quad[2, 0])
        y0, y1 = max(quad[0, 1], quad[1, 1]), min(quad[2, 1], quad[3, 1])
        inset = 0.015 * min(x1 - x0, y1 - y0)
        x0, x1, y0, y1 = x0 + inset, x1 - inset, y0 + inset, y1 - inset
        factor = long_side / max(x1 - x0, y1 - y0)
        fw, fh = max(16, round((x1 - x0) * factor)), max(16, round((y1 - y0) * factor))
        filled = ((quad - np.array([x0, y0])) * factor).astype(np.float32)
    coverage = spec.coverage
    if small:  # a card's share is set by its width across the frame
        coverage = rng.uniform(0.55, 0.9) ** 2 * (sh / sw) * fw / fh
    if spec.cut and look == "desk":
        coverage = min(1.3, coverage * rng.uniform(1.2, 2.0))
    desk = make_desk(spec.desk, (fh, fw), rng)
    photo = desk.copy()
    quads = []
    if spec.two_sheets and other is not None:
        coverage = min(coverage, 0.4)
        second = make_sheet(other, rng, spec.ink, spec.rules, False)
        # the frame halved across its long side, one sheet in each half; the second sheet
        # covers at most half the area the written one does, so the written one is the larger
        half = (fw // 2, fh) if fw >= fh else (fw, fh // 2)
        first = rng.random() < 0.5
        main = _place((sw, sh), half, spec, rng, min(0.8, coverage * 2))
        main_area = cv2.contourArea(main.reshape(-1, 1, 2))
        side = _place(second.shape[1::-1], half, spec, rng, 0.5 * main_area / (half[0] * half[1]))
        shift = np.array([half[0], 0] if fw >= fh else [0, half[1]], np.float32)
        main, side = (main, side + shift) if first else (main + shift, side)
        quads.append((second, side))
    else:
        main = filled if filled is not None else _place((sw, sh), (fw, fh), spec, rng, coverage)
    quads.append((sheet, main))
    for paper, quad in quads:
        ph, pw = paper.shape[:2]
        source = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
        matrix = cv2.getPerspectiveTransform(source, quad.astype(np.float32))
        warped = cv2.warpPerspective(paper, matrix, (fw, fh), flags=cv2.INTER_AREA if pw > fw else cv2.INTER_LINEAR)
        coverage_mask = cv2.warpPerspective(np.ones((ph, pw), np.float32), matrix, (fw, fh), flags=cv2.INTER_LINEAR)
        # a thin shadow the sheet casts on the desk, then the sheet over it
        drop = cv2.GaussianBlur(coverage_mask, (0, 0), 3) * 0.25
        photo = photo * (1 - drop[..., None])
        photo = photo * (1 - coverage_mask[..., None]) + warped * coverage_mask[..., None]
    light = np.ones((fh, fw), np.float32)
    if spec.lamp:
        light *= _lamp((fh, fw), rng)
    if spec.shadow:
        light *= _shadow((fh, fw), rng)
    photo *= light[..., None]
    if spec.blur > 0.3:
        photo = cv2.GaussianBlur(photo, (0, 0), spec.blur)
    photo += rng.standard_normal(photo.shape, dtype=np.float32) * np.float32(rng.uniform(1.5, 5))
    upright = np.clip(photo, 0, 255).astype(np.uint8)
    corners = main.astype(np.float32)
    whole = bool(np.all((corners >= 0) & (corners <= np.array([fw - 1, fh - 1]))))
    return Photo(encode_jpeg(upright, spec.orientation, spec.quality), corners, whole, text, spec, (fw, fh))


# The stored pixels of each EXIF orientation, from the upright picture: the inverse of what
# a reader (PIL.ImageOps.exif_transpose) does to show them upright.
_STORE = {1: None, 3: PIL.Image.Transpose.ROTATE_180, 6: PIL.Image.Transpose.ROTATE_90,
          8: PIL.Image.Transpose.ROTATE_270}


def encode_jpeg(upright: np.ndarray, orientation: int = 1, quality: int = 85) -> bytes:
    """JPEG bytes of an upright RGB picture stored turned, with the EXIF Orientation tag that
    turns it back: what a phone held sideways or upside down writes."""
    image = PIL.Image.fromarray(upright)
    exif = PIL.Image.Exif()
    if _STORE.get(orientation) is not None:
        image = image.transpose(_STORE[orientation])
    exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality, exif=exif.tobytes())
    return out.getvalue()
