"""The Streamlit dashboard, driven by Streamlit's app tester: each tab on known inputs, bad inputs."""

import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, HAVE_ONDB, MODEL_DIR, ONDB, REAL_ONDB, ROOT, write_png

APP = str(ROOT / "dashboard.py")
EXAMPLES = sorted((ROOT / "assets").glob("example*.png"))


def needs_data(test):
    """A test that needs whole splits of the licensed IAM On-Line data (training needs its train
    split, which the lines shipped in tests/fixtures/ lack): skipped, saying why, where it is absent."""
    reason = f"needs the IAM On-Line train split (licensed data, not found at {REAL_ONDB}; set HTR_DATA)"
    return pytest.mark.needs_data(pytest.mark.skipif(not HAVE_ONDB, reason=reason)(test))


@pytest.fixture(autouse=True)
def jobs_dir(tmp_path, monkeypatch):
    """Each test remembers its training jobs in its own folder, never in the repository's runs/."""
    folder = tmp_path / "jobs"
    monkeypatch.setenv("HTR_JOBS_DIR", str(folder))
    return folder


def app():
    """A fresh page, as a new visitor (or a reload) gets it."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    return at


def errors(at) -> list[str]:
    return [e.value for e in at.error]


def captions(at) -> str:
    return "\n".join(c.value for c in at.caption)


def frame_with(at, column):
    frames = [d.value for d in at.dataframe if column in d.value.columns]
    assert frames, f"no table with a {column!r} column"
    return frames[0]


def button(at, label):
    return next(b for b in at.button if b.label == label)


# --- Inspect ------------------------------------------------------------------------------


@pytest.mark.skipif(not EXAMPLES, reason="no example images in assets/")
def test_inspect_shows_the_models_matrix_for_an_example(recognizer):
    at = app()
    expected = recognizer.recognize(EXAMPLES[0], decoder="lm", beam_width=16, top_k=5, correct=True)
    assert not at.checkbox(key="inspect_correct").value  # off by default, as in the app
    assert not any("corrected" in d.value.columns for d in at.dataframe)
    at.checkbox(key="inspect_correct").check().run()
    steps, classes = expected.probabilities.shape
    assert steps == math.ceil(expected.image.shape[1] / expected.time_stride)
    assert classes == len(expected.labels) == 80
    assert f"T x C = {steps} x {classes} " in captions(at)
    assert at.code[0].value == expected.text
    assert at.metric[0].label == "Confidence" and at.metric[0].value == f"{expected.confidence:.1%}"
    table = frame_with(at, "corrected")
    assert list(table["rank"]) == list(range(1, len(expected.alternatives) + 1))
    assert list(table["text"]) == [a.text for a in expected.alternatives]
    assert list(table["combined score"]) == pytest.approx([a.score for a in expected.alternatives], abs=1e-3)
    assert list(table["combined score"]) == sorted(table["combined score"], reverse=True)
    assert list(table["network log-prob"]) == pytest.approx([a.log_prob for a in expected.alternatives], abs=1e-3)
    assert list(table["language model"]) == pytest.approx(
        [a.score - a.log_prob for a in expected.alternatives], abs=2e-3)
    assert len(at.get("image")) >= 1  # the ink map over its heatmap
    assert not errors(at)
    # The language model's reading beside best path's, what it changed marked.
    side_by_side = [m.value for m in at.markdown if "Best path (letters alone)" in m.value]
    assert len(side_by_side) == 1 and "Language model (words)" in side_by_side[0]

    # The best-path decoder reads the same matrix and gives one reading.
    at.selectbox(key="inspect_decoder").set_value("best").run()
    assert f"T x C = {steps} x {classes} " in captions(at)
    assert len(frame_with(at, "text")) == 1


def test_inspect_a_data_set_line(ondb_validation, tmp_path):
    at = app()
    at.radio(key="inspect_source").set_value("Data set line").run()
    at.text_input(key="inspect_path").set_value(str(ONDB))
    at.number_input(key="inspect_index").set_value(2).run()
    assert not at.exception and not errors(at)
    sample = ondb_validation.samples[2]
    assert sample.id in captions(at)
    assert any(m.label == "Line CER" for m in at.metric)
    assert any("truth" in m.value for m in at.markdown)  # truth and reading, differences marked

    # Out of range, and a data folder that does not exist: clear messages.
    at.number_input(key="inspect_index").set_value(99_999).run()
    assert any("out of range" in e for e in errors(at))
    at.number_input(key="inspect_index").set_value(0)
    at.text_input(key="inspect_path").set_value(str(tmp_path / "nowhere")).run()
    assert any("data folder not found" in e for e in errors(at))
    assert not at.exception


def test_inspect_uploads(recognizer, tmp_path):
    """Uploads: a real line, a file that is no image, a blank page (no data set needed)."""
    at = app()
    at.radio(key="inspect_source").set_value("Upload").run()
    if EXAMPLES:
        expected = recognizer.recognize(EXAMPLES[0], decoder="lm")
        at.file_uploader(key="inspect_upload").set_value((EXAMPLES[0].name, EXAMPLES[0].read_bytes(), "image/png")).run()
        assert not errors(at)
        assert f"T x C = {expected.probabilities.shape[0]} x 80 " in captions(at)
        assert at.code[0].value == expected.text
    at.file_uploader(key="inspect_upload").set_value(("notes.png", b"this is not an image", "image/png")).run()
    assert any("not a readable image" in e for e in errors(at))
    blank = write_png(tmp_path / "blank.png", np.full((80, 400), 255, np.uint8))
    at.file_uploader(key="inspect_upload").set_value(("blank.png", blank.read_bytes(), "image/png")).run()
    assert any("no handwriting" in e for e in errors(at))
    assert not at.exception


# --- Validate -----------------------------------------------------------------------------


@pytest.mark.skipif(not EXAMPLES, reason="no example images in assets/")
def test_evaluate_recognizer_scores_as_evaluate_and_reports_progress(recognizer):
    """What the Validate tab calls: the command line's figures, and progress it can draw."""
    from htr.train.evaluate import evaluate, evaluate_recognizer

    images = [recognizer.prepare(path) for path in EXAMPLES]
    references = ["a line of handwriting"] * len(images)
    ids = [path.stem for path in EXAMPLES]
    calls = []
    result = evaluate_recognizer(recognizer, images, references, ids, "lm",
                                 on_progress=lambda done, total, stage: calls.append((done, total, stage)))
    expected = evaluate(recognizer.engine, recognizer.config, images, references, ids, "lm", lm=recognizer.lm)
    assert result == expected and result.decoder == "lm"
    n = len(images)
    assert [c for c in calls if c[2] == "reading"][-1] == (n, n, "reading") and calls[-1] == (n, n, "decoding")
    assert [c[0] for c in calls if c[2] == "decoding"] == sorted(c[0] for c in calls if c[2] == "decoding")


def run_validation(at, path, limit=8, look="canvas", decoders=("best",), dataset="iam-ondb"):
    at.selectbox(key="val_dataset").set_value(dataset)
    at.text_input(key="val_path").set_value(str(path))
    at.selectbox(key="val_look").set_value(look)
    at.multiselect(key="val_decoders").set_value(list(decoders))
    at.number_input(key="val_limit").set_value(limit)
    button(at, "Run validation").click().run()
    assert not at.exception, at.exception
    return at


def test_validate_matches_the_command_line(ondb_validation):
    cli = subprocess.Popen(
        [sys.executable, "-m", "htr", "validate", "--dataset", "iam-ondb", "--data", str(ONDB), "--split", "validation",
         "--limit", "8", "--look", "canvas", "--decoder", "best", "--model-dir", str(MODEL_DIR), "--json"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    at = run_validation(app(), ONDB, decoders=("best", "beam"))
    assert not errors(at)
    summary = frame_with(at, "cer").set_index("decoder")
    expected = json.loads(cli.communicate(timeout=300)[0])
    assert summary.loc["best", "cer"] == expected["cer"]
    assert summary.loc["best", "wer"] == expected["wer"]
    assert summary.loc["best", "lines"] == expected["lines"] == 8
    assert 0 <= summary.loc["beam", "cer"] <= 1
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["CER (best)"] == f"{expected['cer']:.4f}" and "CER (beam)" in metrics
    assert len(at.get("vega_lite_chart")) >= 1  # the per-line CER histogram
    worst = [m.value for m in at.markdown if m.value.startswith("<div") and "truth" in m.value]
    assert len(worst) == 8  # all 8 lines, worst first, errors highlighted
    stamp = next(c.value for c in at.caption if "computed at" in c.value)

    # A reload (a new session) with the same choices is served from the cache.
    again = run_validation(app(), ONDB, decoders=("best", "beam"))
    assert next(c.value for c in again.caption if "computed at" in c.value) == stamp
    assert frame_with(again, "cer").set_index("decoder").loc["best", "cer"] == expected["cer"]


def test_validate_language_model_beside_best_path(ondb_validation):
    cli = subprocess.Popen(
        [sys.executable, "-m", "htr", "validate", "--data", str(ONDB), "--limit", "8", "--look", "canvas",
         "--decoder", "lm", "--model-dir", str(MODEL_DIR), "--json"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    at = run_validation(app(), ONDB, decoders=("best", "lm"))
    expected = json.loads(cli.communicate(timeout=300)[0])
    assert not errors(at)
    summary = frame_with(at, "cer").set_index("decoder")
    assert summary.loc["lm", "cer"] == expected["cer"] and summary.loc["lm", "wer"] == expected["wer"]
    changes = [m.value for m in at.markdown if "Where the language model reads differently" in m.value]
    assert len(changes) == 1
    side_by_side = [m.value for m in at.markdown if "Best path (letters alone)" in m.value]
    assert side_by_side and all("Language model (words)" in m for m in side_by_side)
    # How well each decoder's confidence flags the lines to check: figures, risk-coverage, reliability.
    confidence = frame_with(at, "AUROC exact vs wrong").set_index("decoder")
    assert list(confidence.index) == ["best", "lm"]
    assert all(0.0 <= float(v.rstrip("%")) <= 100.0 for v in confidence["lines exact"])
    assert len(at.get("vega_lite_chart")) >= 3  # the per-line CER, risk-coverage and reliability charts


def test_validate_bad_inputs(tmp_path):
    at = run_validation(app(), tmp_path / "missing")
    assert any("data folder not found" in e for e in errors(at))
    (tmp_path / "empty").mkdir()
    at = run_validation(at, tmp_path / "empty")
    assert any("IAM On-Line layout expected" in e or "split list not found" in e for e in errors(at))
    at = run_validation(at, ONDB, dataset="iam")  # the wrong format for this folder
    assert errors(at)
    at.multiselect(key="val_decoders").set_value([])
    button(at, "Run validation").click().run()
    assert any("decoder" in e for e in errors(at))
    assert not at.exception


# --- without the data sets ----------------------------------------------------------------


def line_folder(root: Path) -> Path:
    """A folder of 20 real lines and its labels.tsv, no split lists: a user's own lines (the 10 shipped
    IAM scans, and the 10 shipped IAM On-Line lines rendered)."""
    from htr.datasets import load_dataset
    from htr.render import render_strokes

    root.mkdir(parents=True)
    rows = []
    for sample in load_dataset("iam", FIXTURES / "iam", "all").samples:
        shutil.copy(sample.path, root / sample.path.name)
        rows.append(f"{sample.path.name}\t{sample.text}")
    for i, sample in enumerate(load_dataset("iam-ondb", FIXTURES / "iam-ondb", "validation").samples):
        write_png(root / f"pen-{i:02d}.png", render_strokes(sample.strokes, "canvas", np.random.default_rng(i)))
        rows.append(f"pen-{i:02d}.png\t{sample.text}")
    (root / "labels.tsv").write_text("\n".join(rows) + "\n")
    return root


def test_the_page_opens_without_the_data_sets(tmp_path, monkeypatch):
    """A fresh clone has no data folder: every tab opens without an error, Validate and Train start from a
    folder of one's own lines, and a folder of 20 lines without split lists is scored on all 20."""
    absent = tmp_path / "no-data"
    monkeypatch.setenv("HTR_DATA", str(absent))
    at = app()
    assert not at.exception and not errors(at), errors(at)
    assert at.radio(key="page_source").value == "Upload"  # the Page tab starts on an upload
    assert "set HTR_DATA" in captions(at)
    # Validate and Train start from the user's own lines, the format said in one line.
    assert at.selectbox(key="val_dataset").value == "folder" and at.text_input(key="val_path").value == ""
    assert at.selectbox(key="train_dataset").value == "folder" and at.text_input(key="train_path").value == ""
    assert "Your own lines: a folder of line images with a labels.tsv" in captions(at)
    assert "docs/training.md" in captions(at) and "Found in" not in captions(at)
    # Asking for what is not there says what to do, calmly.
    button(at, "Run validation").click().run()
    assert not errors(at) and any("Enter the folder of your lines" in i.value for i in at.info)
    at.radio(key="page_source").set_value("Data set page").run()
    assert not errors(at) and any(f"No IAM On-Line data set in `{absent / 'iam-ondb'}`" in i.value for i in at.info)
    at.selectbox(key="page_kind").set_value("IAM dev lines, stacked").run()
    assert not errors(at) and any(f"No IAM data set in `{absent / 'iam'}`" in i.value for i in at.info)
    at = run_validation(at, "", dataset="iam-ondb")
    assert not errors(at) and any(f"not in `{absent / 'iam-ondb'}`" in i.value for i in at.info)
    at.text_input(key="train_out").set_value(str(tmp_path / "run"))
    button(at, "Start training").click().run()
    assert not errors(at) and sum("Enter the folder of your lines" in i.value for i in at.info) == 1
    assert not (tmp_path / "run").exists() and not at.exception

    # A folder of one's own 20 lines, without split lists: all 20 are scored, and the page says so.
    folder = line_folder(tmp_path / "my-lines")
    at = run_validation(at, folder, limit=0, dataset="folder")
    assert not errors(at), errors(at)
    assert frame_with(at, "cer").set_index("decoder").loc["best", "lines"] == 20
    assert any("has no validation.tsv: scoring all lines of labels.tsv" in i.value for i in at.info)
    assert any(f"`{folder}` split `all`, look canvas, 20 lines" in c for c in captions(at).splitlines())


# --- the model folder ---------------------------------------------------------------------


def test_no_model_or_a_broken_model_is_an_error_on_the_page(tmp_path):
    at = app()
    at.text_input(key="model_dir").set_value(str(tmp_path / "nothing")).run()
    assert not at.exception
    assert any("No usable model" in e and "not found" in e for e in errors(at))
    assert button(at, "Start training")  # training needs no model

    broken = tmp_path / "broken"
    broken.mkdir()
    at.text_input(key="model_dir").set_value(str(broken)).run()
    assert any("config.json is missing" in e for e in errors(at))
    shutil.copy(MODEL_DIR / "config.json", broken / "config.json")
    (broken / "model.weights.h5").write_bytes(b"not weights")
    at.text_input(key="model_dir").set_value(str(broken) + "/").run()
    assert any("corrupt" in e for e in errors(at))
    assert not at.exception

    at.text_input(key="model_dir").set_value(str(MODEL_DIR)).run()
    assert not errors(at)


# --- Train --------------------------------------------------------------------------------


def set_training(at, out, epochs, data=ONDB):
    at.selectbox(key="train_dataset").set_value("iam-ondb")  # the page starts on a folder of one's own lines
    at.text_input(key="train_path").set_value(str(data))
    at.text_input(key="train_out").set_value(str(out))
    at.number_input(key="train_epochs").set_value(epochs)
    at.number_input(key="train_batch").set_value(16)
    at.number_input(key="train_limit").set_value(32)
    at.number_input(key="train_val_limit").set_value(8)
    return at


def launched_settings(run, *names) -> tuple:
    """Settings of the settings file a job was launched with (``RUN/settings.json``)."""
    settings = json.loads((run / "settings.json").read_text())
    return tuple(settings[name] for name in names)


def wait_for(condition, timeout, what):
    """Poll ``condition`` until it holds; give up after ``timeout`` s (a hung job), failing on the condition."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert condition(), f"no {what}"


@needs_data
def test_train_from_the_page_then_resume_and_stop(tmp_path, jobs_dir, ondb_validation):
    from htr.train.jobs import JobError, JobManager
    from htr.train.settings import TrainSettings

    manager = JobManager(jobs_dir)
    run = tmp_path / "run"
    at = set_training(app(), run, epochs=1)
    # A tiny run never reads its validation lines better: with the default patience it would end
    # by itself 10 epochs after its first, perhaps before the Stop below is clicked on a busy machine.
    at.number_input(key="train_patience").set_value(1000)
    button(at, "Start training").click().run()
    assert not errors(at), errors(at)
    assert any("Started training" in s.value for s in at.success)
    # The job runs the settings file the page wrote into the run folder.
    assert f"python -m htr train --settings {run.resolve() / 'settings.json'}" in captions(at)
    assert launched_settings(run, "limit", "val_limit", "epochs", "batch_size", "patience") == (32, 8, 1, 16, 1000)
    # The page is drawn again at once with the job running: it cannot be launched twice.
    assert button(at, "Start training").disabled and button(at, "Resume").disabled
    assert any(b.label == "Stop training" for b in at.button)

    # A reload shows the running job; one job at a time: the page disables launching, the manager refuses.
    reloaded = app()
    assert reloaded.text_input(key="train_out").value == str(run.resolve())
    if manager.active() is not None:
        assert button(reloaded, "Start training").disabled
        assert any("Stop training" == b.label for b in reloaded.button)
        with pytest.raises(JobError, match="already running"):
            manager.launch(TrainSettings(dataset="iam-ondb", data=str(ONDB), model_dir=str(tmp_path / "other"), epochs=1))
    assert not (tmp_path / "other").exists()

    status = manager.wait(run, timeout=300)
    assert status.state == "finished", status.log_tail
    at.run()
    assert any("finished" in s.value for s in at.success)
    assert {m.label: m.value for m in at.metric}["Epoch"] == "1 / 1"
    history = frame_with(at, "val_cer")
    assert list(history["epoch"]) == [1]
    assert len(at.get("vega_lite_chart")) >= 2  # loss and validation curves
    assert (run / "model.weights.h5").is_file() and (run / "train.log").is_file()

    # Resume for more epochs from the page, then stop it cleanly once epoch 2 is done.
    at.number_input(key="train_epochs").set_value(50)
    button(at, "Resume").click().run()
    assert any("Resumed training" in s.value for s in at.success), errors(at)
    wait_for(lambda: len(manager.status(run).history) >= 2 or not manager.status(run).running, 300, "epoch 2")
    at.run()
    stop = next((b for b in at.button if b.label == "Stop training"), None)
    assert stop is not None, manager.status(run).log_tail
    stop.click().run()
    status = manager.status(run)
    assert status.state == "stopped", (status.state, status.log_tail)
    assert [int(row["epoch"]) for row in status.history][:2] == [1, 2] and status.resumable
    assert "--resume" in status.command and launched_settings(run, "epochs", "patience") == (50, 1000)
    at.run()
    assert any("stopped after epoch" in w.value for w in at.warning)
    assert not at.exception


def test_train_refuses_bad_requests(tmp_path, jobs_dir):
    at = set_training(app(), tmp_path / "run", epochs=1, data=tmp_path / "missing")
    button(at, "Start training").click().run()
    assert any("data folder not found" in e for e in errors(at))
    at = set_training(app(), MODEL_DIR, epochs=1)  # would overwrite the shipped model
    button(at, "Start training").click().run()
    assert any("already holds a model" in e for e in errors(at))
    assert button(at, "Resume").disabled  # nothing to resume there
    assert not at.exception and not (jobs_dir / "current.json").exists()


def reaped(pid: int) -> bool:
    """Whether the job's process is gone entirely: ended and reaped, no zombie left."""
    import threading

    for thread in threading.enumerate():
        if thread.name == f"reap-{pid}":
            thread.join()  # the reaper ends when the process has been waited for
    return not Path(f"/proc/{pid}").exists()


def test_ended_and_stopped_jobs_leave_no_zombies(tmp_path, jobs_dir):
    from htr.train.jobs import JobManager

    manager = JobManager(jobs_dir)
    done = manager.start(tmp_path / "done", [sys.executable, "-c", "print('done: ok')"], {"epochs": 1})
    assert reaped(done.pid)  # with nobody asking for its status
    assert manager.status(done.run_dir).state == "finished"

    # Stopped before its first epoch ended: nothing to resume, and the page says so.
    run = tmp_path / "early"
    job = manager.start(run, [sys.executable, "-c", "import time; time.sleep(600)"], {"epochs": 3})
    status = manager.stop(run, grace=10)
    assert status.state == "stopped" and not status.history and not status.resumable
    assert reaped(job.pid)
    at = app()
    at.text_input(key="train_out").set_value(str(run)).run()
    assert any("stopped before its first epoch ended" in w.value for w in at.warning)
    assert not any("stopped after epoch" in w.value for w in at.warning)
    assert button(at, "Resume").disabled  # resuming needs a checkpoint


# A training job's log as TensorFlow and the trainer write it (a real run's, on a 2-core CPU).
RAW_LOG = (
    "$ python -m htr train --settings runs/mine/settings.json\n"
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1796620382.999129   24075 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders. To "
    "turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.\n"
    "preparing folder validation lines:   0%|          | 0/2 [00:00<?, ?line/s]\r"
    "preparing folder validation lines: 100%|##########| 2/2 [00:00<00:00, 63.34line/s]\n"
    "folder: 18 training lines (share 1), 2 validation lines; 1,525,648 parameters\n"
    "/work/htr/htr/train/loop.py:481: UserWarning: folder/train: skipped 1 bad item(s): 1 missing image\n"
    "  lines.warn_skipped()\n"
    "E0000 00:00:1796620406.340826   24075 util.cc:131] oneDNN supports DT_BOOL only on platforms with AVX-512. "
    "Falling back to the default Eigen-based implementation if present.\n"
    "W0000 00:00:1796620406.340900   24075 bfc_allocator.cc:310] Allocator (GPU_0_bfc) ran out of memory trying "
    "to allocate 2.1GiB\n"
    "4/4 - 27s - 4s/batch - loss: 346.2204\n"
    "epoch 1/2: loss 346.2204  val CER 1.0000  WER 1.0000  28s  (best, saved)\n"
)


def test_the_training_log_shows_progress_and_real_warnings_only(tmp_path):
    from htr.train.jobs import LOG_FILE, read_log_tail

    (tmp_path / LOG_FILE).write_text(RAW_LOG)
    assert read_log_tail(tmp_path).splitlines() == [
        "$ python -m htr train --settings runs/mine/settings.json",
        "preparing folder validation lines: 100%|##########| 2/2 [00:00<00:00, 63.34line/s]",
        "folder: 18 training lines (share 1), 2 validation lines; 1,525,648 parameters",
        "warning: folder/train: skipped 1 bad item(s): 1 missing image",
        ("W0000 00:00:1796620406.340900   24075 bfc_allocator.cc:310] Allocator (GPU_0_bfc) ran out of memory "
         "trying to allocate 2.1GiB"),
        "4/4 - 27s - 4s/batch - loss: 346.2204",
        "epoch 1/2: loss 346.2204  val CER 1.0000  WER 1.0000  28s  (best, saved)",
    ]
    assert (tmp_path / LOG_FILE).read_bytes() == RAW_LOG.encode()  # the file keeps everything


def test_job_state_survives_a_lost_process(tmp_path, jobs_dir):
    """A job whose process died without the dashboard noticing is shown as ended, not running."""
    from htr.train.jobs import JOB_FILE, JobManager

    run = tmp_path / "run"
    run.mkdir()
    gone = subprocess.Popen([sys.executable, "-c", "print('error: boom')"], stdout=(run / "train.log").open("w"))
    gone.wait()
    (run / JOB_FILE).write_text(json.dumps({"state": "running", "pid": gone.pid, "command": ["python"], "request": {}}))
    status = JobManager(jobs_dir).status(run)
    assert not status.running and status.state == "failed" and "boom" in status.message
    assert json.loads((run / JOB_FILE).read_text())["state"] == "failed"


@needs_data
def test_train_on_two_data_sets_from_the_page(tmp_path, jobs_dir):
    """Pen data and real scans in one run launched from the page: each validated on its own."""
    from htr.train.jobs import JobManager

    iam = ONDB.parent / "iam"
    if not (iam / "lines").is_dir():
        pytest.skip(f"real IAM lines not found at {iam}")
    run = tmp_path / "run"
    at = set_training(app(), run, epochs=1)
    at.checkbox(key="train_two").check().run()
    at.selectbox(key="train_dataset2").set_value("iam")
    at.text_input(key="train_path2").set_value(str(iam))
    at.text_input(key="train_split2").set_value(str(iam / "splits" / "available-train.txt"))
    at.text_input(key="train_val2").set_value(str(iam / "splits" / "available-dev.txt"))
    at.number_input(key="train_epoch_lines").set_value(32)
    button(at, "Start training").click().run()
    assert not errors(at), errors(at)
    assert [source["dataset"] for source in launched_settings(run, "sources")[0]] == ["iam-ondb", "iam"]
    status = JobManager(jobs_dir).wait(run, timeout=600)
    assert status.state == "finished", status.log_tail
    assert {"val_cer_iam-ondb", "val_cer_iam"} <= set(status.history[0])
    at.run()
    assert "val_cer_iam" in frame_with(at, "val_cer").columns
    assert not at.exception


def test_fine_tuning_options_reach_the_training_command(tmp_path, jobs_dir):
    from htr.train.jobs import JobManager

    run = tmp_path / "run"
    at = set_training(app(), run, epochs=1)
    at.checkbox(key="train_freeze").check()
    button(at, "Start training").click().run()
    assert any("choose a model folder to fine-tune from" in e for e in errors(at)) and not run.exists()
    at.text_input(key="train_init").set_value(str(tmp_path / "no-model"))
    button(at, "Start training").click().run()
    assert any("no trained model to fine-tune" in e for e in errors(at)) and not run.exists()

    at.text_input(key="train_init").set_value(str(MODEL_DIR))
    at.number_input(key="train_lr").set_value(3e-4)
    at.selectbox(key="train_schedule").set_value("cosine")
    at.checkbox(key="train_freeze").check()
    at.number_input(key="train_dropout").set_value(0.1)
    at.number_input(key="train_deslant").set_value(0.5)
    button(at, "Start training").click().run()
    assert not errors(at), errors(at)
    manager = JobManager(jobs_dir)
    try:
        assert manager.status(run).command[-2:] == ["--settings", str(run.resolve() / "settings.json")]
        assert launched_settings(run, "init_from", "learning_rate", "schedule", "freeze_convolutions", "dropout",
                                 "deslant") == (str(MODEL_DIR.resolve()), 3e-4, "cosine", True, 0.1, 0.5)
        # A reload offers the same settings again.
        reloaded = app()
        assert reloaded.text_input(key="train_init").value == str(MODEL_DIR.resolve())
        assert reloaded.selectbox(key="train_schedule").value == "cosine"
        assert reloaded.number_input(key="train_lr").value == pytest.approx(3e-4)
        assert reloaded.checkbox(key="train_freeze").value and reloaded.number_input(key="train_dropout").value == 0.1
        assert reloaded.number_input(key="train_deslant").value == 0.5
    finally:
        manager.stop(run, grace=20)


def finished_run(folder, best_cer: float):
    """A run folder as training leaves it (best model, history), made from the shipped model's files."""
    folder.mkdir(parents=True)
    for name in ("model.weights.h5", "history.csv"):
        shutil.copy(MODEL_DIR / name, folder / name)
    config = json.loads((MODEL_DIR / "config.json").read_text())
    config.pop("lm", None)  # training writes no language-model settings
    (folder / "config.json").write_text(json.dumps(config))
    metadata = {"training": {"best_val_cer": best_cer, "best_epoch": 2, "epochs_run": 3, "dataset": "folder"}}
    (folder / "metadata.json").write_text(json.dumps(metadata))
    return folder


def test_use_a_trained_model_and_install_it_for_the_app(tmp_path, monkeypatch):
    served = tmp_path / "served"
    shutil.copytree(MODEL_DIR, served)
    monkeypatch.setenv("HTR_MODEL_DIR", str(served))
    run = finished_run(tmp_path / "run", best_cer=0.1234)
    at = app()
    at.radio(key="inspect_source").set_value("Upload")  # nothing to read on each rerun below
    at.text_input(key="train_out").set_value(str(run)).run()
    assert any("finished" in s.value for s in at.success)

    # Use it in the other tabs: the sidebar switches to the run's folder and loads it.
    button(at, "Use this model in Inspect and Validate").click().run()
    assert not at.exception and not errors(at), errors(at)
    assert at.text_input(key="model_dir").value == str(run)
    assert any(str(run) in s.value and "Loaded" in s.value for s in at.sidebar.success)
    assert "best validation CER 0.1234" in captions(at)
    assert button(at, "Use this model in Inspect and Validate").disabled

    # Install it as the app's model: asked first; cancelling changes nothing.
    before = (served / "metadata.json").read_text()
    button(at, "Install as the app's model ...").click().run()
    assert any("Replace the model in" in w.value for w in at.warning)
    button(at, "Cancel").click().run()
    assert (served / "metadata.json").read_text() == before
    assert not any("Replace the model in" in w.value for w in at.warning)
    button(at, "Install as the app's model ...").click().run()
    button(at, "Yes, install it").click().run()
    assert any("Installed" in s.value for s in at.success), errors(at)
    assert json.loads((served / "metadata.json").read_text())["training"]["best_val_cer"] == 0.1234
    assert (served / "model.weights.h5").read_bytes() == (run / "model.weights.h5").read_bytes()
    # The language model stays with its settings; what was replaced (a stale ONNX export too) is kept aside.
    assert (served / "lm" / "chars.arpa.gz").is_file() and "lm" in json.loads((served / "config.json").read_text())
    backup = next(tmp_path.glob("served.previous-*"))
    assert (backup / "metadata.json").read_text() == before and (backup / "model.weights.h5").is_file()
    assert not (served / "model.onnx").exists()
    from htr.config import ModelConfig
    from htr.lm.decoder import load_for_model

    lm, error = load_for_model(served, ModelConfig.load(served))  # the installed folder's language model loads
    assert lm is not None, error
    assert not at.exception


def test_installing_a_worse_model_asks_again_stating_both_cers(tmp_path, monkeypatch):
    """A run whose model reads worse than the served one (here CER 1.0 on its validation lines) is
    installed only after a second confirmation that gives both figures; a cancel keeps the old model."""
    served = tmp_path / "served"
    shutil.copytree(MODEL_DIR, served)
    monkeypatch.setenv("HTR_MODEL_DIR", str(served))
    lines = line_folder(tmp_path / "my-lines")
    (lines / "validation.tsv").write_text("\n".join((lines / "labels.tsv").read_text().splitlines()[:6]) + "\n")
    run = finished_run(tmp_path / "run", best_cer=1.0)
    (run / "settings.json").write_text(json.dumps({"dataset": "folder", "data": str(lines), "look": "canvas",
                                                   "model_dir": str(run)}))
    from htr.train.install import compare_with_served

    expected = compare_with_served(run, served)
    assert expected.lines == 6 and expected.run_cer == 1.0 and expected.served_cer < 0.5 and expected.worse
    before = (served / "metadata.json").read_text()

    at = app()
    at.radio(key="inspect_source").set_value("Upload")
    at.text_input(key="train_out").set_value(str(run)).run()
    button(at, "Install as the app's model ...").click().run()
    first = next(w.value for w in at.warning if "Replace the model in" in w.value)
    assert f"this model's CER is 1.0000, the app's model's {expected.served_cer:.4f}" in first
    button(at, "Yes, install it").click().run()  # not enough for a worse model
    assert (served / "metadata.json").read_text() == before
    second = next(w.value for w in at.warning if "reads worse than the app's" in w.value)
    assert f"CER 1.0000 against {expected.served_cer:.4f} on the same 6 lines" in second
    label = f"Yes, install the worse model (CER 1.0000 for {expected.served_cer:.4f})"
    button(at, "Cancel").click().run()
    assert not any(b.label == label for b in at.button) and (served / "metadata.json").read_text() == before

    button(at, "Install as the app's model ...").click().run()
    button(at, "Yes, install it").click().run()
    button(at, label).click().run()
    assert any("Installed" in s.value for s in at.success), errors(at)
    assert json.loads((served / "metadata.json").read_text())["training"]["best_val_cer"] == 1.0
    assert not at.exception
