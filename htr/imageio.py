"""One image reader for every face: files, bytes, uploads, PIL images and arrays.

The command line, the app and the dashboard all read pictures here, so a phone photo is
upright everywhere (EXIF orientation applied), a decompression bomb is refused before any
pixel is decoded, and every pixel format (palette, 1-bit, CMYK, 16-bit, alpha) arrives as
a plain grey or RGB(A) array. Every failure is a :class:`BadImageError` with a message.
"""

import io
import struct
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import PIL.Image
import PIL.ImageOps

from htr.errors import BadImageError

# Images above this many pixels are refused before decoding (a 10,000 x 10,000 photo is far
# beyond any phone); larger ones than WORK_SIDE on the long side are shrunk on arrival, which
# is all the recognizer uses anyway.
MAX_PIXELS = 100_000_000
MAX_BYTES = 50_000_000  # an encoded file above this is refused before it is read
WORK_SIDE = 2400
MIN_SIDE = 4  # fewer pixels than this on either side cannot hold a line of text
FORMATS = "PNG, JPEG, WebP, BMP, GIF or TIFF"

_ARRAY_MODES = ("L", "LA", "RGB", "RGBA", "I;16", "I", "F")


def _plain_mode(im: PIL.Image.Image) -> PIL.Image.Image:
    """Palette, 1-bit, CMYK ... images as L/RGB(A); 8/16/32-bit grey ones as they are."""
    if im.mode in ("I;16B", "I;16L"):
        return im.convert("I;16")
    if im.mode in _ARRAY_MODES:
        return im
    has_alpha = "A" in im.getbands() or "transparency" in im.info
    return im.convert("RGBA" if has_alpha else "RGB")


def too_large(name: str, width: int | None = None, height: int | None = None) -> str:
    """The one message for an image over MAX_PIXELS, whichever way it arrived."""
    size = f"{width} x {height} pixels" if width and height else \
        f"over {2 * (PIL.Image.MAX_IMAGE_PIXELS or MAX_PIXELS) // 1_000_000} megapixels"
    return f"{name} is too large ({size}); the limit is {MAX_PIXELS // 1_000_000} megapixels"


def too_many_bytes(name: str, size: int) -> str:
    return f"{name} is too large ({size / 1e6:.0f} MB); the limit is {MAX_BYTES // 1_000_000} MB"


def _file_size(path: Path, name: str) -> None:
    """Refuse an empty or oversized file before reading it."""
    size = path.stat().st_size
    if size == 0:
        raise BadImageError(f"{name}: the file is empty")
    if size > MAX_BYTES:
        raise BadImageError(too_many_bytes(name, size))


def from_pil(im: PIL.Image.Image) -> np.ndarray:
    im = _plain_mode(im)
    array = np.asarray(im)
    if im.mode == "I":  # 32-bit integers: in practice 16-bit data
        array = np.clip(array, 0, 65535).astype(np.uint16)
    return array


def shrink(image: np.ndarray) -> np.ndarray:
    """Very large arrays down to WORK_SIDE on the long side, keeping their dtype."""
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE:  # said in the size it arrived in, not the one it would be shrunk to
        raise BadImageError(f"image too small ({w} x {h} pixels) to hold a line of text")
    factor = WORK_SIDE / max(h, w)
    if factor >= 1 or image.dtype not in (np.uint8, np.uint16, np.float32):
        return image  # (preprocessing shrinks other pixel types itself, after converting them)
    # (a long thin image keeps the few pixels it has across: shrinking must not make it unreadable)
    size = (max(min(w, MIN_SIDE), round(w * factor)), max(min(h, MIN_SIDE), round(h * factor)))
    return cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_AREA)


def decode_image(data: bytes | bytearray | io.IOBase, name: str = "the image") -> np.ndarray:
    """Encoded image bytes -> array (colour as RGB(A), alpha and bit depth kept), upright."""
    if isinstance(data, (bytes, bytearray)) and not data:
        raise BadImageError(f"{name}: not a readable image (the data is empty)")
    if isinstance(data, (bytes, bytearray)) and len(data) > MAX_BYTES:
        raise BadImageError(too_many_bytes(name, len(data)))
    source = io.BytesIO(bytes(data)) if isinstance(data, (bytes, bytearray)) else data
    try:
        with warnings.catch_warnings():
            # The size is checked below, before any pixels are decoded; corrupt EXIF data
            # (a UserWarning) leaves the image unrotated.
            warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)
            warnings.simplefilter("ignore", UserWarning)
            im = PIL.Image.open(source)
            im.getexif()
        with im, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise BadImageError(too_large(name, w, h))
            if im.format == "JPEG":
                im.draft(im.mode, (WORK_SIDE, WORK_SIDE))  # decode big photos at reduced size
            im = _plain_mode(PIL.ImageOps.exif_transpose(im))
            factor = max(im.size) // WORK_SIDE
            if factor >= 2:
                im = im.reduce(factor)
            array = from_pil(im)
    except BadImageError:
        raise
    except PIL.Image.DecompressionBombError as exc:  # Pillow's own, stricter check: over 2 x its limit
        raise BadImageError(too_large(name)) from exc
    except PIL.UnidentifiedImageError as exc:
        raise BadImageError(f"{name}: not a readable image (use {FORMATS})") from exc
    except (OSError, SyntaxError, ValueError, EOFError, TypeError, KeyError, IndexError,
            ZeroDivisionError, struct.error) as exc:
        raise BadImageError(f"{name}: the image file is damaged or truncated") from exc
    if array.size == 0:
        raise BadImageError(f"{name}: the image has no pixels")
    return shrink(array)


def encode_png(image: np.ndarray) -> bytes:
    """An RGB(A) (or grey) array as PNG bytes, for pictures the faces hand to a browser or keep."""
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:  # (OpenCV writes BGRA: red and blue would swap)
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise BadImageError("could not encode the picture as PNG")
    return encoded.tobytes()


def read_image_file(path: str | Path) -> np.ndarray:
    """Decode an image file (PNG, JPEG, WebP, GIF, BMP, TIFF ...) with its EXIF rotation applied."""
    path = Path(path)
    if not path.is_file():
        raise BadImageError(f"{path}: no such file")
    _file_size(path, str(path))
    with path.open("rb") as handle:
        return decode_image(handle, str(path))


def read_upload(payload: dict) -> np.ndarray:
    """A file sent through a web form (``{"path": ..., "orig_name": ...}``): named by its own
    name in messages, never by where the server keeps it."""
    path = payload.get("path")
    if not path or not isinstance(path, (str, Path)):
        raise BadImageError("no image received: upload or paste a picture of handwriting")
    path = Path(path)
    if not path.is_file():
        raise BadImageError("the image file did not arrive; please upload it again")
    name = payload.get("orig_name") if isinstance(payload.get("orig_name"), str) else None
    name = Path(name or path.name).name or "the image"
    _file_size(path, name)
    with path.open("rb") as handle:
        return decode_image(handle, name)


def read_image(value: Any) -> np.ndarray:
    """Any image a caller hands over -> numpy image.

    Accepts a file path, encoded bytes, a Gradio file payload (``{"path": ...}``), a PIL
    image or an array (2-D grey, or H x W x 1-4 channels).
    """
    if value is None:
        raise BadImageError("no image received: upload or paste a picture of handwriting")
    if isinstance(value, dict):  # a Gradio FileData payload
        return read_upload(value)
    if isinstance(value, (str, Path)):
        return read_image_file(value)
    if isinstance(value, (bytes, bytearray)):
        if not value:
            raise BadImageError("the image data is empty")
        return decode_image(value)
    if isinstance(value, PIL.Image.Image):
        w, h = value.size
        if w * h > MAX_PIXELS:
            raise BadImageError(too_large("the image", w, h))
        if w * h == 0:
            raise BadImageError(f"the image has no pixels ({w} x {h})")
        return shrink(from_pil(PIL.ImageOps.exif_transpose(value)))
    if isinstance(value, np.ndarray):
        if value.ndim not in (2, 3) or value.size == 0 or (value.ndim == 3 and value.shape[2] not in (1, 2, 3, 4)):
            raise BadImageError(f"not an image: an array of shape {value.shape}")
        if value.shape[0] * value.shape[1] > MAX_PIXELS:
            raise BadImageError(too_large("the image", value.shape[1], value.shape[0]))
        return shrink(value)
    raise BadImageError(f"not an image: got {type(value).__name__}")
