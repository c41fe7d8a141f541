"""Choosing the pitch below which a line is read again stretched (``dense_px_per_char``).

Reads every validation line once, then for each pitch and stretch cap reads the lines the
rule would stretch again, and prints best-path CER on each set's ``tune`` half (the pitch is
chosen on it), its ``report`` half and all of it, with the share of lines read twice.
Pitch 0 is reading every line once, as it is.

    python benchmarks/dense_lines.py [--model-dir model] [--pitches 0,12,13,14,15,16,17,18]
        [--caps 1.3,1.45] [--iam-ondb ../shared/data/iam-ondb] [--iam ../shared/data/iam
        --iam-split ../shared/data/iam/splits/available-dev.txt] [--limit N]
"""

import argparse
import dataclasses
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", default=str(ROOT / "model"))
    parser.add_argument("--iam-ondb", default=str(DATA / "iam-ondb"))
    parser.add_argument("--iam", default=str(DATA / "iam"))
    parser.add_argument("--iam-split", default=str(DATA / "iam" / "splits" / "available-dev.txt"))
    parser.add_argument("--pitches", default="0,12,13,14,15,16,17,18")
    parser.add_argument("--caps", default="1.3,1.45")
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()

    from htr.augment import prepare_set
    from htr.datasets import load_dataset
    from htr.datasets.base import line_part
    from htr.decode import decode
    from htr.engine import run_batches
    from htr.metrics import error_rates
    from htr.reading import stretch_factor, stretch_width
    from htr.recognizer import Recognizer

    recognizer = Recognizer.load(args.model_dir)
    config = recognizer.config
    print(f"model {args.model_dir}: its config says dense_px_per_char {config.dense_px_per_char:g}, "
          f"max_stretch {config.max_stretch:g}")
    sets = [("canvas", "iam-ondb", args.iam_ondb, "validation", "canvas"),
            ("paper", "iam-ondb", args.iam_ondb, "validation", "paper"),
            ("IAM dev", "iam", args.iam, args.iam_split, "canvas")]
    read = []
    for name, dataset, data, split, look in sets:
        lines = load_dataset(dataset, data, split)
        lines.filter_charset(config.charset)
        lines.samples = lines.samples[: args.limit]
        prepared = prepare_set(lines, config.height, config.max_width, look, augment=False,
                               label=f"preparing {name}", min_stride=config.time_stride)
        probs = run_batches(recognizer.engine, prepared.images, config.time_stride)
        read.append((name, prepared, probs, [line_part(i) for i in prepared.ids]))

    def best(p):
        return config.decode(decode(p, "best").paths[0][0])

    grid = [(0.0, 1.0)] + [(float(p), float(c)) for p in args.pitches.split(",") if float(p) > 0
                            for c in args.caps.split(",")]
    print("\n| pitch (px/char) | cap | " + " | ".join(f"{name}: tune / report / all, read twice" for name, *_ in read) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in read) + " |")
    for pitch, cap in grid:
        rule = dataclasses.replace(config, dense_px_per_char=pitch, max_stretch=cap)
        cells = []
        for name, prepared, probs, parts in read:
            texts = [best(p) for p in probs]
            factors = [stretch_factor(im, p, rule) for im, p in zip(prepared.images, probs)]
            again = [i for i, f in enumerate(factors) if f > 1.0]
            wider = [stretch_width(prepared.images[i], factors[i]) for i in again]
            for i, p in zip(again, run_batches(recognizer.engine, wider, config.time_stride)):
                texts[i] = best(p)
            rates = {}
            for part in ("tune", "report", "all"):
                keep = [i for i, q in enumerate(parts) if part == "all" or q == part]
                rates[part] = error_rates([prepared.texts[i] for i in keep], [texts[i] for i in keep]).cer
            cells.append(f"{100 * rates['tune']:.2f} / {100 * rates['report']:.2f} / **{100 * rates['all']:.2f}** %, "
                         f"{100 * len(again) / max(1, len(texts)):.0f} %")
        print(f"| {pitch:g} | {cap:g} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
