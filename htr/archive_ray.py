"""Reading an archive on Ray: a pool of workers, each loading the model once.

The driver (the machine ``predict`` runs on) walks the tree, reads each input's bytes and sends
them with their modification time to a worker; the worker keeps a copy of the model folder (sent
once through Ray's object store), reads the files with :func:`htr.archive.read_items` (ONNX
Runtime on one thread) and sends back the rendered outputs, which the driver writes under OUT.
So the workers need no shared file system, the outputs are all on the driver, and they are
byte for byte what the local engine writes. Ray is an optional dependency (``htr[ray]``).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from htr.archive_worker import (
    MODEL_FILES,
    Outcome,
    ReadSettings,
    read_items,
    unreadable,
)
from htr.errors import HTRError

MISSING = ('--engine ray needs Ray, which is not installed: pip install "htr[ray]" '
           "(or pip install -r requirements-dev.txt)")
CHUNK = 4  # files per task: small, so the last tasks of a run spread over every worker
IN_FLIGHT = 2  # tasks queued on each worker, so none waits for the driver between two


def import_ray():
    """Ray, or an HTRError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise HTRError(MISSING) from None
    return ray


def model_files(model_dir: str | Path) -> dict[str, bytes]:
    """The model folder's files a worker needs to read as the driver would, by relative path."""
    model_dir = Path(model_dir)
    paths = [model_dir / name for name in MODEL_FILES]
    paths += sorted((model_dir / "lm").glob("*")) if (model_dir / "lm").is_dir() else []
    return {str(p.relative_to(model_dir)): p.read_bytes() for p in paths if p.is_file()}


class Reader:
    """One worker: the model loaded once, reading batches of files sent as bytes."""

    def __init__(self, files: dict[str, bytes], runtime: str, settings: ReadSettings, fingerprint: str):
        from htr.recognizer import Recognizer

        self.folder = Path(tempfile.mkdtemp(prefix="htr-worker-"))
        model = self.folder / "model"
        for name, data in files.items():
            (model / name).parent.mkdir(parents=True, exist_ok=True)
            (model / name).write_bytes(data)
        self.recognizer = Recognizer.load(model, runtime, threads=1)
        self.settings = settings
        self.fingerprint = fingerprint

    def read(self, batch: list[tuple[str, bytes, int]]) -> list[Outcome]:
        """``(name, data, mtime_ns)`` of each file -> its outcome, as the local engine gives it."""
        inbox = self.folder / "in"
        shutil.rmtree(inbox, ignore_errors=True)
        inbox.mkdir()
        paths = []
        for k, (name, data, mtime_ns) in enumerate(batch):
            copy = inbox / f"{k}{Path(name).suffix}"  # the suffix tells ink from images
            copy.write_bytes(data)
            os.utime(copy, ns=(mtime_ns, mtime_ns))  # PAGE's dates are the input's
            paths.append(str(copy))
        return list(read_items(self.recognizer, paths, self.settings, self.fingerprint,
                               names=[name for name, _, _ in batch]))


def run_on_ray(pending: list, settings: ReadSettings, model_dir: str | Path, runtime: str,
               fingerprint: str, record: Callable[[object, Outcome], None], address: str | None = None,
               workers: int | None = None) -> None:
    """Read ``pending`` on a Ray cluster (``address``) or a local Ray started for the run,
    with ``workers`` workers (default: one per CPU Ray has); ``record`` each outcome."""
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        options = {"include_dashboard": False, "logging_level": logging.WARNING, "configure_logging": True}
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=workers or os.cpu_count() or 1, **options)
    try:
        if not pending:
            return
        count = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        files = ray.put(model_files(model_dir))
        remote = ray.remote(num_cpus=1)(Reader)
        actors = [remote.remote(files, runtime, settings, fingerprint) for _ in range(count)]
        chunks = iter([pending[i : i + CHUNK] for i in range(0, len(pending), CHUNK)])
        in_flight: dict = {}

        def submit(actor) -> None:
            for items in chunks:
                batch, sent = [], []
                for item in items:
                    problem = unreadable(item.path)
                    if problem is not None:
                        record(item, Outcome(error=problem))
                        continue
                    path = Path(item.path)
                    batch.append((item.path, path.read_bytes(), path.stat().st_mtime_ns))
                    sent.append(item)
                if batch:
                    in_flight[actor.read.remote(batch)] = (actor, sent)
                    return

        for _ in range(IN_FLIGHT):
            for actor in actors:
                submit(actor)
        while in_flight:
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            actor, sent = in_flight.pop(ready[0])
            try:
                outcomes = ray.get(ready[0])
            except ray.exceptions.RayError as exc:
                raise HTRError(f"a Ray worker failed ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
                               "run the same command again to read what is left") from None
            for item, outcome in zip(sent, outcomes):
                record(item, outcome)
            submit(actor)
    finally:
        if started:
            ray.shutdown()
