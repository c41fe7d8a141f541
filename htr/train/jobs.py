"""Training in the background: launch, watch and stop ``python -m htr train``.

A job's state lives in its run folder, so every viewer (a reloaded page, a second browser,
a restarted dashboard) sees the same thing:

``RUN/settings.json``
    the :class:`~htr.train.settings.TrainSettings` the job runs with: the command is
    ``python -m htr train --settings RUN/settings.json`` (``--resume`` to continue);
``RUN/job.json``
    the command, its process id and start time, when it was launched, asked to stop and
    seen to end, and its exit code when known, and the settings as launched;
``RUN/train.log``
    everything the command printed (each launch appends, headed by the command line);
``RUN/history.csv``, ``RUN/checkpoints/``
    written by the trainer after every epoch.

Only one job runs at a time: a small registry folder (``current.json``) remembers the run
folder launched last, and a launch is refused while that job's process is alive. A job is
stopped with SIGINT to its process group (the trainer keeps the last completed epoch and
``--resume`` carries on from it), then SIGTERM and SIGKILL if it does not end in time.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from htr.errors import DataError, HTRError
from htr.paths import SOURCE_ROOT
from htr.train.settings import SETTINGS_FILE, TrainSettings, settings_json

JOB_FILE = "job.json"
LOG_FILE = "train.log"
REGISTRY_FILE = "current.json"
ROOT = SOURCE_ROOT  # the folder holding the htr package: jobs run python -m htr from it

RUNNING = "running"
STOPPING = "stopping"
FINISHED = "finished"
STOPPED = "stopped"
FAILED = "failed"
NO_JOB = "none"

# Processes launched by this interpreter, so they can be reaped and their exit codes read.
_CHILDREN: dict[int, subprocess.Popen] = {}


class JobError(HTRError):
    """A training job cannot be launched, resumed or stopped as asked."""


def train_command(settings_path: str | Path, resume: bool = False, python: str = sys.executable) -> list[str]:
    """``python -m htr train --settings FILE`` (``--resume``): every setting is in the file."""
    return [python, "-m", "htr", "train", "--settings", str(settings_path)] + (["--resume"] if resume else [])


ADAPT_JOB_SUFFIX = ".adapt-job"  # an adaptation's job folder sits beside the model folder it makes


def adapt_command(labels: str | Path, model_dir: str | Path, out: str | Path, minutes: float,
                  python: str = sys.executable) -> list[str]:
    """``python -m htr adapt LABELS --model-dir M --out OUT --minutes X``."""
    return [python, "-m", "htr", "adapt", str(labels), "--model-dir", str(model_dir), "--out", str(out),
            "--minutes", f"{minutes:g}"]


def adapt_job_dir(out: str | Path) -> Path:
    """Where an adaptation's job state and log live: beside its model folder, which appears only
    complete (``htr.train.adapt`` renames it into place at the end)."""
    out = Path(out).expanduser().resolve()
    return out.with_name(out.name + ADAPT_JOB_SUFFIX)


@dataclass
class JobStatus:
    """A run folder's job as it stands now."""

    run_dir: Path
    state: str = NO_JOB
    pid: int | None = None
    command: list[str] = field(default_factory=list)
    request: dict = field(default_factory=dict)
    launched: float | None = None
    ended: float | None = None
    exit_code: int | None = None
    history: list[dict] = field(default_factory=list)
    log_tail: str = ""
    message: str = ""
    resumable: bool = False

    @property
    def running(self) -> bool:
        return self.state in (RUNNING, STOPPING)

    @property
    def epochs_done(self) -> int:
        return int(self.history[-1]["epoch"]) if self.history else 0

    @property
    def epochs_planned(self) -> int | None:
        epochs = self.request.get("epochs")
        return int(epochs) if epochs else None

    @property
    def command_line(self) -> str:
        """The command as a person would type it (``python`` for this interpreter)."""
        parts = ["python" if i == 0 and part == sys.executable else part for i, part in enumerate(self.command)]
        return " ".join(shlex.quote(part) for part in parts)


# --- process bookkeeping ------------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) from /proc, or None where there is no /proc."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    return fields[0], int(fields[19])


def _start_time(pid: int) -> int | None:
    stat = _proc_stat(pid)
    return stat[1] if stat else None


def _exit_code(pid: int) -> int | None:
    """The exit status of a child of this process, if it has ended (reaping it)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll()
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return os.waitstatus_to_exitcode(status) if done else None


def process_alive(pid: int | None, start_time: int | None = None) -> bool:
    """Whether ``pid`` is still the process that was launched (not ended, not a zombie, not reused)."""
    if not pid:
        return False
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = _proc_stat(pid)
    if stat is None:
        return True
    state, started = stat
    if state in ("Z", "X"):
        _exit_code(pid)  # reap it if it is ours
        return False
    return start_time is None or started == start_time


# --- files --------------------------------------------------------------------------------


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write_json(path: Path, data: dict) -> None:
    _write_text(path, json.dumps(data, indent=2))


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# What TensorFlow and its C++ libraries print at start-up and at the first steps whatever the
# run does: log lines in absl's format (``I0000 00:00:1796620057.749089   18784 port.cc:153] ...``)
# at INFO level, and these known notices at any level (oneDNN's on an AVX2 CPU, absl's own
# preamble, CUDA plugins registering twice, a CPU build's instruction set). A job shows its
# log without them; RUN/train.log keeps everything.
_ABSL_LINE = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [\w.-]+:\d+\] ")
NOISE = (
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "oneDNN custom operations are on",
    "oneDNN supports DT_BOOL only on platforms with AVX-512",
    "Unable to register cuDNN factory", "Unable to register cuFFT factory", "Unable to register cuBLAS factory",
    "computation placer already registered",
    "TF-TRT Warning: Could not find TensorRT",
    "failed call to cuInit",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "rebuild TensorFlow with the appropriate compiler flags",
)


def is_noise(line: str) -> bool:
    """Whether a log line is TensorFlow's start-up noise, not the run's progress or a real warning."""
    found = _ABSL_LINE.match(line)
    if found and found.group(1) == "I":
        return True
    return any(text in line for text in NOISE)


_PY_WARNING = re.compile(r"^\S+\.py:\d+: (\w*Warning): (.*)$")


def shown_lines(text: str) -> list[str]:
    """A log's lines as a terminal shows them, less the noise: a progress bar's redraws (``\\r``)
    as their last state, TensorFlow's notices left out (:func:`is_noise`), and a Python warning
    as ``warning: ...``, without the file and source line it is printed with."""
    kept: list[str] = []
    after_warning = False
    for row in text.split("\n"):
        line = next((part for part in reversed(row.split("\r")) if part.strip()), "")
        if not line.strip() or (after_warning and line.startswith("  ")):
            after_warning = False
            continue
        warning = _PY_WARNING.match(line)
        after_warning = warning is not None
        if is_noise(line):
            continue
        if warning:
            category, message = warning.groups()
            line = f"warning: {message}" if category == "UserWarning" else f"warning ({category}): {message}"
        kept.append(line)
    return kept


def read_log_tail(run_dir: str | Path, lines: int = 30, max_bytes: int = 64_000) -> str:
    """The last lines of a run's log as :func:`shown_lines` shows them."""
    path = Path(run_dir) / LOG_FILE
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            raw = handle.read()
    except OSError:
        return ""
    return "\n".join(shown_lines(raw.decode("utf-8", errors="replace"))[-lines:])


def _last_error(log_tail: str) -> str:
    """The most telling line of a failed run: its ``error:`` line or the exception raised."""
    lines = log_tail.splitlines()
    for line in reversed(lines):
        if line.startswith("error:") or "Error:" in line or line.startswith("FloatingPointError"):
            return line.strip()
    return lines[-1].strip() if lines else ""


def _has_checkpoint(run_dir: Path) -> bool:
    """Whether the run folder holds a complete epoch checkpoint to resume from."""
    from htr.train.loop import STATE_FILE

    pointer = run_dir / "checkpoints" / "latest"
    try:
        return (run_dir / "checkpoints" / pointer.read_text().strip() / STATE_FILE).is_file()
    except OSError:
        return False


# --- the manager --------------------------------------------------------------------------


class JobManager:
    """Launches one training job at a time and reads any run folder's state.

    ``registry_dir`` holds only a pointer to the run folder launched last (and a lock), so
    a page opened later finds a job that is still running.
    """

    def __init__(self, registry_dir: str | Path = "runs"):
        self.registry_dir = Path(registry_dir).resolve()

    # where the last job is
    def current(self) -> Path | None:
        run_dir = _read_json(self.registry_dir / REGISTRY_FILE).get("run_dir")
        return Path(run_dir) if run_dir else None

    def active(self) -> JobStatus | None:
        """The job that is running now, if any."""
        run_dir = self.current()
        if run_dir is None:
            return None
        status = self.status(run_dir)
        return status if status.running else None

    @contextlib.contextmanager
    def _lock(self):
        self.registry_dir.mkdir(parents=True, exist_ok=True)
        with open(self.registry_dir / ".lock", "w") as handle:
            try:
                import fcntl

                fcntl.flock(handle, fcntl.LOCK_EX)
            except ImportError:  # no flock on this platform: best effort
                pass
            yield

    # reading
    def status(self, run_dir: str | Path) -> JobStatus:
        """A run folder's job: state, progress (history.csv), log tail; finalises ended jobs."""
        from htr.train.loop import read_history

        run_dir = Path(run_dir).resolve()
        job_path = run_dir / JOB_FILE
        job = _read_json(job_path)
        status = JobStatus(run_dir=run_dir, history=read_history(run_dir) if run_dir.is_dir() else [],
                           log_tail=read_log_tail(run_dir), resumable=_has_checkpoint(run_dir))
        if not job:
            if status.history:  # a run made by the command line: show it, it is not running
                status.state = FINISHED
            return status
        status.pid = job.get("pid")
        status.command = job.get("command", [])
        status.request = job.get("request", {})
        status.launched = job.get("launched")
        status.ended = job.get("ended")
        status.exit_code = job.get("exit_code")
        if job.get("state") in (RUNNING, STOPPING):
            if process_alive(status.pid, job.get("start_time")):
                status.state = STOPPING if job.get("stop_requested") else RUNNING
                status.resumable = False
                return status
            job = self._finalise(job_path, job, status.log_tail)
            status.ended, status.exit_code = job.get("ended"), job.get("exit_code")
        status.state = job.get("state", FAILED)
        status.message = job.get("message", "")
        return status

    def _finalise(self, job_path: Path, job: dict, log_tail: str) -> dict:
        """Record how a job that is no longer alive ended."""
        code = _exit_code(job["pid"]) if job.get("pid") else None
        last = log_tail.splitlines()[-1].strip() if log_tail.strip() else ""
        if code is None:  # not our child: judge by what it printed last
            code = 0 if last.startswith("done:") else 130 if last == "interrupted" else None
        if code == 0:
            state, message = FINISHED, last
        elif job.get("stop_requested") or code in (130, -signal.SIGINT, -signal.SIGTERM, -signal.SIGKILL):
            state, message = STOPPED, "stopped; the last completed epoch is kept and can be resumed"
        else:
            state = FAILED
            message = _last_error(log_tail) or "the training process ended unexpectedly"
        job.update(state=state, exit_code=code, ended=job.get("ended") or time.time(), message=message)
        _write_json(job_path, job)
        return job

    # launching
    def check(self, settings: TrainSettings, resume: bool = False) -> None:
        """Refuse settings that cannot work, with a message that says what to change."""
        from htr.datasets import DATASETS

        sources = settings.source_list()
        for source in sources:
            if source.dataset not in DATASETS:
                raise JobError(f"unknown data set {source.dataset!r}; expected one of {', '.join(DATASETS)}")
            if not str(source.data).strip() or not Path(source.data).exists():
                raise DataError(f"data folder not found: {source.data}")
        if len({source.name for source in sources}) != len(sources):
            raise JobError("the data sets need distinct names")
        if not str(settings.model_dir).strip():
            raise JobError("choose an output model folder")
        if settings.freeze_convolutions and not settings.init_from:
            raise JobError("freezing the convolutions keeps a trained model's: choose a model folder to fine-tune from")
        settings.check(resume)
        if settings.init_from and not resume:
            from htr.config import WEIGHTS_FILE

            init = Path(settings.init_from).expanduser()
            if not (init / "config.json").is_file() or not (init / WEIGHTS_FILE).is_file():
                raise JobError(f"no trained model to fine-tune in {init} (config.json and {WEIGHTS_FILE} expected)")
        run_dir = Path(settings.model_dir)
        if resume:
            if not _has_checkpoint(run_dir):
                raise JobError(f"nothing to resume: {run_dir} has no checkpoint")
        elif _has_checkpoint(run_dir):
            raise JobError(f"{run_dir} already holds a training run: resume it, or choose another output folder")
        elif (run_dir / "model.weights.h5").exists():
            raise JobError(f"{run_dir} already holds a model; choose a new folder so it is not overwritten")

    def launch(self, settings: TrainSettings, resume: bool = False) -> JobStatus:
        """Write the run's ``settings.json`` and start ``python -m htr train --settings`` on it in the
        background; refused while another job runs."""
        self.check(settings, resume)

        def absolute(path: str) -> str:
            return str(Path(path).expanduser().resolve())

        sources = [{**source, "data": absolute(source["data"])} for source in settings.sources]
        settings = replace(settings, data=absolute(settings.data) if settings.data else "", sources=sources,
                           model_dir=absolute(settings.model_dir),
                           init_from=absolute(settings.init_from) if settings.init_from else None)
        path = Path(settings.model_dir) / SETTINGS_FILE
        return self.start(settings.model_dir, train_command(path, resume), {**asdict(settings), "resume": resume},
                          files={SETTINGS_FILE: settings_json(settings)})

    def launch_adapt(self, labels: str | Path, model_dir: str | Path, out: str | Path,
                     minutes: float = 1.5) -> JobStatus:
        """Start ``python -m htr adapt`` in the background (one job at a time, like training); its
        job folder is :func:`adapt_job_dir` of ``out``."""
        from htr.config import WEIGHTS_FILE
        from htr.train.adapt import check_output

        labels, model_dir = Path(labels).expanduser().resolve(), Path(model_dir).expanduser().resolve()
        out = Path(out).expanduser().resolve()
        if not labels.is_file():
            raise JobError(f"no labels file {labels}: one 'path<TAB>text' row per line of the writer")
        if not (model_dir / "config.json").is_file() or not (model_dir / WEIGHTS_FILE).is_file():
            raise JobError(f"no trained model to adapt in {model_dir} (config.json and {WEIGHTS_FILE} expected)")
        check_output(out)
        request = {"adapt": True, "labels": str(labels), "model_dir": str(model_dir), "out": str(out),
                   "minutes": minutes}
        return self.start(adapt_job_dir(out), adapt_command(labels, model_dir, out, minutes), request)

    def start(self, run_dir: str | Path, command: list[str], request: dict | None = None,
              files: dict[str, str] | None = None) -> JobStatus:
        """Run any command as the job of ``run_dir`` (``launch`` builds the training command), after
        writing ``files`` (name: text) into it; nothing is written while another job runs."""
        run_dir = Path(run_dir).resolve()
        with self._lock():
            running = self.active()
            if running is not None:
                raise JobError(f"a training job is already running in {running.run_dir} (pid {running.pid}); "
                               "stop it before launching another")
            existing = self.status(run_dir)
            if existing.running:
                raise JobError(f"a job is already running in {run_dir} (pid {existing.pid})")
            run_dir.mkdir(parents=True, exist_ok=True)
            for name, text in (files or {}).items():
                _write_text(run_dir / name, text)
            env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
            with open(run_dir / LOG_FILE, "a") as log:
                log.write(f"\n$ {' '.join(shlex.quote(c) for c in command)}\n")
                log.flush()
                process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                           stderr=subprocess.STDOUT, start_new_session=True)
            _CHILDREN[process.pid] = process
            # Reap the job the moment it ends, so no zombie is left behind the page's server
            # however long nobody looks at the page.
            threading.Thread(target=process.wait, name=f"reap-{process.pid}", daemon=True).start()
            job = {"state": RUNNING, "pid": process.pid, "start_time": _start_time(process.pid),
                   "command": command, "request": request or {}, "launched": time.time()}
            _write_json(run_dir / JOB_FILE, job)
            _write_json(self.registry_dir / REGISTRY_FILE, {"run_dir": str(run_dir)})
        return self.status(run_dir)

    # stopping
    def stop(self, run_dir: str | Path | None = None, grace: float = 30.0, term_grace: float = 10.0) -> JobStatus:
        """Stop a job cleanly: SIGINT, then SIGTERM after ``grace`` s, then SIGKILL."""
        run_dir = Path(run_dir).resolve() if run_dir else self.current()
        if run_dir is None:
            raise JobError("no training job to stop")
        job_path = run_dir / JOB_FILE
        job = _read_json(job_path)
        if not job or not self.status(run_dir).running:
            return self.status(run_dir)
        job.update(stop_requested=time.time(), state=STOPPING)
        _write_json(job_path, job)
        pid, started = job["pid"], job.get("start_time")
        for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, term_grace), (signal.SIGKILL, 5.0)):
            if not process_alive(pid, started):
                break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)  # the job leads its own process group (start_new_session)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and process_alive(pid, started):
                time.sleep(0.2)
        return self.status(run_dir)

    def wait(self, run_dir: str | Path, timeout: float) -> JobStatus:
        """Block until the job in ``run_dir`` is no longer running (or ``timeout`` s pass)."""
        deadline = time.monotonic() + timeout
        status = self.status(run_dir)
        while status.running and time.monotonic() < deadline:
            time.sleep(0.5)
            status = self.status(run_dir)
        return status
