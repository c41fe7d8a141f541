"""Draw what the network read: the input line above its per-timestep CTC probabilities.

The picture is one RGB array: the ink map the network saw on top, a strip with the most
likely character at each timestep where it fires, then the C x T probability matrix as a
heatmap (one column per timestep, ``time_stride`` image pixels wide, so columns sit under
the ink they were read from) with each row labelled by its character, and a colour key.
Used by the demo app and the dashboard; needs only NumPy and OpenCV.
"""

from __future__ import annotations

from typing import Literal, Sequence

import cv2
import numpy as np

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_MARGIN = 64  # left column for row labels
_ROW = 12  # heatmap row height in pixels
_STRIP = 24  # height of the strip of decoded characters
_GAP = 3
_KEY = 18  # colour key height
_MAX_WIDTH = 2400  # the automatic scale keeps the picture no wider than this
_PAPER = (255, 255, 255)
_TEXT = (40, 40, 40)
_MUTED = (120, 120, 120)


def row_name(label: str) -> str:
    """A printable row label: the blank and the space get names."""
    if label == "<blank>":
        return "blank"
    if label == " ":
        return "space"
    return label


def _active_rows(probabilities: np.ndarray, min_prob: float, max_rows: int) -> list[int]:
    """Rows worth showing: the blank, every class on the best path or ever reaching ``min_prob``."""
    peaks = probabilities.max(axis=0)
    on_path = set(probabilities.argmax(axis=1).tolist())
    rows = [c for c in range(1, probabilities.shape[1]) if peaks[c] >= min_prob or c in on_path]
    if len(rows) > max_rows - 1:
        rows = sorted(sorted(rows, key=lambda c: -peaks[c])[: max_rows - 1])
    return [0] + rows


def _put(canvas: np.ndarray, text: str, x: int, y: int, scale: float, colour=_TEXT, centre: bool = False) -> None:
    (w, h), _ = cv2.getTextSize(text, _FONT, scale, 1)
    if centre:
        x -= w // 2
    cv2.putText(canvas, text, (int(x), int(y + h // 2)), _FONT, scale, colour, 1, cv2.LINE_AA)


def render_heatmap(
    probabilities: np.ndarray,
    image: np.ndarray,
    labels: Sequence[str],
    time_stride: int = 4,
    *,
    rows: Literal["active", "all"] = "active",
    min_prob: float = 0.05,
    max_rows: int = 40,
    scale: int | None = None,
    colormap: int = cv2.COLORMAP_VIRIDIS,
    mark_best_path: bool = False,
) -> np.ndarray:
    """The input image stacked over its T x C probability heatmap, as RGB uint8.

    ``probabilities`` is T x C (column 0 the CTC blank), ``image`` the (H, W) ink map
    (1 = ink) the network read, ``labels`` the C row names. ``rows="active"`` keeps the
    blank and the characters whose probability ever reaches ``min_prob`` (at most
    ``max_rows``); ``"all"`` shows every class. ``scale`` enlarges every pixel (default:
    2 unless that makes the picture wider than 2400 pixels). ``mark_best_path`` puts a red dot
    in the cell of the most likely class at every timestep.
    """
    probabilities = np.asarray(probabilities, np.float32)
    image = np.asarray(image, np.float32)
    if probabilities.ndim != 2 or probabilities.shape[0] == 0:
        raise ValueError(f"probabilities must be T x C, got shape {probabilities.shape}")
    if image.ndim != 2:
        raise ValueError(f"image must be (H, W), got shape {image.shape}")
    steps, classes = probabilities.shape
    if len(labels) != classes:
        raise ValueError(f"{len(labels)} labels for {classes} probability columns")
    if scale is None:
        scale = 2 if _MARGIN + steps * time_stride * 2 <= _MAX_WIDTH else 1
    step_px = time_stride * scale
    width = steps * step_px
    shown = list(range(classes)) if rows == "all" else _active_rows(probabilities, min_prob, max_rows)

    # The ink map, dark ink on white, padded or cut to exactly T timesteps.
    ink = np.zeros((image.shape[0], steps * time_stride), np.float32)
    cols = min(ink.shape[1], image.shape[1])
    ink[:, :cols] = np.clip(image[:, :cols], 0.0, 1.0)
    photo = (255 * (1.0 - ink)).astype(np.uint8)
    photo = cv2.resize(photo, (width, image.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
    photo = cv2.cvtColor(photo, cv2.COLOR_GRAY2RGB)

    # The heatmap: one cell per (row, timestep).
    cells = (np.clip(probabilities[:, shown].T, 0.0, 1.0) * 255).astype(np.uint8)
    heat = cv2.applyColorMap(cells, colormap)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)
    heat = cv2.resize(heat, (width, len(shown) * _ROW), interpolation=cv2.INTER_NEAREST)

    top = 0
    strip_y = photo.shape[0] + _GAP
    heat_y = strip_y + _STRIP + _GAP
    key_y = heat_y + heat.shape[0] + _GAP + 4
    canvas = np.full((key_y + _KEY + 4, _MARGIN + width, 3), _PAPER, np.uint8)
    canvas[top : top + photo.shape[0], _MARGIN:] = photo
    canvas[heat_y : heat_y + heat.shape[0], _MARGIN:] = heat

    best = probabilities.argmax(axis=1)
    if mark_best_path:
        position = {c: i for i, c in enumerate(shown)}
        radius = max(1, min(step_px, _ROW) // 4)
        for t, c in enumerate(best):
            if int(c) in position:
                centre = (_MARGIN + t * step_px + step_px // 2, heat_y + position[int(c)] * _ROW + _ROW // 2)
                cv2.circle(canvas, centre, radius, (255, 59, 48), -1, cv2.LINE_AA)

    # Left column: what each band is, and the character of each heatmap row.
    _put(canvas, "input", 6, photo.shape[0] // 2, 0.42, _MUTED)
    _put(canvas, "best", 6, strip_y + _STRIP // 2, 0.42, _MUTED)
    for i, c in enumerate(shown):
        name = row_name(labels[c])
        _put(canvas, name, _MARGIN - 6 - cv2.getTextSize(name, _FONT, 0.36, 1)[0][0], heat_y + i * _ROW + _ROW // 2, 0.36)

    # The decoded characters where they fire (repeats merged, blanks dropped), over their columns.
    previous = 0
    for t, c in enumerate(best):
        if c != 0 and c != previous:
            x = _MARGIN + t * step_px + step_px // 2
            cv2.line(canvas, (x, strip_y + _STRIP - 4), (x, strip_y + _STRIP), _MUTED, 1)
            _put(canvas, row_name(labels[c]) if labels[c] != " " else "_", x, strip_y + _STRIP // 2 - 2, 0.5, centre=True)
        previous = c

    # Colour key: probability 0 .. 1.
    key_w = min(200, width)
    ramp = cv2.applyColorMap(np.linspace(0, 255, key_w).astype(np.uint8)[None, :], colormap)
    ramp = cv2.cvtColor(ramp, cv2.COLOR_BGR2RGB)
    canvas[key_y : key_y + _KEY - 6, _MARGIN : _MARGIN + key_w] = np.repeat(ramp, _KEY - 6, axis=0)
    _put(canvas, "P=0", 6, key_y + (_KEY - 6) // 2, 0.36, _MUTED)
    _put(canvas, "1", _MARGIN + key_w + 6, key_y + (_KEY - 6) // 2, 0.36, _MUTED)
    return canvas


def recognition_heatmap(recognition, **options) -> np.ndarray:
    """``render_heatmap`` for a :class:`htr.Recognition`."""
    return render_heatmap(
        recognition.probabilities,
        recognition.image,
        recognition.labels,
        recognition.time_stride,
        **options,
    )
