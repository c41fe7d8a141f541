"""Shared fixtures, and the test tiers (docs/testing.md).

Data: the licensed data sets live in ``HTR_DATA`` (default ``../shared/data`` beside the
repository, see :mod:`htr.paths`). Without them, the fixtures below fall back to the handful of
real lines shipped in ``tests/fixtures/`` (10 IAM On-Line pen trajectories, 10 IAM line images,
in the data sets' own layouts), so the core still runs; tests that need whole splits skip with
the reason.

Tiers: every test is marked here, by file and by the fixtures it uses: ``browser``
(``test_*_browser.py``), ``training`` (needs the training extra: trains, exports or runs
Keras), ``needs_data`` (uses the data fixtures; it reads the shipped lines when the data sets
are absent) and ``slow``. The quick loop, ``python -m pytest -q -m "not browser and not
training"``, imports neither Keras nor TensorFlow.
"""

import socket
from pathlib import Path

import numpy as np
import pytest

from htr.paths import data_dir
from htr.tf_env import configure_tensorflow

configure_tensorflow(training=True)  # the tests train small models

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
DATA = data_dir()
REAL_ONDB = DATA / "iam-ondb"
REAL_IAM = DATA / "iam"
HAVE_ONDB = (REAL_ONDB / "splits" / "validation.txt").is_file()
HAVE_IAM = (REAL_IAM / "lines").is_dir()
# The data sets where present, else the shipped handful in the same layout.
ONDB = REAL_ONDB if HAVE_ONDB else FIXTURES / "iam-ondb"
IAM = REAL_IAM if HAVE_IAM else FIXTURES / "iam"
MODEL_DIR = ROOT / "model"
# One writer's shipped lines and their texts: what the adaptation tests teach the model
# (a03-011-05, not listed, is a further line of the same writer to read).
WRITER_LINES = FIXTURES / "iam" / "lines" / "a03" / "a03-011"
WRITER_TEXTS = {
    "a03-011-00": "But he now feels, in view of a changed international",
    "a03-011-02": "the new and independent countries of Africa, that the",
    "a03-011-03": "time is ripe to have more frequent consultations between",
    "a03-011-04": "the uncommitted countries and even to work out common",
}
NO_ONDB = f"needs the whole IAM On-Line validation split (licensed data, not found at {REAL_ONDB}; set HTR_DATA)"
NO_IAM = f"needs the IAM line images (licensed data, not found at {REAL_IAM}; set HTR_DATA)"

# Tiers by file; training tests elsewhere (training, export, Keras) are named below by node id prefix.
BROWSER_FILES = ("test_app_browser.py", "test_app_page_browser.py", "test_dashboard_browser.py", "test_teach_browser.py")
TRAINING_FILES = ("test_training.py", "test_distributed.py", "test_widening.py", "test_scan_augment.py",
                  "test_adapt_training.py")
TRAINING_TESTS = (
    "test_dashboard.py::test_train_from_the_page_then_resume_and_stop",
    "test_dashboard.py::test_train_on_two_data_sets_from_the_page",
    "test_dashboard.py::test_fine_tuning_options_reach_the_training_command",
    "test_dashboard.py::test_use_a_trained_model_and_install_it_for_the_app",
    # Keras and TensorFlow without training: export, the Keras engine, the fallback to it.
    "test_onnx.py::test_shipped_model_runs_on_onnx_and_matches_keras",
    "test_onnx.py::test_stale_onnx_is_ignored_with_a_warning_until_exported",
    "test_onnx.py::test_int8_export_reads_lines_as_the_float_graph",
    "test_cli.py::test_corrupt_weights_and_training_without_data_give_clear_errors",
    "test_dashboard.py::test_no_model_or_a_broken_model_is_an_error_on_the_page",
    # Training data rendered in worker processes (htr.train.augment), as training runs it.
    "test_datasets.py::test_rendering_in_processes_matches_threads",
    # The dashboard's training jobs (htr.train.jobs): refused requests, ended and lost processes.
    "test_dashboard.py::test_train_refuses_bad_requests",
    "test_dashboard.py::test_ended_and_stopped_jobs_leave_no_zombies",
    "test_dashboard.py::test_job_state_survives_a_lost_process",
)
# Tests that take more real lines than the shipped handful from ondb_validation: they skip
# without the data sets (a test can instead ask for ondb_split, which says so itself).
WHOLE_SPLIT_TESTS = (
    "test_app.py::test_api_reads_a_page",
    "test_app_browser.py::",
    "test_distributed.py::test_two_devices_train_as_one_and_resume",
    "test_distributed.py::test_two_processes_write_one_run",
    "test_training.py::test_tiny_model_overfits_a_few_real_lines",
    "test_training.py::test_two_sources_train_validate_each_and_resume",
)
DATA_FIXTURES = {"ondb_validation", "ondb_split", "iam_dev_forms", "iam_split", "folder_dataset"}
SLOW_FILES = ("test_fuzz.py",)


# Inputs the fuzzing generates per target (tests/test_fuzz.py): the whole suite tries 500, the
# quick loop (any run that leaves the browser tests out) 100, which keeps it under 3 minutes.
FUZZ_CASES = {"full": 500, "quick": 100}
fuzz_cases = FUZZ_CASES["full"]


def pytest_configure(config):
    global fuzz_cases
    quick = "not browser" in (config.getoption("markexpr") or "")
    fuzz_cases = FUZZ_CASES["quick" if quick else "full"]


def pytest_collection_modifyitems(config, items):
    for item in items:
        name = item.path.name
        node = f"{name}::{item.name}"
        if name in BROWSER_FILES:
            item.add_marker(pytest.mark.browser)
        if name in TRAINING_FILES or node.startswith(TRAINING_TESTS):
            item.add_marker(pytest.mark.training)
        if DATA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.needs_data)
        if not HAVE_ONDB and node.startswith(WHOLE_SPLIT_TESTS):
            item.add_marker(pytest.mark.needs_data)
            item.add_marker(pytest.mark.skip(reason=NO_ONDB))
        if name in SLOW_FILES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def ondb_validation():
    """Real IAM On-Line validation lines, loaded once: the whole split where the data is present,
    else the 10 shipped lines (the split's first lines of three forms)."""
    from htr.datasets import load_dataset

    return load_dataset("iam-ondb", ONDB, "validation")


@pytest.fixture(scope="session")
def ondb_split(ondb_validation):
    """The whole IAM On-Line validation split (1,120 lines): skips without the data."""
    if not HAVE_ONDB:
        pytest.skip(NO_ONDB)
    return ondb_validation


@pytest.fixture(scope="session")
def iam_split():
    """The real IAM available-dev lines (355 scanned lines of 21 unseen writers): skips without the data."""
    if not HAVE_IAM:
        pytest.skip(NO_IAM)
    from htr.datasets import load_dataset

    return load_dataset("iam", REAL_IAM, str(REAL_IAM / "splits" / "available-dev.txt"))


@pytest.fixture(scope="session")
def iam_dev_forms():
    """The real IAM available-dev lines grouped by form (lines with a box in lines.txt), and
    the boxes: the material of stacked test pages, loaded once (without the data: the shipped
    lines of two forms)."""
    from htr.datasets import load_dataset
    from htr.synth.pages import group_forms, read_line_boxes

    dev = load_dataset("iam", IAM, str(IAM / "splits" / "available-dev.txt"))
    boxes = read_line_boxes(IAM)
    return list(group_forms([s for s in dev.samples if s.id in boxes]).values()), boxes


@pytest.fixture(scope="session")
def recognizer():
    from htr import Recognizer

    return Recognizer.load(MODEL_DIR)


def free_port() -> int:
    """A loopback port nothing listens on, for servers the tests start."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_png(path: Path, image: np.ndarray) -> Path:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), image)
    return path


@pytest.fixture
def folder_dataset(tmp_path, ondb_validation):
    """A plain-folder data set of rendered real lines (12, or the 10 shipped), train/validation lists included."""
    from htr.render import render_strokes

    root = tmp_path / "lines"
    rows = []
    samples = (ondb_validation.samples * 2)[:12]  # the shipped 10 lines, two of them twice
    for i, sample in enumerate(samples):
        name = f"line{i:02d}.png"
        write_png(root / name, render_strokes(sample.strokes, "canvas"))
        rows.append(f"{name}\t{sample.text}")
    (root / "labels.tsv").write_text("\n".join(rows) + "\n")
    (root / "train.tsv").write_text("\n".join(rows[:8]) + "\n")
    (root / "validation.tsv").write_text("\n".join(rows[8:]) + "\n")
    return root
