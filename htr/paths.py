"""Where the model folder and the data sets are: declared here once, overridable by the environment.

``HTR_MODEL_DIR`` names a model folder (default: the repository's ``model/`` in a checkout, else
the copy a ``pip install`` put inside the package); ``HTR_DATA`` the folder holding the data sets
(default: ``../shared/data`` beside the repository, its layout in development).
"""

from __future__ import annotations

import os
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parent.parent  # the repository in a checkout
_INSTALLED_MODEL = Path(__file__).resolve().parent / "shipped_model"


def default_model_dir() -> Path:
    """The model folder to read with when none is named."""
    named = os.environ.get("HTR_MODEL_DIR")
    if named:
        return Path(named).expanduser()
    checkout = SOURCE_ROOT / "model"
    if (checkout / "config.json").is_file() or not _INSTALLED_MODEL.is_dir():
        return checkout
    return _INSTALLED_MODEL


def data_dir() -> Path:
    """The folder holding ``iam-ondb/`` and ``iam/``."""
    named = os.environ.get("HTR_DATA")
    return Path(named).expanduser() if named else SOURCE_ROOT.parent / "shared" / "data"


def iam_ondb_dir() -> Path:
    """IAM On-Line: pen trajectories, ``splits/`` and ``lineStrokes/``."""
    return data_dir() / "iam-ondb"


def iam_dir() -> Path:
    """IAM offline: metadata, the scanned lines and the ``available-train``/``available-dev`` splits."""
    return data_dir() / "iam"


def iam_split(name: str) -> Path:
    """An IAM split file by name, e.g. ``available-dev``."""
    return iam_dir() / "splits" / f"{name}.txt"
