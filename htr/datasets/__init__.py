"""Data sets behind one interface: ``load_dataset(name, path, split) -> LineSet``."""

from pathlib import Path

from htr.datasets import folder, iam, iam_ondb
from htr.datasets.base import LineSample, LineSet
from htr.errors import DataError

LOADERS = {"iam-ondb": iam_ondb.load, "iam": iam.load, "folder": folder.load}
DATASETS = tuple(LOADERS)


def load_dataset(name: str, path: str | Path, split: str, progress: bool = False, limit: int | None = None) -> LineSet:
    """The usable lines of a split; ``limit`` (first N lines) lets a loader skip reading the rest."""
    if name not in LOADERS:
        raise DataError(f"unknown data set {name!r}; expected one of {', '.join(DATASETS)}")
    if not Path(path).exists():
        raise DataError(f"data folder not found: {path}")
    lines = LOADERS[name](Path(path), split, progress=progress, **({"limit": limit} if name == "iam-ondb" else {}))
    if limit:
        lines.samples = lines.samples[:limit]
    return lines


__all__ = ["DATASETS", "LineSample", "LineSet", "load_dataset"]
