"""Data-parallel training over several devices or hosts, with Keras' own engine.

``keras.distribution.DataParallel`` on the JAX backend keeps one copy of the weights on every
device and splits each batch across them; gradients are averaged over the whole batch inside
the compiled step, so N devices compute what one device computes on the same batch. Several
hosts (or processes) join through ``keras.distribution.initialize`` (``jax.distributed``):
each process renders and feeds its share of every batch, process 0 writes the run's files.
"""

from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np

from htr.errors import DistributionError

JAX_HINT = ('pip install -U jax (CPU) or pip install -U "jax[cuda12]" (NVIDIA GPUs), '
            "then run with KERAS_BACKEND=jax")


@dataclass
class Parallel:
    """How a run is spread: one device and one process unless :func:`data_parallel` says more."""

    devices: int = 1
    processes: int = 1
    index: int = 0
    local_devices: int = 1
    device_kind: str = ""
    distribution: object | None = field(default=None, repr=False)

    @property
    def chief(self) -> bool:
        """Process 0 writes checkpoints, history and the exported model; the others only train."""
        return self.index == 0

    @property
    def spread(self) -> bool:
        return self.distribution is not None

    def scope(self):
        """Variables made and steps run inside this are laid out over the devices."""
        return self.distribution.scope() if self.distribution is not None else nullcontext()

    def process_batch(self, batch_size: int) -> int:
        """This process's part of each global batch; the batch must split evenly over the devices."""
        if batch_size % self.devices:
            lower = max(self.devices, batch_size // self.devices * self.devices)
            raise DistributionError(
                f"--batch-size {batch_size} does not split over {self.devices} devices: use a multiple of "
                f"{self.devices} (e.g. {lower} or {lower + self.devices}); the batch size is the global one, "
                "each device takes batch-size / devices lines")
        return batch_size // self.processes

    def share(self, count: int) -> list[int]:
        """The places (in a list of ``count``) of the lines this process renders and feeds."""
        return list(range(self.index, count, self.processes))

    def most(self, values) -> np.ndarray:
        """Elementwise maximum over the processes (every process passes the same shape)."""
        return self._gathered(values).max(axis=0)

    def least(self, values) -> np.ndarray:
        return self._gathered(values).min(axis=0)

    def from_chief(self, values) -> np.ndarray:
        """Process 0's values on every process, so they all take the same decisions."""
        values = np.asarray(values)
        if self.processes == 1:
            return values
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.broadcast_one_to_all(values))

    def _gathered(self, values) -> np.ndarray:
        values = np.asarray(values)
        if self.processes == 1:
            return values[None]
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(values, tiled=False))

    def describe(self) -> str:
        if not self.spread:
            return "one device"
        hosts = f" in {self.processes} processes" if self.processes > 1 else ""
        return f"data-parallel over {self.devices} {self.device_kind} devices{hosts}"


def _require_jax() -> None:
    import keras

    backend = keras.backend.backend()
    if backend != "jax":
        raise DistributionError(f"--distribute needs the JAX backend, not {backend}: {JAX_HINT}")


def connect(coordinator: str, num_processes: int, process_id: int) -> None:
    """Join the processes of a run; must come before anything touches a JAX device."""
    _require_jax()
    if num_processes < 2:
        raise DistributionError(f"--num-processes must be at least 2, got {num_processes}")
    if not 0 <= process_id < num_processes:
        raise DistributionError(f"--process-id must be between 0 and {num_processes - 1}, got {process_id}")
    host, sep, port = coordinator.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise DistributionError(f"--coordinator takes HOST:PORT (process 0's address), not {coordinator!r}")
    import jax
    import keras

    # Processes on CPUs exchange gradients through Gloo (GPUs use NCCL whatever this says).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        keras.distribution.initialize(coordinator, num_processes, process_id)
    except (RuntimeError, ValueError) as exc:  # a coordinator that cannot be reached or bound
        raise DistributionError(f"could not join the run at {coordinator} as process {process_id} of "
                                f"{num_processes}: {exc}") from exc


def data_parallel() -> Parallel:
    """Data parallelism over every device of every process that joined the run."""
    _require_jax()
    import jax
    import keras

    devices = jax.devices()
    if len(devices) < 2:
        raise DistributionError(
            f"--distribute found one device ({devices[0]}): nothing to spread over. Drop --distribute, "
            "check that JAX sees the GPUs (python -c 'import jax; print(jax.devices())'), or on CPU "
            "simulate devices with XLA_FLAGS=--xla_force_host_platform_device_count=N")
    distribution = keras.distribution.DataParallel(devices=devices)
    return Parallel(devices=len(devices), processes=jax.process_count(), index=jax.process_index(),
                    local_devices=jax.local_device_count(), device_kind=devices[0].platform.upper(),
                    distribution=distribution)
