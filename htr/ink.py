"""Digital ink: pen strokes as the recognizer's first-class input.

A drawing surface knows more than its pixels: where the pen went, in order. The model was
trained on pen trajectories drawn by :mod:`htr.render`, so strokes are rendered here exactly
as validation lines are, whatever the size of the writing or the brush on screen. Strokes
come from a browser (JSON), from W3C InkML files, or from IAM On-Line XML files.
"""

import json
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from htr.errors import BadInkError, NoInkError

# Limits on what a client may send: far above one line of handwriting (IAM On-Line lines
# have a few hundred to a few thousand points), far below what would tie up the server.
MAX_STROKES = 2000
MAX_POINTS = 200_000
INK_SUFFIXES = (".inkml", ".xml")
MAX_DRAWING_CHARS = 8_000_000  # JSON text: far above the point limit at any precision
EMPTY_DRAWING = '{"seq": 0, "strokes": []}'  # what an empty writing surface sends

Strokes = list[np.ndarray]


def validate_strokes(strokes) -> Strokes:
    """Strokes as float32 (N, 2) x, y arrays (y down); BadInkError if they are not strokes."""
    if not isinstance(strokes, (list, tuple)):
        raise BadInkError(f"strokes must be a list of point lists, got {type(strokes).__name__}")
    if len(strokes) > MAX_STROKES:
        raise BadInkError(f"too many strokes ({len(strokes)}; at most {MAX_STROKES})")
    out: Strokes = []
    total = 0
    for number, stroke in enumerate(strokes, start=1):
        try:
            points = np.asarray(stroke, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise BadInkError(f"stroke {number} is not a list of [x, y] points") from exc
        if points.size == 0:
            continue
        if points.ndim != 2 or points.shape[1] < 2:
            raise BadInkError(f"stroke {number}: points must be [x, y] or [x, y, t], got shape {points.shape}")
        if not np.isfinite(points[:, :2]).all():
            raise BadInkError(f"stroke {number} has coordinates that are not finite numbers")
        total += len(points)
        if total > MAX_POINTS:
            raise BadInkError(f"too many points (over {MAX_POINTS})")
        out.append(points[:, :2].astype(np.float32))
    if not out:
        raise NoInkError("no handwriting found: the drawing has no strokes")
    return out


def strokes_from_json(data: str | bytes | dict | list) -> Strokes:
    """``{"strokes": [[[x, y, t], ...], ...]}`` or the bare list, as a browser sends it."""
    return parse_drawing(data).strokes


@dataclass
class Drawing:
    """What a writing surface (or an API caller) sends: strokes, its version and pen width."""

    strokes: Strokes
    seq: int = 0
    pen: float = 0.0


def _json_object(value: Any) -> Any:
    """The drawing's JSON decoded (a dict or a bare list of strokes); BadInkError/NoInkError."""
    if value is None:
        raise NoInkError("no strokes received")
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        if not value.strip():
            raise NoInkError("no strokes received")
        if len(value) > MAX_DRAWING_CHARS:
            raise BadInkError(f"the drawing is too large ({len(value):,} characters of JSON; "
                              f"at most {MAX_DRAWING_CHARS:,})")
        try:
            return json.loads(value)
        except ValueError as exc:
            raise BadInkError(f'strokes are not valid JSON ({exc}); send {{"strokes": [[[x, y, t], ...], ...]}}') from None
    return value


def _number(value: Any, low: float, high: float) -> float:
    """A number the client sent, clamped to [low, high]; 0 where it is not a finite number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return min(max(number, low), high) if math.isfinite(number) else 0.0


def parse_drawing(value: Any) -> Drawing:
    """A drawing as JSON (``{"strokes": [[[x, y, t], ...], ...]}``, a bare stroke list, or decoded).

    Raises NoInkError for an empty drawing and BadInkError for anything that is not strokes.
    """
    data = _json_object(value)
    if not isinstance(data, (dict, list, tuple)):
        raise BadInkError(f'expected {{"strokes": [[[x, y, t], ...], ...]}}, got {type(data).__name__}')
    seq = int(_number(data.get("seq"), 0, 2**53)) if isinstance(data, dict) else 0
    pen = _number(data.get("pen"), 0, 200) if isinstance(data, dict) else 0.0
    if isinstance(data, dict):
        data = data.get("strokes")
        if data is None:
            raise BadInkError('expected {"strokes": [[[x, y, t], ...], ...]}')
    return Drawing(validate_strokes(data), seq, pen)


def drawing_seq(value: Any) -> int:
    """The version number the writing surface put in its JSON (0 if there is none)."""
    try:
        data = _json_object(value)
    except (BadInkError, NoInkError):
        return 0
    return int(_number(data.get("seq"), 0, 2**53)) if isinstance(data, dict) else 0


_QUALIFIED = re.compile(r"([!'\"]?)\s*(-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")


def _parse_trace(text: str) -> np.ndarray:
    """One InkML ``<trace>``: points separated by commas, channels by spaces.

    Values may carry InkML's qualifiers: ``!`` explicit, ``'`` first difference (velocity),
    ``"`` second difference (acceleration); a qualifier holds until the next one.
    """
    points = []
    modes: list[str] = []
    previous: list[float] = []
    velocity: list[float] = []
    for chunk in text.strip().split(","):
        chunk = chunk.strip()
        if not chunk:
            continue
        values = _QUALIFIED.findall(chunk)
        if not values:
            raise ValueError(f"unreadable point {chunk[:30]!r}")
        point = []
        for channel, (qualifier, number) in enumerate(values):
            value = float(number)
            if len(modes) <= channel:
                modes.append("!")
            if qualifier:
                modes[channel] = qualifier
            mode = modes[channel] if previous else "!"
            if mode == "'" and channel < len(previous):
                speed = value
                value = previous[channel] + speed
            elif mode == '"' and channel < len(previous):
                speed = (velocity[channel] if channel < len(velocity) else 0.0) + value
                value = previous[channel] + speed
            else:
                speed = value - previous[channel] if channel < len(previous) else 0.0
            point.append(value)
            if len(velocity) <= channel:
                velocity.append(speed)
            else:
                velocity[channel] = speed
        previous = point
        points.append(point[:2] if len(point) >= 2 else point + [0.0])
    return np.asarray(points, dtype=np.float32)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_inkml(data: bytes | str) -> Strokes:
    """Strokes of a W3C InkML document (every ``<trace>``, in document order)."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise BadInkError(f"not valid InkML (XML error: {exc})") from exc
    traces = [el for el in root.iter() if _local(el.tag) == "trace"]
    if _local(root.tag) != "ink":
        raise BadInkError(f"not an InkML document: the root element is <{_local(root.tag)}>, not <ink>")
    strokes = []
    for number, trace in enumerate(traces, start=1):
        try:
            strokes.append(_parse_trace(trace.text or ""))
        except ValueError as exc:
            raise BadInkError(f"InkML trace {number}: {exc}") from exc
    return validate_strokes(strokes)


def parse_iam_ondb(data: bytes | str) -> Strokes:
    """Strokes of an IAM On-Line ``<WhiteboardCaptureSession>`` line file."""
    from htr.datasets.iam_ondb import parse_strokes

    try:
        return validate_strokes(parse_strokes(data))
    except ET.ParseError as exc:
        raise BadInkError(f"not valid XML: {exc}") from exc
    except (ValueError, TypeError) as exc:
        raise BadInkError(f"no <Stroke> with <Point x= y=> elements: {exc}") from exc


def load_ink(path: str | Path) -> Strokes:
    """An InkML or IAM On-Line XML file's strokes, told apart by their content."""
    path = Path(path)
    if not path.is_file():
        raise BadInkError(f"{path}: no such file")
    data = path.read_bytes()
    head = data[:4096].decode("utf-8", "replace")
    try:
        if re.search(r"<(\w+:)?ink[\s>]", head):
            return parse_inkml(data)
        if "<StrokeSet" in head or "<WhiteboardCaptureSession" in head or "<Stroke" in data.decode("utf-8", "replace"):
            return parse_iam_ondb(data)
    except BadInkError as exc:
        raise BadInkError(f"{path}: {exc}") from exc
    raise BadInkError(f"{path}: neither InkML (<ink>) nor IAM On-Line XML (<StrokeSet>)")


def is_ink_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in INK_SUFFIXES


@dataclass
class InkShape:
    """What a drawing looks like as a whole, for hints before (or beside) reading it."""

    width: float
    height: float
    lines: int  # bands of writing stacked vertically
    blob: bool  # ink that covers its own box (scribbled over, a huge brush)


def _level_slope(points: np.ndarray, max_slope: float = 0.15) -> float:
    """The tilt (dy/dx, up to about 8 degrees) that makes the ink's row profile sharpest.

    Levelled first, a tilted line of writing is one band, not a staircase of bands; the
    profile's sum of squares peaks where the lines of writing lie flat.
    """
    lo, hi = np.percentile(points[:, 1], [2, 98])
    step = max(float(hi - lo) / 40.0, 1e-3)
    x = points[:, 0] - points[:, 0].mean()
    best, best_slope = -1.0, 0.0
    for slope in np.linspace(-max_slope, max_slope, 31):
        y = points[:, 1] - slope * x
        profile = np.bincount(((y - y.min()) / step).astype(np.int64)).astype(np.float64)
        score = float(profile @ profile)
        if score > best + 1e-9:
            best, best_slope = score, float(slope)
    return best_slope


def _count_lines(strokes: Strokes, points: np.ndarray, width: float) -> int:
    """Bands of writing stacked vertically, after levelling the drawing's tilt.

    A band counts as a line only with a good share of the ink (12 %), a fair width (12 % of
    the drawing) and height (20 % of the tallest band): dots, accents, a question mark's
    hook or a stray mark do not make a line. On the 1,120 IAM On-Line validation lines
    this finds no second line; two of them stacked with a gap of a fifth of a line's
    height are found as two in about nine cases out of ten.
    """
    slope = _level_slope(points)
    centre = points[:, 0].mean()
    spans = []
    for stroke in strokes:
        y = stroke[:, 1] - slope * (stroke[:, 0] - centre)
        spans.append((float(y.min()), float(y.max()), len(stroke), float(stroke[:, 0].min()), float(stroke[:, 0].max())))
    spans.sort()
    bands: list[list[float]] = []  # top, bottom, points, left, right
    for top, bottom, n, left, right in spans:
        if bands and top <= bands[-1][1] - 0.15 * (bands[-1][1] - bands[-1][0]):
            band = bands[-1]
            band[1], band[2] = max(band[1], bottom), band[2] + n
            band[3], band[4] = min(band[3], left), max(band[4], right)
        else:
            bands.append([top, bottom, n, left, right])
    total = sum(b[2] for b in bands)
    tallest = max(b[1] - b[0] for b in bands)
    width = max(width, 1e-6)
    lines = sum(1 for b in bands
                if b[2] >= 0.12 * total and b[1] - b[0] >= 0.2 * tallest and b[4] - b[3] >= 0.12 * width)
    return max(1, lines)


def ink_shape(strokes: Strokes, brush: float = 0.0) -> InkShape:
    """Size, number of stacked lines and blotchiness of a drawing, from its strokes."""
    points = np.concatenate(strokes)
    lo, hi = points.min(axis=0), points.max(axis=0)
    width, height = float(hi[0] - lo[0]), float(hi[1] - lo[1])
    lines = _count_lines(strokes, points, width)
    length = sum(float(np.linalg.norm(np.diff(s, axis=0), axis=1).sum()) for s in strokes)
    area = max(1.0, (width + brush) * (height + brush))
    blob = brush > 0 and length * brush / area > 1.5
    return InkShape(width, height, lines, blob)


# The validation rendering's ink height, and the widest image a drawing may become.
_INK_HEIGHT = 70.0
_MAX_RENDER_WIDTH = 6000


def render_ink(strokes: Strokes) -> np.ndarray:
    """The drawing as the model's validation lines are drawn (canvas look, 70 px ink).

    A drawing far wider than a line of writing (a long flat scrawl) is drawn smaller, so the
    image stays a sensible size.
    """
    from htr.render import render_strokes

    strokes = validate_strokes(strokes)
    points = np.concatenate(strokes)
    y_lo, y_hi = np.percentile(points[:, 1], [1, 99])
    width = float(np.ptp(points[:, 0]))
    ink_height = _INK_HEIGHT
    if width * ink_height / max(1.0, float(y_hi - y_lo)) > _MAX_RENDER_WIDTH:
        ink_height = _MAX_RENDER_WIDTH * max(1.0, float(y_hi - y_lo)) / max(width, 1.0)
        if ink_height < 4.0:
            raise BadInkError("the drawing is a long flat stroke, not a line of writing: it is over "
                              f"{int(_MAX_RENDER_WIDTH / 4)} times wider than tall")
    return render_strokes(strokes, "canvas", ink_height=ink_height)
