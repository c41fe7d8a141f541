"""Training settings, declared once: the ``train`` command's flags, settings files and the dashboard's form.

Each field of :class:`TrainSettings` carries its help text, choices, range and form hints in its
``metadata``; the command line (:func:`add_arguments`), the JSON settings files
(:func:`load_settings_file`, :func:`write_settings_file`) and the dashboard's Train form
(:func:`form_rows`) are all generated from them, so a new setting is one field here.

Metadata keys (all optional):

``help``, ``metavar``, ``choices``
    as argparse takes them; ``choices`` also makes a select box in the form.
``flag``
    the option's name when it is not ``--`` + the field name with dashes (``--source``).
``cli``
    False keeps a field off the generated flags (``command``; ``architecture``, whose two
    flags ``--lstm-units`` and ``--conv-filters`` are written by hand and shared with ``widen``).
``parse``
    turns one flag value (a list field's: each one) into the stored value.
``low``, ``high``, ``high_open``, ``error``
    the valid range (``high_open``: the high end itself is out) and the message when a value is
    outside it (formatted with ``value``).
``form``
    the dashboard's widget: ``label``, ``key`` (``train_<key>``), ``low``/``high``/``step``/``format``
    (default: the valid range), ``default`` (default: the field's), ``placeholder``, ``width``.

This module imports no machine learning, so a bad setting is refused before TensorFlow loads.
"""

import argparse
import json
import os
import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from htr.datasets import DATASETS
from htr.errors import DataError

SCHEDULES = ("plateau", "cosine")
LOOKS = ("canvas", "paper", "mixed")  # htr.train.augment.TRAIN_LOOKS
SOURCE_KEYS = ("dataset", "data", "train", "val", "share", "name", "val_limit")
SETTINGS_FILE = "settings.json"

# What a resumed run may change: its length, budget and bookkeeping. The data, architecture,
# seed and batch shapes' settings otherwise come from the run itself.
RESUME_OVERRIDABLE = ("epochs", "max_minutes", "workers", "patience", "keep_checkpoints", "width_quantum")


class SettingsError(DataError):
    """A settings file or value that cannot be used: unreadable, an unknown key, a wrong type or range."""


@dataclass
class Source:
    """One data set in a run: its splits, its share of every epoch and its name in the history."""

    dataset: str
    data: str
    train: str = "train"
    val: str = "validation"
    share: float = 1.0
    name: str = ""
    val_limit: int | None = None

    def __post_init__(self):
        self.name = self.name or self.dataset
        self.share = float(self.share)
        if not self.share > 0:
            raise DataError(f"source {self.name}: share must be positive, got {self.share}")
        if self.val_limit is not None:
            self.val_limit = int(self.val_limit)

    @classmethod
    def parse(cls, text: str) -> "Source":
        """``dataset=iam,data=PATH,train=SPLIT,val=SPLIT,share=0.5,name=real,val_limit=N``."""
        fields_ = {}
        for part in text.split(","):
            key, sep, value = part.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or key not in SOURCE_KEYS:
                raise DataError(f"bad --source {text!r}: expected key=value pairs with keys {', '.join(SOURCE_KEYS)}")
            fields_[key] = value.strip()
        if "dataset" not in fields_ or "data" not in fields_:
            raise DataError(f"bad --source {text!r}: dataset= and data= are required")
        return cls(**fields_)


def _source(value) -> dict:
    """A source as a settings file stores it: a dict of :class:`Source` fields (``--source`` text accepted)."""
    if isinstance(value, Source):
        return asdict(value)
    if isinstance(value, str):
        return asdict(Source.parse(value))
    if isinstance(value, dict):
        unknown = set(value) - set(SOURCE_KEYS)
        if unknown or "dataset" not in value or "data" not in value:
            raise SettingsError(f"a source needs dataset and data, and only the keys {', '.join(SOURCE_KEYS)}; "
                                f"got {sorted(value)}")
        return asdict(Source(**value))
    raise SettingsError(f"a source is a dict of {', '.join(SOURCE_KEYS)} or a --source text, not {value!r}")


@dataclass
class TrainSettings:
    """Everything a training run is made from; a run folder keeps it as ``settings.json``."""

    dataset: str = field(default="iam-ondb", metadata={
        "help": "data set format (default: iam-ondb)", "choices": DATASETS,
        "form": {"label": "Data set", "width": 1}})
    data: str = field(default="", metadata={
        "help": "data set folder (or give --source, once per data set)",
        "form": {"label": "Data path", "key": "path", "width": 2,
                 "placeholder": "your folder with labels.tsv (empty for an IAM data set: its folder in HTR_DATA)"}})
    model_dir: str = field(default="", metadata={
        "help": "run folder: best model, history, checkpoints (required, here or in --settings)"})
    epochs: int = field(default=60, metadata={
        "help": "epochs in all (default 60; on --resume, the run's own)", "low": 1,
        "form": {"label": "Epochs", "high": 1000, "default": 10}})
    batch_size: int = field(default=32, metadata={
        "help": "lines per batch (default 32)", "low": 1,
        "form": {"label": "Batch size", "key": "batch", "high": 512}})
    height: int = field(default=64, metadata={"help": "input height in pixels (default 64)"})
    learning_rate: float = field(default=1e-3, metadata={
        "help": "the starting learning rate (default 1e-3)", "low": 0.0, "low_open": True,
        "error": "the learning rate must be above 0, got {value}",
        "form": {"label": "Learning rate", "key": "lr", "low": 1e-6, "high": 1.0, "step": 1e-4, "format": "%.1e",
                 "help": "1e-3 from scratch; lower (e.g. 3e-4) to fine-tune"}})
    patience: int = field(default=10, metadata={
        "help": "early stop after this many epochs without better CER (default 10; on --resume, the run's own)",
        "form": {"label": "Early stop after (epochs)", "low": 1, "high": 1000}})
    seed: int = field(default=42, metadata={"help": "random seed of weights, augmentation and order (default 42)"})
    look: str = field(default="mixed", metadata={
        "help": "rendering of stroke data (default mixed)", "choices": LOOKS,
        "form": {"label": "Look (pen data)", "width": 1}})
    train_split: str = field(default="train", metadata={"help": "training split name or file (default train)"})
    val_split: str = field(default="validation", metadata={
        "help": "validation split name or file (default validation)"})
    limit: int | None = field(default=None, metadata={
        "help": "use only the first N training lines", "metavar": "N",
        "form": {"label": "Training lines (empty: all)", "high": 1_000_000}})
    val_limit: int | None = field(default=None, metadata={
        "help": "use only the first N validation lines", "metavar": "N",
        "form": {"label": "Validation lines (empty: all)", "high": 1_000_000}})
    max_minutes: float | None = field(default=None, metadata={
        "help": "the run's training-time budget: stop after the epoch that passes it (counted across resumes)",
        "metavar": "MINUTES"})
    workers: int = field(default_factory=lambda: os.cpu_count() or 2, metadata={
        "help": "processes rendering training images (default: one per core; on --resume, the run's own)"})
    command: str = field(default="", metadata={"cli": False, "help": "the command line that started the run"})
    # Architecture overrides for ModelConfig (e.g. {"lstm_units": 64}); empty = defaults.
    architecture: dict = field(default_factory=dict, metadata={
        "cli": False, "help": "ModelConfig overrides, e.g. {\"lstm_units\": 64} (--lstm-units, --conv-filters)"})
    init_from: str | None = field(default=None, metadata={
        "help": "fine-tune: start from this model folder's weights and architecture", "metavar": "MODEL_DIR",
        "form": {"label": "Fine-tune from a model folder (empty: train from scratch)", "key": "init",
                 "placeholder": "e.g. model/", "width": 2}})
    schedule: str = field(default="plateau", metadata={
        "help": "learning rate: halve on stalls (default), or cosine-anneal over --epochs/--max-minutes",
        "choices": SCHEDULES,
        "form": {"label": "Schedule", "help": "plateau: halve the rate when validation stalls; cosine: anneal it "
                                              "to 1 % over the epochs"}})
    keep_checkpoints: int = field(default=5, metadata={
        "help": "keep the newest N epochs' checkpoints, for resuming and averaging "
                "(default 5; on --resume, the run's own)", "metavar": "N"})
    sources: list = field(default_factory=list, metadata={
        "flag": "--source", "parse": _source, "metavar": "KEY=VALUE,...",
        "help": "a data set to train on, repeatable: dataset=iam,data=PATH[,train=SPLIT][,val=SPLIT]"
                "[,share=X][,name=NAME][,val_limit=N]. Each source gives share/sum(shares) of every "
                "epoch and is validated on its own; the best model has the lowest mean of their CERs"})
    epoch_lines: int | None = field(default=None, metadata={
        "help": "training lines per epoch when mixing sources (default: all lines of all sources)",
        "metavar": "N"})
    # Each width is one compiled step: a coarse quantum compiles fewer (XLA on a GPU, where padding
    # is cheap), a fine one wastes less work on padding (a CPU, where TensorFlow traces a width quickly).
    width_quantum: int = field(default=256, metadata={
        "help": "pad batch widths to a multiple of this (default 256; on --resume, the run's own): larger "
                "compiles fewer shapes (XLA on a GPU), smaller wastes less work on padding (a CPU)",
        "metavar": "PIXELS", "low": 1,
        "error": "width quantum must be a positive number of pixels, got {value}"})
    # It has no weights, so a fine-tuned model can train with less (or more) of it than it started with.
    dropout: float | None = field(default=None, metadata={
        "help": "dropout after the projection and each LSTM layer (default: the --init-from model's own, "
                "else 0.25); it has no weights, so it may change when fine-tuning",
        "metavar": "RATE", "low": 0.0, "high": 1.0, "high_open": True,
        "error": "dropout must be at least 0 and below 1, got {value}",
        "form": {"label": "Dropout (empty: the model's own)", "high": 0.95, "step": 0.05}})
    freeze_convolutions: bool = field(default=False, metadata={
        "help": "with --init-from: keep its convolutions (and their batch-norm statistics) as they are "
                "and train the rest: faster, and what the convolutions read stays as it was",
        "form": {"label": "Freeze the convolutions (fine-tuning only)", "key": "freeze", "width": 2}})
    # ModelConfig.deslant: saved with the model, so reading does the same.
    deslant: float | None = field(default=None, metadata={
        "help": "share of each line's slant taken out before the network sees it, 0 to 1 (1: every line "
                "set upright; default: the --init-from model's own, else 0); saved with the model, "
                "so reading does the same", "metavar": "SHARE", "low": 0.0, "high": 1.0,
        "error": "deslant is the share of the slant taken out, from 0 to 1, got {value}",
        "form": {"label": "Deslant (empty: the model's own)", "step": 0.25}})

    def source_list(self) -> list[Source]:
        if self.sources:
            return [s if isinstance(s, Source) else Source(**s) for s in self.sources]
        return [Source(self.dataset, self.data, self.train_split, self.val_split)]

    def check(self, resume: bool = False) -> None:
        """Refuse values outside their field's range (and combinations that cannot work) before any work."""
        for f in fields(self):
            _check_value(f, getattr(self, f.name))
        if self.freeze_convolutions and not self.init_from and not resume:
            raise DataError("--freeze-convolutions keeps a trained model's convolutions: give --init-from")


# The dashboard's Train form: its rows of fields, in order. A field named here gets its widget
# from its type and metadata (the second data set and the output folder are drawn by the page).
FORM_ROWS: tuple[tuple[str, ...], ...] = (
    ("dataset", "data", "look"),
    ("epochs", "patience", "batch_size", "limit", "val_limit"),
    ("init_from", "learning_rate", "schedule"),
    ("freeze_convolutions", "dropout", "deslant"),
)


# --- types and ranges ---------------------------------------------------------------------


def _hints(cls: type) -> dict:
    return typing.get_type_hints(cls)


def _base_type(hint) -> tuple[type, bool]:
    """(the value type, whether None is allowed) of ``int | None`` and the like."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], True
    origin = typing.get_origin(hint)
    return (origin or hint), False


def _type_name(kind: type, optional: bool) -> str:
    name = {int: "a whole number", float: "a number", str: "a text", bool: "true or false",
            list: "a list", dict: "an object"}.get(kind, kind.__name__)
    return name + (" or null" if optional else "")


def _coerce(f, hint, value):
    """A settings-file value as the field's type, or a :class:`SettingsError` that says what was expected."""
    kind, optional = _base_type(hint)
    if value is None and optional:
        return None
    ok = {int: isinstance(value, int) and not isinstance(value, bool),
          float: isinstance(value, (int, float)) and not isinstance(value, bool),
          bool: isinstance(value, bool), str: isinstance(value, str),
          list: isinstance(value, list), dict: isinstance(value, dict)}.get(kind, True)
    if not ok:
        raise SettingsError(f"{f.name} must be {_type_name(kind, optional)}, got {json.dumps(value)}")
    if kind is float:
        value = float(value)
    parse = f.metadata.get("parse")
    if kind is list and parse:
        value = [parse(item) for item in value]
    return value


def _check_value(f, value) -> None:
    """A value outside its field's choices or range is refused with the field's own message."""
    meta = f.metadata
    choices = meta.get("choices")
    if choices and value not in choices:
        raise SettingsError(f"unknown {f.name.replace('_', ' ')} {value!r}; expected one of {', '.join(choices)}")
    if value is None or isinstance(value, (bool, str, list, dict)) or ("low" not in meta and "high" not in meta):
        return
    low, high = meta.get("low"), meta.get("high")
    bad = (low is not None and (value <= low if meta.get("low_open") else value < low)) or \
          (high is not None and (value >= high if meta.get("high_open") else value > high))
    if bad:
        if "error" in meta:
            raise SettingsError(meta["error"].format(value=value))
        where = " and ".join(filter(None, [
            low is not None and (f"above {low:g}" if meta.get("low_open") else f"at least {low:g}"),
            high is not None and (f"below {high:g}" if meta.get("high_open") else f"at most {high:g}")]))
        raise SettingsError(f"{f.name} must be {where}, got {value}")


def settings_from_dict(values: dict, cls: type | None = None) -> "TrainSettings":
    """Settings from a dict of field values, each checked for its type; unknown keys refused."""
    cls = cls or TrainSettings
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise SettingsError(f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                            f"the settings are {', '.join(known)}")
    hints = _hints(cls)
    checked = {name: _coerce(known[name], hints[name], value) for name, value in values.items()}
    for name, value in checked.items():
        _check_value(known[name], value)
    return cls(**checked)


# --- settings files -----------------------------------------------------------------------


def read_settings_file(path: str | Path, cls: type | None = None) -> dict:
    """The checked field values of a JSON settings file (only the keys it names)."""
    cls = cls or TrainSettings
    path = Path(path)
    try:
        values = json.loads(path.read_text())
    except OSError as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise SettingsError(f"settings file {path} is not valid JSON: {exc}") from None
    if not isinstance(values, dict):
        raise SettingsError(f"settings file {path} must hold one JSON object of settings, not {type(values).__name__}")
    try:
        checked = settings_from_dict(values, cls)
    except DataError as exc:
        raise SettingsError(f"settings file {path}: {exc}") from None
    return {name: getattr(checked, name) for name in values}


def load_settings_file(path: str | Path, cls: type | None = None) -> "TrainSettings":
    """A settings file as settings: the fields it leaves out take their defaults."""
    cls = cls or TrainSettings
    return cls(**read_settings_file(path, cls))


def settings_json(settings) -> str:
    """The settings file's text: every field, in declaration order."""
    return json.dumps(asdict(settings), indent=2) + "\n"


def write_settings_file(settings, path: str | Path) -> Path:
    """Write ``settings`` as JSON atomically (a reader never sees half a file)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(settings_json(settings))
    os.replace(tmp, path)
    return path


# --- the command line ---------------------------------------------------------------------


def flag_of(f) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def cli_fields(cls: type | None = None) -> list:
    return [f for f in fields(cls or TrainSettings) if f.metadata.get("cli", True)]


def add_arguments(parser: argparse.ArgumentParser, cls: type | None = None) -> None:
    """One option per field: typed, with its help and choices; bools are switches, lists repeat.

    Options not given stay out of the namespace (``argparse.SUPPRESS``), so a settings file's
    values and the run's own (on ``--resume``) are overridden only by what the command line names.
    """
    hints = _hints(cls or TrainSettings)
    for f in cli_fields(cls):
        kind, _ = _base_type(hints[f.name])
        options = {"dest": f.name, "default": argparse.SUPPRESS, "help": f.metadata.get("help")}
        if kind is bool:
            options["action"] = "store_true"
        else:
            if kind is list:
                options["action"] = "append"
            elif kind in (int, float):
                options["type"] = kind
            if "choices" in f.metadata:
                options["choices"] = f.metadata["choices"]
            if "metavar" in f.metadata:
                options["metavar"] = f.metadata["metavar"]
        parser.add_argument(flag_of(f), **options)


def given_values(args: argparse.Namespace, cls: type | None = None) -> dict:
    """The settings the command line named, parsed as the settings file stores them."""
    values = {}
    for f in cli_fields(cls):
        if hasattr(args, f.name):
            value = getattr(args, f.name)
            parse = f.metadata.get("parse")
            if parse and isinstance(value, list):
                value = [parse(item) for item in value]
            values[f.name] = value
    return values


def to_arguments(settings, cls: type | None = None) -> list[str]:
    """The flags that give ``settings`` (defaults left out): a settings file as a command line."""
    cls = cls or type(settings)
    defaults = {f.name: (f.default if f.default is not MISSING else f.default_factory()) for f in fields(cls)
                if f.default is not MISSING or f.default_factory is not MISSING}
    hints = _hints(cls)
    args: list[str] = []
    for f in cli_fields(cls):
        value = getattr(settings, f.name)
        if f.name in defaults and value == defaults[f.name]:
            continue
        kind, _ = _base_type(hints[f.name])
        if kind is bool:
            args += [flag_of(f)] if value else []
        elif kind is list:
            for item in value:
                text = ",".join(f"{k}={v}" for k, v in item.items() if v is not None) if isinstance(item, dict) else item
                args += [flag_of(f), str(text)]
        elif value is not None:
            args += [flag_of(f), f"{value:g}" if isinstance(value, float) else str(value)]
    return args


# --- the dashboard's form -----------------------------------------------------------------


@dataclass
class FormField:
    """One widget of the Train form, as the page draws it."""

    name: str
    key: str
    label: str
    kind: str  # "choice", "bool", "int", "float" or "text"
    default: object
    help: str = ""
    choices: tuple = ()
    optional: bool = False
    low: float | None = None
    high: float | None = None
    step: float | None = None
    format: str | None = None
    placeholder: str | None = None
    width: int = 1


def form_field(name: str, cls: type | None = None) -> FormField:
    """The widget of one setting, from its type and metadata."""
    cls = cls or TrainSettings
    f = {f.name: f for f in fields(cls)}[name]
    meta, form = f.metadata, f.metadata.get("form", {})
    kind, optional = _base_type(_hints(cls)[name])
    default = form.get("default", f.default if f.default is not MISSING else
                       f.default_factory() if f.default_factory is not MISSING else None)
    widget = ("choice" if "choices" in meta else {bool: "bool", int: "int", float: "float"}.get(kind, "text"))
    low, high = form.get("low", meta.get("low")), form.get("high", meta.get("high"))
    if widget == "int":
        low, high = (None if low is None else int(low)), (None if high is None else int(high))
    elif widget == "float":
        low, high = (None if low is None else float(low)), (None if high is None else float(high))
    help_text = form.get("help", meta.get("help", ""))
    return FormField(name=name, key="train_" + form.get("key", name), label=form.get("label", name.replace("_", " ").capitalize()),
                     kind=widget, default=default, help=f"{help_text} ({flag_of(f)})" if help_text else "",
                     choices=tuple(meta.get("choices", ())), optional=optional, low=low, high=high,
                     step=form.get("step", 1 if widget == "int" else None), format=form.get("format"),
                     placeholder=form.get("placeholder"), width=form.get("width", 1))


def form_rows(rows: tuple[tuple[str, ...], ...] = FORM_ROWS, cls: type | None = None) -> list[list[FormField]]:
    """The Train form's widgets, row by row."""
    return [[form_field(name, cls) for name in row] for row in rows]


def form_value(widget: FormField, value):
    """A widget's value as the setting takes it (an empty optional field: None)."""
    if value is None or (widget.kind == "text" and not str(value).strip()):
        return None if widget.optional else ("" if widget.kind == "text" else value)
    return {"int": int, "float": float, "bool": bool}.get(widget.kind, lambda v: str(v).strip())(value)


__all__ = ["FORM_ROWS", "LOOKS", "RESUME_OVERRIDABLE", "SCHEDULES", "SETTINGS_FILE", "FormField",
           "SettingsError", "Source", "TrainSettings", "add_arguments", "form_rows", "form_value",
           "given_values", "load_settings_file", "read_settings_file", "settings_from_dict", "settings_json",
           "to_arguments", "write_settings_file"]
