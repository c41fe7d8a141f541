"""What runs the network: ONNX Runtime where the model folder has a current ``model.onnx``,
else Keras.

ONNX Runtime starts in a fraction of a second, needs no TensorFlow and runs the native LSTM
op; the ONNX file holds the inference graph (no training mask, see
:func:`htr.network.build_model`), exported from ``model.weights.h5`` by ``python -m htr export`` (:mod:`htr.export`).
A sidecar ``model.onnx.json`` records the size and SHA-256 of the weights and the architecture
it was exported from, so an ONNX file left behind by older weights is noticed and not used.
Keras stays the engine of training and the fallback; nothing here imports it unless it runs.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

from htr.batching import MAX_PAD_RATIO, RIGHT_MARGIN, pad_batch, width_batches
from htr.config import WEIGHTS_FILE, ModelConfig
from htr.errors import ModelLoadError

ONNX_FILE = "model.onnx"
STEPS_INPUT = "steps"  # each line's timestep count, fed to the LSTMs' sequence_lens
STAMP_FILE = "model.onnx.json"
RUNTIMES = ("auto", "onnx", "keras")
# Threads ONNX Runtime uses within one call: both cores of a 2-core machine for one line's
# convolutions (and the LSTM's two directions); a server running several requests at once
# passes 1 (app.py). HTR_THREADS overrides; benchmarks/benchmark.py --threads measures it.
DEFAULT_THREADS = min(2, os.cpu_count() or 1)


class Engine(Protocol):
    """Logits of a padded batch: (N, H, W, 1) ink and each line's own width -> (N, T, C)."""

    name: str
    quantum: int  # batch widths are padded up to a multiple of this

    def logits(self, batch: np.ndarray, widths: list[int]) -> np.ndarray: ...


class OnnxEngine:
    """An ONNX Runtime session over the exported inference graph (no mask: pad little)."""

    name = "onnx"

    def __init__(self, path: Path, time_stride: int, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelLoadError(f"running {path.name} needs onnxruntime (pip install -r requirements.txt): {exc}") from exc

        self.time_stride = time_stride
        self.quantum = time_stride  # whole timesteps: no more padding than the margin

        options = ort.SessionOptions()
        options.intra_op_num_threads = int(os.environ.get("HTR_THREADS") or threads or DEFAULT_THREADS)
        options.inter_op_num_threads = 1
        # Idle threads sleep instead of spinning: on a shared machine spinning takes CPU from
        # reading images, decoding and other requests.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise ModelLoadError(f"{path} is not a readable ONNX model ({exc}); "
                                 f"re-create it with python -m htr export --model-dir {path.parent}") from exc
        self.path = path
        names = [i.name for i in self.session.get_inputs()]
        if STEPS_INPUT not in names:
            raise ModelLoadError(f"{path} has no '{STEPS_INPUT}' input (an older export); "
                                 f"re-create it with python -m htr export --model-dir {path.parent}")
        self._input = next(name for name in names if name != STEPS_INPUT)
        try:
            self.quantized = json.loads((path.parent / STAMP_FILE).read_text()).get("quantized", "none")
        except (OSError, ValueError, AttributeError):
            self.quantized = "none"

    def logits(self, batch: np.ndarray, widths: list[int]) -> np.ndarray:
        steps = np.array([-(-w // self.time_stride) for w in widths], np.int32)
        return self.session.run(None, {self._input: np.ascontiguousarray(batch, np.float32), STEPS_INPUT: steps})[0]

    def count_params(self) -> int:
        import onnx

        return sum(int(np.prod(t.dims)) for t in onnx.load(str(self.path)).graph.initializer)


class KerasEngine:
    """The Keras model with its step mask: exact for any padding, slower on a CPU."""

    name = "keras"
    quantum = 64  # the compiled graph is reused for every width of one multiple
    max_pad_ratio = math.inf  # the mask makes padding harmless: fill batches regardless of width

    def __init__(self, model, time_stride: int, quantum: int | None = None):
        self.model = model
        self.time_stride = time_stride
        if quantum is not None:
            self.quantum = quantum

    def logits(self, batch: np.ndarray, widths: list[int]) -> np.ndarray:
        from htr.network import model_inputs

        return np.asarray(self.model.predict_on_batch(model_inputs(batch, widths, self.time_stride)))

    def count_params(self) -> int:
        return self.model.count_params()


def as_engine(model, config: ModelConfig) -> Engine:
    """An engine as it is, or a Keras model wrapped as one."""
    return model if hasattr(model, "logits") else KerasEngine(model, config.time_stride)


def fingerprint(model_dir: Path, config: ModelConfig) -> dict:
    """What an export depends on: the weights file (size, SHA-256) and the architecture."""
    weights = Path(model_dir) / WEIGHTS_FILE
    with open(weights, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    architecture = {"charset": config.charset, "height": config.height, "conv_filters": list(config.conv_filters),
                    "pools": [list(p) for p in config.pools], "lstm_units": config.lstm_units,
                    "lstm_layers": config.lstm_layers}
    return {"weights_bytes": weights.stat().st_size, "weights_sha256": digest, "architecture": architecture}


def onnx_staleness(model_dir: Path, config: ModelConfig) -> str | None:
    """None if ``model.onnx`` was exported from the folder's current weights, else why not."""
    model_dir = Path(model_dir)
    if not (model_dir / ONNX_FILE).is_file():
        return f"{model_dir} has no {ONNX_FILE}"
    try:
        stamp = json.loads((model_dir / STAMP_FILE).read_text())
    except (OSError, ValueError):
        return f"{model_dir / STAMP_FILE} is missing or unreadable, so {ONNX_FILE} may not match the weights"
    if not isinstance(stamp, dict):
        return f"{model_dir / STAMP_FILE} is not a stamp"
    weights = model_dir / WEIGHTS_FILE
    if stamp.get("weights_bytes") != weights.stat().st_size:
        return f"{ONNX_FILE} was exported from other weights than {weights}"
    current = fingerprint(model_dir, config)
    if stamp.get("weights_sha256") != current["weights_sha256"]:
        return f"{ONNX_FILE} was exported from other weights than {weights}"
    if stamp.get("architecture") != current["architecture"]:
        return f"{ONNX_FILE} was exported for another architecture than {model_dir / 'config.json'}'s"
    return None


def load_keras(model_dir: Path, config: ModelConfig, masked: bool = True):
    """The Keras model with the folder's weights."""
    from htr.tf_env import installed, missing_extra_message

    missing = [module for module in ("keras", "h5py") if not installed(module)]
    if missing:
        raise ModelLoadError(missing_extra_message(f"running {Path(model_dir) / WEIGHTS_FILE} on Keras", missing))
    from htr.network import build_model

    weights = Path(model_dir) / WEIGHTS_FILE
    model = build_model(config, masked=masked)
    try:
        model.load_weights(weights)
    except Exception as exc:  # h5py/Keras raise many kinds for truncated or foreign files
        raise ModelLoadError(f"{weights} is corrupt or does not match {Path(model_dir) / 'config.json'}: {exc}") from exc
    return model


def load_engine(model_dir: Path, config: ModelConfig, runtime: str = "auto", threads: int | None = None) -> Engine:
    """ONNX Runtime if ``runtime`` allows and ``model.onnx`` is current, else Keras.

    ``auto`` falls back to Keras with a warning when an ONNX file is stale or the folder has
    none (a hint to export); ``onnx`` insists and raises :class:`ModelLoadError` instead.
    ``HTR_RUNTIME`` in the environment overrides ``auto``.
    """
    if runtime == "auto":
        runtime = os.environ.get("HTR_RUNTIME", "auto") or "auto"
    if runtime not in RUNTIMES:
        raise ModelLoadError(f"unknown runtime {runtime!r}; expected one of {RUNTIMES}")
    model_dir = Path(model_dir)
    if not (model_dir / WEIGHTS_FILE).is_file():
        raise ModelLoadError(f"{model_dir} has no {WEIGHTS_FILE}: train a model or copy one in")
    if runtime != "keras":
        why_not = onnx_staleness(model_dir, config)
        if why_not is None:
            try:
                return OnnxEngine(model_dir / ONNX_FILE, config.time_stride, threads)
            except ModelLoadError as exc:
                if runtime == "onnx":
                    raise
                why_not = str(exc)
        hint = f"python -m htr export --model-dir {model_dir}"
        if runtime == "onnx":
            raise ModelLoadError(f"{why_not}; create it with {hint}")
        from htr.tf_env import TRAIN_EXTRA_HINT, installed

        missing = [module for module in ("keras", "h5py") if not installed(module)]
        if missing:  # reading-only install: no Keras to fall back on
            raise ModelLoadError(f"{why_not}, and Keras, which would read without it, is not installed "
                                 f"({', '.join(missing)}); install the training extra, {TRAIN_EXTRA_HINT}, "
                                 f"then run {hint}")
        if (model_dir / ONNX_FILE).exists():
            warnings.warn(f"{why_not}: ignoring it and running Keras (slower); refresh it with {hint}", stacklevel=3)
        else:
            warnings.warn(f"{why_not}: running Keras (slower to start and to read); for ONNX Runtime run {hint}",
                          stacklevel=3)
    return KerasEngine(load_keras(model_dir, config), config.time_stride)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def run_batches(engine: Engine, images: Sequence[np.ndarray], time_stride: int, batch_size: int = 32,
                on_batch: Callable[[int], None] | None = None) -> list[np.ndarray]:
    """T x C softmax of each prepared line (trimmed to its own width), in the given order.

    Lines run in batches of similar width (:func:`htr.batching.width_batches`), each with
    ``RIGHT_MARGIN`` of empty paper after it, so every line reads as it would alone;
    ``on_batch(n)`` reports progress.
    """
    out: list[np.ndarray] = [np.empty((0, 0), np.float32)] * len(images)
    ratio = getattr(engine, "max_pad_ratio", MAX_PAD_RATIO)
    for chunk in width_batches([im.shape[1] for im in images], batch_size, ratio):
        batch = [images[i] for i in chunk]
        widths = [im.shape[1] for im in batch]
        logits = engine.logits(pad_batch(batch, engine.quantum, RIGHT_MARGIN), widths)
        for row, i in enumerate(chunk):
            out[i] = softmax(logits[row, : max(1, math.ceil(widths[row] / time_stride))])
        if on_batch:
            on_batch(len(chunk))
    return out
