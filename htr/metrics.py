"""Corpus-level character and word error rates."""

from dataclasses import dataclass
from typing import Iterable

from rapidfuzz.distance import Levenshtein

from htr.text import normalize_for_scoring


@dataclass(frozen=True)
class ErrorRates:
    """Summed edit distances over summed reference lengths, as IAM results are reported."""

    cer: float
    wer: float
    char_errors: int
    chars: int
    word_errors: int
    words: int
    lines: int

    def as_dict(self) -> dict:
        return {
            "cer": self.cer,
            "wer": self.wer,
            "char_errors": self.char_errors,
            "chars": self.chars,
            "word_errors": self.word_errors,
            "words": self.words,
            "lines": self.lines,
        }


def line_cer(reference: str, hypothesis: str) -> float:
    """CER of one line (normalised spacing); 0 for an empty reference matched exactly."""
    ref, hyp = normalize_for_scoring(reference), normalize_for_scoring(hypothesis)
    return Levenshtein.distance(ref, hyp) / max(1, len(ref))


def error_rates(references: Iterable[str], hypotheses: Iterable[str]) -> ErrorRates:
    char_errors = chars = word_errors = words = lines = 0
    for reference, hypothesis in zip(references, hypotheses, strict=True):
        ref, hyp = normalize_for_scoring(reference), normalize_for_scoring(hypothesis)
        char_errors += Levenshtein.distance(ref, hyp)
        chars += len(ref)
        ref_words, hyp_words = ref.split(), hyp.split()
        word_errors += Levenshtein.distance(ref_words, hyp_words)
        words += len(ref_words)
        lines += 1
    return ErrorRates(
        cer=char_errors / max(1, chars),
        wer=word_errors / max(1, words),
        char_errors=char_errors,
        chars=chars,
        word_errors=word_errors,
        words=words,
        lines=lines,
    )
