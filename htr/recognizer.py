"""The public entry point: load a model folder once, recognise images of lines."""

import warnings
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from htr.confidence import CANDIDATES, Calibration, assess, measure
from htr.config import ModelConfig
from htr.decode import BEAM_WIDTH, DECODERS, decode
from htr.engine import Engine, as_engine, load_engine, run_batches
from htr.errors import HTRError, ModelLoadError
from htr.paper import Paper, read_sheet
from htr.paper import warm_up as paper_warm_up
from htr.preprocess import preprocess
from htr.results import Alternative, Recognition
from htr.second_reading import read_lines

ImageLike = np.ndarray | str | Path | bytes


def _load_lm(model_dir: Path, config: ModelConfig):
    from htr.lm.decoder import load_for_model

    return load_for_model(model_dir, config)


class Recognizer:
    """A trained model with its configuration and language model; thread-compatible for inference.

    ``lm`` is the model folder's language model, loaded once (None if it has none or it
    could not be loaded: ``lm_error`` says why, and the ``lm`` decoder falls back to beam search).
    ``engine`` runs the network (:mod:`htr.engine`: ONNX Runtime or Keras); ``model`` is the
    Keras model on the Keras path and the engine itself on the ONNX path. ``calibration`` turns
    a reading's evidence into its confidence (the folder's ``confidence.json``; None: the
    network's per-character probability, :mod:`htr.confidence`).
    """

    def __init__(self, model, config: ModelConfig, model_dir: Path | None = None, lm=None,
                 lm_error: str | None = None):
        self.engine: Engine = as_engine(model, config)
        self.model = getattr(self.engine, "model", self.engine)
        self.config = config
        self.model_dir = model_dir
        self.lm = lm
        self.lm_error = lm_error
        self.calibration: Calibration | None = Calibration.load(model_dir)

    @property
    def runtime(self) -> str:
        """``onnx`` or ``keras``: what runs the network."""
        return self.engine.name

    @classmethod
    def load(cls, model_dir: str | Path = "model", runtime: str = "auto", threads: int | None = None) -> "Recognizer":
        """Load a model folder; ``runtime`` is ``auto`` (ONNX if current, else Keras), ``onnx`` or ``keras``.

        ``threads``: ONNX Runtime's threads per call (default: up to 2, or ``HTR_THREADS``).
        """
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise ModelLoadError(f"model folder not found: {model_dir}")
        config = ModelConfig.load(model_dir)
        # The language model loads (in C++, without the GIL) while the network loads and warms up.
        with ThreadPoolExecutor(1) as pool:
            lm_loading = pool.submit(_load_lm, model_dir, config)
            engine = load_engine(model_dir, config, runtime, threads)
            recognizer = cls(engine, config, model_dir)
            recognizer.warm_up()
            recognizer.lm, recognizer.lm_error = lm_loading.result()
        return recognizer

    def resolve_decoder(self, decoder: str) -> str:
        """The decoder that will run: ``lm`` falls back to ``beam`` (with a warning) without an LM."""
        if decoder not in DECODERS:
            raise ValueError(f"unknown decoder {decoder!r}; expected one of {DECODERS}")
        if decoder == "lm" and self.lm is None:
            warnings.warn(f"no language model ({self.lm_error or 'none loaded'}): decoding with beam search",
                          stacklevel=3)
            return "beam"
        return decoder

    def warm_up(self) -> None:
        """Compile the inference graph (Keras) or plan its memory (ONNX) before the first request,
        and build the sheet finder's colour tables."""
        paper_warm_up()
        width = 256
        self.engine.logits(np.zeros((1, self.config.height, width, 1), np.float32), [width])

    def warm_up_decoders(self, decoders: Iterable[str] = DECODERS) -> list[Recognition]:
        """Read a printed line once with each decoder, so that a server's first visitor does not
        wait for the decoders' first calls (the language model's search above all)."""
        import cv2

        line = np.full((64, 320), 255, np.uint8)
        cv2.putText(line, "warm up", (10, 44), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, 1.3, 0, 3, cv2.LINE_AA)
        return [self.recognize(line, decoder=decoder) for decoder in decoders]

    def prepare(self, image: ImageLike, find_paper: bool = True) -> np.ndarray:
        """Any image (array, file path, encoded bytes, PIL image) -> the ink map the network reads."""
        return self._prepare(image, find_paper)[0]

    def _prepare(self, image: ImageLike, find_paper: bool = True) -> tuple[np.ndarray, Paper | None]:
        """The ink map, and the sheet of paper whose flattened image it was made from, if any."""
        from htr.imageio import read_image

        array, paper = read_sheet(read_image(image)) if find_paper else (read_image(image), None)
        return preprocess(array, self.config.height, self.config.max_width, self.config.deslant), paper

    def probabilities(self, prepared: Sequence[np.ndarray], batch_size: int = 32) -> list[np.ndarray]:
        """T x C softmax for each prepared line as it is, trimmed to the line's own width.

        Lines run in batches of similar width, so each reads as it would alone.
        """
        return run_batches(self.engine, list(prepared), self.config.time_stride, batch_size)

    def read(self, prepared: Sequence[np.ndarray], batch_size: int = 32) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """What recognition reads: each line's softmax, dense lines stretched and tall ones
        clipped where that reads better (:func:`htr.second_reading.read_lines`), with the images as
        finally read (for heatmaps)."""
        return read_lines(self.engine, self.config, prepared, batch_size)

    def recognize(self, image: ImageLike, decoder: str = "best", beam_width: int = BEAM_WIDTH, top_k: int = 5,
                  correct: bool = False, find_paper: bool = True) -> Recognition:
        """Read one line. In a photo of a sheet lying on a desk the sheet is found and flattened
        first (:mod:`htr.paper`; ``find_paper=False`` reads the image as it is)."""
        return self.recognize_batch([image], decoder, beam_width, top_k, correct, find_paper=find_paper)[0]

    def recognize_strokes(self, strokes, decoder: str = "best", beam_width: int = BEAM_WIDTH, top_k: int = 5,
                          correct: bool = False) -> Recognition:
        """Read pen strokes (arrays of x, y[, t] points, y down; any scale), rendered as in training."""
        from htr.ink import render_ink

        return self.recognize(render_ink(strokes), decoder, beam_width, top_k, correct, find_paper=False)

    def recognize_batch(self, images: Iterable[ImageLike], decoder: str = "best", beam_width: int = BEAM_WIDTH,
                        top_k: int = 5, correct: bool = False, batch_size: int = 16,
                        find_paper: bool = True) -> list[Recognition]:
        """Recognise many lines; errors in preparing any image raise before the model runs."""
        decoder = self.resolve_decoder(decoder)
        inputs = [self._prepare(image, find_paper) for image in images]
        prepared, probs = self.read([ink for ink, _ in inputs], batch_size)
        return [self._result(image, p, decoder, beam_width, top_k, correct, paper)
                for image, p, (_, paper) in zip(prepared, probs, inputs)]

    def recognize_stream(self, items: Iterable[Any], decoder: str = "best", beam_width: int = BEAM_WIDTH, top_k: int = 5,
                         correct: bool = False, read: Callable[[Any], ImageLike] | None = None,
                         batch_size: int = 32, window: int = 256, workers: int = 2,
                         ) -> Iterator[Recognition | HTRError]:
        """One result per item, in input order, as they complete: for any number of lines.

        Items are read (``read(item)``, e.g. a path to an image or ink file) and prepared in
        ``workers`` threads while the network reads the previous group; each group of up to
        ``window`` lines (the first ones smaller, for a quick first result) runs in batches of
        similar width. An item that cannot be read yields its :class:`HTRError` instead.
        """
        decoder = self.resolve_decoder(decoder)

        def prepare(item):
            try:
                return self._prepare(read(item) if read else item)
            except HTRError as exc:
                return exc

        items = iter(items)
        size = min(8, window)
        with ThreadPoolExecutor(max(1, workers)) as pool:
            pending = [pool.submit(prepare, item) for item in islice(items, size)]
            while pending:
                size = min(size * 2, window)
                upcoming = [pool.submit(prepare, item) for item in islice(items, size)]
                prepared = [future.result() for future in pending]
                good = [p for p in prepared if not isinstance(p, HTRError)]
                images, probs = self.read([ink for ink, _ in good], batch_size)
                results = iter(zip(images, probs, good))
                for p in prepared:
                    if isinstance(p, HTRError):
                        yield p
                    else:
                        image, line_probs, (_, paper) = next(results)
                        yield self._result(image, line_probs, decoder, beam_width, top_k, correct, paper)
                pending = upcoming

    def _result(self, image, probs, decoder, beam_width, top_k, correct, paper: Paper | None = None) -> Recognition:
        # More candidates than shown where the confidence needs them: the first ones do not change.
        decoded = decode(probs, decoder, beam_width, max(top_k, CANDIDATES), lm=self.lm)
        paths = decoded.paths
        alternatives = [Alternative(self.config.decode(labels), score, decoded.log_prob(k))
                        for k, (labels, score) in enumerate(paths)]
        text = alternatives[0].text
        corrected = None
        if correct:
            from htr.spelling import correct as spell

            corrected = spell(text)
        found = measure(probs, decoded, self.config.decode, self.config.time_stride, image.shape[0], self.lm)
        confidence, words = assess(found, decoder, self.calibration)
        return Recognition(
            text=text,
            confidence=confidence,
            words=words,
            alternatives=alternatives[:top_k],
            probabilities=probs,
            charset=self.config.charset,
            image=image,
            time_stride=self.config.time_stride,
            decoder=decoder,
            corrected=corrected,
            paper=paper,
        )
