"""Hints about an input (htr.hints): several lines, a blot of ink, tiny writing; the messages and
status lines the faces show. No Gradio here: the app only shows what these return."""

import numpy as np
import pytest

from htr.errors import BadImageError, BadInkError, NoInkError
from htr.hints import (
    BLOB_HINT,
    HINT_MARK,
    NO_HINTS,
    NOTHING_READ,
    Hints,
    drawing_hints,
    first_hint,
    image_hints,
    ink_bands,
    page_status,
    problem,
    read_drawing_line,
    read_image_line,
    reading_status,
    with_hints,
)
from htr.ink import Drawing, ink_shape
from htr.render import render_strokes


def stacked(first: list[np.ndarray], second: list[np.ndarray], gap: float = 0.4) -> list[np.ndarray]:
    """Two lines of strokes, the second under the first (``gap`` line heights apart)."""
    a, b = np.concatenate(first), np.concatenate(second)
    height = float(np.ptp(a[:, 1]))
    offset = np.array([a[:, 0].min() - b[:, 0].min(), a[:, 1].max() + gap * height - b[:, 1].min()], np.float32)
    return list(first) + [s + offset for s in second]


def at_height(strokes: list[np.ndarray], height: float) -> list[np.ndarray]:
    """The strokes scaled so the drawing is ``height`` units tall."""
    scale = height / float(np.ptp(np.concatenate(strokes)[:, 1]))
    return [s * scale for s in strokes]


def three_lines(samples) -> np.ndarray:
    lines = [render_strokes(s.strokes, "canvas") for s in samples[:3]]
    width = max(line.shape[1] for line in lines)
    return np.concatenate([np.pad(line, ((0, 0), (0, width - line.shape[1])), constant_values=255) for line in lines])


def test_drawing_hints(ondb_validation):
    one, two = ondb_validation.samples[0].strokes, ondb_validation.samples[2].strokes
    assert drawing_hints(at_height(one, 60), pen=4, on_screen=True) == Hints(1, False, None, ())
    several = drawing_hints(at_height(stacked(one, two), 140), pen=4)
    assert several.lines == 2 and "2 lines of writing" in several.texts[0] and "one line at a time" in several.texts[0]
    small = drawing_hints(at_height(one, 15), pen=2, on_screen=True)
    assert small.small_height == 15 and "very small** (about 15 pixels tall)" in small.texts[0]
    assert drawing_hints(at_height(one, 15), pen=2).texts == ()  # sent through the API: no screen, no size
    # A blot: the same place scribbled over and over with the thickest pen.
    t = np.linspace(0, 40 * np.pi, 2000)
    scribble = [np.stack([120 + 50 * np.sin(1.03 * t) + t / 3, 60 + 30 * np.sin(1.7 * t)], axis=1)]
    blot = drawing_hints(scribble, pen=16, on_screen=True)
    assert blot.blob and blot.texts == (BLOB_HINT,)
    # A shape worked out already is used as it is.
    assert drawing_hints(one, 4, shape=ink_shape(stacked(one, two), 4)).lines == 2


def test_line_count_of_real_lines(ondb_validation):
    """No validation line looks like several lines (tilted ones included); two stacked ones do."""
    lines = ondb_validation.samples
    assert [s.id for s in lines if ink_shape(s.strokes, 4).lines > 1] == []
    pairs = list(zip(lines[0:200:2], lines[1:200:2]))
    found = sum(ink_shape(stacked(a.strokes, b.strokes, gap=0.3), 4).lines == 2 for a, b in pairs)
    assert found >= 0.9 * len(pairs), (found, len(pairs))


def test_image_hints(ondb_validation):
    samples = ondb_validation.samples
    page = three_lines(samples)
    hints = image_hints(page)
    assert hints.lines == 3 and len(hints.texts) == 1 and "3 lines of writing" in hints.texts[0]
    assert image_hints(render_strokes(samples[0].strokes, "canvas")) == NO_HINTS
    tiny = np.pad(render_strokes(samples[0].strokes, "canvas", ink_height=16), 60, constant_values=255)
    assert "very small in this picture" in image_hints(tiny).texts[-1] and image_hints(tiny).small_height < 20
    # Nothing to say about a blank or unreadable image (reading says what is wrong with it).
    assert image_hints(np.full((120, 600), 255, np.uint8)) == NO_HINTS
    assert image_hints(np.zeros((0, 10), np.uint8)) == NO_HINTS
    bands, scale = ink_bands(page)
    assert scale == 1.0 and len(bands) == 3 and sum(b.share for b in bands) == pytest.approx(1.0, abs=0.01)
    assert all(b.top < b.bottom and 0 < b.height <= b.bottom - b.top for b in bands)


def test_large_images_are_looked_at_small():
    image = np.full((3000, 2400), 255, np.uint8)
    image[1400:1600, 200:2200] = 0
    bands, scale = ink_bands(image)
    assert scale == pytest.approx(0.4) and len(bands) == 1


def test_hints_in_a_status_line():
    hints = Hints(2, True, None, ("**First** hint.", "Second hint."))
    status = with_hints("Read with beam search in 12 ms.", hints)
    assert status == f"Read with beam search in 12 ms.\n\n{HINT_MARK} **First** hint.\n\n{HINT_MARK} Second hint."
    assert first_hint(status) == "First hint.\n\n⚠️ Second hint."
    assert with_hints("Read.", NO_HINTS) == "Read." and first_hint("Read.") is None


def test_status_lines():
    assert reading_status("beam", "beam", 0.0123) == "Read with beam search in 12 ms."
    assert reading_status("beam", "lm", 0.5).endswith("(The language model could not be loaded; see the server log.)")
    assert reading_status("best", "best", 0.01, "  ") == NOTHING_READ
    assert page_status(1, "lm", "lm", 0.25) == "Found 1 line; read with language model in 250 ms."
    assert page_status(3, "best", "best", 1.0) == "Found 3 lines; read with best path (greedy) in 1000 ms."


def test_problems_for_people():
    assert problem(NoInkError("x")).startswith("No handwriting found") and "one line of" in problem(NoInkError("x"))
    assert "a page of writing" in problem(NoInkError("x"), "page")
    assert problem(NoInkError("x"), "strokes") == ("No strokes received: the drawing is empty. "
                                                   "Write one line of handwriting first.")
    assert problem(BadImageError("notes.png: not a readable image")) == "notes.png: not a readable image."
    assert problem(BadInkError("too many strokes (2001; at most 2000)"), "strokes") == \
        "Too many strokes (2001; at most 2000)."
    assert problem(BadImageError(""), "strokes") == "These strokes could not be read."


def test_readings_come_back_with_their_hints(recognizer, ondb_validation):
    samples = ondb_validation.samples
    reading = read_image_line(recognizer, three_lines(samples), "best")
    assert reading.hints.lines == 3 and reading.recognition.text and reading.seconds > 0
    one = at_height(samples[0].strokes, 15)
    drawn = read_drawing_line(recognizer, Drawing(one, 3, 2.0), "best", on_screen=True)
    assert drawn.hints.small_height == 15
    assert drawn.recognition.text == recognizer.recognize_strokes(one, "best").text
    with pytest.raises(NoInkError):
        read_image_line(recognizer, np.full((50, 200), 255, np.uint8))


def test_drawings_read_line_by_line(recognizer, ondb_validation):
    from htr.page import read_drawing_lines

    samples = ondb_validation.samples
    one = at_height(samples[0].strokes, 15)
    single = read_drawing_lines(recognizer, Drawing(one, 1, 2.0), "best", on_screen=True)
    assert single.page.layout == "line" and single.overlay is None and single.hints.small_height == 15
    two = at_height(stacked(samples[0].strokes, samples[2].strokes, gap=0.6), 140)
    several = read_drawing_lines(recognizer, Drawing(two, 2, 4.0), "best", on_screen=True)
    assert several.page.layout == "page" and len(several.page.lines) == 2 and several.hints == NO_HINTS
    assert several.overlay.ndim == 3 and several.overlay.shape[2] == 3  # the drawing, its lines outlined
    assert several.page.lines[0].box[1] < several.page.lines[1].box[1]  # boxes stay in the drawing's units
