"""Training settings are declared once: the command line, settings files and the dashboard's form follow them."""

import argparse
import json
import re
import subprocess
import sys
from dataclasses import asdict, dataclass, field

import pytest
from conftest import ROOT

from htr.cli import build_parser, train_settings
from htr.train.settings import (
    SettingsError,
    TrainSettings,
    add_arguments,
    form_rows,
    form_value,
    given_values,
    load_settings_file,
    read_settings_file,
    settings_from_dict,
    to_arguments,
    write_settings_file,
)

# Every flag the train command had before its flags were generated; scripts use them.
FLAGS = ("--dataset", "--data", "--source", "--epoch-lines", "--model-dir", "--epochs", "--batch-size", "--height",
         "--learning-rate", "--patience", "--seed", "--look", "--train-split", "--val-split", "--limit",
         "--val-limit", "--max-minutes", "--workers", "--resume", "--init-from", "--keep-checkpoints",
         "--width-quantum", "--schedule", "--lstm-units", "--dropout", "--deslant", "--freeze-convolutions",
         "--conv-filters", "--distribute", "--coordinator", "--num-processes", "--process-id")


@dataclass
class WithWarmup(TrainSettings):
    """A copy of the settings with one more field, as a new option would be added."""

    warmup_epochs: int = field(default=0, metadata={
        "help": "epochs over which the rate rises to --learning-rate", "metavar": "N", "low": 0,
        "form": {"label": "Warm-up epochs", "high": 50}})


def parse(argv: list[str]):
    return build_parser().parse_args(["train", *argv])


def test_a_new_field_is_a_flag_a_settings_key_and_a_form_field(tmp_path):
    parser = argparse.ArgumentParser()
    add_arguments(parser, WithWarmup)
    assert "--warmup-epochs N" in parser.format_help() and "rises to --learning-rate" in parser.format_help()
    given = given_values(parser.parse_args(["--warmup-epochs", "3", "--data", "d"]), WithWarmup)
    assert given == {"warmup_epochs": 3, "data": "d"}
    with pytest.raises(SystemExit):
        parser.parse_args(["--warmup-epochs", "three"])

    path = write_settings_file(WithWarmup(data="d", model_dir="m", warmup_epochs=3), tmp_path / "s.json")
    assert json.loads(path.read_text())["warmup_epochs"] == 3
    assert load_settings_file(path, WithWarmup).warmup_epochs == 3
    assert to_arguments(WithWarmup(warmup_epochs=3), WithWarmup)[-2:] == ["--warmup-epochs", "3"]
    with pytest.raises(SettingsError, match="warmup_epochs must be at least 0"):
        settings_from_dict({"warmup_epochs": -1}, WithWarmup)
    with pytest.raises(SettingsError, match="unknown setting 'warmup_epochs'"):
        settings_from_dict({"warmup_epochs": 3})  # the shipped settings do not have it

    [[widget]] = form_rows((("warmup_epochs",),), WithWarmup)
    assert (widget.kind, widget.label, widget.key, widget.default, widget.low, widget.high) == \
        ("int", "Warm-up epochs", "train_warmup_epochs", 0, 0, 50)
    assert "--warmup-epochs" in widget.help


def test_every_flag_of_the_train_command_is_still_there():
    text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    for flag in (*FLAGS, "--settings"):
        assert f"{flag} " in text or f"{flag}\n" in text, flag
    args = parse(["--source", "dataset=iam,data=x", "--source", "dataset=folder,data=y,share=2", "--model-dir", "m",
                  "--freeze-convolutions", "--init-from", "model", "--lstm-units", "32", "--conv-filters", "8,8,8,8,8"])
    settings, overrides = train_settings(args)
    assert [s["dataset"] for s in settings.sources] == ["iam", "folder"] and settings.sources[1]["share"] == 2.0
    assert settings.freeze_convolutions and settings.architecture == {"lstm_units": 32, "conv_filters": [8] * 5}
    assert overrides == ()  # a resume keeps the run's own length and bookkeeping


def test_settings_file_round_trip_and_the_command_line_overrides_it(tmp_path):
    original = TrainSettings(dataset="folder", data=str(tmp_path), model_dir=str(tmp_path / "run"), epochs=7,
                             learning_rate=3e-4, schedule="cosine", deslant=0.75, sources=[], limit=12,
                             architecture={"lstm_units": 64}, workers=2)
    path = write_settings_file(original, tmp_path / "settings.json")
    settings, overrides = train_settings(parse(["--settings", str(path)]))
    assert {**asdict(settings), "command": ""} == asdict(original)
    assert set(overrides) == {"epochs", "max_minutes", "workers", "patience", "keep_checkpoints", "width_quantum"}

    settings, overrides = train_settings(parse(["--settings", str(path), "--epochs", "2", "--deslant", "0.5",
                                                "--model-dir", str(tmp_path / "other"), "--lstm-units", "32"]))
    assert (settings.epochs, settings.deslant, settings.model_dir) == (2, 0.5, str(tmp_path / "other"))
    assert settings.learning_rate == 3e-4 and settings.architecture == {"lstm_units": 32}
    # A file naming only some settings: the rest take their defaults; a resume keeps the run's own.
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"data": "d", "model_dir": "m", "epochs": 3}))
    settings, overrides = train_settings(parse(["--settings", str(partial), "--resume"]))
    assert (settings.epochs, settings.batch_size, overrides) == (3, 32, ("epochs",))
    assert read_settings_file(partial) == {"data": "d", "model_dir": "m", "epochs": 3}


@pytest.mark.parametrize(("content", "message"), [
    ('{"epochs": 3, "batch": 8}', "unknown setting 'batch'"),
    ('{"epochs": "3"}', "epochs must be a whole number, got \"3\""),
    ('{"deslant": 2}', "deslant is the share of the slant taken out, from 0 to 1, got 2"),
    ('{"sources": [{"dataset": "iam"}]}', "a source needs dataset and data"),
    ('{"epochs": 3,', "is not valid JSON"),
    ("[1, 2]", "must hold one JSON object"),
])
def test_a_bad_settings_file_is_a_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    done = subprocess.run([sys.executable, "-m", "htr", "train", "--settings", str(path), "--data", str(tmp_path),
                           "--model-dir", str(tmp_path / "run")], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and str(path) in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()


def test_a_missing_settings_file_or_run_folder_is_a_clear_error(tmp_path):
    from htr.cli import main

    assert main(["train", "--settings", str(tmp_path / "none.json")]) == 2
    assert main(["train", "--data", str(tmp_path)]) == 2  # no --model-dir, in a file or on the command line
    assert main(["train", "--data", str(tmp_path), "--model-dir", str(tmp_path / "r"), "--epochs", "0"]) == 2


def test_the_form_follows_the_settings():
    rows = form_rows()
    widgets = {w.name: w for row in rows for w in row}
    assert widgets["schedule"].kind == "choice" and widgets["schedule"].choices == ("plateau", "cosine")
    assert widgets["freeze_convolutions"].kind == "bool" and widgets["freeze_convolutions"].key == "train_freeze"
    assert widgets["dropout"].optional and (widgets["dropout"].low, widgets["dropout"].high) == (0.0, 0.95)
    assert widgets["epochs"].default == 10 and widgets["batch_size"].key == "train_batch"
    values = {name: form_value(w, w.default) for name, w in widgets.items()}
    assert values["init_from"] is None and values["limit"] is None and values["deslant"] is None
    settings = settings_from_dict({**values, "data": "d", "model_dir": "m"})
    assert settings.epochs == 10 and settings.schedule == "plateau"


def test_the_shipped_models_recipe_is_settings_files_in_order():
    recipe = ROOT / "model" / "recipe"
    script = (recipe / "commands.sh").read_text()
    files = sorted(recipe.glob("*.json"))
    assert len(files) == 10
    named = re.findall(r"\$\(settings ([\w.-]+)\)", script)
    assert sorted(set(named)) == [f.name for f in files]  # each file run, in step order
    assert named == sorted(named)
    for path in files:
        settings = load_settings_file(path)
        settings.check()
        for source in settings.source_list():
            assert source.data.startswith("../shared/data/"), path
    shipped = json.loads((ROOT / "model" / "config.json").read_text())["training"]
    last = load_settings_file(recipe / "20-upright-0.75.json")
    for key in ("init_from", "deslant", "seed", "learning_rate", "epoch_lines", "dropout", "sources", "max_minutes"):
        assert getattr(last, key) == shipped[key], key
    assert "python -m htr average --run runs/upright2 --last 5 --model-dir model" in script


def test_the_benchmarks_validation_sets_default_to_the_data_folder_named_once(tmp_path, monkeypatch):
    """Each benchmark that reads the model card's validation sets takes its folders from
    htr.paths, so HTR_DATA moves all of them."""
    from htr.train.evaluate import add_validation_set_options

    monkeypatch.setenv("HTR_DATA", str(tmp_path))
    parser = argparse.ArgumentParser()
    add_validation_set_options(parser)
    args = parser.parse_args([])
    assert (args.iam_ondb, args.iam) == (str(tmp_path / "iam-ondb"), str(tmp_path / "iam"))
    assert args.iam_split == str(tmp_path / "iam" / "splits" / "available-dev.txt")
    assert args.limit is None and parser.parse_args(["--limit", "7"]).limit == 7
    for script in ("confidence", "decoders", "deslant", "second_readings"):
        source = (ROOT / "benchmarks" / f"{script}.py").read_text()
        assert "add_validation_set_options(parser)" in source and '"--iam-split"' not in source, script
