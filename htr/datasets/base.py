"""What every data set yields: line samples (image file or pen strokes, plus text)."""

import re
import warnings
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class LineSample:
    """One written line. Exactly one of ``strokes`` (on-line data) or ``path`` is set."""

    id: str
    text: str
    strokes: list[np.ndarray] | None = None
    path: Path | None = None


@dataclass
class LineSet:
    """The usable lines of one split, and why the others were left out."""

    name: str
    samples: list[LineSample]
    skipped: Counter = field(default_factory=Counter)
    note: str | None = None  # how the lines were chosen, where it is not what was asked for

    def __len__(self) -> int:
        return len(self.samples)

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1

    def warn_skipped(self) -> None:
        """One warning for all bad items, so a damaged set trains without flooding the log."""
        total = sum(self.skipped.values())
        if total:
            reasons = ", ".join(f"{n} {why}" for why, n in self.skipped.most_common())
            warnings.warn(f"{self.name}: skipped {total} bad item(s): {reasons}", stacklevel=2)

    def filter_charset(self, charset: str) -> "LineSet":
        """Drop lines with characters the model cannot output (counted, not silent)."""
        allowed = set(charset)
        kept = []
        for sample in self.samples:
            if not sample.text.strip():
                self.skip("empty transcription")
            elif set(sample.text) <= allowed:
                kept.append(sample)
            else:
                self.skip("unknown characters")
        self.samples = kept
        return self


def read_split_ids(path: Path) -> list[str]:
    """A split file: one line id per line; blank lines and # comments ignored."""
    ids = []
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            ids.append(line.split()[0])
    return ids


PARTS = ("all", "tune", "report")


def form_key(line_id: str) -> str:
    """The text a line belongs to: ``a01-000u-03`` -> ``a01-000`` (form number, writer letters dropped).

    IAM forms with the same number are the same excerpt written by different writers.
    """
    parts = line_id.split("-")
    if len(parts) < 2:
        return line_id
    return f"{parts[0]}-{re.sub(r'[a-z]+$', '', parts[1])}"


def line_part(line_id: str) -> str:
    """``tune`` or ``report``: which half of a validation set a line belongs to.

    Decoder settings are chosen on one half and measured on the other. Lines of the same
    text (one form number, any writer) fall in the same half, chosen by a fixed hash.
    """
    return "tune" if zlib.crc32(form_key(line_id).encode()) % 2 == 0 else "report"


def in_part(line_id: str, part: str) -> bool:
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; expected one of {PARTS}")
    return part == "all" or line_part(line_id) == part
