"""Helpers for the tests of ``icarl serve``: a small digits model, images as files, an HTTP
client on the standard library (multipart included), waiting for a learn job."""

from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from icarl import ICaRL, load_dataset

Json = dict[str, Any]


def make_model(path: Path, classes: tuple[int, ...] = (0, 1, 2, 3, 4), epochs: int = 2) -> Path:
    """A small_cnn on the digits of ``classes`` (8x8 grey), named "0".."4", saved at ``path``."""
    data = load_dataset("digits")
    train = data.train.of_classes(list(classes))
    learner = ICaRL(
        backbone="small_cnn", memory_size=100, epochs=epochs, flip=False, crop_pad=1, progress=False
    )
    learner.partial_fit(train.x, train.y)
    learner.class_names_ = {c: data.class_names[c] for c in classes}
    learner.save(path)
    return path


def digits(label: int, split: str = "test", n: int = 5) -> torch.Tensor:
    data = load_dataset("digits")
    part = data.test if split == "test" else data.train
    return part.of_classes([label]).x[:n]


def png(image: torch.Tensor | np.ndarray, scale: int = 1) -> bytes:
    """One (1, H, W) / (3, H, W) / (H, W) uint8 image as PNG bytes (``scale``: nearest upsampling)."""
    arr = np.asarray(image, dtype=np.uint8)
    arr = arr[0] if arr.ndim == 3 and arr.shape[0] == 1 else arr.transpose(1, 2, 0) if arr.ndim == 3 else arr
    im = Image.fromarray(arr)
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def multipart(parts: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    """(body, content type) of a multipart form of (field, filename, bytes) file parts."""
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for field, filename, data in parts:
        out.write(f"--{boundary}\r\n".encode())
        out.write(f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'.encode())
        out.write(b"Content-Type: application/octet-stream\r\n\r\n")
        out.write(data)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def call(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> tuple[int, Json, dict[str, str]]:
    """(status, JSON document, headers) of one request; error statuses are returned, not raised."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, json.loads(raw), dict(e.headers)


def post_images(url: str, images: list[bytes], field: str = "image", **headers: str) -> tuple[int, Json]:
    body, kind = multipart([(field, f"{i}.png", data) for i, data in enumerate(images)])
    status, doc, _ = call("POST", url, body, {"Content-Type": kind, **headers})
    return status, doc


def wait_job(
    base: str, job_id: str, timeout: float = 300, until: tuple[str, ...] = ("done", "failed")
) -> Json:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, doc, _ = call("GET", f"{base}jobs/{job_id}")
        assert status == 200, doc
        if doc["state"] in until:
            return doc
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not reach {until} in {timeout} s: {doc}")
