"""Training (needs the ``train`` extra: Keras and TensorFlow or JAX): the loop and its settings
(:mod:`~htr.train.loop`), augmentation of pen lines and scans, several devices, averaging and
widening of weights, evaluation on validation sets, background jobs for the dashboard, and
installing a trained model as the app's."""
