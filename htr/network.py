"""The CRNN: convolutions read strokes, a bidirectional LSTM reads the line left to right
and back, and a dense layer gives per-timestep scores over the charset plus the CTC blank.

Backend-neutral Keras 3: the same code trains on TensorFlow, JAX or PyTorch.
"""

import keras
import numpy as np
from keras import layers, ops

from htr.config import ModelConfig


@keras.saving.register_keras_serializable(package="htr")
class StepMask(layers.Layer):
    """True for the timesteps that cover a line's own ink, False for batch padding.

    Masking lets the backward LSTM start at the line's real end, so a line reads the same
    alone or padded in a batch beside a longer one.
    """

    def call(self, features, steps):
        t = ops.shape(features)[1]
        return ops.less(ops.expand_dims(ops.arange(t), 0), ops.expand_dims(ops.cast(steps, "int32"), 1))

    def compute_output_shape(self, features_shape, steps_shape):
        return features_shape[:2]


@keras.saving.register_keras_serializable(package="htr")
class DropMask(layers.Layer):
    """Ends mask propagation: the CTC loss gets each line's length explicitly instead."""

    def call(self, inputs, mask=None):
        return ops.copy(inputs)  # a new tensor: the input tensor carries the mask

    def compute_mask(self, inputs, mask=None):
        return None


def build_model(config: ModelConfig, masked: bool = True) -> keras.Model:
    """Inputs: (batch, height, width, 1) ink in [0, 1] and each line's timestep count
    (``ceil(width / time_stride)`` before padding). Output: (batch, timesteps, classes) logits.

    ``masked=False`` builds the inference graph: the same layers and weights with the image as
    the only input and no mask, so an ONNX export keeps the native LSTM op (a mask turns the
    LSTMs into loops). It reads a line exactly as the masked model does when the line fills its
    batch's width; batch lines of similar width (:func:`htr.batching.width_batches`).
    """
    image = keras.Input(shape=(config.height, None, 1), name="image")
    steps = keras.Input(shape=(), dtype="int32", name="steps") if masked else None
    x = image
    for i, (filters, (pool_h, pool_w)) in enumerate(zip(config.conv_filters, config.pools, strict=True)):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"bn{i}")(x)
        x = layers.Activation("relu", name=f"relu{i}")(x)
        if pool_h > 1 or pool_w > 1:
            x = layers.MaxPooling2D((pool_h, pool_w), name=f"pool{i}")(x)
    # (batch, h, w, c) -> (batch, w, h * c): one feature vector per timestep.
    x = layers.Permute((2, 1, 3), name="to_time_major")(x)
    x = layers.Reshape((-1, config.feature_height * config.conv_filters[-1]), name="collapse_height")(x)
    x = layers.Dense(config.lstm_units, activation="relu", name="project")(x)
    x = layers.Dropout(config.dropout, name="drop_in")(x)
    mask = StepMask(name="step_mask")(x, steps) if masked else None
    for i in range(config.lstm_layers):
        x = layers.Bidirectional(layers.LSTM(config.lstm_units, return_sequences=True), name=f"blstm{i}")(x, mask=mask)
        x = layers.Dropout(config.dropout, name=f"drop{i}")(x)
    if masked:
        x = DropMask(name="drop_mask")(x)
    outputs = layers.Dense(config.num_classes, name="logits")(x)
    if not masked:
        return keras.Model(image, outputs, name="crnn")
    return keras.Model([image, steps], outputs, name="crnn")


def model_inputs(batch: np.ndarray, widths: list[int], time_stride: int) -> list[np.ndarray]:
    """The model's two inputs for a padded batch of lines of the given widths."""
    return [batch, np.array([-(-w // time_stride) for w in widths], np.int32)]


def ctc_targets(labels: list[list[int]], steps: list[int], label_width: int | None = None) -> np.ndarray:
    """Pack labels and each line's own number of timesteps into one ``y_true`` matrix.

    Row i is ``labels[i]`` padded with 0 (the blank, never a label) to ``label_width`` columns,
    then ``steps[i]``: the loss scores only the frames that cover the line's ink, so the model
    never learns to emit characters into the padding of a wider neighbour in the batch.
    """
    width = label_width or max(len(l) for l in labels)
    y = np.zeros((len(labels), width + 1), np.int32)
    for row, (seq, n) in enumerate(zip(labels, steps, strict=True)):
        y[row, : len(seq)] = seq
        y[row, -1] = n
    return y


@keras.saving.register_keras_serializable(package="htr")
def ctc_loss(y_true, y_pred):
    """CTC loss on logits; ``y_true`` as made by :func:`ctc_targets`. Under TensorFlow on a CPU
    through TensorFlow's sparse-label kernel, elsewhere :func:`keras_ctc_loss`: the same loss."""
    if _tensorflow_on_cpu():
        return _sparse_ctc_loss(*_labels_and_steps(y_true, y_pred), y_pred)
    return keras_ctc_loss(y_true, y_pred)


def keras_ctc_loss(y_true, y_pred):
    """CTC loss through ``keras.ops.ctc_loss``: every backend and device."""
    labels, logit_length = _labels_and_steps(y_true, y_pred)
    label_length = ops.sum(ops.cast(ops.not_equal(labels, 0), "int32"), axis=-1)
    return ops.ctc_loss(labels, y_pred, label_length, logit_length, mask_index=0)


def _labels_and_steps(y_true, y_pred):
    """The padded label rows and each line's timesteps out of :func:`ctc_targets`' rows."""
    y_true = ops.cast(y_true, "int32")
    return y_true[:, :-1], ops.minimum(y_true[:, -1], ops.shape(y_pred)[1])


def _tensorflow_on_cpu() -> bool:
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return not tf.config.list_physical_devices("GPU")


def _sparse_ctc_loss(labels, logit_length, logits):
    """TensorFlow's CTC kernel on sparse labels: the loss and gradient of ``ops.ctc_loss``,
    whose dense labels TensorFlow runs as a scan of small ops, about 14 times slower on a CPU
    (a tenth of a training step; a fifth once oneDNN speeds up the rest). Not under XLA (no
    kernel there), hence CPU only, where Keras does not compile with XLA. The kernel wants the
    blank last, and a text with more characters than its line has timesteps gives 0 instead of
    stopping the run with an error."""
    import tensorflow as tf

    logits = tf.cast(logits, "float32")
    logits = tf.concat([logits[..., 1:], logits[..., :1]], axis=-1)
    sparse = tf.sparse.from_dense(labels)  # the padding (0) drops out
    sparse = tf.SparseTensor(sparse.indices, sparse.values - 1, sparse.dense_shape)
    return tf.compat.v1.nn.ctc_loss(sparse, logits, tf.cast(logit_length, "int32"), time_major=False,
                                    ignore_longer_outputs_than_inputs=True)


def compile_model(model: keras.Model, learning_rate: float = 1e-3) -> keras.Model:
    model.compile(optimizer=keras.optimizers.Adam(learning_rate, clipnorm=5.0), loss=ctc_loss)
    return model
