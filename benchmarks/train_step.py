"""How fast one training step runs on this machine's CPU, under the settings that speed it up.

Times ``model.train_on_batch`` of the model folder's architecture (random weights and inputs:
the speed does not depend on them) on a batch of ``--batch-size`` lines ``--width`` px wide,
each labelled with 50 characters, in three fresh processes (oneDNN is read once, when
TensorFlow is imported):

1. the CTC loss as ``keras.ops.ctc_loss`` computes it, oneDNN as TensorFlow chooses;
2. the package's loss (TensorFlow's sparse-label CTC kernel on a CPU), oneDNN as TensorFlow chooses;
3. the package's loss with oneDNN on, as ``python -m htr train`` runs it.

    python benchmarks/train_step.py [--model-dir model] [--batch-size 16] [--width 1024] [--steps 5]
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from htr.paths import default_model_dir

ROOT = Path(__file__).resolve().parent.parent

RUNS = (
    ("keras.ops.ctc_loss", "neutral", "0"),
    ("sparse CTC kernel", "package", "0"),
    ("sparse CTC kernel + oneDNN (train)", "package", "1"),
)


def measure(model_dir: str, batch_size: int, width: int, steps: int, loss: str) -> dict:
    """Run inside the timing process: median seconds of a train step after a warm-up step."""
    import statistics
    import time

    import numpy as np

    from htr.config import ModelConfig
    from htr.network import (
        build_model,
        compile_model,
        ctc_targets,
        keras_ctc_loss,
        model_inputs,
    )

    config = ModelConfig.load(Path(model_dir))
    model = compile_model(build_model(config), 1e-4)
    if loss == "neutral":
        model.compile(optimizer=model.optimizer, loss=keras_ctc_loss)
    rng = np.random.default_rng(0)
    x = rng.random((batch_size, config.height, width, 1)).astype(np.float32)
    inputs = model_inputs(x, [width] * batch_size, config.time_stride)
    labels = [list(rng.integers(1, config.num_classes, 50)) for _ in range(batch_size)]
    y = ctc_targets(labels, list(inputs[1]))
    model.train_on_batch(inputs, y)  # traces the step
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(inputs, y)
        times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", default=str(default_model_dir()))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--child", choices=("neutral", "package"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.model_dir, args.batch_size, args.width, args.steps, args.child)))
        return
    print(f"train step, batch {args.batch_size} x {args.width} px, {args.model_dir}, "
          f"CPU cores: {os.cpu_count()}, median of {args.steps} steps")
    base = None
    for name, loss, onednn in RUNS:
        env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=onednn, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
        if onednn == "0":
            env.pop("TF_ENABLE_ONEDNN_OPTS")  # as TensorFlow chooses for this CPU
        out = subprocess.run([sys.executable, __file__, "--child", loss, "--model-dir", args.model_dir,
                              "--batch-size", str(args.batch_size), "--width", str(args.width),
                              "--steps", str(args.steps)], env=env, capture_output=True, text=True, check=True)
        seconds = json.loads(out.stdout.strip().splitlines()[-1])["seconds"]
        base = base or seconds
        print(f"{name:38s} {seconds:6.2f} s a step  {args.batch_size / seconds:5.1f} lines/s  "
              f"x{base / seconds:.2f}")


if __name__ == "__main__":
    main()
