"""Growing a trained model: more filters and LSTM units that start out reading exactly as before.

A trained network that has stopped improving may be short of capacity, and one trained from
scratch at a larger size needs the whole training again. Widening keeps every trained unit and
adds new ones whose outgoing weights start at zero: the wider network's output is the old
one's, and training carries on from the old accuracy while the new units learn (Net2Net's
"wider" step, in its zero-initialised form).
"""

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from htr.config import ModelConfig
from htr.errors import DataError


def _gate_columns(old_units: int, units: int, gates: int = 4) -> np.ndarray:
    """Where each old LSTM gate column sits among the wider layer's ``gates * units`` columns."""
    return np.concatenate([g * units + np.arange(old_units) for g in range(gates)])


def _both_directions(old_units: int, units: int) -> np.ndarray:
    """Where a bidirectional layer's old outputs (forward, then backward) sit in the wider one."""
    return np.concatenate([np.arange(old_units), units + np.arange(old_units)])


def _place(old: np.ndarray, new: np.ndarray, rows: np.ndarray | None, cols: np.ndarray) -> np.ndarray:
    """``new`` with ``old`` written at (rows, cols) of its last two axes, and the new rows'
    weights into the old columns zeroed, so new inputs do not change old outputs."""
    out = new.copy()
    if rows is None:  # a vector: biases, batch-norm parameters
        out[cols] = old
        return out
    out[..., cols] = 0.0
    out[(Ellipsis, *np.ix_(rows, cols))] = old
    return out


def widen_weights(old_model, new_model, old: ModelConfig, new: ModelConfig) -> list[np.ndarray]:
    """The wider model's weights: ``new_model``'s fresh ones, with the old model's set in place."""
    weights = {}
    channels = np.arange(1)  # the input image's one channel
    for i, (old_filters, filters) in enumerate(zip(old.conv_filters, new.conv_filters, strict=True)):
        outputs = np.arange(old_filters)
        (kernel,) = old_model.get_layer(f"conv{i}").get_weights()
        (fresh,) = new_model.get_layer(f"conv{i}").get_weights()
        weights[f"conv{i}"] = [_place(kernel, fresh, channels, outputs)]
        weights[f"bn{i}"] = [_place(o, n, None, outputs) for o, n in zip(
            old_model.get_layer(f"bn{i}").get_weights(), new_model.get_layer(f"bn{i}").get_weights(), strict=True)]
        channels = outputs
    # collapse_height flattens (height, channels) with the channel fastest.
    features = np.concatenate([h * new.conv_filters[-1] + channels for h in range(new.feature_height)])
    units = np.arange(old.lstm_units)
    kernel, bias = old_model.get_layer("project").get_weights()
    fresh_kernel, fresh_bias = new_model.get_layer("project").get_weights()
    weights["project"] = [_place(kernel, fresh_kernel, features, units), _place(bias, fresh_bias, None, units)]
    inputs = units
    gates = _gate_columns(old.lstm_units, new.lstm_units)
    for i in range(old.lstm_layers):
        old_w = old_model.get_layer(f"blstm{i}").get_weights()
        new_w = new_model.get_layer(f"blstm{i}").get_weights()
        layer = []
        for direction in (0, 3):  # forward, backward: kernel, recurrent kernel, bias each
            k, r, b = old_w[direction : direction + 3]
            fk, fr, fb = new_w[direction : direction + 3]
            layer += [_place(k, fk, inputs, gates), _place(r, fr, units, gates), _place(b, fb, None, gates)]
        weights[f"blstm{i}"] = layer
        inputs = _both_directions(old.lstm_units, new.lstm_units)
    kernel, bias = old_model.get_layer("logits").get_weights()
    fresh_kernel, _ = new_model.get_layer("logits").get_weights()
    weights["logits"] = [_place(kernel, fresh_kernel, inputs, np.arange(kernel.shape[1])), bias]
    for name, values in weights.items():
        new_model.get_layer(name).set_weights(values)
    return new_model.get_weights()


def widen_model(source: str | Path, model_dir: str | Path, conv_filters: tuple[int, ...] | None = None,
                lstm_units: int | None = None, seed: int = 0) -> Path:
    """Write ``model_dir``: the model in ``source`` with more filters and/or LSTM units."""
    import keras

    from htr.engine import load_keras
    from htr.network import build_model
    from htr.train.loop import export_weights

    source = Path(source)
    old = ModelConfig.load(source)  # ModelLoadError if it is not a model folder
    conv_filters = tuple(conv_filters or old.conv_filters)
    lstm_units = lstm_units or old.lstm_units
    if len(conv_filters) != len(old.conv_filters):
        raise DataError(f"give {len(old.conv_filters)} filter counts, one per conv layer of {source}")
    if any(n < o for n, o in zip(conv_filters, old.conv_filters)) or lstm_units < old.lstm_units:
        raise DataError(f"widening only adds units: {source} has filters {','.join(map(str, old.conv_filters))} "
                        f"and {old.lstm_units} LSTM units")
    new = replace(old, conv_filters=conv_filters, lstm_units=lstm_units)
    old_model = load_keras(source, old)  # ModelLoadError if the weights are missing or corrupt
    keras.utils.set_random_seed(seed)
    new_model = build_model(new)
    weights = widen_weights(old_model, new_model, old, new)
    new.training = {**old.training, "widened_from": {"model": str(source), "conv_filters": list(old.conv_filters),
                                                      "lstm_units": old.lstm_units}}
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    export_weights(weights, new, model_dir)
    _copy_language_model(source, model_dir, new)
    return model_dir


def _copy_language_model(source: Path, model_dir: Path, config: ModelConfig) -> None:
    """The wider model reads as the old one, so the old one's tuned language model fits it too."""
    path = (config.lm or {}).get("path")
    if not path or Path(path).is_absolute() or not (source / path).is_file():
        return
    folder = Path(path).parent
    if folder == Path("."):
        shutil.copy2(source / path, model_dir / path)
    else:  # the LM's folder: the file and its build record
        shutil.copytree(source / folder, model_dir / folder, dirs_exist_ok=True)
