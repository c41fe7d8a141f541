"""Put a trained model where the app serves it from, keeping the one it replaces.

A training run's folder holds its best model (``config.json``, ``model.weights.h5``,
``metadata.json``, ``history.csv``). Installing copies those files into the served model
folder; the files they replace, and the ONNX export and confidence calibration made from the
old weights, move to a backup folder beside it, so nothing is lost and nothing stale is served.
The served folder's language model (``lm/``) stays unless the run brings its own.

Before that, :func:`compare_with_served` scores the served model on the run's own validation
lines, so that a page can ask twice before a model worse than the one it replaces goes in.
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


@dataclass
class Comparison:
    """A run's best model against the served one, on the lines the run validated on."""

    run_cer: float  # the run's best validation CER (metadata.json), best-path reading
    served_cer: float  # the served model's, read the same way on the same lines
    lines: int
    data: str  # which lines, in words

    @property
    def worse(self) -> bool:
        return self.run_cer > self.served_cer


def compare_with_served(run_dir: str | Path, served_dir: str | Path) -> Comparison | None:
    """The served model's CER on the run's validation lines, beside the run's own; None where no
    model is served yet. Raises :class:`~htr.errors.HTRError` where the two cannot be compared
    (a run without its CER or settings, its data gone).

    The run's figure is the one training measured (best path, the validation lines prepared
    with the run's look and seed); the served model reads the same lines, prepared the same way
    for its own input size, so the two CERs count errors on the same texts.
    """
    from htr.errors import HTRError
    from htr.recognizer import Recognizer
    from htr.train.augment import prepare_set
    from htr.train.evaluate import evaluate
    from htr.train.loop import METADATA_FILE, load_split
    from htr.train.settings import SETTINGS_FILE, load_settings_file

    run_dir, served_dir = Path(run_dir).expanduser().resolve(), Path(served_dir).expanduser().resolve()
    try:
        run_cer = json.loads((run_dir / METADATA_FILE).read_text())["training"]["best_val_cer"]
    except (OSError, ValueError, KeyError, TypeError):
        run_cer = None
    if run_cer is None:
        raise HTRError(f"{run_dir} records no validation CER ({METADATA_FILE})")
    if not (run_dir / SETTINGS_FILE).is_file():
        raise HTRError(f"{run_dir} has no {SETTINGS_FILE}: which lines it validated on is not known")
    try:
        served = Recognizer.load(served_dir)
    except ModelLoadError:
        return None  # nothing served yet: nothing to be worse than
    settings = load_settings_file(run_dir / SETTINGS_FILE)
    charset = json.loads((run_dir / "config.json").read_text()).get("charset") or served.config.charset
    config = served.config
    rates, lines, names = [], 0, []
    for source in settings.source_list():
        val = load_split(source, source.val, source.val_limit or settings.val_limit, charset)
        prepared = prepare_set(val, config.height, config.max_width, settings.look, settings.seed, augment=False,
                               workers=2, label=f"preparing {source.name} validation lines",
                               min_stride=config.time_stride, deslant=config.deslant)
        result = evaluate(served.engine, config, prepared.images, prepared.texts, prepared.ids, "best")
        rates.append(result.rates.cer)
        lines += result.rates.lines
        names.append(f"{source.name} {source.val}")
    return Comparison(float(run_cer), sum(rates) / len(rates), lines, ", ".join(names))


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
