"""Everything needed to rebuild a model and feed it: saved beside the weights."""

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from htr.errors import ModelLoadError

# IAM's 79 characters: space, punctuation, digits, upper and lower case letters.
IAM_CHARSET = " !\"#&'()*+,-./0123456789:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"


def labels_to_text(labels, charset: str) -> str:
    """The characters of a label sequence: 1-based into ``charset`` (0, the blank, and any label
    outside it are dropped)."""
    return "".join(charset[i - 1] for i in labels if 0 < i <= len(charset))


@dataclass
class ModelConfig:
    """Architecture, charset and preprocessing of one model.

    Class 0 of the network output is the CTC blank; class ``i + 1`` is ``charset[i]``.
    """

    charset: str = IAM_CHARSET
    height: int = 64
    max_width: int = 2048
    conv_filters: tuple[int, ...] = (32, 64, 96, 128, 160)
    # (height, width) max-pooling after each convolution; width pools multiply to time_stride.
    pools: tuple[tuple[int, int], ...] = ((2, 2), (2, 2), (2, 1), (2, 1), (1, 1))
    lstm_units: int = 160
    lstm_layers: int = 2
    dropout: float = 0.25
    training: dict = field(default_factory=dict)
    # Language-model decoding settings (htr.lm.decoder.LMSettings as a dict): the LM file, relative to
    # the model folder, and its tuned weight and bonuses. Empty: the defaults, with the LM at
    # lm/chars.arpa.gz if the folder has one.
    lm: dict = field(default_factory=dict)
    # Dense writing is read a second time, stretched wider (htr.second_reading): a line whose first
    # reading gives under ``dense_px_per_char`` pixels of width per character (at ``height``) is
    # stretched towards that pitch, at most ``max_stretch`` times, and read again. 0: off.
    dense_px_per_char: float = 0.0
    max_stretch: float = 1.45
    # A line whose ink reaches more than ``clip_bodies`` heights of its body (x-height zone)
    # above or below it is also read cut to that band and scaled up; the more confident
    # reading is kept (htr.second_reading). 0: off.
    clip_bodies: float = 0.0
    # The share of a line's slant taken out before the network reads it (htr.slant), in
    # training and in reading alike: 1.0 sets every line upright, 0: lines as written.
    deslant: float = 0.0

    @property
    def time_stride(self) -> int:
        """Pixels of input width per output timestep."""
        stride = 1
        for _, pool_w in self.pools:
            stride *= pool_w
        return stride

    @property
    def feature_height(self) -> int:
        """Rows left after the convolutions' pooling: each timestep's features are these rows
        of the last layer's filters."""
        height = self.height
        for pool_h, _ in self.pools:
            height //= pool_h
        return height

    @property
    def num_classes(self) -> int:
        return len(self.charset) + 1

    def encode(self, text: str) -> list[int]:
        index = {c: i + 1 for i, c in enumerate(self.charset)}
        return [index[c] for c in text]

    def unknown_characters(self, text: str) -> set[str]:
        return set(text) - set(self.charset)

    def decode(self, labels) -> str:
        return labels_to_text(labels, self.charset)

    def save(self, model_dir: Path) -> None:
        data = asdict(self)
        data["conv_filters"] = list(self.conv_filters)
        data["pools"] = [list(p) for p in self.pools]
        path = Path(model_dir) / CONFIG_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False))
        tmp.replace(path)

    @classmethod
    def load(cls, model_dir: Path) -> "ModelConfig":
        path = Path(model_dir) / CONFIG_FILE
        if not path.is_file():
            raise ModelLoadError(f"{model_dir} is not a model folder: {CONFIG_FILE} is missing")
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{path} is not valid JSON: {exc}") from exc
        known = {f.name for f in fields(cls)}
        if not isinstance(data, dict) or "charset" not in data:
            raise ModelLoadError(f"{path} does not describe a model (no charset)")
        data = {k: v for k, v in data.items() if k in known}
        if "conv_filters" in data:
            data["conv_filters"] = tuple(data["conv_filters"])
        if "pools" in data:
            data["pools"] = tuple(tuple(p) for p in data["pools"])
        return cls(**data)
