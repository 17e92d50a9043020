"""``icarl export-images OUT --dataset NAME``: a dataset as PNG files in class folders
(also ``python -m icarl.tools.export_images``; see :mod:`icarl.tools.export_images`)."""

from __future__ import annotations

from ..tools.export_images import HELP, build
from ..tools.export_images import run as main

__all__ = ["HELP", "build", "main"]
