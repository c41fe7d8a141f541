"""The command line end to end on real files, bad inputs included."""

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import HAVE_ONDB, MODEL_DIR, ONDB, ROOT, write_png


def htr(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "htr", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_help_lists_the_commands():
    result = htr("--help")
    assert result.returncode == 0
    for command in ("train", "validate", "predict"):
        assert command in result.stdout


def test_predict_help_describes_every_option():
    result = htr("predict", "--help")
    assert result.returncode == 0
    from htr.cli import build_parser

    subcommands = next(a for a in build_parser()._actions if a.dest == "command").choices
    for action in subcommands["predict"]._actions:
        assert action.help and action.help.strip(), action.option_strings or action.dest
        for option in action.option_strings:
            assert option in result.stdout


def test_predict_help_names_the_default_decoder():
    from htr.cli import DEFAULT_DECODER

    result = htr("predict", "--help")
    words = " ".join(result.stdout.split())  # argparse wraps the help text
    assert f"(falls back to beam search if the model has none); default: {DEFAULT_DECODER} --" in words


def test_error_messages_name_the_file_once(tmp_path):
    junk = tmp_path / "notes.png"
    junk.write_text("not an image")
    missing = tmp_path / "nowhere.png"
    plain = htr("predict", missing, junk)
    assert plain.returncode == 1
    lines = plain.stderr.strip().splitlines()
    assert lines == [f"{missing}: error: no such file",
                     f"{junk}: error: not a readable image (use PNG, JPEG, WebP, BMP, GIF or TIFF)"]
    as_json = [json.loads(line) for line in htr("predict", missing, "--json").stdout.splitlines()]
    assert as_json == [{"path": str(missing), "error": "no such file"}]


def write_line_folder(root, samples):
    """A plain folder of rendered lines and its labels.tsv, no split lists: a user's own lines."""
    from htr.render import render_strokes

    rows = []
    for i, sample in enumerate(samples):
        name = f"line-{i:02d}.png"
        write_png(root / name, render_strokes(sample.strokes, "canvas", np.random.default_rng(i)))
        rows.append(f"{name}\t{sample.text}")
    (root / "labels.tsv").write_text("\n".join(rows) + "\n")
    return root


def test_validate_scores_every_line_of_a_folder_without_split_lists(tmp_path, ondb_validation):
    folder = write_line_folder(tmp_path / "lines", (ondb_validation.samples * 2)[:20])
    result = htr("validate", "--dataset", "folder", "--data", folder, "--decoder", "best", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    assert summary["lines"] == 20 and summary["split"] == "all" and "no validation.tsv" in summary["note"]
    assert f"note: {folder} has no validation.tsv: scoring all lines of labels.tsv" in result.stderr
    text = htr("validate", "--dataset", "folder", "--data", folder, "--decoder", "best")
    assert "20 lines (all lines of the folder), decoder best" in text.stdout
    # With a validation list, that list is what is scored, as asked.
    (folder / "validation.tsv").write_text("\n".join((folder / "labels.tsv").read_text().splitlines()[:5]) + "\n")
    listed = json.loads(htr("validate", "--dataset", "folder", "--data", folder, "--decoder", "best", "--json").stdout)
    assert listed["lines"] == 5 and listed["split"] == "validation" and "note" not in listed


@pytest.fixture
def line_files(tmp_path, ondb_validation):
    from htr.render import render_strokes

    paths, texts = [], []
    for i, sample in enumerate(ondb_validation.samples[:3]):
        look = "canvas" if i % 2 == 0 else "paper"
        paths.append(write_png(tmp_path / f"line{i}.png", render_strokes(sample.strokes, look, np.random.default_rng(i))))
        texts.append(sample.text)
    return paths, texts


def test_predict_json_contract_with_a_bad_file_among_good_ones(tmp_path, line_files):
    from htr.metrics import error_rates

    paths, texts = line_files
    junk = tmp_path / "notes.txt"
    junk.write_text("not an image")
    blank = write_png(tmp_path / "blank.png", np.full((80, 400), 255, np.uint8))
    result = htr("predict", paths[0], junk, paths[1], blank, paths[2], "--json", "--decoder", "beam", "--top-k", "3",
                 "--correct")
    assert result.returncode == 1  # some files failed; the rest were still recognised
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["path"] for o in objects] == [str(p) for p in (paths[0], junk, paths[1], blank, paths[2])]
    errors = [o for o in objects if "error" in o]
    assert len(errors) == 2 and "not a readable image" in errors[0]["error"] and "no handwriting" in errors[1]["error"]
    good = [o for o in objects if "error" not in o]
    for o in good:
        assert set(o) == {"path", "text", "confidence", "needs_review", "words", "decoder", "alternatives", "corrected"}
        assert o["decoder"] == "beam"
        assert 0 < o["confidence"] <= 1
        assert 1 <= len(o["alternatives"]) <= 3 and o["alternatives"][0]["text"] == o["text"]
        scores = [a["score"] for a in o["alternatives"]]
        assert scores == sorted(scores, reverse=True)
    assert error_rates(texts, [o["text"] for o in good]).cer < 0.3


def test_predict_plain_output_and_exit_status(line_files):
    paths, _ = line_files
    result = htr("predict", *paths)
    assert result.returncode == 0
    assert len(result.stdout.splitlines()) == 3 and result.stdout.startswith(str(paths[0]) + "\t")


def test_validate_prints_corpus_cer_and_wer(tmp_path):
    limit = "24" if HAVE_ONDB else "10"  # without the data set, the 10 lines shipped in tests/fixtures
    # A split file of the split's first lines: each run parses those, not all 1,120 stroke files.
    first = (ONDB / "splits" / "validation.txt").read_text().split()[: int(limit) + 8]
    (tmp_path / "first.txt").write_text("\n".join(first) + "\n")
    data = ("--data", ONDB, "--split", tmp_path / "first.txt", "--limit", limit)
    # four runs, two at a time: each spends much of its time starting up
    with ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(htr, "validate", *data, *more) for more in (
            ("--json", "--correct"), ("--decoder", "beam"), ("--json", "--decoder", "best", "--single-reading"),
            ("--json", "--decoder", "best"))]
        result, text, single, double = (run.result() for run in runs)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    assert summary["lines"] == int(limit) and summary["chars"] > 12 * int(limit)
    assert summary["runtime"] == "onnx" and summary["quantized"] == "none"  # the shipped graph is float
    assert 0 <= summary["cer"] < 0.3 and summary["cer"] <= summary["wer"]
    assert set(summary["corrected"]) == {"cer", "wer"} and summary["corrected"]["cer"] < 0.4
    assert summary["second_readings"]["dense_px_per_char"] > 0  # the shipped model reads dense lines twice
    assert text.returncode == 0 and "CER" in text.stdout and "WER" in text.stdout
    once, twice = json.loads(single.stdout), json.loads(double.stdout)
    assert once["second_readings"] == {"dense_px_per_char": 0.0, "max_stretch": twice["second_readings"]["max_stretch"],
                                       "clip_bodies": 0.0}
    assert once["chars"] == twice["chars"]
    if HAVE_ONDB:  # among the first 24 lines some are dense enough to be read twice
        assert once["char_errors"] != twice["char_errors"]


def test_bad_inputs_give_clear_errors(tmp_path):
    missing = htr("validate", "--data", tmp_path / "nowhere")
    assert missing.returncode == 2 and "not found" in missing.stderr and "Traceback" not in missing.stderr
    no_model = htr("predict", "x.png", "--model-dir", tmp_path)
    assert no_model.returncode == 2 and "config.json is missing" in no_model.stderr


def test_corrupt_weights_and_training_without_data_give_clear_errors(tmp_path):
    """Keras reads the weights when model.onnx no longer matches them, and trains (the training extra)."""
    corrupt = tmp_path / "corrupt"
    shutil.copytree(MODEL_DIR, corrupt)
    (corrupt / "model.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n truncated")
    bad_model = htr("predict", "x.png", "--model-dir", corrupt)
    assert bad_model.returncode == 2 and "corrupt" in bad_model.stderr and "Traceback" not in bad_model.stderr
    no_data = htr("train", "--data", tmp_path / "nowhere", "--model-dir", tmp_path / "run")
    assert no_data.returncode == 2 and "not found" in no_data.stderr
