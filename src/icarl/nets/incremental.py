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

    def __init__(self, backbone: nn.Module, num_outputs: int = 0, head_init: str = "default") -> None:
        super().__init__()
        self.feature_dim = int(as_backbone(backbone).out_dim)
        self.backbone = backbone
        self.head_init = head_init  # how grown rows start: see grow()
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
        bound = 1.0 / self.feature_dim**0.5
        if self.head_init == "lasagne":  # the authors' Theano DenseLayer: HeNormal(), b = 0
            new.weight.normal_(0.0, bound, generator=generator)
            new.bias.zero_()
        else:
            # DEVIATION (learner.init = "default"): nn.Linear's init, from our generator; the
            # authors' Theano head is He-normal with zero biases ("lasagne"), their TF head Xavier
            new.weight.uniform_(-bound, bound, generator=generator)
            new.bias.uniform_(-bound, bound, generator=generator)
        new.weight[: old.out_features] = old.weight
        new.bias[: old.out_features] = old.bias
        self.head = new

    def to_channels_last(self) -> IncrementalNet:
        """NHWC parameters (faster convolutions on CPU and GPU); returns ``self``."""
        return self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]


@torch.no_grad()
def init_like_lasagne(backbone: nn.Module) -> nn.Module:
    """The authors' Theano initialisation of every convolution: Lasagne's
    ``HeNormal(gain='relu')``, a normal of std ``sqrt(2 / fan_in)`` with ``fan_in = c_in k_h
    k_w`` (ResNet-32's stem: 0.272, against 0.118 for the fan-out rule the default follows),
    biases zero. Draws from torch's global generator (seeded by the learner). Returns it."""
    for m in backbone.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                m.bias.zero_()
    return backbone
