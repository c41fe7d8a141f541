"""Character error rate of the shipped model on hard inputs, against the same lines clean.

    python benchmarks/robustness.py [--data ../shared/data/iam-ondb] [--lines 200] [--save-examples DIR]

Each case (see htr/stress.py) turns the same validation lines into another kind of picture:
big or wide canvases with a 3-8 px brush, small and large writing, rotation, off-white
paper, an unevenly lit photo. Prints CER per case and its ratio to the clean figure.
"""

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from htr.paths import default_model_dir, iam_ondb_dir  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(iam_ondb_dir()))
    parser.add_argument("--model-dir", default=str(default_model_dir()))
    parser.add_argument("--lines", type=int, default=200, help="validation lines per case")
    parser.add_argument("--decoder", default="best")
    parser.add_argument("--save-examples", help="write the first line of every case as PNG here")
    args = parser.parse_args()

    import cv2

    from htr import Recognizer
    from htr.datasets import load_dataset
    from htr.metrics import error_rates
    from htr.progress import Progress
    from htr.synth.stress import CASES, stressed

    recognizer = Recognizer.load(args.model_dir)
    lines = load_dataset("iam-ondb", args.data, "validation", progress=False)
    lines.filter_charset(recognizer.config.charset)
    samples = lines.samples[: args.lines]
    texts = [s.text for s in samples]
    print(f"{len(samples)} validation lines, decoder {args.decoder}, model {args.model_dir}")
    print(f"{'case':<27} {'CER':>7} {'WER':>7} {'x clean':>8} {'s':>6}")
    clean_cer = None
    for case in CASES:
        t0 = time.perf_counter()
        progress = Progress(len(samples), case)
        images = []
        for index, sample in enumerate(samples):
            images.append(stressed(sample.strokes, case, index))
            progress.update()
        progress.close()
        if args.save_examples:
            out = Path(args.save_examples)
            out.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out / f"{case}.png"), cv2.cvtColor(images[0], cv2.COLOR_RGB2BGR) if images[0].ndim == 3 else images[0])
        predictions = [r.text for r in recognizer.recognize_batch(images, args.decoder)]
        rates = error_rates(texts, predictions)
        clean_cer = rates.cer if clean_cer is None else clean_cer
        print(f"{case:<27} {rates.cer:7.2%} {rates.wer:7.2%} {rates.cer / max(clean_cer, 1e-9):8.2f} "
              f"{time.perf_counter() - t0:6.1f}", flush=True)


if __name__ == "__main__":
    main()
