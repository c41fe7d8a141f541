"""``python -m htr predict --json`` against Tesseract 5 on the same rendered validation lines.

Renders N lines of the IAM On-Line validation split (canvas look, seeded as in
benchmark.py) to PNG files, then times, in one run and as a user would run them:

- the whole ``python -m htr predict --json FILE ...`` command (start-up included), with its
  peak memory (max RSS of the process);
- Tesseract 5 (``apt-get install tesseract-ocr``) with ``--psm 7`` (one text line), one
  ``tesseract FILE stdout`` process per image, and also one process reading the list of all
  images (Tesseract's fastest way, same readings);

and prints both times, the ratio and both CERs against the transcriptions.

    python benchmarks/vs_tesseract.py [--lines 200] [--decoder lm] [--model-dir model]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

import numpy as np  # noqa: E402

from htr.paths import default_model_dir, iam_ondb_dir  # noqa: E402


def timed(cmd: list[str], **kwargs) -> tuple[float, str, float]:
    """Wall seconds, stdout and peak memory (MB) of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, **kwargs)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, out, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--data", default=str(iam_ondb_dir()))
    parser.add_argument("--model-dir", default=str(default_model_dir()))
    parser.add_argument("--decoder", default="lm", choices=("best", "beam", "lm"))
    parser.add_argument("--runtime", default="auto", choices=("auto", "onnx", "keras"))
    args = parser.parse_args()
    if not shutil.which("tesseract"):
        raise SystemExit("tesseract not found: apt-get install -y tesseract-ocr")

    import cv2

    from htr.datasets import load_dataset
    from htr.metrics import error_rates
    from htr.render import render_strokes

    samples = load_dataset("iam-ondb", args.data, "validation").samples[: args.lines]
    truth = [s.text for s in samples]
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, sample in enumerate(samples):
            path = Path(tmp) / f"line{i:04d}.png"
            cv2.imwrite(str(path), render_strokes(sample.strokes, "canvas", np.random.default_rng(i)))
            paths.append(str(path))

        ours_s, out, ours_mb = timed([sys.executable, "-m", "htr", "predict", "--json", "--model-dir", args.model_dir,
                                      "--decoder", args.decoder, "--runtime", args.runtime, *paths], cwd=ROOT)
        results = [json.loads(line) for line in out.splitlines()]
        ours = [r.get("text", "") for r in results]
        if len(ours) != len(paths):
            raise SystemExit(f"predict printed {len(ours)} results for {len(paths)} images")

        start = time.perf_counter()
        theirs = [subprocess.run(["tesseract", p, "stdout", "--psm", "7"], capture_output=True, text=True).stdout.strip()
                  for p in paths]
        tess_s = time.perf_counter() - start

        listing = Path(tmp) / "images.txt"
        listing.write_text("\n".join(paths) + "\n")
        tess_list_s, out, _ = timed(["tesseract", str(listing), "stdout", "--psm", "7"])
        pages = [page.strip() for page in out.split("\f")][: len(paths)]

    ours_cer, tess_cer = error_rates(truth, ours).cer, error_rates(truth, theirs).cer
    print(f"{len(paths)} rendered IAM On-Line validation lines (canvas look), CPU cores: {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"python -m htr predict --json (decoder {args.decoder}, runtime {args.runtime}): {ours_s:6.2f} s, "
          f"CER {ours_cer:.2%}, peak RSS {ours_mb:.0f} MB")
    print(f"tesseract --psm 7, one process per image:          {tess_s:6.2f} s, CER {tess_cer:.2%}")
    print(f"tesseract --psm 7, one process for the list:       {tess_list_s:6.2f} s, CER "
          f"{error_rates(truth, pages).cer:.2%}")
    print(f"ratio predict / tesseract: {ours_s / tess_s:.3f} (per image), {ours_s / tess_list_s:.3f} (list)")


if __name__ == "__main__":
    main()
