"""Settings TensorFlow reads once, when it is first imported: every entry point applies them
before anything imports it (and ``train`` its own, before it imports the training code)."""

import os


def configure_tensorflow(training: bool = False) -> None:
    """Quiet start-up; for ``training``, oneDNN's CPU kernels wherever the CPU can run them."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # fewer C++ start-up lines on stderr
    if training:
        # TensorFlow turns oneDNN on by itself only on CPUs with AVX-512; on AVX2 cores it
        # makes a training step about 1.45 times faster (README, "Training on a CPU"). Not for
        # reading: Keras inference gains little, and TensorFlow then logs two notices at
        # import and one about boolean masks at the first step.
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
