"""Reading an archive: a folder tree of pages to one output file each, resumable.

``predict FOLDER --out OUT`` walks the tree, and for each image or ink file writes its reading
under ``OUT`` at the same relative place (``box1/letter-017.png`` -> ``OUT/box1/letter-017.xml``).
A file is written to ``OUT/.htr/tmp/`` first and renamed into place, so a killed run leaves no
partial output; each output written is then recorded in ``OUT/.htr/manifest.jsonl`` with the
fingerprint of the model and settings that made it. A later run skips every input whose output
exists, is newer than the input and was made with the same fingerprint: resuming after a crash
reads only what is left, and a run over an unchanged tree reads nothing. Inputs that cannot be
read go to ``OUT/errors.jsonl`` (one ``{"path", "error"}`` per line) and the run goes on.

The reading itself (:func:`read_items`) is one function for both engines: the local one here,
and Ray workers (:mod:`htr.archive_ray`), which run it on the bytes the driver sends them.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from htr.archive_worker import Outcome, ReadSettings, model_fingerprint, read_items
from htr.errors import HTRError
from htr.formats import FORMATS

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif", ".jp2", ".pgm", ".ppm")
STATE_DIR = ".htr"  # under OUT: the manifest and the temporary files
MANIFEST = "manifest.jsonl"
ERRORS = "errors.jsonl"


@dataclass(frozen=True)
class Input:
    """One file to read: its path as named (what outputs call it) and its output's place under OUT."""

    path: str
    output: str  # POSIX path relative to OUT


@dataclass
class Summary:
    """A run in figures."""

    inputs: int = 0
    read: int = 0
    skipped: int = 0
    failed: int = 0
    lines: int = 0
    seconds: float = 0.0
    errors: list[dict] = field(default_factory=list)

    def line(self) -> str:
        rate = f" ({self.read / self.seconds:.2f} files/s)" if self.read and self.seconds > 0 else ""
        return (f"read {self.read}, skipped {self.skipped} (done before), failed {self.failed}, "
                f"lines {self.lines}, {self.seconds:.1f} s{rate}")


def is_ink_input(path: Path) -> bool:
    """An ``.inkml`` file, or an ``.xml`` file of IAM On-Line strokes (not PAGE or ALTO)."""
    suffix = path.suffix.lower()
    if suffix == ".inkml":
        return True
    if suffix != ".xml":
        return False
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096).decode("utf-8", "replace")
    except OSError:
        return True  # let reading say what is wrong with it
    return "<StrokeSet" in head or "<WhiteboardCaptureSession" in head or "<ink" in head


def _wanted(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES or is_ink_input(path)


def find_inputs(names: Iterable[str], out: str | Path, fmt: str) -> list[Input]:
    """Every image and ink file under the folders named and every file named, in a stable
    order, with where its output goes: relative to the one folder given, else to the
    common parent of what was given. ``OUT`` itself is never walked into."""
    names = list(names)
    ext = FORMATS[fmt]
    out_real = Path(out).resolve()
    if len(names) == 1 and Path(names[0]).is_dir():
        base = Path(names[0])
    else:
        # a folder among several keeps its own name: OUT/box1/..., OUT/box2/...
        parents = [os.path.abspath(Path(n).parent) for n in names]
        base = Path(os.path.commonpath(parents)) if parents else Path(".")
    found: list[Path] = []
    for name in names:
        path = Path(name)
        if path.is_dir():
            for folder, dirs, files in os.walk(path):
                if Path(folder).resolve() == out_real:
                    dirs[:] = []
                    continue
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and Path(folder, d).resolve() != out_real)
                found += [Path(folder, f) for f in sorted(files) if not f.startswith(".") and _wanted(Path(folder, f))]
        else:
            found.append(path)  # named: read whatever it is (a missing file is an error to record)
    base_abs = os.path.abspath(base)
    rels = [PurePosixPath(Path(os.path.relpath(os.path.abspath(p), base_abs)).as_posix()) for p in found]
    # two inputs of one folder with one stem (letter.png, letter.jpg) keep their suffixes apart
    stems: dict[PurePosixPath, int] = {}
    for rel in rels:
        stems[rel.with_suffix("")] = stems.get(rel.with_suffix(""), 0) + 1
    inputs, seen = [], set()
    for path, rel in zip(found, rels):
        stem = rel.with_suffix("")
        output = str(stem) + ext if stems[stem] == 1 else str(rel) + ext
        if output in seen:  # the same file named twice
            continue
        seen.add(output)
        inputs.append(Input(str(path), output))
    return inputs


class OutputTree:
    """OUT: atomic writes, the manifest of what was made by which fingerprint, the error log."""

    def __init__(self, out: str | Path, fingerprint: str):
        self.root = Path(out)
        self.fingerprint = fingerprint
        self.state = self.root / STATE_DIR
        self.tmp = self.state / "tmp"
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.tmp, ignore_errors=True)  # what a killed run was writing
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.made = self._read_manifest()
        self._manifest = open(self.state / MANIFEST, "a", encoding="utf-8")
        if self._manifest.tell() and not (self.state / MANIFEST).read_bytes().endswith(b"\n"):
            self._manifest.write("\n")  # a line cut short by a kill stays a line of its own
        self._errors = open(self.root / ERRORS, "w", encoding="utf-8")  # this run's failures
        self._count = 0

    def _read_manifest(self) -> dict[str, str]:
        made: dict[str, str] = {}
        try:
            with open(self.state / MANIFEST, encoding="utf-8") as handle:
                for row in handle:
                    try:
                        entry = json.loads(row)
                        made[entry["output"]] = entry["fingerprint"]
                    except (ValueError, KeyError, TypeError):
                        continue  # a line cut short by a kill
        except FileNotFoundError:
            pass
        return made

    def is_done(self, item: Input) -> bool:
        """Its output exists, is newer than the input and was made with this fingerprint."""
        if self.made.get(item.output) != self.fingerprint:
            return False
        try:
            return (self.root / item.output).stat().st_mtime_ns >= Path(item.path).stat().st_mtime_ns
        except OSError:
            return False

    def write(self, item: Input, data: bytes) -> None:
        """The output written whole under a temporary name, renamed into place, then recorded."""
        target = self.root / item.output
        target.parent.mkdir(parents=True, exist_ok=True)
        self._count += 1
        temporary = self.tmp / f"{os.getpid()}-{self._count}{target.suffix}"
        with open(temporary, "wb") as handle:
            handle.write(data)
        os.replace(temporary, target)
        self._manifest.write(json.dumps({"output": item.output, "fingerprint": self.fingerprint}) + "\n")
        self._manifest.flush()
        self.made[item.output] = self.fingerprint

    def error(self, item: Input, message: str) -> dict:
        entry = {"path": item.path, "error": message}
        self._errors.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self._errors.flush()
        return entry

    def close(self, order: list[Input] | None = None) -> None:
        """Done: the error log rewritten in the inputs' order (whichever engine finished first)."""
        self._manifest.close()
        self._errors.close()
        if order is not None:
            rank = {item.path: k for k, item in enumerate(order)}
            path = self.root / ERRORS
            rows = path.read_text(encoding="utf-8").splitlines(keepends=True)
            rows.sort(key=lambda row: rank.get(json.loads(row)["path"], len(rank)))
            temporary = self.tmp / ERRORS
            temporary.write_text("".join(rows), encoding="utf-8")
            os.replace(temporary, path)
        shutil.rmtree(self.tmp, ignore_errors=True)


def read_archive(names: list[str], out: str | Path, settings: ReadSettings, model_dir: str | Path,
                 runtime: str = "auto", engine: str = "local", address: str | None = None,
                 workers: int | None = None, progress: bool = True,
                 on_outcome: Callable[[Input, Outcome], None] | None = None) -> Summary:
    """Read every input under ``names`` into ``out``; the run's figures."""
    from htr.recognizer import Recognizer

    if settings.format not in FORMATS:
        raise HTRError(f"unknown format {settings.format!r}; use one of {', '.join(FORMATS)}")
    if engine == "ray":
        from htr.archive_ray import import_ray

        import_ray()  # before anything is walked or written: say at once if it is missing
    start = time.perf_counter()
    inputs = find_inputs(names, out, settings.format)
    # the model is loaded only when something is left to read: a finished run costs a walk
    fingerprint = model_fingerprint(model_dir, resolved_runtime(model_dir, runtime), settings)
    tree = OutputTree(out, fingerprint)
    summary = Summary(inputs=len(inputs))
    pending = [item for item in inputs if not tree.is_done(item)]
    summary.skipped = len(inputs) - len(pending)
    bar = _bar(len(pending), progress)

    def record(item: Input, outcome: Outcome) -> None:
        if outcome.error is not None:
            summary.failed += 1
            summary.errors.append(tree.error(item, outcome.error))
        else:
            tree.write(item, outcome.data)
            summary.read += 1
            summary.lines += outcome.lines
        if on_outcome:
            on_outcome(item, outcome)
        if bar is not None:
            bar.update(1)

    try:
        if engine == "ray":
            from htr.archive_ray import run_on_ray

            run_on_ray(pending, settings, model_dir, runtime, fingerprint, record, address, workers)
        elif pending:
            recognizer = Recognizer.load(model_dir, runtime)
            for item, outcome in zip(pending, read_items(recognizer, [i.path for i in pending], settings,
                                                         fingerprint), strict=True):
                record(item, outcome)
    finally:
        if bar is not None:
            bar.close()
        tree.close(inputs)
    summary.seconds = time.perf_counter() - start
    return summary


def resolved_runtime(model_dir, runtime: str) -> str:
    """The runtime ``Recognizer.load`` will choose (``auto``: ONNX if model.onnx is current),
    told without loading the model."""
    if runtime == "auto":
        runtime = os.environ.get("HTR_RUNTIME", "auto") or "auto"
    if runtime != "auto":
        return runtime
    from htr.config import ModelConfig
    from htr.engine import onnx_staleness

    return "onnx" if onnx_staleness(Path(model_dir), ModelConfig.load(model_dir)) is None else "keras"


def _bar(total: int, progress: bool):
    if not progress or not total:
        return None
    from tqdm import tqdm

    tty = sys.stderr.isatty()
    return tqdm(total=total, desc="reading", unit="file", file=sys.stderr, dynamic_ncols=tty,
                mininterval=0.5 if tty else 30.0, ascii=not tty)
