
import cv2
import numpy as np
import pytest
from conftest import HAVE_IAM, NO_IAM, REAL_IAM

from htr.errors import BadImageError, NoInkError
from htr.imageio import read_image_file as load_image
from htr.preprocess import (
    PAD,
    light_writing_on_dark,
    line_tilt,
    preprocess,
    printed_rules,
    to_gray,
)


def line_image(height=120, width=600, ink=20, paper=255):
    image = np.full((height, width), paper, np.uint8)
    cv2.putText(image, "Hello world", (30, height // 2 + 20), cv2.FONT_HERSHEY_SIMPLEX, 2, ink, 4, cv2.LINE_AA)
    return image


def ink_extent(prepared):
    rows = np.where(prepared.max(axis=1) > 0.5)[0]
    cols = np.where(prepared.max(axis=0) > 0.5)[0]
    return rows.min(), rows.max(), cols.min(), cols.max()


def test_output_is_fixed_height_ink_map_cropped_with_margin():
    out = preprocess(line_image(), height=64)
    assert out.dtype == np.float32 and out.shape[0] == 64
    assert 0.0 <= out.min() and out.max() <= 1.0
    top, bottom, left, right = ink_extent(out)
    assert top <= PAD + 2 and bottom >= 64 - PAD - 3
    assert left <= PAD + 2 and right >= out.shape[1] - PAD - 3


@pytest.mark.parametrize(
    "convert",
    [
        lambda g: np.stack([g] * 3, axis=-1),  # RGB
        lambda g: g[..., None],  # H x W x 1
        lambda g: (g.astype(np.uint16) * 257),  # 16-bit
        lambda g: g.astype(np.float32) / 255.0,  # float
        lambda g: g > 128,  # bool
        lambda g: np.dstack([np.zeros_like(g)] * 3 + [255 - g]),  # black strokes on transparency
    ],
    ids=["rgb", "gray1", "uint16", "float", "bool", "rgba-transparent"],
)
def test_any_layout_gives_the_same_result(convert):
    gray = line_image()
    reference = preprocess(gray)
    out = preprocess(convert(gray))
    assert out.shape == reference.shape
    assert np.abs(out - reference).mean() < 0.05


def test_scale_and_margin_do_not_matter():
    small = line_image()
    big = np.full((800, 1600), 255, np.uint8)
    big[500:620, 300:900] = small
    assert abs(preprocess(big).shape[1] - preprocess(small).shape[1]) <= 2


def rotated(image, degrees):
    """``image`` turned ``degrees`` counter-clockwise on a white canvas that holds it all."""
    h, w = image.shape
    big = np.full((h + w, h + w), 255, np.uint8)
    big[w // 2: w // 2 + h, h // 2: h // 2 + w] = image
    matrix = cv2.getRotationMatrix2D(((h + w) / 2, (h + w) / 2), degrees, 1.0)
    return cv2.warpAffine(big, matrix, big.shape[::-1], borderValue=255)


@pytest.mark.parametrize("degrees", [-40, -8, -4, 4, 8, 15, 25, 55])
def test_tilted_lines_are_levelled(degrees):
    line = line_image(width=900)
    tilted = rotated(line, degrees)
    assert line_tilt(255 - tilted > 128) == pytest.approx(degrees, abs=1.0)
    level, out = preprocess(line), preprocess(tilted)
    # Levelled, the line is as long and short as the straight one, not a tall tilted box.
    assert abs(out.shape[1] - level.shape[1]) <= 0.1 * level.shape[1]
    straight_tilt = line_tilt(255 - line > 128)
    assert abs(straight_tilt) < 1.0


def test_light_writing_on_a_dark_ground_reads_as_dark_ink_on_paper():
    line = line_image()
    level = preprocess(line)
    for ground, ink in ((20, 235), (60, 200)):  # a dark-mode screen, a blackboard
        negative = (ground + (255 - line.astype(np.float32)) / 255 * (ink - ground)).astype(np.uint8)
        assert light_writing_on_dark(negative)
        out = preprocess(np.stack([negative] * 3, axis=-1))
        assert out.shape == level.shape and np.abs(out - level).mean() < 0.02


def test_dark_pictures_of_dark_writing_are_not_negated():
    line = line_image()
    dim = (line.astype(np.float32) * 0.35).astype(np.uint8)  # a photo taken in poor light
    on_desk = np.full((2 * line.shape[0], line.shape[1] + 200), 40, np.uint8)  # paper on a dark desk
    on_desk[60: 60 + line.shape[0], 100: 100 + line.shape[1]] = line
    for image in (line, dim, on_desk):
        assert not light_writing_on_dark(image)
    assert preprocess(dim).shape == preprocess(line).shape


@pytest.mark.parametrize("rows", [(81,), (20, 81, 118)], ids=["form line", "ruled paper"])
def test_printed_rules_are_removed_and_the_writing_on_them_kept(rows):
    line = line_image()
    drawn = np.zeros_like(line)
    for y in rows:  # the baseline of "Hello world" is row 80: the letters stand on the rule
        cv2.line(drawn, (0, y), (line.shape[1], y), 255, 2)
    ruled = np.where(drawn > 0, np.minimum(line, 90), line)
    text, rule_ink = line < 128, (drawn > 0) & (line >= 128)
    rules = printed_rules(ruled < 128)
    assert rules[rule_ink].mean() > 0.75  # the rules' ink is found (bits where letters stand on it stay) ...
    assert (rules & text).sum() < 0.05 * text.sum()  # ... and the letters are not
    assert not printed_rules(text).any()
    plain, out = preprocess(line), preprocess(ruled)
    assert abs(out.shape[1] - plain.shape[1]) < 0.1 * plain.shape[1]


@pytest.mark.parametrize("squared", [False, True], ids=["notebook margin", "squared paper"])
def test_rules_down_the_picture_are_removed(squared):
    """A notebook's margin line (or a grid's columns) runs from the top edge to the bottom one,
    well beyond the writing: it goes, the writing's box and reading stay as without it."""
    line = line_image()
    drawn = np.zeros_like(line)
    cv2.line(drawn, (12, 0), (12, line.shape[0]), 255, 2)  # the margin, just left of the writing
    if squared:
        for x in range(40, line.shape[1], 30):
            cv2.line(drawn, (x, 0), (x, line.shape[0]), 255, 1)
        for y in range(8, line.shape[0], 30):
            cv2.line(drawn, (0, y), (line.shape[1], y), 255, 1)
    lined = np.where(drawn > 0, np.minimum(line, 110), line)
    text, rule_ink = line < 128, (drawn > 0) & (line >= 128)
    rules = printed_rules(lined < 128)
    assert rules[rule_ink].mean() > 0.75
    assert (rules & text).sum() < 0.05 * text.sum()
    plain, out = preprocess(line), preprocess(lined)
    # the same box (give or take a pixel of a crossing), and no more ink than the writing's
    assert abs(out.shape[1] - plain.shape[1]) <= 0.05 * plain.shape[1]
    assert abs(out.sum() - plain.sum()) <= 0.1 * plain.sum()


def test_a_tall_straight_stroke_in_a_tight_crop_is_writing_not_a_rule():
    """Cropped tightly, a line's longest down-stroke can reach from the top edge to the bottom
    one; it is no taller than the rest of the writing, so it stays."""
    line = line_image()
    rows = np.flatnonzero((line < 128).any(axis=1))
    crop = line[rows[0]: rows[-1] + 1].copy()
    cv2.line(crop, (crop.shape[1] - 12, 0), (crop.shape[1] - 12, crop.shape[0]), 20, 3)  # an "l" as tall as the crop
    assert not printed_rules(crop < 128).any()


def test_uneven_light_and_grey_ink_are_normalised():
    gray = line_image(ink=110, paper=235).astype(np.float32)
    light = np.linspace(0.55, 1.0, gray.shape[1])[None, :]
    out = preprocess((gray * light).astype(np.uint8))
    top, bottom, left, right = ink_extent(out)
    assert left <= PAD + 2 and right >= out.shape[1] - PAD - 3  # dark side not taken for ink
    assert np.percentile(out[out > 0.3], 90) > 0.9  # faint ink stretched to full contrast


@pytest.mark.parametrize(
    "blank",
    [np.full((100, 400), 255, np.uint8), np.zeros((100, 400, 4), np.uint8), np.full((50, 50, 3), 128, np.uint8),
     np.zeros((100, 400), np.uint8)],
    ids=["white", "transparent", "grey", "black"],
)
def test_blank_images_are_a_clear_error(blank):
    with pytest.raises(NoInkError, match="no handwriting"):
        preprocess(blank)


@pytest.mark.parametrize(
    "bad", [np.zeros((2, 2), np.uint8), np.zeros((0, 10)), np.zeros((10, 10, 7), np.uint8), "text"],
    ids=["tiny", "empty", "7-channels", "string"],
)
def test_non_images_are_a_clear_error(bad):
    with pytest.raises(BadImageError):
        to_gray(bad)


def test_huge_image_is_handled():
    huge = np.full((8000, 8000), 255, np.uint8)
    huge[3000:3600, 1000:7000] = cv2.resize(line_image(), (6000, 600))
    out = preprocess(huge)
    assert out.shape[0] == 64 and out.shape[1] < 2048


def test_load_image_errors(tmp_path):
    with pytest.raises(BadImageError, match="no such file"):
        load_image(tmp_path / "missing.png")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    with pytest.raises(BadImageError, match="not a readable image"):
        load_image(junk)
    good = tmp_path / "ok.png"
    cv2.imwrite(str(good), np.dstack([np.zeros((20, 30), np.uint8)] * 3 + [np.full((20, 30), 255, np.uint8)]))
    assert load_image(good).shape == (20, 30, 4)


def real_dev_lines(count: int) -> list[np.ndarray]:
    """Real scanned IAM lines of writers unseen in training (the available-dev list)."""
    from htr.datasets import load_dataset

    if not HAVE_IAM:
        pytest.skip(NO_IAM)
    lines = load_dataset("iam", REAL_IAM, REAL_IAM / "splits" / "available-dev.txt")
    return [cv2.imread(str(s.path), cv2.IMREAD_GRAYSCALE) for s in lines.samples[:count]]


def test_neighbouring_lines_cut_by_the_crop_are_not_read(ondb_validation):
    """Descenders of the line above and ascenders of the line below, cut by the crop at the
    image's edges, are left out: the crop is the line's own, as tall and wide as without them.
    (Loose bits that do not reach the edge, such as a neighbour's i-dot, are not handled.)

    The line is a real IAM On-Line line cropped tight to its ink; its neighbours are real
    scanned IAM lines (quarter-height bands of them, scaled to the same writing size).
    """
    from htr.render import render_strokes

    scans = real_dev_lines(21)
    checked = 0
    # Lines of a few letters have less ink than the neighbours' bands: at least 20 characters.
    samples = [s for s in ondb_validation.samples if len(s.text) >= 20][:10]
    for number, sample in enumerate(samples):
        own = render_strokes(sample.strokes, "canvas", ink_height=80)
        rows = np.where((own < 128).any(axis=1))[0]
        own = own[rows.min() : rows.max() + 1]
        h, w = own.shape
        band = h // 4
        page = np.full((h + 2 * band, w), 255, np.uint8)
        page[band : band + h] = own
        for scan, where in ((scans[2 * number], "above"), (scans[2 * number + 1], "below")):
            scan = cv2.resize(scan, (round(scan.shape[1] * h / scan.shape[0]), h), interpolation=cv2.INTER_AREA)
            piece = scan[-band:] if where == "above" else scan[:band]
            piece = piece[:, :w].copy()
            # What the crop cut through: the neighbour's strokes that cross the outer edge.
            n, labels, stats, _ = cv2.connectedComponentsWithStats((piece < 128).astype(np.uint8), connectivity=8)
            edge_row = labels[0] if where == "above" else labels[-1]
            cut = np.isin(labels, np.setdiff1d(np.unique(edge_row), [0]))
            piece[~cut] = 255
            target = page[:band] if where == "above" else page[-band:]
            target[:, : piece.shape[1]] = np.minimum(target[:, : piece.shape[1]], piece)
        clean, crowded = preprocess(own), preprocess(page)
        assert abs(crowded.shape[1] - clean.shape[1]) <= 0.1 * clean.shape[1], (number, clean.shape, crowded.shape)
        checked += 1
    assert checked == 10


def test_own_ascenders_and_descenders_touching_the_edge_stay():
    """A tight crop whose own letters touch the top and bottom edge keeps all of them."""
    image = np.full((60, 400), 255, np.uint8)
    cv2.putText(image, "Typhoid fly", (5, 42), cv2.FONT_HERSHEY_SIMPLEX, 1.6, 0, 3, cv2.LINE_AA)
    rows = np.where((image < 128).any(axis=1))[0]
    tight = image[rows.min() : rows.max() + 1]
    out = preprocess(tight)
    top, bottom, _, _ = ink_extent(out)
    assert top <= PAD + 1 and bottom >= out.shape[0] - PAD - 2


def test_white_ink_on_transparency_reads_like_dark_ink_on_white():
    gray = line_image()
    white_ink = np.dstack([np.full_like(gray, 255)] * 3 + [255 - gray])
    reference = preprocess(gray)
    out = preprocess(white_ink)
    assert out.shape == reference.shape and np.abs(out - reference).mean() < 0.05


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(tmp_path, orientation):
    """A phone photo stored sideways with an EXIF orientation tag reads upright."""
    import PIL.Image

    upright = PIL.Image.fromarray(line_image())
    # What a camera stores for each orientation: the inverse of the transpose that shows it upright.
    stored = {1: upright, 2: upright.transpose(PIL.Image.Transpose.FLIP_LEFT_RIGHT),
              3: upright.transpose(PIL.Image.Transpose.ROTATE_180),
              4: upright.transpose(PIL.Image.Transpose.FLIP_TOP_BOTTOM),
              5: upright.transpose(PIL.Image.Transpose.TRANSPOSE),
              6: upright.transpose(PIL.Image.Transpose.ROTATE_90),
              7: upright.transpose(PIL.Image.Transpose.TRANSVERSE),
              8: upright.transpose(PIL.Image.Transpose.ROTATE_270)}[orientation]
    exif = PIL.Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"photo-{orientation}.jpg"
    stored.save(path, exif=exif, quality=95)
    read = load_image(path)
    assert read.shape[:2] == (120, 600)
    assert np.abs(read.astype(float) - np.asarray(upright, float)).mean() < 4
