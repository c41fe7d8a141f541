"""Property-based tests: whatever arrives as an image, the package answers with a result or
with one of its own errors carrying a message, never with anything else.

Random arrays of any shape, dtype and value range (NaN, inf, empty, 1 x 10,000, 4 channels,
bool ...), random bytes, damaged and truncated PNG/JPEG/WebP/GIF/BMP/TIFF files, files whose
header claims a huge size, EXIF orientations (valid and not), PIL images of every mode, Gradio
payloads and other values go through the reader, preprocessing, ``Recognizer.recognize`` and
the served ``/recognize``. Runs are reproducible: derandomized, with no example database.
"""

import io
import struct
import tempfile
import zlib
from pathlib import Path

import conftest
import cv2
import numpy as np
import PIL.Image
import pytest
from conftest import ROOT
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from htr.errors import HTRError
from htr.imageio import WORK_SIDE, read_image
from htr.preprocess import preprocess

# Numeric trouble (overflow, invalid casts) is a failure too, not a warning.
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

CASES = conftest.fuzz_cases  # generated inputs per target: 500, or 100 in the quick loop
FUZZ = settings(max_examples=CASES, deadline=None, derandomize=True, database=None, print_blob=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])

DTYPES = [np.bool_, np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.int64, np.uint64,
          np.float16, np.float32, np.float64, np.complex64]
SHAPES = [(), (0,), (5,), (0, 10), (10, 0), (0, 0, 3), (1, 1), (2, 2), (3, 3, 3), (1, 10_000), (10_000, 1),
          (4, 4000), (64, 64, 4), (48, 200, 4), (48, 200, 2), (48, 200, 1), (48, 200, 3), (20, 20, 5),
          (20, 20, 0), (4, 4, 4, 4), (8, 120), (200, 30), (16, 16, 3)]
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -1.0, 1.0, 255.0, 65535.0, 1e30, -1e30]
MODES = ["1", "L", "P", "RGB", "RGBA", "CMYK", "I;16", "I;16B", "I", "F", "LA", "PA", "YCbCr", "HSV", "LAB"]
FORMATS = {"PNG": {}, "JPEG": {"quality": 80}, "WEBP": {}, "GIF": {}, "BMP": {}, "TIFF": {}}


def line(height: int, width: int, seed: int) -> np.ndarray:
    """Dark strokes on white, roughly a line of text (uint8), at any size."""
    image = np.full((height, width), 255, np.uint8)
    rng = np.random.default_rng(seed)
    if height >= 4 and width >= 4:
        scale = max(0.2, height / 60)
        cv2.putText(image, "fuzz line", (2, int(height * 0.7)), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, scale,
                    int(rng.integers(0, 120)), max(1, int(scale * 2)), cv2.LINE_AA)
    return image


def to_dtype(unit: np.ndarray, dtype, scale: float) -> np.ndarray:
    """Values in [0, 1] -> ``dtype`` spread over ``scale`` (which may overflow the type: on purpose)."""
    with np.errstate(all="ignore"):
        values = unit.astype(np.float64) * scale
        if dtype is np.bool_:
            return values > scale / 2
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            return np.asarray(np.clip(values, info.min, info.max).astype(dtype))
        return np.asarray(values.astype(dtype))


@st.composite
def any_array(draw) -> np.ndarray:
    """An array an image-reading caller might hand over, from plausible to absurd."""
    if draw(st.integers(0, 3)) == 0:  # small arrays with hypothesis's own element values
        dtype = draw(st.sampled_from([np.uint8, np.uint16, np.int32, np.float32, np.float64, np.bool_]))
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=12))
        return draw(hnp.arrays(dtype, shape))
    shape = draw(st.one_of(st.sampled_from(SHAPES),
                           st.tuples(st.integers(1, 160), st.integers(1, 600)),
                           st.tuples(st.integers(1, 96), st.integers(1, 400), st.integers(1, 4))))
    dtype = draw(st.sampled_from(DTYPES))
    scale = draw(st.sampled_from([1.0, 255.0, 65535.0, 2.0**31, 1e30, -1.0, 0.5]))
    kind = draw(st.sampled_from(["line", "line", "noise", "constant", "inverted", "transparent-ink"]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    if len(shape) < 2 or 0 in shape:
        array = np.asarray(rng.random(shape))
    else:
        h, w = shape[:2]
        unit = rng.random((h, w)) if kind == "noise" else np.full((h, w), rng.random()) if kind == "constant" \
            else line(h, w, seed) / 255.0
        if kind == "inverted":
            unit = 1.0 - unit
        if len(shape) >= 3 and kind == "transparent-ink" and shape[2] in (2, 4):
            unit = np.stack([np.ones_like(unit)] * (shape[2] - 1) + [1.0 - unit], axis=-1)  # white ink on nothing
        for n in shape[unit.ndim:]:
            unit = np.repeat(unit[..., None], n, axis=-1)
        array = unit
    array = to_dtype(array, dtype, scale)
    if array.size and np.issubdtype(array.dtype, np.inexact):
        for _ in range(draw(st.integers(0, 3))):
            index = tuple(int(rng.integers(0, n)) for n in array.shape)
            with np.errstate(all="ignore"):
                array[index] = draw(st.sampled_from(SPECIAL))
    if array.ndim >= 2 and draw(st.booleans()):
        array = array[:, ::-1] if draw(st.booleans()) else np.swapaxes(array, 0, 1)  # not C-contiguous
    return array


def encode(image: np.ndarray, fmt: str, exif_orientation: int | None = None) -> bytes:
    im = PIL.Image.fromarray(image)
    if fmt in ("JPEG", "BMP") and im.mode in ("RGBA", "LA"):
        im = im.convert("RGB")
    options = dict(FORMATS[fmt])
    if exif_orientation is not None:
        exif = PIL.Image.Exif()
        exif[0x0112] = exif_orientation
        options["exif"] = exif.tobytes()
    buffer = io.BytesIO()
    im.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_claiming(width: int, height: int, payload: bytes) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (grey, 8 bit) around any data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(payload)) + chunk(b"IEND", b"")


@st.composite
def encoded_file(draw) -> bytes:
    """Image files: whole, truncated, bytes flipped, EXIF orientations valid and not, huge claims."""
    kind = draw(st.sampled_from(["file", "file", "truncated", "corrupted", "exif", "claims"]))
    if kind == "claims":
        return png_claiming(draw(st.integers(0, 2**31 - 1)), draw(st.integers(0, 2**31 - 1)),
                            draw(st.binary(max_size=64)))
    h, w = draw(st.integers(1, 90)), draw(st.integers(1, 420))
    image = line(h, w, draw(st.integers(0, 99)))
    channels = draw(st.sampled_from([0, 3, 4]))
    if channels:
        image = np.dstack([image] * 3 + ([255 - image] if channels == 4 else []))
    fmt = "JPEG" if kind == "exif" else draw(st.sampled_from(sorted(FORMATS)))
    orientation = draw(st.one_of(st.integers(1, 8), st.integers(0, 65535))) if kind == "exif" else None
    data = encode(image, fmt, orientation)
    if kind == "truncated":
        return data[: draw(st.integers(0, len(data) - 1))]
    if kind == "corrupted":
        data = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    return data


@st.composite
def pil_image(draw) -> PIL.Image.Image:
    mode = draw(st.sampled_from(MODES))
    width, height = draw(st.integers(0, 300)), draw(st.integers(0, 80))
    if not width or not height:
        return PIL.Image.new(mode, (width, height))
    base = PIL.Image.fromarray(line(height, width, draw(st.integers(0, 99))))
    try:
        return base.convert(mode)
    except ValueError:  # modes PIL does not convert grey into
        return PIL.Image.new(mode, (width, height))


class OnDisk:
    """Bytes written to a temporary file, handed over as a path or a Gradio upload payload."""

    def __init__(self, data: bytes, as_payload: bool):
        self.data, self.as_payload = data, as_payload

    def __repr__(self) -> str:
        return f"OnDisk({len(self.data)} bytes, payload={self.as_payload})"


def other_values():
    return st.sampled_from([None, 42, 3.5, "", "no/such/file.png", b"", [], [[0, 255], [255, 0]], {}, {"path": None},
                            {"path": 7}, {"path": "/no/such/upload.png"}, object(), np.float32(1.0),
                            np.array("a string"), np.array([None, None], dtype=object)])


def any_input():
    """Everything the reader accepts, in every shape it might arrive in."""
    files = encoded_file()
    return st.one_of(
        any_array(),
        files,
        st.binary(max_size=512),
        pil_image(),
        st.builds(OnDisk, files, st.booleans()),
        other_values(),
    )


def call(function, value):
    """Run ``function(value)``; the package's own errors (with a message) are the only ones allowed."""
    if isinstance(value, OnDisk):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "upload.img"
            path.write_bytes(value.data)
            return call(function, {"path": str(path), "orig_name": "line.png"} if value.as_payload else str(path))
    try:
        result = function(value)
    except HTRError as exc:
        assert str(exc).strip(), f"{type(exc).__name__} without a message"
        event(type(exc).__name__)
        return None
    event("read")
    return result


@FUZZ
@given(any_input())
def test_reader_gives_an_image_or_a_clear_error(value):
    image = call(read_image, value)
    if image is not None:
        assert isinstance(image, np.ndarray) and image.size > 0
        assert image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 2, 3, 4))
        if not isinstance(value, np.ndarray):  # decoded images arrive at most WORK_SIDE on the long side
            assert max(image.shape[:2]) <= 2 * WORK_SIDE


@FUZZ
@given(st.one_of(any_array(), any_array(), encoded_file().map(lambda data: call(read_image, data))))
def test_preprocessing_gives_an_ink_map_or_a_clear_error(image):
    if image is None:
        return
    ink = call(preprocess, image)
    if ink is not None:
        assert ink.dtype == np.float32 and ink.shape[0] == 64 and 1 <= ink.shape[1] <= 2048
        assert np.isfinite(ink).all() and ink.min() >= 0.0 and ink.max() <= 1.0


@FUZZ
@given(any_input(), st.sampled_from(["best", "beam", "lm"]))
def test_recognizer_reads_or_gives_a_clear_error(recognizer, value, decoder):
    result = call(lambda v: recognizer.recognize(v, decoder=decoder, beam_width=4, top_k=2), value)
    if result is not None:
        assert isinstance(result.text, str) and 0.0 <= result.confidence <= 1.0
        assert np.isfinite(result.probabilities).all()


# --- the served /recognize ----------------------------------------------------------------

SERVED_CASES = 40


@pytest.fixture(scope="module")
def served():
    """The Gradio app on a free loopback port, and a client for it."""
    gr = pytest.importorskip("gradio")  # noqa: F841

    from conftest import free_port
    from gradio_client import Client

    import app

    app.get_recognizer()
    port = free_port()
    app.launch("127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    yield Client(f"http://127.0.0.1:{port}/", verbose=False)
    app.demo.close()


@settings(FUZZ, max_examples=SERVED_CASES)
@given(st.one_of(encoded_file(), encoded_file(), st.binary(min_size=1, max_size=256), any_array().map(lambda a: to_png(a))))
def test_served_recognize_reads_or_gives_a_clear_error(served, data):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "upload.png"
        path.write_bytes(data)
        try:
            result = served.predict(handle_file(str(path)), api_name="/recognize")
        except AppError as exc:
            message = str(exc)
            assert message.strip() and "upstream Gradio app has raised an exception" not in message, message
            assert "Something went wrong" not in message, message  # an unexpected exception inside
            event(message[:70])
        else:
            assert len(result) == 6 and isinstance(result[0], str)
            event("read")


def to_png(array: np.ndarray) -> bytes:
    """Whatever OpenCV can write of an array as PNG (what it cannot, as raw bytes)."""
    try:
        ok, encoded = cv2.imencode(".png", array)
    except cv2.error:
        ok = False
    return encoded.tobytes() if ok else array.tobytes()[:4096]


def test_server_keeps_serving_after_the_fuzz(served):
    from gradio_client import handle_file

    example = ROOT / "assets" / "example-canvas-1.png"
    assert served.predict(handle_file(str(example)), api_name="/recognize")[0].strip()
