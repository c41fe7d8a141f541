"""IAM On-Line Handwriting Database: pen trajectories with their transcriptions.

Reads the archives as distributed (``lineStrokes-all.tar.gz``, ``ascii-all.tar.gz``) or the
same trees extracted, pairs each ``lineStrokes/a01/a01-000/a01-000u-01.xml`` with line 1 of
the ``CSR:`` block of ``ascii/a01/a01-000/a01-000u.txt``, and detokenises the text.
"""

import re
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterator

import numpy as np

from htr.datasets.base import LineSample, LineSet, read_split_ids
from htr.errors import DataError
from htr.text import detokenize


def _iter_files(root: Path, archive: str, folder: str, suffix: str) -> Iterator[tuple[str, bytes]]:
    """(file stem, bytes) from an extracted folder if present, else from the tar.gz."""
    tree = root / folder
    if tree.is_dir():
        for path in sorted(tree.rglob(f"*{suffix}")):
            yield path.name[: -len(suffix)], path.read_bytes()
        return
    tar_path = root / archive
    if not tar_path.is_file():
        raise DataError(f"{root}: neither {folder}/ nor {archive} found (IAM On-Line layout expected)")
    try:
        with tarfile.open(tar_path, "r:*") as tar:
            for member in tar:
                if member.isfile() and member.name.endswith(suffix):
                    handle = tar.extractfile(member)
                    if handle is not None:
                        yield Path(member.name).name[: -len(suffix)], handle.read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"{tar_path} could not be read: {exc}") from exc


def parse_csr(raw: bytes) -> list[str]:
    """The lines the writer actually wrote (the CSR block), still tokenised."""
    text = raw.decode("iso-8859-1")
    if "CSR:" not in text:
        return []
    block = text.split("CSR:", 1)[1]
    return [line.strip() for line in block.strip("\r\n").splitlines() if line.strip()]


def parse_strokes(raw: bytes) -> list[np.ndarray]:
    """Strokes as float32 (N, 2) arrays of x, y whiteboard units (y down)."""
    root = ET.fromstring(raw)
    strokes = []
    for stroke in root.iter("Stroke"):
        points = [(float(p.get("x")), float(p.get("y"))) for p in stroke.iter("Point")]
        if points:
            strokes.append(np.asarray(points, dtype=np.float32))
    if not strokes:
        raise ValueError("no strokes")
    return strokes


def form_start_times(root: Path) -> dict[str, float]:
    """When each form's writing began: the earliest pen-down time of its lines, in the recorder's
    seconds. The data set names no writer per form, but its forms were written in rounds, one
    text of each category a few minutes apart (:func:`writing_rounds`)."""
    times: dict[str, float] = {}
    for stem, raw in _iter_files(root, "lineStrokes-all.tar.gz", "lineStrokes", ".xml"):
        found = re.search(rb'start_time="([0-9.]+)"', raw)
        if found:
            form = stem.rsplit("-", 1)[0]
            times[form] = min(times.get(form, float("inf")), float(found.group(1)))
    return times


def writing_rounds(times: dict[str, float], max_gap_s: float = 900.0) -> list[list[str]]:
    """Forms in the order they were written, cut into rounds: a round ends where the next form
    began more than ``max_gap_s`` later or is of a text category (the id's first letter) the
    round already has. Of IAM On-Line's 1,590 forms, 174 of the 254 rounds hold 7 or 8 forms
    written a median 3.3 minutes apart: one writer's sitting, as the data set's about 8 forms
    a writer suggest."""
    rounds: list[list[str]] = []
    last = -float("inf")
    for form, start in sorted(times.items(), key=lambda item: (item[1], item[0])):
        if not rounds or start - last > max_gap_s or form[0] in {f[0] for f in rounds[-1]}:
            rounds.append([])
        rounds[-1].append(form)
        last = start
    return rounds


def load_transcriptions(root: Path) -> dict[str, str]:
    """Line id -> text as written, for every line that has a CSR line."""
    texts = {}
    for stem, raw in _iter_files(root, "ascii-all.tar.gz", "ascii", ".txt"):
        for number, line in enumerate(parse_csr(raw), start=1):
            texts[f"{stem}-{number:02d}"] = detokenize(line)
    return texts


def load(root: Path, split: str | Path, progress: bool = False, limit: int | None = None) -> LineSet:
    """The lines of a split (``train``, ``validation`` or a split file) with their strokes.

    ``limit`` keeps the first N line ids of the split (in sorted order) and parses only their
    stroke files: a quick run on a few lines does not read thousands of XML files.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"IAM On-Line data folder not found: {root}")
    split_path = Path(split) if Path(split).is_file() else root / "splits" / f"{split}.txt"
    if not split_path.is_file():
        raise DataError(f"split list not found: {split_path}")
    wanted = set(read_split_ids(split_path))
    if limit:
        wanted = set(sorted(wanted)[:limit])
    texts = load_transcriptions(root)
    lines = LineSet(name=f"iam-ondb/{split_path.stem}", samples=[])
    found: dict[str, LineSample] = {}
    seen: set[str] = set()
    bar = _progress(len(wanted), "reading strokes") if progress else None
    for stem, raw in _iter_files(root, "lineStrokes-all.tar.gz", "lineStrokes", ".xml"):
        if stem not in wanted:
            continue
        seen.add(stem)
        if bar:
            bar.update()
        if stem not in texts:
            lines.skip("no transcription")
            continue
        try:
            strokes = parse_strokes(raw)
        except (ET.ParseError, ValueError, TypeError):
            lines.skip("corrupt stroke file")
            continue
        found[stem] = LineSample(id=stem, text=texts[stem], strokes=strokes)
    if bar:
        bar.close()
    for line_id in sorted(wanted):
        if line_id in found:
            lines.samples.append(found[line_id])
        elif line_id not in seen:
            lines.skip("missing stroke file")
    return lines


def _progress(total: int, label: str):
    from htr.progress import Progress

    return Progress(total, label)
