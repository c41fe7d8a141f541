"""Running a model over prepared lines and scoring it: shared by training and ``validate``."""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from htr.config import ModelConfig
from htr.decode import BEAM_WIDTH, decode
from htr.engine import as_engine
from htr.metrics import ErrorRates, error_rates
from htr.progress import Progress
from htr.second_reading import read_lines

OnProgress = Callable[[int, int, str], None]
"""Called as ``on_progress(lines done, lines in all, stage)``, the stage ``reading`` (the network,
batch by batch) or ``decoding``: lets a page show a progress bar the terminal's tqdm bar cannot."""


@dataclass
class Evaluation:
    """A decoder's figures on prepared lines, with every line's reading (``decoder``: the one used)."""

    rates: ErrorRates
    predictions: list[str]
    references: list[str]
    ids: list[str]
    decoder: str
    confidences: list[float] = field(default_factory=list)  # each line's (htr.confidence), where asked for


def probabilities(model, config: ModelConfig, images: list[np.ndarray], batch_size: int = 32,
                  label: str | None = None, on_batch: Callable[[int], None] | None = None) -> list[np.ndarray]:
    """T x C softmax of many prepared lines, batched by similar width to waste little padding,
    dense and tall lines read again as the model's config asks (:func:`htr.second_reading.read_lines`).

    ``model`` is an engine (``Recognizer.engine``: ONNX Runtime or Keras) or a Keras model;
    ``on_batch(n)`` is told of each batch of the first reading.
    """
    bar = Progress(len(images), label) if label else None

    def step(n: int) -> None:
        if bar:
            bar.update(n)
        if on_batch:
            on_batch(n)

    _, out = read_lines(as_engine(model, config), config, images, batch_size,
                        on_batch=step if bar or on_batch else None)
    if bar:
        bar.close()
    return out


def transcribe(model, config: ModelConfig, images: list[np.ndarray], decoder: str = "best",
               beam_width: int = BEAM_WIDTH, batch_size: int = 32, progress: bool = False, lm=None,
               on_progress: OnProgress | None = None, confidences: list[float] | None = None,
               calibration=None) -> list[str]:
    """Texts for many prepared lines; ``lm`` is the loaded language model for the ``lm`` decoder.
    ``confidences``, where given, gets each line's confidence (by ``calibration``, :mod:`htr.confidence`)."""
    from htr.confidence import CANDIDATES, line_confidence

    total = len(images)
    read = 0

    def reading(n: int) -> None:
        nonlocal read
        read += n
        on_progress(read, total, "reading")

    probs = probabilities(model, config, images, batch_size, f"validating ({decoder})" if progress else None,
                          on_batch=reading if on_progress else None)
    texts = []
    for done, p in enumerate(probs, start=1):
        decoded = decode(p, decoder, beam_width, top_k=1 if confidences is None else CANDIDATES, lm=lm)
        texts.append(config.decode(decoded.paths[0][0]))
        if confidences is not None:
            confidences.append(line_confidence(p, decoded, config, decoder, calibration, lm))
        if on_progress and (done % batch_size == 0 or done == total):
            on_progress(done, total, "decoding")
    return texts


def evaluate(model, config: ModelConfig, images, references, ids, decoder: str = "best",
             beam_width: int = BEAM_WIDTH, progress: bool = False, lm=None,
             on_progress: OnProgress | None = None, confidence: bool = False, calibration=None) -> Evaluation:
    """Read prepared lines with ``model`` and score them against ``references`` (``confidence``:
    with each line's confidence too)."""
    confidences = [] if confidence else None
    predictions = transcribe(model, config, images, decoder, beam_width, progress=progress, lm=lm,
                             on_progress=on_progress, confidences=confidences, calibration=calibration)
    return Evaluation(error_rates(references, predictions), predictions, list(references), list(ids), decoder,
                      confidences or [])


def evaluate_recognizer(recognizer, images, references, ids, decoder: str = "best", beam_width: int = BEAM_WIDTH,
                        on_progress: OnProgress | None = None, confidence: bool = False) -> Evaluation:
    """Score a loaded :class:`htr.recognizer.Recognizer` (its engine, config and language model) on
    prepared lines, as ``python -m htr validate`` does, so that a page and the command line agree.

    ``lm`` without a usable language model falls back as the recognizer does (with a warning);
    the result's ``decoder`` is the one used.
    """
    used = recognizer.resolve_decoder(decoder)
    return evaluate(recognizer.engine, recognizer.config, images, references, ids, used, beam_width,
                    lm=recognizer.lm, on_progress=on_progress, confidence=confidence,
                    calibration=recognizer.calibration)


def rates_by_part(references: list[str], hypotheses: list[str], ids: list[str]) -> dict[str, ErrorRates]:
    """Error rates on each half of a validation set (``tune``: where settings are chosen,
    ``report``: which chose nothing) and on all of it."""
    from htr.datasets.base import in_part

    rates = {}
    for part in ("tune", "report", "all"):
        keep = [i for i, line_id in enumerate(ids) if in_part(line_id, part)]
        rates[part] = error_rates([references[i] for i in keep], [hypotheses[i] for i in keep])
    return rates


def load_lines(dataset: str, path, split: str, charset: str, part: str = "all", limit: int | None = None,
               progress: bool = False):
    """A split's lines that ``charset`` can write. A run on the first ``limit`` lines of the whole
    split parses only their files (a few seconds less for IAM On-Line's 1,120 validation lines),
    and the whole split where the charset drops some of those. A folder's ``validation`` split
    without split lists is all its lines (:func:`htr.datasets.folder.scoring_split`), said in
    the result's ``note``."""
    from htr.datasets import load_dataset

    note = None
    if dataset == "folder":
        from htr.datasets.folder import scoring_split

        split, note = scoring_split(path, split)
    first = limit if limit and part == "all" else None
    lines = load_dataset(dataset, path, split, progress=progress, limit=first)
    lines.filter_charset(charset)
    if first and len(lines.samples) < first:
        lines = load_dataset(dataset, path, split, progress=progress)
        lines.filter_charset(charset)
    lines.note = note
    return lines


def prepare_part(lines, height: int, max_width: int, look: str, part: str = "all", limit: int | None = None,
                 label: str = "preparing lines", min_stride: int = 4, deslant: float = 0.0):
    """The first ``limit`` usable lines of one half (``tune``/``report``) of a set, or of all of it.

    Each line is rendered exactly as in a run over the whole set (evaluation renderings are
    seeded by the line's place in the set), so a half's figures are those of its lines in
    the whole set's.
    """
    from htr.datasets.base import in_part
    from htr.train.augment import Prepared, prepare_set

    wanted = [i for i, sample in enumerate(lines.samples) if in_part(sample.id, part)]
    if limit:
        wanted = wanted[:limit]
    keep = {lines.samples[i].id for i in wanted}
    lines.samples = lines.samples[: wanted[-1] + 1] if wanted else []
    prepared = prepare_set(lines, height, max_width, look, augment=False, label=label, min_stride=min_stride,
                           deslant=deslant)
    chosen = [k for k, line_id in enumerate(prepared.ids) if line_id in keep]
    return Prepared([prepared.images[k] for k in chosen], [prepared.texts[k] for k in chosen],
                    [prepared.ids[k] for k in chosen])


def add_validation_set_options(parser) -> None:
    """The options of a benchmark that reads the model card's validation sets (``--model-dir``,
    ``--iam-ondb``, ``--iam``, ``--iam-split``, ``--limit``), defaulting to :mod:`htr.paths`;
    what :func:`prepare_validation_sets` takes."""
    from htr.paths import default_model_dir, iam_dir, iam_ondb_dir, iam_split

    parser.add_argument("--model-dir", default=str(default_model_dir()))
    parser.add_argument("--iam-ondb", default=str(iam_ondb_dir()))
    parser.add_argument("--iam", default=str(iam_dir()))
    parser.add_argument("--iam-split", default=str(iam_split("available-dev")))
    parser.add_argument("--limit", type=int, help="the first N lines of each set")


def prepare_validation_sets(config: ModelConfig, iam_ondb: str, iam: str, iam_split: str,
                            limit: int | None = None) -> list:
    """(name, Prepared) of the three sets the model card reports: IAM On-Line validation in the
    canvas and the paper look, and the real scans of an IAM split (the first ``limit`` lines of each)."""
    from pathlib import Path

    from htr.train.augment import prepare_set

    sets = [("iam-ondb canvas", "iam-ondb", iam_ondb, "validation", "canvas"),
            ("iam-ondb paper", "iam-ondb", iam_ondb, "validation", "paper"),
            (f"iam {Path(iam_split).stem}", "iam", iam, iam_split, "canvas")]
    prepared = []
    for name, dataset, data, split, look in sets:
        lines = load_lines(dataset, data, split, config.charset, "all", limit)
        lines.samples = lines.samples[:limit]
        prepared.append((name, prepare_set(lines, config.height, config.max_width, look, augment=False,
                                           label=f"preparing {name}", min_stride=config.time_stride,
                                           deslant=config.deslant)))
    return prepared
