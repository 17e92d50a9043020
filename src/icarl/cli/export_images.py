"""``icarl export-images OUT --dataset NAME``: a dataset as PNG files in class folders
(also ``python -m icarl.tools.export_images``; see :mod:`icarl.tools.export_images`;
options: :mod:`icarl.cli.args.export_images`)."""

from __future__ import annotations

from ..tools.export_images import run as main

__all__ = ["main"]
