"""Choosing the language model's weight, bonuses and unknown-word penalty on validation data.

The best weight depends on how sure the network is, so it changes whenever the model's
weights do: after training a new model, run ``python -m htr lm tune`` on it. Settings are
chosen on the ``tune`` half of each validation set (:func:`htr.train.evaluate.line_part`) and the
``report`` half is left to measure them; only ``config.json``'s ``lm`` entry is rewritten.

The objective weighs every set alike: the mean, over sets, of the LM's CER and WER relative
to best path on the same lines (0.8 means 20 % fewer errors).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from htr.config import CONFIG_FILE, labels_to_text
from htr.decode import BEAM_WIDTH, best_path
from htr.errors import ModelLoadError
from htr.lm.decoder import LanguageModel, LMSettings
from htr.metrics import ErrorRates, error_rates

GRID: dict[str, list[float]] = {
    "weight": [0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 3.0],
    "char_bonus": [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0],
    "word_bonus": [-4.0, -3.0, -2.0, -1.0, 0.0, 1.0],
    "unknown_word_penalty": [0.0, -1.0, -2.0, -3.0, -4.0, -6.0],
}


@dataclass
class TuneSet:
    """One validation set's network outputs and references, with best path's rates as the baseline."""

    name: str
    probs: list[np.ndarray]
    texts: list[str]
    charset: str

    def __post_init__(self):
        self.baseline = self.rates([self.decode_labels(best_path(p).paths[0][0]) for p in self.probs])

    def decode_labels(self, labels) -> str:
        return labels_to_text(labels, self.charset)

    def rates(self, predictions: list[str]) -> ErrorRates:
        return error_rates(self.texts, predictions)


def relative(rates: ErrorRates, baseline: ErrorRates) -> float:
    """Mean of CER and WER as fractions of the baseline's."""
    return 0.5 * (rates.cer / max(baseline.cer, 1e-9) + rates.wer / max(baseline.wer, 1e-9))


def measure(lm: LanguageModel, sets: list[TuneSet], settings: LMSettings, beam_width: int = BEAM_WIDTH) -> tuple[float, dict]:
    """The objective for ``settings`` and each set's rates."""
    trial = lm.with_settings(settings)
    per_set = {}
    for s in sets:
        texts = [s.decode_labels(trial.decode(p, beam_width, 1).paths[0][0]) for p in s.probs]
        per_set[s.name] = s.rates(texts)
    objective = float(np.mean([relative(per_set[s.name], s.baseline) for s in sets]))
    return objective, per_set


def tune(lm: LanguageModel, sets: list[TuneSet], beam_width: int = BEAM_WIDTH, rounds: int = 2,
         grid: dict[str, list[float]] | None = None, report: Callable[[str], None] = print) -> tuple[LMSettings, float, dict]:
    """Coordinate search over the grid from the LM's current settings: each setting in turn
    takes its best grid value with the others fixed, for ``rounds`` passes (or until stable)."""
    grid = grid or GRID
    if not sets or not any(s.probs for s in sets):
        raise ValueError("no validation lines to tune on")
    best = replace(lm.settings)
    cache: dict[tuple, tuple[float, dict]] = {}

    def evaluate(settings: LMSettings) -> tuple[float, dict]:
        key = tuple(getattr(settings, name) for name in grid)
        if key not in cache:
            cache[key] = measure(lm, sets, settings, beam_width)
            objective, per_set = cache[key]
            shown = "  ".join(f"{name} {getattr(settings, name):g}" for name in grid)
            rates = "  ".join(f"{n}: CER {r.cer:.4f} WER {r.wer:.4f}" for n, r in per_set.items())
            report(f"{shown}  ->  {objective:.4f}   ({rates})")
        return cache[key]

    best_objective, best_rates = evaluate(best)
    for _ in range(rounds):
        changed = False
        for name, values in grid.items():
            for value in values:
                trial = replace(best, **{name: value})
                objective, per_set = evaluate(trial)
                if objective < best_objective - 1e-9:
                    best, best_objective, best_rates, changed = trial, objective, per_set, True
        if not changed:
            break
    return best, best_objective, best_rates


def write_settings(model_dir: str | Path, settings: LMSettings) -> Path:
    """Replace the ``lm`` entry of ``model_dir/config.json``, leaving every other field as it was."""
    path = Path(model_dir) / CONFIG_FILE
    try:
        original = path.read_text()
        data = json.loads(original)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path} cannot be read as JSON: {exc}") from exc
    if not isinstance(data, dict) or "charset" not in data:
        raise ModelLoadError(f"{path} does not describe a model (no charset)")
    data["lm"] = settings.to_dict()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + ("\n" if original.endswith("\n") else ""))
    tmp.replace(path)
    return path


def tuned_record(sets: list[TuneSet], objective: float, rates: dict, part: str, beam_width: int,
                 command: str = "") -> dict:
    """What ``tuned`` in the config says: where and how the values were chosen, and their rates."""
    return {
        "part": part,
        "beam_width": beam_width,
        "objective": round(objective, 4),
        "sets": {
            s.name: {
                "lines": len(s.probs),
                "best_path": {"cer": round(s.baseline.cer, 4), "wer": round(s.baseline.wer, 4)},
                "lm": {"cer": round(rates[s.name].cer, 4), "wer": round(rates[s.name].wer, 4)},
            }
            for s in sets
        },
        "date": time.strftime("%Y-%m-%d"),
        "command": command,
    }
