"""Finding the lines of real handwritten pages: the hard cases real pages have."""

import cv2
import numpy as np
import pytest
from conftest import HAVE_IAM, NO_IAM

from htr.datasets.base import LineSample
from htr.errors import BadImageError, NoInkError
from htr.segment import segment_lines
from htr.synth.pages import EDGES, group_forms, match_lines, on_paper, render_form, stack_lines, with_edge


@pytest.fixture(scope="module")
def forms(ondb_split):
    return list(group_forms(ondb_split.samples).values())


@pytest.fixture(scope="module")
def dev_forms(iam_dev_forms):
    if not HAVE_IAM:  # the hard cases are particular forms of the whole available-dev list
        pytest.skip(NO_IAM)
    forms, boxes = iam_dev_forms
    return [f for f in forms if len(f) >= 5], boxes


def assert_all_found(page, found):
    m = match_lines(page.boxes, found.boxes)
    assert (m.matched, m.found, m.split, m.merged) == (m.truth, m.truth, 0, 0), (page.name, m)


def test_a_form_is_found_line_by_line_in_both_looks(forms):
    for look in ("canvas", "paper"):
        page = render_form(forms[3], look, np.random.default_rng(1), line_height=60, skew=0)
        found = segment_lines(page.image)
        assert_all_found(page, found)
        # top to bottom, and each crop holds its line's ink
        assert [b[1] for b in found.boxes] == sorted(b[1] for b in found.boxes)
        assert all(line.crop.shape == line.crop.shape[:2] and line.crop.min() < 128 for line in found.lines)


@pytest.mark.parametrize("skew", [-6.0, 5.0])
def test_skewed_page(forms, skew):
    level = segment_lines(render_form(forms[5], "canvas", np.random.default_rng(2), line_height=60, skew=0).image)
    page = render_form(forms[5], "canvas", np.random.default_rng(2), line_height=60, skew=skew)
    found = segment_lines(page.image)
    assert abs(found.skew - level.skew - skew) < 1.0  # the writer's own slope, turned by ``skew``
    # a box around a tilted line is taller than the line; the crops are still one line each
    m = match_lines(page.boxes, found.boxes)
    assert m.found == m.truth and m.split == m.merged == 0 and m.matched >= m.truth - 1


@pytest.mark.parametrize("form", [7, 9, 13])
def test_wavy_lines(forms, form):
    """Every line bends up and down by a tenth of the line pitch, one and a half waves across."""
    lines = forms[form]
    pitch = np.median(np.diff([np.median(np.concatenate(s.strokes)[:, 1]) for s in lines]))
    width = max(np.concatenate(s.strokes)[:, 0].max() for s in lines)
    wavy = []
    for s in lines:
        strokes = [np.stack([p[:, 0], p[:, 1] + 0.1 * pitch * np.sin(3 * np.pi * p[:, 0] / width)], axis=1)
                   for p in s.strokes]
        wavy.append(LineSample(s.id, s.text, strokes=strokes))
    page = render_form(wavy, "canvas", np.random.default_rng(3), line_height=60, skew=0)
    assert_all_found(page, segment_lines(page.image))


def test_touching_descenders_and_ascenders(dev_forms):
    """Real scanned lines stacked so tightly that descenders reach into the line below."""
    forms, boxes = dev_forms
    page = stack_lines(forms[2], boxes, np.random.default_rng(0), squeeze=0.5)
    # the page really has pieces of ink reaching from one line's body into the next one's
    n, labels, stats, _ = cv2.connectedComponentsWithStats((page.image < 128).astype(np.uint8), connectivity=8)
    top, bottom = stats[1:, cv2.CC_STAT_TOP], stats[1:, cv2.CC_STAT_TOP] + stats[1:, cv2.CC_STAT_HEIGHT]
    middles = [y + h / 2 for _, y, _, h in page.boxes]
    touching = sum(int(((top <= a) & (bottom >= b)).sum()) for a, b in zip(middles, middles[1:]))
    assert touching >= 2
    assert_all_found(page, segment_lines(page.image))


@pytest.mark.parametrize("page_number, form_id", [(11, "b02-105"), (16, "b05-079")])
def test_line_end_marks_stay_with_their_line(iam_dev_forms, page_number, form_id):
    """A hyphen or full stop just past the end of a line's writing is that line's, though the
    band beyond a shorter line's end is given to its neighbours: on these two dense pages of the
    page benchmark ("Mean-" ending b02-105's second line, "close." its last) such marks stretched
    the neighbouring line's box over their own line."""
    if not HAVE_IAM:
        pytest.skip(NO_IAM)
    forms, boxes = iam_dev_forms
    forms = [f for f in forms if len(f) >= 2]  # as the page benchmark's stacked pages are made
    form = forms[page_number % len(forms)]
    assert form[0].id.startswith(form_id)
    page = stack_lines(form, boxes, np.random.default_rng(1000 + page_number))
    assert_all_found(page, segment_lines(page.image))


def test_faint_first_word_on_a_squeezed_page(dev_forms):
    """A line whose first word is so faint it falls apart into specks smaller than a letter
    (c02-026's fourth line, "recording", at 60 % line spacing) keeps that word."""
    forms, boxes = dev_forms
    form = next(f for f in forms if f[0].id.startswith("c02-026-"))
    page = stack_lines(form, boxes, np.random.default_rng(20))
    x, y, w, h = page.boxes[3]
    n, _, stats, _ = cv2.connectedComponentsWithStats((page.image[y : y + h, x : x + h] < 128).astype(np.uint8))
    assert stats[1:, cv2.CC_STAT_HEIGHT].max() < 0.4 * h  # the word's start is only small bits
    found = segment_lines(page.image)
    assert_all_found(page, found)
    assert abs(found.boxes[3][0] - x) < 0.2 * h


def test_short_last_line_and_indented_words(forms, dev_forms):
    # a09-583z ends with the one word "rider."
    form = next(f for f in forms if f[-1].text == "rider.")
    page = render_form(form, "paper", np.random.default_rng(4), line_height=55, skew=0)
    found = segment_lines(page.image)
    assert_all_found(page, found)
    assert found.boxes[-1][2] < 0.35 * found.boxes[-2][2]
    # a real page with its second and fifth lines indented by a third of the width
    lines, boxes = dev_forms
    form = lines[1]
    moved = dict(boxes)
    for i in (1, 4):
        x, y, w, h = boxes[form[i].id]
        moved[form[i].id] = (x + w // 3, y, w, h)
    page = stack_lines(form, moved, np.random.default_rng(5), squeeze=0.8)
    found = segment_lines(page.image)
    assert_all_found(page, found)


def test_margins_and_uneven_light(forms):
    page = render_form(forms[9], "paper", np.random.default_rng(6), line_height=50, skew=0)
    image = page.image.astype(np.float32)
    h, w = image.shape[:2]
    # a phone photo: wide margins, the light falling off to a third in one corner, a shadow across
    pad = 300
    image = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    yy, xx = np.mgrid[0 : h + 2 * pad, 0 : w + 2 * pad].astype(np.float32)
    light = 1.0 - 0.65 * (xx / xx.max()) * (yy / yy.max())
    band = ((xx > 0.4 * xx.max()) & (xx < 0.55 * xx.max())).astype(np.float32)
    light *= 1.0 - 0.3 * cv2.GaussianBlur(band, (0, 0), 6)  # a shadow with a narrow penumbra
    photo = np.clip(image * light[..., None], 0, 255).astype(np.uint8)
    found = segment_lines(photo)
    shifted = [(x + pad, y + pad, bw, bh) for x, y, bw, bh in page.boxes]
    m = match_lines(shifted, found.boxes)
    assert (m.matched, m.found, m.split, m.merged) == (m.truth, m.truth, 0, 0), m


def test_light_writing_on_a_dark_page(forms):
    """A blackboard or a dark-mode page: found as its negative is, and cut as dark ink on paper."""
    page = on_paper(render_form(forms[3], "canvas", np.random.default_rng(1), line_height=60, skew=0), "negative")
    found = segment_lines(page.image)
    assert_all_found(page, found)
    assert all(np.median(line.crop) > 200 for line in found.lines)


@pytest.mark.parametrize("form, paper", [(3, "grey-rules"), (5, "grey-rules"), (9, "grey-rules"), (3, "notebook")])
def test_ruled_paper(forms, form, paper):
    """Dark rules under every line, the letters standing on them (or a notebook's pale rules
    and red margin line): still one crop per line, and no line's crop starts at the margin."""
    page = on_paper(render_form(forms[form], "canvas", np.random.default_rng(1), line_height=60, skew=0), paper)
    found = segment_lines(page.image)
    assert_all_found(page, found)
    if paper == "notebook":
        margin = min(x for x, _, _, _ in page.boxes) - 25
        assert all(x > margin + 2 for x, _, _, _ in found.boxes)


def test_notebook_page_filled_to_the_top(forms):
    """A notebook page whose writing starts at the top edge, its first letters on the margin
    line: the margin still goes (on a page no stroke runs the whole height) and every line is
    found whole (kept as a stroke, the margin joined two lines into one)."""
    page = on_paper(render_form(forms[19], "paper", np.random.default_rng(19)), "notebook")
    assert min(y for _, y, _, _ in page.boxes) < 0.05 * page.image.shape[0]
    assert_all_found(page, segment_lines(page.image))


@pytest.fixture(scope="module")
def shipped_pages(iam_dev_forms):
    """Real scanned lines of the two forms also shipped in tests/fixtures/iam, stacked into pages
    at 70 % of their spacing (works without the data sets)."""
    forms, boxes = iam_dev_forms
    return [stack_lines(f[:6], boxes, np.random.default_rng(7), squeeze=0.7)
            for f in forms if f[0].id.startswith(("a01-011-", "a03-011-"))]


@pytest.mark.parametrize("edge, side", [(e, s) for e in EDGES
                                        for s in (("left", "right", "top", "bottom") if e == "margin-strip" else ("left", "right"))])
def test_dark_bands_along_the_edges_are_not_lines(shipped_pages, edge, side):
    """A scanner's grey edge strip, a book's binding shadow, a copier's black margin strip
    (wide or narrow, the whole side or stopping short): exactly the page's lines are found, none
    of them running into the band (before, the band's rim became a line or stretched lines to it)."""
    assert len(shipped_pages) == 2
    for page in shipped_pages:
        for seed in (0, 1):
            banded = with_edge(page, edge, np.random.default_rng(seed), side)
            h, w = banded.image.shape[:2]
            assert banded.image.shape != page.image.shape
            found = segment_lines(banded.image)
            assert_all_found(banded, found)
            # no line reaches into the margin the band was added in
            x0 = min(b[0] for b in banded.boxes)
            y0 = min(b[1] for b in banded.boxes)
            x1 = max(b[0] + b[2] for b in banded.boxes)
            y1 = max(b[1] + b[3] for b in banded.boxes)
            for x, y, bw, bh in found.boxes:
                assert x >= x0 - 3 and y >= y0 - 3 and x + bw <= x1 + 3 and y + bh <= y1 + 3, (edge, side, seed)


def test_outlines_stay_with_their_lines(shipped_pages, forms):
    """Each line's outline holds its own ink and no other line's: on real scanned lines squeezed
    until descenders reach the line below, and on a drawn form, the outlines of two lines overlap
    by well under 1 % of either (they share at most an edge), and nearly all ink lies inside
    its own line's outline, which lies inside its box."""
    pages = [p.image for p in shipped_pages]
    pages.append(render_form(forms[3], "paper", np.random.default_rng(1), line_height=60, skew=0).image)
    for image in pages:
        found = segment_lines(image)
        h, w = image.shape[:2]
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        masks = []
        for line in found.lines:
            x, y, bw, bh = line.box
            assert (line.polygon >= [x - 1, y - 1]).all() and (line.polygon <= [x + bw + 1, y + bh + 1]).all()
            mask = np.zeros((h, w), np.uint8)
            cv2.fillPoly(mask, [np.round(line.polygon).astype(np.int32)], 1)
            masks.append(mask.astype(bool))
        for i in range(len(masks)):
            for j in range(i + 1, len(masks)):
                shared = (masks[i] & masks[j]).sum()
                assert shared <= 0.01 * min(masks[i].sum(), masks[j].sum()), (i, j, shared)
        ink = grey < 128
        inside = (ink & np.logical_or.reduce(masks)).sum() / ink.sum()
        assert inside >= 0.95


@pytest.mark.parametrize("form", [5, 12])
def test_numbers_sit_by_their_lines(forms, form):
    """On the overlay each line's number sits left of where the line starts, at the height of
    the line's first letters (it sat at the top-left corner of the line's box: by the line
    above where a line slopes or has a tall letter further on)."""
    from htr.page import LINE_COLOURS, draw_lines

    page = render_form(forms[form], "canvas", np.random.default_rng(1), line_height=60, skew=0)
    found = segment_lines(page.image)
    assert len(found.lines) <= len(LINE_COLOURS)
    overlay = draw_lines(page.image, found)
    pen = max(1, round(max(overlay.shape[:2]) / 600))  # the outlines' width
    ys, xs = np.nonzero(found.line_map >= 0)
    owner = found.line_map[ys, xs]
    for k, line in enumerate(found.lines):
        # the number's badge: the largest solid patch of the line's colour (the outline is thinner)
        solid = cv2.erode(np.all(overlay == LINE_COLOURS[k], axis=2).astype(np.uint8), np.ones((2 * pen + 1,) * 2, np.uint8))
        n, _, stats, middles = cv2.connectedComponentsWithStats(solid)
        assert n > 1
        bx, by = middles[1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))]
        assert bx <= line.box[0] + 2  # left of the line
        # between the top and bottom of the line's ink in its first tenth
        mine_x, mine_y = xs[owner == k], ys[owner == k]
        start = mine_y[mine_x <= mine_x.min() + 0.1 * (mine_x.max() - mine_x.min())] / found.scale
        assert start.min() <= by <= start.max() + 1, (k, by, start.min(), start.max())


def test_single_lines_stay_single(ondb_validation, dev_forms):
    from htr.imageio import read_image
    from htr.render import render_strokes

    images = [render_strokes(sample.strokes, ("canvas", "paper")[i % 2], np.random.default_rng(i))
              for i, sample in enumerate(ondb_validation.samples[:40])]
    forms, _ = dev_forms
    # real crops, bits of the neighbouring lines at their edges
    images += [read_image(sample.path) for f in forms[:4] for sample in f]
    for image in images:
        assert len(segment_lines(image).lines) == 1
        assert segment_lines(image, stop_at_one_line=True) is None  # known early, as auto layouts ask


def test_stopping_at_one_line_changes_nothing_on_a_page(forms):
    page = render_form(forms[3], "paper", np.random.default_rng(2), line_height=60, skew=0)
    found, early = segment_lines(page.image), segment_lines(page.image, stop_at_one_line=True)
    assert early is not None and len(found.lines) > 1
    assert early.boxes == found.boxes
    assert all(np.array_equal(a.crop, b.crop) for a, b in zip(found.lines, early.lines, strict=True))


def test_canvas_drawing_of_several_lines(forms):
    """Strokes of three lines as a sketchpad sends them: each stroke is given to its own line."""
    from htr.page import draw_for_segmentation, strokes_by_line

    lines = forms[11][:3]
    strokes, owner = [], []
    for k, s in enumerate(lines):
        for p in s.strokes:
            strokes.append(p * 0.12)  # screen pixels: about 60 px per line
            owner.append(k)
    canvas, scale, origin = draw_for_segmentation(strokes)
    found = segment_lines(canvas)
    groups = strokes_by_line(strokes, found, scale, origin)
    assert len(groups) == 3
    got = {id(p): k for k, g in enumerate(groups) for p in g}
    wrong = sum(got[id(p)] != k for p, k in zip(strokes, owner))
    assert wrong <= 0.02 * len(strokes)


def test_bad_input():
    with pytest.raises(NoInkError):
        segment_lines(np.full((300, 400), 255, np.uint8))
    with pytest.raises(BadImageError):
        segment_lines(np.zeros((0, 10), np.uint8))
    with pytest.raises(BadImageError):
        segment_lines("page.png")
