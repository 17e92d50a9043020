"""Re-encode a dataset as one JPEG-packed ``.npz`` (read back by ``--dataset npz``).

    icarl pack OUT.npz --dataset tinyimagenet --data tiny-imagenet-100a.zip \\
        --image-size 32

Loads NAME through the normal loader (and its cache), encodes every image as JPEG at
``--quality`` with 4:4:4 chroma (full colour: at 32x32, 4:2:0 halves the colour detail and
raises the pixel error by half) and optimised Huffman tables, writes OUT atomically, then
reads OUT back and prints its size and the mean absolute pixel error against the source
(the JPEG loss). Format: :mod:`icarl.data.formats.packed`. ``python -m icarl.tools.pack`` is the same command.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..cli.args.pack import SUBSAMPLING, build
from ..config import DataConfig
from ..data import Dataset, load_dataset
from ..data.formats.packed import encode_jpegs
from ..data.loading import dataset_from_config
from ..errors import IcarlError
from ..files.atomic import atomic_write, same_file
from .funnel import guarded


def pack_arrays(data: Dataset, quality: int, subsampling: int = 0) -> dict[str, np.ndarray]:
    """The packed file's arrays for ``data`` (labels in the smallest unsigned integer type)."""
    if not 1 <= quality <= 95:
        raise IcarlError(f"--quality {quality} is outside 1..95 (Pillow's useful JPEG range)")
    arrays: dict[str, np.ndarray] = {}
    label_dtype = np.uint8 if data.num_classes <= 256 else np.int64
    for name, split in (("train", data.train), ("test", data.test)):
        jpeg, offsets = encode_jpegs(split.x, quality, subsampling)
        arrays[f"x_{name}_jpeg"] = jpeg
        arrays[f"x_{name}_offsets"] = offsets
        arrays[f"y_{name}"] = split.y.numpy().astype(label_dtype)
    arrays["class_names"] = np.array(list(data.class_names), dtype=str)
    return arrays


def mean_abs_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean |a - b| over all pixels of two uint8 tensors of one shape, in 0..255 units."""
    total = 0.0
    for i in range(0, len(a), 4096):
        total += float((a[i : i + 4096].int() - b[i : i + 4096].int()).abs().sum())
    return total / max(1, a.numel())


def run(args: argparse.Namespace) -> int:
    """``icarl pack``: user errors raise :class:`IcarlError` (one line from the CLI)."""
    out = Path(args.out)
    if args.data and same_file(out, args.data):
        raise IcarlError(
            f"{out} is the data this command reads (--data); choose another OUT (the data are kept)"
        )
    if out.exists() and not args.force:
        raise IcarlError(f"{out} exists; pass --force to replace it")
    # the loader, cache policy and resizing of `icarl run`
    source = DataConfig(dataset=args.dataset, path=args.data, image_size=args.image_size).check()
    data = dataset_from_config(source)
    arrays: dict[str, Any] = pack_arrays(data, args.quality, SUBSAMPLING[args.subsampling])
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write(out, buf.getvalue(), then="run the command again")
    back = load_dataset("npz", out)
    n = len(data.train) + len(data.test)
    size = out.stat().st_size
    err = (
        mean_abs_error(data.train.x, back.train.x) * data.train.x.numel()
        + mean_abs_error(data.test.x, back.test.x) * data.test.x.numel()
    ) / (data.train.x.numel() + data.test.x.numel())
    c, h, w = data.image_shape
    print(
        f"wrote {out}: {n} images ({len(data.train)} train, {len(data.test)} test, {c}x{h}x{w}), "
        f"JPEG quality {args.quality} {args.subsampling}, {size} bytes = {size / 2**20:.2f} MiB "
        f"({size / n:.0f} B/image); mean abs pixel error {err:.2f} (0..255)"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m icarl.tools.pack`` (the same as ``icarl pack``)."""
    p = argparse.ArgumentParser(prog="python -m icarl.tools.pack", description=__doc__.split("\n")[0])
    build(p)
    args = p.parse_args(argv)
    return guarded(lambda: run(args))  # user errors: one line, exit 2


if __name__ == "__main__":
    sys.exit(main())
