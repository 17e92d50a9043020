"""``icarl learn MODEL --data NEW_DATA``: one incremental step that adds new classes.

Classes are matched by NAME (folder names, or the dataset's class names): names the
model does not know become new classes, labelled after the model's existing ones.
Known names are refused unless ``--allow-known``; then their training images are
skipped (iCaRL adds classes, it does not re-learn old ones) and their test images
count in the accuracy "on all classes of NEW_DATA". Images are converted to the
model's channels and resized to its image shape.

The model file is never changed unless ``--in-place`` says so (then it is replaced
atomically once the step has been learned; ``--out MODEL`` alone is refused). Without
``--out`` the new model goes next to the old one as ``<stem>.step<N><suffix>`` (N = steps
learned); if that file exists, the command stops and asks for ``--out``. Another existing
file named by ``--out`` is replaced only with ``--force``; the target is checked writable
before training, and is never the data it reads.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path
from typing import Any

from .. import deploy, distributed
from ..algorithm import classifiers
from ..data import load_dataset
from ..errors import IcarlError
from ..experiment import preflight
from ..files.atomic import same_file


def default_out(model: Path, steps: int) -> Path:
    stem = re.sub(r"\.step\d+$", "", model.stem)
    return model.with_name(f"{stem}.step{steps}{model.suffix}")


def _pct(acc: dict[str, Any]) -> str:
    def one(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.2f}%"

    return "  ".join(f"{r.label} {one(acc.get(r.name))}" for r in classifiers.predicting())


def _explicit_out(args: argparse.Namespace, model: Path) -> Path | None:
    """``--out`` or ``--in-place`` (MODEL itself); ``--out MODEL`` alone is refused."""
    if args.in_place:
        if args.out and not same_file(args.out, model):
            raise IcarlError(f"--in-place writes {model}; drop --out {args.out} or --in-place")
        return model
    if args.out and same_file(args.out, model):
        raise IcarlError(
            f"--out {args.out} is the model this command reads; pass --in-place to replace it once "
            "the step is learned, or choose another --out"
        )
    return Path(args.out) if args.out else None


def main(args: argparse.Namespace) -> int:
    model = Path(args.model)
    out = _explicit_out(args, model)
    learner = deploy.load(model, device=args.device, trust_backbone=args.trust_backbone)
    learner.check_can_learn(str(model))
    if out is None and default_out(model, len(learner.history_) + 1).exists():
        raise IcarlError(
            f"{default_out(model, len(learner.history_) + 1)} exists; choose where to write with --out"
        )
    if not 0.0 <= args.test_fraction < 1.0:
        raise IcarlError(f"--test-fraction is {args.test_fraction}; use a value in [0, 1)")
    target = out or default_out(model, len(learner.history_) + 1)
    preflight.check_not_input(target, {"the data (--data)": args.data}, "--out")
    preflight.check_output_file(target, "--out", args.force or args.in_place)
    c, h, w = learner.image_shape_ or (3, 0, 0)
    options = {"channels": c, "test_fraction": args.test_fraction}
    if h and h == w:
        options["image_size"] = h
    data = load_dataset(args.dataset, args.data, **options)
    changes = {"epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size}
    changes["progress"] = False if args.quiet else None
    learner.set_params(**{k: v for k, v in changes.items() if v is not None})  # for its next step
    known = learner.named_classes()
    print(f"model {model}: {len(known)} classes ({', '.join(known.values())})")
    print(f"new data {data.name}: {len(data.train)} train / {len(data.test)} test images")
    t0 = time.perf_counter()
    report = deploy.learn_step(
        learner, data, allow_known=args.allow_known, source=f"icarl learn --data {args.data}"
    )
    added = ", ".join(f"{name} (label {label})" for label, name in report.added.items())
    print(f"learned {len(report.added)} new classes in {time.perf_counter() - t0:.1f} s: {added}")
    if report.skipped_known:
        print(f"skipped known classes (training images unused): {', '.join(report.skipped_known)}")
    if report.accuracy_new:
        print(f"accuracy on the new classes ({report.n_test_new} test images): {_pct(report.accuracy_new)}")
    else:
        print("no test images in the new data: accuracy not measured")
    if report.accuracy_all:
        print(
            f"accuracy on all classes of the new data ({report.n_test_all} test images): "
            f"{_pct(report.accuracy_all)}"
        )
    out = out or default_out(model, len(learner.history_))
    if distributed.is_main():  # torchrun: rank 0 writes
        learner.save(out, exemplars=not args.no_exemplars)
    print(f"model: {out} ({len(learner.classes_)} classes, {len(learner.memory_)} exemplars)")
    return 0
