"""Settings TensorFlow reads once, when it is first imported: every entry point applies them
before anything imports it (and ``train`` its own, before it imports the training code); and
what to say when a command needs the training extra (Keras, TensorFlow) and it is not installed."""

import importlib.util
import os

# Where the training extra comes from: the package's extra, or everything in a checkout.
TRAIN_EXTRA_HINT = 'pip install "htr[train]" (in a checkout: pip install -r requirements-dev.txt)'
# Modules only the training extra (and the tests' JAX) brings: reading never imports them.
TRAINING_MODULES = frozenset({"keras", "tensorflow", "h5py", "onnx", "tf2onnx", "jax", "jaxlib"})
# Commands that build, change or export Keras models, and the modules each needs.
COMMAND_NEEDS = {
    "train": ("keras", "h5py"),
    "average": ("keras", "h5py"),
    "blend": ("keras", "h5py"),
    "widen": ("keras", "h5py"),
    "export": ("keras", "h5py", "tensorflow", "onnx", "tf2onnx"),
    "adapt": ("keras", "h5py", "tensorflow", "onnx", "tf2onnx"),  # trains, then exports
}


def configure_tensorflow(training: bool = False) -> None:
    """Quiet start-up; for ``training``, oneDNN's CPU kernels wherever the CPU can run them."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # fewer C++ start-up lines on stderr
    if training:
        # TensorFlow turns oneDNN on by itself only on CPUs with AVX-512; on AVX2 cores it
        # makes a training step about 1.45 times faster (docs/experiments/2026-11-26-training-on-a-cpu.md). Not for
        # reading: Keras inference gains little, and TensorFlow then logs two notices at
        # import and one about boolean masks at the first step.
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_extra_message(what: str, missing: list[str] | tuple[str, ...]) -> str:
    """One line: what needs the training extra, what is missing, how to install it."""
    return f"{what} needs the training extra ({', '.join(missing)} not installed): {TRAIN_EXTRA_HINT}"


def missing_for_command(command: str | None) -> str | None:
    """None if ``command`` (a ``python -m htr`` sub-command) can run here, else the one-line reason."""
    missing = [module for module in COMMAND_NEEDS.get(command or "", ()) if not installed(module)]
    if not missing:
        return None
    return missing_extra_message(f"htr {command}", missing)


def is_training_module(exc: BaseException) -> bool:
    """Whether ``exc`` is an ImportError for a module only the training extra installs."""
    name = getattr(exc, "name", None) or ""
    return isinstance(exc, ImportError) and name.split(".")[0] in TRAINING_MODULES
