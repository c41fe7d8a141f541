"""IAM Handwriting Database (offline): scanned line images listed in ``ascii/lines.txt``.

Layout as distributed: ``ascii/lines.txt`` and ``lines/a01/a01-000u/a01-000u-00.png`` side
by side, plus the official split lists in ``splits/`` (trainset, validationset1/2, testset).
"""

from pathlib import Path

from htr.datasets.base import LineSample, LineSet, read_split_ids
from htr.errors import DataError
from htr.text import detokenize

SPLIT_FILES = {
    "train": ["trainset.txt"],
    "validation": ["validationset1.txt", "validationset2.txt"],
    "validation1": ["validationset1.txt"],
    "validation2": ["validationset2.txt"],
    "test": ["testset.txt"],
}


def parse_lines_txt(path: Path) -> dict[str, str]:
    """Line id -> text as written, from the ``lines.txt`` format (``|`` separates words)."""
    texts = {}
    for row in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not row or row.startswith("#"):
            continue
        parts = row.split(" ", 8)
        if len(parts) < 9:
            continue
        texts[parts[0]] = detokenize(parts[8].replace("|", " "))
    return texts


def image_path(root: Path, line_id: str) -> Path:
    writer, form = line_id.split("-")[:2]
    return root / "lines" / writer / f"{writer}-{form}" / f"{line_id}.png"


def _split_ids(root: Path, split: str | Path) -> list[str]:
    if Path(split).is_file():
        return read_split_ids(Path(split))
    if split == "all":
        return []
    names = SPLIT_FILES.get(str(split))
    if names is None:
        raise DataError(f"unknown IAM split {split!r}: use {', '.join(SPLIT_FILES)}, 'all' or a split file")
    ids = []
    for name in names:
        path = root / "splits" / name
        if not path.is_file():
            raise DataError(f"split list not found: {path}")
        ids += read_split_ids(path)
    return ids


def load(root: Path, split: str | Path, progress: bool = False) -> LineSet:
    root = Path(root)
    lines_txt = root / "ascii" / "lines.txt"
    if not lines_txt.is_file():
        raise DataError(f"{root} is not an IAM folder: ascii/lines.txt is missing")
    if not (root / "lines").is_dir():
        raise DataError(f"{root} has no lines/ folder: unpack the IAM lines.tgz there")
    texts = parse_lines_txt(lines_txt)
    ids = _split_ids(root, split) or sorted(texts)
    lines = LineSet(name=f"iam/{Path(str(split)).stem}", samples=[])
    for line_id in ids:
        if line_id not in texts:
            lines.skip("not in lines.txt")
            continue
        path = image_path(root, line_id)
        if not path.is_file():
            lines.skip("missing image")
            continue
        lines.samples.append(LineSample(id=line_id, text=texts[line_id], path=path))
    return lines
