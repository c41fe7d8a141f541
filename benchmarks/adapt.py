"""Adapting the model to one writer: CER on each writer's other lines, before and after.

    python benchmarks/adapt.py [--tune [--tune-forms 8]] [--iam-only | --ondb-only] [--writers ID,ID]
                               [--form-adapt-lines 8]
                               [--folds 2] [--min-fold-lines 4] [--fold-min-gain 0] [--no-guard]
                               [--lr 1e-3] [--epochs 8]
                               [--copies 4] [--layers recurrent|top] [--minutes 2] [--json FILE]

``--tune``: the writers the method is chosen on instead (IAM writers with 13 to 19 lines, adapted
on 8; the ``--tune-forms`` IAM On-Line forms ranked after the reported ones).

Writers: every IAM ``available-dev`` writer with at least 20 usable lines (real scans; the
model chose its epochs on some of these lines but never trained on them): adapt on the first 10
of the writer's lines, read the rest. And the ``--forms`` (8) IAM On-Line validation forms with
the most lines, each one writer's, drawn as the app draws its canvas (:func:`htr.ink.render_ink`):
adapt on the first half of the form's lines, read the other half. Each writer is adapted with
``htr.train.adapt.adapt`` into a temporary folder (ONNX export included), and both the base and
the adapted folder are read with :class:`htr.Recognizer` as the app reads (best path and the
language model). Prints the table per writer: CER before/after and the relative change with
both decoders, the held-out share's own figures, whether the guard kept the base model, and
the wall time of the adaptation (with the load average at its start).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
from htr.tf_env import configure_tensorflow  # noqa: E402

configure_tensorflow(training=True)  # as `python -m htr adapt` trains: oneDNN's CPU kernels

from htr.paths import default_model_dir, iam_dir, iam_ondb_dir  # noqa: E402

CACHE = Path(os.environ.get("HTR_CACHE", tempfile.gettempdir())) / "adapt-benchmark"


def iam_writers(root: Path, config, min_lines: int = 20) -> dict[str, list]:
    """IAM available-dev writers (forms.txt) -> their usable lines, sorted by id."""
    from htr.datasets import load_dataset
    from htr.train.adapt import WriterLine

    writer_of = {}
    for row in (root / "ascii" / "forms.txt").read_text().splitlines():
        if row and not row.startswith("#"):
            parts = row.split()
            writer_of[parts[0]] = parts[1]
    lines = load_dataset("iam", root, root / "splits" / "available-dev.txt")
    lines.filter_charset(config.charset)
    groups = defaultdict(list)
    for sample in sorted(lines.samples, key=lambda s: s.id):
        groups[f"iam-{writer_of['-'.join(sample.id.split('-')[:2])]}"].append(sample)
    from htr.imageio import read_image_file

    out = {}
    for writer, samples in sorted(groups.items()):
        if len(samples) >= min_lines:
            out[writer] = [WriterLine(s.id, s.text, read_image_file(s.path)) for s in samples]
    return out


def ondb_forms(root: Path, config, count: int | None = 8, min_lines: int = 1) -> dict[str, list]:
    """The ``count`` IAM On-Line validation forms with the most lines (ties: by id; every form with
    at least ``min_lines`` lines where ``count`` is None), canvas-rendered."""
    from htr.datasets import load_dataset
    from htr.ink import render_ink
    from htr.train.adapt import WriterLine

    CACHE.mkdir(parents=True, exist_ok=True)
    cached = CACHE / "ondb-validation.pkl"
    if cached.is_file():
        samples = pickle.loads(cached.read_bytes())
    else:
        samples = load_dataset("iam-ondb", root, "validation").samples
        cached.write_bytes(pickle.dumps(samples))
    groups = defaultdict(list)
    for sample in sorted(samples, key=lambda s: s.id):
        if sample.text.strip() and not config.unknown_characters(sample.text):
            groups[sample.id.rsplit("-", 1)[0]].append(sample)
    chosen = [form for form in sorted(groups, key=lambda form: (-len(groups[form]), form))
              if len(groups[form]) >= min_lines][:count]
    return {f"ondb-{form}": [WriterLine(s.id, s.text, render_ink(s.strokes), s.strokes) for s in groups[form]]
            for form in sorted(chosen)}


def read_cer(recognizer, lines, decoder: str) -> tuple[float, list[str], int, int]:
    """CER of ``lines`` read by ``recognizer``, the readings, and the errors and characters."""
    from htr.metrics import error_rates
    from htr.train.evaluate import evaluate_recognizer

    images = [recognizer.prepare(l.image, find_paper=False) for l in lines]
    result = evaluate_recognizer(recognizer, images, [l.text for l in lines], [l.id for l in lines], decoder)
    rates = error_rates(result.references, result.predictions)
    return rates.cer, result.predictions, rates.char_errors, rates.chars


def main(argv=None) -> int:
    from htr.recognizer import Recognizer
    from htr.train.adapt import AdaptSettings, adapt

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", default=str(default_model_dir()))
    parser.add_argument("--iam", default=str(iam_dir()))
    parser.add_argument("--iam-ondb", default=str(iam_ondb_dir()))
    parser.add_argument("--iam-only", action="store_true")
    parser.add_argument("--ondb-only", action="store_true")
    parser.add_argument("--forms", type=int, default=8)
    parser.add_argument("--tune-forms", type=int, default=8,
                        help="with --tune: how many IAM On-Line forms, ranked after the reported ones")
    parser.add_argument("--tune", action="store_true",
                        help="the writers the method is chosen on instead: IAM available-dev writers with 13 to "
                             "19 lines (adapt on 8) and the IAM On-Line validation forms ranked after the "
                             "--forms reported ones")
    parser.add_argument("--adapt-lines", type=int, default=10, help="IAM writers: lines to adapt on (default 10)")
    parser.add_argument("--form-adapt-lines", type=int,
                        help="IAM On-Line: adapt on the first N lines of every validation form that has more, "
                             "read the rest (instead of half of the --forms forms; ignores --tune)")
    parser.add_argument("--writers", help="only these writers (comma-separated names from the table)")
    parser.add_argument("--decoders", default="best,lm")
    defaults = AdaptSettings()
    parser.add_argument("--lr", type=float, default=defaults.learning_rate)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--copies", type=int, default=defaults.copies)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--holdout", type=float, default=defaults.holdout)
    parser.add_argument("--folds", type=int, default=defaults.folds)
    parser.add_argument("--layers", default=defaults.layers)
    parser.add_argument("--minutes", type=float, default=defaults.minutes)
    parser.add_argument("--patience", type=int, default=defaults.patience)
    parser.add_argument("--min-gain", type=float, default=defaults.min_gain)
    parser.add_argument("--min-fold-lines", type=int, default=defaults.min_fold_lines)
    parser.add_argument("--fold-min-gain", type=float, default=defaults.fold_min_gain)
    parser.add_argument("--recombine", type=float, default=defaults.recombine)
    parser.add_argument("--no-guard", action="store_true", help="keep the adapted weights even where the held-out "
                        "share does not read better (to measure adaptation itself)")
    parser.add_argument("--serving", action="store_true",
                        help="instead of the table: read one line again and again with the base model (as the "
                             "app does, one ONNX Runtime thread) before and while the first writer is adapted "
                             "in the same process, and print the reading times")
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args(argv)
    settings = AdaptSettings(epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size,
                             copies=args.copies, holdout=args.holdout, folds=args.folds,
                             min_fold_lines=args.min_fold_lines, patience=args.patience,
                             minutes=args.minutes, layers=args.layers, guard=not args.no_guard,
                             min_gain=args.min_gain, fold_min_gain=args.fold_min_gain,
                             recombine=args.recombine)
    decoders = args.decoders.split(",")
    base = Recognizer.load(args.model_dir, threads=2)
    writers: dict[str, list] = {}
    if not args.ondb_only:
        for name, lines in iam_writers(Path(args.iam), base.config, 13).items():
            if args.tune and len(lines) < 20:
                writers[name] = (lines[:8], lines[8:])
            elif not args.tune and len(lines) >= 20:
                writers[name] = (lines[: args.adapt_lines], lines[args.adapt_lines :])
    if not args.iam_only and args.form_adapt_lines:
        n = args.form_adapt_lines
        for name, lines in ondb_forms(Path(args.iam_ondb), base.config, None, n + 1).items():
            writers[name] = (lines[:n], lines[n:])
    elif not args.iam_only:
        ranked = ondb_forms(Path(args.iam_ondb), base.config, args.forms + args.tune_forms)
        # the first --forms of the same ranking (most lines, ties by id), without rendering them again
        reported = set(sorted(ranked, key=lambda name: (-len(ranked[name]), name))[: args.forms])
        for name, lines in ranked.items():
            if (name in reported) != args.tune:
                half = len(lines) // 2
                writers[name] = (lines[:half], lines[half:])
    if args.writers:
        wanted = set(args.writers.split(","))
        writers = {k: v for k, v in writers.items() if k in wanted}
    print(f"settings: {settings}", flush=True)
    if args.serving:
        return serving(args.model_dir, *next(iter(writers.items())), settings)
    rows = []
    with tempfile.TemporaryDirectory(dir=CACHE.parent if CACHE.parent.is_dir() else None) as scratch:
        for name, (teach, rest) in writers.items():
            load = os.getloadavg()[0]
            t0 = time.monotonic()
            result = adapt(teach, args.model_dir, Path(scratch) / name, settings, log=lambda *_: None)
            wall = time.monotonic() - t0
            adapted = Recognizer.load(Path(scratch) / name, threads=2)
            row = {"writer": name, "adapt_lines": len(teach), "read_lines": len(rest), "wall_s": round(wall, 1),
                   "load": round(load, 2), "heldout_before": result.cer_before, "heldout_after": result.cer_after,
                   "kept_base": result.kept_base, "best_epoch": result.best_epoch}
            for decoder in decoders:
                before, _, errors_before, chars = read_cer(base, rest, decoder)
                after, _, errors_after, _ = read_cer(adapted, rest, decoder)
                row[f"{decoder}_before"], row[f"{decoder}_after"] = before, after
                row[f"{decoder}_errors_before"], row[f"{decoder}_errors_after"] = errors_before, errors_after
            row["read_chars"] = chars
            rows.append(row)
            print(_line(row, decoders), flush=True)
    print()
    print(table(rows, decoders))
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": vars(args), "rows": rows}, indent=1))
    return 0


def serving(model_dir: str, name: str, lines: tuple[list, list], settings) -> int:
    """Reading times of one line with the base model, alone and while ``name`` is adapted."""
    import statistics
    import threading

    from htr.recognizer import Recognizer
    from htr.train.adapt import adapt

    reader = Recognizer.load(model_dir, threads=1)
    line = lines[1][0].image

    def times(seconds: float, until=None) -> list[float]:
        out, end = [], time.monotonic() + seconds
        while time.monotonic() < end and (until is None or until.is_alive()):
            t0 = time.perf_counter()
            reader.recognize(line, decoder="lm", find_paper=False)
            out.append(time.perf_counter() - t0)
        return out

    def show(label: str, values: list[float]) -> None:
        values = sorted(values)
        print(f"{label}: {len(values)} reads, median {statistics.median(values) * 1000:.0f} ms, "
              f"p95 {values[int(0.95 * (len(values) - 1))] * 1000:.0f} ms, max {values[-1] * 1000:.0f} ms "
              f"(load {os.getloadavg()[0]:.1f})", flush=True)

    show("alone", times(20))
    with tempfile.TemporaryDirectory() as scratch:
        worker = threading.Thread(target=adapt, args=(lines[0], model_dir, Path(scratch) / name, settings),
                                  kwargs={"log": lambda *_: None})
        worker.start()
        during = times(600, worker)
        worker.join()
    show(f"while {name} is adapted", during)
    return 0


def _rel(before: float, after: float) -> float:
    return (after - before) / before if before else 0.0


def _line(row: dict, decoders: list[str]) -> str:
    parts = [f"{row['writer']:<14} {row['adapt_lines']:>3} {row['read_lines']:>4}"]
    for d in decoders:
        parts.append(f"{row[f'{d}_before']:7.2%} {row[f'{d}_after']:7.2%} {_rel(row[f'{d}_before'], row[f'{d}_after']):+7.1%}")
    parts.append(f"{row['heldout_before']:6.2%}->{row['heldout_after']:6.2%} {'base' if row['kept_base'] else 'adapted':>7} "
                 f"{row['best_epoch']:>2} {row['wall_s']:6.1f}s (load {row['load']:.1f})")
    return " | ".join(parts)


def table(rows: list[dict], decoders: list[str]) -> str:
    head = [f"{'writer':<14} {'ad':>3} {'read':>4}"] + [f"{d:>6} before   after  change" for d in decoders] + [
        "held-out share     kept  ep   wall"]
    out = [" | ".join(head)] + [_line(r, decoders) for r in rows]
    for group in ("iam-", "ondb-", ""):
        chosen = [r for r in rows if r["writer"].startswith(group)]
        if not chosen:
            continue
        if all(f"{d}_errors_before" in r for r in chosen for d in decoders):
            # Pooled over the writers' lines read: with one to three lines read a writer, the
            # relative change of each says little, their sum more.
            cells = [f"pooled {group or 'all':<7} {'':>3} {sum(r['read_lines'] for r in chosen):>4}"]
            chars = sum(r["read_chars"] for r in chosen)
            for d in decoders:
                before = sum(r[f"{d}_errors_before"] for r in chosen) / chars
                after = sum(r[f"{d}_errors_after"] for r in chosen) / chars
                cells.append(f"{before:7.2%} {after:7.2%} {_rel(before, after):+7.1%}")
            adapted = sum(not r["kept_base"] for r in chosen)
            cells.append(f"{adapted} of {len(chosen)} adapted")
            out.append(" | ".join(cells))
        cells = [f"mean {group or 'all':<9} {'':>3} {'':>4}"]
        for d in decoders:
            changes = [_rel(r[f"{d}_before"], r[f"{d}_after"]) for r in chosen]
            cells.append(f"mean relative change {sum(changes) / len(changes):+7.1%}, worst {max(changes):+6.1%}")
        walls = [r["wall_s"] for r in chosen]
        cells.append(f"wall mean {sum(walls) / len(walls):.0f}s, max {max(walls):.0f}s")
        out.append(" | ".join(cells))
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
