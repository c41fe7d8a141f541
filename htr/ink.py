"""Digital ink: pen strokes as the recognizer's first-class input.

A drawing surface knows more than its pixels: where the pen went, in order. The model was
trained on pen trajectories drawn by :mod:`htr.render`, so strokes are rendered here exactly
as validation lines are, whatever the size of the writing or the brush on screen. Strokes
come from a browser (JSON), from W3C InkML files, or from IAM On-Line XML files.
"""

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from htr.errors import BadInkError, NoInkError

# Limits on what a client may send: far above one line of handwriting (IAM On-Line lines
# have a few hundred to a few thousand points), far below what would tie up the server.
MAX_STROKES = 2000
MAX_POINTS = 200_000
INK_SUFFIXES = (".inkml", ".xml")

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
    if isinstance(data, (str, bytes)):
        if not data or not str(data if isinstance(data, str) else data.decode("utf-8", "replace")).strip():
            raise NoInkError("no handwriting found: the drawing is empty")
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise BadInkError(f"strokes are not valid JSON: {exc}") from exc
    if isinstance(data, dict):
        data = data.get("strokes")
        if data is None:
            raise BadInkError('expected {"strokes": [[[x, y, t], ...], ...]}')
    return validate_strokes(data)


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


def ink_shape(strokes: Strokes, brush: float = 0.0) -> InkShape:
    """Size, number of stacked lines and blotchiness of a drawing, from its strokes."""
    points = np.concatenate(strokes)
    lo, hi = points.min(axis=0), points.max(axis=0)
    width, height = float(hi[0] - lo[0]), float(hi[1] - lo[1])
    # Lines: vertical extents of strokes, merged where they overlap; a band must hold
    # a good share of the ink to count (dots and stray marks do not make a line).
    spans = sorted((float(s[:, 1].min()), float(s[:, 1].max()), len(s)) for s in strokes)
    bands: list[list[float]] = []
    for top, bottom, n in spans:
        if bands and top <= bands[-1][1] - 0.15 * (bands[-1][1] - bands[-1][0]):
            bands[-1][1] = max(bands[-1][1], bottom)
            bands[-1][2] += n
        else:
            bands.append([top, bottom, n])
    total = sum(b[2] for b in bands)
    lines = sum(1 for b in bands if b[2] >= 0.1 * total)
    length = sum(float(np.linalg.norm(np.diff(s, axis=0), axis=1).sum()) for s in strokes)
    area = max(1.0, (width + brush) * (height + brush))
    blob = brush > 0 and length * brush / area > 1.5
    return InkShape(width, height, max(1, lines), blob)


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
        ink_height = max(4.0, _MAX_RENDER_WIDTH * max(1.0, float(y_hi - y_lo)) / max(width, 1.0))
    return render_strokes(strokes, "canvas", ink_height=ink_height)
