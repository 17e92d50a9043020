"""``icarl predict MODEL INPUTS...``: the top-k class names of each image, with scores.

INPUTS are image files, folders (all their images, recursively) and ``.npz`` files
(array ``x``: uint8 images shaped (N, H, W), NHWC or NCHW). Images are converted to
the model's channels and resized to its image shape.

Scores: ``--classifier nme`` (iCaRL's Algorithm 1; the default is the model's own) gives the cosine
similarity between the image's L2-normalised feature and each class mean (-1..1;
the ranking is the NME ranking); ``--classifier cnn`` gives the network's per-class
sigmoid outputs (0..1, independent per class). Neither is a calibrated probability.

``--labels-from-folders``: each image's true class is the name of its parent folder
(``root/<class name>/<image>``); the accuracy over those images is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
from typing import Any

from .. import deploy
from ..algorithm import classifiers
from ..deploy.inputs import read_inputs
from ..errors import IcarlError
from ..files.plain import file_kind


def accuracy(predicted: list[list[str]], folders: list[str], known: set[str]) -> dict[str, Any]:
    """Top-1 and top-k accuracy over the images whose folder names a known class."""
    scored = [(top, f) for top, f in zip(predicted, folders, strict=True) if f in known]
    n = len(scored)
    top1 = sum(top[0] == f for top, f in scored)
    topk = sum(f in top for top, f in scored)
    return {
        "images": n,
        "ignored": len(folders) - n,
        "top1": top1 / n if n else None,
        "topk": topk / n if n else None,
        "correct_top1": top1,
    }


def _checked(paths: list[str]) -> list[str]:
    """The inputs given, each an existing file or folder: a FIFO, device or socket is refused by
    its type before anything opens it (reading one would block or never end)."""
    for spec in paths:
        try:
            mode = os.stat(spec).st_mode
        except FileNotFoundError:
            continue  # named by read_inputs
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise IcarlError(f"input {spec} is {file_kind(mode)}, not a file or folder; pass image files")
    return paths


def main(args: argparse.Namespace) -> int:
    if args.top_k < 1:
        raise IcarlError(f"--top-k is {args.top_k}; use 1 or more")
    learner = deploy.load(args.model, device=args.device, trust_backbone=args.trust_backbone)
    if learner.image_shape_ is None:
        raise IcarlError(f"{args.model} has learned nothing yet; train it with icarl run first")
    inputs = read_inputs(_checked(args.inputs), learner.image_shape_)
    if inputs.x.shape[0] == 0:
        raise IcarlError(f"{', '.join(args.inputs)} hold no images (an empty x?); pass images to classify")
    args.classifier = args.classifier or learner.config.classifier
    labels, values = deploy.top_k(learner, inputs.x, args.top_k, args.classifier)
    names = learner.named_classes()
    predicted = [[names[int(c)] for c in row] for row in labels]
    rows: list[dict[str, Any]] = [
        {
            "input": ident,
            "top": [
                {"label": int(c), "name": names[int(c)], "score": round(float(s), 6)}
                for c, s in zip(lab, val, strict=True)
            ],
        }
        for ident, lab, val in zip(inputs.ids, labels, values, strict=True)
    ]
    acc = accuracy(predicted, inputs.folders, set(names.values())) if args.labels_from_folders else None
    if args.labels_from_folders:
        for row, folder in zip(rows, inputs.folders, strict=True):
            row["true"] = folder if folder in names.values() else None
    if args.json:
        doc = {
            "model": str(args.model),
            "classifier": args.classifier,
            "score": classifiers.rule(args.classifier).meaning,
            "predictions": rows,
        }
        if acc is not None:
            doc["accuracy"] = acc
        print(json.dumps(doc, indent=2))
        return 0
    for row in rows:
        tops = "  ".join(f"{t['name']} {t['score']:.3f}" for t in row["top"])
        print(f"{row['input']}: {tops}")
    if acc is not None:
        _print_accuracy(acc, args.top_k, args.classifier)
    return 0


def _print_accuracy(acc: dict[str, Any], k: int, classifier: str) -> None:
    if not acc["images"]:
        print("accuracy: no image lies in a folder named after a known class")
        return
    line = (
        f"accuracy ({classifier}) over {acc['images']} images in class-named folders: "
        f"top-1 {100 * acc['top1']:.2f}% ({acc['correct_top1']}/{acc['images']})"
    )
    if k > 1:
        line += f", top-{k} {100 * acc['topk']:.2f}%"
    if acc["ignored"]:
        line += f"; {acc['ignored']} images in other folders not counted"
    print(line)
