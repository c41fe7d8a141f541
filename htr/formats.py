"""A page's reading as the files archives and their tools take: JSON, text, PAGE XML, ALTO.

``jsonl`` and ``txt`` are what ``predict`` prints (``--json`` and plain). ``pagexml`` is PRImA's
PAGE 2019 (Transkribus, eScriptorium, OCR-D) and ``alto`` is ALTO v4 (libraries, kraken): one
text region or block holding each line with its outline, a baseline, its words and their
confidences, in the pixels of the file read (a scan shrunk on arrival, or a photo's flattened
sheet, is mapped back). The same reading always gives the same bytes: no clock time goes in
(PAGE's required dates are the input file's modification time), so a file read again by the
same model, on this machine or a Ray worker, is byte for byte the file written before.

Word positions: a word's box is measured in the line image the network read (its ink cropped,
scaled to 64 px high, with a margin of ``htr.preprocess.PAD``); here it is placed
proportionally along the line's box on the page, and given the line box's height. That is
exact for the ends of a line whose box hugs its ink, and within a letter or so between them.
"""

from __future__ import annotations

import datetime as _dt
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from htr.results import LineRecognition, PageRecognition

# --format choice -> file extension of its outputs
FORMATS = {"jsonl": ".json", "txt": ".txt", "pagexml": ".xml", "alto": ".xml"}
PAGE_NS = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
PAGE_XSD = f"{PAGE_NS}/pagecontent.xsd"
ALTO_NS = "http://www.loc.gov/standards/alto/ns-v4#"
ALTO_XSD = "http://www.loc.gov/standards/alto/v4/alto-4-4.xsd"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SOFTWARE = "htr"


def json_line(path: str, result: PageRecognition) -> str:
    """``predict --json``'s line for one file."""
    return json.dumps(result.to_json(path), ensure_ascii=False)


def text_rows(path: str, result: PageRecognition) -> list[str]:
    """``predict``'s plain rows for one file: ``path<TAB>text<TAB>confidence[<TAB>corrected]``
    for a line, ``path:N<TAB>text<TAB>confidence`` for each line of a page."""
    if getattr(result, "layout", "line") == "page":
        return [f"{path}:{number}\t{found.text}\t{found.confidence:.3f}"
                for number, found in enumerate(result.lines, start=1)]
    row = f"{path}\t{result.text}\t{result.confidence:.3f}"
    if result.corrected is not None:
        row += f"\t{result.corrected}"
    return [row]


@dataclass(frozen=True)
class Source:
    """The file a page was read from: its name as given, its size in pixels (upright, as
    stored), and its modification time."""

    path: str
    size: tuple[int, int]
    mtime: float


def source_of(path: str, read_path: str | Path | None = None) -> Source:
    """``path``'s upright pixel size (from the image header; None for ink) and modification
    time; ``read_path`` is where the bytes are when not at ``path`` (a Ray worker's copy)."""
    import PIL.Image

    from htr.ink import is_ink_file

    where = Path(read_path or path)
    mtime = where.stat().st_mtime
    if is_ink_file(where):
        return Source(path, (0, 0), mtime)
    with PIL.Image.open(where) as im:
        w, h = im.size
        if im.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # EXIF orientation: rotated a quarter turn
            w, h = h, w
    return Source(path, (int(w), int(h)), mtime)


def render(result: PageRecognition, fmt: str, source: Source, fingerprint: str = "") -> bytes:
    """One output file's bytes for ``fmt`` (a key of :data:`FORMATS`)."""
    if fmt == "jsonl":
        return (json_line(source.path, result) + "\n").encode("utf-8")
    if fmt == "txt":
        return "".join(row + "\n" for row in text_rows(source.path, result)).encode("utf-8")
    if fmt == "pagexml":
        return page_xml(result, source, fingerprint)
    if fmt == "alto":
        return alto_xml(result, source, fingerprint)
    raise ValueError(f"unknown format {fmt!r}; expected one of {tuple(FORMATS)}")


class _Frame:
    """Maps points of the image read (or of the flattened sheet) into the file's own pixels."""

    def __init__(self, result: PageRecognition, source: Source):
        from htr.imageio import WORK_SIDE

        self.paper = result.paper
        read_w, read_h = result.size
        if source.size == (0, 0):  # ink: the drawing's own units
            self.size = (max(1, int(read_w)), max(1, int(read_h)))
            self.scale = np.array([1.0, 1.0])
            return
        w, h = source.size
        self.size = (w, h)
        if self.paper is not None:  # the photo as read: shrunk to WORK_SIDE on its long side on arrival
            factor = min(1.0, WORK_SIDE / max(w, h))
            read_w, read_h = max(1, round(w * factor)), max(1, round(h * factor))
        self.scale = np.array([w / max(1, read_w), h / max(1, read_h)])

    def __call__(self, points) -> np.ndarray:
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        if self.paper is not None:
            pts = self.paper.to_photo(pts)
        pts = pts * self.scale
        return np.clip(np.round(pts), 0, [self.size[0] - 1, self.size[1] - 1]).astype(np.int64)


def _corners(box) -> np.ndarray:
    x, y, w, h = (float(v) for v in box)
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])


def _points(pts: np.ndarray) -> str:
    return " ".join(f"{int(x)},{int(y)}" for x, y in pts)


def _bounds(pts: np.ndarray) -> tuple[int, int, int, int]:
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


@dataclass
class _Word:
    text: str
    confidence: float
    corners: np.ndarray  # 4 x 2, in the image read


@dataclass
class _Line:
    outline: np.ndarray  # in the file's pixels
    baseline: np.ndarray
    words: list  # (text, confidence, 4 x 2 corners in the file's pixels)
    text: str
    confidence: float


def _line_geometry(line: LineRecognition) -> tuple[list[_Word], np.ndarray]:
    """A line's words placed along its box, and its baseline, in the image read."""
    from htr.preprocess import PAD, core_band

    x, y, w, h = (float(v) for v in line.box)
    image = line.recognition.image
    inner_w = max(1.0, float(image.shape[1] - 2 * PAD)) if image is not None and image.ndim == 2 else 1.0
    inner_h = max(1.0, float(image.shape[0] - 2 * PAD)) if image is not None and image.ndim == 2 else 1.0

    def along(px: float) -> float:
        return x + float(np.clip((px - PAD) / inner_w, 0.0, 1.0)) * w

    words = []
    for word in line.recognition.words:
        wx, _, ww, _ = word.box
        left, right = along(wx), along(wx + ww)
        words.append(_Word(word.text, float(word.confidence), _corners((left, y, max(1.0, right - left), h))))
    # the baseline: the foot of the line's body (its densest band of ink rows), straight across the box
    base = y + 0.75 * h
    if image is not None and image.ndim == 2 and image.size and float(image.max()) > 0.5:
        _, bottom = core_band(image > 0.5)
        base = y + float(np.clip((bottom - PAD) / inner_h, 0.0, 1.0)) * h
    return words, np.array([[x, base], [x + w, base]])


def _lines(result: PageRecognition, frame: _Frame) -> list[_Line]:
    out = []
    for line in result.lines:
        words, baseline = _line_geometry(line)
        outline = line.polygon if line.polygon is not None and len(line.polygon) >= 3 else _corners(line.box)
        out.append(_Line(frame(outline), frame(baseline),
                         [(wd.text, wd.confidence, frame(wd.corners)) for wd in words],
                         line.text, float(line.confidence)))
    return out


def _conf(value: float) -> str:
    return f"{min(1.0, max(0.0, float(value))):.4f}"


def _timestamp(mtime: float) -> str:
    return _dt.datetime.fromtimestamp(int(mtime), _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _serialise(root: ET.Element) -> bytes:
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n"


def software_version() -> str:
    """The installed package's version (pyproject.toml's), or "dev" in a bare checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("htr")
    except PackageNotFoundError:
        return "dev"


def _document(namespace: str, schema: str, tag: str) -> tuple[Callable[[str], str], ET.Element]:
    """A format's root element, pointing at its schema, and the function that names its tags."""
    ET.register_namespace("", namespace)
    ET.register_namespace("xsi", XSI_NS)

    def q(name: str) -> str:
        return f"{{{namespace}}}{name}"

    return q, ET.Element(q(tag), {f"{{{XSI_NS}}}schemaLocation": f"{namespace} {schema}"})


def page_xml(result: PageRecognition, source: Source, fingerprint: str = "") -> bytes:
    """PAGE XML 2019: one TextRegion with every TextLine (outline, baseline, words, text and
    confidence), the page's text on the region."""
    frame = _Frame(result, source)
    lines = _lines(result, frame)
    q, root = _document(PAGE_NS, PAGE_XSD, "PcGts")
    meta = ET.SubElement(root, q("Metadata"))
    ET.SubElement(meta, q("Creator")).text = f"{SOFTWARE} {software_version()}"
    stamp = _timestamp(source.mtime)  # the input's time: the same reading gives the same bytes
    ET.SubElement(meta, q("Created")).text = stamp
    ET.SubElement(meta, q("LastChange")).text = stamp
    if fingerprint:
        ET.SubElement(meta, q("Comments")).text = f"read by {SOFTWARE} {software_version()}, {fingerprint}"
    page = ET.SubElement(root, q("Page"), {"imageFilename": Path(source.path).name,
                                            "imageWidth": str(frame.size[0]), "imageHeight": str(frame.size[1])})
    if lines:
        order = ET.SubElement(page, q("ReadingOrder"))
        group = ET.SubElement(order, q("OrderedGroup"), {"id": "ro1", "caption": "Regions reading order"})
        ET.SubElement(group, q("RegionRefIndexed"), {"index": "0", "regionRef": "r1"})
    region = ET.SubElement(page, q("TextRegion"), {"id": "r1", "type": "paragraph"})
    every = np.concatenate([ln.outline for ln in lines]) if lines else np.zeros((1, 2), np.int64)
    rx, ry, rw, rh = _bounds(every)
    ET.SubElement(region, q("Coords"), {"points": _points(_corners((rx, ry, rw, rh)).astype(np.int64))})
    for i, ln in enumerate(lines, start=1):
        node = ET.SubElement(region, q("TextLine"), {"id": f"r1l{i}"})
        ET.SubElement(node, q("Coords"), {"points": _points(ln.outline)})
        ET.SubElement(node, q("Baseline"), {"points": _points(ln.baseline)})
        for j, (text, confidence, corners) in enumerate(ln.words, start=1):
            word = ET.SubElement(node, q("Word"), {"id": f"r1l{i}w{j}"})
            ET.SubElement(word, q("Coords"), {"points": _points(corners)})
            equiv = ET.SubElement(word, q("TextEquiv"), {"conf": _conf(confidence)})
            ET.SubElement(equiv, q("Unicode")).text = text
        equiv = ET.SubElement(node, q("TextEquiv"), {"conf": _conf(ln.confidence)})
        ET.SubElement(equiv, q("Unicode")).text = ln.text
    equiv = ET.SubElement(region, q("TextEquiv"), {"conf": _conf(result.confidence)})
    ET.SubElement(equiv, q("Unicode")).text = result.text
    return _serialise(root)


def alto_xml(result: PageRecognition, source: Source, fingerprint: str = "") -> bytes:
    """ALTO v4: one TextBlock of TextLines (box, outline, baseline), each word a String with
    its position and confidence (WC), spaces between them."""
    frame = _Frame(result, source)
    lines = _lines(result, frame)
    q, root = _document(ALTO_NS, ALTO_XSD, "alto")
    description = ET.SubElement(root, q("Description"))
    ET.SubElement(description, q("MeasurementUnit")).text = "pixel"
    info = ET.SubElement(description, q("sourceImageInformation"))
    ET.SubElement(info, q("fileName")).text = Path(source.path).name
    processing = ET.SubElement(description, q("Processing"), {"ID": "proc1"})
    ET.SubElement(processing, q("processingCategory")).text = "contentGeneration"
    ET.SubElement(processing, q("processingStepDescription")).text = "handwritten text recognition, line by line"
    if fingerprint:
        ET.SubElement(processing, q("processingStepSettings")).text = fingerprint
    software = ET.SubElement(processing, q("processingSoftware"))
    ET.SubElement(software, q("softwareName")).text = SOFTWARE
    ET.SubElement(software, q("softwareVersion")).text = software_version()
    layout = ET.SubElement(root, q("Layout"))
    w, h = frame.size
    page = ET.SubElement(layout, q("Page"), {"ID": "page1", "PHYSICAL_IMG_NR": "1", "WIDTH": str(w), "HEIGHT": str(h),
                                              "PROCESSING": "proc1"})
    space = ET.SubElement(page, q("PrintSpace"), {"HPOS": "0", "VPOS": "0", "WIDTH": str(w), "HEIGHT": str(h)})
    every = np.concatenate([ln.outline for ln in lines]) if lines else np.zeros((1, 2), np.int64)
    bx, by, bw, bh = _bounds(every)
    block = ET.SubElement(space, q("TextBlock"), {"ID": "block1", "HPOS": str(bx), "VPOS": str(by),
                                                   "WIDTH": str(bw), "HEIGHT": str(bh)})
    for i, ln in enumerate(lines, start=1):
        lx, ly, lw, lh = _bounds(ln.outline)
        node = ET.SubElement(block, q("TextLine"), {"ID": f"line{i}", "HPOS": str(lx), "VPOS": str(ly),
                                                    "WIDTH": str(lw), "HEIGHT": str(lh),
                                                    "BASELINE": _points(ln.baseline)})
        shape = ET.SubElement(node, q("Shape"))
        ET.SubElement(shape, q("Polygon"), {"POINTS": _points(ln.outline)})
        words = ln.words or [(ln.text, ln.confidence, ln.outline)]  # a line without words: one String
        previous_end = None
        for j, (text, confidence, corners) in enumerate(words, start=1):
            sx, sy, sw, sh = _bounds(corners)
            if previous_end is not None:
                ET.SubElement(node, q("SP"), {"HPOS": str(previous_end), "VPOS": str(sy),
                                              "WIDTH": str(max(0, sx - previous_end))})
            ET.SubElement(node, q("String"), {"ID": f"line{i}w{j}", "CONTENT": text, "HPOS": str(sx),
                                              "VPOS": str(sy), "WIDTH": str(sw), "HEIGHT": str(sh),
                                              "WC": _conf(confidence)})
            previous_end = sx + sw
    return _serialise(root)

