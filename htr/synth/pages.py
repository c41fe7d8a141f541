"""Whole pages with known lines, made from real handwriting, for measuring page reading.

Two kinds, both with the truth box and text of every line:

* **IAM On-Line forms** drawn whole: the pen strokes keep their whiteboard coordinates, so
  every line of a form is drawn where its writer put it (with the writer's own spacing,
  slope and overlapping ascenders and descenders), in the *canvas* or *paper* look.
* **Stacked IAM pages**: the real scanned line images of one form of ``../shared/data/iam``
  pasted at the positions of ``ascii/lines.txt``, the gaps between lines shrunk at random so
  that descenders touch the line below.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from htr.datasets.base import LineSample
from htr.render import draw_strokes, photographed_paper


@dataclass
class Page:
    """A page image and the lines written on it, top to bottom."""

    name: str
    image: np.ndarray  # uint8, grey (H, W) or RGB (H, W, 3)
    boxes: list[tuple[int, int, int, int]]  # x, y, w, h of each line
    texts: list[str]
    ids: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    def crops(self) -> list[np.ndarray]:
        """Each line cut from the page by its truth box (what a reader of single lines gets)."""
        return [self.image[y : y + h, x : x + w] for x, y, w, h in self.boxes]


PAPERS = ("plain", "blue-rules", "grey-rules", "notebook", "negative")


def on_paper(page: Page, paper: str) -> Page:
    """The page as if written on other paper: ruled (a rule under every line's writing, across
    the page, the letters standing on it; light blue as in a notebook, or dark grey as on a
    form), a notebook's page (light blue rules and a red margin line down the left, just
    before the writing), or its negative (light writing on a dark ground)."""
    if paper not in PAPERS:
        raise ValueError(f"unknown paper {paper!r}; expected one of {PAPERS}")
    if paper == "plain":
        return page
    image = page.image if page.image.ndim == 3 else np.repeat(page.image[..., None], 3, axis=2)
    if paper == "negative":
        return Page(page.name, 255 - image, page.boxes, page.texts, page.ids)
    import cv2

    rules = np.zeros(image.shape[:2], np.uint8)
    for x, y, w, h in page.boxes:
        cv2.line(rules, (0, int(y + 0.8 * h)), (image.shape[1], int(y + 0.8 * h)), 255, 2)
    def printed(under: np.ndarray, lines: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
        alpha = (lines.astype(np.float32) / 255.0)[..., None]
        return under * (1 - alpha) + np.minimum(under, np.array(colour, np.float32)) * alpha  # ink stays ink

    ruled = printed(image, rules, (80, 80, 80) if paper == "grey-rules" else (150, 180, 235))
    if paper == "notebook":
        margin = np.zeros(image.shape[:2], np.uint8)
        left = int(max(4, min(x for x, _, _, _ in page.boxes) - 25))
        cv2.line(margin, (left, 0), (left, image.shape[0]), 255, 2)
        ruled = printed(ruled, margin, (225, 80, 80))
    return Page(page.name, ruled.astype(np.uint8), page.boxes, page.texts, page.ids)


def group_forms(samples: list[LineSample]) -> dict[str, list[LineSample]]:
    """Lines by form (``a01-000u-03`` -> ``a01-000u``), each form's lines in order."""
    forms: dict[str, list[LineSample]] = defaultdict(list)
    for sample in sorted(samples, key=lambda s: s.id):
        forms[sample.id.rsplit("-", 1)[0]].append(sample)
    return dict(forms)


def render_form(lines: list[LineSample], look: str = "canvas", rng: np.random.Generator | None = None,
                line_height: float | None = None, skew: float | None = None, name: str = "") -> Page:
    """An IAM On-Line form drawn whole: every line's strokes at their whiteboard position.

    ``line_height`` is the rendered height of a typical line's ink (random 40-90 px without
    it); ``skew`` turns the whole page by that many degrees (random within 2 degrees).
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    robust = [np.subtract(*np.percentile(np.concatenate(s.strokes)[:, 1], [99, 1])) for s in lines]
    ink_height = line_height if line_height is not None else float(rng.uniform(40, 90))
    scale = ink_height / max(1.0, float(np.median(robust)))
    angle = math.radians(skew if skew is not None else float(rng.uniform(-2, 2)))
    cos, sin = math.cos(angle), math.sin(angle)
    pen = max(1, int(round(ink_height * float(rng.uniform(0.03, 0.06)))))
    placed = []
    for sample in lines:
        strokes = []
        for s in sample.strokes:
            x, y = s[:, 0] * scale, s[:, 1] * scale
            strokes.append(np.stack([x * cos - y * sin, x * sin + y * cos], axis=1))
        placed.append(strokes)
    allp = np.concatenate([np.concatenate(p) for p in placed])
    margin = pen + float(rng.uniform(20, 80))
    offset = allp.min(axis=0) - margin
    size = np.ceil(allp.max(axis=0) - offset + margin).astype(int)
    canvas = np.zeros((size[1], size[0]), np.uint8)
    boxes = []
    for strokes in placed:
        shifted = [p - offset for p in strokes]
        draw_strokes(canvas, shifted, pen, 255)
        pts = np.concatenate(shifted)
        x0, y0 = np.floor(pts.min(axis=0) - pen / 2)
        x1, y1 = np.ceil(pts.max(axis=0) + pen / 2)
        boxes.append((int(x0), int(y0), int(x1 - x0), int(y1 - y0)))
    ink = canvas.astype(np.float32) / 255.0
    if look == "canvas":
        image = np.clip(255.0 * (1.0 - ink), 0, 255).astype(np.uint8)
    elif look == "paper":
        image = photographed_paper(ink, rng)
    else:
        raise ValueError(f"unknown look {look!r}; expected canvas or paper")
    return Page(name or lines[0].id.rsplit("-", 1)[0], image, boxes, [s.text for s in lines], [s.id for s in lines])


def read_line_boxes(iam_root: Path) -> dict[str, tuple[int, int, int, int]]:
    """Line id -> (x, y, w, h) on its scanned form, from IAM's ``ascii/lines.txt``."""
    boxes = {}
    for row in (Path(iam_root) / "ascii" / "lines.txt").read_text(encoding="utf-8", errors="replace").splitlines():
        if not row or row.startswith("#"):
            continue
        parts = row.split(" ", 8)
        if len(parts) >= 9:
            boxes[parts[0]] = tuple(int(v) for v in parts[4:8])
    return boxes


def stack_lines(lines: list[LineSample], form_boxes: dict[str, tuple[int, int, int, int]],
                rng: np.random.Generator | None = None, squeeze: float | None = None, name: str = "") -> Page:
    """Real line images of one form pasted at their places on the form, darker pixel winning.

    The vertical distance between consecutive lines is multiplied by ``squeeze`` (random
    0.6-1.0 without it): at about 0.6 the descenders of a line reach the ascenders below.
    """
    from htr.imageio import read_image_file
    from htr.preprocess import to_gray

    rng = rng if rng is not None else np.random.default_rng(0)
    factor = squeeze if squeeze is not None else float(rng.uniform(0.6, 1.0))
    images = [np.clip(to_gray(read_image_file(s.path)) * 255 + 0.5, 0, 255).astype(np.uint8) for s in lines]
    first_y = form_boxes[lines[0].id][1]
    spots = []
    for sample, im in zip(lines, images):
        x, y, _, _ = form_boxes[sample.id]
        spots.append((x, int(round(first_y + (y - first_y) * factor))))
    margin = int(rng.uniform(30, 120))
    x0 = min(x for x, _ in spots) - margin
    y0 = min(y for _, y in spots) - margin
    x1 = max(x + im.shape[1] for (x, _), im in zip(spots, images)) + margin
    y1 = max(y + im.shape[0] for (_, y), im in zip(spots, images)) + margin
    page = np.full((y1 - y0, x1 - x0), 255, np.uint8)
    boxes = []
    for (x, y), im in zip(spots, images):
        x, y = x - x0, y - y0
        region = page[y : y + im.shape[0], x : x + im.shape[1]]
        np.minimum(region, im, out=region)
        ox, oy, ow, oh = own_ink_box(im)
        boxes.append((x + ox, y + oy, ow, oh))
    return Page(name or lines[0].id.rsplit("-", 1)[0], page, boxes, [s.text for s in lines], [s.id for s in lines])


def own_ink_box(line_image: np.ndarray) -> tuple[int, int, int, int]:
    """The box of a scanned line's own ink: without the bits of the lines above and below
    that its crop keeps at the top and bottom edge (IAM's boxes hold them)."""
    from htr.preprocess import neighbour_fragments

    mask = line_image < 128
    mask &= ~neighbour_fragments(mask)
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return 0, 0, line_image.shape[1], line_image.shape[0]
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def form_pages(samples: list[LineSample], count: int, looks: tuple[str, ...] = ("canvas", "paper"),
               seed: int = 0, first: int = 0) -> list[Page]:
    """``count`` IAM On-Line forms drawn whole from form ``first`` on, the looks taking turns.

    Page ``i`` is drawn with seed ``seed + i`` whatever ``first`` is, so one page can be made
    alone, exactly as in a run over all of them.
    """
    forms = list(group_forms(samples).values())
    pages = []
    for i in range(first, min(first + count, len(forms))):
        rng = np.random.default_rng(seed + i)
        pages.append(render_form(forms[i], looks[i % len(looks)], rng))
    return pages


def stacked_pages(samples: list[LineSample], iam_root: Path, count: int, seed: int = 0,
                  min_lines: int = 2, first: int = 0) -> list[Page]:
    """``count`` pages of real IAM lines from page ``first`` on, one form's lines each (forms
    reused with new spacing); page ``i`` is made with seed ``seed + i``, as in :func:`form_pages`."""
    boxes = read_line_boxes(iam_root)
    forms = [f for f in group_forms([s for s in samples if s.id in boxes]).values() if len(f) >= min_lines]
    pages = []
    for i in range(first, first + count if forms else first):
        rng = np.random.default_rng(seed + i)
        pages.append(stack_lines(forms[i % len(forms)], boxes, rng, name=f"{forms[i % len(forms)][0].id.rsplit('-', 1)[0]}#{i}"))
    return pages


def _intersection(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    iw = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return float(iw * ih)


def box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Matching:
    """How found line boxes match the truth: found (IoU >= 0.5, one to one), split, merged."""

    truth: int
    found: int
    matched: int
    split: int  # truth lines covered by two or more found lines
    merged: int  # found lines covering two or more truth lines


def match_lines(truth: list[tuple[int, int, int, int]], found: list[tuple[int, int, int, int]],
                threshold: float = 0.5) -> Matching:
    """One-to-one matching by IoU, and counts of splits and merges.

    A truth line left without a match is *merged* when half its box lies inside a found line
    matched to another; a found line left without a match is a *split* (or an extra line)
    when half of it lies inside a truth line.
    """
    iou = np.array([[box_iou(t, f) for f in found] for t in truth]).reshape(len(truth), len(found))
    pairs: dict[int, int] = {}  # truth -> found, one to one, best IoU first
    for flat in np.argsort(-iou, axis=None):
        t, f = np.unravel_index(flat, iou.shape)
        if iou[t, f] < threshold:
            break
        if t not in pairs and f not in pairs.values():
            pairs[int(t)] = int(f)
    inter = np.array([[_intersection(t, f) for f in found] for t in truth]).reshape(len(truth), len(found))
    t_area = np.array([max(1, t[2] * t[3]) for t in truth], np.float64)
    f_area = np.array([max(1, f[2] * f[3]) for f in found], np.float64)
    lost = [t for t in range(len(truth)) if t not in pairs]
    extra = [f for f in range(len(found)) if f not in pairs.values()]
    merged = sum(1 for t in lost if (inter[t, list(pairs.values())] >= 0.5 * t_area[t]).any()) if pairs else 0
    split = sum(1 for f in extra if (inter[:, f] >= 0.5 * f_area[f]).any())
    matched = len(pairs)
    return Matching(len(truth), len(found), matched, split, merged)


EDGES = ("scanner-edge", "binding", "margin-strip")


def with_edge(page: Page, edge: str, rng: np.random.Generator | None = None, side: str | None = None) -> Page:
    """The page as a scan or a copy often shows it, with a dark band along one side that is not
    writing: a *scanner edge* (a grey strip, with a darker rim, down the side where the sheet
    ended under the lid), a book's *binding* shadow (dark at the edge, fading into the paper over
    a tenth of the width) or a *margin strip* (a near-black band, a copier's edge, along the top,
    bottom or one side; ``side`` chooses, else at random). The band lies in a margin added
    beside the writing, so the lines' boxes only move by that margin."""
    if edge not in EDGES:
        raise ValueError(f"unknown edge {edge!r}; expected one of {EDGES}")
    rng = rng if rng is not None else np.random.default_rng(0)
    image = page.image.astype(np.float32)
    h, w = image.shape[:2]
    sides = ["left", "right"] if edge != "margin-strip" else ["left", "right", "top", "bottom"]
    side = side or str(rng.choice(sides))
    if side not in sides:
        raise ValueError(f"a {edge} lies along one of {sides}, not {side!r}")
    across = w if side in ("left", "right") else h  # the page's extent across the band
    if edge == "scanner-edge":
        width = int(rng.uniform(0.005, 0.04) * across) + 4
        profile = np.full(width, float(rng.uniform(110, 190)))
        profile[-max(2, width // 8):] = float(rng.uniform(50, 90))  # the sheet's rim, where the lid's shadow is
        gap = int(rng.uniform(0.0, 0.02) * across)  # paper between the band and the writing's margin
    elif edge == "binding":
        width = int(rng.uniform(0.08, 0.14) * across)
        t = np.linspace(0.0, 1.0, width)
        darkest = float(rng.uniform(25, 70))
        profile = darkest + (255 - darkest) * t ** float(rng.uniform(1.5, 3.0))
        gap = 0
    else:
        width = int(rng.uniform(0.01, 0.025) * across) + 6
        profile = np.full(width, float(rng.uniform(10, 50)))
        gap = int(rng.uniform(0.0, 0.03) * across)
    band = np.concatenate([profile, np.full(gap, 255.0)]).astype(np.float32)
    band = band + rng.normal(0, 6, (h if side in ("left", "right") else w, len(band))).astype(np.float32)
    length = len(band)
    if edge != "binding":  # a strip may stop short of one end of the page
        keep = int(rng.uniform(0.6, 1.0) * length) if rng.random() < 0.5 else length
        band[keep:] = 255.0 + rng.normal(0, 2, band[keep:].shape)
        if rng.random() < 0.5:
            band = band[::-1]
    band = np.clip(band, 0, 255)
    if side in ("right", "bottom"):
        band = band[:, ::-1]
    if side in ("top", "bottom"):
        band = band.T
    if image.ndim == 3:
        band = np.repeat(band[..., None], image.shape[2], axis=2)
    if side == "left":
        out, shift = np.concatenate([band, image], axis=1), (band.shape[1], 0)
    elif side == "right":
        out, shift = np.concatenate([image, band], axis=1), (0, 0)
    elif side == "top":
        out, shift = np.concatenate([band, image], axis=0), (0, band.shape[0])
    else:
        out, shift = np.concatenate([image, band], axis=0), (0, 0)
    boxes = [(x + shift[0], y + shift[1], bw, bh) for x, y, bw, bh in page.boxes]
    return Page(f"{page.name}+{edge}-{side}", np.clip(out + 0.5, 0, 255).astype(np.uint8), boxes, page.texts, page.ids)
