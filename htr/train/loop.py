"""Training from scratch or resuming: CTC on width-bucketed batches, validated every epoch.

A run folder holds the exported best model (``config.json`` + ``model.weights.h5``, loadable
by ``Recognizer.load``), ``history.csv``, ``metadata.json``, ``settings.json`` (the
:class:`~htr.train.settings.TrainSettings` it ran with) and ``checkpoints/``. Each epoch's
checkpoint (model, optimizer, counters) is written to a new folder and then published by
atomically replacing the ``checkpoints/latest`` pointer, so a run killed at any moment
resumes from the last complete epoch.

With ``--distribute`` (``htr.train.distributed``) the same loop runs data-parallel: the batches are
the same global batches, split over the devices, and only process 0 writes the run folder.
"""

import csv
import io
import json
import math
import os
import platform
import shutil
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from htr.config import WEIGHTS_FILE, ModelConfig
from htr.datasets import LineSet, load_dataset
from htr.datasets.folder import SPLIT_FILES
from htr.engine import KerasEngine
from htr.errors import DataError
from htr.train.augment import TRAIN_LOOKS, prepare_set
from htr.train.distributed import Parallel
from htr.train.evaluate import evaluate
from htr.train.settings import (  # noqa: F401  Source and SCHEDULES are this module's names too
    RESUME_OVERRIDABLE,
    SCHEDULES,
    SETTINGS_FILE,
    Source,
    TrainSettings,
    write_settings_file,
)

HISTORY_FILE = "history.csv"
METADATA_FILE = "metadata.json"
STATE_FILE = "state.json"
HISTORY_FIELDS = ("epoch", "loss", "val_cer", "val_wer", "seconds", "learning_rate")


def freeze_convolutions(model) -> None:
    """Stop training the convolutional layers: their weights stay and their batch norms read
    with the statistics they have (Keras runs a frozen BatchNormalization in inference mode)."""
    for layer in model.layers:
        if layer.name.startswith(("conv", "bn")):
            layer.trainable = False


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _seed_states(model) -> list:
    """The dropout layers' random-number states. A ``.keras`` file leaves them out, so they
    travel in the checkpoint's state: a resumed run draws the masks an unbroken one would."""
    return [v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")]


class Checkpoints:
    """Numbered checkpoint folders plus an atomically replaced pointer to the newest.

    The newest ``keep`` epochs are kept, so their weights can be averaged (``htr average``).
    """

    def __init__(self, folder: Path, keep: int = 5):
        self.folder = folder
        self.keep = max(1, keep)

    def epochs(self) -> list[Path]:
        """Complete checkpoint folders, oldest first."""
        return sorted(p for p in self.folder.glob("epoch-*") if (p / STATE_FILE).is_file())

    def latest(self) -> Path | None:
        pointer = self.folder / "latest"
        if not pointer.is_file():
            return None
        path = self.folder / pointer.read_text().strip()
        return path if (path / STATE_FILE).is_file() else None

    def save(self, model, state: dict) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / f"epoch-{state['epoch']:04d}"
        if target.exists():
            shutil.rmtree(target)
        staging = self.folder / f".staging-{state['epoch']:04d}"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir()
        model.save(staging / "model.keras")
        seeds = [np.asarray(v.value).tolist() for v in _seed_states(model)]
        (staging / STATE_FILE).write_text(json.dumps({**state, "seeds": seeds}, indent=1))
        os.replace(staging, target)
        _write_atomic(self.folder / "latest", target.name)
        kept = [p for p in self.epochs() if p.name <= target.name][-self.keep :]
        for old in self.folder.glob("epoch-*"):
            if old not in kept:
                shutil.rmtree(old, ignore_errors=True)
        return target

    def load(self):
        import keras

        import htr.network  # noqa: F401  registers the CTC loss for deserialisation

        path = self.latest()
        if path is None:
            raise DataError(f"nothing to resume: no checkpoint in {self.folder}")
        state = json.loads((path / STATE_FILE).read_text())
        model = keras.models.load_model(path / "model.keras")
        seeds = state.pop("seeds", [])
        if len(seeds) == len(_seed_states(model)):
            for variable, value in zip(_seed_states(model), seeds):
                variable.assign(np.array(value, dtype=variable.dtype))
        return model, state


def _hardware() -> str:
    import keras

    backend = keras.backend.backend()
    devices = ""
    try:
        if backend == "jax":
            import jax

            devices = ", ".join(sorted({d.device_kind for d in jax.devices()}))
        elif backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            devices = f"{len(gpus)} GPU" if gpus else "CPU"
        elif backend == "torch":
            import torch

            devices = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    except Exception:  # hardware description is informative only
        devices = "unknown"
    return f"{platform.machine()} {os.cpu_count()} cores, {devices}, Keras {keras.__version__} on {backend}"


def make_batches(images, labels, batch_size: int, seed: int, epoch: int, stride: int, shuffle: bool = True,
                 label_width: int | None = None, multiple: int = 1, quantum: int = 256):
    """Batches of similar width (little padding), in shuffled order, as a Keras PyDataset.

    ``label_width`` fixes the targets' width for the whole run: a new shape would make the
    compiled train step trace (and compile) again for every input width, every epoch.
    ``multiple``: every batch's size is a multiple of it (the devices it is split over), so
    an epoch smaller than one batch drops its last few lines. Set ``pad_widths`` to pad each
    batch to a width agreed with other processes (their parts form one global batch).
    ``quantum``: batch widths are padded to a multiple of it (one compiled step per width).
    """
    import keras

    from htr.batching import pad_batch
    from htr.network import ctc_targets, model_inputs

    class _Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            rng = np.random.default_rng([seed, epoch, 1])
            # Jitter the sort so bucket neighbours change from epoch to epoch.
            widths = np.array([im.shape[1] for im in images], float) + rng.uniform(0, 64, len(images))
            order = np.argsort(widths, kind="stable")
            self.batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
            if len(self.batches) > 1 and len(self.batches[-1]) < batch_size:
                self.batches[-2] = np.concatenate([self.batches[-2], self.batches[-1]])[-batch_size:]
                self.batches.pop()
            if shuffle:
                rng.shuffle(self.batches)
            self.batches = [b[: len(b) - len(b) % multiple] for b in self.batches]
            if not all(len(b) for b in self.batches):
                raise DataError(f"{len(images)} training lines cannot be split over {multiple} devices")
            self.label_width = max(label_width or 0, max(len(l) for l in labels))
            self.pad_widths: np.ndarray | None = None

        def widths(self) -> np.ndarray:
            """Each batch's padded width."""
            return np.array([-(-max(images[i].shape[1] for i in chunk) // quantum) * quantum for chunk in self.batches])

        def __len__(self):
            return len(self.batches)

        def __getitem__(self, index):
            chunk = self.batches[index]
            x = pad_batch([images[i] for i in chunk], quantum=quantum)
            if self.pad_widths is not None and x.shape[2] < self.pad_widths[index]:
                x = np.pad(x, ((0, 0), (0, 0), (0, int(self.pad_widths[index]) - x.shape[2]), (0, 0)))
            inputs = model_inputs(x, [images[i].shape[1] for i in chunk], stride)
            return inputs, ctc_targets([labels[i] for i in chunk], list(inputs[1]), self.label_width)

    return _Batches()


def epoch_mix(sizes: list[int], shares: list[float], epoch_lines: int | None, seed: int,
              epoch: int) -> list[list[int]]:
    """Which lines of each source an epoch trains on.

    Each source gives ``share / sum(shares)`` of the epoch. A source walks through shuffled
    passes of its own lines (a new order per pass), so every line is seen equally often
    whatever its share; the choice depends only on (seed, epoch), so resuming repeats it.
    One source with no epoch size set trains on all its lines, in order, every epoch.
    """
    if len(sizes) == 1 and not epoch_lines:
        return [list(range(sizes[0]))]
    total = epoch_lines or sum(sizes)
    picks = []
    for number, (size, share) in enumerate(zip(sizes, shares, strict=True)):
        count = max(1, round(total * share / sum(shares)))
        start = epoch * count
        chosen: list[int] = []
        cycle = start // size
        position = start % size
        while len(chosen) < count:
            order = np.random.default_rng([seed, number, cycle]).permutation(size)
            take = order[position : position + count - len(chosen)]
            chosen.extend(int(i) for i in take)
            cycle, position = cycle + 1, 0
        picks.append(chosen)
    return picks


def _cosine_rate(settings: TrainSettings, epoch: int, seconds_so_far: float) -> float:
    """The rate for the coming epoch: cosine from the start rate down to 1 % of it."""
    done = epoch / max(1, settings.epochs)
    if settings.max_minutes:
        done = max(done, seconds_so_far / (60 * settings.max_minutes))
    floor = 0.01 * settings.learning_rate
    return floor + (settings.learning_rate - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, done)))


def _initial_model(settings: TrainSettings) -> tuple[ModelConfig, Path]:
    """Config and weights file of the model to fine-tune; its architecture and charset win."""
    from htr.errors import ModelLoadError

    source = Path(settings.init_from)
    config = ModelConfig.load(source)  # ModelLoadError if it is not a model folder
    weights = source / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelLoadError(f"{source} has no {WEIGHTS_FILE} to start from")
    return config, weights


def _run_epoch(model, batches, label: str, show: bool = True) -> float:
    """One pass of compiled train steps with a progress bar; returns the mean loss.

    The bar shows the epoch's running mean, handed over as a stateful value: given per-batch
    values, Keras's bar averages them while it runs but prints the last batch's alone when
    it ends (168.6 where the epoch's mean, the figure of history.csv and the summary line,
    was 420.1), so the log gave two losses per epoch.
    """
    import keras

    verbose = (1 if sys.stdout.isatty() else 2) if show else 0
    bar = keras.utils.Progbar(len(batches), verbose=verbose, unit_name="batch", stateful_metrics=["loss"])
    total = 0.0
    for index in range(len(batches)):
        x, y = batches[index]
        loss = float(np.asarray(model.train_on_batch(x, y)))
        if not np.isfinite(loss):
            raise FloatingPointError(f"{label}: loss became {loss}; lower --learning-rate")
        total += loss
        bar.update(index + 1, [("loss", total / (index + 1))])
    return total / max(1, len(batches))


def validation_note(source: Source, asked: int | None, read: int, used: int, skipped: Counter) -> str | None:
    """Why a source validates on fewer lines than were asked for, or None when it has them all.

    ``read``: the lines :func:`load_split` gave (at most ``asked``); ``used``: those left once
    preparing removed the ones it cannot use; ``skipped``: every line left out, by reason.
    """
    if not asked or used >= asked:
        return None
    reasons = ", ".join(f"{n} {why}" for why, n in skipped.most_common())
    why = (f"its {source.val!r} split has only {read} usable line{'s' if read != 1 else ''}" if read < asked
           else f"{read - used} of the first {asked} could not be used")
    note = (f"{source.name}: {used} validation line{'s' if used != 1 else ''}, not the {asked} asked for: {why}"
            + (f" ({reasons} left out)" if reasons else ""))
    if source.dataset == "folder" and not any((Path(source.data) / name).is_file() for name in SPLIT_FILES):
        note += ("; without split lists a folder holds out about 1 line in 10 of labels.tsv (chosen by file "
                 "name): list the lines to validate on in validation.tsv")
    return note


def load_split(source: Source, split: str, limit: int | None, charset: str):
    """The first ``limit`` lines of a source's split that ``charset`` can write, as a run trains
    or validates on them (:func:`htr.train.install.compare_with_served` reads them again)."""
    # Read a few more than asked for: some lines are dropped for their characters.
    lines = load_dataset(source.dataset, source.data, split, progress=True, limit=limit and 2 * limit)
    lines.filter_charset(charset)
    if limit and len(lines.samples) < limit:  # the charset dropped more than that: read the whole split
        lines = load_dataset(source.dataset, source.data, split, progress=True)
        lines.filter_charset(charset)
    if limit:
        lines.samples = lines.samples[:limit]
    if not lines.samples:
        raise DataError(f"{source.dataset} split {split!r} in {source.data} has no usable lines")
    return lines


def history_fields(sources: list[Source]) -> tuple[str, ...]:
    """The history's columns: with several sources, each one's validation CER and WER too."""
    if len(sources) == 1:
        return HISTORY_FIELDS
    per_source = tuple(f"val_{rate}_{s.name}" for s in sources for rate in ("cer", "wer"))
    return HISTORY_FIELDS + per_source


def export_weights(weights: list, config: ModelConfig, model_dir: Path) -> None:
    """Weights only (no optimizer state), so the shipped file is as small as the model."""
    from htr.network import build_model

    bare = build_model(config)
    bare.set_weights(weights)
    tmp = model_dir / (WEIGHTS_FILE + ".tmp.weights.h5")
    bare.save_weights(tmp)
    os.replace(tmp, model_dir / WEIGHTS_FILE)
    config.save(model_dir)


def _write_history(model_dir: Path, history: list[dict], fields: tuple[str, ...] = HISTORY_FIELDS) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    writer.writerows(history)
    _write_atomic(model_dir / HISTORY_FILE, buffer.getvalue())


def read_history(model_dir: Path) -> list[dict]:
    """Per-epoch rows of a run folder (empty if training has not finished an epoch)."""
    path = Path(model_dir) / HISTORY_FILE
    if not path.is_file():
        return []
    with path.open() as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def train(settings: TrainSettings, resume: bool = False, log=print, parallel: Parallel | None = None,
          overrides: tuple[str, ...] = RESUME_OVERRIDABLE) -> dict:
    """Train (or resume) and return the final state: epochs done, best CER, history.

    On ``resume``, only the ``overrides`` fields of ``settings`` replace the run's own (the
    command line passes those it was given), so a resume pads and budgets as the run did.
    ``parallel`` (:func:`htr.train.distributed.data_parallel`) spreads every batch over several
    devices; all processes of a run call this alike, and only process 0 writes files.
    """
    import keras

    from htr.network import build_model, compile_model

    parallel = parallel or Parallel()
    if not parallel.chief:
        log = lambda *_: None  # noqa: E731  process 0 reports for the whole run

    if settings.look not in TRAIN_LOOKS:
        raise DataError(f"unknown look {settings.look!r}; expected one of {TRAIN_LOOKS}")
    settings.check(resume)  # each field's range and choices, as declared in htr.train.settings
    if not resume:
        parallel.process_batch(settings.batch_size)  # a batch that does not split: say so before any work
    model_dir = Path(settings.model_dir)
    checkpoints = Checkpoints(model_dir / "checkpoints", settings.keep_checkpoints)
    if resume:
        with parallel.scope():
            model, state = checkpoints.load()
        saved = state["settings"]
        for key in overrides:
            if key not in RESUME_OVERRIDABLE:
                raise ValueError(f"a resumed run cannot change {key!r}")
            saved[key] = getattr(settings, key)
        settings = TrainSettings(**{k: v for k, v in saved.items() if k in TrainSettings.__dataclass_fields__})
        config = ModelConfig(**{**state["config"], "conv_filters": tuple(state["config"]["conv_filters"]),
                                "pools": tuple(tuple(p) for p in state["config"]["pools"])})
        log(f"resuming {model_dir} after epoch {state['epoch']} (best val CER {state['best_cer']:.4f})")
    else:
        if checkpoints.latest() is not None:
            raise DataError(f"{model_dir} already holds a training run: pass --resume, or choose another --model-dir")
        keras.utils.set_random_seed(settings.seed)
        if settings.init_from:
            config, weights = _initial_model(settings)
        else:
            arch = dict(settings.architecture)
            if "conv_filters" in arch:
                arch["conv_filters"] = tuple(arch["conv_filters"])
                arch.setdefault("pools", ModelConfig().pools[: len(arch["conv_filters"])])
            config, weights = ModelConfig(height=settings.height, **arch), None
        if settings.dropout is not None:
            config = replace(config, dropout=settings.dropout)
        if settings.deslant is not None:
            config = replace(config, deslant=settings.deslant)
        state = {"epoch": 0, "best_cer": None, "best_epoch": None, "stale": 0, "history": [],
                 "learning_rate": settings.learning_rate, "train_seconds": 0.0}
        with parallel.scope():
            model = build_model(config)
            if settings.freeze_convolutions:
                freeze_convolutions(model)
            model = compile_model(model, settings.learning_rate)
            if weights is not None:
                model.load_weights(weights)
        if weights is not None:
            log(f"starting from the weights of {settings.init_from}"
                + (", its convolutions frozen" if settings.freeze_convolutions else ""))
    process_batch = parallel.process_batch(settings.batch_size)
    # Validation runs on a plain copy of the weights: any batch size, on this process alone.
    evaluator = build_model(config) if parallel.spread else model
    validator = KerasEngine(evaluator, config.time_stride, quantum=_validation_quantum(settings, config))
    config.training = {k: v for k, v in asdict(settings).items() if k not in ("workers",)}
    state["settings"] = asdict(settings)
    state["config"] = {**asdict(config), "training": {}}
    if parallel.chief:
        model_dir.mkdir(parents=True, exist_ok=True)
        # The settings actually used: `python -m htr train --settings RUN/settings.json` makes the run again.
        write_settings_file(settings, model_dir / SETTINGS_FILE)

    sources = settings.source_list()
    names = [source.name for source in sources]
    if len(set(names)) != len(names):
        raise DataError(f"sources need distinct names, got {names}: add name=... to --source")
    train_sets = [load_split(source, source.train, settings.limit, config.charset) for source in sources]
    val_sets, val_notes = [], []
    for source in sources:
        asked = source.val_limit or settings.val_limit
        val_lines = load_split(source, source.val, asked, config.charset)
        read = len(val_lines.samples)
        val_sets.append(prepare_set(val_lines, config.height, config.max_width, settings.look, settings.seed,
                                    augment=False, workers=settings.workers,
                                    label=f"preparing {source.name} validation lines", min_stride=config.time_stride,
                                    deslant=config.deslant))
        val_notes.append(validation_note(source, asked, read, len(val_sets[-1].images), val_lines.skipped))
        if val_notes[-1] is None:
            val_lines.warn_skipped()
    sizes = [len(lines) for lines in train_sets]
    label_width = max(len(sample.text) for lines in train_sets for sample in lines.samples)
    log(", ".join(f"{source.name}: {n} training lines (share {source.share:g}), {len(v.images)} validation lines"
                  for source, n, v in zip(sources, sizes, val_sets))
        + f"; {model.count_params():,} parameters")
    for note in filter(None, val_notes):
        log(note)
    if len(sources) > 1:
        log("best model: the lowest mean of the sources' validation CERs")
    if parallel.spread:
        log(f"training {parallel.describe()}: {settings.batch_size} lines per batch, "
            f"{settings.batch_size // parallel.devices} per device")
    fields = history_fields(sources)
    skipped_warned = False

    def render(epoch: int):
        picks = epoch_mix(sizes, [source.share for source in sources], settings.epoch_lines, settings.seed, epoch)
        mixed = LineSet("training", [lines.samples[i] for lines, chosen in zip(train_sets, picks) for i in chosen])
        places = None
        if parallel.processes > 1:  # each process renders and feeds its own share of the lines
            places = parallel.share(len(mixed.samples))
            mixed = LineSet("training", [mixed.samples[i] for i in places])
        prepared = prepare_set(mixed, config.height, config.max_width, settings.look, settings.seed, epoch,
                               augment=True, workers=settings.workers, label=f"epoch {epoch + 1}: rendering",
                               min_stride=config.time_stride, processes=True, places=places, deslant=config.deslant)
        return prepared, mixed

    # Render the next epoch's images while the current epoch trains.
    prefetch = ThreadPoolExecutor(1)
    upcoming = prefetch.submit(render, state["epoch"])
    while state["epoch"] < settings.epochs:
        epoch = state["epoch"]
        t0 = time.monotonic()
        data, mixed = upcoming.result()
        if epoch + 1 < settings.epochs:
            upcoming = prefetch.submit(render, epoch + 1)
        if not skipped_warned:
            for lines in train_sets:
                lines.warn_skipped()
            mixed.warn_skipped()
            skipped_warned = True
        images, texts = data.images, data.texts
        if parallel.processes > 1:
            # Equal line counts give equal batch counts; the parts of a global batch share a width.
            keep = int(parallel.least([len(images)])[0])
            images, texts = images[:keep], texts[:keep]
        labels = [config.encode(t) for t in texts]
        batches = make_batches(images, labels, process_batch, settings.seed, epoch, config.time_stride,
                               label_width=label_width, multiple=parallel.local_devices,
                               quantum=settings.width_quantum)
        if parallel.processes > 1:
            batches.pad_widths = parallel.most(batches.widths())
        if settings.schedule == "cosine":
            state["learning_rate"] = _cosine_rate(settings, epoch, state["train_seconds"])
        with parallel.scope():
            model.optimizer.learning_rate.assign(state["learning_rate"])
            loss = _run_epoch(model, batches, f"epoch {epoch + 1}/{settings.epochs}", show=parallel.chief)
        if evaluator is not model:
            evaluator.set_weights(model.get_weights())
        results = [evaluate(validator, config, v.images, v.texts, v.ids, progress=False).rates for v in val_sets]
        scores = np.array([[r.cer, r.wer] for r in results] + [[time.monotonic() - t0, 0.0]])
        # Best model, rate and stopping follow process 0's figures, so every process decides alike.
        scores = parallel.from_chief(scores)
        seconds = float(scores[-1, 0])
        cer, wer = (float(v) for v in scores[:-1].mean(axis=0))
        state["train_seconds"] += seconds
        row = {"epoch": epoch + 1, "loss": round(loss, 4), "val_cer": round(cer, 5),
               "val_wer": round(wer, 5), "seconds": round(seconds, 1),
               "learning_rate": state["learning_rate"]}
        if len(sources) > 1:
            for source, (source_cer, source_wer) in zip(sources, scores):
                row[f"val_cer_{source.name}"] = round(float(source_cer), 5)
                row[f"val_wer_{source.name}"] = round(float(source_wer), 5)
        state["history"].append(row)
        improved = state["best_cer"] is None or cer < state["best_cer"]
        if improved:
            state.update(best_cer=cer, best_wer=wer, best_epoch=epoch + 1, stale=0)
            if parallel.chief:
                export_weights(model.get_weights(), config, model_dir)
        else:
            state["stale"] += 1
            if settings.schedule == "plateau" and state["stale"] % max(2, settings.patience // 3) == 0:
                state["learning_rate"] = max(1e-5, state["learning_rate"] * 0.5)
        state["epoch"] = epoch + 1
        if parallel.chief:
            checkpoints.save(model, state)
            _write_history(model_dir, state["history"], fields)
            _write_metadata(model_dir, settings, state, sum(sizes), sum(len(v.images) for v in val_sets), parallel)
        per_source = ""
        if len(sources) > 1:
            per_source = "  (" + ", ".join(f"{s.name} {c:.4f}" for s, (c, _) in zip(sources, scores)) + ")"
        log(f"epoch {epoch + 1}/{settings.epochs}: loss {loss:.4f}  val CER {cer:.4f}{per_source}  "
            f"WER {wer:.4f}  {seconds:.0f}s{'  (best, saved)' if improved else ''}")
        if state["stale"] >= settings.patience:
            log(f"early stop: no better validation CER for {settings.patience} epochs")
            break
        if settings.max_minutes and state["train_seconds"] / 60 >= settings.max_minutes:
            log(f"the run's time budget of {settings.max_minutes} min is spent; "
                "continue with --resume and a larger --max-minutes")
            break
    prefetch.shutdown(wait=False, cancel_futures=True)
    return state


def _validation_quantum(settings: TrainSettings, config: ModelConfig) -> int:
    """Validation pads like training (whole timesteps): the masked model reads a line alike at any padding."""
    stride = config.time_stride
    return max(stride, -(-settings.width_quantum // stride) * stride)


def _write_metadata(model_dir: Path, settings: TrainSettings, state: dict, n_train: int, n_val: int,
                    parallel: Parallel) -> None:
    path = model_dir / METADATA_FILE
    existing = json.loads(path.read_text()) if path.is_file() else {}
    existing["training"] = {
        "command": settings.command,
        "sources": [asdict(source) for source in settings.source_list()],
        "epoch_lines": settings.epoch_lines,
        "train_lines": n_train,
        "val_lines": n_val,
        "look": settings.look,
        "epochs_run": state["epoch"],
        "best_epoch": state["best_epoch"],
        "best_val_cer": state["best_cer"],
        "best_val_wer": state.get("best_wer"),
        "wall_seconds": round(state["train_seconds"], 1),
        "hardware": _hardware(),
        "devices": parallel.describe(),
        "seed": settings.seed,
    }
    _write_atomic(path, json.dumps(existing, indent=2))
