"""Choosing when a line is read a second time: the dense-writing pitch and the body clip.

For each setting (``dense_px_per_char``, ``max_stretch``, ``clip_bodies``; see htr/reading.py)
reads every validation line as the recognizer would with that setting and prints best-path CER
on each set's ``tune`` half (the settings are chosen on it), its ``report`` half and all of it,
with the share of lines read more than once and the share whose second reading was kept.
``off`` reads every line once, as it is.

    python benchmarks/second_readings.py [--model-dir model] [--settings off,16/1.3/0,16/1.3/2 ...]
        [--iam-ondb ../shared/data/iam-ondb] [--iam ../shared/data/iam
        --iam-split ../shared/data/iam/splits/available-dev.txt] [--limit N]
"""

import argparse
import dataclasses
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from htr.train.evaluate import add_validation_set_options  # noqa: E402

# pitch (px per character) / stretch cap / clip (body heights); "off" = 0/1/0.
SETTINGS = ("off,13/1.3/0,15/1.3/0,16/1.3/0,16/1.45/0,17/1.3/0,18/1.3/0,"
            "16/1.3/1.6,16/1.3/2,16/1.3/2.5")


def parse_setting(text: str) -> tuple[float, float, float]:
    if text == "off":
        return 0.0, 1.0, 0.0
    pitch, cap, clip = (float(v) for v in text.split("/"))
    return pitch, cap, clip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_validation_set_options(parser)
    parser.add_argument("--settings", default=SETTINGS, help="comma-separated pitch/cap/clip, or off")
    args = parser.parse_args()

    from htr.decode import decode
    from htr.engine import run_batches
    from htr.recognizer import Recognizer
    from htr.second_reading import clipped_to_body, read_lines, stretch_factor
    from htr.train.evaluate import prepare_validation_sets, rates_by_part

    recognizer = Recognizer.load(args.model_dir)
    config = recognizer.config
    print(f"model {args.model_dir}: its config says dense_px_per_char {config.dense_px_per_char:g}, "
          f"max_stretch {config.max_stretch:g}, clip_bodies {config.clip_bodies:g}")
    prepared_sets = []
    for name, prepared in prepare_validation_sets(config, args.iam_ondb, args.iam, args.iam_split, args.limit):
        first = run_batches(recognizer.engine, prepared.images, config.time_stride)
        prepared_sets.append((name, prepared, first))

    print("\n| pitch / cap / clip | "
          + " | ".join(f"{name}: tune / report / all, read again / kept" for name, *_ in prepared_sets) + " |")
    print("| --- | " + " | ".join("---" for _ in prepared_sets) + " |")
    for text in args.settings.split(","):
        pitch, cap, clip = parse_setting(text)
        rule = dataclasses.replace(config, dense_px_per_char=pitch, max_stretch=cap, clip_bodies=clip)
        cells = []
        for name, prepared, first in prepared_sets:
            again = sum(stretch_factor(image, p, rule) > 1.0 or clipped_to_body(image, rule) is not None
                        for image, p in zip(prepared.images, first))
            read, probs = read_lines(recognizer.engine, rule, prepared.images)
            texts = [config.decode(decode(p, "best").paths[0][0]) for p in probs]
            changed = sum(r.shape != i.shape for r, i in zip(read, prepared.images))
            rates = {part: r.cer for part, r in rates_by_part(prepared.texts, texts, prepared.ids).items()}
            cells.append(f"{100 * rates['tune']:.2f} / {100 * rates['report']:.2f} / **{100 * rates['all']:.2f}** %, "
                         f"{100 * again / max(1, len(texts)):.0f} / {100 * changed / max(1, len(texts)):.0f} %")
        print(f"| {text} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
