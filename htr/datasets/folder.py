"""A plain folder of line images with ``labels.tsv`` (``file<TAB>text``): users' own data.

Split lists are optional: ``train.tsv`` / ``validation.tsv`` in the same format win if present;
otherwise ``labels.tsv`` is split deterministically for training (about 1 line in 10 by file
name goes to validation), and ``--split all`` takes every line. Scoring a model on a folder
without split lists (``validate``, the dashboard) takes every line: see :func:`scoring_split`.
"""

import zlib
from pathlib import Path

from htr.datasets.base import LineSample, LineSet
from htr.errors import DataError

LABELS_FILE = "labels.tsv"
SPLIT_FILES = ("train.tsv", "validation.tsv")
# The format in one line, for the pages and messages that point users at it (docs/training.md).
FORMAT_LINE = (f"a folder of line images with a {LABELS_FILE}: one 'file<TAB>text' row per image "
               "(train.tsv / validation.tsv in the same format fix a split)")


def is_validation(name: str) -> bool:
    return zlib.crc32(name.encode()) % 10 == 0


def read_tsv(path: Path) -> list[tuple[str, str]]:
    rows = []
    for number, row in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not row.strip() or row.startswith("#"):
            continue
        if "\t" not in row:
            raise DataError(f"{path}:{number}: expected 'file<TAB>text', got {row[:60]!r}")
        name, text = row.split("\t", 1)
        rows.append((name.strip(), text.strip()))
    return rows


def scoring_split(root: str | Path, split: str) -> tuple[str, str | None]:
    """The split to score a model on, and a note when it is not the one asked for.

    A folder without split lists is the user's own lines, none of them trained on here: its
    ``validation`` split would be the 1 line in 10 that training holds out (2 of a 20-line
    folder), so scoring takes all of ``labels.tsv`` instead, and says so.
    """
    root = Path(root)
    if split != "validation" or any((root / name).is_file() for name in SPLIT_FILES):
        return split, None
    if not (root / LABELS_FILE).is_file():
        return split, None  # load() says what is missing
    return "all", (f"{root} has no validation.tsv: scoring all lines of {LABELS_FILE} "
                   "(list held-out lines in validation.tsv to score only those)")


def load(root: Path, split: str = "all", progress: bool = False) -> LineSet:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    split_file = root / f"{split}.tsv"
    if split_file.is_file():
        rows = read_tsv(split_file)
    else:
        labels = root / LABELS_FILE
        if not labels.is_file():
            raise DataError(f"{root} has no {LABELS_FILE} (one 'file<TAB>text' line per image)")
        rows = read_tsv(labels)
        if split in ("train", "validation"):
            rows = [r for r in rows if is_validation(r[0]) == (split == "validation")]
        elif split != "all":
            raise DataError(f"unknown split {split!r} for a folder: use train, validation or all, or add {split}.tsv")
    lines = LineSet(name=f"folder/{split}", samples=[])
    for name, text in rows:
        path = root / name
        if not path.is_file():
            lines.skip("missing image")
            continue
        lines.samples.append(LineSample(id=name, text=text, path=path))
    return lines
