"""Speed and memory of the shipped model on this machine's CPU.

Prints start-up time (a fresh ``python -m htr predict`` process, from its start to its first
result on stdout), single-line latency (p50/p95) through ``Recognizer.recognize`` —
preprocessing, model and decoding — for best path, beam search and language-model decoding,
the decoding step alone for each, batched throughput, model load time (the language model
included) and peak memory. Lines are rendered from the IAM On-Line validation split.
``--runtime keras`` measures the Keras path, ``--threads`` ONNX Runtime's threads per call.

    python benchmarks/benchmark.py [--model-dir model] [--data ../shared/data/iam-ondb] [--lines 100]
        [--runtime auto|onnx|keras] [--threads N]
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from htr.decode import BEAM_WIDTH  # noqa: E402
from htr.paths import default_model_dir, iam_ondb_dir  # noqa: E402

import numpy as np  # noqa: E402


def percentile_ms(times, q):
    return 1000 * float(np.percentile(times, q))


def startup_seconds(model_dir: str, runtime: str, image_path: str, decoder: str) -> float:
    """Wall time from starting ``python -m htr predict`` to its first result line on stdout."""
    root = Path(__file__).resolve().parent.parent
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "htr", "predict", image_path, "--json", "--model-dir", model_dir,
                             "--runtime", runtime, "--decoder", decoder], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    seconds = time.perf_counter() - start
    proc.wait()
    if '"text"' not in line:
        raise SystemExit(f"predict gave no result: {line!r}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-dir", default=str(default_model_dir()))
    parser.add_argument("--data", default=str(iam_ondb_dir()))
    parser.add_argument("--lines", type=int, default=100)
    parser.add_argument("--look", default="canvas")
    parser.add_argument("--runtime", choices=("auto", "onnx", "keras"), default="auto")
    parser.add_argument("--threads", type=int, help="ONNX Runtime threads per call (default: the package's)")
    parser.add_argument("--startup-runs", type=int, default=5)
    args = parser.parse_args()
    if args.threads:
        os.environ["HTR_THREADS"] = str(args.threads)

    from htr.datasets import load_dataset
    from htr.render import render_strokes

    lines = load_dataset("iam-ondb", args.data, "validation").samples[: args.lines]
    images = [render_strokes(s.strokes, args.look, np.random.default_rng(i)) for i, s in enumerate(lines)]

    import cv2

    with tempfile.TemporaryDirectory() as tmp:
        first = str(Path(tmp) / "line.png")
        cv2.imwrite(first, images[0])
        startups = {decoder: [startup_seconds(args.model_dir, args.runtime, first, decoder)
                              for _ in range(args.startup_runs)] for decoder in ("best", "lm")}
    start = time.perf_counter()
    from htr import Recognizer

    recognizer = Recognizer.load(args.model_dir, args.runtime)
    load_seconds = time.perf_counter() - start

    runtime = recognizer.runtime
    if getattr(recognizer.engine, "quantized", "none") != "none":
        runtime += f" ({recognizer.engine.quantized} weights)"
    if recognizer.runtime == "onnx":
        runtime += f", {os.environ.get('HTR_THREADS', 'default')} thread(s) per call"
    print(f"model: {args.model_dir}  ({recognizer.engine.count_params():,} numbers in the graph), runtime: {runtime}")
    print(f"lines: {len(images)} rendered validation lines, {args.look} look, CPU cores: {os.cpu_count()}")
    for decoder, runs in startups.items():
        print(f"start-up, process start to first result (predict, {decoder}): median {statistics.median(runs):.2f} s "
              f"(min {min(runs):.2f}, max {max(runs):.2f}, {len(runs)} runs)")
    print(f"load time in process (imports + network + language model + warm-up): {load_seconds:.2f} s")
    if recognizer.lm is None:
        print(f"no language model: {recognizer.lm_error} (lm falls back to beam search)")
    decoders = ("best", "beam", "lm")
    for decoder in decoders:
        for image in images[:5]:
            recognizer.recognize(image, decoder=decoder)  # warm every code path
    # Decoders take turns on each line, so a shared machine's changing load falls on all alike.
    times: dict[str, list[float]] = {d: [] for d in decoders}
    for i, image in enumerate(images):
        for decoder in decoders[i % 3:] + decoders[: i % 3]:
            t0 = time.perf_counter()
            recognizer.recognize(image, decoder=decoder, beam_width=BEAM_WIDTH, top_k=5)
            times[decoder].append(time.perf_counter() - t0)
    # Other processes' load inflates every figure: compare runs made at a load well under 1.
    print(f"load average after the single-line runs: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
    for decoder in decoders:
        print(f"single line, {decoder:4s}: p50 {percentile_ms(times[decoder], 50):6.1f} ms   "
              f"p95 {percentile_ms(times[decoder], 95):6.1f} ms")
    from htr.decode import decode

    matrices = [r.probabilities for r in recognizer.recognize_batch(images)]
    for decoder in decoders:
        if decoder == "lm" and recognizer.lm is None:
            continue
        times = []
        for probs in matrices:
            t0 = time.perf_counter()
            decode(probs, decoder, 16, 5, lm=recognizer.lm)
            times.append(time.perf_counter() - t0)
        print(f"decoding alone, {decoder:4s}: p50 {percentile_ms(times, 50):6.1f} ms   p95 {percentile_ms(times, 95):6.1f} ms")
    prepared = [recognizer.prepare(image) for image in images]
    for batch_size in (16, 32):
        t0 = time.perf_counter()
        recognizer.probabilities(prepared, batch_size)
        network = time.perf_counter() - t0
        t0 = time.perf_counter()
        recognizer.recognize_batch(images, batch_size=batch_size)
        seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in recognizer.recognize_stream(images, batch_size=batch_size):
            pass
        streamed = time.perf_counter() - t0
        print(f"batched (best path, batch {batch_size}): network alone {len(images) / network:6.1f} lines/s, "
              f"recognize_batch {len(images) / seconds:6.1f} lines/s, recognize_stream (reading in 2 threads) "
              f"{len(images) / streamed:6.1f} lines/s")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS, this process): {peak_mb:.0f} MB")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
