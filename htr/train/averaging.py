"""Averaging the weights of a run's last epochs into one model.

Late in training, with a small learning rate, consecutive epochs sit around a minimum;
their mean usually generalises better than any one of them (stochastic weight averaging).
"""

from pathlib import Path

import numpy as np

from htr.config import ModelConfig
from htr.errors import DataError


def checkpoint_files(run_dir: str | Path, last: int) -> list[Path]:
    """The model files of the run's newest ``last`` complete checkpoints, oldest first."""
    from htr.train.loop import Checkpoints

    folders = Checkpoints(Path(run_dir) / "checkpoints").epochs()
    if len(folders) < last:
        raise DataError(f"{run_dir} keeps {len(folders)} checkpoint(s), fewer than the {last} asked for "
                        "(train with --keep-checkpoints N to keep more)")
    return [folder / "model.keras" for folder in folders[-last:]]


def average_weights(files: list[Path]) -> list[np.ndarray]:
    """Element-wise mean of the weights (batch-norm statistics included) of saved models."""
    import keras

    import htr.network  # noqa: F401  registers the custom layers and loss

    total = None
    for path in files:
        try:
            weights = keras.models.load_model(path, compile=False).get_weights()
        except Exception as exc:  # truncated or foreign files raise many kinds
            raise DataError(f"cannot read checkpoint {path}: {exc}") from exc
        if total is None:
            total = [w.astype(np.float64) for w in weights]
        elif [w.shape for w in weights] != [t.shape for t in total]:
            raise DataError(f"{path} has another architecture than {files[0]}")
        else:
            total = [t + w for t, w in zip(total, weights)]
    return [(t / len(files)).astype(np.float32) for t in total]


def average_run(run_dir: str | Path, last: int, model_dir: str | Path) -> Path:
    """Write ``model_dir`` (config + averaged weights) from the run's last ``last`` epochs."""
    from htr.train.loop import export_weights

    run_dir, model_dir = Path(run_dir), Path(model_dir)
    config = ModelConfig.load(run_dir)
    files = checkpoint_files(run_dir, last)
    config.training = {**config.training, "averaged_checkpoints": [f"{f.parent.name}/{f.name}" for f in files]}
    model_dir.mkdir(parents=True, exist_ok=True)
    export_weights(average_weights(files), config, model_dir)
    return model_dir


def blend_models(sources: list[str | Path], weights: list[float], model_dir: str | Path) -> Path:
    """Write ``model_dir`` with the weighted mean of models' weights (model folders or checkpoints).

    Interpolating a fine-tuned model with the one it started from keeps much of what each
    knows: it reads the new data better than the start and the old data better than the
    fine-tuned model alone.
    """
    import keras

    import htr.network  # noqa: F401  registers the custom layers and loss
    from htr.config import WEIGHTS_FILE
    from htr.network import build_model
    from htr.train.loop import export_weights

    if len(sources) != len(weights) or len(sources) < 2:
        raise DataError("give two or more models and one weight per model")
    if any(w < 0 for w in weights) or not sum(weights) > 0:
        raise DataError("blend weights must be non-negative and not all zero")
    config = None
    mixed = None
    for source, share in zip(sources, weights):
        source = Path(source)
        try:
            if source.is_dir():
                this_config = ModelConfig.load(source)
                model = build_model(this_config)
                model.load_weights(source / WEIGHTS_FILE)
            else:
                model = keras.models.load_model(source, compile=False)
                this_config = None
            values = model.get_weights()
        except DataError:
            raise
        except Exception as exc:  # missing or foreign files raise many kinds
            raise DataError(f"cannot read model {source}: {exc}") from exc
        config = config or this_config
        share = share / sum(weights)
        if mixed is None:
            mixed = [share * v.astype(np.float64) for v in values]
        elif [v.shape for v in values] != [m.shape for m in mixed]:
            raise DataError(f"{source} has another architecture than {sources[0]}")
        else:
            mixed = [m + share * v for m, v in zip(mixed, values)]
    if config is None:
        raise DataError("at least one of the models must be a model folder (for its config.json)")
    config.training = {**config.training, "blended": [{"model": str(s), "weight": w} for s, w in zip(sources, weights)]}
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    export_weights([m.astype(np.float32) for m in mixed], config, model_dir)
    return model_dir
