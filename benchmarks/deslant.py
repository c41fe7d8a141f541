"""Choosing how much of a line's slant to take out before reading it (``deslant``, htr.slant).

For each share reads every validation line as the recognizer would, prepared with that share
of its slant taken out, and prints best-path CER on each set's ``tune`` half (the share is
chosen on it), its ``report`` half and all of it. The model's own share is marked.

    python benchmarks/deslant.py [--model-dir model] [--shares 0,0.5,0.75,1]
        [--iam-ondb ../shared/data/iam-ondb] [--iam ../shared/data/iam
        --iam-split ../shared/data/iam/splits/available-dev.txt] [--limit N]
"""

import argparse
import dataclasses
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from htr.train.evaluate import add_validation_set_options  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_validation_set_options(parser)
    parser.add_argument("--shares", default="0,0.5,0.75,1", help="comma-separated shares of the slant, 0 to 1")
    args = parser.parse_args()

    from htr.decode import decode
    from htr.recognizer import Recognizer
    from htr.second_reading import read_lines
    from htr.train.evaluate import prepare_validation_sets, rates_by_part

    recognizer = Recognizer.load(args.model_dir)
    config = recognizer.config
    print(f"model {args.model_dir}: its config says deslant {config.deslant:g}")
    for index, share in enumerate(float(s) for s in args.shares.split(",")):
        rule = dataclasses.replace(config, deslant=share)
        cells, names = [], []
        for name, prepared in prepare_validation_sets(rule, args.iam_ondb, args.iam, args.iam_split, args.limit):
            _, probs = read_lines(recognizer.engine, rule, prepared.images)
            texts = [config.decode(decode(p, "best").paths[0][0]) for p in probs]
            rates = {part: r.cer for part, r in rates_by_part(prepared.texts, texts, prepared.ids).items()}
            names.append(name)
            cells.append(f"{100 * rates['tune']:.2f} / {100 * rates['report']:.2f} / **{100 * rates['all']:.2f}** %")
        if index == 0:
            print("\n| deslant | " + " | ".join(f"{n}: tune / report / all" for n in names) + " |")
            print("| --- | " + " | ".join("---" for _ in names) + " |")
        mark = " (the model's)" if share == config.deslant else ""
        print(f"| {share:g}{mark} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
