"""Reading a whole paragraph or page: find its lines, read them all, join the text.

Works through a :class:`~htr.recognizer.Recognizer`'s public methods only, so it serves
whatever engine the recognizer runs on. ``layout="auto"`` decides from the image whether it is
one line or many; a single line is read exactly as :meth:`Recognizer.recognize` reads it.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Iterator, Literal

import cv2
import numpy as np

from htr.decode import BEAM_WIDTH
from htr.errors import HTRError, NoInkError
from htr.results import LineRecognition, PageRecognition, Recognition, page_confidence
from htr.paper import Paper, read_sheet
from htr.segment import PageLayout, segment_lines

if TYPE_CHECKING:
    from htr.hints import Hints
    from htr.ink import Drawing

Layout = Literal["auto", "line", "page"]
LAYOUTS = ("auto", "line", "page")


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")


def _one_line(result: Recognition, size: tuple[int, int], paper: Paper | None = None) -> PageRecognition:
    box = (0, 0, size[0], size[1])
    result.paper = paper = paper or result.paper
    line = LineRecognition(box, result, photo_polygon=None if paper is None else _box_in_photo(box, paper))
    return PageRecognition(result.text, result.confidence, [line], "line", result.decoder, size, paper=paper)


def _box_in_photo(box, paper: Paper) -> np.ndarray:
    """A box of the flattened sheet as its four corners in the photo."""
    x, y, w, h = box
    return paper.to_photo(np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float64))


def _page(recognitions: list[Recognition], boxes, polygons, size, layout: PageLayout | None,
          paper: Paper | None = None) -> PageRecognition:
    lines = [LineRecognition(tuple(b), r, p, None if paper is None else _box_in_photo(b, paper))
             for b, r, p in zip(boxes, recognitions, polygons)]
    decoder = recognitions[0].decoder if recognitions else "best"
    return PageRecognition("\n".join(r.text for r in recognitions), page_confidence(recognitions), lines, "page",
                           decoder, size, layout, paper)


def recognize_page(recognizer, image, layout: Layout = "auto", decoder: str = "best", beam_width: int = BEAM_WIDTH,
                   top_k: int = 5, correct: bool = False) -> PageRecognition:
    """Read an image of a paragraph or page (or of one line) line by line, top to bottom.

    ``layout``: ``"line"`` reads the image as one line; ``"page"`` always finds lines first;
    ``"auto"`` finds lines and reads a single one exactly as ``"line"`` would.
    """
    from htr.imageio import read_image

    _check_layout(layout)
    array, paper = read_sheet(read_image(image))
    size = (int(array.shape[1]), int(array.shape[0]))

    def one_line() -> PageRecognition:
        return _one_line(recognizer.recognize(array, decoder, beam_width, top_k, correct, find_paper=False), size,
                         paper)

    if layout == "line":
        return one_line()
    try:
        found = segment_lines(array, stop_at_one_line=layout == "auto")
    except HTRError:
        if layout == "auto":  # let the line reader say what is wrong, as it always has
            return one_line()
        raise
    if found is None or (layout == "auto" and len(found.lines) == 1):
        return one_line()
    return _page_of(recognizer, found, [line.crop for line in found.lines], found.boxes,
                    [line.polygon for line in found.lines], size, decoder, beam_width, top_k, correct, paper)


def _read_lines(recognizer, images: list, decoder: str, beam_width: int, top_k: int,
                correct: bool) -> list[Recognition | None]:
    """Every found line read; a line the reader refuses (too faint to be ink) comes back None."""
    try:
        return recognizer.recognize_batch(images, decoder, beam_width, top_k, correct, find_paper=False)
    except HTRError:
        out: list[Recognition | None] = []
        for image in images:
            try:
                out.append(recognizer.recognize(image, decoder, beam_width, top_k, correct, find_paper=False))
            except HTRError:
                out.append(None)
        return out


def _page_of(recognizer, found: PageLayout, images: list, boxes: list, polygons: list, size,
             decoder: str, beam_width: int, top_k: int, correct: bool, paper: Paper | None = None) -> PageRecognition:
    read = _read_lines(recognizer, images, decoder, beam_width, top_k, correct)
    keep = [i for i, r in enumerate(read) if r is not None]
    if not keep:
        raise NoInkError("no handwriting found: none of the lines found could be read")
    return _page([read[i] for i in keep], [boxes[i] for i in keep], [polygons[i] for i in keep], size, found, paper)


# A drawing is drawn this large on its long side to find its lines (then each line's strokes
# are read as the recognizer reads strokes).
_DRAW_SIDE = 1200


def draw_for_segmentation(strokes) -> tuple[np.ndarray, float, np.ndarray]:
    """Strokes drawn as a canvas image for finding lines; the image, its scale and origin."""
    from htr.ink import validate_strokes
    from htr.render import draw_strokes

    strokes = validate_strokes(strokes)
    points = np.concatenate(strokes)
    lo, hi = points.min(axis=0), points.max(axis=0)
    scale = _DRAW_SIDE / max(float((hi - lo).max()), 1.0)
    margin = 8.0
    origin = lo - margin / scale
    size = np.ceil((hi - lo) * scale + 2 * margin).astype(int) + 1
    canvas = np.full((max(size[1], 8), max(size[0], 8)), 255, np.uint8)
    draw_strokes(canvas, [(s - origin) * scale for s in strokes], 3, 0)
    return canvas, scale, origin


def strokes_by_line(strokes, found: PageLayout, scale: float, origin: np.ndarray) -> list[list[np.ndarray]]:
    """Each stroke goes to the line most of its points lie on (the nearest line if none)."""
    n = len(found.lines)
    groups: list[list[np.ndarray]] = [[] for _ in range(n)]
    centres = np.array([b[1] + b[3] / 2 for b in found.boxes])
    for stroke in strokes:
        xy = (stroke - origin) * scale
        labels = found.line_at(xy[:, 0], xy[:, 1])
        labels = labels[labels >= 0]
        if len(labels):
            k = int(np.bincount(labels, minlength=n).argmax())
        else:
            k = int(np.argmin(np.abs(centres - float(np.median(xy[:, 1])))))
        groups[k].append(stroke)
    return groups


def recognize_page_strokes(recognizer, strokes, layout: Layout = "auto", decoder: str = "best",
                           beam_width: int = BEAM_WIDTH, top_k: int = 5, correct: bool = False) -> PageRecognition:
    """Read a drawing of one or several lines; each line's strokes are rendered as training drew them.

    Boxes are in the drawing's own units.
    """
    from htr.ink import validate_strokes

    _check_layout(layout)
    strokes = validate_strokes(strokes)
    points = np.concatenate(strokes)
    lo, hi = points.min(axis=0), points.max(axis=0)
    size = (int(math.ceil(hi[0] - lo[0])), int(math.ceil(hi[1] - lo[1])))
    if layout == "line":
        return _one_line(recognizer.recognize_strokes(strokes, decoder, beam_width, top_k, correct), size)
    canvas, scale, origin = draw_for_segmentation(strokes)
    try:
        found = segment_lines(canvas, stop_at_one_line=layout == "auto")
    except HTRError:
        if layout == "auto":
            return _one_line(recognizer.recognize_strokes(strokes, decoder, beam_width, top_k, correct), size)
        raise
    if found is None:  # one line
        return _one_line(recognizer.recognize_strokes(strokes, decoder, beam_width, top_k, correct), size)
    groups = [g for g in strokes_by_line(strokes, found, scale, origin) if g]
    if layout == "auto" and len(groups) == 1:
        return _one_line(recognizer.recognize_strokes(strokes, decoder, beam_width, top_k, correct), size)
    return _strokes_page(recognizer, found, groups, size, decoder, beam_width, top_k, correct)


@dataclass
class PageReading:
    """A page or drawing read line by line: the page, how long reading took, the hints about a
    drawing of one line, and (several lines, or any image) the input with its lines outlined and
    numbered, in RGB."""

    page: PageRecognition
    seconds: float
    hints: Hints
    overlay: np.ndarray | None = None


def read_page_image(recognizer, image, decoder: str = "best", beam_width: int = BEAM_WIDTH, top_k: int = 5,
                    correct: bool = False) -> PageReading:
    """Read an image of a page (or of one line) and outline its lines; BadImageError passes through."""
    from htr.hints import sheet_hints
    from htr.imageio import read_image

    array = read_image(image)
    start = time.perf_counter()
    page = recognize_page(recognizer, array, "auto", decoder, beam_width, top_k, bool(correct))
    return PageReading(page, time.perf_counter() - start, sheet_hints(page.paper), draw_lines(array, page))


def read_drawing_lines(recognizer, drawing: Drawing, decoder: str = "best", beam_width: int = BEAM_WIDTH, top_k: int = 5,
                       correct: bool = False, on_screen: bool = False) -> PageReading:
    """Read each line of a drawing; one line is read as the recognizer reads strokes, with its hints."""
    from htr.hints import NO_HINTS, drawing_hints

    start = time.perf_counter()
    page = recognize_page_strokes(recognizer, drawing.strokes, "auto", decoder, beam_width, top_k, bool(correct))
    seconds = time.perf_counter() - start
    if page.layout == "line":
        return PageReading(page, seconds, drawing_hints(drawing.strokes, drawing.pen, on_screen))
    return PageReading(page, seconds, NO_HINTS, drawing_with_lines(drawing, page))


def drawing_with_lines(drawing: Drawing, page: PageRecognition) -> np.ndarray:
    """The drawing drawn with its own pen width, its lines outlined and numbered (RGB)."""
    from htr.render import draw_strokes

    points = np.concatenate(drawing.strokes)
    origin = points.min(axis=0) - 12
    size = np.ceil(points.max(axis=0) - origin + 12).astype(int)
    canvas = np.full((size[1], size[0]), 255, np.uint8)
    draw_strokes(canvas, [s - origin for s in drawing.strokes], max(2, int(round(drawing.pen or 3))), 0)
    shifted = [replace(line, box=(line.box[0] - origin[0], line.box[1] - origin[1], *line.box[2:]), polygon=None)
               for line in page.lines]
    return draw_lines(canvas, replace(page, lines=shifted))


def _strokes_page(recognizer, found: PageLayout, groups: list, size, decoder: str, beam_width: int, top_k: int,
                  correct: bool) -> PageRecognition:
    from htr.ink import render_ink

    boxes, polygons = [], []
    for g in groups:
        p = np.concatenate(g)
        x0, y0 = p.min(axis=0)
        x1, y1 = p.max(axis=0)
        boxes.append((float(x0), float(y0), float(x1 - x0), float(y1 - y0)))
        polygons.append(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64))
    return _page_of(recognizer, found, [render_ink(g) for g in groups], boxes, polygons, size, decoder,
                    beam_width, top_k, correct)


def _plan(path: str, layout: str):
    """What a file holds: ``("line", size)``, ``("page", (found, ...))`` or ``("strokes", ...)``."""
    from htr.imageio import read_image
    from htr.ink import is_ink_file, load_ink

    if layout == "line":
        return "line", None
    try:
        if is_ink_file(path):
            strokes = load_ink(path)
            points = np.concatenate(strokes)
            size = tuple(int(math.ceil(v)) for v in np.ptp(points, axis=0))
            canvas, scale, origin = draw_for_segmentation(strokes)
            found = segment_lines(canvas, stop_at_one_line=layout == "auto")
            if found is None:
                return "line", size
            groups = [g for g in strokes_by_line(strokes, found, scale, origin) if g]
            if layout == "auto" and len(groups) == 1:
                return "line", size
            return "strokes", (found, groups, size)
        image, paper = read_sheet(read_image(path))
        size = (int(image.shape[1]), int(image.shape[0]))
        found = segment_lines(image, stop_at_one_line=layout == "auto")
        if found is None or (layout == "auto" and len(found.lines) == 1):
            return "line", size
        return "page", (found, size, paper)
    except HTRError as exc:
        # auto: the line reader reports what is wrong with the file, exactly as it always has
        return ("line", None) if layout == "auto" else ("error", exc)


def recognize_files(recognizer, paths: list[str], layout: Layout = "auto", decoder: str = "best",
                    beam_width: int = BEAM_WIDTH, top_k: int = 5, correct: bool = False, read=None,
                    batch_size: int = 32, window: int = 64) -> Iterator[PageRecognition | HTRError]:
    """One result per file, in order: image or ink files of one line or of many.

    The single lines of each ``window`` of files go through the recognizer's batched stream
    (read with ``read``, as ``predict`` reads lines), so a folder of lines is read as fast as
    before; pages are read line by line in between.
    """
    _check_layout(layout)
    # Files are planned (read, and segmented to tell lines from pages) in 2 threads, the next
    # window's while the network reads this one's lines.
    windows = [paths[start : start + window] for start in range(0, len(paths), window)]
    with ThreadPoolExecutor(2) as pool:
        upcoming = [pool.submit(_plan, path, layout) for path in windows[0]] if windows else []
        for k, chunk in enumerate(windows):
            plans = [future.result() for future in upcoming]
            upcoming = [pool.submit(_plan, path, layout) for path in windows[k + 1]] if k + 1 < len(windows) else []
            yield from _recognize_window(recognizer, chunk, plans, decoder, beam_width, top_k, correct, read,
                                         batch_size)


def _recognize_window(recognizer, chunk, plans, decoder, beam_width, top_k, correct, read, batch_size):
    """The results of one window of planned files, in order."""
    singles = [path for path, (kind, _) in zip(chunk, plans) if kind == "line"]
    stream = iter(recognizer.recognize_stream(singles, decoder, beam_width, top_k, correct, read=read,
                                              batch_size=batch_size))
    for path, (kind, data) in zip(chunk, plans):
        if kind == "line":
            result = next(stream)
            if isinstance(result, HTRError):
                yield result
            else:
                size = data or (int(result.image.shape[1]), int(result.image.shape[0]))
                yield _one_line(result, size)
            continue
        if kind == "error":
            yield data
            continue
        try:
            if kind == "page":
                found, size, paper = data
                yield _page_of(recognizer, found, [line.crop for line in found.lines], found.boxes,
                               [line.polygon for line in found.lines], size, decoder, beam_width, top_k, correct,
                               paper)
            else:
                found, groups, size = data
                yield _strokes_page(recognizer, found, groups, size, decoder, beam_width, top_k, correct)
        except HTRError as exc:
            yield exc


PAPER_COLOUR = (255, 200, 0)  # the sheet found in a photo


def _photo_box(box, paper: Paper) -> tuple[float, float, float, float]:
    """A box of the flattened sheet in the photo: its top-left corner there (where its label
    goes) and the size of its upright bounding box."""
    corners = _box_in_photo(box, paper)
    size = corners.max(axis=0) - corners.min(axis=0)
    return float(corners[0, 0]), float(corners[0, 1]), float(size[0]), float(size[1])


def _label_spot(box, polygon: np.ndarray | None) -> tuple[float, float]:
    """Where a line's number goes: the left end of its outline (the middle of its first column
    of ink: upper edge's first point, lower edge's last), or the middle of its box's left side."""
    if polygon is not None and len(polygon) >= 4:
        return float(min(polygon[0][0], polygon[-1][0])), float(0.5 * (polygon[0][1] + polygon[-1][1]))
    return float(box[0]), float(box[1] + box[3] / 2)


LINE_COLOURS = [(230, 25, 75), (60, 140, 60), (0, 110, 200), (245, 130, 48), (145, 30, 180), (70, 160, 170),
            (200, 50, 160), (120, 120, 0)]


def draw_lines(image, page: PageRecognition | PageLayout) -> np.ndarray:
    """The image (RGB) with each found line outlined in its own colour and numbered from 1.

    Where the page was read from a sheet found in a photo and ``image`` is that photo, the
    sheet's outline is drawn too and the lines are drawn where they lie in the photo.
    """
    from htr.imageio import read_image
    from htr.preprocess import to_gray

    array = read_image(image)
    if array.ndim == 3 and array.shape[2] == 3 and array.dtype == np.uint8:
        rgb = array.copy()
    else:
        rgb = cv2.cvtColor(np.clip(to_gray(array) * 255 + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2RGB)
    outlines = [(line.box, line.polygon) for line in page.lines]
    thick = max(1, round(max(rgb.shape[:2]) / 600))
    scale = max(0.5, max(rgb.shape[:2]) / 1400)
    paper = page.paper if isinstance(page, PageRecognition) else None
    if paper is not None and (rgb.shape[1], rgb.shape[0]) != tuple(page.size):
        cv2.polylines(rgb, [np.round(paper.corners).astype(np.int32).reshape(-1, 1, 2)], True, PAPER_COLOUR,
                      2 * thick, cv2.LINE_AA)
        outlines = [(_photo_box(box, paper), _box_in_photo(box, paper) if polygon is None else paper.to_photo(polygon))
                    for box, polygon in outlines]
    for i, (box, polygon) in enumerate(outlines):
        colour = LINE_COLOURS[i % len(LINE_COLOURS)]
        if polygon is not None and len(polygon) >= 3:
            cv2.polylines(rgb, [np.round(polygon).astype(np.int32).reshape(-1, 1, 2)], True, colour, thick, cv2.LINE_AA)
        else:
            x, y, w, h = (int(round(v)) for v in box)
            cv2.rectangle(rgb, (x, y), (x + w, y + h), colour, thick)
        label = str(i + 1)
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        x, y = _label_spot(box, polygon)
        # the number left of where its line starts, centred on the line there (inside the
        # picture: on the line's first letters only where the line starts at the picture's edge)
        lx = int(round(max(0, x - tw - 3 - 2 * thick)))
        ly = int(round(min(max(y + th / 2, th + 3), rgb.shape[0] - 4)))
        cv2.rectangle(rgb, (lx, ly - th - 3), (lx + tw + 3, ly + 3), colour, -1)
        cv2.putText(rgb, label, (lx + 1, ly), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return rgb
