"""CIFAR-100 onto a device machine, which receives at most 64 MiB per call: the lossless
``cifar-100-webp.zip`` of ../shared/data (115 MB) cut in two parts of about 55 MiB, carried in
two calls, and joined and decoded there into one ``.npz`` that ``icarl run --dataset npz`` reads.

    python benchmarks/cifar100_parts.py split ../shared/data/cifar-100-webp.zip .gpudata
        # -> .gpudata/c100a/part-0, .gpudata/c100b/part-1 (+ the zip's sha256 in each folder)
    python benchmarks/cifar100_parts.py join .gpudata /tmp/cifar100.npz
        # parts -> the zip (sha256 checked) -> 60,000 images decoded on every core
        #       -> each split's pixel sha256 checked against the zip's labels.json -> the npz

The npz holds ``x`` (50,000 x 3 x 32 x 32 uint8, the official training order), ``y`` (fine
labels), ``x_test``, ``y_test`` and ``class_names`` (from the official ``meta``, read with
icarl's restricted unpickler): the official pixels and labels, as ``cifar100_unpack.py`` makes
them, without the pickles (no unpickling of the images, and no tar.gz to write and read back).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

TOP = "cifar-100-webp"
PARTS = ("c100a", "c100b")


def split(zip_path: Path, out: Path) -> list[Path]:
    data = zip_path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    half = (len(data) + 1) // 2
    written = []
    for i, folder in enumerate(PARTS):
        (out / folder).mkdir(parents=True, exist_ok=True)
        part = out / folder / f"part-{i}"
        part.write_bytes(data[i * half : (i + 1) * half])
        (out / folder / "zip.json").write_text(json.dumps({"sha256": digest, "parts": len(PARTS)}))
        written.append(part)
    return written


def _decode(args: tuple[str, str, int, int]) -> np.ndarray:
    """Images ``start:stop`` of a split, decoded (Pillow, WebP lossless) to (n, 3, 32, 32)."""
    from PIL import Image

    zip_path, split_name, start, stop = args
    with zipfile.ZipFile(zip_path) as z:
        out = np.empty((stop - start, 32, 32, 3), np.uint8)
        for i in range(start, stop):
            with Image.open(io.BytesIO(z.read(f"{TOP}/{split_name}/{i:05d}.webp"))) as im:
                out[i - start] = np.asarray(im.convert("RGB"))
    return out.transpose(0, 3, 1, 2)


def join(folder: Path, out: Path, workers: int = 0) -> Path:
    """The parts under ``folder`` -> the zip (checked) -> ``out`` (.npz)."""
    parts = [folder / f / f"part-{i}" for i, f in enumerate(PARTS)]
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise SystemExit(
            f"missing {', '.join(missing)}: carry .gpudata/c100a in one device call and "
            ".gpudata/c100b in the next, within the machine's warm period (see gpu_cifar100.sh)"
        )
    blob = b"".join(p.read_bytes() for p in parts)
    want = json.loads((folder / PARTS[0] / "zip.json").read_text())["sha256"]
    if hashlib.sha256(blob).hexdigest() != want:
        raise SystemExit(f"the parts under {folder} do not join into the zip they were cut from")
    zip_path = out.with_suffix(".zip")
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    zip_path.write_bytes(blob)  # the workers read it from there
    del blob
    with zipfile.ZipFile(zip_path) as z:
        labels = json.loads(z.read(f"{TOP}/labels.json"))
        meta = z.read(f"{TOP}/meta")
    arrays: dict[str, np.ndarray] = {}
    workers = workers or min(32, os.cpu_count() or 1)
    with ProcessPoolExecutor(workers) as pool:
        for split_name, key in (("train", "x"), ("test", "x_test")):
            n = len(labels[split_name]["fine_labels"])
            chunks = [(str(zip_path), split_name, s, min(s + 2500, n)) for s in range(0, n, 2500)]
            x = np.ascontiguousarray(np.concatenate(list(pool.map(_decode, chunks))))
            if hashlib.sha256(x.tobytes()).hexdigest() != labels[split_name]["sha256_pixels"]:
                raise SystemExit(f"{split_name}: decoded pixels differ from the recorded checksum")
            arrays[key] = x
            arrays["y" if split_name == "train" else "y_test"] = np.asarray(
                labels[split_name]["fine_labels"], np.int64
            )
    arrays["class_names"] = np.array(_fine_names(meta), dtype=str)
    zip_path.unlink()
    np.savez(out, **arrays)  # uncompressed: written and read in a second
    return out


def _fine_names(meta: bytes) -> list[str]:
    """The 100 fine class names of the official ``meta`` pickle, by icarl's restricted unpickler."""
    from icarl.files.safeio import restricted_loads

    doc = restricted_loads(meta, "meta", encoding="latin1")
    return [str(n) for n in doc["fine_label_names"]]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("split")
    s.add_argument("zip", type=Path)
    s.add_argument("out", type=Path)
    j = sub.add_parser("join")
    j.add_argument("folder", type=Path)
    j.add_argument("out", type=Path)
    j.add_argument("--workers", type=int, default=0)
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    if args.cmd == "split":
        for part in split(args.zip, args.out):
            print(f"{part}: {part.stat().st_size / 2**20:.1f} MiB")
    else:
        path = join(args.folder, args.out, args.workers)
        print(f"{path}: {path.stat().st_size / 2**20:.0f} MiB in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
