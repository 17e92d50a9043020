"""``icarl info MODEL``: what a saved model knows and holds."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..files.model import read_model, summary

CONFIG_SUMMARY = (
    "backbone",
    "memory_size",
    "epochs",
    "lr",
    "batch_size",
    "distillation",
    "classifier",
    "selection",
    "seed",
)


def _acc(step: dict[str, Any]) -> str:
    acc = step.get("accuracy")
    if not acc:
        return "accuracy unknown"
    parts = [f"{k.upper()} {100 * v:.2f}%" for k, v in acc.items() if k in ("nme", "cnn") and v is not None]
    return f"{'  '.join(parts)} on {acc.get('on', 'test images')}"


def main(args: argparse.Namespace) -> int:
    info = summary(read_model(args.model), args.model)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    mem = info["memory"]
    pre = info["preprocessing"]
    print(f"model {info['file']} ({info['file_bytes']} bytes, saved {info['saved_at']})")
    print(
        f"method {info['method']} ({info['kind']}), format {info['format_version']}; "
        f"images {pre.get('image_shape')} (C, H, W)"
    )
    print(f"classes: {len(info['classes'])}")
    print("  label  name                  exemplars")
    for c in info["classes"]:
        print(f"  {c['label']:>5}  {c['name']:<20}  {c['exemplars']:>9}")
    print(
        f"memory: {mem['exemplars']} of K={mem['K']} exemplars, {mem['exemplar_bytes']} bytes; "
        f"network {mem['network_bytes']} bytes"
    )
    if info["inference_only"]:
        print("inference only: saved without exemplars (--no-exemplars); it can predict but not learn")
    print(f"steps: {len(info['steps'])}")
    for i, step in enumerate(info["steps"], 1):
        names = ", ".join(step.get("names", [str(c) for c in step["classes"]]))
        print(f"  {i}. {step.get('time', '?')}  +[{names}]  {_acc(step)}  ({step.get('source', '')})")
    cfg = info["config"]
    print("config: " + ", ".join(f"{k}={cfg[k]}" for k in CONFIG_SUMMARY if k in cfg))
    print("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
    return 0
