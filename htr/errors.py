"""Errors a user can act on; each message says what was wrong and what to do."""


class HTRError(Exception):
    """Base class for every error the package raises on purpose."""


class BadImageError(HTRError, ValueError):
    """The input could not be read as an image (unreadable, empty, wrong type or size)."""


class NoInkError(BadImageError):
    """The image holds no handwriting: blank canvas, empty page, uniform colour."""


class NoPaperError(NoInkError):
    """A photo shows no sheet and nothing that could be writing: only a desk or background."""


class ModelLoadError(HTRError):
    """A model folder is missing, incomplete or corrupt."""


class DataError(HTRError):
    """A data set folder or file is missing or not in the expected format."""


class BadInkError(BadImageError):
    """Pen strokes (JSON, InkML, IAM On-Line XML) that cannot be read as a drawing."""


class DistributionError(HTRError):
    """Training cannot be spread as asked: wrong backend, one device, bad batch size or cluster."""
