"""What reading gives back: a line (:class:`Recognition`), a page's lines and the page, shared by
the CLI, the app and the dashboard (their JSON contracts are the ``to_json`` methods)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from htr.confidence import REVIEW_THRESHOLD, Word

if TYPE_CHECKING:
    from htr.paper import Paper
    from htr.segment import PageLayout


def corners_json(points: np.ndarray) -> list[list[float]]:
    """Points as JSON: [[x, y], ...] in pixels, to a tenth."""
    return [[round(float(x), 1), round(float(y), 1)] for x, y in np.asarray(points).reshape(-1, 2)]


def sheet_json(paper) -> dict:
    """What a user should know of the sheet found in a photo, only where it applies: how many
    sheets were seen (the largest is read), and that the sheet runs out of the photo."""
    data = {}
    if paper.sheets > 1:
        data["sheets"] = int(paper.sheets)
    if paper.cut_by_frame:
        data["paper_cut"] = True
    return data


def confidence_from_score(score: float, length: int) -> float:
    """Geometric-mean probability per emitted character (plus one for the line end): the network's
    own certainty of a path, which second readings compare (not the reading's confidence, which
    :mod:`htr.confidence` makes)."""
    return float(math.exp(score / (length + 1)))


@dataclass(frozen=True)
class Alternative:
    """One candidate transcription.

    ``score`` ranks the candidates: the network's log-probability for best path and beam
    search; for the ``lm`` decoder that plus the weighted language-model log-probability, the
    bonuses and the penalty for words no dictionary holds. ``log_prob`` is always the network's
    log-probability (of the reading's best alignment under ``lm``); ``score - log_prob`` is the
    language model's part.
    """

    text: str
    score: float
    log_prob: float | None = None

    def __post_init__(self):
        if self.log_prob is None:
            object.__setattr__(self, "log_prob", self.score)

    @property
    def probability(self) -> float:
        """The network's geometric-mean probability per character of this reading (plus the line end)."""
        return confidence_from_score(self.log_prob, len(self.text))


@dataclass
class Recognition:
    """What the recognizer read and how sure it was.

    ``confidence`` is the chance that the line is read exactly, and each of ``words`` has the
    chance that it is right and its box (:mod:`htr.confidence`, calibrated on validation lines
    for each decoder); ``needs_review`` says the line should be checked by a person
    (confidence under :data:`htr.confidence.REVIEW_THRESHOLD`). ``probabilities`` is the T x C softmax output (column 0 the CTC blank, column i+1
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
    # The sheet of paper found in a photo, whose flattened image was read (None: read as sent).
    paper: Paper | None = field(default=None, repr=False)
    words: list[Word] = field(default_factory=list)

    @property
    def needs_review(self) -> bool:
        """Whether a person should check this line: its confidence is under the review threshold."""
        return bool(self.confidence < REVIEW_THRESHOLD)

    @property
    def labels(self) -> list[str]:
        """Row names for the probability matrix: the blank first, then the charset."""
        return ["<blank>"] + list(self.charset)

    def to_json(self, path: str | None = None) -> dict:
        """The CLI's JSON contract: path, text, confidence, needs_review, words, decoder, alternatives
        (+ corrected).

        ``words`` are ``{"text", "confidence", "box": [x, y, w, h]}`` (the box in the line image as
        the network read it); ``decoder`` is the one that ran (``beam`` where ``lm`` was asked for but no language
        model could be loaded); under ``lm`` each alternative also has the network's ``log_prob``.
        """
        data: dict = {} if path is None else {"path": path}
        data["text"] = self.text
        data["confidence"] = round(float(self.confidence), 4)
        data["needs_review"] = self.needs_review
        data["words"] = [word.to_json() for word in self.words]
        data["decoder"] = self.decoder
        data["alternatives"] = [self._alternative_json(a) for a in self.alternatives]
        if self.paper is not None:
            data["paper"] = corners_json(self.paper.corners)
            data.update(sheet_json(self.paper))
        if self.corrected is not None:
            data["corrected"] = self.corrected
        return data

    def _alternative_json(self, alternative: Alternative) -> dict:
        item = {"text": alternative.text, "score": round(float(alternative.score), 4)}
        if self.decoder == "lm":
            item["log_prob"] = round(float(alternative.log_prob), 4)
        return item


@dataclass
class LineRecognition:
    """One line of a page: where it is and what was read there."""

    box: tuple[int, int, int, int]  # x, y, w, h in the pixels of the image read (or the drawing's units)
    recognition: Recognition
    polygon: np.ndarray | None = None
    # Where a photo's sheet was flattened to be read: the box's corners in the photo's own pixels.
    photo_polygon: np.ndarray | None = None

    @property
    def text(self) -> str:
        return self.recognition.text

    @property
    def confidence(self) -> float:
        return self.recognition.confidence

    @property
    def alternatives(self):
        return self.recognition.alternatives

    def to_json(self) -> dict:
        data = self.recognition.to_json()
        data.pop("decoder", None)
        for key in ("paper", "sheets", "paper_cut"):  # said once, by the page
            data.pop(key, None)
        # the line's outline where it is in the image read: the sheet's box corners in a photo,
        # else the outline found around the line's ink (inside its box)
        outline = self.photo_polygon if self.photo_polygon is not None else self.polygon
        if outline is not None:
            data = {"polygon": corners_json(outline), **data}
        return {"box": [int(round(v)) for v in self.box], **data}


@dataclass
class PageRecognition:
    """The text of a page (its lines joined by newlines), how sure, and each line.

    ``layout`` is what was read: ``"line"`` (the image as one line, ``lines`` holds it) or
    ``"page"``. ``confidence`` is the mean of the lines' confidences (the share of its lines
    expected to be read exactly); ``needs_review``: some line needs checking.
    """

    text: str
    confidence: float
    lines: list[LineRecognition]
    layout: str
    decoder: str
    size: tuple[int, int] = (0, 0)  # of the image read: the flattened sheet where a photo showed one
    segmentation: PageLayout | None = field(default=None, repr=False)
    paper: Paper | None = field(default=None, repr=False)  # the sheet found in a photo

    @property
    def needs_review(self) -> bool:
        return any(line.recognition.needs_review for line in self.lines)

    @property
    def corrected(self) -> str | None:
        if not self.lines or any(line.recognition.corrected is None for line in self.lines):
            return None
        return "\n".join(line.recognition.corrected for line in self.lines)

    def to_json(self, path: str | None = None) -> dict:
        """One line: exactly the one-line contract. A page: path, text, confidence, decoder, lines."""
        if self.layout == "line":
            return self.lines[0].recognition.to_json(path)
        data: dict = {} if path is None else {"path": path}
        data["text"] = self.text
        data["confidence"] = round(float(self.confidence), 4)
        data["needs_review"] = self.needs_review
        data["decoder"] = self.decoder
        if self.corrected is not None:
            data["corrected"] = self.corrected
        if self.paper is not None:
            data["paper"] = corners_json(self.paper.corners)
            data.update(sheet_json(self.paper))
        data["lines"] = [line.to_json() for line in self.lines]
        return data


def page_confidence(recognitions: list[Recognition]) -> float:
    """The mean of the lines' confidences: the share of the page's lines expected to be read exactly."""
    if not recognitions:
        return 0.0
    return float(np.mean([r.confidence for r in recognitions]))
