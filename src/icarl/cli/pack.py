"""``icarl pack OUT.npz --dataset NAME``: a dataset re-encoded as one JPEG-packed ``.npz``
(also ``python -m icarl.tools.pack``; see :mod:`icarl.tools.pack`; options:
:mod:`icarl.cli.args.pack`)."""

from __future__ import annotations

from ..tools.pack import run as main

__all__ = ["main"]
