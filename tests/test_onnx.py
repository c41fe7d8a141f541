"""ONNX Runtime against Keras on real lines, batching, staleness, export, and the TensorFlow-free path."""

import json
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
from conftest import MODEL_DIR, ROOT, write_png


@pytest.fixture(scope="module")
def prepared(recognizer, ondb_validation):
    from htr.render import render_strokes

    samples = ondb_validation.samples[200:224] or ondb_validation.samples  # without the data: the 10 shipped
    return [recognizer.prepare(render_strokes(s.strokes, "canvas", np.random.default_rng(i)))
            for i, s in enumerate(samples)]


@pytest.fixture(scope="module")
def keras_engine(recognizer):
    from htr.engine import KerasEngine, load_keras

    return KerasEngine(load_keras(MODEL_DIR, recognizer.config), recognizer.config.time_stride)


def best_texts(config, matrices):
    from htr.decode import best_path

    return [config.decode(best_path(p).paths[0][0]) for p in matrices]


def test_shipped_model_runs_on_onnx_and_matches_keras(recognizer, keras_engine, prepared):
    from htr.batching import RIGHT_MARGIN, pad_batch
    from htr.engine import run_batches

    assert recognizer.runtime == "onnx"
    config = recognizer.config
    for image in prepared:
        batch = pad_batch([image], config.time_stride, RIGHT_MARGIN)
        onnx_logits = recognizer.engine.logits(batch, [image.shape[1]])
        keras_logits = keras_engine.logits(batch, [image.shape[1]])
        np.testing.assert_allclose(onnx_logits, keras_logits, atol=1e-3, rtol=0)
    # Each engine batches in its own way (Keras: full batches, padded to multiples of 64).
    onnx_probs = recognizer.probabilities(prepared)
    keras_probs = run_batches(keras_engine, prepared, config.time_stride)
    assert best_texts(config, onnx_probs) == best_texts(config, keras_probs)


def test_a_line_reads_the_same_alone_and_padded_in_a_batch(recognizer, prepared):
    """What padding does: none with the margin and the LSTMs' sequence lengths, much without."""
    from htr.batching import RIGHT_MARGIN, pad_batch, width_batches

    config, engine = recognizer.config, recognizer.engine
    stride = config.time_stride
    widths = [im.shape[1] for im in prepared]
    for group in width_batches(widths, 32):
        assert max(widths[i] for i in group) <= min(widths[i] for i in group) * 1.1 + 16
    changed_without_lengths = 0
    for image in prepared:
        width, steps = image.shape[1], -(-image.shape[1] // stride)
        alone = engine.logits(pad_batch([image], stride, RIGHT_MARGIN), [width])[0, :steps]
        # Beside a line 10 % wider, and beside one twice as wide.
        for wider in (int(width * 1.1), 2 * width):
            batch = pad_batch([image, np.zeros((config.height, wider), np.float32)], stride, RIGHT_MARGIN)
            padded = engine.logits(batch, [width, wider])[0, :steps]
            np.testing.assert_allclose(padded, alone, atol=1e-4, rtol=0)
        # Without the lengths the backward LSTM reads the padding first, and without the margin
        # the convolutions see the paper's edge: the line's scores move.
        batch = pad_batch([image, np.zeros((config.height, int(width * 1.1)), np.float32)], stride)
        unmasked = engine.logits(batch, [batch.shape[2]] * 2)[0, :steps]
        changed_without_lengths += np.abs(unmasked - alone).max() > 0.05
    assert changed_without_lengths >= len(prepared) // 2
    batched = recognizer.recognize_batch(prepared, batch_size=8)
    for image, together in zip(prepared[:6], batched):
        assert recognizer.recognize(image).text == together.text


def test_stale_onnx_is_ignored_with_a_warning_until_exported(tmp_path, prepared):
    from htr import ModelLoadError, Recognizer
    from htr.engine import load_keras

    folder = tmp_path / "model"
    shutil.copytree(MODEL_DIR, folder)
    # New weights (as after training on): the shipped model.onnx no longer matches them.
    recognizer = Recognizer.load(folder)
    assert recognizer.runtime == "onnx"
    model = load_keras(folder, recognizer.config)
    weights = model.get_layer("logits").get_weights()
    model.get_layer("logits").set_weights([weights[0] * 1.05, weights[1]])
    model.save_weights(folder / "model.weights.h5")
    with pytest.warns(UserWarning, match="exported from other weights.*python -m htr export"):
        stale = Recognizer.load(folder)
    assert stale.runtime == "keras"
    with pytest.raises(ModelLoadError, match="exported from other weights"):
        Recognizer.load(folder, runtime="onnx")

    done = subprocess.run([sys.executable, "-m", "htr", "export", "--model-dir", str(folder)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    stamp = json.loads((folder / "model.onnx.json").read_text())
    assert stamp["weights_bytes"] == (folder / "model.weights.h5").stat().st_size
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fresh = Recognizer.load(folder)
    assert fresh.runtime == "onnx"
    for a, b in zip(fresh.probabilities(prepared[:8]), stale.probabilities(prepared[:8])):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_int8_export_reads_lines_as_the_float_graph(tmp_path, recognizer, prepared):
    """``export --quantize int8``: a smaller graph with int8 LSTMs that reads the same text."""
    import onnx
    from rapidfuzz.distance import Levenshtein

    from htr import Recognizer
    from htr.cli import main

    folder = tmp_path / "model"
    shutil.copytree(MODEL_DIR, folder)
    assert main(["export", "--model-dir", str(folder), "--quantize", "int8"]) == 0
    assert json.loads((folder / "model.onnx.json").read_text())["quantized"] == "int8"
    assert (folder / "model.onnx").stat().st_size < 0.6 * (MODEL_DIR / "model.onnx").stat().st_size
    ops = {node.op_type for node in onnx.load(str(folder / "model.onnx")).graph.node}
    assert "DynamicQuantizeLSTM" in ops and "LSTM" not in ops

    quantized = Recognizer.load(folder, runtime="onnx")
    assert quantized.engine.quantized == "int8" and recognizer.engine.quantized == "none"
    float_texts = best_texts(recognizer.config, recognizer.probabilities(prepared))
    int8_texts = best_texts(quantized.config, quantized.probabilities(prepared))
    edits = sum(Levenshtein.distance(a, b) for a, b in zip(float_texts, int8_texts))
    assert edits <= 0.01 * sum(map(len, float_texts)), list(zip(float_texts, int8_texts))
    # Activations are scaled per call, yet a line reads the same alone and in a batch.
    batched = quantized.recognize_batch(prepared[:8], batch_size=8)
    assert [quantized.recognize(image).text for image in prepared[:8]] == [r.text for r in batched]


def test_onnx_path_never_imports_tensorflow(tmp_path, ondb_validation):
    """predict, the app's handlers and the dashboard's inspection, each in a fresh process."""
    from htr.render import render_strokes

    line = write_png(tmp_path / "line.png", render_strokes(ondb_validation.samples[0].strokes, "canvas"))
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    check = "import sys; assert not {'tensorflow', 'keras'} & set(sys.modules), sorted(m for m in sys.modules if 'keras' in m)[:5]"
    scripts = {
        "predict": f"""
import sys
from htr.cli import main
for decoder in ("best", "beam", "lm"):
    assert main(["predict", {str(line)!r}, {str(junk)!r}, "--json", "--decoder", decoder]) == 1
{check}""",
        "app": f"""
import app
text = app.recognize({str(line)!r}, "lm")[0]
assert text, text
app.recognize({str(line)!r}, "beam")
{check}""",
        "dashboard": f"""
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("dashboard.py", default_timeout=180)
at.run()
assert not at.exception and at.code[0].value, at.exception
{check}""",
    }
    # the three fresh processes at once: each spends most of its time importing
    running = {name: subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True) for name, script in scripts.items()}
    for name, process in running.items():
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, f"{name}: {stderr[-2000:]}"
