"""Requests to arguments: the images of a predict request, the classes and settings of a learn
request, query parameters. Decoding runs on a worker thread (``anyio``), off the event loop.

Bodies (``Content-Type``):

- ``multipart/form-data``: predict takes every file part as an image; learn takes each file
  part as an image of the class its field names (``curl -F cat=@a.png -F cat=@b.png -F dog=@c.png``);
- ``image/png``, ``image/jpeg``: one image (predict);
- ``application/x-npy`` (``numpy.save``): a uint8 array (predict);
- ``application/json``: ``{"images": ARRAY}`` (predict) or ``{"classes": {"NAME": ARRAY, ...}}``
  (learn), ARRAY nested lists of whole numbers 0..255 in a layout of :mod:`.payload`.
"""

from __future__ import annotations

import math
import unicodedata
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from ..algorithm import ICaRL
from .host import UNKNOWN
from .payload import (
    NPY_MAGIC,
    Limits,
    RequestError,
    decode,
    from_array,
    is_image,
    json_array,
    json_document,
    read_npy,
)

if TYPE_CHECKING:
    from starlette.datastructures import UploadFile
    from starlette.requests import Request

Shape = tuple[int, int, int]
ACCEPTED = "multipart/form-data, image/png, image/jpeg, application/x-npy or application/json"
MAX_NAME = 64


def content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def query_int(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.strip().isdigit() or not lo <= int(text) <= hi:
        raise RequestError(400, f"{name}={text!r} is not a whole number in {lo}..{hi}")
    return int(text)


def query_float(request: Request, name: str, lo: float, hi: float) -> float | None:
    text = request.query_params.get(name)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and lo < value <= hi):
        raise RequestError(400, f"{name}={text!r} is not a number in ({lo}, {hi}]")
    return value


async def in_thread(fn: Any, *args: Any) -> Any:
    from anyio import to_thread

    return await to_thread.run_sync(fn, *args)


async def file_parts(request: Request, limits: Limits) -> list[tuple[str, UploadFile]]:
    """(field name, file) of every file part; a text part is refused."""
    from starlette.datastructures import UploadFile

    form = await request.form(max_files=limits.max_learn_images + limits.max_images + 1, max_fields=100)
    parts = []
    for name, value in form.multi_items():
        if not isinstance(value, UploadFile):
            raise RequestError(400, f"the form field {name!r} is not a file; send images as file parts")
        parts.append((name, value))
    return parts


def _decode_all(blobs: list[tuple[bytes, str]], shape: Shape, limits: Limits) -> Tensor:
    return torch.cat([decode(data, shape, where, limits) for data, where in blobs])


# ------------------------------------------------------------------ predict
async def predict_images(request: Request, shape: Shape, limits: Limits) -> Tensor:
    """The images of a predict request, uint8 (N, C, H, W) in the model's ``shape``."""
    kind = content_type(request)
    if kind == "multipart/form-data":
        parts = await file_parts(request, limits)
        if len(parts) > limits.max_images:
            raise RequestError(
                413, f"{len(parts)} images in one request, above the limit of {limits.max_images}"
            )
        blobs = [(await f.read(), f"image {f.filename or name!s}") for name, f in parts]
        if not blobs:
            raise RequestError(
                400, "the form holds no file; send images as file parts (curl -F image=@a.png)"
            )
        x: Tensor = await in_thread(_decode_all, blobs, shape, limits)
        return x
    if kind not in (
        "image/png",
        "image/jpeg",
        "application/x-npy",
        "application/octet-stream",
        "application/json",
    ):
        raise RequestError(415, f"content type {kind or 'none'!r} is not accepted; send {ACCEPTED}")
    body = await request.body()
    if not body:
        raise RequestError(400, "the request has no body; send an image")
    if kind == "application/json":
        doc = await in_thread(json_document, body, limits)
        if "images" not in doc:
            raise RequestError(400, 'the JSON body has no "images"; send {"images": ARRAY}')
        arr = json_array(doc["images"], '"images"')
        result: Tensor = await in_thread(from_array, arr, shape, "the JSON images", limits, limits.max_images)
        return result
    if body.startswith(NPY_MAGIC):
        arr = read_npy(body, "the .npy body")
        result = await in_thread(from_array, arr, shape, "the .npy body", limits, limits.max_images)
        return result
    if kind == "application/x-npy" or not is_image(body):
        raise RequestError(400, f"the body is not a PNG, JPEG or .npy file; send {ACCEPTED}")
    result = await in_thread(_decode_all, [(body, "the image")], shape, limits)
    return result


# -------------------------------------------------------------------- learn
def class_name(raw: str, known: set[str]) -> str:
    """A new class's name, checked: printable, at most 64 characters, not known yet."""
    name = unicodedata.normalize("NFC", raw).strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise RequestError(400, f"class name {raw[:80]!r} is not 1 to {MAX_NAME} printable characters")
    if name == UNKNOWN:
        raise RequestError(
            400,
            f"{UNKNOWN!r} is the answer for images the model does not recognise; name the class otherwise",
        )
    if name in known:
        raise RequestError(409, f"the model knows class {name!r} already; iCaRL adds new classes only")
    return name


def learn_overrides(request: Request, limits: Limits) -> dict[str, Any]:
    """``epochs``, ``lr``, ``batch_size`` of the query (the model's own settings otherwise)."""
    out: dict[str, Any] = {}
    if "epochs" in request.query_params:
        out["epochs"] = query_int(request, "epochs", 1, 1, limits.max_epochs)
    if "batch_size" in request.query_params:
        out["batch_size"] = query_int(request, "batch_size", 1, 1, 4096)
    lr = query_float(request, "lr", 0.0, 100.0)
    if lr is not None:
        out["lr"] = lr
    return out


async def learn_classes(request: Request, learner: ICaRL, limits: Limits) -> list[tuple[str, np.ndarray]]:
    """(name, uint8 (N, C, H, W) in the model's shape) of each new class of a learn request."""
    shape = learner.image_shape_ or (1, 1, 1)
    known = set(learner.named_classes().values())
    kind = content_type(request)
    groups: dict[str, list[Any]] = {}
    if kind == "multipart/form-data":
        for field, f in await file_parts(request, limits):
            groups.setdefault(class_name(field, known), []).append(
                (await f.read(), f"image {f.filename or field!s}")
            )
    elif kind == "application/json":
        doc = await in_thread(json_document, await request.body(), limits)
        classes = doc.get("classes")
        if not isinstance(classes, dict) or not classes:
            raise RequestError(400, 'the JSON body needs "classes": {"NAME": ARRAY, ...}')
        for raw, value in classes.items():
            groups[class_name(str(raw), known)] = [json_array(value, f'class "{raw}"')]
    else:
        raise RequestError(
            415,
            f"content type {kind or 'none'!r} is not accepted; send multipart/form-data or application/json",
        )
    _check_classes(groups, learner, limits)
    _check_count(
        sum(len(v) for v in groups.values() if isinstance(v[0], tuple)), limits
    )  # files: before decoding
    out = [(name, await in_thread(_to_images, items, shape, limits, name)) for name, items in groups.items()]
    _check_count(sum(len(x) for _, x in out), limits)
    return [(name, x.numpy()) for name, x in out]


def _check_count(count: int, limits: Limits) -> None:
    if count > limits.max_learn_images:
        raise RequestError(
            413, f"{count} images in one request, above the limit of {limits.max_learn_images}"
        )


def _check_classes(groups: dict[str, list[Any]], learner: ICaRL, limits: Limits) -> None:
    if not groups:
        raise RequestError(
            400, "the request names no class; send images as file parts named after their class"
        )
    if len(groups) > limits.max_classes:
        raise RequestError(
            413, f"{len(groups)} classes in one request, above the limit of {limits.max_classes}"
        )
    k, t = learner.config.memory_size, len(learner.classes_) + len(groups)
    if k and k // t == 0:
        raise RequestError(
            409,
            f"the model's memory K={k} cannot hold an exemplar of each of {t} classes; it cannot learn more",
        )


def _to_images(items: list[Any], shape: Shape, limits: Limits, name: str) -> Tensor:
    if isinstance(items[0], np.ndarray):
        return from_array(items[0], shape, f'class "{name}"', limits, limits.max_learn_images)
    return _decode_all(items, shape, limits)
