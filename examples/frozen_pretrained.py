"""A pretrained network, frozen, under iCaRL: the field's strong baseline with pretrained models.

Pretrain a small network on digits 6-9 with plain cross-entropy (your own training loop), then
learn digits 0-5 two classes at a time three ways: the backbone frozen with no training at all
(``train="none"``: herding and nearest-mean-of-exemplars on its fixed features), the backbone
frozen and only iCaRL's head trained (``train="head"``), and the same network from scratch.
Which wins depends on how rich and how close the pretraining data are: four classes of 8x8
digits transfer less than training on the new classes does; CIFAR-100: docs/pretrained.md.

    python examples/frozen_pretrained.py [--epochs 20]
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
from torch import nn

from icarl import ICaRL, load_dataset


def small_net() -> nn.Sequential:
    return nn.Sequential(  # (B, 1, 8, 8) -> a feature map; the learner pools it
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
    )  # fmt: skip


def pretrain(net: nn.Sequential, x: torch.Tensor, y: torch.Tensor, epochs: int) -> nn.Sequential:
    """Plain cross-entropy on (x, y): a linear layer on the pooled features, Adam."""
    classes = torch.unique(y)
    model = nn.Sequential(net, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, len(classes)))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    target = torch.searchsorted(classes, y)
    for _ in range(epochs):
        for idx in torch.randperm(len(x)).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx].float() / 255), target[idx]).backward()
            opt.step()
    return net.eval()


def incremental(learner: ICaRL, digits, steps: list[list[int]]) -> tuple[dict[str, list[float]], float]:
    """Learn ``steps`` in order; the accuracy on the seen classes after each by nearest mean of
    exemplars (NME) and, where a head was trained, by the network's outputs (CNN); seconds."""
    x, y, tx, ty = digits.train.x, digits.train.y, digits.test.x, digits.test.y
    rules = ["nme"] if learner.config.trained() == "none" else ["nme", "cnn"]
    accs: dict[str, list[float]] = {rule: [] for rule in rules}
    seen: list[int] = []
    t0 = time.perf_counter()
    for new in steps:
        keep = torch.isin(y, torch.tensor(new))
        learner.partial_fit(x[keep], y[keep])
        seen += new
        test = torch.isin(ty, torch.tensor(seen))
        for rule, curve in accs.items():
            curve.append(learner.score(tx[test], ty[test], classifier=rule))
    return accs, time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=20, help="pretraining epochs and epochs per step")
    args = p.parse_args()
    digits = load_dataset("digits")
    torch.manual_seed(0)  # the pretrained network's initial weights
    other = digits.train.y >= 6
    net = pretrain(small_net(), digits.train.x[other], digits.train.y[other], args.epochs)
    # normalize="none": the inputs the network was pretrained on (pixels / 255, no mean subtracted)
    common = {"memory_size": 60, "lr": 1.0, "batch_size": 64, "crop_pad": 1, "flip": False}
    common |= {"normalize": "none", "progress": False}
    runs = {
        "frozen pretrained (train=none)": ICaRL(backbone=copy.deepcopy(net), train="none", **common),
        "pretrained, head only (train=head)": ICaRL(
            backbone=copy.deepcopy(net), train="head", epochs=args.epochs, **common
        ),
        "from scratch (train=all)": ICaRL(backbone=small_net(), epochs=args.epochs, **common),
    }
    steps = [[0, 1], [2, 3], [4, 5]]
    print(f"pretrained on digits 6-9 ({args.epochs} epochs); learning {steps}: accuracy on the seen classes")
    for name, learner in runs.items():
        accs, seconds = incremental(learner, digits, steps)
        print(f"{name} ({seconds:.1f} s)")
        for rule, curve in accs.items():
            steps_text = " ".join(f"{a:.3f}" for a in curve)
            average = sum(curve) / len(curve)
            print(f"  {rule.upper()} steps {steps_text}  average {average:.3f}  final {curve[-1]:.3f}")
    print("NME reads features only: with the backbone frozen, train=head changes the CNN rows alone")


if __name__ == "__main__":
    main()
