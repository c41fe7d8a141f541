"""``python -m htr train | validate | predict``."""

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path

from htr.datasets import DATASETS
from htr.datasets.base import PARTS
from htr.decode import BEAM_WIDTH, DECODERS
from htr.engine import RUNTIMES
from htr.errors import HTRError
from htr.formats import FORMATS
from htr.paths import default_model_dir
from htr.train.settings import (
    RESUME_OVERRIDABLE,
    TrainSettings,
    add_arguments,
    given_values,
    read_settings_file,
)

DEFAULT_MODEL = default_model_dir()
# The language model reads words, not just letters: fewer errors than best path and beam on
# every validation set (model/README.md, "Evaluation"). Without an LM it falls back to beam.
DEFAULT_DECODER = "lm"
RUNTIME_HELP = ("what runs the network: auto (ONNX Runtime if the folder's model.onnx is current, else Keras), "
                "onnx or keras")
DECODER_HELP = (f"best: best path; beam: beam search; lm: beam search with the model's language model "
                f"(falls back to beam search if the model has none); default: {DEFAULT_DECODER}")


def _add_data_args(p: argparse.ArgumentParser, split_default: str) -> None:
    p.add_argument("--dataset", choices=DATASETS, default="iam-ondb", help="data set format (default: iam-ondb)")
    p.add_argument("--data", required=True, help="data set folder")
    p.add_argument("--split", default=split_default, help=f"split name or split file (default: {split_default})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m htr", description="Handwritten text-line recognition (CRNN + CTC).")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model from scratch, or resume an interrupted run",
                       description="Every training setting is a flag below and a key of a --settings file "
                                   "(htr.train.settings.TrainSettings); the run folder keeps the settings it "
                                   "ran with as MODEL_DIR/settings.json.")
    t.add_argument("--settings", metavar="FILE",
                   help="a JSON file of training settings (keys as the flags below, with underscores: "
                        "batch_size, init_from, sources ...); flags given here override it. A run folder's "
                        "settings.json repeats that run. On --resume only its " + ", ".join(RESUME_OVERRIDABLE)
                   + " replace the run's own")
    add_arguments(t)
    t.add_argument("--resume", action="store_true", help="continue the run in --model-dir")
    t.add_argument("--lstm-units", type=int, help="LSTM units per direction (default 160)")
    t.add_argument("--conv-filters", help="comma-separated filters of the 5 conv layers (default 32,64,96,128,160)")
    t.add_argument("--distribute", action="store_true",
                   help="data-parallel over every device JAX sees (KERAS_BACKEND=jax): each --batch-size batch "
                        "is split evenly across them, so it must be a multiple of the device count")
    t.add_argument("--coordinator", metavar="HOST:PORT",
                   help="several hosts or processes: process 0's address, the same on every process (implies --distribute)")
    t.add_argument("--num-processes", type=int, metavar="N", help="processes in the run, one per host (with --coordinator)")
    t.add_argument("--process-id", type=int, metavar="I", help="this process's number, 0 to N-1; 0 writes the run folder")

    a = sub.add_parser("average", help="average the weights of a run's last epochs into a model folder")
    a.add_argument("--run", required=True, help="training run folder (with checkpoints/)")
    a.add_argument("--last", type=int, default=5, help="how many of the newest epochs (default 5)")
    a.add_argument("--model-dir", required=True, help="where to write the averaged model")

    b = sub.add_parser("blend", help="interpolate the weights of models of one architecture into a model folder")
    b.add_argument("--models", nargs="+", required=True,
                   help="model folders or checkpoint files (checkpoints/epoch-N/model.keras); the first folder gives the config")
    b.add_argument("--weights", nargs="+", type=float, required=True, help="one weight per model, e.g. 0.7 0.3")
    b.add_argument("--model-dir", required=True, help="where to write the blended model")

    w = sub.add_parser("widen", help="add filters and LSTM units to a trained model; it still reads exactly as before")
    w.add_argument("--from", dest="source", required=True, metavar="MODEL_DIR", help="the trained model folder")
    w.add_argument("--model-dir", required=True, help="where to write the wider model (then train --init-from it)")
    w.add_argument("--conv-filters", help="comma-separated filters of the conv layers, each at least the model's own")
    w.add_argument("--lstm-units", type=int, help="LSTM units per direction, at least the model's own")
    w.add_argument("--seed", type=int, default=0, help="seed of the new units' random incoming weights")

    v = sub.add_parser("validate", help="print corpus-level CER and WER on a data set split")
    _add_data_args(v, "validation")
    v.add_argument("--model-dir", default=str(DEFAULT_MODEL),
                   help="model folder with config.json and model.weights.h5 (default: the shipped model)")
    v.add_argument("--decoder", choices=DECODERS, default=DEFAULT_DECODER, help=DECODER_HELP)
    v.add_argument("--beam-width", type=int, default=BEAM_WIDTH,
                   help=f"candidates kept at each step by beam and lm decoding (default {BEAM_WIDTH})")
    v.add_argument("--look", choices=("canvas", "paper", "mixed"), default="canvas", help="rendering of stroke data")
    v.add_argument("--part", choices=PARTS, default="all",
                   help="all lines, or the half LM settings are tuned on (tune) or the other (report)")
    v.add_argument("--limit", type=int, help="only the first N lines (of the --part)")
    v.add_argument("--correct", action="store_true", help="also score the spelling-corrected text")
    v.add_argument("--json", action="store_true", help="print one JSON object")
    v.add_argument("--runtime", choices=RUNTIMES, default="auto", help=RUNTIME_HELP)
    v.add_argument("--single-reading", action="store_true",
                   help="read every line once, as it is: no second reading of dense or tall lines "
                        "(the model's dense_px_per_char and clip_bodies), to measure what they change")

    p = sub.add_parser("predict", help="recognise images of text lines, or pen strokes",
                       description="Read each file: an image of one line of handwriting, or of a paragraph or "
                                   "page (PNG, JPEG, TIFF, BMP, WebP ...), or digital ink (W3C InkML .inkml, IAM "
                                   "On-Line .xml). Pages are read line by line, top to bottom (see --layout).")
    p.add_argument("images", nargs="+", metavar="FILE",
                   help="image, .inkml or IAM On-Line .xml files; with --out also folders, read recursively")
    p.add_argument("--model-dir", default=str(DEFAULT_MODEL),
                   help="model folder with config.json and model.weights.h5 (default: the shipped model)")
    p.add_argument("--decoder", choices=DECODERS, default=DEFAULT_DECODER, help=DECODER_HELP)
    p.add_argument("--beam-width", type=int, default=BEAM_WIDTH,
                   help=f"candidates kept at each step by beam and lm decoding (default {BEAM_WIDTH})")
    p.add_argument("--top-k", type=int, default=5, help="alternatives to list (beam search)")
    p.add_argument("--correct", action="store_true", help="add a spelling-corrected text")
    p.add_argument("--json", action="store_true", help="one JSON object per image per line")
    p.add_argument("--runtime", choices=RUNTIMES, default="auto", help=RUNTIME_HELP)
    p.add_argument("--batch-size", type=int, default=32, help="lines the network reads at once (default 32)")
    p.add_argument("--layout", choices=("auto", "line", "page"), default="auto",
                   help="auto (default): each image is one line or a paragraph/page, decided from the image; "
                        "line: read it as one line; page: find its lines and read them all. A page prints "
                        '{"path", "text" (lines joined by newlines), "confidence", "decoder", "lines": '
                        '[{"box": [x, y, w, h], "text", "confidence", "alternatives"}]}')
    arc = p.add_argument_group("archives", "read folder trees into one output file per input (docs/archive.md)")
    arc.add_argument("--out", metavar="OUT",
                     help="write one file per input under OUT, mirroring the input tree, instead of printing; "
                          "a second run skips what is done (output newer than its input, same model and "
                          "settings); failures go to OUT/errors.jsonl")
    arc.add_argument("--format", choices=FORMATS, default="jsonl",
                     help="with --out: jsonl (.json, as --json prints), txt (.txt, as plain predict prints), "
                          "pagexml (.xml, PAGE 2019) or alto (.xml, ALTO v4); default jsonl")
    arc.add_argument("--engine", choices=("local", "ray"), default="local",
                     help="with --out: local (this process) or ray (a pool of Ray workers; pip install "
                          '"htr[ray]"); default local')
    arc.add_argument("--address", metavar="HOST:PORT",
                     help="with --engine ray: a running Ray cluster's head to join (default: start a local Ray)")
    arc.add_argument("--workers", type=int, metavar="N",
                     help="with --engine ray: workers, one CPU each (default: every CPU Ray has)")

    e = sub.add_parser("export", help="write MODEL_DIR/model.onnx, which predict, the app and the dashboard then run "
                                      "on ONNX Runtime", description="Export the inference graph (no training mask, "
                       "native ONNX LSTM) of MODEL_DIR/model.weights.h5 to MODEL_DIR/model.onnx, with a stamp of the "
                       "weights it came from; run it again after replacing the weights (a stale model.onnx is ignored "
                       "with a warning).")
    e.add_argument("--model-dir", default=str(DEFAULT_MODEL), help="model folder (default: the shipped model)")
    e.add_argument("--format", choices=("onnx",), default="onnx", help="export format (default onnx)")
    e.add_argument("--quantize", choices=("none", "int8"), default="none",
                   help="int8: store the LSTM and output weights as 8-bit integers (faster on a CPU, "
                        "readings within a few hundredths of a CER point; see docs/experiments/2026-11-26-integer-weights.md); default none")

    _add_adapt_parser(sub)

    lm = sub.add_parser("lm", help="build or tune the language model used by --decoder lm")
    lm_sub = lm.add_subparsers(dest="lm_command", required=True)
    b = lm_sub.add_parser("build", help="estimate a character n-gram LM from training text, held-out text left out",
                          description="Write OUT/chars.arpa.gz and OUT/lm.json from the training lines of IAM "
                                      "and/or IAM On-Line (validation and test lines, other writers' copies of "
                                      "their texts and lines sharing 5 words with them are left out) and any "
                                      "text files. If OUT's parent is a model folder, its config records the LM.")
    b.add_argument("--out", required=True, help="folder for the LM files, e.g. model/lm")
    b.add_argument("--iam", metavar="DIR", help="IAM folder (ascii/lines.txt, splits/)")
    b.add_argument("--iam-ondb", metavar="DIR", help="IAM On-Line folder (ascii-all.tar.gz, splits/)")
    b.add_argument("--text", action="append", default=[], metavar="FILE",
                   help="a UTF-8 file of text lines to add (repeatable)")
    b.add_argument("--exclude", action="append", default=[], metavar="FILE",
                   help="another list of held-out line ids to keep out (repeatable)")
    b.add_argument("--order", type=int, default=6, help="n-gram order, 1-6 (default 6)")
    b.add_argument("--prune", metavar="N:C,...", help="drop n-grams of order N seen fewer than C times, e.g. 5:2,6:2")
    t2 = lm_sub.add_parser("tune", help="choose the LM weight, bonuses and unknown-word penalty on validation data, write them to config.json",
                           description="Tune on the 'tune' half of each validation set (lines chosen by form), "
                                       "leaving the 'report' half to measure them, and write the chosen weight, "
                                       "bonuses and penalty into MODEL_DIR/config.json ('lm' only). Re-run after replacing the "
                                       "model's weights.")
    t2.add_argument("--model-dir", default=str(DEFAULT_MODEL))
    t2.add_argument("--iam-ondb", metavar="DIR", help="IAM On-Line folder: its validation split, in each --look")
    t2.add_argument("--look", action="append", choices=("canvas", "paper"), help="looks of the IAM On-Line lines "
                    "(repeatable; default canvas and paper)")
    t2.add_argument("--iam", metavar="DIR", help="IAM folder")
    t2.add_argument("--iam-split", default="validation", help="IAM split name or file (default validation)")
    t2.add_argument("--part", choices=PARTS, default="tune", help="lines to tune on (default: the tune half)")
    t2.add_argument("--limit", type=int, help="only the first N lines of each set")
    t2.add_argument("--beam-width", type=int, default=BEAM_WIDTH)
    t2.add_argument("--rounds", type=int, default=2, help="passes over the settings (default 2)")
    t2.add_argument("--dry-run", action="store_true", help="print the chosen values, do not write config.json")
    return parser


def _architecture(args) -> dict:
    arch: dict = {}
    if args.lstm_units:
        arch["lstm_units"] = args.lstm_units
    if args.conv_filters:
        filters = [int(f) for f in args.conv_filters.split(",")]
        if len(filters) != 5:
            raise SystemExit("error: --conv-filters takes 5 comma-separated numbers")
        arch["conv_filters"] = filters
    return arch


def _parallel(args):
    """The data-parallel layout asked for (None: one device); joins the other processes first."""
    from htr.train.distributed import DistributionError, connect, data_parallel

    cluster = (args.coordinator, args.num_processes, args.process_id)
    if any(value is not None for value in cluster):
        if any(value is None for value in cluster):
            raise DistributionError("several processes need all of --coordinator, --num-processes and --process-id")
        connect(*cluster)
    elif not args.distribute:
        return None
    return data_parallel()


def train_settings(args) -> tuple[TrainSettings, tuple[str, ...]]:
    """The run's settings: the defaults, then the --settings file, then the flags given; and the
    names a resumed run takes from them (the others are the run's own)."""
    values = read_settings_file(args.settings) if args.settings else {}
    named = set(values)
    given = given_values(args)
    architecture = _architecture(args)
    if architecture:
        given["architecture"] = {**values.get("architecture", {}), **architecture}
    values.update(given)
    named |= set(given)
    if not values.get("model_dir"):
        raise HTRError("give --model-dir (or model_dir in the --settings file): the run folder")
    if not values.get("data") and not values.get("sources") and not args.resume:
        raise SystemExit("error: give --data (one data set) or --source (one or more)")
    values["command"] = "python -m htr " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    settings = TrainSettings(**values)
    settings.check(args.resume)  # before TensorFlow loads
    return settings, tuple(key for key in RESUME_OVERRIDABLE if key in named)


def cmd_train(args) -> int:
    from htr.tf_env import configure_tensorflow

    settings, overrides = train_settings(args)
    configure_tensorflow(training=True)  # before the imports below bring in TensorFlow
    from htr.train.loop import train

    parallel = _parallel(args)
    state = train(settings, resume=args.resume, parallel=parallel, overrides=overrides)
    if parallel is not None and not parallel.chief:
        return 0
    print(f"done: {state['epoch']} epochs, best validation CER {state['best_cer']:.4f} "
          f"(epoch {state['best_epoch']}); model in {settings.model_dir}")
    return 0


def cmd_average(args) -> int:
    from htr.train.averaging import average_run

    if args.last < 1:
        raise SystemExit("error: --last must be at least 1")
    out = average_run(args.run, args.last, args.model_dir)
    print(f"averaged the last {args.last} epochs of {args.run} into {out}")
    return 0


def cmd_blend(args) -> int:
    from htr.train.averaging import blend_models

    out = blend_models(args.models, args.weights, args.model_dir)
    print(f"blended {len(args.models)} models into {out}")
    return 0


def cmd_widen(args) -> int:
    from htr.train.widening import widen_model

    arch = _architecture(args)
    out = widen_model(args.source, args.model_dir, arch.get("conv_filters"), arch.get("lstm_units"), args.seed)
    print(f"widened {args.source} into {out}: it reads as the original until trained (train --init-from {out})")
    return 0


def cmd_validate(args) -> int:
    from htr.recognizer import Recognizer
    from htr.train.evaluate import evaluate, load_lines, prepare_part

    recognizer = Recognizer.load(args.model_dir, args.runtime)
    config = recognizer.config
    if args.single_reading:
        config = dataclasses.replace(config, dense_px_per_char=0.0, clip_bodies=0.0)
    decoder = recognizer.resolve_decoder(args.decoder)
    lines = load_lines(args.dataset, args.data, args.split, config.charset, args.part, args.limit, progress=True)
    prepared = prepare_part(lines, config.height, config.max_width, args.look, args.part, args.limit,
                            min_stride=config.time_stride, deslant=config.deslant)
    lines.warn_skipped()
    if lines.note:
        print(f"note: {lines.note}", file=sys.stderr, flush=True)
    result = evaluate(recognizer.engine, config, prepared.images, prepared.texts, prepared.ids,
                      decoder, args.beam_width, progress=True, lm=recognizer.lm)
    split = "all" if lines.note else str(args.split)  # a folder without split lists: all its lines
    summary = {"dataset": args.dataset, "split": split, "look": args.look, "decoder": decoder,
               "runtime": recognizer.runtime, "quantized": getattr(recognizer.engine, "quantized", "none"),
               "part": args.part, "second_readings": {"dense_px_per_char": config.dense_px_per_char,
                                                      "max_stretch": config.max_stretch,
                                                      "clip_bodies": config.clip_bodies},
               **result.rates.as_dict(), "skipped": sum(lines.skipped.values()),
               **({"note": lines.note} if lines.note else {})}
    if args.correct:
        from htr.metrics import error_rates
        from htr.spelling import correct

        corrected = error_rates(result.references, [correct(p) for p in result.predictions])
        summary["corrected"] = {"cer": corrected.cer, "wer": corrected.wer}
    if args.json:
        print(json.dumps(summary))
    else:
        scored = " (all lines of the folder)" if lines.note else ""
        print(f"{result.rates.lines} lines{scored}, decoder {decoder}: CER {result.rates.cer:.4f}  WER {result.rates.wer:.4f}")
        if args.correct:
            print(f"with spelling correction: CER {corrected.cer:.4f}  WER {corrected.wer:.4f}")
    return 0


def _without_path(error: HTRError, path: str) -> str:
    """An error's message without the file name it starts with: the output names the file once."""
    return str(error).removeprefix(f"{path}: ")


def _predict_archive(args) -> int:
    """``predict ... --out OUT``: every input to a file under OUT (htr.archive)."""
    from htr.archive import ERRORS, ReadSettings, read_archive

    if args.workers is not None and args.workers < 1:
        raise HTRError("--workers must be at least 1")
    settings = ReadSettings(args.format, args.layout, args.decoder, args.beam_width, args.top_k, args.correct,
                            args.batch_size)
    summary = read_archive(args.images, args.out, settings, args.model_dir, args.runtime, args.engine,
                           args.address, args.workers)
    print(f"{summary.line()}; outputs in {args.out}"
          + (f"; failures in {Path(args.out) / ERRORS}" if summary.failed else ""), file=sys.stderr)
    return 1 if summary.failed else 0


def cmd_predict(args) -> int:
    from htr.formats import json_line, text_rows
    from htr.ink import is_ink_file, load_ink, render_ink
    from htr.recognizer import Recognizer

    def read(path: str):
        return render_ink(load_ink(path)) if is_ink_file(path) else path

    if args.batch_size < 1:
        raise SystemExit("error: --batch-size must be at least 1")
    if args.out:
        return _predict_archive(args)
    given = [flag for flag, value in (("--format", args.format != "jsonl"), ("--engine", args.engine != "local"),
                                      ("--address", args.address), ("--workers", args.workers)) if value]
    if given:
        raise HTRError(f"{given[0]} writes files: give --out OUT too")
    folders = [name for name in args.images if Path(name).is_dir()]
    if folders:
        raise HTRError(f"{folders[0]} is a folder: give --out OUT to read a folder tree into files")
    recognizer = Recognizer.load(args.model_dir, args.runtime)
    if args.layout == "line":
        results = recognizer.recognize_stream(args.images, args.decoder, args.beam_width, args.top_k, args.correct,
                                              read=read, batch_size=args.batch_size)
    else:
        from htr.page import recognize_files

        results = recognize_files(recognizer, args.images, args.layout, args.decoder, args.beam_width, args.top_k,
                                  args.correct, read=read, batch_size=args.batch_size)
    failed = 0
    for path, result in zip(args.images, results):
        if isinstance(result, HTRError):
            failed += 1
            if args.json:
                print(json.dumps({"path": path, "error": _without_path(result, path)}), flush=True)
            else:
                print(f"{path}: error: {_without_path(result, path)}", file=sys.stderr)
            continue
        if args.json:
            print(json_line(path, result), flush=True)
        else:  # a page: one row per line, numbered
            for row in text_rows(path, result):
                print(row, flush=True)
    return 1 if failed else 0


def cmd_export(args) -> int:
    import time

    from htr.export import export_onnx

    start = time.perf_counter()
    path = export_onnx(args.model_dir, quantize=args.quantize)
    kind = " with int8 weights" if args.quantize == "int8" else ""
    print(f"wrote {path}{kind} ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - start:.0f} s; "
          f"predict, the app and the dashboard now run it on ONNX Runtime")
    return 0


def _parse_prune(text: str | None) -> dict[int, int]:
    prune = {}
    for item in (text or "").split(","):
        if item.strip():
            try:
                order, count = (int(x) for x in item.split(":"))
            except ValueError:
                raise SystemExit(f"error: --prune takes ORDER:COUNT pairs like 5:2,6:2, not {item!r}") from None
            prune[order] = count
    return prune


def cmd_lm(args) -> int:
    if args.lm_command == "build":
        return cmd_lm_build(args)
    return cmd_lm_tune(args)


def cmd_lm_build(args) -> int:
    from htr.config import CONFIG_FILE
    from htr.lm.corpus import build, collect
    from htr.lm.decoder import LM_FILE

    if not (args.iam or args.iam_ondb or args.text):
        raise SystemExit("error: give --iam, --iam-ondb and/or --text: the text to estimate the LM from")
    if not 1 <= args.order <= 6:
        raise SystemExit("error: --order must be between 1 and 6")
    text = collect(args.iam, args.iam_ondb, args.text, args.exclude)
    command = "python -m htr " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    manifest = build(args.out, text, args.order, _parse_prune(args.prune), command=command)
    for source, counts in manifest["sources"].items():
        dropped = ", ".join(f"{n} {why}" for why, n in counts.items() if why != "kept")
        print(f"{source}: {counts.get('kept', 0)} lines kept" + (f"; left out {dropped}" if dropped else ""))
    print(f"{manifest['order']}-gram character model of {manifest['lines']} lines ({manifest['characters']} "
          f"characters): {sum(manifest['ngrams'])} n-grams, {manifest['bytes'] / 1e6:.1f} MB in {Path(args.out) / LM_FILE}")
    model_dir = Path(args.out).resolve().parent
    if (model_dir / CONFIG_FILE).is_file():
        from htr.config import ModelConfig
        from htr.lm.decoder import lm_settings
        from htr.lm.tune import write_settings

        settings = lm_settings(ModelConfig.load(model_dir))
        settings.path = f"{Path(args.out).resolve().name}/{LM_FILE}"
        write_settings(model_dir, settings)
        print(f"recorded in {model_dir / CONFIG_FILE}; tune its weights with: python -m htr lm tune --model-dir {model_dir} ...")
    return 0


def cmd_lm_tune(args) -> int:
    from htr.lm.tune import GRID, TuneSet, tune, tuned_record, write_settings
    from htr.recognizer import Recognizer
    from htr.train.evaluate import load_lines, prepare_part, probabilities

    if not (args.iam_ondb or args.iam):
        raise SystemExit("error: give --iam-ondb and/or --iam: the validation data to tune on")
    recognizer = Recognizer.load(args.model_dir)
    if recognizer.lm is None:
        raise HTRError(f"cannot tune: {recognizer.lm_error} (build one with python -m htr lm build --out "
                       f"{Path(args.model_dir) / 'lm'} ...)")
    config = recognizer.config
    wanted = []
    if args.iam_ondb:
        wanted += [(f"iam-ondb {look}", "iam-ondb", args.iam_ondb, "validation", look) for look in args.look or ("canvas", "paper")]
    if args.iam:
        wanted.append((f"iam {Path(args.iam_split).stem}", "iam", args.iam, args.iam_split, "canvas"))
    sets = []
    for name, dataset, data, split, look in wanted:
        lines = load_lines(dataset, data, split, config.charset, args.part, args.limit)
        prepared = prepare_part(lines, config.height, config.max_width, look, args.part, args.limit,
                                label=f"preparing {name}", min_stride=config.time_stride, deslant=config.deslant)
        lines.warn_skipped()
        probs = probabilities(recognizer.model, config, prepared.images, label=f"reading {name}")
        sets.append(TuneSet(name, probs, prepared.texts, config.charset))
        print(f"{name}: {len(probs)} lines ({args.part} part), best path CER {sets[-1].baseline.cer:.4f} "
              f"WER {sets[-1].baseline.wer:.4f}", flush=True)
    settings, objective, rates = tune(recognizer.lm, sets, args.beam_width, args.rounds,
                                      report=lambda line: print(line, flush=True))
    command = "python -m htr " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    settings.tuned = tuned_record(sets, objective, rates, args.part, args.beam_width, command)
    chosen = ", ".join(f"{name} {getattr(settings, name):g}" for name in GRID)
    print(f"chosen: {chosen} (CER and WER {objective:.1%} of best path's on the {args.part} part)")
    for s in sets:
        print(f"  {s.name}: CER {s.baseline.cer:.4f} -> {rates[s.name].cer:.4f}, WER {s.baseline.wer:.4f} -> {rates[s.name].wer:.4f}")
    if args.dry_run:
        print("dry run: config.json not changed")
    else:
        print(f"written to {write_settings(args.model_dir, settings)}")
    other = {"tune": "report", "report": "tune"}.get(args.part)
    if other:
        print(f"measure them on the other half: python -m htr validate ... --decoder lm --part {other} "
              f"(or python benchmarks/decoders.py)")
    return 0


def _add_adapt_parser(sub) -> None:
    from htr.train.adapt import LAYER_CHOICES, AdaptSettings

    d = AdaptSettings()
    a = sub.add_parser("adapt", help="adapt a model to one writer from a few of their lines",
                       description="Fine-tune the model's recurrent layers (its convolutions frozen) on a writer's "
                                   "lines, holding out a share of them to pick the best epoch and to keep the base "
                                   "model where adaptation does not read them better. Writes a complete model folder "
                                   "(ONNX export, language model kept) that every face loads with --model-dir.")
    a.add_argument("labels", metavar="LABELS.tsv",
                   help="one 'path<TAB>text' row per line, paths relative to the file: line images, photos of "
                        "lines, ink (.inkml, IAM On-Line .xml) or the app's stroke JSON (.json)")
    a.add_argument("--model-dir", default=str(DEFAULT_MODEL), help="the model to adapt (default: the shipped model)")
    a.add_argument("--out", required=True, help="the adapted model folder to write (must not exist)")
    a.add_argument("--minutes", type=float, default=d.minutes,
                   help=f"training-time budget in minutes (default {d.minutes:g}): the best epoch so far is kept")
    a.add_argument("--epochs", type=int, default=d.epochs, help=f"at most this many epochs (default {d.epochs})")
    a.add_argument("--learning-rate", type=float, default=d.learning_rate,
                   help=f"starting rate, cosine-annealed to 1 %% of it (default {d.learning_rate:g})")
    a.add_argument("--layers", choices=LAYER_CHOICES, default=d.layers,
                   help="what moves: recurrent (all but the convolutions, default) or top (last LSTM and output)")
    a.add_argument("--folds", type=int, default=d.folds,
                   help=f"check adaptation by cross-validation where each fold gets {d.min_fold_lines} lines or more: "
                        f"each line read by a model adapted on the other folds, then adapt on every line "
                        f"(default {d.folds}; 0, or fewer lines: hold out one share instead)")
    a.add_argument("--holdout", type=float, default=d.holdout,
                   help=f"with --folds 0: share of the lines held out for early stopping and the guard "
                        f"(default {d.holdout:g})")
    a.add_argument("--min-gain", type=float, default=d.min_gain,
                   help=f"keep the adapted weights only where the checked CER falls by this share (default "
                        f"{d.min_gain:g}); otherwise the folder keeps the base model's")
    a.add_argument("--seed", type=int, default=d.seed, help=f"random seed (default {d.seed})")


def cmd_adapt(args) -> int:
    from htr.config import ModelConfig
    from htr.tf_env import configure_tensorflow
    from htr.train.adapt import AdaptSettings, check_output, read_labels

    settings = AdaptSettings(epochs=args.epochs, learning_rate=args.learning_rate, minutes=args.minutes,
                             layers=args.layers, holdout=args.holdout, folds=args.folds, seed=args.seed,
                             min_gain=args.min_gain)
    settings.check()
    out = check_output(args.out)  # before any work
    config = ModelConfig.load(Path(args.model_dir))
    lines = read_labels(args.labels, config)
    print(f"{len(lines)} lines read from {args.labels}", file=sys.stderr)
    configure_tensorflow(training=True)
    from htr.train.adapt import adapt, lines_to_add

    result = adapt(lines, args.model_dir, out, settings, log=lambda m: print(m, file=sys.stderr),
                   source=str(Path(args.labels).resolve()))
    checked = "cross-validated" if result.folds else "held-out"
    verdict = (f"the base model was kept (adaptation did not read the {checked} lines better)" if result.kept_base
               else f"{result.relative_change:+.0%}")
    print(f"done: adapted model in {result.out}: {checked} CER {result.cer_before:.2%} -> {result.cer_after:.2%} "
          f"({verdict}); {result.seconds:.0f} s")
    missing = lines_to_add(len(lines), result.kept_base, result.folds, settings)
    if missing:
        print(f"with {len(lines)} lines a gain cannot be told from chance: add {missing} more lines and adapt again",
              file=sys.stderr)
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        commands = {"train": cmd_train, "average": cmd_average, "blend": cmd_blend, "widen": cmd_widen, "validate": cmd_validate, "predict": cmd_predict,
                    "export": cmd_export,
                    "lm": cmd_lm}
        commands["adapt"] = cmd_adapt
        return commands[args.command](args)
    except HTRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
