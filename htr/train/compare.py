"""What adapting changed: the writer's checked lines read by the base and the adapted model.

An adapted model's ``metadata.json`` names the lines that checked it (``heldout_lines``: the
held-out share, or every line where it was cross-validated) and the labels file they came
from (``lines_from``). :func:`changed_readings` reads those lines with both models, keeps the
lines whose reading changed, and draws each reading's CTC heatmap, so a page can show where
adaptation helped and where it hurt without reading anything itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from htr.errors import DataError, HTRError, ModelLoadError
from htr.train.adapt import METADATA_FILE


@dataclass
class ChangedLine:
    """One checked line whose reading changed: what it says, both readings, their heatmaps."""

    id: str  # as the metadata names it: "line 3 (name.png)"
    text: str  # what the line says (the labels file)
    base: str  # the base model's reading
    adapted: str  # the adapted model's reading
    base_cer: float
    adapted_cer: float
    base_heatmap: np.ndarray  # RGB: the ink map over its CTC probabilities, best path marked
    adapted_heatmap: np.ndarray

    @property
    def better(self) -> bool:
        """Whether the adapted model reads this line with fewer character errors."""
        return self.adapted_cer < self.base_cer


@dataclass
class Comparison:
    """The checked lines of one adaptation, read by both models."""

    base_dir: Path
    adapted_dir: Path
    decoder: str
    folds: int  # cross-validated over this many folds (every line checked); 0: a held-out share
    checked: list[str] = field(default_factory=list)  # ids read by both models
    changed: list[ChangedLine] = field(default_factory=list)  # those whose reading differs
    missing: list[str] = field(default_factory=list)  # "id: why" for checked lines that could not be read


def adaptation_info(adapted_dir: str | Path) -> dict:
    """The ``adapted`` part of a model folder's metadata; DataError where there is none."""
    path = Path(adapted_dir) / METADATA_FILE
    try:
        info = json.loads(path.read_text()).get("adapted")
    except (OSError, ValueError, AttributeError) as exc:
        raise DataError(f"{path} cannot be read: {exc}") from None
    if not isinstance(info, dict):
        raise DataError(f"{adapted_dir} is no adapted model: its {METADATA_FILE} says nothing of an adaptation")
    return info


def folds_of(info: dict) -> int:
    """How many folds checked the adaptation (0: one held-out share), in older metadata too."""
    if "folds" in info:
        return int(info["folds"] or 0)
    return int((info.get("settings") or {}).get("folds") or 0)


def _heatmap(recognition) -> np.ndarray:
    from htr.heatmap import recognition_heatmap

    return recognition_heatmap(recognition, mark_best_path=True)


def changed_readings(adapted_dir: str | Path, base_dir: str | Path | None = None,
                     decoder: str = "best") -> Comparison:
    """Read the adaptation's checked lines with the base model (``base_dir``, default: the one
    the metadata says it was adapted from) and the adapted one; keep those read differently.

    ``decoder`` defaults to the best path, which the held-out figures count. Raises DataError
    when the metadata or its labels file is not there (an adaptation from the app keeps no lines),
    ModelLoadError when a model cannot be loaded.
    """
    from htr.metrics import line_cer
    from htr.recognizer import Recognizer
    from htr.train.adapt import label_rows, read_line_file

    adapted_dir = Path(adapted_dir)
    info = adaptation_info(adapted_dir)
    base_dir = Path(base_dir or info.get("from") or "")
    if not (base_dir / "config.json").is_file():
        raise ModelLoadError(f"the base model {str(base_dir)!r} that {adapted_dir} was adapted from is not there")
    labels = Path(info.get("lines_from") or "")
    if not info.get("lines_from") or not labels.is_file():
        raise DataError(f"the lines {adapted_dir} was adapted on are not kept ({info.get('lines_from') or 'unnamed'}): "
                        "only an adaptation from a labels file can be read again")
    rows = {line_id: (text, path) for line_id, text, path in label_rows(labels)[0]}
    base, adapted = Recognizer.load(base_dir), Recognizer.load(adapted_dir)
    result = Comparison(base_dir, adapted_dir, decoder, folds_of(info))
    for line_id in info.get("heldout_lines", []):
        if line_id not in rows:
            result.missing.append(f"{line_id}: no longer in {labels}")
            continue
        text, path = rows[line_id]
        try:
            image, _ = read_line_file(path)  # as adapting read it (the sheet found where it is a photo)
            before = base.recognize(image, decoder=decoder, find_paper=False)
            after = adapted.recognize(image, decoder=decoder, find_paper=False)
        except (HTRError, OSError, ValueError, UnicodeDecodeError) as exc:
            result.missing.append(f"{line_id}: cannot be read: {exc}")
            continue
        result.checked.append(line_id)
        if before.text != after.text:
            result.changed.append(ChangedLine(line_id, text, before.text, after.text, line_cer(text, before.text),
                                              line_cer(text, after.text), _heatmap(before), _heatmap(after)))
    return result
