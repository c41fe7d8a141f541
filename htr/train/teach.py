"""Teaching the app one's handwriting: prompts, the lines written for them, personal models.

The app's Teach tab asks a writer to write short sentences (:func:`load_prompts`: training-split
text only, so no line a model is measured on is ever asked for), collects each written line with
its text (:class:`TaughtLine`), adapts the model to them (:func:`adapt_lines`, one adaptation at a
time on a server: others keep reading meanwhile) and keeps each browser session's personal model
(:class:`PersonalModels`) until the session switches back to the base model. A personal model
travels as a ``.zip`` of its folder (:func:`zip_model`, :func:`unzip_model`), and API callers
name it by its id, the folder's unguessable name (:func:`personal_folder`). The API's lines,
drawn or photographed, arrive as JSON (:func:`parse_lines`).

No Keras here: :func:`adapt_lines` imports it when it trains.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
import shutil
import sys
import tempfile
import threading
import uuid
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from htr.errors import DataError, HTRError, ModelLoadError

PROMPTS_FILE = Path(__file__).resolve().parent / "prompts.txt"
# A model folder in a zip: what must be there, and how much may be unpacked (a model is ~15 MB).
REQUIRED_FILES = ("config.json", "model.weights.h5")
MAX_UNZIPPED = 200 * 1024 * 1024
# A personal model's id: its folder's name, with 128 random bits so that no one reads with
# another's model by guessing (the API names models by it).
MODEL_ID = re.compile(r"personal-[0-9a-f]{32}")
LINES_FORMAT = ('{"lines": [{"text": "...", "strokes": [[[x, y, t], ...], ...]} or '
                '{"text": "...", "image": "<base64 PNG or JPEG>"}, ...]}')


def load_prompts(path: Path = PROMPTS_FILE) -> list[str]:
    """The sentences the Teach tab asks for, in order (``#`` lines are comments)."""
    return [row.strip() for row in Path(path).read_text(encoding="utf-8").splitlines()
            if row.strip() and not row.startswith("#")]


def make_prompts(ondb_root: str | Path, charset: str, count: int = 40, seed: int = 7) -> list[str]:
    """Short whole sentences of the IAM On-Line training split's text, for :data:`PROMPTS_FILE`."""
    from htr.datasets.base import read_split_ids
    from htr.datasets.iam_ondb import load_transcriptions

    root = Path(ondb_root)
    texts = load_transcriptions(root)
    allowed = set(charset)
    candidates = set()
    for line_id in read_split_ids(root / "splits" / "train.txt"):
        text = (texts.get(line_id) or "").strip()
        if (20 <= len(text) <= 38 and set(text) <= allowed and text[0].isupper() and text.endswith(".")
                and text.count(".") == 1 and len(text.split()) >= 4 and not set(text) & set("\"#()0123456789")
                and " '" not in text):
            candidates.add(text)
    chosen = sorted(candidates)
    random.Random(seed).shuffle(chosen)
    return chosen[:count]


@dataclass
class TaughtLine:
    """One line a writer gave: its text, and either the pen strokes or an image."""

    text: str
    strokes: list | None = None  # [[[x, y(, t)], ...], ...] as the canvas sends them
    image: np.ndarray | None = None


def write_lines(lines: list[TaughtLine], folder: Path) -> Path:
    """The lines as a folder with ``labels.tsv`` (stroke JSON and PNG files): what ``htr adapt`` reads."""
    from htr.imageio import encode_png

    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for number, line in enumerate(lines, start=1):
        if line.strokes is not None:
            name = f"line-{number:03d}.json"
            (folder / name).write_text(json.dumps({"strokes": [np.asarray(s).tolist() for s in line.strokes]}))
        elif line.image is not None:
            name = f"line-{number:03d}.png"
            image = line.image
            (folder / name).write_bytes(encode_png(image if image.ndim == 3 else np.dstack([image] * 3)))
        else:
            raise DataError(f"line {number} has neither strokes nor an image")
        rows.append(f"{name}\t{' '.join(line.text.split())}")
    labels = folder / "labels.tsv"
    labels.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return labels


def decode_base64_image(data: Any, name: str = "the image") -> np.ndarray:
    """A base64 string (optionally a ``data:image/...;base64,`` URL) as an upright image array.

    Raises BadImageError saying whether the base64 or the image in it is at fault.
    """
    from htr.errors import BadImageError
    from htr.imageio import decode_image

    if not isinstance(data, str):
        raise BadImageError(f"{name}: expected the image as a base64 string, got {type(data).__name__}")
    text = data.strip()
    if text.startswith("data:"):
        header, _, text = text.partition(",")
        if not header.endswith(";base64"):
            raise BadImageError(f"{name}: a data URL must be base64 (data:image/png;base64,...)")
    try:
        encoded = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadImageError(f"{name}: the image is not valid base64 ({exc})") from None
    return decode_image(encoded, name)


def parse_lines(value: Any) -> list[TaughtLine]:
    """The API's lines (JSON text or decoded) as TaughtLines, every problem reported at once.

    Each line has its ``text`` and either ``strokes`` (as the canvas sends them) or ``image``
    (a base64 PNG or JPEG of one line, a photo or a scan: read as uploads are, sheet found
    and flattened when adapting). Raises :class:`htr.train.adapt.AdaptInputError`.
    """
    from htr.errors import BadImageError
    from htr.ink import parse_drawing
    from htr.train.adapt import AdaptInputError

    try:
        data = json.loads(value) if isinstance(value, (str, bytes)) else value
    except ValueError as exc:
        raise AdaptInputError([f"expected JSON {LINES_FORMAT}: {exc}"]) from None
    items = data.get("lines") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise AdaptInputError([f"expected {LINES_FORMAT}"])
    lines, problems = [], []
    for number, item in enumerate(items, start=1):
        where = f"line {number}"
        if not isinstance(item, dict):
            problems.append(f"{where}: expected an object with text and strokes or image, got {type(item).__name__}")
            continue
        text = item.get("text")
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{where}: the text is missing or empty (give what the line says)")
            continue
        has_strokes, has_image = item.get("strokes") is not None, item.get("image") is not None
        if has_strokes == has_image:
            problems.append(f"{where}: give either strokes or an image, {'not both' if has_image else 'got neither'}")
            continue
        try:
            if has_image:
                lines.append(TaughtLine(text, image=decode_base64_image(item["image"], where)))
            else:
                lines.append(TaughtLine(text, strokes=[s.tolist() for s in parse_drawing(item).strokes]))
        except BadImageError as exc:
            message = str(exc)
            problems.append(message if message.startswith(where) else f"{where}: {message}")
    if problems:
        raise AdaptInputError(problems)
    return lines


def new_model_id() -> str:
    """An unguessable name for a new personal model's folder (:data:`MODEL_ID`)."""
    return f"personal-{uuid.uuid4().hex}"


def personal_folder(root: str | Path, model_id: Any) -> Path:
    """The folder under ``root`` of the personal model ``model_id``; ModelLoadError if there is none."""
    if not isinstance(model_id, str) or not MODEL_ID.fullmatch(model_id.strip()):
        raise ModelLoadError(f"{str(model_id)[:80]!r} is no personal model id: use the model_id that /adapt "
                             "returned (personal- and 32 hexadecimal digits)")
    folder = Path(root) / model_id.strip()
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"no personal model {model_id.strip()} on this server: it was never made here, "
                             "or it was removed; adapt again, or read with the base model")
    return folder


class AdaptBusy(HTRError):
    """Another adaptation is running on this server."""


_adapting = threading.Lock()


def adapt_lines(lines: list[TaughtLine], base_dir: str | Path, out_root: str | Path,
                on_progress: Callable[[float, str], None] | None = None, wait: float = 0.0, settings=None):
    """Adapt the model in ``base_dir`` to ``lines``; the new model folder goes under ``out_root``.

    One adaptation at a time per process (it takes both cores for a minute or two): a second
    waits up to ``wait`` seconds, then raises :class:`AdaptBusy`. Returns
    :class:`htr.train.adapt.Adapted`. Bad lines raise :class:`htr.train.adapt.AdaptInputError`
    (every problem listed) before anything trains.
    """
    from htr.config import ModelConfig
    from htr.tf_env import installed, missing_extra_message
    from htr.train.adapt import read_labels

    missing = [module for module in ("keras", "tensorflow", "tf2onnx") if not installed(module)]
    if missing:
        raise ModelLoadError(missing_extra_message("adapting a model", missing))
    config = ModelConfig.load(Path(base_dir))
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="lines-", dir=out_root))
    try:
        labels = write_lines(lines, work)
        checked = read_labels(labels, config)  # before waiting for the lock: bad input is said at once
        if not _adapting.acquire(timeout=wait) if wait > 0 else not _adapting.acquire(blocking=False):
            raise AdaptBusy("another adaptation is running on this server; try again in a minute or two")
        try:
            from htr.tf_env import configure_tensorflow

            configure_tensorflow(training=True)
            from htr.train.adapt import adapt

            out = out_root / new_model_id()
            return adapt(checked, base_dir, out, settings, log=lambda m: print(m, file=sys.stderr),
                         on_progress=on_progress, source=f"{len(lines)} lines taught in the app")
        finally:
            _adapting.release()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def zip_model(model_dir: str | Path, zip_path: str | Path) -> Path:
    """A model folder as a ``.zip`` (its files at the zip's top level), written atomically."""
    model_dir, zip_path = Path(model_dir), Path(zip_path)
    tmp = zip_path.with_name(zip_path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(model_dir.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(model_dir).as_posix())
    tmp.replace(zip_path)
    return zip_path


def unzip_model(zip_path: str | Path, out_root: str | Path) -> Path:
    """A personal model's ``.zip`` unpacked into a new folder under ``out_root``; ModelLoadError
    if it is no model folder (or would unpack outside its folder, or to more than 200 MB)."""
    zip_path, out_root = Path(zip_path), Path(out_root)
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelLoadError(f"{zip_path.name} is not a .zip file: {exc}") from None
    with archive:
        names = archive.namelist()
        prefix = ""
        if "config.json" not in names:  # a zip of the folder itself: its files one level down
            tops = {n.split("/", 1)[0] for n in names}
            if len(tops) == 1 and f"{next(iter(tops))}/config.json" in names:
                prefix = next(iter(tops)) + "/"
        missing = [n for n in REQUIRED_FILES if prefix + n not in names]
        if missing:
            raise ModelLoadError(f"{zip_path.name} holds no model folder: {', '.join(missing)} missing "
                                 "(use a .zip that the Teach tab made)")
        if sum(info.file_size for info in archive.infolist()) > MAX_UNZIPPED:
            raise ModelLoadError(f"{zip_path.name} unpacks to more than {MAX_UNZIPPED // 2**20} MB: not a model")
        out_root.mkdir(parents=True, exist_ok=True)
        target = Path(tempfile.mkdtemp(prefix="uploaded-", dir=out_root))
        try:
            for info in archive.infolist():
                if info.is_dir() or not info.filename.startswith(prefix):
                    continue
                relative = Path(info.filename[len(prefix):])
                if relative.is_absolute() or ".." in relative.parts:
                    raise ModelLoadError(f"{zip_path.name}: {info.filename} would unpack outside the model folder")
                destination = target / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, open(destination, "wb") as sink:
                    shutil.copyfileobj(source, sink)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
    return target


@dataclass
class _Personal:
    folder: Path
    recognizer: object = None
    active: bool = True  # reading with it (False: switched back to the base model)
    info: dict = field(default_factory=dict)


class PersonalModels:
    """Each session's personal model (loaded on first use), at most ``size`` kept loaded.

    Sessions are keys (a browser session's id); a session without one, or switched back to the
    base model, reads with the base model.
    """

    def __init__(self, size: int = 8, threads: int = 1):
        self.size = size
        self.threads = threads
        self._models: OrderedDict[str, _Personal] = OrderedDict()
        self._lock = threading.Lock()

    def set(self, session: str, folder: str | Path) -> dict:
        """Give ``session`` the model in ``folder`` (loaded now, so a bad folder fails here)."""
        return self._load(session, Path(folder)).info

    def by_id(self, root: str | Path, model_id: Any):
        """The recognizer of the personal model ``model_id`` under ``root``, for API callers who
        name it: loaded on first use and kept as a session's is. ModelLoadError for an unknown id."""
        key = f"id:{model_id}"
        with self._lock:
            entry = self._models.get(key)
            if entry is not None:
                self._models.move_to_end(key)
                return entry.recognizer
        return self._load(key, personal_folder(root, model_id)).recognizer

    def _load(self, key: str, folder: Path) -> _Personal:
        """Load the model in ``folder`` for ``key``, the least recently used beyond ``size`` let go."""
        from htr.recognizer import Recognizer

        entry = _Personal(folder, Recognizer.load(folder, threads=self.threads), True, describe(folder))
        with self._lock:
            self._models[key] = entry
            self._models.move_to_end(key)
            while len(self._models) > self.size:
                self._models.popitem(last=False)
        return entry

    def use(self, session: str, personal: bool) -> bool:
        """Read with the personal model (True) or the base model; False if the session has none."""
        with self._lock:
            entry = self._models.get(session)
            if entry is None:
                return False
            entry.active = personal
            return True

    def folder(self, session: str) -> Path | None:
        with self._lock:
            entry = self._models.get(session)
            return entry.folder if entry else None

    def recognizer(self, session: str | None):
        """The session's personal recognizer while it reads with it, else None (the base model)."""
        if session is None:
            return None
        with self._lock:
            entry = self._models.get(session)
            if entry is None or not entry.active:
                return None
            self._models.move_to_end(session)
            return entry.recognizer


def describe(folder: str | Path) -> dict:
    """What a personal model's metadata says of its adaptation (empty where it says nothing)."""
    try:
        return json.loads((Path(folder) / "metadata.json").read_text()).get("adapted", {})
    except (OSError, ValueError, AttributeError):
        return {}


def summary(info: dict) -> str:
    """One sentence on an adaptation, for a page."""
    from htr.train.adapt import AdaptSettings, fewest_lines_for_folds, lines_to_add

    if not info:
        return "a personal model (no adaptation figures in it)"
    before, after = info.get("heldout_cer_before"), info.get("heldout_cer_after")
    if info.get("folds", 0):
        lines = len(info.get("heldout_lines", []))
        checked = "each of your lines read by a model adapted on the others, it reads"
        kept = " Adapting did not read your lines better that way, so it keeps the base model's weights."
    else:
        lines = len(info.get("train_lines", [])) + len(info.get("heldout_lines", []))
        checked = f"on the {len(info.get('heldout_lines', []))} lines held out it reads"
        kept = " Adapting did not read your held-out lines better, so it keeps the base model's weights."
    figures = (f"{checked} {before:.1%} → {after:.1%} of characters wrong"
               if before is not None and after is not None else "")
    kept = kept if info.get("kept_base") else ""
    used = info.get("settings") or {}  # the folds this adaptation was allowed, as its metadata records them
    settings = AdaptSettings(**{k: used[k] for k in ("folds", "min_fold_lines") if k in used})
    missing = lines_to_add(lines, bool(info.get("kept_base")), info.get("folds", 0), settings)
    if missing:
        kept += (f" With {lines} lines a gain cannot be told from chance: write {missing} more "
                 f"({fewest_lines_for_folds(settings)} or more are each checked against the others) and adapt again.")
    return f"adapted on {lines} of your lines in {info.get('seconds', 0):.0f} s; {figures}.{kept}"


def main(argv: list[str] | None = None) -> int:
    """``python -m htr.train.teach prompts DATA/iam-ondb``: print the prompts file."""
    import argparse

    from htr.config import ModelConfig
    from htr.paths import default_model_dir

    parser = argparse.ArgumentParser(prog="python -m htr.train.teach")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prompts", help="print short training-split sentences for the Teach tab")
    p.add_argument("ondb", help="the IAM On-Line folder")
    p.add_argument("--count", type=int, default=40)
    args = parser.parse_args(argv)
    charset = ModelConfig.load(default_model_dir()).charset
    print("# Sentences the app's Teach tab asks a writer to write: short lines of the IAM On-Line\n"
          "# training split's text (never validation text), each a whole sentence ending in a full stop.\n"
          "# Made by: python -m htr.train.teach prompts DATA/iam-ondb > htr/train/prompts.txt")
    print("\n".join(make_prompts(args.ondb, charset, args.count)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
