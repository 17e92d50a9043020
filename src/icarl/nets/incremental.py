"""The incremental network: a backbone ``phi`` and one linear layer that grows."""

from __future__ import annotations

import warnings
from typing import cast

import torch
from torch import Tensor, nn

from .protocol import Backbone, as_backbone


class IncrementalNet(nn.Module):
    """``g(x) = W phi(x) + b``; the head grows by rows and keeps the old ones.

    As in the authors' code, the linear layer sees the raw backbone features;
    features are L2-normalised only for herding and the class means.
    """

    def __init__(self, backbone: nn.Module, num_outputs: int = 0) -> None:
        super().__init__()
        self.feature_dim = int(as_backbone(backbone).out_dim)
        self.backbone = backbone
        with warnings.catch_warnings():  # a head with no rows yet warns on init
            warnings.simplefilter("ignore", UserWarning)
            self.head = nn.Linear(self.feature_dim, num_outputs)

    @property
    def num_outputs(self) -> int:
        return int(self.head.out_features)

    def forward_features(self, x: Tensor) -> Tensor:
        return cast(Backbone, self.backbone).forward_features(x)

    def forward_head(self, features: Tensor) -> Tensor:
        return self.head(features)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    @torch.no_grad()
    def grow(self, num_outputs: int, generator: torch.Generator | None = None) -> None:
        """Extend the head to ``num_outputs`` rows; old rows are copied unchanged."""
        old = self.head
        if num_outputs <= old.out_features:
            return
        new = nn.Linear(self.feature_dim, num_outputs).to(old.weight.device, old.weight.dtype)
        # DEVIATION: nn.Linear's default init (from our generator); the authors' Theano head is
        # He-normal with zero biases, their TF head Xavier with zero biases
        bound = 1.0 / self.feature_dim**0.5
        new.weight.uniform_(-bound, bound, generator=generator)
        new.bias.uniform_(-bound, bound, generator=generator)
        new.weight[: old.out_features] = old.weight
        new.bias[: old.out_features] = old.bias
        self.head = new

    def to_channels_last(self) -> IncrementalNet:
        """NHWC parameters (faster convolutions on CPU and GPU); returns ``self``."""
        return self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
