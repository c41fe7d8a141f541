"""The public entry point: load a model folder once, recognise images of lines."""

import math
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from htr.config import WEIGHTS_FILE, ModelConfig
from htr.decode import DECODERS, decode
from htr.errors import ModelLoadError
from htr.preprocess import preprocess
from htr.recognition import Alternative, Recognition

ImageLike = np.ndarray | str | Path | bytes

# Widths are padded up to a multiple of this, so the compiled graph is reused.
_WIDTH_QUANTUM = 64


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def pad_batch(images: Sequence[np.ndarray], quantum: int = _WIDTH_QUANTUM) -> np.ndarray:
    """Stack (H, W) ink maps into (N, H, W_max, 1), padding with empty paper on the right."""
    width = max(im.shape[1] for im in images)
    width = int(math.ceil(width / quantum) * quantum)
    batch = np.zeros((len(images), images[0].shape[0], width, 1), np.float32)
    for i, im in enumerate(images):
        batch[i, :, : im.shape[1], 0] = im
    return batch


def confidence_from_score(score: float, length: int) -> float:
    """Geometric-mean probability per emitted character (plus one for the line end)."""
    return float(math.exp(score / (length + 1)))


class Recognizer:
    """A trained model with its configuration and language model; thread-compatible for inference.

    ``lm`` is the model folder's language model, loaded once (None if it has none or it
    could not be loaded: ``lm_error`` says why, and the ``lm`` decoder falls back to beam search).
    """

    def __init__(self, model, config: ModelConfig, model_dir: Path | None = None, lm=None,
                 lm_error: str | None = None):
        self.model = model
        self.config = config
        self.model_dir = model_dir
        self.lm = lm
        self.lm_error = lm_error

    @classmethod
    def load(cls, model_dir: str | Path = "model") -> "Recognizer":
        from htr.model import build_model

        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise ModelLoadError(f"model folder not found: {model_dir}")
        config = ModelConfig.load(model_dir)
        weights = model_dir / WEIGHTS_FILE
        if not weights.is_file():
            raise ModelLoadError(f"{model_dir} has no {WEIGHTS_FILE}: train a model or copy one in")
        model = build_model(config)
        try:
            model.load_weights(weights)
        except Exception as exc:  # h5py/Keras raise many kinds for truncated or foreign files
            raise ModelLoadError(f"{weights} is corrupt or does not match {model_dir / 'config.json'}: {exc}") from exc
        from htr.lm import load_for_model

        lm, lm_error = load_for_model(model_dir, config)
        recognizer = cls(model, config, model_dir, lm, lm_error)
        recognizer.warm_up()
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
        """Compile the inference graph now rather than on the first user's request."""
        from htr.model import model_inputs

        width = _WIDTH_QUANTUM * 4
        self.model.predict_on_batch(model_inputs(np.zeros((1, self.config.height, width, 1), np.float32), [width], self.config.time_stride))

    def prepare(self, image: ImageLike) -> np.ndarray:
        """Any image (array, file path, encoded bytes, PIL image) -> the ink map the network reads."""
        from htr.imageio import read_image

        return preprocess(read_image(image), self.config.height, self.config.max_width)

    def probabilities(self, prepared: Sequence[np.ndarray]) -> list[np.ndarray]:
        """T x C softmax for each prepared line, trimmed to the line's own width."""
        if not prepared:
            return []
        from htr.model import model_inputs

        stride = self.config.time_stride
        inputs = model_inputs(pad_batch(prepared), [im.shape[1] for im in prepared], stride)
        logits = np.asarray(self.model.predict_on_batch(inputs))
        return [softmax(logits[i, : max(1, math.ceil(im.shape[1] / stride))]) for i, im in enumerate(prepared)]

    def recognize(self, image: ImageLike, decoder: str = "best", beam_width: int = 16, top_k: int = 5,
                  correct: bool = False) -> Recognition:
        return self.recognize_batch([image], decoder, beam_width, top_k, correct)[0]

    def recognize_strokes(self, strokes, decoder: str = "best", beam_width: int = 16, top_k: int = 5,
                          correct: bool = False) -> Recognition:
        """Read pen strokes (arrays of x, y[, t] points, y down; any scale), rendered as in training."""
        from htr.ink import render_ink

        return self.recognize(render_ink(strokes), decoder, beam_width, top_k, correct)

    def recognize_batch(self, images: Iterable[ImageLike], decoder: str = "best", beam_width: int = 16,
                        top_k: int = 5, correct: bool = False, batch_size: int = 16) -> list[Recognition]:
        """Recognise many lines; errors in preparing any image raise before the model runs."""
        decoder = self.resolve_decoder(decoder)
        prepared = [self.prepare(image) for image in images]
        results = []
        for start in range(0, len(prepared), batch_size):
            chunk = prepared[start : start + batch_size]
            for image, probs in zip(chunk, self.probabilities(chunk)):
                results.append(self._result(image, probs, decoder, beam_width, top_k, correct))
        return results

    def _result(self, image, probs, decoder, beam_width, top_k, correct) -> Recognition:
        decoded = decode(probs, decoder, beam_width, top_k, lm=self.lm)
        paths = decoded.paths
        alternatives = [Alternative(self.config.decode(labels), score, decoded.log_prob(k))
                        for k, (labels, score) in enumerate(paths)]
        best_labels = paths[0][0]
        text = alternatives[0].text
        corrected = None
        if correct:
            from htr.spelling import correct as spell

            corrected = spell(text)
        return Recognition(
            text=text,
            confidence=confidence_from_score(decoded.log_prob(0), len(best_labels)),
            alternatives=alternatives[:top_k],
            probabilities=probs,
            charset=self.config.charset,
            image=image,
            time_stride=self.config.time_stride,
            decoder=decoder,
            corrected=corrected,
        )
