"""Results of recognising one line, shared by the CLI, the app and the dashboard."""

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Alternative:
    """One candidate transcription.

    ``score`` ranks the candidates: the network's log-probability for best path and beam
    search; for the ``lm`` decoder that plus the weighted language-model log-probability and
    bonuses. ``log_prob`` is always the network's log-probability (of the reading's best
    alignment under ``lm``), the basis of the confidence.
    """

    text: str
    score: float
    log_prob: float | None = None

    def __post_init__(self):
        if self.log_prob is None:
            object.__setattr__(self, "log_prob", self.score)


@dataclass
class Recognition:
    """What the recognizer read and how sure it was.

    ``probabilities`` is the T x C softmax output (column 0 the CTC blank, column i+1
    ``charset[i]``); ``image`` is the normalised input the network saw, so a heatmap can
    be drawn time-aligned under it (each timestep covers ``time_stride`` pixels).
    """

    text: str
    confidence: float
    alternatives: list[Alternative]
    probabilities: np.ndarray
    charset: str
    image: np.ndarray
    time_stride: int = 4
    decoder: str = "best"
    corrected: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        """Row names for the probability matrix: the blank first, then the charset."""
        return ["<blank>"] + list(self.charset)

    def to_json(self, path: str | None = None) -> dict:
        """The CLI's JSON contract: path, text, confidence, decoder, alternatives (+ corrected).

        ``decoder`` is the one that ran (``beam`` where ``lm`` was asked for but no language
        model could be loaded); under ``lm`` each alternative also has the network's ``log_prob``.
        """
        data: dict = {} if path is None else {"path": path}
        data["text"] = self.text
        data["confidence"] = round(float(self.confidence), 4)
        data["decoder"] = self.decoder
        data["alternatives"] = [self._alternative_json(a) for a in self.alternatives]
        if self.corrected is not None:
            data["corrected"] = self.corrected
        return data

    def _alternative_json(self, alternative: Alternative) -> dict:
        item = {"text": alternative.text, "score": round(float(alternative.score), 4)}
        if self.decoder == "lm":
            item["log_prob"] = round(float(alternative.log_prob), 4)
        return item
