"""Turn any picture of a text line into what the network reads.

The same function serves training and inference, so a canvas drawing, a rendered line, a
scan, a photo or light writing on a dark ground all arrive in one form: float32 ink
intensity in [0, 1] (1 = ink, 0 = paper), the ink cropped with a small margin, scaled to a
fixed height.
"""


import cv2
import numpy as np

from htr.errors import BadImageError, NoInkError
from htr.imageio import MIN_SIDE as _MIN_SIDE
from htr.imageio import WORK_SIDE as _MAX_SIDE  # bigger photos gain nothing
from htr.slant import deslanted

# Ink that is less than this much darker than its surrounding paper is not ink.
_MIN_CONTRAST = 0.12
PAD = 4  # pixels of empty border around the ink, after scaling
# Lines tilted by less than _MIN_TILT are left alone. Beyond _MAX_TILT the line is close to
# upright, and which way it reads cannot be told from its shape.
_MIN_TILT, _MAX_TILT = 2.0, 60.0
_RULE_SEARCH_WIDTH = 400
_INK_LEVEL = 0.3  # ink-map level that counts as ink when comparing the two ways round
_MAX_RULES = 64  # straight segments looked at in one picture (a ruled page has dozens)
_RULE_COVER = 0.8  # share of the picture's width a printed rule covers with ink
_UPRIGHT_RULE_COVER = 0.95  # share of the picture's height a rule down it covers with ink
_UPRIGHT_RULE_MARGIN = 0.08  # share of the height such a rule must reach beyond the writing, above and below
_MAX_UPRIGHT_RULE_TILT = 30  # degrees from upright a rule down the picture is looked for at
_RIM = 9  # pixels around the strokes (as a square's side) where fainter ink still counts as theirs


def to_gray(image: np.ndarray) -> np.ndarray:
    """Any layout and depth -> float32 luminance in [0, 1]; transparency becomes white paper."""
    if not isinstance(image, np.ndarray):
        raise BadImageError(f"expected an image array, got {type(image).__name__}")
    if image.size == 0 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 2, 3, 4)):
        raise BadImageError(f"not an image: array of shape {image.shape}")
    if min(image.shape[:2]) < _MIN_SIDE:
        raise BadImageError(f"image too small ({image.shape[1]} x {image.shape[0]} pixels) to hold a line of text")
    if image.dtype == np.bool_:
        img = image.astype(np.float32)
    elif np.issubdtype(image.dtype, np.integer):
        img = image.astype(np.float32) / float(np.iinfo(image.dtype).max)
    elif np.issubdtype(image.dtype, np.floating):
        with np.errstate(over="ignore", invalid="ignore"):  # float64 beyond float32: inf, clipped below
            img = image.astype(np.float32)
        img[np.isnan(img)] = 1.0  # missing values are paper, not ink
        if img.max() > 1.0:
            img = img / 255.0
    else:
        raise BadImageError(f"unsupported pixel type {image.dtype}")
    img = np.clip(img, 0.0, 1.0)  # (signed integers, values beyond the range, infinities)
    if img.ndim == 2:
        return np.clip(img, 0.0, 1.0)
    channels = img.shape[2]
    alpha = img[..., -1] if channels in (2, 4) else None
    colour = img[..., : 3 if channels >= 3 else 1]
    gray = colour[..., 0] if colour.shape[2] == 1 else cv2.cvtColor(np.ascontiguousarray(colour), cv2.COLOR_RGB2GRAY)
    if alpha is not None:
        composite = gray * alpha + (1.0 - alpha)  # onto white paper
        if float(np.ptp(composite)) < _MIN_CONTRAST / 3 and float(np.ptp(alpha)) > 0.25:
            # Light strokes on nothing (white ink on a transparent layer): the shape is in
            # the alpha alone, so read it as dark ink on white.
            return np.clip(1.0 - alpha, 0.0, 1.0)
        gray = composite
    return np.clip(gray, 0.0, 1.0)


def light_writing_on_dark(gray: np.ndarray) -> bool:
    """Whether a picture holds light writing on a dark ground: a blackboard, a dark-mode screen.

    Only a picture whose median is dark and whose light end stands far above it can be one.
    Then the ink map is made both ways round: taken the right way, writing is thin strokes and
    the ink is sparse; the wrong way, the ground around every stroke counts as ink. So a photo
    half in shadow, a dim photo of paper or a sheet on a dark desk keeps its dark writing.
    """
    g = gray.astype(np.float32) / 255.0 if gray.dtype == np.uint8 else gray.astype(np.float32)
    step = max(1, int(np.sqrt(g.size / 250_000)))  # a quarter megapixel decides as well as all of it
    g = np.ascontiguousarray(g[::step, ::step])
    if np.count_nonzero(g < 0.5) <= (g.size - 1) // 2:
        return False  # the median is light (both middle values are): as below, only faster
    middle, high = np.percentile(g, [50, 99.9])
    if middle >= 0.5 or high - middle < 0.25:
        return False
    dark_ink = ink_map(g) > _INK_LEVEL
    light_ink = ink_map(1.0 - g) > _INK_LEVEL
    return float(light_ink.mean()) < 0.5 * float(dark_ink.mean())


def as_dark_on_light(gray: np.ndarray) -> np.ndarray:
    """A float grey picture with its writing dark on light: negated if it is light on dark."""
    return 1.0 - gray if light_writing_on_dark(gray) else gray


def _shrink(gray: np.ndarray) -> np.ndarray:
    h, w = gray.shape
    factor = _MAX_SIDE / max(h, w)
    if factor < 1:
        gray = cv2.resize(gray, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
    return gray


def ink_map(gray: np.ndarray) -> np.ndarray:
    """Ink darkness relative to the local paper colour, so uneven light and tinted paper vanish."""
    h, w = gray.shape
    k = int(max(15, min(h, w) // 6)) | 1
    # Paper brightness: a grey closing (max filter) removes strokes thinner than k.
    background = cv2.dilate(gray, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    background = cv2.blur(background, (k, k))
    return np.clip(1.0 - gray / np.maximum(background, 1e-3), 0.0, 1.0)


def ink_threshold(ink: np.ndarray, peak_share: float) -> float:
    """Where ink starts in an ink map: Otsu's threshold, but never below ``peak_share`` of the
    darkest strokes (faint paper noise stays paper). NoInkError if there is too little contrast."""
    peak = float(np.percentile(ink, 99.9))
    if peak < _MIN_CONTRAST:
        raise NoInkError("no handwriting found: the image is blank or has too little contrast")
    ink8 = np.clip(ink * 255, 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(ink8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return max(otsu / 255.0, _MIN_CONTRAST, peak_share * peak)


def _components(mask: np.ndarray) -> tuple:
    """OpenCV's 8-connected pieces of a mask: (count, labels, stats, centroids)."""
    return cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)


def _ink_box(mask: np.ndarray, components: tuple | None = None) -> tuple[int, int, int, int]:
    """Bounding box of the ink, ignoring isolated specks of noise (``components``: the mask's
    own, if already found)."""
    n, _, stats, _ = components if components is not None else _components(mask)
    if n <= 1:
        raise NoInkError("no handwriting found: the image is blank")
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = stats[1:][areas >= max(3, 0.002 * areas.max())]
    if len(keep) == 0:
        raise NoInkError("no handwriting found: only specks of a pixel or two")
    x0 = keep[:, cv2.CC_STAT_LEFT].min()
    y0 = keep[:, cv2.CC_STAT_TOP].min()
    x1 = (keep[:, cv2.CC_STAT_LEFT] + keep[:, cv2.CC_STAT_WIDTH]).max()
    y1 = (keep[:, cv2.CC_STAT_TOP] + keep[:, cv2.CC_STAT_HEIGHT]).max()
    return int(x0), int(y0), int(x1), int(y1)


def core_band(mask: np.ndarray) -> tuple[int, int]:
    """Rows of the line's body (its x-height zone): the densest run of ink rows.

    Ascenders and descenders, and bits of neighbouring lines, are sparse rows above and below.
    """
    profile = mask.sum(axis=1).astype(np.float32)
    window = max(3, mask.shape[0] // 25) | 1
    profile = cv2.blur(profile.reshape(-1, 1), (1, window)).ravel()
    peak = int(np.argmax(profile))
    dense = profile >= 0.5 * profile[peak]
    top, bottom = peak, peak
    while top > 0 and dense[top - 1]:
        top -= 1
    while bottom < len(dense) - 1 and dense[bottom + 1]:
        bottom += 1
    return top, bottom + 1


def neighbour_fragments(mask: np.ndarray, components: tuple | None = None) -> np.ndarray:
    """Ink of the lines above and below that a tight crop of a page keeps at its edges.

    A piece of ink that touches the top or bottom edge of the image without reaching the
    line's body belongs to a neighbouring line: its descenders or ascenders. Our own
    ascenders and descenders are joined to letters in the body, so they stay. (Removing
    loose pieces far from the body as well was measured to cost more on drawn lines, whose
    dots and strokes float freely, than it gained on scans.) ``components``: the mask's own,
    if already found.
    """
    h = mask.shape[0]
    n, labels, stats, _ = components if components is not None else _components(mask)
    if n <= 2:
        return np.zeros_like(mask, dtype=bool)
    top, bottom = core_band(mask)
    y0 = stats[1:, cv2.CC_STAT_TOP]
    y1 = y0 + stats[1:, cv2.CC_STAT_HEIGHT]
    at_edge = (y0 <= 1) | (y1 >= h - 1)
    outside_body = (y1 <= top) | (y0 >= bottom)
    return np.isin(labels, np.flatnonzero(at_edge & outside_body) + 1)


def printed_rules(mask: np.ndarray, several_lines: bool = False) -> np.ndarray:
    """Ink of long straight lines: the rules of lined paper, a form's line to write on, the
    margin line of a notebook, the grid of squared paper.

    Rules across the picture are straight segments over 40 % of its width (handwriting has
    none so long). Rules down it (a margin, a grid's columns) must run from the top edge to
    the bottom one and reach well beyond the writing above and below it: a tightly cropped
    line can have a straight down-stroke as tall as the crop, but not one taller than the
    rest of the writing. On a picture of ``several_lines`` (a page), no stroke runs the whole
    height, so that check is not needed: there, the writing can fill the page from top to bottom.
    Where a stroke crosses a rule, the crossing stays.
    """
    h, w = mask.shape
    nothing = np.zeros((h, w), bool)
    widest, tallest = _longest_pieces(mask)  # in the usual picture, no piece is long enough to look
    across, crossed = (_rules_along_rows(mask, 0.4, _RULE_COVER, max(4, 0.05 * h)) if widest >= 0.4
                       else (nothing, nothing))
    down, crossed_down = ((m.T for m in _rules_along_rows(mask.T, 0.9, _UPRIGHT_RULE_COVER, max(4, 0.05 * h),
                                                           exhaustive=True)) if tallest >= 0.9
                          else (nothing, nothing))
    if down.any() and not several_lines:
        near_rules = (cv2.dilate(down.astype(np.uint8), np.ones((1, 7), np.uint8))  # with their rims
                      | cv2.dilate(across.astype(np.uint8), np.ones((7, 1), np.uint8))).astype(bool)
        rows = np.flatnonzero((mask & ~near_rules).any(axis=1))
        margin = _UPRIGHT_RULE_MARGIN * h
        if not rows.size or rows[0] < margin or rows[-1] > h - 1 - margin:
            down[:] = False  # the writing reaches as high or as low as the "rule": a stroke of it
    # Strokes crossing a rule stay; a rule crossing a rule (a grid's corners) does not.
    return (across & ~crossed) | (down & ~crossed_down) | (across & down)


def _longest_pieces(mask: np.ndarray) -> tuple[float, float]:
    """The widest and the tallest connected piece of ink, as shares of the picture's width and height."""
    h, w = mask.shape
    if w < 40 or not mask.any():
        return 0.0, 0.0
    scale = min(1.0, _RULE_SEARCH_WIDTH / w)
    small = np.ascontiguousarray(mask, dtype=np.uint8)
    if scale < 1:
        small = (cv2.resize(small * 255, (_RULE_SEARCH_WIDTH, max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
                 > 0).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(small, connectivity=8)
    if n <= 1:
        return 0.0, 0.0
    return (float(stats[1:, cv2.CC_STAT_WIDTH].max()) / small.shape[1],
            float(stats[1:, cv2.CC_STAT_HEIGHT].max()) / small.shape[0])


def _cover(mask: np.ndarray, centre: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """How many ink pixels lie along ``centre`` (a row for each column) moved by each offset."""
    h, w = mask.shape
    xs = np.arange(w)
    cover = np.zeros(len(offsets), int)
    for k, d in enumerate(offsets):
        ys = np.floor(centre + d + 0.5).astype(int)
        inside = (ys >= 0) & (ys < h)
        cover[k] = int(mask[ys[inside], xs[inside]].sum())
    return cover


def _straight_lines(mask: np.ndarray, votes: int) -> np.ndarray:
    """(x0, y0, x1, y1) across the mask of each line within _MAX_UPRIGHT_RULE_TILT degrees of
    level that at least ``votes`` pixels lie on, strongest first, near-duplicates dropped."""
    tilt = np.radians(_MAX_UPRIGHT_RULE_TILT)
    lines = cv2.HoughLines(mask, 1, np.pi / 360, votes, min_theta=np.pi / 2 - tilt, max_theta=np.pi / 2 + tilt)
    if lines is None:
        return np.zeros((0, 4))
    kept: list[tuple[float, float]] = []
    for rho, theta in lines.reshape(-1, 2):
        if all(abs(rho - r) > 3 or abs(theta - t) > 0.05 for r, t in kept):
            kept.append((float(rho), float(theta)))
    w = mask.shape[1] - 1
    # x cos(theta) + y sin(theta) = rho, at the left and right edges
    return np.array([(0, rho / np.sin(t), w, (rho - w * np.cos(t)) / np.sin(t)) for rho, t in kept[:_MAX_RULES]])


def _rules_along_rows(mask: np.ndarray, min_length: float, cover_share: float, max_band: float,
                      exhaustive: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Ink of straight lines that run across the whole mask from its left edge to its right,
    tilted up to 45 degrees, found on the mask shrunk to 400 pixels wide (a line's pixel
    width says nothing more about straightness, and costs) and kept if, at full size, ink
    runs along them across ``cover_share`` of the width in a band no thicker than
    ``max_band`` rows.

    The quick search finds segments over ``min_length`` of the width, at random: each
    segment it tries, even one it then drops, uses up its pixels. Where strokes are dense
    and the mask short (rules down a line of writing), that can leave a rule in pieces too
    short, so the ``exhaustive`` search lets every pixel vote for every line through it.
    Returns the rules' ink, and the part of it where something crosses them.
    """
    h, w = mask.shape
    found = np.zeros((h, w), np.uint8)
    if w < 40 or not mask.any():
        return found.astype(bool), found.astype(bool)
    ink = np.ascontiguousarray(mask, dtype=np.uint8)  # (OpenCV reads a transposed view wrongly)
    scale = min(1.0, _RULE_SEARCH_WIDTH / w)
    small = ink if scale == 1 else (cv2.resize(ink * 255, (_RULE_SEARCH_WIDTH, max(1, round(h * scale))),
                                               interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
    length = int(min_length * small.shape[1])
    n, _, stats, _ = cv2.connectedComponentsWithStats(small, connectivity=8)
    if n <= 1 or stats[1:, cv2.CC_STAT_WIDTH].max() < length:  # nothing long enough: the usual case
        return found.astype(bool), found.astype(bool)
    if exhaustive:
        segments = _straight_lines(small, int(cover_share * small.shape[1]))
    else:
        segments = cv2.HoughLinesP(small, 1, np.pi / 360, threshold=length // 2, minLineLength=length,
                                   maxLineGap=max(3, small.shape[1] // 100))
    if segments is None or not len(segments):
        return found.astype(bool), found.astype(bool)
    reach = int(np.ceil(1 / scale))  # how far off the shrunk mask's line can be at full size
    thickness = 1
    xs = np.arange(w)
    for x0, y0, x1, y1 in segments.reshape(-1, 4)[:_MAX_RULES].astype(float) / scale:
        if abs(y1 - y0) > abs(x1 - x0) or x1 == x0:
            continue  # steeper than 45 degrees
        # A printed rule crosses the whole picture: follow it from edge to edge, at full size.
        centre = y0 + (y1 - y0) / (x1 - x0) * (xs - x0)
        if found[int(np.clip(round(centre[w // 2]), 0, h - 1)), w // 2]:
            continue  # a rule already found
        offsets = np.arange(-2 * reach - 2, 2 * reach + 3)
        # The exhaustive search's slopes come in steps that can be a pixel or two off over the
        # picture: take the slope, within that, along which the rule's ink lies in the fewest
        # rows (the sharpest profile).
        cover, centre = max(((_cover(mask, turned, offsets), turned) for turned in
                             (centre + k * (xs - w / 2) / w for k in ((0, -1, 1, -2, 2) if exhaustive else (0,)))),
                            key=lambda candidate: float(np.square(candidate[0], dtype=float).sum()))
        peak = int(np.argmax(cover))
        if cover[peak] < cover_share * w:
            continue  # straight but broken: the feet of letters on a straight baseline
        # the rows of the rule: those next to its best along which (nearly) all of it is ink
        first, last = peak, peak
        while first > 0 and cover[first - 1] >= 0.6 * cover[peak]:
            first -= 1
        while last < len(cover) - 1 and cover[last + 1] >= 0.6 * cover[peak]:
            last += 1
        chosen = offsets[first: last + 1]
        if len(chosen) > max_band:
            continue  # a band this thick is the body of heavy writing, not a printed rule
        for d in chosen:
            ys = np.floor(centre + d + 0.5).astype(int)
            inside = (ys >= 0) & (ys < h)
            found[ys[inside], xs[inside]] = 1
        thickness = max(thickness, len(chosen))
    rule = (found & ink) > 0
    crossing = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((thickness + 4, 1), np.uint8)) > 0
    return rule, rule & crossing


def line_tilt(mask: np.ndarray) -> float:
    """Degrees the line of ink rises to the right (its principal axis), 0 when unsure.

    A written line is far wider than tall, so its ink's main axis follows the baseline;
    slanted letters shear it only by their height over the line's length.
    """
    m = cv2.moments(mask.astype(np.uint8), binaryImage=True)  # central moments = pixel covariance
    if m["m00"] < 20:
        return 0.0
    # The covariance's principal axes: the spread along the line and across it, at any tilt.
    spread = float(np.hypot(m["mu20"] - m["mu02"], 2 * m["mu11"]))
    along, across = m["mu20"] + m["mu02"] + spread, m["mu20"] + m["mu02"] - spread
    if along < 9 * across:  # not clearly a line (a word or two at most): do not guess
        return 0.0
    return -float(np.degrees(0.5 * np.arctan2(2 * m["mu11"], m["mu20"] - m["mu02"])))


def _level(ink: np.ndarray, tilt: float) -> np.ndarray:
    """The ink map rotated by ``tilt`` degrees so its line runs level, on a canvas that holds it all."""
    h, w = ink.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), -tilt, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = int(np.ceil(w * cos + h * sin)), int(np.ceil(h * cos + w * sin))
    matrix[:, 2] += ((new_w - w) / 2, (new_h - h) / 2)
    return cv2.warpAffine(ink, matrix, (new_w, new_h), flags=cv2.INTER_LINEAR, borderValue=0.0)


def preprocess(image: np.ndarray, height: int = 64, max_width: int = 2048, deslant: float = 0.0) -> np.ndarray:
    """Image of a line -> float32 (height, width) ink map; NoInkError if there is no ink.

    ``deslant``: the share of the writing's slant to take out (htr.slant), as the model's
    config says it was trained.
    """
    gray = as_dark_on_light(_shrink(to_gray(image)))
    if float(gray.max() - gray.min()) < _MIN_CONTRAST / 3:
        raise NoInkError("no handwriting found: the image is one uniform colour")
    ink = ink_map(gray)
    threshold = ink_threshold(ink, 0.35)
    mask = ink > threshold
    # Rules first: a rule is the densest row of ink, and would pass for the line's body.
    rules = printed_rules(mask)
    if rules.any():
        rules = cv2.dilate(rules.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~(mask & ~rules)
        ink = np.where(rules, 0.0, ink).astype(np.float32)
        mask &= ~rules
    components = _components(mask)  # found once for the fragments and the ink's box
    fragments = neighbour_fragments(mask, components)
    if fragments.any():
        components = None
        # Dilated a little: the fragments' soft (antialiased or blurred) rims go too.
        fragments = cv2.dilate(fragments.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        ink = np.where(fragments, 0.0, ink).astype(np.float32)
        mask &= ~fragments
    # Faint ink away from every stroke (a squared paper's pale grid, show-through, texture)
    # would reappear after the contrast stretch below: only the strokes and their rims stay.
    near_strokes = cv2.dilate(mask.astype(np.uint8), np.ones((_RIM, _RIM), np.uint8)).astype(bool)
    ink = np.where(near_strokes, ink, 0.0).astype(np.float32)
    tilt = line_tilt(mask)
    if _MIN_TILT <= abs(tilt) <= _MAX_TILT:
        ink = _level(ink, tilt)
        mask = ink > threshold
        components = None
    x0, y0, x1, y1 = _ink_box(mask, components)
    crop = ink[y0:y1, x0:x1]
    # Contrast: the paper's residual noise to 0, typical stroke darkness to 1.
    strokes = crop[mask[y0:y1, x0:x1]]
    top = float(np.percentile(strokes, 90)) if strokes.size else 1.0  # (the box always holds ink)
    floor = 0.5 * threshold
    crop = np.clip((crop - floor) / max(top - floor, 1e-3), 0.0, 1.0)
    inner = height - 2 * PAD
    h, w = crop.shape
    width = max(1, round(w * inner / h))
    if width > max_width - 2 * PAD:
        width = max_width - 2 * PAD  # squeeze very long lines rather than lose their ends
    interp = cv2.INTER_AREA if h > inner else cv2.INTER_LINEAR
    scaled = np.clip(cv2.resize(crop, (width, inner), interpolation=interp), 0.0, 1.0)
    if deslant:
        scaled, _ = deslanted(scaled, deslant, max_width - 2 * PAD)
    return np.pad(scaled, ((PAD, PAD), (PAD, PAD))).astype(np.float32)
