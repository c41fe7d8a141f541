"""Exporting a model folder's Keras weights to ``model.onnx`` for ONNX Runtime, optionally int8.

Export runs Keras (the training extra); the graph it writes is what :mod:`htr.engine` serves,
and the stamp beside it (:func:`htr.engine.fingerprint`) lets the engine notice stale exports.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from htr.config import WEIGHTS_FILE, ModelConfig
from htr.engine import ONNX_FILE, STAMP_FILE, STEPS_INPUT, fingerprint, load_keras
from htr.errors import ModelLoadError

QUANTIZATIONS = ("none", "int8")


def export_onnx(model_dir: str | Path, config: ModelConfig | None = None, quantize: str = "none") -> Path:
    """Write ``model.onnx`` (the unmasked inference graph) and its stamp beside the weights.

    ``quantize="int8"`` stores the LSTMs' and the output layer's weights as 8-bit integers
    (ONNX Runtime's dynamic quantization: activations are scaled per call), which takes about a
    sixth off a single line's time on a 2-core AVX2 CPU (docs/experiments/2026-11-26-integer-weights.md); the
    convolutions stay in float, as int8 convolutions ran no faster there. The stamp records it.
    """
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"unknown quantization {quantize!r}; expected one of {QUANTIZATIONS}")
    from htr.tf_env import installed, missing_extra_message

    missing = [module for module in ("keras", "h5py", "tensorflow", "onnx", "tf2onnx") if not installed(module)]
    if missing:
        raise ModelLoadError(missing_extra_message("exporting to ONNX", missing))
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # export on the CPU
    model_dir = Path(model_dir)
    config = config or ModelConfig.load(model_dir)
    if not (model_dir / WEIGHTS_FILE).is_file():
        raise ModelLoadError(f"{model_dir} has no {WEIGHTS_FILE} to export")
    stamp = fingerprint(model_dir, config)
    model = load_keras(model_dir, config, masked=False)
    model.predict_on_batch(np.zeros((1, config.height, 16 * config.time_stride, 1), np.float32))
    tmp = model_dir / (ONNX_FILE + ".tmp")
    model.export(str(tmp), format="onnx", verbose=False)
    add_sequence_lengths(tmp)
    if quantize == "int8":
        quantize_int8(tmp)
    stamp["quantized"] = quantize
    tmp.replace(model_dir / ONNX_FILE)
    stamp_tmp = model_dir / (STAMP_FILE + ".tmp")
    stamp_tmp.write_text(json.dumps(stamp, indent=2))
    stamp_tmp.replace(model_dir / STAMP_FILE)
    return model_dir / ONNX_FILE


def add_sequence_lengths(path: Path) -> None:
    """Give the exported graph a ``steps`` input feeding every LSTM's ``sequence_lens``.

    The unmasked export reads a padded line's padding backwards before its ink; ONNX's LSTM op
    takes each sequence's length natively (no loops), which makes the graph read a line in a
    batch exactly as alone, like the masked Keras model. Refuses a graph whose recurrence
    became loops (a mask left in it), which would run slowly.
    """
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    ops = {node.op_type for node in graph.node}
    lstms = [node for node in graph.node if node.op_type == "LSTM"]
    if not lstms or ops & {"Loop", "Scan"}:
        raise ModelLoadError(f"the exported graph has no native LSTM op (ops: {sorted(ops)})")
    batch = graph.input[0].type.tensor_type.shape.dim[0]
    steps = onnx.helper.make_tensor_value_info(STEPS_INPUT, onnx.TensorProto.INT32, [batch.dim_param or None])
    graph.input.append(steps)
    for node in lstms:
        while len(node.input) < 5:
            node.input.append("")
        node.input[4] = STEPS_INPUT
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def quantize_int8(path: Path) -> None:
    """Rewrite the graph at ``path`` with int8 LSTM and MatMul weights (in place)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = path.with_name(path.name + ".int8")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to run shape pre-processing: measured, it makes no difference here
    try:
        quantize_dynamic(str(path), str(out), weight_type=QuantType.QInt8, op_types_to_quantize=["LSTM", "MatMul"])
        out.replace(path)
    finally:
        root.setLevel(level)
        out.unlink(missing_ok=True)
