"""Data-parallel training (keras.distribution on JAX): several devices compute what one does, a
run of several processes writes one run folder, and a layout that cannot work is refused."""

import csv
import os
import subprocess
import sys

import pytest
from conftest import ROOT, free_port, write_png

pytest.importorskip("jax")

# A tiny model on 8 short lines, batches of 4: two steps an epoch. Threads render (no worker
# processes to start). Compiling dominates runs this short, so XLA compiles with little
# optimisation (the same for every run compared) and the runs of a test share a compilation cache.
TINY = ["--dataset", "folder", "--batch-size", "4", "--lstm-units", "16", "--conv-filters", "8,8,16,16,16",
        "--workers", "1"]


@pytest.fixture(scope="module")
def short_lines(tmp_path_factory, ondb_validation):
    """12 real lines 280-380 px wide once preprocessed: every batch pads to one width, so each
    run compiles its train and validation steps once."""
    from htr.preprocess import preprocess
    from htr.render import render_strokes

    root = tmp_path_factory.mktemp("short-lines")
    rows = []
    for sample in sorted(ondb_validation.samples, key=lambda s: len(s.text))[30:]:
        image = render_strokes(sample.strokes, "canvas")
        if 280 <= preprocess(image, 64).shape[1] <= 380:
            write_png(root / f"line{len(rows):02d}.png", image)
            rows.append(f"line{len(rows):02d}.png\t{sample.text}")
        if len(rows) == 12:
            break
    (root / "train.tsv").write_text("\n".join(rows[:8]) + "\n")
    (root / "validation.tsv").write_text("\n".join(rows[8:]) + "\n")
    (root / "labels.tsv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def jax_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("jax-cache")


def jax_env(cache, devices: int = 1) -> dict:
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONUNBUFFERED": "1",
           "JAX_COMPILATION_CACHE_DIR": str(cache), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
           "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices} --xla_backend_optimization_level=0 "
                        "--xla_llvm_disable_expensive_passes=true"}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return {**env, "JAX_PLATFORMS": "cpu"}


def train_cmd(data, model_dir, *extra) -> list[str]:
    return [sys.executable, "-m", "htr", "train", "--data", str(data), "--model-dir", str(model_dir), *TINY, *extra]


def history(model_dir) -> list[dict]:
    with open(model_dir / "history.csv") as handle:
        return list(csv.DictReader(handle))


def finish(proc: subprocess.Popen, timeout: int = 600) -> tuple[str, str]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return out, err


def test_two_devices_train_as_one_and_resume(tmp_path, short_lines, jax_cache):
    """Same seed, same data, same global batch: the losses on two devices are those on one, and
    a two-device run resumed from its checkpoint carries on exactly as the uninterrupted one."""
    one, two = tmp_path / "one", tmp_path / "two"
    popen = dict(cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    single = subprocess.Popen(train_cmd(short_lines, one, "--epochs", "2"), env=jax_env(jax_cache, 1), **popen)
    spread = subprocess.Popen(train_cmd(short_lines, two, "--epochs", "1", "--distribute"),
                              env=jax_env(jax_cache, 2), **popen)
    finish(single)
    out, _ = finish(spread)
    assert "data-parallel over 2 CPU devices: 4 lines per batch, 2 per device" in out
    resumed = subprocess.run(train_cmd(short_lines, two, "--epochs", "2", "--distribute", "--resume"),
                             env=jax_env(jax_cache, 2), capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming" in resumed.stdout
    alone, shared = history(one), history(two)
    assert [row["epoch"] for row in shared] == ["1", "2"]
    for a, b in zip(alone, shared, strict=True):
        assert float(b["loss"]) == pytest.approx(float(a["loss"]), rel=1e-3)
        assert float(b["val_cer"]) == pytest.approx(float(a["val_cer"]), abs=0.02)
    assert float(alone[0]["loss"]) != pytest.approx(float(alone[1]["loss"]), rel=1e-3)  # it did learn


def test_two_processes_write_one_run(tmp_path, short_lines, jax_cache):
    """Two processes (one CPU device each) joined by a loopback coordinator train one epoch:
    both finish, and only process 0 writes a checkpoint, a history and the model."""
    address = f"127.0.0.1:{free_port()}"
    runs = [tmp_path / "process0", tmp_path / "process1"]  # separate folders, as on separate hosts
    procs = [subprocess.Popen(train_cmd(short_lines, runs[i], "--epochs", "1", "--coordinator", address,
                                        "--num-processes", "2", "--process-id", str(i)),
                              env=jax_env(jax_cache, 1), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
             for i in (0, 1)]
    try:
        outs = [finish(proc)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert "data-parallel over 2 CPU devices in 2 processes" in outs[0] and "done: 1 epochs" in outs[0]
    assert "epoch 1/1" not in outs[1] and "done:" not in outs[1]  # process 1 trains quietly
    assert [row["epoch"] for row in history(runs[0])] == ["1"]
    assert sorted(p.name for p in (runs[0] / "checkpoints").iterdir()) == ["epoch-0001", "latest"]
    assert (runs[0] / "model.weights.h5").is_file()
    assert not runs[1].exists()


def test_a_layout_that_cannot_work_is_refused(tmp_path, short_lines, jax_cache, capsys):
    from htr.cli import main
    from htr.errors import DistributionError
    from htr.train.distributed import Parallel

    with pytest.raises(DistributionError, match="does not split over 4 devices: use a multiple of 4 \\(e.g. 28 or 32\\)"):
        Parallel(devices=4).process_batch(30)
    assert Parallel(devices=4, processes=2).process_batch(32) == 16
    # The tests run under TensorFlow: no JAX, no distribution.
    import keras

    if keras.backend.backend() != "jax":
        assert main(["train", "--data", str(short_lines), "--model-dir", str(tmp_path / "tf"), "--distribute"]) == 2
        assert "needs the JAX backend" in capsys.readouterr().err
    half = main(["train", "--data", str(short_lines), "--model-dir", str(tmp_path / "half"), "--coordinator",
                 "127.0.0.1:1"])
    assert half == 2 and "need all of --coordinator, --num-processes and --process-id" in capsys.readouterr().err
    lone = subprocess.run(train_cmd(short_lines, tmp_path / "lone", "--distribute"), env=jax_env(jax_cache, 1),
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert lone.returncode == 2 and "found one device" in lone.stderr and "Traceback" not in lone.stderr
    assert not (tmp_path / "lone").exists() and not (tmp_path / "half").exists()


def test_a_process_renders_its_share_as_the_whole_set_would(ondb_validation):
    """Each process renders every Nth line of an epoch, augmented as that line is in one process."""
    import numpy as np

    from htr.datasets.base import LineSet
    from htr.train.augment import prepare_set
    from htr.train.distributed import Parallel

    samples = ondb_validation.samples[:6]
    whole = prepare_set(LineSet("training", list(samples)), 64, 2048, seed=5, epoch=3, workers=2)
    places = Parallel(devices=2, processes=2, index=1).share(len(samples))
    share = prepare_set(LineSet("training", [samples[i] for i in places]), 64, 2048, seed=5, epoch=3, workers=2,
                        places=places)
    assert places == [1, 3, 5] and share.ids
    rendered = dict(zip(whole.ids, whole.images, strict=True))
    for line_id, image in zip(share.ids, share.images, strict=True):
        np.testing.assert_array_equal(image, rendered[line_id])
    unplaced = prepare_set(LineSet("training", [samples[i] for i in places]), 64, 2048, seed=5, epoch=3, workers=2)
    assert any(a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(unplaced.images, share.images))
