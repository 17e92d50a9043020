"""Fixed representation (paper Sec. 4): "freezes the feature representation after the first
batch of classes has been processed and the weights of the classification layer after the
corresponding classes have been processed. For subsequent batches of classes, only the
weights vectors of new classes are trained."

The first step trains the whole network as finetuning does. Later steps train only the
head rows of the new (and not yet seen) outputs, on the new data alone, with the
sigmoid BCE over all outputs; the backbone, its BatchNorm statistics and the old rows
stay exactly as they were.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..algorithm import ICaRL
from ..algorithm.losses import icarl_bce
from ..data.source import ImageSource
from ..nets import IncrementalNet
from ..train import Batch, TrainHooks


class _NewRows(nn.Module):
    """Trainable head rows ``n_old..`` on top of a frozen network (which is not a submodule,
    so the optimiser never sees it and ``train()`` never touches its BatchNorm). The loop's
    network protocol: ``forward_features`` (the frozen ``phi``), ``forward_head`` (the old
    rows, frozen, then the new ones)."""

    def __init__(self, net: IncrementalNet, n_old: int) -> None:
        super().__init__()
        self.frozen = (net,)
        self.n_old = n_old
        self.head = nn.Linear(net.feature_dim, net.num_outputs - n_old).to(net.head.weight.device)
        with torch.no_grad():
            self.head.weight.copy_(net.head.weight[n_old:])
            self.head.bias.copy_(net.head.bias[n_old:])

    def forward_features(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            return self.frozen[0].forward_features(x)

    def forward_head(self, features: Tensor) -> Tensor:
        with torch.no_grad():
            old = self.frozen[0].forward_head(features)[:, : self.n_old]
        return torch.cat([old, self.head(features)], 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


class FixedRepresentation(ICaRL):
    """Finetuning for the first step, then only the new classes' head rows learn."""

    method = "fixed"

    def _update_representation(self, source: ImageSource, n_old: int, hooks: TrainHooks) -> None:
        if n_old == 0:
            super()._update_representation(source, n_old, hooks)
            return
        net = self.network()
        net.grow(max(self.config.head_size, len(self.classes_)), generator=self._generator())
        net.eval()
        rows = _NewRows(net, n_old)

        def loss_fn(batch: Batch) -> Tensor:
            return icarl_bce(batch.logits, batch.labels)  # no distillation: the old rows are frozen

        desc = f"classes {n_old + 1}-{len(self.classes_)} (head only)"
        self._train(rows, self._reader(source, with_exemplars=False), loss_fn, hooks, desc)
        with torch.no_grad():
            net.head.weight[n_old:] = rows.head.weight
            net.head.bias[n_old:] = rows.head.bias
