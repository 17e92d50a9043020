"""Request bodies to images: PNG / JPEG bytes, uint8 arrays as ``.npy`` or JSON, each checked
against the server's :class:`Limits` before anything of that size is allocated, and conformed
to the model's (C, H, W) as ``icarl predict`` does (:func:`icarl.deploy.inputs.conform_images`).

Array layouts (``.npy`` or JSON): one image ``(H, W)`` or ``(H, W, C)``; a batch ``(N, H, W)``,
``(N, H, W, C)`` or ``(N, C, H, W)``; ``C`` is 1 or 3 (a 3-D array whose last axis is 1 or 3 is
one ``(H, W, C)`` image, any other 3-D array ``N`` grey images).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..data import DataError
from ..data.formats.images import decode_image
from ..deploy.inputs import InputError, conform_images
from ..errors import IcarlError

IMAGE_FORMATS = ("PNG", "JPEG")  # what Pillow must recognise in an image part or body
NPY_MAGIC = b"\x93NUMPY"


class RequestError(IcarlError):
    """A request the server refuses; ``status`` is its HTTP status (4xx)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    """What one request may hold. Bytes are counted as the body arrives (413 beyond)."""

    max_body_bytes: int = 16 << 20  # any request body
    max_json_bytes: int = 4 << 20  # a JSON body (arrays as JSON cost ~30x their bytes in Python)
    max_images: int = 64  # images in one predict request
    max_learn_images: int = 2000  # images in one learn request, all classes together
    max_classes: int = 20  # new classes in one learn request
    max_pixels: int = 16_000_000  # width x height of one image, read from its header
    max_epochs: int = 200  # a learn request's epochs

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


# ----------------------------------------------------------------- image files
def check_image_header(data: bytes, where: str, limits: Limits) -> None:
    """Refuse what is not a PNG or JPEG, and images above ``max_pixels``, from the header."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            kind, (w, h) = im.format, im.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise RequestError(
            400, f"{where} is not a readable PNG or JPEG image; send a PNG or JPEG file"
        ) from None
    if kind not in IMAGE_FORMATS:
        raise RequestError(415, f"{where} is a {kind} image; send PNG or JPEG")
    if w * h > limits.max_pixels:
        raise RequestError(
            413, f"{where} is {w}x{h} pixels, above the limit of {limits.max_pixels}; send a smaller image"
        )


def decode(data: bytes, shape: tuple[int, int, int], where: str, limits: Limits) -> Tensor:
    """One PNG / JPEG file's bytes -> uint8 (1, C, H, W) in the model's ``shape``."""
    check_image_header(data, where, limits)
    try:
        image = decode_image(data, channels=shape[0], name=where)
    except DataError:  # truncated or corrupt after a valid header
        raise RequestError(400, f"{where} is a damaged image that cannot be decoded; send it again") from None
    return conform_images(image[None], shape, where)


def is_image(data: bytes) -> bool:
    return data.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"))


# --------------------------------------------------------------------- arrays
def layout(arr: np.ndarray, where: str) -> np.ndarray:
    """An array of one image or a batch in any of the module's layouts -> (N, C, H, W)."""
    if arr.ndim == 2:
        arr = arr[None, None]
    elif arr.ndim == 3:
        arr = arr.transpose(2, 0, 1)[None] if arr.shape[2] in (1, 3) else arr[:, None]
    elif arr.ndim == 4 and arr.shape[1] not in (1, 3) and arr.shape[3] in (1, 3):
        arr = arr.transpose(0, 3, 1, 2)
    if arr.ndim != 4 or arr.shape[1] not in (1, 3) or min(arr.shape[2:]) < 1:
        raise RequestError(
            400,
            f"{where} has shape {list(arr.shape)}; send (H, W), (H, W, C), (N, H, W), (N, H, W, C) "
            "or (N, C, H, W) with C = 1 or 3",
        )
    return arr


def from_array(arr: np.ndarray, shape: tuple[int, int, int], where: str, limits: Limits, most: int) -> Tensor:
    """A uint8 array -> (N, C, H, W) in the model's ``shape``, at most ``most`` images."""
    arr = layout(arr, where)
    n, _, h, w = arr.shape
    if n > most:
        raise RequestError(413, f"{where} holds {n} images, above the limit of {most}; send fewer")
    if h * w > limits.max_pixels:
        raise RequestError(413, f"{where}: images of {w}x{h} pixels, above the limit of {limits.max_pixels}")
    x = torch.from_numpy(np.ascontiguousarray(arr))
    try:
        return conform_images(x, shape, where)
    except InputError as e:
        raise RequestError(400, str(e)) from None


def read_npy(data: bytes, where: str) -> np.ndarray:
    """A ``.npy`` body -> its uint8 array; the header's shape must match the bytes that follow
    (a header may declare any size), no pickled objects."""
    from numpy.lib import format as fmt

    f = io.BytesIO(data)
    try:
        version = fmt.read_magic(f)
        reader = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = reader(f, max_header_size=1 << 12)
    except (ValueError, OSError, SyntaxError) as e:
        raise RequestError(
            400, f"{where} is not a readable .npy array ({e}); save it with numpy.save"
        ) from None
    if dtype != np.uint8:
        raise RequestError(400, f"{where} holds {dtype} values; send uint8 pixels 0..255")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    body = data[f.tell() :]
    if count != len(body):
        raise RequestError(400, f"{where} declares {count} bytes of pixels but holds {len(body)}")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape, order="F" if fortran else "C").copy()


def json_array(value: Any, where: str) -> np.ndarray:
    """Nested JSON lists of whole numbers 0..255 -> a uint8 array."""
    try:
        arr = np.asarray(value)
    except ValueError:
        raise RequestError(400, f"{where} is a ragged list; every image must have the same shape") from None
    if arr.dtype.kind not in "iu" or arr.size == 0:
        raise RequestError(400, f"{where} must be nested lists of whole numbers 0..255")
    if int(arr.min()) < 0 or int(arr.max()) > 255:
        raise RequestError(400, f"{where} holds values outside 0..255; send uint8 pixels")
    return arr.astype(np.uint8)


def json_document(body: bytes, limits: Limits) -> dict[str, Any]:
    """A JSON body (an object) within the JSON size limit."""
    if len(body) > limits.max_json_bytes:
        raise RequestError(
            413,
            f"the JSON body is {len(body)} bytes, above the limit of {limits.max_json_bytes}; "
            "send larger images as PNG or .npy",
        )
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise RequestError(
            400, 'the body is not valid JSON; send an object such as {"images": [...]}'
        ) from None
    if not isinstance(doc, dict):
        raise RequestError(400, 'the JSON body must be an object such as {"images": [...]}')
    return doc
