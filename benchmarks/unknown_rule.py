"""What ``icarl serve``'s "unknown" rules do: the share of images answered "unknown", for real
test images of the classes a model knows (the lower the better), for test images of digits it
has not learned, and for noise (the higher the better).

    python benchmarks/unknown_rule.py                 # digits models: 0-4 learned, 5-9 unseen
    python benchmarks/unknown_rule.py --epochs 15,30 --memory 100,200

Each model is a small_cnn trained on digits 0-4 (one step, seeds fixed); images go through the
server's own path (PNG bytes decoded and conformed to 8x8 grey as ``icarl predict`` does).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from icarl import ICaRL, load_dataset
from icarl.deploy.learn import scores_of_features
from icarl.serve.payload import Limits, decode
from icarl.serve.unknown import UnknownRule, calibrate

SHAPE = (1, 8, 8)


def png_bytes(arr: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def sets(seed: int = 0) -> dict[str, torch.Tensor]:
    """The images each row of the table is measured on, in the model's shape."""
    data = load_dataset("digits")
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (200, 32, 32, 3), dtype=np.uint8)  # the case: RGB noise files
    grey = rng.integers(0, 256, (200, 8, 8), dtype=np.uint8)
    flat = np.repeat(np.linspace(0, 255, 32).astype(np.uint8)[:, None, None], 8, 1).repeat(8, 2)
    limits = Limits()
    as_served = lambda images: torch.cat([decode(png_bytes(a), SHAPE, "x", limits) for a in images])  # noqa: E731
    return {
        "test images, learned digits 0-4": data.test.of_classes([0, 1, 2, 3, 4]).x,
        "test images, unseen digits 5-9": data.test.of_classes([5, 6, 7, 8, 9]).x,
        "uniform RGB noise 32x32 (PNG)": as_served(rgb),
        "uniform grey noise 8x8 (PNG)": as_served(grey),
        "flat grey images": as_served(flat),
    }


def train(epochs: int, memory: int) -> ICaRL:
    data = load_dataset("digits")
    train = data.train.of_classes([0, 1, 2, 3, 4])
    learner = ICaRL(
        backbone="small_cnn", memory_size=memory, epochs=epochs, flip=False, crop_pad=1, progress=False
    )
    return learner.partial_fit(train.x, train.y)


def unknown_share(learner: ICaRL, x: torch.Tensor, rule: UnknownRule) -> float:
    f = learner.features(x)
    cos = scores_of_features(learner, f, "nme")
    best, index = cos.max(1)
    known = rule.known(best, index, cos, calibrate(learner))
    return float((~known).float().mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", default="15,30")
    p.add_argument("--memory", default="100,200")
    p.add_argument("--sd", default="3,4,5,6")
    p.add_argument("--min-score", default="0.9,0.95")
    args = p.parse_args()
    torch.manual_seed(0)
    images = sets()
    rules = [UnknownRule("calibrated", k=float(k)) for k in args.sd.split(",")]
    rules += [UnknownRule("min-score", min_score=float(s)) for s in args.min_score.split(",")]
    names = [f"sd {r.k:g}" if r.kind == "calibrated" else f"min-score {r.min_score:g}" for r in rules]
    for epochs in (int(e) for e in args.epochs.split(",")):
        for memory in (int(m) for m in args.memory.split(",")):
            learner = train(epochs, memory)
            print(f"\nsmall_cnn, digits 0-4, {epochs} epochs, K={memory} ({memory // 5} exemplars per class)")
            print(f"| images (n) | {' | '.join(names)} |")
            print("|---|" + "---:|" * len(names))
            for what, x in images.items():
                cells = [f"{100 * unknown_share(learner, x, r):.1f}%" for r in rules]
                print(f"| {what} ({len(x)}) | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
