"""Write a dataset as PNG files in class folders: ``OUT/<split>/<class name>/<index>.png``.

    icarl export-images OUT --dataset digits --classes 5,6,7,8,9

(``python -m icarl.tools.export_images`` is the same command.)

The result is what ``--dataset imagefolder`` reads (``train/`` and ``test/`` become the
splits), e.g. for ``icarl learn MODEL --data OUT`` or ``icarl predict MODEL OUT/test``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..data import Dataset, load_dataset
from ..errors import IcarlError
from .funnel import guarded


def export_pngs(
    data: Dataset,
    out: str | Path,
    classes: Sequence[int] | None = None,
    splits: Sequence[str] = ("train", "test"),
) -> int:
    """Write the images of ``classes`` (default all) of each split; return how many."""
    from PIL import Image

    out = Path(out)
    wanted = set(range(data.num_classes)) if classes is None else {int(c) for c in classes}
    unknown = wanted - set(range(data.num_classes))
    if unknown:
        raise IcarlError(f"classes {sorted(unknown)} are not in {data.name} (0..{data.num_classes - 1})")
    count = 0
    for split_name in splits:
        split = getattr(data, split_name)
        for i, (img, label) in enumerate(zip(split.x, split.y.tolist(), strict=True)):
            if label not in wanted:
                continue
            folder = out / split_name / data.class_names[label]
            folder.mkdir(parents=True, exist_ok=True)
            arr = img.numpy()
            arr = arr[0] if arr.shape[0] == 1 else np.ascontiguousarray(arr.transpose(1, 2, 0))
            Image.fromarray(arr).save(folder / f"{i:05d}.png")
            count += 1
    return count


HELP = "write a dataset's images as PNG files in class folders (inputs for icarl learn / predict)"


def build(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="folder to write")
    p.add_argument("--dataset", default="digits", help="dataset name, see icarl list (default: digits)")
    p.add_argument("--data", help="the dataset's path, where it needs one")
    p.add_argument("--classes", help="comma-separated labels to export (default: all)")
    p.add_argument("--splits", default="train,test", help="splits to export (default: train,test)")


def run(args: argparse.Namespace) -> int:
    """``icarl export-images``: user errors raise :class:`IcarlError` (one line from the CLI)."""
    data = load_dataset(args.dataset, args.data)
    try:
        classes = [int(c) for c in args.classes.split(",") if c.strip()] if args.classes else None
    except ValueError:
        raise IcarlError(
            f"--classes {args.classes!r} is not a comma-separated list of labels; write e.g. 0,1,2"
        ) from None
    splits = [s for s in args.splits.split(",") if s in ("train", "test")]
    n = export_pngs(data, args.out, classes, splits)
    print(f"wrote {n} PNG files under {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m icarl.tools.export_images`` (the same as ``icarl export-images``)."""
    p = argparse.ArgumentParser(
        prog="python -m icarl.tools.export_images", description=__doc__.split("\n")[0]
    )
    build(p)
    args = p.parse_args(argv)
    return guarded(lambda: run(args))  # user errors: one line, exit 2


if __name__ == "__main__":
    sys.exit(main())
