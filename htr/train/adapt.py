"""Adapting a trained model to one writer from a few of their lines (``python -m htr adapt``).

A writer's few lines (line images, photos of lines, ink files or the app's stroke JSON, listed
in a ``path<TAB>text`` file) fine-tune the recurrent part of the model on frozen convolutions:
what the convolutions see of strokes stays as it was, and only how strokes are read as letters
moves towards this hand. A share of the writer's lines is held out: it picks the best epoch
and **guards** the result, which keeps the base model's weights when adaptation does not read
the held-out lines better. The result is a complete model folder (weights, ``config.json``,
ONNX export, the base model's language model and calibration, ``metadata.json`` saying what it
was adapted from, on which lines, and the held-out figures), written next to ``--out`` and
renamed into place at the end, so an interrupted run leaves no half folder.

Reading the input needs no Keras; :func:`adapt` imports it when it trains.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from htr.config import WEIGHTS_FILE, ModelConfig
from htr.errors import DataError, HTRError, ModelLoadError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif")
STROKE_SUFFIXES = (".json",)
MIN_LINES = 3
METADATA_FILE = "metadata.json"
# Files of the base model carried over unchanged: the language model is about text, not hands,
# and the confidence calibration is the best estimate there is for the adapted weights too.
CARRIED = ("confidence.json",)


class AdaptInputError(DataError):
    """The writer's lines cannot be used as given; the message lists every problem at once."""

    def __init__(self, problems: list[str], source: str = "the lines"):
        self.problems = list(problems)
        listed = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}; "
                         f"nothing was changed:\n{listed}")


@dataclass
class AdaptSettings:
    """How a model is adapted; chosen on IAM writers unseen in training and IAM On-Line
    validation forms (docs/adapt.md)."""

    epochs: int = 8
    learning_rate: float = 3e-4
    batch_size: int = 8
    copies: int = 4  # augmented renderings of each training line per epoch
    holdout: float = 0.3  # share of the lines held out (at least 1) for early stopping and the guard
    # Cross-validated decision (folds >= 2): each line is read once by a model adapted on the
    # other folds; those readings choose the epochs and the guard, and the model is then adapted
    # on every line. Used where every fold gets ``min_fold_lines``; otherwise (and with 0) one
    # held-out share (``holdout``) decides, and is never trained on. Measured on the tune writers
    # (docs/adapt.md): with 8 lines, folds took more errors off than one held-out share; with
    # 4 or 5 lines the folds' readings were too few to tell a gain from chance.
    folds: int = 2
    min_fold_lines: int = 4
    # The folds' guard: keep the base model only where the folds read worse than it (their
    # readings cover every line, so a tie is no sign of harm). Measured on the tune writers:
    # adapted so, no writer read worse (docs/adapt.md); demanding a gain kept half the gains out.
    fold_min_gain: float = 0.0
    patience: int = 3  # epochs without a better held-out CER before stopping
    minutes: float | None = 1.5  # training-time budget; the best epoch so far is kept when it is spent
    layers: str = "recurrent"  # what moves: "recurrent" (all but the convolutions), "top" (last LSTM + output)
    guard: bool = True  # keep the base model when the held-out lines do not read clearly better
    # The guard's "clearly": the held-out CER must fall by at least this share. A few held-out lines
    # make few errors, and one error less on them often came with more on the writer's other lines.
    min_gain: float = 0.2
    # Share of each epoch's lines made of the writer's words joined anew (htr.train.recombine):
    # off, as measured it did not read the writers' other lines better (docs/adapt.md).
    recombine: float = 0.0
    seed: int = 0

    def check(self) -> None:
        if self.layers not in LAYER_CHOICES:
            raise DataError(f"unknown layers {self.layers!r}; expected one of {LAYER_CHOICES}")
        if not 0 < self.holdout < 1:
            raise DataError(f"the held-out share must be between 0 and 1, got {self.holdout}")
        if self.epochs < 1 or self.copies < 1 or self.batch_size < 1:
            raise DataError("epochs, copies and batch size must be at least 1")
        if self.folds == 1 or self.folds < 0:
            raise DataError(f"folds must be 0 (one held-out share) or at least 2, got {self.folds}")
        if self.minutes is not None and self.minutes <= 0:
            raise DataError(f"--minutes must be positive, got {self.minutes}")


LAYER_CHOICES = ("recurrent", "top")


@dataclass
class WriterLine:
    """One line of the writer's: its text and its raw image (strokes rendered as the app draws them)."""

    id: str
    text: str
    image: np.ndarray  # what reading starts from (uint8 grey or RGB)
    strokes: list[np.ndarray] | None = None  # ink, re-rendered with a new pen in training


@dataclass
class Adapted:
    """What an adaptation did, as ``metadata.json`` records it."""

    out: Path
    base: str
    train_ids: list[str]
    heldout_ids: list[str]
    cer_before: float
    cer_after: float
    kept_base: bool
    best_epoch: int
    epochs_run: int
    seconds: float
    history: list[dict] = field(default_factory=list)
    folds: int = 0  # checked by cross-validation over this many folds; 0: by one held-out share

    @property
    def relative_change(self) -> float:
        return (self.cer_after - self.cer_before) / self.cer_before if self.cer_before else 0.0


# ---------------------------------------------------------------- reading the writer's lines


def read_line_file(path: Path) -> tuple[np.ndarray, list[np.ndarray] | None]:
    """A file's raw image, and its strokes where it is ink. Raises HTRError (or OSError) when unreadable."""
    from htr.ink import is_ink_file, load_ink, parse_drawing, render_ink

    suffix = path.suffix.lower()
    if suffix in STROKE_SUFFIXES:
        strokes = parse_drawing(path.read_text(encoding="utf-8")).strokes
        return render_ink(strokes), strokes
    if is_ink_file(path):
        strokes = load_ink(path)
        return render_ink(strokes), strokes
    from htr.imageio import read_image_file
    from htr.paper import read_sheet

    image, _ = read_sheet(read_image_file(path))
    return image, None


def read_lines(rows: list[tuple[str, str, Path]], config: ModelConfig, source: str = "the lines") -> list[WriterLine]:
    """The writer's lines from ``(id, text, path)`` rows, every problem reported at once.

    Checks what would otherwise fail later or teach the model something wrong: empty text,
    characters the model cannot write, files that are missing or unreadable or hold no ink,
    text too long for its image (a text that belongs to another line), and fewer than
    :data:`MIN_LINES` usable lines. Raises :class:`AdaptInputError` listing them all.
    """
    from htr.preprocess import preprocess
    from htr.train.augment import ctc_min_steps

    problems, lines = [], []
    for line_id, text, path in rows:
        where = f"{line_id}"
        if not text.strip():
            problems.append(f"{where}: the text is empty (type what the line says)")
            continue
        unknown = config.unknown_characters(text)
        if unknown:
            shown = " ".join(repr(c) for c in sorted(unknown))
            problems.append(f"{where}: characters the model cannot write: {shown} (leave them out or spell them "
                            "with the model's characters)")
            continue
        if not path.is_file():
            problems.append(f"{where}: no such file {path}")
            continue
        try:
            image, strokes = read_line_file(path)
            ink = preprocess(image, config.height, config.max_width, config.deslant)
        except (HTRError, OSError, ValueError, UnicodeDecodeError) as exc:
            problems.append(f"{where}: cannot be read: {exc}")
            continue
        if math.ceil(ink.shape[1] / config.time_stride) < ctc_min_steps(text):
            problems.append(f"{where}: the text ({len(text)} characters) is too long for its image: "
                            "is it this line's text?")
            continue
        lines.append(WriterLine(line_id, text, image, strokes))
    if not problems and len(lines) < MIN_LINES:
        problems.append(f"{len(lines)} line{'s' if len(lines) != 1 else ''}: adaptation needs at least {MIN_LINES} "
                        "(ten or more work best)")
    if problems:
        raise AdaptInputError(problems, source)
    return lines


def label_rows(labels: str | Path) -> tuple[list[tuple[str, str, Path]], list[str]]:
    """A ``path<TAB>text`` file's ``(id, text, path)`` rows (paths relative to the file; ids such
    as ``line 3 (name.png)``, as an adapted model's metadata names its lines), and its malformed rows."""
    labels = Path(labels)
    rows, problems = [], []
    for number, row in enumerate(labels.read_text(encoding="utf-8").splitlines(), start=1):
        if not row.strip() or row.startswith("#"):
            continue
        if "\t" not in row:
            problems.append(f"line {number}: expected 'path<TAB>text', got {row[:60]!r}")
            continue
        name, text = row.split("\t", 1)
        rows.append((f"line {number} ({name.strip()})", text.strip(), labels.parent / name.strip()))
    return rows, problems


def read_labels(labels: str | Path, config: ModelConfig) -> list[WriterLine]:
    """A ``path<TAB>text`` file's lines (paths relative to the file); see :func:`read_lines`."""
    labels = Path(labels)
    if not labels.is_file():
        raise AdaptInputError([f"no such file {labels}"], str(labels))
    rows, problems = label_rows(labels)
    try:
        lines = read_lines(rows, config, str(labels))
    except AdaptInputError as exc:
        raise AdaptInputError(problems + exc.problems, str(labels)) from None
    if problems:
        raise AdaptInputError(problems, str(labels))
    return lines


def split_lines(lines: list[WriterLine], holdout: float) -> tuple[list[WriterLine], list[WriterLine]]:
    """(train, held out): a fixed choice by each line's id, at least one line on each side."""
    order = sorted(range(len(lines)), key=lambda i: (zlib.crc32(lines[i].id.encode()), i))
    n_held = min(len(lines) - 1, max(1, round(holdout * len(lines))))
    held = set(order[:n_held])
    return [l for i, l in enumerate(lines) if i not in held], [l for i, l in enumerate(lines) if i in held]


# ---------------------------------------------------------------- training


def _augmented(line: WriterLine, rng: np.random.Generator, config: ModelConfig) -> np.ndarray:
    """One training variant of a line: ink drawn again with a new pen and geometry, an image
    warped as scans of the same text vary (:mod:`htr.train.scan_augment`)."""
    from htr.preprocess import preprocess
    from htr.render import render_strokes
    from htr.train.scan_augment import augment_scan

    if line.strokes is not None:
        raw = render_strokes(line.strokes, "canvas", rng)
    else:
        raw = augment_scan(line.image, rng)
    return preprocess(raw, config.height, config.max_width, config.deslant)


def word_pools(lines: list[WriterLine], config: ModelConfig) -> tuple[list, list]:
    """The words of the lines whose gaps show them clearly: drawn ones, and cut from images."""
    from htr.preprocess import preprocess
    from htr.train.recombine import map_words, stroke_words

    strokes, maps = [], []
    for line in lines:
        if line.strokes is not None:
            strokes.extend(stroke_words(line.strokes, line.text) or [])
        else:
            ink = preprocess(line.image, config.height, config.max_width, config.deslant)
            maps.extend(map_words(ink, line.text) or [])
    return strokes, maps


def _recombined(stroke_pool: list, map_pool: list, rng: np.random.Generator, config: ModelConfig,
                label_width: int) -> tuple[np.ndarray | None, str]:
    """A new line of the writer's words (drawn or cut from images, as the pools allow)."""
    from htr.preprocess import preprocess
    from htr.render import render_strokes
    from htr.train.augment import ctc_min_steps
    from htr.train.recombine import joined_map, joined_strokes, new_line

    use_strokes = len(stroke_pool) >= 4 and (len(map_pool) < 4 or rng.random() < 0.5)
    words = new_line(stroke_pool if use_strokes else map_pool, rng)
    while len(words) > 1 and len(" ".join(w.text for w in words)) > label_width:
        words = words[:-1]
    text = " ".join(w.text for w in words)
    if use_strokes:
        image = preprocess(render_strokes(joined_strokes(words, rng), "canvas", rng), config.height,
                           config.max_width, config.deslant)
    else:
        image = joined_map(words, rng, config.height)
    if math.ceil(image.shape[1] / config.time_stride) < ctc_min_steps(text):
        return None, text
    return image, text


def _prepared(lines: list[WriterLine], config: ModelConfig) -> list[np.ndarray]:
    from htr.preprocess import preprocess

    return [preprocess(l.image, config.height, config.max_width, config.deslant) for l in lines]


def _trainable(model, layers: str) -> None:
    from htr.train.loop import freeze_convolutions

    freeze_convolutions(model)
    if layers == "top":
        last = max(int(l.name[5:]) for l in model.layers if l.name.startswith("blstm"))
        for layer in model.layers:
            if layer.name.startswith(("project", "blstm")) and layer.name != f"blstm{last}":
                layer.trainable = False


def _held_batch(images: list[np.ndarray], labels: list[list[int]], config: ModelConfig):
    """The held-out lines as one padded batch with their CTC targets."""
    from htr.batching import pad_batch
    from htr.network import ctc_targets, model_inputs

    inputs = model_inputs(pad_batch(images, quantum=128), [im.shape[1] for im in images], config.time_stride)
    return inputs, ctc_targets(labels, list(inputs[1]))


def heldout_rates(engine, config: ModelConfig, images: list[np.ndarray], texts: list[str], decoder: str = "best",
                  lm=None):
    """The error rates (:class:`htr.metrics.ErrorRates`) of prepared lines read by ``engine``."""
    from htr.train.evaluate import evaluate

    return evaluate(engine, config, images, texts, [str(i) for i in range(len(texts))], decoder, lm=lm).rates


def heldout_cer(engine, config: ModelConfig, images: list[np.ndarray], texts: list[str], decoder: str = "best",
                lm=None) -> float:
    return heldout_rates(engine, config, images, texts, decoder, lm).cer


def _temp_folder(out: Path) -> Path:
    tmp = out.with_name(f".{out.name}.adapting-{os.getpid()}-{time.time_ns()}")
    tmp.mkdir(parents=True)
    return tmp


def check_output(out: str | Path) -> Path:
    out = Path(out)
    if out.exists():
        raise DataError(f"{out} already exists: choose another --out (nothing was overwritten)")
    if not out.parent.is_dir():
        raise DataError(f"{out.parent} does not exist: create it first, or choose another --out")
    return out


def train_epochs(model, config: ModelConfig, train_lines: list[WriterLine], settings: AdaptSettings,
                 started: float, on_epoch: Callable[[int, float], bool],
                 report: Callable[[float, str], None] = lambda fraction, stage: None, epochs: int | None = None,
                 log: Callable[[str], None] = lambda message: None) -> int:
    """Fine-tune ``model`` on augmented copies of ``train_lines``; ``on_epoch(epoch, mean loss)``
    after each epoch returns whether to stop. The cosine schedule spans ``settings.epochs`` (or
    the time budget, whichever ends first); ``epochs`` stops earlier on the same schedule.
    Returns the last epoch run."""
    from htr.network import ctc_targets, model_inputs
    from htr.progress import Progress

    labels = [config.encode(l.text) for l in train_lines]
    label_width = max(80, max(len(l) for l in labels))  # fixed: one compiled step
    stroke_pool, map_pool = word_pools(train_lines, config) if settings.recombine else ([], [])
    rng = np.random.default_rng(settings.seed)
    batch = min(settings.batch_size, len(train_lines) * settings.copies)
    steps_per_epoch = math.ceil(len(train_lines) * settings.copies / batch)
    total_steps = steps_per_epoch * settings.epochs
    budget = 60 * settings.minutes if settings.minutes else math.inf
    bar = Progress(total_steps, "adapting", unit="step")
    epoch = step = 0
    for epoch in range(1, (epochs or settings.epochs) + 1):
        images, targets = [], []
        count = settings.copies * len(train_lines)
        joined = round(settings.recombine * count) if len(stroke_pool) + len(map_pool) >= 4 else 0
        for k in range(count - joined):
            line = train_lines[k % len(train_lines)]
            images.append(_augmented(line, rng, config))
            targets.append(labels[k % len(train_lines)])
        for _ in range(joined):
            image, text = _recombined(stroke_pool, map_pool, rng, config, label_width)
            if image is not None:
                images.append(image)
                targets.append(config.encode(text))
        # One padded width (a multiple of 128) for each epoch's batches: few compiled steps.
        width = -(-max(im.shape[1] for im in images) // 128) * 128
        order = rng.permutation(len(images))
        losses = []
        for start in range(0, len(order), batch):
            chosen = order[start : start + batch]
            if len(chosen) < batch:  # keep the batch shape: top up with lines of this epoch
                chosen = np.concatenate([chosen, order[: batch - len(chosen)]])
            x = np.zeros((batch, config.height, width, 1), np.float32)
            for row, k in enumerate(chosen):
                x[row, :, : images[k].shape[1], 0] = images[k]
            inputs = model_inputs(x, [images[k].shape[1] for k in chosen], config.time_stride)
            y = ctc_targets([targets[k] for k in chosen], list(inputs[1]), label_width)
            done = step / max(1, total_steps)
            if settings.minutes:
                done = max(done, (time.monotonic() - started) / budget)
            rate = settings.learning_rate * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, done))))
            model.optimizer.learning_rate.assign(rate)
            loss = float(np.asarray(model.train_on_batch(x=inputs, y=y)))
            if not np.isfinite(loss):
                raise FloatingPointError("the loss became not a number; adapt with a lower learning rate")
            losses.append(loss)
            step += 1
            bar.update()
            report(0.9 * step / total_steps, "adapting")
        if on_epoch(epoch, float(np.mean(losses))):
            break
        if time.monotonic() - started >= budget:
            log(f"the time budget of {settings.minutes:g} min is spent")
            break
    bar.close()
    return epoch


def uses_folds(settings: AdaptSettings, count: int) -> bool:
    """Whether ``count`` lines are checked by cross-validation (else by one held-out share)."""
    return settings.folds >= 2 and count >= fewest_lines_for_folds(settings)


def fewest_lines_for_folds(settings: AdaptSettings | None = None) -> int:
    """The fewest lines that are checked by cross-validation (fewer: one held-out share)."""
    settings = settings or AdaptSettings()
    return settings.folds * settings.min_fold_lines if settings.folds >= 2 else 0


def lines_to_add(count: int, kept_base: bool, folds: int, settings: AdaptSettings | None = None) -> int:
    """How many more lines to ask for after ``count`` lines kept the base model on one held-out
    share: enough for the folds to check them (0 where the folds checked, the adaptation was kept,
    or ``settings`` use no folds). Measured on 16 pen writers' forms: no check of 4 or 5 lines
    told whom adapting would help (docs/adapt.md)."""
    if not kept_base or folds:
        return 0
    return max(0, fewest_lines_for_folds(settings) - count)


def fold_of(lines: list[WriterLine], folds: int) -> list[int]:
    """Each line's fold: a fixed choice by its id, the folds as even as they can be."""
    order = sorted(range(len(lines)), key=lambda i: (zlib.crc32(lines[i].id.encode()), i))
    fold = [0] * len(lines)
    for rank, i in enumerate(order):
        fold[i] = rank % folds
    return fold


def _reset(model, weights: list) -> None:
    """The base weights and a fresh optimizer (Adam's moments and step count at zero)."""
    model.set_weights(weights)
    for variable in model.optimizer.variables:
        variable.assign(np.zeros(variable.shape, variable.dtype))


def _cross_validated(model, config: ModelConfig, lines: list[WriterLine], settings: AdaptSettings,
                     base_weights: list, log: Callable[[str], None],
                     report: Callable[[float, str], None]) -> tuple[int, list[dict], float, float]:
    """Adapt on all folds but one and read that one, for each fold and epoch; returns the epoch
    to adapt all lines for (0: none, the guard keeps the base model), each epoch's summed figures,
    and the CER of the base model and of the chosen epoch on the readings of every line."""
    from htr.engine import KerasEngine
    from htr.metrics import error_rates

    engine = KerasEngine(model, config.time_stride)
    folds = fold_of(lines, settings.folds)
    images = _prepared(lines, config)
    errors = np.zeros(settings.epochs + 1)
    losses = np.zeros(settings.epochs + 1)
    folds_read = np.zeros(settings.epochs + 1, np.int64)  # a fold cut short by the budget reads fewer epochs
    texts = [l.text for l in lines]
    chars = error_rates(texts, texts).chars  # what each epoch's summed errors are out of
    runs = settings.folds + 1  # the folds, then all lines
    for k in range(settings.folds):
        held = [i for i in range(len(lines)) if folds[i] == k]
        train = [lines[i] for i in range(len(lines)) if folds[i] != k]
        held_images, held_texts = [images[i] for i in held], [lines[i].text for i in held]
        held_x = _held_batch(held_images, [config.encode(t) for t in held_texts], config)
        _reset(model, base_weights)

        def read(epoch: int, loss: float = 0.0, held_images=held_images, held_texts=held_texts,
                 held_x=held_x) -> bool:
            """Add this fold's errors and loss after ``epoch`` to the sums; never stops the training."""
            errors[epoch] += heldout_rates(engine, config, held_images, held_texts).char_errors
            losses[epoch] += float(np.asarray(model.test_on_batch(x=held_x[0], y=held_x[1]))) * len(held_texts)
            folds_read[epoch] += 1
            return False

        read(0)
        train_epochs(model, config, train, _with_budget(settings, runs), time.monotonic(), read,
                     lambda f, stage, k=k: report(0.9 * (k + f) / runs, stage), log=log)
        log(f"fold {k + 1}/{settings.folds}: {len(train)} lines adapted on, {len(held)} read: "
            f"character errors by epoch {errors.astype(int).tolist()} (summed so far)")
    history = [{"epoch": e, "cv_char_errors": int(errors[e]), "cv_chars": chars, "cv_loss": round(float(losses[e]), 4),
                "cv_cer": round(float(errors[e] / max(1, chars)), 5)} for e in range(settings.epochs + 1)
               if folds_read[e] == settings.folds]
    # Only epochs every fold reached: one fold's errors alone would look like fewer.
    complete = [e for e in range(1, settings.epochs + 1) if folds_read[e] == settings.folds]
    best = min(complete, key=lambda e: (errors[e], losses[e]))
    cer_before, cer_after = errors[0] / max(1, chars), errors[best] / max(1, chars)
    enough = errors[best] <= (1 - settings.fold_min_gain) * errors[0]
    if settings.guard and not enough:
        log(f"read by models adapted on the other lines, the lines had {int(errors[best])} character errors "
            f"at best (epoch {best}) against {int(errors[0])}: the base model is kept")
        return 0, history, cer_before, cer_before
    return best, history, cer_before, cer_after


def _with_budget(settings: AdaptSettings, runs: int) -> AdaptSettings:
    """The settings for one of ``runs`` training runs that share the time budget."""
    from dataclasses import replace

    return replace(settings, minutes=settings.minutes / runs if settings.minutes else None)


def _adapt_all(model, config: ModelConfig, lines: list[WriterLine], settings: AdaptSettings, base_weights: list,
               log: Callable[[str], None], report: Callable[[float, str], None]) -> tuple[list, Adapted]:
    """The cross-validated way (``settings.folds``): choose the epochs on the folds, then adapt on
    every line. Returns the weights to write and what was done (its ``out`` and time left to fill)."""
    log(f"{len(lines)} lines in {settings.folds} folds: each is read by a model adapted on the others")
    epochs, history, cer_before, cer_after = _cross_validated(model, config, lines, settings, base_weights, log,
                                                              report)
    weights = base_weights
    if epochs:
        log(f"adapting on all {len(lines)} lines for {epochs} epochs (the folds read best after {epochs}; "
            f"CER {cer_before:.2%} -> {cer_after:.2%})")
        _reset(model, base_weights)
        runs = settings.folds + 1
        train_epochs(model, config, lines, _with_budget(settings, runs), time.monotonic(), lambda e, loss: False,
                     lambda f, stage: report(0.9 * (settings.folds + f) / runs, stage), epochs=epochs, log=log)
        weights = model.get_weights()
    ids = [l.id for l in lines]
    return weights, Adapted(Path(), "", ids if epochs else [], ids, cer_before, cer_after, not epochs, epochs,
                            settings.epochs, 0.0, history, settings.folds)


def adapt(lines: list[WriterLine], model_dir: str | Path, out: str | Path, settings: AdaptSettings | None = None,
          log: Callable[[str], None] = print, on_progress: Callable[[float, str], None] | None = None,
          source: str = "") -> Adapted:
    """Adapt the model in ``model_dir`` to ``lines`` and write the result to ``out``.

    ``on_progress(fraction, stage)`` is told how far it is (for a page's progress bar);
    ``source``: where the lines came from, for the metadata.
    """
    settings = settings or AdaptSettings()
    settings.check()
    model_dir, out = Path(model_dir), check_output(out)
    config = ModelConfig.load(model_dir)
    if not (model_dir / WEIGHTS_FILE).is_file():
        raise ModelLoadError(f"{model_dir} has no {WEIGHTS_FILE} to adapt (a training install is needed)")
    if len(lines) < MIN_LINES:
        raise AdaptInputError([f"{len(lines)} lines: adaptation needs at least {MIN_LINES}"])
    started = time.monotonic()
    report = on_progress or (lambda fraction, stage: None)
    report(0.0, "preparing")

    import keras

    from htr.network import build_model, compile_model

    keras.utils.set_random_seed(settings.seed)
    model = build_model(config)
    model.load_weights(model_dir / WEIGHTS_FILE)
    _trainable(model, settings.layers)
    model = compile_model(model, settings.learning_rate)
    base_weights = [w.copy() for w in model.get_weights()]
    if uses_folds(settings, len(lines)):
        weights, result = _adapt_all(model, config, lines, settings, base_weights, log, report)
    else:
        weights, result = _adapt_held_out(model, config, lines, settings, base_weights, started, log, report)
    report(0.92, "writing the model")
    result.out, result.base = out, str(model_dir)
    result.seconds = round(time.monotonic() - started, 1)
    write_model(weights, config, model_dir, out, result, settings, source)
    report(1.0, "done")
    return result


def _adapt_held_out(model, config: ModelConfig, lines: list[WriterLine], settings: AdaptSettings, base_weights: list,
                    started: float, log: Callable[[str], None],
                    report: Callable[[float, str], None]) -> tuple[list, Adapted]:
    """One held-out share picks the epoch and guards; the model is adapted on the other lines.
    Returns the weights to write and what was done (its ``out`` and time left to fill)."""
    from htr.engine import KerasEngine

    train_lines, held_lines = split_lines(lines, settings.holdout)
    held_images = _prepared(held_lines, config)
    held_texts = [l.text for l in held_lines]
    engine = KerasEngine(model, config.time_stride)
    held_x = _held_batch(held_images, [config.encode(t) for t in held_texts], config)

    def score() -> tuple[float, float]:
        """Held-out CER, and the CTC loss that breaks its ties: a few lines make few errors, and
        the loss still says whether the writer's lines became likelier."""
        loss = float(np.asarray(model.test_on_batch(x=held_x[0], y=held_x[1])))
        return heldout_cer(engine, config, held_images, held_texts), loss

    cer_before, loss_before = score()
    log(f"{len(train_lines)} lines to adapt on, {len(held_lines)} held out; held-out CER before: {cer_before:.2%}")

    best = (cer_before, loss_before, 0, base_weights)
    history: list[dict] = []
    stale = 0

    def on_epoch(epoch: int, train_loss: float) -> bool:
        nonlocal best, stale
        cer, held_loss = score()
        history.append({"epoch": epoch, "loss": round(train_loss, 4), "heldout_cer": round(cer, 5),
                        "heldout_loss": round(held_loss, 4), "seconds": round(time.monotonic() - started, 1)})
        improved = (cer, held_loss) < best[:2]
        if improved:
            best = (cer, held_loss, epoch, [w.copy() for w in model.get_weights()])
            stale = 0
        else:
            stale += 1
        log(f"epoch {epoch}: loss {train_loss:.3f}  held-out CER {cer:.2%}, loss {held_loss:.3f}"
            f"{'  (best)' if improved else ''}")
        if stale >= settings.patience:
            log(f"early stop: no better held-out CER for {settings.patience} epochs")
            return True
        return False

    epoch = train_epochs(model, config, train_lines, settings, started, on_epoch, report, log=log)
    cer_after, _, best_epoch, weights = best
    if not settings.guard and best_epoch == 0 and history:  # measuring adaptation itself: the last epoch
        cer_after, best_epoch, weights = history[-1]["heldout_cer"], epoch, model.get_weights()
    # (A writer whose held-out lines read without error leaves nothing to gain: the base model stays.)
    if settings.guard and best_epoch and not (cer_before > 0 and cer_after <= (1 - settings.min_gain) * cer_before):
        log(f"epoch {best_epoch} read the held-out lines at {cer_after:.2%} against {cer_before:.2%}: "
            f"not {settings.min_gain:.0%} better")
        cer_after, best_epoch, weights = cer_before, 0, base_weights
    kept_base = best_epoch == 0
    if kept_base:
        log("adaptation did not read the held-out lines better: the folder keeps the base model's weights")
    return weights, Adapted(Path(), "", [l.id for l in train_lines], [l.id for l in held_lines], cer_before,
                            cer_after, kept_base, best_epoch, epoch, 0.0, history)


def write_model(weights: list, config: ModelConfig, model_dir: Path, out: Path, result: Adapted,
                settings: AdaptSettings, source: str = "") -> Path:
    """The complete model folder, built next to ``out`` and renamed into place at the end."""
    from htr.export import export_onnx
    from htr.train.loop import export_weights

    tmp = _temp_folder(out)
    try:
        if (model_dir / "lm").is_dir():
            shutil.copytree(model_dir / "lm", tmp / "lm")
        for name in CARRIED:
            if (model_dir / name).is_file():
                shutil.copy2(model_dir / name, tmp / name)
        export_weights(weights, config, tmp)  # config.json too, its language-model settings kept
        export_onnx(tmp, config)
        base_meta = {}
        try:
            base_meta = json.loads((model_dir / METADATA_FILE).read_text())
        except (OSError, ValueError):
            pass
        meta = {
            "adapted": {
                "from": str(model_dir.resolve()),
                "from_training": base_meta.get("training", {}).get("command"),
                "lines_from": source,
                "train_lines": result.train_ids,
                "heldout_lines": result.heldout_ids,
                "heldout_cer_before": round(result.cer_before, 5),
                "heldout_cer_after": round(result.cer_after, 5),
                "kept_base": result.kept_base,
                "folds": result.folds,
                "best_epoch": result.best_epoch,
                "epochs_run": result.epochs_run,
                "seconds": result.seconds,
                "settings": asdict(settings),
                "history": result.history,
                "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            }
        }
        (tmp / METADATA_FILE).write_text(json.dumps(meta, indent=2))
        if out.exists():
            raise DataError(f"{out} appeared while adapting: the adapted model was not written")
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
