"""Finding the sheet in a phone photo (htr/paper.py): found where a sheet lies on a desk, None
where no paper edge stands out (scans, drawings, a photo of only desk), so those read as before."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from htr.imageio import read_image
from htr.paper import Paper, find_paper, shows_no_writing_ground
from htr.synth.photos import encode_jpeg, make_desk

ROOT = Path(__file__).resolve().parent.parent
FRAME = (1600, 1200)  # w, h of the test photos


def written_sheet(width: int = 900, height: int = 1200, lines: int = 8) -> np.ndarray:
    """A white sheet with dark writing and a black mark at its top-left (to see it upright)."""
    sheet = np.full((height, width, 3), 248, np.uint8)
    for i in range(lines):
        y = int(height * (0.18 + 0.09 * i))
        cv2.putText(sheet, "the quick brown fox jumps", (int(width * 0.1), y), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
                    width / 900, (30, 40, 140), max(1, width // 450), cv2.LINE_AA)
    cv2.rectangle(sheet, (int(width * 0.06), int(height * 0.04)), (int(width * 0.16), int(height * 0.1)), (0, 0, 0), -1)
    return sheet


def on_desk(desk: np.ndarray, sheet: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """``sheet`` seen at ``corners`` (tl, tr, br, bl) on the desk, lit a little unevenly."""
    h, w = sheet.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    matrix = cv2.getPerspectiveTransform(src, np.float32(corners))
    size = desk.shape[1::-1]
    warped = cv2.warpPerspective(sheet.astype(np.float32), matrix, size)
    cover = cv2.warpPerspective(np.ones((h, w), np.float32), matrix, size)[..., None]
    photo = desk.astype(np.float32) * (1 - cover) + warped * cover
    light = np.linspace(1.0, 0.8, size[0], dtype=np.float32)[None, :, None]
    return np.clip(photo * light, 0, 255).astype(np.uint8)


def desk(kind: str, seed: int = 0) -> np.ndarray:
    return make_desk(kind, FRAME[::-1], np.random.default_rng(seed))


PAGE = np.float32([[420, 140], [1150, 190], [1190, 1080], [380, 1040]])


def assert_close(found: np.ndarray, truth: np.ndarray, share: float = 0.015) -> None:
    diagonal = np.hypot(*(truth[2] - truth[0]))
    assert np.abs(found - truth).max() <= share * diagonal, (found, truth)


def assert_upright(paper: Paper) -> None:
    """The black mark drawn at the sheet's top-left is at the flattened sheet's top-left."""
    gray = cv2.cvtColor(paper.image, cv2.COLOR_RGB2GRAY) if paper.image.ndim == 3 else paper.image
    h, w = gray.shape
    quarters = [gray[: h // 4, : w // 4], gray[: h // 4, -w // 4 :], gray[-h // 4 :, : w // 4], gray[-h // 4 :, -w // 4 :]]
    darkest = int(np.argmin([np.mean(q) for q in quarters]))
    assert darkest == 0, [np.mean(q) for q in quarters]


@pytest.mark.parametrize("kind", ["dark", "wood", "fabric", "grey-textured"])
def test_page_on_a_desk_is_found_upright(kind):
    photo = on_desk(desk(kind), written_sheet(), PAGE)
    paper = find_paper(photo)
    assert paper is not None
    assert_close(paper.corners, PAGE)
    assert not paper.cut_by_frame and paper.sheets == 1
    assert paper.image.dtype == photo.dtype and paper.image.ndim == 2  # read in grey
    assert paper.image.shape[0] <= photo.shape[0] and paper.image.shape[1] <= photo.shape[1]
    assert_upright(paper)


def test_flattened_sheet_maps_back_to_its_corners():
    paper = find_paper(on_desk(desk("dark"), written_sheet(), PAGE))
    h, w = paper.image.shape[:2]
    back = paper.to_photo(np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]]))
    assert np.allclose(back, paper.corners, atol=0.5)
    assert paper.homography.shape == (3, 3)


def test_grey_and_16_bit_photos_keep_their_format():
    photo = cv2.cvtColor(on_desk(desk("dark"), written_sheet(), PAGE), cv2.COLOR_RGB2GRAY)
    grey = find_paper(photo)
    deep = find_paper(photo.astype(np.uint16) * 257)
    assert grey is not None and grey.image.ndim == 2 and grey.image.dtype == np.uint8
    assert deep is not None and deep.image.dtype == np.uint16
    assert_close(deep.corners, PAGE)


def test_paper_partly_out_of_frame_is_found_and_said_cut():
    corners = np.float32([[700, 300], [1800, 380], [1760, 1500], [640, 1400]])  # right and bottom beyond the frame
    paper = find_paper(on_desk(desk("wood"), written_sheet(), corners))
    assert paper is not None and paper.cut_by_frame
    assert np.abs(paper.corners[0] - corners[0]).max() < 15  # the corner in view is where it is


def test_index_card_with_one_line():
    card = np.full((160, 1000, 3), 250, np.uint8)
    cv2.putText(card, "a single line of writing", (40, 105), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, 1.6, (20, 20, 25), 3)
    corners = np.float32([[250, 500], [1350, 560], [1345, 720], [245, 670]])
    paper = find_paper(on_desk(desk("coloured", 3), card, corners))
    assert paper is not None
    assert_close(paper.corners, corners)
    assert paper.image.shape[1] > 3 * paper.image.shape[0]  # read as the strip it is, not on end


def test_two_sheets_side_by_side_the_larger_read():
    big = np.float32([[820, 150], [1500, 170], [1490, 1060], [810, 1050]])
    small = np.float32([[120, 300], [620, 290], [630, 900], [130, 910]])
    photo = on_desk(desk("dark", 1), written_sheet(), big)
    photo = on_desk(photo, written_sheet(600, 720, 4), small)
    paper = find_paper(photo)
    assert paper is not None and paper.sheets == 2
    assert_close(paper.corners, big)


def test_white_desk_the_sheet_is_found_by_its_faint_edge_or_not_at_all():
    """White paper on a white desk: the sheet a few levels brighter than the desk is found by the
    finer second look, where it is, and a desk as bright as the paper leaves the photo as it is."""
    paper = find_paper(on_desk(desk("white"), written_sheet(), PAGE))
    assert paper is not None
    assert_close(paper.corners, PAGE)
    same = np.full((FRAME[1], FRAME[0], 3), 248, np.uint8)  # a desk exactly as bright as the sheet
    assert find_paper(on_desk(same, written_sheet(), PAGE)) is None


@pytest.mark.parametrize("kind", ["dark", "wood", "coloured", "grey-textured", "fabric", "white"])
def test_a_photo_of_only_desk_is_none(kind):
    assert find_paper(desk(kind, 5).astype(np.uint8)) is None


@pytest.mark.parametrize("kind", ["dark", "wood", "coloured", "grey-textured", "fabric", "dark-wood",
                                  "coloured-pale", "white"])
def test_a_photo_of_only_desk_shows_no_ground_to_read(kind):
    """Read as it was, a desk's grain came back as text ("By"): now it is "no handwriting found"."""
    photo = read_image(encode_jpeg(desk(kind, 5).astype(np.uint8), 1, 80))
    assert shows_no_writing_ground(photo)


def test_writing_always_shows_its_ground(ondb_validation):
    """Scans, drawings and every look of the robustness suite keep their reading: none is taken
    for a bare desk."""
    from htr.synth.stress import CASES, stressed

    pictures = [read_image(path) for path in sorted((ROOT / "assets").glob("example-*.png"))]
    pictures += [written_sheet(), cv2.cvtColor(written_sheet(), cv2.COLOR_RGB2GRAY), 255 - written_sheet()]
    pictures += [stressed(sample.strokes, case, index) for index, sample in enumerate(ondb_validation.samples[:6])
                 for case in CASES]
    flagged = [i for i, picture in enumerate(pictures) if shows_no_writing_ground(picture)]
    assert not flagged, flagged


def test_largest_quadrilateral_on_a_polygon_is_the_largest():
    """Checked against trying every four vertices of random convex polygons."""
    from itertools import combinations

    from htr.paper import _largest_quad

    def area(q):
        return abs(np.dot(q[:, 0], np.roll(q[:, 1], 1)) - np.dot(q[:, 1], np.roll(q[:, 0], 1))) / 2

    rng = np.random.default_rng(0)
    for _ in range(10):
        hull = cv2.convexHull(rng.uniform(0, 100, (30, 2)).astype(np.float32)).reshape(-1, 2).astype(np.float64)
        best = max(area(hull[list(c)]) for c in combinations(range(len(hull)), 4))
        assert area(_largest_quad(hull)) == pytest.approx(best)


def test_flat_scans_are_none():
    assert find_paper(read_image(ROOT / "assets" / "example-paper-1.png")) is None
    assert find_paper(written_sheet()) is None  # a page scanned to its edges
    assert find_paper(written_sheet()[200:700, 100:800]) is None  # a crop inside a page


def test_a_page_stacked_from_real_lines_is_none():
    from htr.paths import iam_dir, iam_split

    if not (iam_dir() / "lines").is_dir():
        pytest.skip(f"IAM data not found at {iam_dir()}")
    from htr.datasets import load_dataset
    from htr.synth.pages import stacked_pages

    dev = load_dataset("iam", iam_dir(), str(iam_split("available-dev")))
    for page in stacked_pages(dev.samples, iam_dir(), 3):
        assert find_paper(page.image) is None
    for sample in dev.samples[:20]:
        assert find_paper(read_image(sample.path)) is None


def test_drawings_are_none():
    canvas = np.full((600, 1200), 255, np.uint8)
    cv2.putText(canvas, "hello there", (80, 330), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, 4, 0, 8)
    assert find_paper(canvas) is None
    assert find_paper(read_image(ROOT / "assets" / "example-canvas-1.png")) is None
    transparent = np.zeros((600, 1200, 4), np.uint8)  # dark strokes on a transparent background
    transparent[..., 3] = (canvas < 128) * 255
    assert find_paper(transparent) is None
    opaque_frame = np.dstack([np.zeros((600, 1200, 3), np.uint8), np.full((600, 1200), 255, np.uint8)])
    cv2.rectangle(opaque_frame, (300, 100), (900, 500), (250, 250, 250, 255), -1)  # a sheet-like box, opaque
    assert find_paper(opaque_frame) is not None  # alpha alone does not refuse: transparency does


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_rotated_jpeg_is_found_upright(orientation):
    upright = on_desk(desk("dark", 2), written_sheet(), PAGE)
    photo = read_image(encode_jpeg(upright, orientation, 80))
    assert photo.shape == upright.shape
    paper = find_paper(photo)
    assert paper is not None
    assert_close(paper.corners, PAGE)
    assert_upright(paper)


def test_generated_photos_truth_matches_what_is_found():
    """The photo generator's truth corners are in the upright photo's pixels: found there."""
    from htr.synth.photos import photograph

    scan = cv2.cvtColor(written_sheet(1400, 1000, 6), cv2.COLOR_RGB2GRAY)
    photo = photograph(scan, "text", seed=11, part="tune", look="desk", long_side=1600)
    image = read_image(photo.jpeg)
    assert image.shape[1::-1] == photo.size
    paper = find_paper(image)
    if photo.whole:
        assert paper is not None
        assert_close(paper.corners, photo.corners, 0.03)


def test_line_crops_of_drawn_and_stacked_pages_are_none(ondb_validation):
    """Every truth crop of test pages (the line reader's input in benchmarks/pages.py) is read as
    it is: a crop of a line is no photo, however small (a 48 x 134 px one was once taken for a sheet)."""
    from htr.synth.pages import form_pages

    pages = form_pages(ondb_validation.samples, 3)
    crops = [crop for page in pages for crop in page.crops()]
    assert len(crops) >= 10
    assert all(find_paper(crop) is None for crop in crops)
