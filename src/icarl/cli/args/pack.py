"""``icarl pack``'s options (parsed before anything heavy is imported; the command itself:
:mod:`icarl.tools.pack`)."""

from __future__ import annotations

import argparse

DEFAULT_QUALITY = 90
SUBSAMPLING = {"444": 0, "420": 2}
HELP = "re-encode a dataset as one JPEG-packed .npz (read back by --dataset npz)"


def build(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="the .npz file to write")
    p.add_argument(
        "--dataset", required=True, help="dataset name (as for icarl run --dataset; see icarl list)"
    )
    p.add_argument("--data", help="the dataset's path, where it needs one")
    p.add_argument(
        "--image-size", type=int, default=0, help="resize to this size at load time (default: native)"
    )
    p.add_argument(
        "--quality", type=int, default=DEFAULT_QUALITY, help="JPEG quality 1..95 (default %(default)s)"
    )
    p.add_argument("--subsampling", choices=sorted(SUBSAMPLING), default="444", help="chroma (default 444)")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
