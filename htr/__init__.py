"""Handwritten text-line recognition: a CRNN trained with CTC on whole lines."""

from htr.confidence import Word
from htr.config import IAM_CHARSET, ModelConfig
from htr.errors import BadImageError, BadInkError, DataError, ModelLoadError, NoInkError
from htr.results import Alternative, Recognition

__all__ = [
    "IAM_CHARSET",
    "Alternative",
    "BadImageError",
    "BadInkError",
    "DataError",
    "ModelConfig",
    "ModelLoadError",
    "NoInkError",
    "Recognition",
    "Recognizer",
    "Word",
]


def __getattr__(name: str):
    # The recognizer pulls in Keras; import it only when asked for so that
    # light modules (text, metrics, datasets) stay quick to import.
    if name == "Recognizer":
        from htr.recognizer import Recognizer

        return Recognizer
    raise AttributeError(name)
