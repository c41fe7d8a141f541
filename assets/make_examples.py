"""Re-create the demo's example images from IAM On-Line validation lines.

    python assets/make_examples.py [--data ../shared/data/iam-ondb]

Each example is one real handwritten line (pen trajectories) rendered in one of the two looks
the model is trained on: ``canvas`` (dark pen on white, like the sketchpad) and ``paper``
(ink on photographed paper). Validation lines only, so the model has never seen them.
"""

import argparse
from pathlib import Path

import cv2
import numpy as np

from htr.datasets import load_dataset
from htr.paths import iam_ondb_dir
from htr.render import render_strokes

HERE = Path(__file__).resolve().parent

# (file name, validation line id, look, rendering seed)
EXAMPLES = [
    ("example-canvas-1.png", "a09-589z-04", "canvas", 1),
    ("example-canvas-2.png", "d09-656z-01", "canvas", 2),
    ("example-paper-1.png", "e09-509z-01", "paper", 1),
    ("example-paper-2.png", "b09-696z-09", "paper", 2),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(iam_ondb_dir()), help="IAM On-Line data folder")
    args = parser.parse_args()
    lines = {s.id: s for s in load_dataset("iam-ondb", args.data, "validation").samples}
    for name, line_id, look, seed in EXAMPLES:
        image = render_strokes(lines[line_id].strokes, look, np.random.default_rng(seed))
        if image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(HERE / name), image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        print(f"{name}: {lines[line_id].text!r} ({look}, {image.shape[1]} x {image.shape[0]})")


if __name__ == "__main__":
    main()
