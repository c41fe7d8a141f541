"""The language model's text, with every validation and test line kept out of it.

A language model that has read the lines it is measured on scores memorised text, not
reading. The IAM databases make that easy to get wrong: their forms are excerpts of the
same LOB corpus texts, the same excerpt is written by several writers (``a01-000u`` and
``a01-000x``), and IAM and IAM On-Line reuse each other's excerpts under other form
numbers. So a training line is dropped when

1. its id is in a held-out list (IAM validation, test and ``available-dev``; IAM On-Line
   validation; any ``--exclude`` list);
2. its form holds the same text as a held-out form (same form number, writer letter aside);
3. it shares a run of ``overlap_words`` words with any held-out line.

Only training lines are candidates at all: IAM ``lines.txt`` lines listed in
``splits/trainset.txt`` and IAM On-Line transcriptions listed in ``splits/train.txt``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from htr.datasets.base import form_key, read_split_ids
from htr.errors import DataError
from htr.text import normalize_for_scoring

IAM_TRAIN = "trainset.txt"
IAM_HELD_OUT = ("validationset1.txt", "validationset2.txt", "testset.txt", "available-dev.txt")
ONDB_TRAIN = "train.txt"
ONDB_HELD_OUT = ("validation.txt", "test.txt", "testset_f.txt", "testset_t.txt", "testset_v.txt")
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _word_runs(text: str, n: int) -> set[tuple[str, ...]]:
    words = normalize_for_scoring(text).lower().split()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def clean_line(text: str) -> str | None:
    """One line of LM text: whitespace runs as one space; None if empty or holding control characters."""
    text = " ".join(text.split())
    if not text or _FORBIDDEN.search(text):
        return None
    return text


@dataclass
class LMText:
    """The lines an LM is estimated from, where each came from, and what was dropped and why."""

    lines: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)  # "iam:a01-000u-00", "iam-ondb:...", "text:FILE:7"
    counts: Counter = field(default_factory=Counter)  # (source, "kept" | reason) -> lines
    held_out: list[str] = field(default_factory=list)  # the held-out lists that were read

    def add(self, source: str, line_id: str, text: str) -> None:
        self.lines.append(text)
        self.ids.append(f"{source}:{line_id}")
        self.counts[(source, "kept")] += 1

    def report(self) -> dict:
        """Counts per source: kept lines and dropped lines by reason."""
        out: dict[str, dict[str, int]] = {}
        for (source, reason), n in sorted(self.counts.items()):
            out.setdefault(source, {})[reason] = n
        return out


def _read_list(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"split list not found: {path}")
    return read_split_ids(path)


def _held_ids(root: Path, split_names: list[str] | tuple[str, ...], extra: set[str], result: LMText) -> set[str]:
    """The line ids a data set holds out (its split files under ``root/splits`` that exist, and
    ``extra``); each split file read is recorded in ``result.held_out``."""
    held = set(extra)
    for name in split_names:
        path = root / "splits" / name
        if path.is_file():
            held |= set(read_split_ids(path))
            result.held_out.append(str(path))
    return held


def collect(iam: str | Path | None = None, iam_ondb: str | Path | None = None, texts: Iterable[str | Path] = (),
            exclude: Iterable[str | Path] = (), overlap_words: int = 5) -> LMText:
    """Gather LM text from the training splits of IAM and IAM On-Line and from plain text files.

    ``exclude`` adds held-out id lists (of either database); ``texts`` are UTF-8 files of one
    line of text per line (their lines go through the overlap check too).
    """
    from htr.datasets.iam import parse_lines_txt
    from htr.datasets.iam_ondb import load_transcriptions

    if iam is None and iam_ondb is None and not list(texts):
        raise DataError("no text for the language model: give the IAM and/or IAM On-Line folders, or text files")
    result = LMText()
    extra_held = {i for path in exclude for i in _read_list(Path(path))}
    result.held_out += [str(p) for p in exclude]
    databases = []  # (source name, all texts, training ids, held-out ids)
    if iam is not None:
        root = Path(iam)
        lines_txt = root / "ascii" / "lines.txt"
        if not lines_txt.is_file():
            raise DataError(f"{root} is not an IAM folder: ascii/lines.txt is missing")
        all_texts = parse_lines_txt(lines_txt)
        held = _held_ids(root, IAM_HELD_OUT, extra_held, result)
        databases.append(("iam", all_texts, _read_list(root / "splits" / IAM_TRAIN), held))
    if iam_ondb is not None:
        root = Path(iam_ondb)
        if not root.is_dir():
            raise DataError(f"IAM On-Line data folder not found: {root}")
        all_texts = load_transcriptions(root)
        held = _held_ids(root, ONDB_HELD_OUT, extra_held, result)
        databases.append(("iam-ondb", all_texts, _read_list(root / "splits" / ONDB_TRAIN), held))

    held_runs: set[tuple[str, ...]] = set()
    for _, all_texts, _, held in databases:
        for line_id in held:
            if line_id in all_texts:
                held_runs |= _word_runs(all_texts[line_id], overlap_words)

    def usable(source: str, line_id: str, text: str) -> str | None:
        cleaned = clean_line(text)
        if cleaned is None:
            result.counts[(source, "empty or control characters")] += 1
        elif _word_runs(cleaned, overlap_words) & held_runs:
            result.counts[(source, f"shares {overlap_words} words with a held-out line")] += 1
            return None
        return cleaned

    for source, all_texts, train_ids, held in databases:
        held_keys = {form_key(i) for i in held}
        for line_id in train_ids:
            if line_id in held:
                result.counts[(source, "held-out id")] += 1
            elif form_key(line_id) in held_keys:
                result.counts[(source, "same text as a held-out form")] += 1
            elif line_id not in all_texts:
                result.counts[(source, "no transcription")] += 1
            elif (text := usable(source, line_id, all_texts[line_id])) is not None:
                result.add(source, line_id, text)
    for path in texts:
        path = Path(path)
        if not path.is_file():
            raise DataError(f"text file not found: {path}")
        source = f"text:{path.name}"
        for number, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            if raw.strip() and (text := usable(source, str(number), raw)) is not None:
                result.add(source, str(number), text)
    if not result.lines:
        raise DataError("no usable text for the language model after leaving out held-out lines")
    return result


def build(out_dir: str | Path, text: LMText, order: int = 6, prune: dict[int, int] | None = None,
          command: str = "") -> dict:
    """Estimate a character model of ``order`` from ``text`` and write ``chars.arpa.gz`` and ``lm.json``.

    Returns the manifest written to ``lm.json``: sources with kept and dropped line counts,
    the held-out lists, the order and the n-gram counts.
    """
    import json
    import time

    from htr.lm.decoder import LM_FILE, MANIFEST_FILE, MAX_ORDER
    from htr.lm.ngram import estimate

    if not 1 <= order <= MAX_ORDER:
        raise ValueError(f"order must be between 1 and {MAX_ORDER} (the decoder's KenLM reads up to {MAX_ORDER}-grams)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = estimate(text.lines, order, prune)
    arpa = model.write_arpa(out / LM_FILE)
    manifest = {
        "file": LM_FILE,
        "kind": "character n-gram, interpolated modified Kneser-Ney",
        "order": order,
        "prune": {str(k): v for k, v in (prune or {}).items()},
        "ngrams": model.sizes(),
        "bytes": arpa.stat().st_size,
        "lines": len(text.lines),
        "characters": sum(len(line) for line in text.lines),
        "sources": text.report(),
        "held_out_lists": text.held_out,
        "built": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": command,
    }
    path = out / MANIFEST_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    tmp.replace(path)
    return manifest
