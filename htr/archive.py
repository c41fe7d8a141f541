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

import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Iterator

from htr.errors import HTRError
from htr.formats import FORMATS, render, source_of

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif", ".jp2", ".pgm", ".ppm")
STATE_DIR = ".htr"  # under OUT: the manifest and the temporary files
MANIFEST = "manifest.jsonl"
ERRORS = "errors.jsonl"
# Files of a model folder that change what is read (hashed into the fingerprint).
_MODEL_FILES = ("config.json", "confidence.json", "model.onnx", "model.onnx.json", "model.weights.h5")


@dataclass(frozen=True)
class ReadSettings:
    """How every input is read and written; all of it goes into the fingerprint."""

    format: str = "jsonl"
    layout: str = "auto"
    decoder: str = "lm"
    beam_width: int = 16
    top_k: int = 5
    correct: bool = False
    batch_size: int = 32


@dataclass(frozen=True)
class Input:
    """One file to read: its path as named (what outputs call it) and its output's place under OUT."""

    path: str
    output: str  # POSIX path relative to OUT


@dataclass
class Outcome:
    """What reading one input gave: the output's bytes, or an error message; lines read."""

    data: bytes | None = None
    error: str | None = None
    lines: int = 0


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


def model_fingerprint(model_dir: str | Path, runtime: str, settings: ReadSettings) -> str:
    """A short hash of the model files that shape a reading, the engine and the settings."""
    model_dir = Path(model_dir)
    digest = hashlib.sha256()
    files = [model_dir / name for name in _MODEL_FILES]
    files += sorted((model_dir / "lm").glob("*")) if (model_dir / "lm").is_dir() else []
    for path in files:
        if path.is_file() and not (runtime == "onnx" and path.name == "model.weights.h5"):
            digest.update(path.name.encode() + b"\0")
            with open(path, "rb") as handle:
                digest.update(hashlib.file_digest(handle, "sha256").digest())
    digest.update(json.dumps({"runtime": runtime, **asdict(settings)}, sort_keys=True).encode())
    return "sha256:" + digest.hexdigest()[:16]


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


def without_path(message: str, path: str) -> str:
    """An error's message without the file name it starts with: the record names the file."""
    return message.removeprefix(f"{path}: ")


def unreadable(path: str) -> str | None:
    """Why a file cannot be opened (missing, a dangling link, no permission), or None."""
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except FileNotFoundError:
        return "no such file"
    except OSError as exc:
        return f"cannot read the file ({exc.strerror or exc})"
    return None


def read_items(recognizer, paths: list[str], settings: ReadSettings, fingerprint: str,
               names: list[str] | None = None) -> Iterator[Outcome]:
    """Each file read and rendered, in order. ``names``: what the outputs call the files where
    they were read from elsewhere (a Ray worker's local copies); error messages are given in
    those names too."""
    names = names or paths
    problems = [unreadable(path) for path in paths]
    readable = [path for path, problem in zip(paths, problems) if problem is None]
    results = _results(recognizer, readable, settings)
    for path, name, problem in zip(paths, names, problems):
        if problem is not None:
            yield Outcome(error=problem)
            continue
        result = next(results)
        if isinstance(result, HTRError):
            yield Outcome(error=without_path(str(result).replace(path, name), name))
            continue
        try:
            data = render(result, settings.format, source_of(name, path), fingerprint)
        except (OSError, ValueError) as exc:
            yield Outcome(error=f"could not write its {settings.format} output: {exc}")
            continue
        yield Outcome(data, lines=len(result.lines))


def _stream(recognizer, paths: list[str], settings: ReadSettings) -> Iterator:
    from htr.ink import load_ink, render_ink

    def read(path: str):
        return render_ink(load_ink(path)) if path.lower().endswith((".inkml", ".xml")) else path

    if settings.layout == "line":
        results = recognizer.recognize_stream(paths, settings.decoder, settings.beam_width, settings.top_k,
                                              settings.correct, read=read, batch_size=settings.batch_size)
        return (r if isinstance(r, HTRError) else _as_page(r) for r in results)
    from htr.page import recognize_files

    return recognize_files(recognizer, paths, settings.layout, settings.decoder, settings.beam_width,
                           settings.top_k, settings.correct, read=read, batch_size=settings.batch_size)


def _results(recognizer, paths: list[str], settings: ReadSettings) -> Iterator:
    """The readings of ``paths`` in order, in batches; should one file break the batched stream
    with an error of no known kind, the rest are read one by one and only that file fails: one
    odd page must not end a run over thousands. (Readings do not depend on the batch: a line
    reads the same alone or among others, to the last digit written.)"""
    done = 0
    try:
        for result in _stream(recognizer, paths, settings):
            yield result
            done += 1
    except Exception:  # noqa: BLE001 - isolated below, file by file
        for path in paths[done:]:
            try:
                yield next(iter(_stream(recognizer, [path], settings)))
            except HTRError as exc:
                yield exc
            except Exception as exc:  # noqa: BLE001
                yield HTRError(f"{path}: could not be read ({type(exc).__name__}: {exc})")


def _as_page(recognition):
    """A line read with ``--layout line``, as the one-line page ``recognize_files`` gives."""
    from htr.page import _one_line

    image = recognition.image
    return _one_line(recognition, (int(image.shape[1]), int(image.shape[0])))


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
    recognizer = Recognizer.load(model_dir, runtime) if engine == "local" else None
    used_runtime = recognizer.runtime if recognizer is not None else _ray_runtime(model_dir, runtime)
    fingerprint = model_fingerprint(model_dir, used_runtime, settings)
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
            for item, outcome in zip(pending, read_items(recognizer, [i.path for i in pending], settings,
                                                         fingerprint)):
                record(item, outcome)
    finally:
        if bar is not None:
            bar.close()
        tree.close(inputs)
    summary.seconds = time.perf_counter() - start
    return summary


def _ray_runtime(model_dir, runtime: str) -> str:
    """The runtime Ray workers will use: as the local engine would choose it, without loading it."""
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
