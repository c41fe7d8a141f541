"""What to tell people about an input and its reading: hints, problems and status lines.

A hint is about input the model can read, but not well: several lines of writing where one is
read, strokes that run into each other, writing too small. Hints are worked out once per
reading, beside it, from the analyses reading already has (:func:`htr.ink.ink_shape` for
drawings; the ink map and threshold of :mod:`htr.preprocess` for images), and come back on the
reading (:class:`HintedReading`), so a face shows them without looking at the input again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import cv2
import numpy as np

from htr.decode import BEAM_WIDTH
from htr.errors import BadImageError, NoInkError, NoPaperError
from htr.ink import Drawing, InkShape, Strokes, ink_shape
from htr.paper import Paper
from htr.results import Recognition

SEVERAL_LINES_HINT = (
    "**This looks like {lines} lines of writing.** Here the recognizer reads one line at a time: "
    "tick *Several lines* to read a drawing line by line, or read a picture in the *Page* tab."
)
BLOB_HINT = (
    "**The strokes run into each other** (scribbled over, or a very thick pen on small writing): "
    "write the letters apart, with a thinner pen."
)
SMALL_DRAWING_HINT = "**The writing is very small** (about {height} pixels tall): write larger for a better reading."
SMALL_IMAGE_HINT = (
    "**The writing is very small in this picture** (about {height} pixels tall): "
    "a closer photo or a higher-resolution scan reads better."
)
SEVERAL_SHEETS_HINT = (
    "**The photo shows {sheets} sheets of paper:** the largest was read. Photograph one sheet at a time "
    "to read the others."
)
SHEET_CUT_HINT = (
    "**The sheet runs out of the photo:** writing beyond its edge cannot be read. Step back so that "
    "the whole sheet is in view."
)
NOTHING_READ = "The model read no characters here; try writing larger and clearer, on one line."
NO_LM = " (The language model could not be loaded; see the server log.)"
SMALL_DRAWING_PX = 24  # drawn lines shorter than this lose detail to the pointer's pixel grid
SMALL_IMAGE_PX = 20  # the height of most of the ink of an image's line, in pixels
HINT_SIDE = 1200  # images are looked at this size (long side) for hints
HINT_MARK = "⚠️"  # what sets a hint apart in a status line
DECODER_NAMES = {"lm": "language model", "beam": "beam search", "best": "best path (greedy)"}


@dataclass(frozen=True)
class Hints:
    """What may make a reading poor (``lines`` seen, a ``blob`` of ink, the writing's ``height``
    where it is too small) and the sentences (``texts``) that say what to do about it."""

    lines: int = 1
    blob: bool = False
    small_height: int | None = None
    texts: tuple[str, ...] = ()


NO_HINTS = Hints()


def drawing_hints(strokes: Strokes, pen: float = 0.0, on_screen: bool = False,
                  shape: InkShape | None = None) -> Hints:
    """Hints for a drawing: several lines, a blot of ink, and (on screen) very small writing."""
    shape = shape or ink_shape(strokes, pen)
    texts = []
    if shape.lines > 1:
        texts.append(SEVERAL_LINES_HINT.format(lines=shape.lines))
    if shape.blob:
        texts.append(BLOB_HINT)
    small = max(1, round(shape.height)) if on_screen and shape.height < SMALL_DRAWING_PX else None
    if small is not None:
        texts.append(SMALL_DRAWING_HINT.format(height=small))
    return Hints(shape.lines, shape.blob, small, tuple(texts))


@dataclass(frozen=True)
class InkBand:
    """A band of ink rows in an image: its rows [top, bottom), share of the ink, writing height."""

    top: int
    bottom: int
    share: float
    height: int


def ink_bands(image: np.ndarray) -> tuple[list[InkBand], float]:
    """Bands of ink rows in an image, largest share first, and the scale the image was looked at.

    Rows holding ink are grouped into runs; runs closer than a fifth of the tallest are one
    band (dots, accents and descenders belong to their line). Positions and heights are in
    the scale returned. The ink is found as reading finds it (ink map, then threshold).
    """
    from htr.preprocess import as_dark_on_light, ink_map, ink_threshold, to_gray

    gray = as_dark_on_light(to_gray(image))
    scale = min(1.0, HINT_SIDE / max(gray.shape))
    if scale < 1:
        size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    ink = ink_map(gray)
    try:
        mask = ink > ink_threshold(ink, 0.35)
    except NoInkError:
        return [], scale
    profile = mask.sum(axis=1).astype(np.float64)
    if profile.sum() == 0:
        return [], scale
    rows = np.flatnonzero(profile > max(1.0, 0.02 * profile.max()))
    runs: list[list[int]] = []
    for row in rows:
        if runs and row == runs[-1][1] + 1:
            runs[-1][1] = row
        else:
            runs.append([row, row])
    tallest = max(b - a + 1 for a, b in runs)
    merged = [runs[0]]
    for a, b in runs[1:]:
        if a - merged[-1][1] - 1 < 0.2 * tallest:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    total = profile.sum()
    bands = []
    for a, b in merged:
        part = profile[a : b + 1]
        # the writing's height: rows between 5 % and 95 % of the band's ink
        cumulative = np.cumsum(part) / part.sum()
        height = int(np.searchsorted(cumulative, 0.95) - np.searchsorted(cumulative, 0.05) + 1)
        bands.append(InkBand(int(a), int(b + 1), float(part.sum() / total), height))
    bands.sort(key=lambda band: -band.share)
    return bands, scale


def image_hints(image: np.ndarray) -> Hints:
    """Hints for an image of one line: several lines of writing, or writing too small to read well."""
    try:
        bands, scale = ink_bands(image)
    except BadImageError:
        return NO_HINTS
    if not bands:
        return NO_HINTS
    texts = []
    tallest = max(band.bottom - band.top for band in bands)
    lines = [band for band in bands if band.share >= 0.12 and band.bottom - band.top >= 0.3 * tallest]
    if len(lines) > 1:
        texts.append(SEVERAL_LINES_HINT.format(lines=len(lines)))
    height = bands[0].height / scale
    small = max(1, round(height)) if height < SMALL_IMAGE_PX else None
    if small is not None:
        texts.append(SMALL_IMAGE_HINT.format(height=small))
    return Hints(max(1, len(lines)), False, small, tuple(texts))


def sheet_hints(paper: Paper | None, hints: Hints = NO_HINTS) -> Hints:
    """``hints`` with what the sheet finder saw added: several sheets (the largest read), or the
    sheet cut by the photo's edge."""
    if paper is None:
        return hints
    texts = list(hints.texts)
    if paper.sheets > 1:
        texts.append(SEVERAL_SHEETS_HINT.format(sheets=paper.sheets))
    if paper.cut_by_frame:
        texts.append(SHEET_CUT_HINT)
    return replace(hints, texts=tuple(texts))


@dataclass
class HintedReading:
    """A line read, the hints about its input, and how long the reading itself took."""

    recognition: Recognition
    hints: Hints
    seconds: float


def read_image_line(recognizer, image, decoder: str = "best", beam_width: int = BEAM_WIDTH, top_k: int = 5,
                    correct: bool = False) -> HintedReading:
    """Read an image of one line; its hints come from the same decoded image (the sheet, flattened,
    where it is a photo of one on a desk). BadImageError passes."""
    from htr.imageio import read_image
    from htr.paper import read_sheet

    start = time.perf_counter()
    array, paper = read_sheet(read_image(image))
    r = recognizer.recognize(array, decoder=decoder, beam_width=beam_width, top_k=top_k, correct=bool(correct),
                             find_paper=False)
    r.paper = paper
    return HintedReading(r, sheet_hints(paper, image_hints(array)), time.perf_counter() - start)


def read_drawing_line(recognizer, drawing: Drawing, decoder: str = "best", beam_width: int = BEAM_WIDTH, top_k: int = 5,
                      correct: bool = False, on_screen: bool = False) -> HintedReading:
    """Read a drawing of one line from its strokes (rendered as the model's training lines are)."""
    start = time.perf_counter()
    r = recognizer.recognize_strokes(drawing.strokes, decoder=decoder, beam_width=beam_width, top_k=top_k,
                                     correct=bool(correct))
    seconds = time.perf_counter() - start
    return HintedReading(r, drawing_hints(drawing.strokes, drawing.pen, on_screen), seconds)


def reading_status(decoder_used: str, asked: str, seconds: float, text: str | None = None) -> str:
    """The status line of a reading: which decoder read it and how fast (or that nothing was read)."""
    if text is not None and not text.strip():
        return NOTHING_READ
    status = f"Read with {DECODER_NAMES.get(decoder_used, decoder_used)} in {seconds * 1000:.0f} ms."
    return status + (NO_LM if decoder_used != asked else "")


def page_status(lines: int, decoder_used: str, asked: str, seconds: float) -> str:
    """The status line of a page: how many lines were found, which decoder read them, how fast."""
    status = (f"Found {lines} line{'s' if lines != 1 else ''}; read with {DECODER_NAMES.get(decoder_used, decoder_used)} "
              f"in {seconds * 1000:.0f} ms.")
    return status + (NO_LM if decoder_used != asked else "")


def with_hints(status: str, hints: Hints) -> str:
    """A status line followed by its hints, each a paragraph of its own under the warning sign."""
    return status + "".join(f"\n\n{HINT_MARK} {hint}" for hint in hints.texts)


def first_hint(status: str) -> str | None:
    """The first hint of a status line, as plain text (for a notice), or None without one."""
    return status.split(HINT_MARK, 1)[1].replace("**", "").strip() if HINT_MARK in status else None


def problem(exc: BadImageError, what: str = "image") -> str:
    """A message for people: what was wrong with an ``image`` (of one line), a ``page`` or ``strokes``,
    and what to do."""
    if isinstance(exc, NoPaperError):
        return ("No handwriting found: the photo shows only a desk or background, no paper and no writing. "
                f"Photograph {'the page' if what == 'page' else 'the line'} with its writing in view.")
    if isinstance(exc, NoInkError):
        if what == "strokes":
            return "No strokes received: the drawing is empty. Write one line of handwriting first."
        return ("No handwriting found: the image looks blank or too faint. Draw or upload "
                f"{'a page' if what == 'page' else 'one line'} of writing that stands out clearly from its background.")
    return _sentence(str(exc).strip() or f"{'these strokes' if what == 'strokes' else 'this image'} could not be read")


def _sentence(text: str) -> str:
    first = text.split(" ", 1)[0]
    named = first.endswith(":") and "." in first  # "notes.png: ..." keeps the file's own name
    return (text if named else text[0].upper() + text[1:]) + ("" if text.endswith(".") else ".")
