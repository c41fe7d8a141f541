"""Put a trained model where the app serves it from, keeping the one it replaces.

A training run's folder holds its best model (``config.json``, ``model.weights.h5``,
``metadata.json``, ``history.csv``). Installing copies those files into the served model
folder; the files they replace, and the ONNX export and confidence calibration made from the
old weights, move to a backup folder beside it, so nothing is lost and nothing stale is served.
The served folder's language model (``lm/``) stays unless the run brings its own.
"""

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from htr.config import WEIGHTS_FILE
from htr.errors import ModelLoadError

MODEL_FILES = ("config.json", WEIGHTS_FILE, "metadata.json", "history.csv")
STALE_FILES = ("model.onnx", "model.onnx.json", "confidence.json")  # made from (fitted on) the weights being replaced


@dataclass
class Installed:
    """What an installation did: the files copied in, and where the replaced ones went."""

    target: Path
    copied: list[str] = field(default_factory=list)
    backup: Path | None = None
    kept_lm: bool = False  # the served language model stays, with its settings (tuned for the old model)


def _keep_language_model(new_config: Path, old_config: Path) -> bool:
    """Carry the served folder's language-model settings into a config.json that has none."""
    try:
        old = json.loads(old_config.read_text()).get("lm")
        config = json.loads(new_config.read_text())
    except (OSError, ValueError, AttributeError):
        return False
    if not old or config.get("lm"):
        return False
    new_config.write_text(json.dumps({**config, "lm": old}, indent=2))
    return True


def install_model(source: str | Path, target: str | Path) -> Installed:
    """Copy the model in ``source`` into ``target``; replaced files go to ``TARGET.previous-<time>``."""
    source, target = Path(source).expanduser().resolve(), Path(target).expanduser().resolve()
    if not (source / "config.json").is_file() or not (source / WEIGHTS_FILE).is_file():
        raise ModelLoadError(f"{source} holds no trained model (config.json and {WEIGHTS_FILE} expected)")
    if source == target:
        raise ModelLoadError(f"{source} is already the served model folder")
    result = Installed(target)
    target.mkdir(parents=True, exist_ok=True)
    # Everything is copied beside the target first, so the swap below is only renames.
    staging = target / f".installing-{time.time_ns()}"
    staging.mkdir()
    try:
        for name in MODEL_FILES:
            if (source / name).is_file():
                shutil.copy2(source / name, staging / name)
                result.copied.append(name)
        if (source / "lm").is_dir():
            shutil.copytree(source / "lm", staging / "lm")
            result.copied.append("lm")
        else:
            result.kept_lm = _keep_language_model(staging / "config.json", target / "config.json")
        replaced = [name for name in (*MODEL_FILES, *STALE_FILES) if (target / name).exists()]
        if "lm" in result.copied and (target / "lm").exists():
            replaced.append("lm")
        if replaced:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            result.backup = next(backup for n in range(1, 1000)
                                 if not (backup := target.with_name(f"{target.name}.previous-{stamp}"
                                                                    + (f"-{n}" if n > 1 else ""))).exists())
            result.backup.mkdir(parents=True)
            for name in replaced:
                (target / name).replace(result.backup / name)
        for name in result.copied:
            (staging / name).replace(target / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result
