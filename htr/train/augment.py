"""Turning data set samples into network inputs, with augmentation for training.

Stroke samples are re-rendered every epoch (a new pen, slant, size and look each time);
image samples get mild geometric and photometric jitter. Every sample's randomness comes
from (seed, epoch, index), so a resumed run sees exactly the data an uninterrupted one would.
"""

import math
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import cv2
import numpy as np

from htr.datasets.base import LineSample, LineSet
from htr.errors import BadImageError
from htr.imageio import read_image_file as load_image
from htr.preprocess import preprocess
from htr.progress import Progress
from htr.render import LOOKS, render_strokes
from htr.train.scan_augment import augment_scan

TRAIN_LOOKS = LOOKS + ("mixed",)


@dataclass
class Prepared:
    """Network inputs for the usable samples of a set, in the set's order."""

    images: list[np.ndarray]
    texts: list[str]
    ids: list[str]


def sample_image(sample: LineSample, look: str, rng: np.random.Generator | None) -> np.ndarray:
    """The raw image of a sample: rendered strokes or the image file (augmented if rng).

    In training, a sixth of the mixed-look renderings go through the scan augmentation too,
    so the renderer's lines also look like binarised or grey scans with neighbour fragments.
    """
    if sample.strokes is not None:
        if look == "mixed":
            look = "canvas" if rng is None or rng.random() < 0.5 else "paper"
            if rng is not None and rng.random() < 1 / 6:
                return augment_scan(render_strokes(sample.strokes, "canvas", rng, wide=True), rng)
        return render_strokes(sample.strokes, look, rng, wide=rng is not None)
    image = load_image(sample.path)
    return augment_scan(image, rng) if rng is not None else image


def _prepare_one(sample: LineSample, index: int, look: str, seed: int, epoch: int, augment: bool,
                 height: int, max_width: int, deslant: float = 0.0) -> np.ndarray | str:
    """One sample's network input, or the reason it is unusable."""
    try:
        if augment:
            raw = sample_image(sample, look, np.random.default_rng([seed, epoch, index]))
        elif sample.strokes is not None:
            # Evaluation: varied but fixed renderings, alternating looks when mixed.
            fixed_look = LOOKS[index % 2] if look == "mixed" else look
            raw = render_strokes(sample.strokes, fixed_look, np.random.default_rng([seed, 7919, index]))
        else:
            raw = load_image(sample.path)
        return preprocess(raw, height, max_width, deslant)
    except BadImageError as exc:
        return "unreadable or blank image" if "no handwriting" not in str(exc) else "no ink"
    except (cv2.error, ValueError, OSError):
        return "unreadable or blank image"


def _prepare_chunk(args: tuple, chunk: list[tuple[int, LineSample]]) -> list:
    """A process's share: images travel back as uint8 (a quarter of the bytes of float32)."""
    out = []
    for index, sample in chunk:
        result = _prepare_one(sample, index, *args)
        out.append(result if isinstance(result, str) else np.round(result * 255).astype(np.uint8))
    return out


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: end the worker if its parent dies (killed training leaves no orphans)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _process_pool(workers: int) -> ProcessPoolExecutor:
    # spawn, not fork: the parent may hold JAX/TensorFlow threads that a fork would copy mid-flight.
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_exit_with_parent, initargs=(os.getpid(),))


def prepare_set(lines: LineSet, height: int, max_width: int, look: str = "mixed", seed: int = 0,
                epoch: int = 0, augment: bool = True, workers: int = 2, label: str = "preparing",
                min_stride: int = 4, processes: bool = False, places: list[int] | None = None,
                deslant: float = 0.0) -> Prepared:
    """Render/load and preprocess every sample in parallel.

    ``places``: each sample's place in the whole set when ``lines`` is one process's share of
    it, so a line is augmented alike however many processes share the set.

    ``processes`` renders in worker processes instead of threads: rendering is mostly Python
    and NumPy holding the GIL, so only processes scale past a couple of cores (training on a
    many-core GPU machine). ``deslant`` is the model's share of slant taken out (htr.slant).
    Unusable samples (unreadable image, no ink, too narrow for their text) are removed from
    ``lines`` for good and counted in ``lines.skipped``.
    """
    if look not in TRAIN_LOOKS:
        raise ValueError(f"unknown look {look!r}; expected one of {TRAIN_LOOKS}")
    args = (look, seed, epoch, augment, height, max_width, deslant)
    samples = lines.samples
    places = list(range(len(samples))) if places is None else places
    progress = Progress(len(samples), label)
    results: list = []
    if processes and workers > 1 and len(samples) > 1:
        size = 64
        indexed = list(zip(places, samples, strict=True))
        chunks = [indexed[start : start + size] for start in range(0, len(indexed), size)]
        with _process_pool(workers) as pool:
            for chunk_results in pool.map(partial(_prepare_chunk, args), chunks):
                results.extend(r if isinstance(r, str) else r.astype(np.float32) / 255.0 for r in chunk_results)
                progress.update(len(chunk_results))
    else:
        with ThreadPoolExecutor(max(1, workers)) as pool:
            for outcome in pool.map(lambda i: _prepare_one(samples[i], places[i], *args), range(len(samples))):
                results.append(outcome)
                progress.update()
    progress.close()
    kept, prepared = [], Prepared([], [], [])
    for sample, outcome in zip(samples, results, strict=True):
        if isinstance(outcome, str):
            lines.skip(outcome)
            continue
        if math.ceil(outcome.shape[1] / min_stride) < ctc_min_steps(sample.text):
            lines.skip("image too narrow for its text")
            continue
        kept.append(sample)
        prepared.images.append(outcome)
        prepared.texts.append(sample.text)
        prepared.ids.append(sample.id)
    lines.samples = kept
    return prepared


def ctc_min_steps(text: str) -> int:
    """Timesteps CTC needs for a text: one per character plus a blank between doubled ones."""
    return len(text) + sum(a == b for a, b in zip(text, text[1:]))
