"""Write a dataset as PNG files in class folders: ``OUT/<split>/<class name>/<index>.png``.

    icarl export-images OUT --dataset digits --classes 5,6,7,8,9

(``python -m icarl.tools.export_images`` is the same command.)

The result is what ``--dataset imagefolder`` reads (``train/`` and ``test/`` become the
splits), e.g. for ``icarl learn MODEL --data OUT`` or ``icarl predict MODEL OUT/test``.

Every file stays inside OUT: a class name that is not a plain folder name (empty, ``.``,
``..``, holding ``/``, ``\\`` or a NUL, longer than 255 bytes) is refused, not rewritten
(a rewritten name would no longer match the class), and so is a folder under OUT that is a
link. Existing files are replaced only with ``force`` (``--force``); all targets are
checked before the first file is written. Files are created with ``O_EXCL | O_NOFOLLOW``.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch import Tensor

from ..cli.args.export_images import build
from ..data import Dataset, load_dataset
from ..errors import IcarlError
from ..files.atomic import write_new
from .funnel import guarded


def folder_name(name: str, label: int) -> str:
    """``name`` as one folder name inside OUT, or a one-line :class:`IcarlError`."""
    bad = (
        not name
        or name in (".", "..")
        or any(c in name for c in "/\\\0")
        or len(name.encode("utf-8", "surrogatepass")) > 255
    )
    if bad:
        raise IcarlError(
            f"class {label} is named {name[:80]!r}, which is not a plain folder name (it would leave "
            "OUT or is empty); rename the class in the data, or leave it out with --classes"
        )
    return name


def _real_folder(folder: Path, out: Path) -> None:
    """``folder`` (under ``out``) is absent or a folder, not a link or a file; made if absent."""
    for part in [*reversed(folder.relative_to(out).parents[:-1]), folder.relative_to(out)]:
        p = out / part
        if p.is_symlink() or (p.exists() and not p.is_dir()):
            raise IcarlError(f"{p} is a link or a file, not a folder; export-images writes only inside OUT")
    folder.mkdir(parents=True, exist_ok=True)


def _targets(data: Dataset, out: Path, wanted: set[int], splits: Sequence[str]) -> list[tuple[Path, Tensor]]:
    names = {c: folder_name(data.class_names[c], c) for c in sorted(wanted)}
    targets = []
    for split_name in splits:
        split = getattr(data, split_name)
        for i, (img, label) in enumerate(zip(split.x, split.y.tolist(), strict=True)):
            if label in wanted:
                targets.append((out / split_name / names[label] / f"{i:05d}.png", img))
    return targets


def export_pngs(
    data: Dataset,
    out: str | Path,
    classes: Sequence[int] | None = None,
    splits: Sequence[str] = ("train", "test"),
    force: bool = False,
) -> int:
    """Write the images of ``classes`` (default all) of each split; return how many.
    Existing files are replaced only with ``force``."""
    from PIL import Image

    out = Path(out)
    wanted = set(range(data.num_classes)) if classes is None else {int(c) for c in classes}
    unknown = wanted - set(range(data.num_classes))
    if unknown:
        raise IcarlError(f"classes {sorted(unknown)} are not in {data.name} (0..{data.num_classes - 1})")
    targets = _targets(data, out, wanted, splits)
    existing = [t for t, _ in targets if os.path.lexists(t)]
    if existing and not force:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise IcarlError(f"{existing[0]}{more} exists; pass --force to replace, or choose another OUT")
    for folder in sorted({t.parent for t, _ in targets}):
        _real_folder(folder, out)
    for target, img in targets:
        arr = img.numpy()
        arr = arr[0] if arr.shape[0] == 1 else np.ascontiguousarray(arr.transpose(1, 2, 0))
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="PNG")
        write_new(target, buf.getvalue())
    return len(targets)


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
    n = export_pngs(data, args.out, classes, splits, force=args.force)
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
