"""Find the text lines of a paragraph or page image, top to bottom.

Classical and model-free, so it runs anywhere the recogniser runs. The page is looked at on a
reduced copy (long side at most ``WORK_SIDE``):

1. ink relative to the local paper colour (uneven light and tinted paper vanish), binarised
   with Otsu's threshold;
2. the skew: the shear that makes the row profile of the ink sharpest;
3. line centres: peaks of the smoothed, levelled row profile; bands that hold only dots,
   specks or bits of other lines cut by the image edge are not lines;
4. each line's centre followed across the page in vertical strips (wavy lines), and the
   boundary between two neighbouring lines laid where the profile between them is lowest;
5. every connected piece of ink goes to the line whose band holds most of its mass; a piece
   with a good share of its mass in two lines (a descender touching the ascender below) is cut
   at the boundary.

Each line comes back as a box and an outline in the input's pixels, and as a crop in which the
other lines' ink has been painted over with paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from htr.errors import BadImageError, NoInkError
from htr.preprocess import ink_threshold, light_writing_on_dark, printed_rules, to_gray

WORK_SIDE = 1200  # the analysis runs on a copy no larger than this on its long side
_MIN_CONTRAST = 0.12
_MAX_SLOPE = 0.18  # about 10 degrees of skew
_SPLIT_SHARE = 0.2  # a piece with at least this share of its ink in a second line is cut


@dataclass
class TextLine:
    """One line of writing found on a page.

    ``box`` is ``(x, y, w, h)`` in the input image's pixels; ``polygon`` its outline as
    (N, 2) x, y points (upper edge left to right, then lower edge back); ``crop`` the box cut
    from the page (grey, uint8) with the ink of the other lines painted out.
    """

    box: tuple[int, int, int, int]
    polygon: np.ndarray
    crop: np.ndarray
    ink: int = 0  # ink pixels on the analysis copy

    def to_json(self) -> dict:
        return {"box": [int(v) for v in self.box]}


@dataclass
class PageLayout:
    """The lines of a page, top to bottom, and what was measured on the way."""

    lines: list[TextLine]
    size: tuple[int, int]  # width, height of the input
    skew: float = 0.0  # degrees the lines fall to the right (y grows downwards)
    line_height: float = 0.0  # typical line pitch, input pixels
    scale: float = 1.0  # of the analysis copy against the input
    line_map: np.ndarray | None = None  # analysis copy: line number of each ink pixel, -1 elsewhere

    def line_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Line number at input-pixel positions (-1 where no line's ink is)."""
        if self.line_map is None:
            return np.full(np.shape(x), -1)
        h, w = self.line_map.shape
        cols = np.clip((np.asarray(x) * self.scale).astype(np.int64), 0, w - 1)
        rows = np.clip((np.asarray(y) * self.scale).astype(np.int64), 0, h - 1)
        return self.line_map[rows, cols]

    @property
    def boxes(self) -> list[tuple[int, int, int, int]]:
        return [line.box for line in self.lines]


def _background(gray: np.ndarray) -> np.ndarray:
    """Paper brightness: a grey closing (max filter) on a small copy, blown back up."""
    h, w = gray.shape
    window = max(15.0, 0.02 * max(h, w))  # wider than any stroke, narrow enough to follow a shadow
    f = max(1, int(window // 5))
    small = cv2.resize(gray, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    k = max(3, int(round(window / f))) | 1
    bg = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    bg = cv2.blur(bg, (k, k))
    return cv2.resize(bg, (w, h), interpolation=cv2.INTER_LINEAR)


_BAND_DARK = 0.8  # an edge band is at most this share of the paper's brightness beside it
_BAND_REACH = 0.2  # ... the paper looked for this share of the page's width (height) inwards
_BAND_GAP = 0.03  # light beyond a band (the scanner's lid) up to this share of the page is allowed
_BAND_MIN = 0.006  # a band is at least this share of the page's long side wide
_BAND_LENGTH = 0.5  # ... and solidly dark along at least this share of the page's side


def _edge_bands_1d(gray: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Dark bands at the left and right edge of ``gray`` as (first column, end column, first
    row, end row): runs of columns from the edge (or from a thin light rim beyond it) that are
    darker than ``_BAND_DARK`` of the paper a little further in along a good part of the page's
    height, solidly so (nearly every column of the run dark in each of those rows), and wider
    than a pen's stroke."""
    h, w = gray.shape
    low = np.percentile(gray, 30, axis=0)  # writing covers far less than that share of a column
    reach = max(3, int(_BAND_REACH * w))
    min_width = max(3, int(round(_BAND_MIN * max(h, w))))
    bands = []
    for flip in (False, True):
        profile = low[::-1] if flip else low
        # the brightest column within reach inwards: the paper a band is darker than
        ref = cv2.dilate(profile.astype(np.float32).reshape(1, -1), np.ones((1, reach + 1), np.uint8),
                         anchor=(0, 0), borderType=cv2.BORDER_REPLICATE).ravel() if w > 1 else profile
        dark = profile < _BAND_DARK * ref
        start = 0
        while start < min(w, int(_BAND_GAP * w) + 1) and not dark[start]:
            start += 1
        end = start
        while end < w and dark[end]:
            end += 1
        if end - start < min_width or end >= 0.5 * w:
            continue
        columns = gray[:, w - end : w - start] if flip else gray[:, start:end]
        solid = (columns < _BAND_DARK * ref[end]).mean(axis=1) >= 0.8
        solid = cv2.morphologyEx(solid.astype(np.uint8).reshape(-1, 1), cv2.MORPH_CLOSE,
                                 np.ones((max(3, h // 50) | 1, 1), np.uint8)).ravel().astype(bool)
        runs = np.flatnonzero(np.diff(np.concatenate([[0], solid.astype(np.int8), [0]])))
        if not len(runs):
            continue
        first, last = max(zip(runs[::2], runs[1::2]), key=lambda r: r[1] - r[0])
        if last - first < _BAND_LENGTH * h:
            continue
        bands.append((w - end, w, int(first), int(last)) if flip else (0, end, int(first), int(last)))
    return bands


def _without_edge_bands(gray: np.ndarray) -> np.ndarray:
    """The page with the dark bands along its edges painted with the paper beside them.

    A scanner's edge (a grey strip where the sheet ended), a book's binding shadow or a
    copier's black margin is not writing; left in, its rim became a line of its own or ran
    the lines out to the page's edge. A band is far wider than a stroke, solid along much of
    the page's side and darker than the paper next to it, which handwriting never is."""
    out = gray
    for axis in (1, 0):
        g = out if axis == 1 else out.T
        h, w = g.shape
        bands = _edge_bands_1d(g)
        if not bands:
            continue
        g = g.copy()
        grow = max(2, int(round(0.004 * max(h, w))))  # the band's soft rim goes with it
        for c0, c1, r0, r1 in bands:
            c0, c1 = max(0, c0 - grow), min(w, c1 + grow)
            r0, r1 = max(0, r0 - grow), min(h, r1 + grow)
            # the paper of each row just inside the band, carried across it
            side = g[r0:r1, c1 : c1 + 4 * grow] if c0 == 0 else g[r0:r1, max(0, c0 - 4 * grow) : c0]
            if side.size == 0:
                continue
            paper = cv2.dilate(side.max(axis=1).astype(np.float32).reshape(-1, 1), np.ones((9, 1), np.uint8)).ravel()
            g[r0:r1, c0:c1] = paper[:, None]
        out = g if axis == 1 else g.T
    return out


def _binarise(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ink mask and paper brightness of a grey page."""
    background = _background(gray)
    ink = np.clip(1.0 - gray / np.maximum(background, 1e-3), 0.0, 1.0)
    return ink > ink_threshold(ink, 0.3), background


def _skew_slope(xs: np.ndarray, ys: np.ndarray, step: float) -> float:
    """The shear dy/dx under which the ink's row profile is sharpest (lines lie flat)."""
    if len(xs) > 30000:
        pick = np.random.default_rng(0).choice(len(xs), 30000, replace=False)
        xs, ys = xs[pick], ys[pick]
    x = xs - xs.mean()
    best, best_slope = -1.0, 0.0
    for slope in np.linspace(-_MAX_SLOPE, _MAX_SLOPE, 37):
        y = ys - slope * x
        profile = np.bincount(((y - y.min()) / step).astype(np.int64)).astype(np.float64)
        score = float(profile @ profile)
        if score > best * (1 + 1e-9):
            best, best_slope = score, float(slope)
    # refine around the best coarse slope
    fine_step = 2 * _MAX_SLOPE / 36
    for slope in np.linspace(best_slope - fine_step, best_slope + fine_step, 9):
        y = ys - slope * x
        profile = np.bincount(((y - y.min()) / step).astype(np.int64)).astype(np.float64)
        score = float(profile @ profile)
        if score > best * (1 + 1e-9):
            best, best_slope = score, float(slope)
    return best_slope


def _smooth(profile: np.ndarray, sigma: float) -> np.ndarray:
    sigma = max(0.5, sigma)
    radius = int(3 * sigma) + 1
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (t / sigma) ** 2)
    return np.convolve(profile, kernel / kernel.sum(), mode="same")


def _peaks(profile: np.ndarray, min_distance: float, min_dip: float = 0.75) -> list[int]:
    """Local maxima that stand out: between two kept peaks the profile dips below
    ``min_dip`` of the lower one, and kept peaks are at least ``min_distance`` apart."""
    n = len(profile)
    cand = [i for i in range(1, n - 1) if profile[i] > 0 and profile[i] >= profile[i - 1] and profile[i] > profile[i + 1]]
    if n and profile[0] > 0 and (n == 1 or profile[0] > profile[1]):
        cand.insert(0, 0)
    # strongest first; accept if separated from all accepted by a dip and a distance
    kept: list[int] = []
    for i in sorted(cand, key=lambda i: -profile[i]):
        ok = True
        for j in kept:
            lo, hi = min(i, j), max(i, j)
            dip = profile[lo : hi + 1].min()
            if abs(i - j) < min_distance or dip > min_dip * min(profile[i], profile[j]):
                ok = False
                break
        if ok:
            kept.append(i)
    return sorted(kept)


def _rules(stats: np.ndarray, h: int, w: int) -> np.ndarray:
    """Long, thin, solid straight bars: the edge of the paper or of a shadow, ruled lines."""
    bw, bh = stats[:, cv2.CC_STAT_WIDTH].astype(np.float64), stats[:, cv2.CC_STAT_HEIGHT].astype(np.float64)
    density = stats[:, cv2.CC_STAT_AREA] / np.maximum(bw * bh, 1)
    vertical = (bh >= 0.4 * h) & (bw <= 0.04 * bh)
    horizontal = (bw >= 0.4 * w) & (bh <= 0.04 * bw)
    return (vertical | horizontal) & (density >= 0.3)


def _typical_height(stats: np.ndarray) -> float:
    """Area-weighted median height of the ink's pieces: words and letters, not dots."""
    heights = stats[:, cv2.CC_STAT_HEIGHT].astype(np.float64)
    areas = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    order = np.argsort(heights)
    cum = np.cumsum(areas[order])
    return float(heights[order][np.searchsorted(cum, 0.5 * cum[-1])])


def _track_curves(px: np.ndarray, ly: np.ndarray, centres: np.ndarray, width: int, sigma: float,
                  min_distance: float, strip: float) -> np.ndarray:
    """(n_lines, width) course of each line: the peaks of the row profiles of narrow vertical
    strips, followed from the strip with the most ink outwards, each line taking the peak
    nearest to where it was in the strip before (so a line that bends is followed)."""
    n_lines = len(centres)
    n_strips = max(1, int(round(width / strip)))
    if n_lines < 2 or n_strips < 3:
        return np.repeat(centres[:, None], width, axis=1).astype(np.float64)
    edges = np.linspace(0, width, n_strips + 1)
    mids = 0.5 * (edges[:-1] + edges[1:])
    sidx = np.clip(np.searchsorted(edges, px, side="right") - 1, 0, n_strips - 1)
    rows = int(ly.max()) + 2
    profiles = np.bincount(sidx * rows + ly.astype(np.int64), minlength=n_strips * rows).reshape(n_strips, rows)
    profiles = cv2.GaussianBlur(profiles.astype(np.float32), (int(6 * max(sigma, 0.5)) | 1, 1), max(sigma, 0.5))
    pitch = float(np.median(np.diff(centres)))
    reach = 0.25 * pitch
    peaks = [np.asarray(_peaks(profiles[s].astype(np.float64), min_distance), np.float64) for s in range(n_strips)]
    at = np.full((n_lines, n_strips), np.nan)

    def follow(s: int, previous: np.ndarray) -> None:
        taken: set[int] = set()
        order = np.argsort([np.min(np.abs(peaks[s] - p)) if len(peaks[s]) else np.inf for p in previous])
        for k in order:
            if len(peaks[s]) == 0:
                break
            d = np.abs(peaks[s] - previous[k])
            d[list(taken)] = np.inf
            j = int(np.argmin(d))
            if d[j] <= reach:
                taken.add(j)
                at[k, s] = peaks[s][j]

    start = int(np.argmax(profiles.sum(axis=1)))
    follow(start, centres)
    at[np.isnan(at[:, start]), start] = centres[np.isnan(at[:, start])]
    for step in (-1, 1):
        s = start + step
        while 0 <= s < n_strips:
            follow(s, at[:, s - step])
            missing = np.isnan(at[:, s])
            at[missing, s] = at[missing, s - step]
            s += step
    # keep the courses in order: a line never crosses its neighbour
    for k in range(1, n_lines):
        at[k] = np.maximum(at[k], at[k - 1] + 1)
    cols = np.arange(width, dtype=np.float64)
    return np.stack([np.interp(cols, mids, at[k]) for k in range(n_lines)])


def _centre_curves(px: np.ndarray, py: np.ndarray, owner: np.ndarray, n_lines: int, width: int,
                   strip: float) -> np.ndarray:
    """(n_lines, width) levelled y of each line's centre at every column: the median of its
    ink in vertical strips, interpolated (so a wavy or curved line is followed)."""
    n_strips = max(1, int(round(width / strip)))
    edges = np.linspace(0, width, n_strips + 1)
    mids = 0.5 * (edges[:-1] + edges[1:])
    cols = np.arange(width, dtype=np.float64)
    curves = np.zeros((n_lines, width))
    sidx = np.clip(np.searchsorted(edges, px, side="right") - 1, 0, n_strips - 1)
    for k in range(n_lines):
        sel = owner == k
        if not sel.any():
            curves[k] = np.nan
            continue
        ys, ss = py[sel], sidx[sel]
        order = np.argsort(ss, kind="stable")
        ys, ss = ys[order], ss[order]
        bounds = np.searchsorted(ss, np.arange(n_strips + 1))
        xs, meds = [], []
        total = len(ys)
        for s in range(n_strips):
            part = ys[bounds[s] : bounds[s + 1]]
            if len(part) >= max(8, 0.25 * total / n_strips):
                xs.append(mids[s])
                meds.append(float(np.median(part)))
        if not xs:
            curves[k] = float(np.median(ys))
            continue
        meds = np.asarray(meds)
        if len(meds) >= 3:  # a running median of three drops single-strip outliers
            padded = np.concatenate([meds[:1], meds, meds[-1:]])
            meds = np.median(np.stack([padded[:-2], padded[1:-1], padded[2:]]), axis=0)
        curves[k] = np.interp(cols, xs, meds)
    return curves


def _assign_pixels(px: np.ndarray, py: np.ndarray, boundaries: np.ndarray) -> np.ndarray:
    """Line index of each ink pixel: how many line boundaries lie above it at its column."""
    if len(boundaries) == 0:
        return np.zeros(len(px), np.int64)
    at = boundaries[:, px.astype(np.int64)]  # (n_lines - 1, n_pixels)
    return (py[None, :] > at).sum(axis=0)


def _boundaries(profile_y: np.ndarray, centres: np.ndarray, curves: np.ndarray) -> np.ndarray:
    """Boundary between lines k and k+1 at every column: the centre curves' course, placed at the
    fraction of the way where the page's levelled profile between the two centres is lowest."""
    bounds = []
    for k in range(len(centres) - 1):
        a, b = int(round(centres[k])), int(round(centres[k + 1]))
        if b - a < 2:
            frac = 0.5
        else:
            seg = profile_y[a : b + 1]
            low = np.flatnonzero(seg <= seg.min() + 1e-9)
            valley = a + 0.5 * (low[0] + low[-1])
            frac = float(np.clip((valley - a) / (b - a), 0.2, 0.8))
        bounds.append(curves[k] + frac * (curves[k + 1] - curves[k]))
    return np.asarray(bounds).reshape(len(bounds), curves.shape[1]) if bounds else np.zeros((0, curves.shape[1]))


def _where_absent(boundaries: np.ndarray, curves: np.ndarray, xs: np.ndarray, owner: np.ndarray,
                  typical: float) -> np.ndarray:
    """Beyond the ends of a line's writing (a short or indented line) its band closes: the
    space goes to the lines above and below, split at the line's own centre course (or all to
    the line above, past the end of a short last line)."""
    n_lines, width = curves.shape
    if n_lines < 2:
        return boundaries
    cols = np.arange(width)
    b = boundaries.copy()
    margin = 0.75 * typical
    for k in range(n_lines):
        mine = xs[owner == k]
        if len(mine) == 0:
            absent = np.ones(width, bool)
        else:
            lo, hi = np.percentile(mine, [0.5, 99.5])
            absent = (cols < lo - margin) | (cols > hi + margin)
        if not absent.any():
            continue
        if k > 0:
            b[k - 1, absent] = curves[k, absent] if k < n_lines - 1 else np.inf
        if k < n_lines - 1:
            b[k, absent] = curves[k, absent] if k > 0 else -np.inf
    # keep the boundaries in order, top to bottom
    finite = np.where(np.isfinite(b), b, np.where(b > 0, 1e12, -1e12))
    return np.minimum.accumulate(finite[::-1], axis=0)[::-1]


def _across_centre(px: np.ndarray, ly: np.ndarray, comp: np.ndarray, owner: np.ndarray, curves: np.ndarray,
                   n: int) -> np.ndarray:
    """Per pixel: whether its piece of ink has ink both above and below the centre course of the
    line holding most of it (a letter of that line, however small), as opposed to a dot, tail
    or speck beside it."""
    line = _majority(comp, owner, n, len(curves))[comp]
    above = ly < curves[line, px.astype(np.int64)]
    up = np.bincount(comp, weights=above, minlength=n)
    down = np.bincount(comp, weights=~above, minlength=n)
    return ((up > 0) & (down > 0))[comp]


def _fill_nan_curves(curves: np.ndarray, centres: np.ndarray) -> np.ndarray:
    for k in range(len(curves)):
        if np.isnan(curves[k]).any():
            curves[k] = centres[k]
    return curves


def _envelope(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each column of a boolean image: whether it has ink, its first and last ink row."""
    has = mask.any(axis=0)
    top = np.argmax(mask, axis=0)
    bottom = mask.shape[0] - 1 - np.argmax(mask[::-1], axis=0)
    return has, top, bottom


def _outlines(line_map: np.ndarray, lines: list[int], typical: float) -> list[np.ndarray]:
    """Each line's outline on the analysis copy, in the order of ``lines``: its upper edge left to
    right, then its lower edge back, through the middle of column groups about a line high,
    around the line's own ink.

    Every line's edge stays within the reach of most of its ink from its own centre course (a
    stray piece far off the course, or the tip of a long descender, does not drag an arm across
    the page), and where two lines' spans meet in a column they are cut apart between their
    centres: no outline enters another line's."""
    h, w = line_map.shape
    step = max(2, int(round(typical)))
    n_bins = -(-w // step)
    mids = (np.arange(n_bins) + 0.5) * step
    ys, xs = np.nonzero(line_map >= 0)
    labels = line_map[ys, xs]
    n = len(lines)
    top = np.full((n, n_bins), np.nan)
    bottom = np.full((n, n_bins), np.nan)
    centre = np.full((n, n_bins), np.nan)
    spans = []
    for i, k in enumerate(lines):
        sel = labels == k
        y, x = ys[sel].astype(np.float64), xs[sel]
        b = x // step
        order = np.lexsort((y, b))
        y, b = y[order], b[order]
        counts = np.bincount(b, minlength=n_bins)
        present = np.flatnonzero(counts)
        starts = np.concatenate([[0], np.cumsum(counts)])[:-1]
        meds = y[starts[present] + counts[present] // 2]
        if len(meds) >= 5:  # a running median of five: a stray piece does not move the course
            padded = np.concatenate([meds[:1], meds[:1], meds, meds[-1:], meds[-1:]])
            meds = np.median(np.stack([padded[j : j + len(meds)] for j in range(5)]), axis=0)
        lo, hi = int(present[0]), int(present[-1])
        course = np.interp(np.arange(lo, hi + 1), present, meds)
        centre[i, lo : hi + 1] = course
        off = y - centre[i, b]
        up = float(np.percentile(-off, 99)) + 1.0
        down = float(np.percentile(off, 99)) + 1.0
        t = np.full(n_bins, np.nan)
        u = np.full(n_bins, np.nan)
        np.fmin.at(t, b, y)
        np.fmax.at(u, b, y + 1)
        inside = np.arange(lo, hi + 1)
        t_in, u_in = t[lo : hi + 1], u[lo : hi + 1]
        has = ~np.isnan(t_in)
        t_in = np.interp(inside, inside[has], t_in[has])
        u_in = np.interp(inside, inside[has], u_in[has])
        # each group's edge also clears its neighbours' ink, so the straight edge between the
        # middles of two groups passes outside the ink of both
        t_in = np.minimum(t_in, np.minimum(np.r_[t_in[1:], np.inf], np.r_[np.inf, t_in[:-1]]))
        u_in = np.maximum(u_in, np.maximum(np.r_[u_in[1:], -np.inf], np.r_[-np.inf, u_in[:-1]]))
        top[i, lo : hi + 1] = np.minimum(np.maximum(t_in, course - up), course)
        bottom[i, lo : hi + 1] = np.maximum(np.minimum(u_in, course + down), course + 1)
        spans.append((int(xs[sel].min()), int(xs[sel].max()) + 1, lo, hi))
    gap = 1.0
    for b in range(n_bins):
        here = [i for i in range(n) if not np.isnan(centre[i, b])]
        here.sort(key=lambda i: centre[i, b])
        for a, c in zip(here, here[1:]):
            if top[c, b] < bottom[a, b] + gap:
                cut = 0.5 * (bottom[a, b] + top[c, b])
                cut = float(np.clip(cut, centre[a, b] + 0.5, max(centre[a, b] + 0.5, centre[c, b] - gap - 0.5)))
                bottom[a, b] = max(top[a, b] + 0.5, cut)
                top[c, b] = min(max(top[c, b], bottom[a, b] + gap), bottom[c, b] - 0.5)
    outlines = []
    for i, (x0, x1, lo, hi) in enumerate(spans):
        xs_ = np.concatenate([[x0], np.clip(mids[lo : hi + 1], x0, x1), [x1]])
        t = np.concatenate([[top[i, lo]], top[i, lo : hi + 1], [top[i, hi]]])
        u = np.concatenate([[bottom[i, lo]], bottom[i, lo : hi + 1], [bottom[i, hi]]])
        upper = np.stack([xs_, t], axis=1)
        lower = np.stack([xs_, u], axis=1)[::-1]
        outlines.append(np.concatenate([upper, lower]))
    return outlines


def segment_lines(image: np.ndarray, pad: float = 0.0, stop_at_one_line: bool = False) -> PageLayout | None:
    """A page or paragraph image (any layout numpy image) -> its text lines, top to bottom.

    ``pad`` widens each crop by that fraction of the line pitch on every side. By default the
    crop ends where the line's own ink ends: the recogniser adds its own margin, and a loose
    speck inside a wider crop would make it shrink the writing (best-path CER on 50 stacked
    IAM pages: 13.9 % unpadded, 14.9 % with 0.08). NoInkError if the image holds no writing.

    ``stop_at_one_line``: None as soon as the image is known to hold a single line, for callers
    that then read it whole (about half the work on a line image). Every step after the row
    profile's peaks only merges lines, so one peak left there is one line in the end.
    """
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
        raise BadImageError(f"not an image: {type(image).__name__} {getattr(image, 'shape', '')}")
    full = _grey_u8(image)
    if full is None:  # 16-bit, float, alpha ...: the package's own conversion (refuses odd arrays)
        full = to_gray(image)
    H, W = full.shape
    scale = min(1.0, WORK_SIDE / max(H, W))
    size = (max(1, round(W * scale)), max(1, round(H * scale)))
    small = cv2.resize(full, size, interpolation=cv2.INTER_AREA) if scale < 1 else full
    if light_writing_on_dark(small):  # lines cut from the negative read as dark ink on paper
        full, small = _negative(full), _negative(small)
    gray = small.astype(np.float32) / 255.0 if small.dtype == np.uint8 else small
    if float(gray.max() - gray.min()) < _MIN_CONTRAST / 3:
        raise NoInkError("no handwriting found: the image is one uniform colour")
    gray = _without_edge_bands(gray)
    mask, background = _binarise(gray)
    mask &= ~printed_rules(mask, several_lines=True)  # ruled paper: rules crossing the writing would join its lines
    h, w = mask.shape
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        raise NoInkError("no handwriting found: the image is blank")
    keep = np.zeros(n, bool)
    keep[1:] = ~_rules(stats[1:], h, w)
    if not keep.any():
        raise NoInkError("no handwriting found: only straight lines (page edges, shadows or rulings)")
    areas = stats[:, cv2.CC_STAT_AREA]
    keep &= areas >= max(3, 0.002 * areas[keep].max())
    ys_all, xs_all = np.nonzero(labels)
    comp = labels[ys_all, xs_all]
    sel = keep[comp]
    px, py, comp = xs_all[sel].astype(np.float64), ys_all[sel].astype(np.float64), comp[sel]
    kept_stats = stats[keep]
    typical = max(3.0, _typical_height(kept_stats))

    slope = _skew_slope(px, py, max(1.0, typical / 12))
    cx = w / 2.0
    ly = py - slope * (px - cx)  # levelled rows
    offset = ly.min()
    ly = ly - offset
    rows = int(np.ceil(ly.max())) + 2
    raw_profile = np.bincount(ly.astype(np.int64), minlength=rows).astype(np.float64)
    profile = _smooth(raw_profile, 0.18 * typical)
    centres = np.asarray(_peaks(profile, 0.45 * typical), np.float64)
    if len(centres) == 0:
        centres = np.asarray([float(np.argmax(profile))])

    # Bands that are not lines (dots, specks, bits of the neighbouring lines cut by the image's
    # edge) go to the nearest line.
    def owners_for(cents):
        bounds = np.asarray([0.5 * (cents[k] + cents[k + 1]) for k in range(len(cents) - 1)])
        return np.searchsorted(bounds, ly) if len(bounds) else np.zeros(len(ly), np.int64)

    comp_top = stats[:, cv2.CC_STAT_TOP]
    comp_bottom = comp_top + stats[:, cv2.CC_STAT_HEIGHT]
    at_edge = (comp_top <= 1) | (comp_bottom >= h - 1)
    tall = stats[:, cv2.CC_STAT_HEIGHT] >= 0.4 * typical
    while len(centres) > 1:
        owner = owners_for(centres)
        # a band is a line when it holds a piece of ink of line height (majority owner)
        majority = _majority(comp, owner, n, len(centres))
        real = np.zeros(len(centres), bool)
        mass = np.bincount(owner, minlength=len(centres)).astype(np.float64)
        for k in range(len(centres)):
            pieces = np.flatnonzero((majority == k) & tall & ~at_edge)
            real[k] = len(pieces) > 0
        # the first or last band cut by the image's edge (a neighbouring line in a tight crop)
        heaviest = int(np.argmax(mass))
        for k in {0, len(centres) - 1} - {heaviest}:
            pieces = majority == k
            cut = float(stats[pieces & at_edge, cv2.CC_STAT_AREA].sum())
            if cut >= 0.5 * float(stats[pieces, cv2.CC_STAT_AREA].sum()):
                real[k] = False
        weak = mass < 0.02 * mass.max()
        real &= ~weak
        if real.all() or not real.any():
            break
        centres = centres[real]
    # Two peaks far closer than the page's line pitch are one line (the two ends of a line
    # sloping more than the page), or a line and a row of loose descenders: keep the heavier.
    while len(centres) > 2:
        gaps = np.diff(centres)
        pitch = float(np.median(gaps))
        k = int(np.argmin(gaps))
        if gaps[k] >= 0.55 * pitch:
            break
        mass = np.bincount(owners_for(centres), minlength=len(centres))
        centres = np.delete(centres, k if mass[k] < mass[k + 1] else k + 1)
    if stop_at_one_line and len(centres) == 1:
        return None

    # Follow each line across the page, then lay the boundaries; twice, so the centres come
    # from the lines' own ink.
    strip = max(2.5 * typical, w / 16)
    boundaries = np.zeros((0, w))
    tall_px = tall[comp]
    curves = _track_curves(px, ly, centres, w, 0.18 * typical, 0.45 * typical, 1.5 * typical)
    owner = _assign_pixels(px, ly, _boundaries(profile, centres, curves))
    for final in (False, True):
        curves = _fill_nan_curves(_centre_curves(px, ly, owner, len(centres), w, strip), centres)
        boundaries = _boundaries(profile, centres, curves)
        if final:
            # where a line's writing is: its tall pieces, and the small ones lying across its
            # centre course (faint letters broken into bits), not loose bits above or below it
            present = tall_px | _across_centre(px, ly, comp, owner, curves, n)
            boundaries = _where_absent(boundaries, curves, px[present], owner[present], typical)
        owner = _assign_pixels(px, ly, boundaries)

    # Pieces of ink go whole to their majority line unless they share a good part with another.
    n_lines = len(centres)
    counts = np.bincount(comp * n_lines + owner, minlength=n * n_lines).reshape(n, n_lines)
    totals = counts.sum(axis=1)
    majority = np.where(totals > 0, counts.argmax(axis=1), -1)
    second = np.sort(counts, axis=1)[:, -2] if n_lines > 1 else np.zeros(n)
    split = second >= _SPLIT_SHARE * np.maximum(totals, 1)
    line_of = np.where(split[comp], owner, majority[comp])
    if n_lines > 1:
        line_of = _reattach_small(px, py, comp, line_of, stats, split, majority, n_lines, w, typical)
        line_of = _onto_own_line(px, py, ly, comp, line_of, stats, split, curves, w, typical)

    line_of, centres = _drop_weak_lines(line_of, comp, tall, centres)
    line_of, centres = _hanging_lines(px, py, comp, line_of, stats, centres, w, typical)
    n_lines = len(centres)
    pitch = float(np.median(np.diff(centres))) if n_lines > 1 else 1.6 * typical
    line_map = np.full((h, w), -1, np.int32)
    result, order = _build_lines(full, background, scale, px, py, line_of, n_lines, line_map, pad * pitch,
                                 typical)
    rank = np.full(n_lines + 1, -1, np.int32)
    rank[order] = np.arange(len(order))
    line_map = rank[line_map]  # (-1 stays -1: rank[-1] is the spare last slot)
    return PageLayout(lines=result, size=(W, H), skew=float(np.degrees(np.arctan(slope))),
                      line_height=pitch / scale, scale=scale, line_map=line_map)


def _line_envelopes(px: np.ndarray, py: np.ndarray, line_of: np.ndarray, n_lines: int, width: int,
                    select: np.ndarray, reach: int) -> tuple[np.ndarray, np.ndarray]:
    """(n_lines, width) highest and lowest ink row of each line within ``reach`` columns
    (1e9 and -1e9 where the line has no ink near)."""
    top = np.full((n_lines, width), 1e9, np.float32)
    bottom = np.full((n_lines, width), -1e9, np.float32)
    for k in range(n_lines):
        sel = select & (line_of == k)
        if not sel.any():
            continue
        ys, xs = py[sel].astype(np.int64), px[sel].astype(np.int64)
        r0, c0 = ys.min(), xs.min()
        mask = np.zeros((ys.max() - r0 + 1, xs.max() - c0 + 1), bool)
        mask[ys - r0, xs - c0] = True
        has, t, b = _envelope(mask)
        cols = np.flatnonzero(has)
        top[k, c0 + cols] = r0 + t[cols]
        bottom[k, c0 + cols] = r0 + b[cols]
    kernel = np.ones((1, 2 * reach + 1), np.uint8)
    return (-cv2.dilate(-top, kernel)).astype(np.float64), cv2.dilate(bottom, kernel).astype(np.float64)


def _hanging_lines(px: np.ndarray, py: np.ndarray, comp: np.ndarray, line_of: np.ndarray, stats: np.ndarray,
                   centres: np.ndarray, width: int, typical: float) -> tuple[np.ndarray, np.ndarray]:
    """A "line" of a few loose pieces hanging just under (or sitting just on) a real line
    (descender tails drawn as separate strokes, a row of accents) joins that line."""
    while len(centres) > 1:
        n_lines = len(centres)
        ink = np.bincount(line_of, minlength=n_lines)
        top, bottom = _line_envelopes(px, py, line_of, n_lines, width, np.ones(len(px), bool), max(2, int(0.3 * typical)))
        joined = False
        for k in np.argsort(ink):
            if ink[k] >= 0.1 * ink.max():
                break
            pieces = np.unique(comp[line_of == k])
            for j in (k - 1, k + 1):
                if not 0 <= j < n_lines:
                    continue
                near = 0
                for c in pieces:
                    x0, y0 = stats[c, cv2.CC_STAT_LEFT], stats[c, cv2.CC_STAT_TOP]
                    x1, y1 = x0 + stats[c, cv2.CC_STAT_WIDTH], y0 + stats[c, cv2.CC_STAT_HEIGHT]
                    gap = (y0 - bottom[j, x0:x1]) if j < k else (top[j, x0:x1] - y1)
                    if gap.size and gap.min() <= 0.15 * typical:
                        near += int(np.sum((comp == c) & (line_of == k)))
                if near >= 0.8 * ink[k]:
                    line_of = np.where(line_of == k, j, line_of)
                    line_of = np.where(line_of > k, line_of - 1, line_of)
                    centres = np.delete(centres, k)
                    joined = True
                    break
            if joined:
                break
        if not joined:
            break
    return line_of, centres


def _reattach_small(px: np.ndarray, py: np.ndarray, comp: np.ndarray, line_of: np.ndarray, stats: np.ndarray,
                    split: np.ndarray, majority: np.ndarray, n_lines: int, width: int, typical: float) -> np.ndarray:
    """Small loose pieces (a descender's separate tail, a comma) that lie in a line's band
    beyond the end of its writing (a short last line) go to the neighbouring line whose
    writing they are close to."""
    heights = stats[:, cv2.CC_STAT_HEIGHT]
    big = heights[comp] >= 0.5 * typical
    top, bottom = _line_envelopes(px, py, line_of, n_lines, width, big, int(max(2, typical)))
    small = np.flatnonzero((heights < 0.5 * typical) & ~split & (majority >= 0))
    small = small[small > 0]
    out = line_of.copy()
    moved = {}
    for c in small:
        x0, y0 = stats[c, cv2.CC_STAT_LEFT], stats[c, cv2.CC_STAT_TOP]
        x1, y1 = x0 + stats[c, cv2.CC_STAT_WIDTH], y0 + stats[c, cv2.CC_STAT_HEIGHT]
        m = int(majority[c])
        gaps = {}
        for j in (m - 1, m, m + 1):
            if 0 <= j < n_lines:
                t, b = top[j, x0:x1], bottom[j, x0:x1]
                gap = np.maximum(0.0, np.maximum(t - y1, y0 - b))
                gaps[j] = float(gap.min()) if gap.size else np.inf
        best = min(gaps, key=gaps.get)
        if best != m and gaps[m] > 1e8 and gaps[best] < 0.5 * typical:
            moved[c] = best
    if moved:
        lut = np.full(len(stats), -1, np.int64)
        for c, j in moved.items():
            lut[c] = j
        new = lut[comp]
        out = np.where(new >= 0, new, out)
    return out


def _onto_own_line(px: np.ndarray, py: np.ndarray, ly: np.ndarray, comp: np.ndarray, line_of: np.ndarray,
                   stats: np.ndarray, split: np.ndarray, curves: np.ndarray, width: int,
                   typical: float) -> np.ndarray:
    """A small loose piece just past the end of a line's writing, on that line's centre course
    (a line-end hyphen, a full stop), belongs to that line, not to the line above or below whose
    band the boundaries gave it: past a line's end its band closes (:func:`_where_absent`).
    Such a piece stretched its wrong line's box over its own line (2 of 30 dense pages)."""
    n_lines = len(curves)
    heights = stats[:, cv2.CC_STAT_HEIGHT]
    top, _ = _line_envelopes(px, py, line_of, n_lines, width, np.ones(len(px), bool), int(max(2, 1.5 * typical)))
    n = len(stats)
    pixels = np.bincount(comp, minlength=n)
    centre_y = np.bincount(comp, weights=ly, minlength=n) / np.maximum(pixels, 1)
    line = _majority(comp, line_of, n, n_lines)
    lut = np.full(n, -1, np.int64)
    for c in np.flatnonzero((pixels > 0) & (heights < 0.5 * typical) & ~split):
        m = line[c]
        x0 = stats[c, cv2.CC_STAT_LEFT]
        x1 = x0 + stats[c, cv2.CC_STAT_WIDTH]
        xc = min(width - 1, (x0 + x1) // 2)
        if abs(centre_y[c] - curves[m, xc]) <= 1.5 * typical:
            continue
        for j in (m - 1, m + 1):
            if 0 <= j < n_lines and abs(centre_y[c] - curves[j, xc]) < 0.6 * typical and (top[j, x0:x1] < 1e8).any():
                lut[c] = j
                break
    moved = lut[comp]
    return np.where(moved >= 0, moved, line_of)


def _drop_weak_lines(line_of: np.ndarray, comp: np.ndarray, tall: np.ndarray,
                     centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lines left with only a speck or a few loose dots join the nearest line."""
    while len(centres) > 1:
        ink = np.bincount(line_of, minlength=len(centres))
        has_tall = np.zeros(len(centres), bool)
        has_tall[np.unique(line_of[tall[comp]])] = True
        weak = (ink < 0.04 * ink.max()) | ~has_tall
        if not weak.any():
            break
        k = int(np.flatnonzero(weak)[np.argmin(ink[weak])])
        others = [j for j in (k - 1, k + 1) if 0 <= j < len(centres)]
        target = min(others, key=lambda j: abs(centres[j] - centres[k]))
        line_of = np.where(line_of == k, target, line_of)
        line_of = np.where(line_of > k, line_of - 1, line_of)
        centres = np.delete(centres, k)
    return line_of, centres


def _majority(comp: np.ndarray, owner: np.ndarray, n: int, n_lines: int) -> np.ndarray:
    counts = np.bincount(comp * n_lines + owner, minlength=n * n_lines).reshape(n, n_lines)
    majority = counts.argmax(axis=1)
    majority[counts.sum(axis=1) == 0] = -1
    return majority


def _negative(gray: np.ndarray) -> np.ndarray:
    return 255 - gray if gray.dtype == np.uint8 else 1.0 - gray


def _grey_u8(image: np.ndarray) -> np.ndarray | None:
    """8-bit grey or RGB as one 8-bit grey channel (the quick path for photos and scans)."""
    if image.dtype != np.uint8 or min(image.shape[:2]) < 4:
        return None
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[..., 0]
    if image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return None


def _build_lines(full: np.ndarray, background: np.ndarray, scale: float, px: np.ndarray, py: np.ndarray,
                 line_of: np.ndarray, n_lines: int, line_map: np.ndarray, pad: float,
                 typical: float) -> tuple[list[TextLine], list[int]]:
    """The lines top to bottom (and their indices in that order), ``line_map`` filled in."""
    H, W = full.shape
    h, w = line_map.shape
    line_map[py.astype(np.int64), px.astype(np.int64)] = line_of
    lines = []
    order = []
    for k in range(n_lines):
        sel = line_of == k
        if not sel.any():
            continue
        order.append((float(np.median(py[sel])), k))
    order.sort()
    inv = 1.0 / scale
    outlines = dict(zip([k for _, k in order], _outlines(line_map, [k for _, k in order], typical)))
    for _, k in order:
        sel = line_of == k
        xs, ys = px[sel], py[sel]
        x0, x1 = xs.min(), xs.max() + 1
        y0, y1 = ys.min(), ys.max() + 1
        bx0 = int(max(0, np.floor(x0 * inv)))
        by0 = int(max(0, np.floor(y0 * inv)))
        bx1 = int(min(W, np.ceil(x1 * inv)))
        by1 = int(min(H, np.ceil(y1 * inv)))
        # crop with a margin, the other lines' ink painted with paper
        m = int(round(pad * inv))
        cx0, cy0, cx1, cy1 = max(0, bx0 - m), max(0, by0 - m), min(W, bx1 + m), min(H, by1 + m)
        crop = full[cy0:cy1, cx0:cx1]
        crop = crop.astype(np.float32) / 255.0 if crop.dtype == np.uint8 else crop.copy()
        rows = np.minimum((np.arange(cy0, cy1) * scale).astype(np.int64), h - 1)
        cols = np.minimum((np.arange(cx0, cx1) * scale).astype(np.int64), w - 1)
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        sub = line_map[r0:r1, c0:c1]
        others = ((sub >= 0) & (sub != k)).astype(np.uint8)
        if others.any():
            others = cv2.dilate(others, np.ones((3, 3), np.uint8)) & (sub != k).astype(np.uint8)
            paint = others[np.ix_(rows - r0, cols - c0)] > 0
            paper = background[np.ix_(rows, cols)]
            crop = np.where(paint, np.maximum(crop, paper), crop)
        polygon = outlines[k] * inv
        lines.append(TextLine(box=(bx0, by0, bx1 - bx0, by1 - by0), polygon=polygon,
                              crop=np.clip(crop * 255 + 0.5, 0, 255).astype(np.uint8), ink=int(sel.sum())))
    return lines, [k for _, k in order]
