"""Language-model decoding: CTC prefix beam search scored with a character n-gram model.

Best path and plain beam search pick each character on the network's evidence alone, so
one smudged letter makes a non-word ("childen"). The ``lm`` decoder runs flashlight-text's
lexicon-free CTC beam search (C++, with KenLM inside) and adds, for every character a
hypothesis emits, ``weight`` times that character's log10-probability under a character
6-gram model of English text. A character model has an open vocabulary: a name, a number
or a rare word the model never read is still spelt out letter by letter where the network
is sure of it, while common words and word endings win where the evidence is split.

Two bonuses balance the language model's cost of every emitted character, which would
otherwise favour dropping letters: ``char_bonus`` is added to each non-blank frame of the
network output, ``word_bonus`` to each space. Then the beams are ranked again with
``unknown_word_penalty`` added for each word no English dictionary holds (the word list of
spelling correction, :func:`htr.spelling.unknown_words`): a character model a few letters deep
cannot tell "evidence" from "edivence", a dictionary can, and the network's evidence still
decides between the beams, so a name it reads clearly stays. The weight, bonuses and penalty
are tuned on validation data (``python -m htr lm tune``) and stored in the model's
``config.json``.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import sys
import threading
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from htr.config import labels_to_text
from htr.decode import BEAM_WIDTH, Decoded
from htr.errors import ModelLoadError
from htr.lm.ngram import token_name
from htr.spelling import unknown_words

LM_DIR = "lm"
LM_FILE = "chars.arpa.gz"
MANIFEST_FILE = "lm.json"
DEFAULT_PATH = f"{LM_DIR}/{LM_FILE}"
MAX_ORDER = 6  # the highest n-gram order the KenLM inside flashlight-text's wheels accepts


class LMError(ModelLoadError):
    """A language model file is missing, unreadable or not an ARPA model."""


@dataclass
class LMSettings:
    """Where a model's language model lives and how strongly it counts (``config.json`` ``lm``).

    ``weight`` multiplies the LM's log10-probability of each character (the network's scores
    are natural logs); ``char_bonus`` (per non-blank frame) and ``word_bonus`` (per space)
    are in natural-log units, as is ``unknown_word_penalty``, added per word of a candidate that
    no English dictionary holds when the beams are ranked again (0 leaves the beam search's
    order). ``beam_tokens`` characters per frame are tried, and hypotheses more than
    ``beam_threshold`` below the best are dropped. ``tuned`` records how the values were chosen.
    """

    path: str = DEFAULT_PATH
    # Defaults: the values tuned for the shipped model, a fair start for a new one.
    weight: float = 1.25
    char_bonus: float = 1.5
    word_bonus: float = -3.0
    unknown_word_penalty: float = -3.0
    beam_tokens: int = 8
    beam_threshold: float = 15.0
    tuned: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict | None) -> LMSettings:
        """Settings from a config's ``lm`` entry; missing keys take their defaults."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ModelLoadError(f"config.json 'lm' must be an object, not {type(data).__name__}")
        settings = cls()
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            default = getattr(settings, f.name)
            try:
                if isinstance(default, bool) or isinstance(default, dict):
                    ok = isinstance(value, type(default))
                elif isinstance(default, (int, float)):
                    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
                    value = type(default)(value)
                else:
                    ok = isinstance(value, str)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ModelLoadError(f"config.json 'lm.{f.name}' has a bad value: {data[f.name]!r}")
            setattr(settings, f.name, value)
        if settings.beam_tokens < 1 or settings.beam_threshold <= 0:
            raise ModelLoadError("config.json 'lm.beam_tokens' must be >= 1 and 'lm.beam_threshold' > 0")
        return settings

    def to_dict(self) -> dict:
        return asdict(self)


@contextlib.contextmanager
def _quiet_stderr():
    """KenLM reports loading progress on the C-level stderr; keep it off the user's terminal."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _check_arpa(path: Path) -> None:
    """Fail early and clearly on a file that is not an ARPA model (KenLM's own errors are cryptic)."""
    if not path.is_file():
        raise LMError(f"language model file not found: {path}")
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            head = handle.read(4096)
    except (OSError, EOFError) as exc:
        raise LMError(f"language model {path} cannot be read: {exc}") from exc
    if not head.lstrip().startswith(b"\\data\\"):
        raise LMError(f"language model {path} is not an ARPA file (no \\data\\ header)")


class LanguageModel:
    """A character n-gram model loaded once into KenLM, with the settings to decode with it."""

    _load_lock = threading.Lock()

    def __init__(self, kenlm, charset: str, settings: LMSettings, path: Path):
        self._kenlm = kenlm
        self.charset = charset
        self.settings = settings
        self.path = path
        self.num_classes = len(charset) + 1
        self._space = charset.index(" ") + 1 if " " in charset else 0

    @classmethod
    def load(cls, path: str | Path, charset: str, settings: LMSettings | None = None) -> LanguageModel:
        """Load an ARPA file (plain or gzip); raises :class:`LMError` saying what is wrong."""
        path = Path(path)
        _check_arpa(path)
        try:
            from flashlight.lib.text.decoder.kenlm import KenLM
            from flashlight.lib.text.dictionary import Dictionary
        except ImportError as exc:  # pragma: no cover - the package is in requirements.txt
            raise LMError(f"language-model decoding needs flashlight-text (pip install -r requirements.txt): {exc}") from exc
        tokens = ["<blank>"] + [token_name(c) for c in charset]
        try:
            with cls._load_lock, _quiet_stderr():
                kenlm = KenLM(str(path), Dictionary(tokens))
        except Exception as exc:  # KenLM raises RuntimeError (and pybind11 others) for bad files
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise LMError(f"language model {path} is corrupt: {reason}") from exc
        return cls(kenlm, charset, settings or LMSettings(), path)

    def with_settings(self, settings: LMSettings) -> LanguageModel:
        """The same loaded model decoding with other settings (for tuning; nothing is reloaded)."""
        return LanguageModel(self._kenlm, self.charset, settings, self.path)

    def char_scores(self, text: str) -> np.ndarray:
        """The log10-probability of each character of ``text`` after those before it, and of the
        line ending there (``len(text) + 1`` values): how English each part of a reading is, for
        its confidence (:mod:`htr.confidence`). Characters outside the charset count as spaces."""
        index = {c: i + 1 for i, c in enumerate(self.charset)}
        state = self._kenlm.start(False)
        scores = np.empty(len(text) + 1)
        for i, char in enumerate(text):
            state, scores[i] = self._kenlm.score(state, index.get(char, self._space))
        scores[-1] = self._kenlm.finish(state)[1]
        return scores

    def decode(self, probabilities: np.ndarray, beam_width: int = BEAM_WIDTH, top_k: int = 5) -> Decoded:
        """The ``top_k`` best distinct readings of a T x C softmax matrix under network and LM."""
        from flashlight.lib.text.decoder import (
            CriterionType,
            LexiconFreeDecoder,
            LexiconFreeDecoderOptions,
        )

        probabilities = np.asarray(probabilities, np.float32)
        if probabilities.ndim != 2 or probabilities.shape[1] != self.num_classes:
            raise ValueError(f"expected a T x {self.num_classes} probability matrix, got {probabilities.shape}")
        steps, classes = probabilities.shape
        log_probs = np.log(np.maximum(probabilities, 1e-12))
        emissions = log_probs.copy()
        emissions[:, 1:] += self.settings.char_bonus
        emissions = np.ascontiguousarray(emissions, np.float32)
        s = self.settings
        options = LexiconFreeDecoderOptions(
            max(1, int(beam_width)), min(s.beam_tokens, classes), s.beam_threshold, s.weight,
            s.word_bonus if self._space else 0.0, True, CriterionType.CTC)
        decoder = LexiconFreeDecoder(options, self._kenlm, self._space, 0, [])
        results = decoder.decode(emissions.ctypes.data, steps, classes)
        candidates: list[tuple[float, list[int], float]] = []  # (score, labels, network log-prob)
        seen: set[tuple[int, ...]] = set()
        for result in results:
            # One token per frame, between the decoder's start and end marks.
            frames = np.asarray(result.tokens, np.int64)[1 : steps + 1]
            keep = np.ones(len(frames), bool)
            keep[1:] = frames[1:] != frames[:-1]
            labels = tuple(int(c) for c in frames[keep] if c != 0)
            if labels in seen:
                continue
            seen.add(labels)
            candidates.append((float(result.score), list(labels),
                               float(log_probs[np.arange(len(frames)), frames].sum())))
            if not s.unknown_word_penalty and len(candidates) >= max(1, top_k):
                break
        if not candidates:  # every hypothesis pruned: cannot happen with a finite threshold, but stay total
            return Decoded([([], float(log_probs[:, 0].sum()))])
        if s.unknown_word_penalty:
            # every beam ranked again, so a dictionary word from the last beam can still win
            candidates = sorted(((score + s.unknown_word_penalty * unknown_words(self.text(labels)), labels, network)
                                 for score, labels, network in candidates), key=lambda c: -c[0])
        kept = candidates[: max(1, top_k)]
        return Decoded([(labels, score) for score, labels, _ in kept], [network for _, _, network in kept])

    def text(self, labels: list[int]) -> str:
        """The characters of a label sequence (1-based into the charset; 0 is the blank)."""
        return labels_to_text(labels, self.charset)


def lm_settings(config) -> LMSettings:
    """A model config's LM settings (defaults where it has none)."""
    return LMSettings.from_dict(getattr(config, "lm", None) or {})


def load_for_model(model_dir: str | Path, config) -> tuple[LanguageModel | None, str | None]:
    """The model folder's language model, or ``(None, why not)``.

    A folder without an LM at the default place and no LM in its config simply has none; an
    LM that is configured or present but cannot be loaded gives a warning, and decoding
    falls back to beam search.
    """
    try:
        settings = lm_settings(config)
    except ModelLoadError as exc:
        warnings.warn(f"{exc}; the lm decoder falls back to beam search", stacklevel=2)
        return None, str(exc)
    if not settings.path:
        return None, "language-model decoding is switched off in config.json"
    path = Path(model_dir) / settings.path
    configured = bool(getattr(config, "lm", None))
    if not path.exists() and not configured:
        return None, f"{model_dir} has no language model ({settings.path})"
    try:
        return LanguageModel.load(path, config.charset, settings), None
    except LMError as exc:
        warnings.warn(f"{exc}; the lm decoder falls back to beam search", stacklevel=2)
        return None, str(exc)
