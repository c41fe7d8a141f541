"""How fast smaller networks would read, before anyone spends GPU time training them.

Builds each candidate architecture with random weights (speed does not depend on the weights),
exports it to ONNX exactly as ``python -m htr export`` does, and times the network alone on
ONNX Runtime: one line (p50 over ``--runs`` calls) and batches of 16 lines, all ``--width``
pixels wide (a typical canvas line is 500-800 px at 64 px high). Preprocessing and decoding
add about 2-4 ms a line on top (``benchmarks/benchmark.py`` measures the whole path).

    python benchmarks/architectures.py [--width 704] [--runs 40]
        [--candidate NAME=conv:32,64,96,128,160/lstm:160/layers:2 ...]
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

# The shipped architecture first, then ever smaller ones.
CANDIDATES = {
    "shipped": "conv:32,64,96,128,160/lstm:160/layers:2",
    "half convolutions": "conv:16,32,48,64,80/lstm:160/layers:2",
    "half convolutions, LSTM 128": "conv:16,32,48,64,80/lstm:128/layers:2",
    "half convolutions, one LSTM layer": "conv:16,32,48,64,80/lstm:160/layers:1",
    "shipped convolutions, LSTM 96": "conv:32,64,96,128,160/lstm:96/layers:2",
    "half convolutions, LSTM 96": "conv:16,32,48,64,80/lstm:96/layers:2",
    "half convolutions, one LSTM layer of 128": "conv:16,32,48,64,80/lstm:128/layers:1",
}


def parse_candidate(spec: str) -> dict:
    """``conv:16,32,48,64,80/lstm:96/layers:2`` -> ModelConfig overrides."""
    fields = dict(part.split(":", 1) for part in spec.split("/"))
    unknown = set(fields) - {"conv", "lstm", "layers"}
    if unknown:
        raise SystemExit(f"unknown field(s) {sorted(unknown)} in {spec!r}; use conv:, lstm:, layers:")
    overrides = {}
    if "conv" in fields:
        overrides["conv_filters"] = tuple(int(f) for f in fields["conv"].split(","))
    if "lstm" in fields:
        overrides["lstm_units"] = int(fields["lstm"])
    if "layers" in fields:
        overrides["lstm_layers"] = int(fields["layers"])
    return overrides


def network_gflop(config, width: int) -> float:
    """Multiply-adds x 2 of one line ``width`` px wide: convolutions, projection, LSTMs, output."""
    h, w, channels, macs = config.height, width, 1, 0
    for filters, (pool_h, pool_w) in zip(config.conv_filters, config.pools):
        macs += h * w * 9 * channels * filters
        channels = filters
        h, w = h // pool_h, w // pool_w
    units = config.lstm_units
    macs += w * h * channels * units  # projection
    inputs = units
    for _ in range(config.lstm_layers):
        macs += 2 * w * 4 * units * (inputs + units)  # two directions, four gates
        inputs = 2 * units
    macs += w * inputs * config.num_classes
    return 2 * macs / 1e9


def measure(name: str, overrides: dict, width: int, runs: int) -> dict:
    from htr.config import WEIGHTS_FILE, ModelConfig
    from htr.engine import load_engine
    from htr.export import export_onnx
    from htr.network import build_model

    config = ModelConfig(**overrides)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        model = build_model(config)
        config.save(folder)
        model.save_weights(str(folder / WEIGHTS_FILE))
        export_onnx(folder, config)
        engine = load_engine(folder, config, "onnx")
        rng = np.random.default_rng(0)
        one = rng.random((1, config.height, width, 1), np.float32)
        for _ in range(5):
            engine.logits(one, [width])
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            engine.logits(one, [width])
            times.append(time.perf_counter() - start)
        batch = rng.random((16, config.height, width, 1), np.float32)
        engine.logits(batch, [width] * 16)
        start = time.perf_counter()
        rounds = max(2, runs // 8)
        for _ in range(rounds):
            engine.logits(batch, [width] * 16)
        throughput = 16 * rounds / (time.perf_counter() - start)
    return {"name": name, "params": model.count_params(), "gflop": network_gflop(config, width),
            "p50_ms": 1000 * float(np.median(times)), "lines_per_s": throughput}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=int, default=704, help="line width in pixels at 64 px high")
    parser.add_argument("--runs", type=int, default=40, help="single-line calls timed per candidate")
    parser.add_argument("--candidate", action="append", metavar="NAME=SPEC",
                        help="measure this instead of the built-in list, e.g. small=conv:16,32,48,64,80/lstm:96")
    args = parser.parse_args()
    candidates = dict(c.split("=", 1) for c in args.candidate) if args.candidate else CANDIDATES
    print(f"network alone on ONNX Runtime, random weights, lines {args.width} px wide")
    print(f"| architecture | parameters | GFLOP / line | one line p50 | batch 16 |")
    print("| --- | --- | --- | --- | --- |")
    for name, spec in candidates.items():
        r = measure(name, parse_candidate(spec), args.width, args.runs)
        print(f"| {name} (`{spec}`) | {r['params'] / 1e6:.2f} M | {r['gflop']:.2f} | {r['p50_ms']:.1f} ms "
              f"| {r['lines_per_s']:.0f} lines/s |", flush=True)


if __name__ == "__main__":
    main()
