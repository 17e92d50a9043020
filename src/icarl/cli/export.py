"""``icarl export MODEL OUT``: the model as one self-contained inference program.

``OUT`` is a base name (a ``.pt2``/``.onnx``/``.icarl`` suffix on it is dropped); written
beside it: ``OUT.pt2`` (``torch.export``; load with ``torch.export.load(path).module()``),
``OUT.onnx`` with ``--format pt2,onnx`` (needs the ``onnx`` and ``onnxscript`` packages),
and ``OUT.labels.json``, the class names and what the outputs mean. The program takes uint8
images (N, C, H, W) in the model's shape and returns ``(labels, scores)``; see
:mod:`icarl.deploy.export` and docs/deploy.md. ``--format icarl --no-exemplars`` writes an
inference-only model file (``--no-exemplars`` alone adds the ``icarl`` format).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import deploy
from ..deploy.export import ExportError, check_formats, export, outputs
from ..experiment import preflight


def main(args: argparse.Namespace) -> int:
    formats = [f.strip() for f in str(args.format).split(",") if f.strip()]
    if args.no_exemplars and "icarl" not in formats:
        formats.append("icarl")
    formats = check_formats(formats)
    for path in outputs(args.out, formats).values():  # never onto the model it reads
        preflight.check_not_input(path, {"the model": args.model}, "OUT")
    existing = [str(p) for p in outputs(args.out, formats).values() if p.exists()]
    if existing and not args.force:
        raise ExportError(f"{', '.join(existing)} already exist; choose another OUT or pass --force")
    preflight.check_writable(Path(args.out), "OUT")  # a read-only folder: one line, nothing written
    learner = deploy.load(args.model, device="cpu", trust_backbone=args.trust_backbone)
    files = export(learner, args.out, formats, args.classifier, exemplars=not args.no_exemplars)
    for kind, path in files.items():
        print(f"{kind}: {path}")
    return 0
