"""What reads a batch of an archive's files and renders their outputs: the same code for the
local engine (:mod:`htr.archive`) and each Ray worker (:mod:`htr.archive_ray`), so both write
the same bytes; and the fingerprint that says which model and settings made an output."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from htr.decode import BEAM_WIDTH
from htr.errors import HTRError
from htr.formats import render, source_of

# Files of a model folder that change what is read (hashed into the fingerprint).
MODEL_FILES = ("config.json", "confidence.json", "model.onnx", "model.onnx.json", "model.weights.h5")


@dataclass(frozen=True)
class ReadSettings:
    """How every input is read and written; all of it goes into the fingerprint."""

    format: str = "jsonl"
    layout: str = "auto"
    decoder: str = "lm"
    beam_width: int = BEAM_WIDTH
    top_k: int = 5
    correct: bool = False
    batch_size: int = 32


@dataclass
class Outcome:
    """What reading one input gave: the output's bytes, or an error message; lines read."""

    data: bytes | None = None
    error: str | None = None
    lines: int = 0


def model_fingerprint(model_dir: str | Path, runtime: str, settings: ReadSettings) -> str:
    """A short hash of the model files that shape a reading, the engine and the settings."""
    model_dir = Path(model_dir)
    digest = hashlib.sha256()
    files = [model_dir / name for name in MODEL_FILES]
    files += sorted((model_dir / "lm").glob("*")) if (model_dir / "lm").is_dir() else []
    for path in files:
        if path.is_file() and not (runtime == "onnx" and path.name == "model.weights.h5"):
            digest.update(path.name.encode() + b"\0")
            with open(path, "rb") as handle:
                digest.update(hashlib.file_digest(handle, "sha256").digest())
    from htr.formats import software_version

    # (the batch size is left out: a line reads the same in any batch)
    shaping = {key: value for key, value in asdict(settings).items() if key != "batch_size"}
    digest.update(json.dumps({"runtime": runtime, "htr": software_version(), **shaping}, sort_keys=True).encode())
    return "sha256:" + digest.hexdigest()[:16]


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


def without_path(message: str, path: str) -> str:
    """An error's message without the file name it starts with: the record names the file."""
    return message.removeprefix(f"{path}: ")


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
