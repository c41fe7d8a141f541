"""Find the sheet of paper in a phone photo and flatten it.

A page photographed lying on a desk was read as garbage: the desk was taken for ink, page
segmentation saw one line and the reader read the desk's edge (IAM pages: 94.9 % CER with the
desk visible, 4.2 % scanned). Framed inside the paper the same photos read at 5.9 %, so what
was missing is finding the paper.

The sheet is a bright, low-saturation area whose border is a sharp step to a darker, coloured
or textured desk, while light across it changes only slowly (a lamp's gradient, a soft hand
shadow). So the photo is shrunk, the writing closed away, and the sheet grown from its
brightest spot by a flood fill that crosses slow changes but stops at a step; the region's
hull gives the quadrilateral (sides along the frame's edge are dropped and the remaining sides
intersected when a corner is cut off). It is only kept when it looks like a sheet on a desk:
a quadrilateral the region fills, with a clear step to the desk along its visible sides and
enough desk in view. A flat scan, a drawing or a photo filled by the paper has no such border
and gives None, so those are read exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from htr.errors import NoPaperError
from htr.preprocess import as_dark_on_light, ink_map, ink_threshold

WORK_SIDE = 600  # about the long side the sheet is looked for at (600 for a 2400 px photo)
EDGE_STEP = 8  # grey levels a pixel that stop the fill: the sheet's border
FLOOD_STEP = 3  # grey levels between neighbours the fill crosses (lamp and shadow gradients are < 1.5 a pixel here)
# A picture less than this across is a line, a crop or a thumbnail, never a photo of a sheet on a
# desk; without it a 48 x 134 px crop of a drawn form's line was once taken for a sheet.
MIN_PHOTO_SIDE = 240
MIN_SHARE, MAX_SHARE = 0.02, 0.92  # the sheet's share of the frame: a sticky note up to paper with desk around
MIN_STEP = 18  # the least brightness (or colour) step from sheet to desk along its visible sides
# Paper on a light desk: the step to the desk is a few levels and a thin shadow, and the fill
# above crosses it. Where it covered the frame, a second, finer fill looks again.
FAINT_EDGE_STEP, FAINT_FLOOD_STEP, FAINT_MIN_STEP = 3, 1, 6
MIN_SEEN_SIDES = 0.4  # share of the sheet's outline that must be seen against the desk
# A photo with no sheet in it is read as it is only if it shows a ground that writing could be
# on. Measured at 600 px on 300 real IAM scans, 100 lines in each of the 14 robustness looks
# and 6 photos of each desk with nothing on it: writing has marks >= 0.67 darker than their
# ground (coloured and white desks <= 0.12), a ground at least 0.48 bright (dark desks <= 0.27),
# ink in <= 0.25 of the picture (wood, fabric: >= 0.44), and where it passes 0.15, >= 0.67 of
# plain ground (grey textured desks: <= 0.04). Without it a photo of a desk read as "By".
MIN_INK_PEAK = 0.15  # the darkest marks (99.9th percentile of the ink map)
MIN_GROUND = 0.35  # the ground's brightness (median, writing made dark on light)
MAX_INK_SHARE = 0.35  # share of the picture taken for ink
DENSE_INK_SHARE, QUIET_INK, MIN_QUIET = 0.15, 0.05, 0.3  # dense ink must leave plain ground (ink map < QUIET_INK)


@dataclass(frozen=True)
class Paper:
    """A sheet found in a photo and the sheet flattened."""

    corners: np.ndarray  # 4 x 2 float32: top-left, top-right, bottom-right, bottom-left in the photo's pixels
    image: np.ndarray  # the sheet flattened to a rectangle, grey (2-D), in the photo's dtype
    homography: np.ndarray  # 3 x 3: flattened-sheet pixels -> photo pixels
    cut_by_frame: bool  # part of the sheet lies outside the photo
    sheets: int  # paper regions seen (the larger is the one flattened)

    def to_photo(self, points: np.ndarray) -> np.ndarray:
        """N x 2 points of the flattened sheet -> the same points in the photo."""
        pts = np.asarray(points, np.float64).reshape(-1, 1, 2)
        return cv2.perspectiveTransform(pts, self.homography.astype(np.float64)).reshape(-1, 2)


@dataclass(frozen=True)
class _Region:
    corners: np.ndarray  # in working-size pixels
    share: float
    cut: bool


def _as_rgb8(image: np.ndarray) -> np.ndarray | None:
    """8-bit grey or RGB view of the photo; None for a picture with transparency (a drawing)."""
    if image.ndim == 3 and image.shape[2] in (2, 4):
        alpha = image[..., -1]
        full = 65535 if image.dtype == np.uint16 else 255
        if alpha.min() < full:  # photos are opaque; a transparent background is a canvas
            return None
        image = image[..., :-1]
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(image.astype(np.float32) * (255.0 if image.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    return image


def _order(corners: np.ndarray) -> np.ndarray:
    """Corners as top-left, top-right, bottom-right, bottom-left (clockwise, the top side running left to right)."""
    centre = corners.mean(axis=0)
    angles = np.arctan2(corners[:, 1] - centre[1], corners[:, 0] - centre[0])
    ring = corners[np.argsort(angles)]  # clockwise on screen (y grows down)
    # the top side runs left to right: of the four, the one heading closest to +x (a strip
    # turned 10 degrees has a short side higher than its top)
    heading = [(ring[(i + 1) % 4, 0] - ring[i, 0]) / max(1e-9, float(np.hypot(*(ring[(i + 1) % 4] - ring[i]))))
               for i in range(4)]
    start = int(np.argmax(heading))
    return np.roll(ring, -start, axis=0).astype(np.float32)


def _on_frame(p: np.ndarray, q: np.ndarray, w: int, h: int, tol: float = 2.5) -> bool:
    """Whether the side p-q runs along the frame's edge (the sheet cut there, not a paper edge)."""
    for axis, limit in ((0, 0), (0, w - 1), (1, 0), (1, h - 1)):
        if abs(p[axis] - limit) <= tol and abs(q[axis] - limit) <= tol:
            return True
    return False


def _intersect(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> np.ndarray | None:
    p, r = a[0], a[1] - a[0]
    q, s = b[0], b[1] - b[0]
    cross = r[0] * s[1] - r[1] * s[0]
    if abs(cross) < 1e-6 * (np.hypot(*r) * np.hypot(*s) + 1e-9):
        return None
    t = ((q[0] - p[0]) * s[1] - (q[1] - p[1]) * s[0]) / cross
    return p + t * r


def _largest_quad(points: np.ndarray) -> np.ndarray:
    """The four of a convex polygon's vertices that enclose the most area, in ring order.

    Simplifying a long, thin card's hull down to four vertices cut a corner off it (10 px of a
    47 px tall card at the working size): the largest inscribed quadrilateral keeps all four."""
    m = len(points)
    x, y = points[:, 0], points[:, 1]
    i, j, k = np.ix_(np.arange(m), np.arange(m), np.arange(m))
    triangle = np.abs((x[j] - x[i]) * (y[k] - y[i]) - (x[k] - x[i]) * (y[j] - y[i]))  # [a, b, c]: twice its area
    order = np.arange(m)
    between = (order[:, None, None] < order[None, :, None]) & (order[None, :, None] < order[None, None, :])  # a < b < c
    outside = (order[None, :, None] > order[:, None, None]) | (order[None, :, None] < order[None, None, :])  # d > c or d < a, as [c, d, a]
    first = np.where(between, triangle, -1).max(axis=1)  # [a, c]: best b between them
    second = np.where(outside, triangle, -1).max(axis=1)  # [c, a]: best d on the other side
    total = np.where((first >= 0) & (second.T >= 0), first + second.T, -1)
    a, c = np.unravel_index(int(np.argmax(total)), total.shape)
    b = int(np.argmax(np.where(between[a, :, c], triangle[a, :, c], -1)))
    d = int(np.argmax(np.where(outside[c, :, a], triangle[c, :, a], -1)))
    return points[[a, b, c, d]]


def _quads(hull: np.ndarray, w: int, h: int) -> list[tuple[np.ndarray, list[bool]]]:
    """Candidate corners for the region's hull: the simplified hull's, and for a sheet whole
    in the frame also the largest quadrilateral on its vertices (the caller keeps whichever
    fits the region best: simplifying cuts a thin card's corner, the largest quadrilateral
    misses a corner the fill rounded off)."""
    found = []
    simplified = _quad(hull, w, h)
    if simplified is not None:
        found.append(simplified)
    ring = hull.reshape(-1, 2).astype(np.float64)
    if len(ring) >= 4 and not any(_on_frame(p, p, w, h) for p in ring):
        for eps in (0.002, 0.005, 0.01):  # few enough vertices for the cubic search (40: 64,000 triangles)
            poly = cv2.approxPolyDP(hull, eps * cv2.arcLength(hull, True), True).reshape(-1, 2).astype(np.float64)
            if len(poly) <= 40:
                break
        if 4 <= len(poly) <= 40:
            found.append((_largest_quad(poly), [False] * 4))
    return found


def _quad(hull: np.ndarray, w: int, h: int) -> tuple[np.ndarray, list[bool]] | None:
    """Four corners from the region's hull, and which of the four sides run along the frame.

    A corner outside the photo leaves a short side along the frame between two sheet sides;
    those two sides are extended to meet where the corner is."""
    perimeter = cv2.arcLength(hull, True)
    # the least simplification that leaves four sides: a card 30 px tall at the working size
    # lost a quarter of its height to the 1 % of its perimeter first tried
    for eps in (0.002, 0.004, 0.006, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.07):
        poly = cv2.approxPolyDP(hull, eps * perimeter, True).reshape(-1, 2).astype(np.float64)
        if len(poly) > 6:
            continue
        n = len(poly)
        sides = [(poly[i], poly[(i + 1) % n]) for i in range(n)]
        frame = [_on_frame(p, q, w, h) for p, q in sides]
        paper_sides = [s for s, f in zip(sides, frame) if not f]
        if n == 4:
            return poly, frame
        if len(paper_sides) == 4 and all(np.hypot(*(q - p)) > 0.03 * perimeter for p, q in paper_sides):
            corners = [_intersect(paper_sides[i], paper_sides[(i + 1) % 4]) for i in range(4)]
            if any(c is None for c in corners):
                continue
            corners = np.array(corners)
            if np.any(np.abs(corners - np.array([w / 2, h / 2])) > 1.5 * max(w, h)):
                continue
            return corners, [False] * 4
    return None


def _refine(corners: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """Corners from lines fitted to the outline along each side: the hull's vertices sit up to
    a few pixels inside rounded or blurred corners, the sides' lines do not."""
    lines = []
    for i in range(4):
        p, q = corners[i], corners[(i + 1) % 4]
        d = q - p
        length = float(np.hypot(*d))
        if length < 8:
            return corners
        t = ((outline - p) @ d) / length**2
        dist = np.abs((outline - p) @ np.array([-d[1], d[0]])) / length
        near = outline[(t > 0.1) & (t < 0.9) & (dist < 4)]
        if len(near) < 8:
            return corners
        vx, vy, x0, y0 = cv2.fitLine(near.astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
        lines.append((np.array([x0, y0], np.float64), np.array([x0 + vx, y0 + vy], np.float64)))
    refined = [_intersect(lines[i - 1], lines[i]) for i in range(4)]
    if any(c is None for c in refined):
        return corners
    refined = np.array(refined)
    # a corner the fill rounded off moves out to where its sides meet: up to 0.4 of the
    # shorter side (14 px of a 40 px tall card at the working size), never beyond
    shortest = min(float(np.hypot(*(corners[(i + 1) % 4] - corners[i]))) for i in range(4))
    if np.abs(refined - corners).max() > max(6.0, 0.4 * shortest):
        return corners
    return refined


def _step_to_desk(lab: np.ndarray, corners: np.ndarray, frame: list[bool]) -> tuple[float, float]:
    """The step from sheet to desk across the visible sides (each side's median of the brighter
    or more coloured difference; the second best side's, so one side along a shadow or a
    sheet beside it does not veto), and the share of the outline seen against the desk."""
    h, w = lab.shape[:2]
    steps, seen, total = [], 0.0, 0.0
    centre = corners.mean(axis=0)
    for i in range(4):
        p, q = corners[i], corners[(i + 1) % 4]
        length = float(np.hypot(*(q - p)))
        total += length
        if frame[i] or length < 4:
            continue
        normal = np.array([-(q - p)[1], (q - p)[0]]) / length
        if np.dot(centre - (p + q) / 2, normal) < 0:
            normal = -normal  # pointing into the sheet
        t = np.linspace(0.1, 0.9, 24)[:, None]
        along = p + t * (q - p)
        inside = np.round(along + 5 * normal).astype(int)
        outside = np.round(along - 5 * normal).astype(int)
        ok = ((outside >= 0) & (outside < [w, h])).all(axis=1) & ((inside >= 0) & (inside < [w, h])).all(axis=1)
        if ok.sum() < 6:
            continue
        seen += length * ok.mean()
        a = lab[inside[ok, 1], inside[ok, 0]].astype(np.float32)
        b = lab[outside[ok, 1], outside[ok, 0]].astype(np.float32)
        bright = a[:, 0] - b[:, 0]
        colour = np.hypot(a[:, 1] - b[:, 1], a[:, 2] - b[:, 2]) if lab.shape[2] == 3 else np.zeros_like(bright)
        steps.append(np.median(np.maximum(bright, colour)))
    if len(steps) < 2:
        return 0.0, 0.0
    return float(sorted(steps)[-2]), seen / max(total, 1e-6)


@dataclass(frozen=True)
class _Steps:
    """How sharp a border stops the fill, how soft a change it crosses, and the least step from
    sheet to desk a region must show to be kept."""

    edge: float
    flood: float
    least: float


STRONG = _Steps(EDGE_STEP, FLOOD_STEP, MIN_STEP)
FAINT = _Steps(FAINT_EDGE_STEP, FAINT_FLOOD_STEP, FAINT_MIN_STEP)


def _regions(small: np.ndarray, lab: np.ndarray, steps: _Steps = STRONG, stop_at_cover: bool = True) -> list[_Region]:
    """Sheet-like regions grown from the brightest, least coloured spots (up to three); a
    region covering the frame ends the search (paper or desk fills it: no sheet edge)."""
    h, w = small.shape[:2]
    light = lab[..., 0].astype(np.float32)
    if lab.shape[2] == 3:
        chroma = np.hypot(lab[..., 1].astype(np.float32) - 128, lab[..., 2].astype(np.float32) - 128)
        light = light - 1.5 * chroma
    light = cv2.GaussianBlur(light, (0, 0), max(h, w) / 60)
    taken = np.zeros((h + 2, w + 2), np.uint8)
    # Strong edges stop the fill: the sheet's border is a step of tens of levels a pixel, a
    # lamp's or shadow's change across the sheet under 3.
    gradient = np.zeros((h, w), np.float32)
    for c in range(lab.shape[2]):
        channel = lab[..., c].astype(np.float32)
        gradient = np.maximum(gradient, np.abs(cv2.Sobel(channel, cv2.CV_32F, 1, 0, ksize=3)) +
                              np.abs(cv2.Sobel(channel, cv2.CV_32F, 0, 1, ksize=3)))
    barrier = np.zeros((h + 2, w + 2), np.uint8)
    barrier[1:-1, 1:-1] = (gradient > 4 * steps.edge).astype(np.uint8)  # Sobel sums are 4 x the step
    grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    found: list[_Region] = []
    for _ in range(3 if stop_at_cover else 5):
        free = taken[1:-1, 1:-1] == 0
        if not stop_at_cover:  # seeds inside what is left, not in the slivers between regions
            free &= cv2.distanceTransform(free.astype(np.uint8), cv2.DIST_L2, 3) >= 4
        score = np.where(free, light, -1e9)
        y, x = np.unravel_index(int(np.argmax(score)), score.shape)
        if score[y, x] < 100:
            break
        mask = barrier.copy()
        diff = (steps.flood,) * (small.shape[2] if small.ndim == 3 else 1)
        cv2.floodFill(small, mask, (int(x), int(y)), 0, diff, diff, 4 | cv2.FLOODFILL_MASK_ONLY | (255 << 8))
        region = (mask[1:-1, 1:-1] == 255).astype(np.uint8)
        region = cv2.dilate(region, grow)  # back over the edge the barrier held
        taken[1:-1, 1:-1] |= region
        share = float(np.count_nonzero(region)) / (h * w)
        if share < MIN_SHARE * 0.5:
            continue
        if share > MAX_SHARE:
            if not stop_at_cover:
                continue  # a light desk, brighter than the sheet under a lamp: look on
            found.append(_Region(np.zeros((4, 2)), share, False))  # paper (or desk) fills the frame
            break
        contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        if not contours:
            continue
        contour = max(contours, key=cv2.contourArea)
        hull = cv2.convexHull(contour)
        hull_area = cv2.contourArea(hull)
        if hull_area <= 0 or np.count_nonzero(region) < 0.85 * hull_area:
            continue  # not a filled convex shape: a desk pattern, a blob of light
        outline = contour.reshape(-1, 2).astype(np.float64)
        area = np.count_nonzero(region)
        best = None
        for corners, frame in _quads(hull, w, h):
            if not any(frame):
                corners = _refine(corners, outline)
            quad_mask = np.zeros((h, w), np.uint8)
            cv2.fillConvexPoly(quad_mask, np.round(corners).astype(np.int32), 1)
            inside = np.count_nonzero(quad_mask)
            overlap = np.count_nonzero(quad_mask & (region > 0))
            band = 2.5 * cv2.arcLength(corners.astype(np.float32).reshape(-1, 1, 2), True)  # a thin strip's edge pixels
            if inside == 0 or overlap < 0.9 * inside - band or overlap < 0.95 * area - band:
                continue  # the region is not that quadrilateral
            fit = overlap / (inside + area - overlap)
            if best is None or fit > best[0]:
                best = (fit, corners, frame)
        if best is None:
            continue
        _, corners, frame = best
        step, seen = _step_to_desk(lab, corners, frame)
        if step < steps.least or seen < MIN_SEEN_SIDES:
            continue
        cut = bool(any(frame) or np.any(corners < -1) or np.any(corners > [w, h]))
        found.append(_Region(corners, share, cut))
    return found


def _photo_rgb8(image: np.ndarray) -> np.ndarray | None:
    """The picture as 8-bit grey or RGB when it can be a photo: an opaque image at least
    MIN_PHOTO_SIDE across (a drawing has a transparent background)."""
    image = np.asarray(image)
    if image.ndim not in (2, 3) or min(image.shape[:2]) < MIN_PHOTO_SIDE:
        return None
    return _as_rgb8(image)


def warm_up() -> None:
    """Build OpenCV's RGB -> Lab tables now: the first conversion in a process costs 120 ms of
    CPU (measured), later ones 2 ms, so a server does it before its first photo."""
    cv2.cvtColor(np.zeros((1, 1, 3), np.uint8), cv2.COLOR_RGB2LAB)


def find_paper(image: np.ndarray) -> Paper | None:
    """The sheet in a photo of paper on a desk, flattened; None when no paper edge stands out
    (a scan, a drawing, a crop inside a page, paper filling the frame, a white desk)."""
    rgb = _photo_rgb8(image)
    if rgb is None:
        return None
    h, w = rgb.shape[:2]
    # shrunk by a whole factor (the photo trimmed to a multiple of it): OpenCV's fast path,
    # 7 ms instead of 16 for a 2400 px photo
    factor = max(1, round(max(h, w) / WORK_SIDE))
    if factor > 1:
        trimmed = rgb[: h - h % factor, : w - w % factor]
        small = cv2.resize(trimmed, (trimmed.shape[1] // factor, trimmed.shape[0] // factor), interpolation=cv2.INTER_AREA)
    else:
        small = rgb.copy()
    sh, sw = small.shape[:2]
    # close the writing (and faint rules) away: strokes are 1-3 px here, the kernel 9 at 600 px
    side = 2 * int(max(sh, sw) / 140) + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (side, side))
    small = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel)
    small = cv2.GaussianBlur(small, (0, 0), 1.0)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB) if small.ndim == 3 else small[..., None]
    regions = _regions(small, lab)
    if not any(r.share <= MAX_SHARE for r in regions):  # no sheet against a clear step: a light desk?
        regions = _regions(small, lab, FAINT, stop_at_cover=False)
    sheets = [r for r in regions if r.share <= MAX_SHARE]
    if not sheets or any(r.share > MAX_SHARE for r in regions[:1]):
        return None
    best = max(sheets, key=lambda r: r.share)
    if best.share < MIN_SHARE:
        return None
    corners = _order(best.corners * factor + (factor - 1) / 2).astype(np.float32)  # small pixel centres -> photo
    return _flatten(image, corners, best.cut, len([r for r in sheets if r.share >= 0.2 * best.share]))


def _flatten(image: np.ndarray, corners: np.ndarray, cut: bool, sheets: int) -> Paper:
    """The sheet warped to a rectangle as long as its longer opposite sides (no enlarging), in
    grey: the reader reads grey, and only the sheet's part of the photo is converted, then warped
    (16 ms for a 2200 x 1600 px sheet on one core, against 58 ms warping its colour)."""
    tl, tr, br, bl = corners.astype(np.float64)
    width = max(np.hypot(*(tr - tl)), np.hypot(*(br - bl)))
    height = max(np.hypot(*(bl - tl)), np.hypot(*(br - tr)))
    width, height = max(1, round(width)), max(1, round(height))
    flat = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float32)
    homography = cv2.getPerspectiveTransform(flat, corners.astype(np.float32))
    h, w = image.shape[:2]
    x0, y0 = (max(0, int(np.floor(v)) - 2) for v in corners.min(axis=0))
    x1, y1 = min(w, int(np.ceil(corners[:, 0].max())) + 3), min(h, int(np.ceil(corners[:, 1].max())) + 3)
    part = image[y0:y1, x0:x1]
    if part.ndim == 3:
        part = (cv2.cvtColor(part, cv2.COLOR_RGBA2GRAY if part.shape[2] == 4 else cv2.COLOR_RGB2GRAY)
                if part.shape[2] in (3, 4) else part[..., 0])
    shifted = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64) @ homography  # sheet -> part
    warped = cv2.warpPerspective(np.ascontiguousarray(part), shifted, (width, height),
                                 flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    return Paper(corners=corners, image=warped, homography=homography, cut_by_frame=cut, sheets=sheets)


def read_sheet(image: np.ndarray) -> tuple[np.ndarray, Paper | None]:
    """What to read of an upright image: the flattened sheet where a photo shows one on a desk,
    else the image itself (a scan, a drawing, a photo filled by the paper), and the sheet."""
    if image.dtype not in (np.uint8, np.uint16):  # photos decode to 8 or 16 bits; other arrays are no photos
        return image, None
    paper = find_paper(image)
    if paper is None:
        if shows_no_writing_ground(image):
            raise NoPaperError("no handwriting found: the photo shows no paper and no writing, only a desk or "
                               "background; photograph the page with its writing in view")
        return image, None
    return paper.image, paper


def shows_no_writing_ground(image: np.ndarray) -> bool:
    """Whether a photo (opaque, at least MIN_PHOTO_SIDE across) has nothing to read: no mark
    dark enough to be ink, a dark ground, or ink everywhere (a desk's texture). Scans and
    drawings never do."""
    rgb = _photo_rgb8(image)
    if rgb is None:
        return False
    gray = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    factor = WORK_SIDE / max(h, w)
    if factor < 1:
        gray = cv2.resize(gray, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
    gray = as_dark_on_light(gray.astype(np.float32) / 255.0)
    ink = ink_map(gray)
    peak = float(np.percentile(ink, 99.9))
    if peak < MIN_INK_PEAK or float(np.median(gray)) < MIN_GROUND:
        return True
    share = float(np.mean(ink > ink_threshold(ink, 0.35)))
    return share > MAX_INK_SHARE or (share > DENSE_INK_SHARE and float(np.mean(ink < QUIET_INK)) < MIN_QUIET)
