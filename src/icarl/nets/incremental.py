"""The incremental network: a backbone ``phi`` and one linear layer that grows."""

from __future__ import annotations

import warnings
from typing import cast

import torch
from torch import Tensor, nn
from typing_extensions import Self

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
        # learner.train = "head" / "none": see freeze_backbone()
        self.backbone_frozen = False
        self._froze: tuple[str, ...] = ()  # the backbone parameters freeze_backbone() froze
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

    def freeze_backbone(self, frozen: bool = True) -> Self:
        """Freeze the backbone (``learner.train`` "head" or "none"): its parameters stop
        requiring gradients (so no optimiser sees them) and it stays in eval mode whatever
        ``train()`` is called, so its BatchNorm statistics do not move and dropout is off;
        the head still learns. ``frozen=False`` undoes it: the parameters this call froze
        require gradients again (a module's own frozen parameters stay frozen). Returns ``self``."""
        if frozen and not self.backbone_frozen:
            self._froze = tuple(name for name, p in self.backbone.named_parameters() if p.requires_grad)
            for p in self.backbone.parameters():
                p.requires_grad_(False)
            self.backbone.eval()
        elif not frozen and self.backbone_frozen:
            froze = set(self._froze)
            for name, p in self.backbone.named_parameters():
                p.requires_grad_(p.requires_grad or name in froze)
            self._froze = ()
        self.backbone_frozen = frozen
        return self

    def train(self, mode: bool = True) -> Self:
        """``nn.Module.train``; a frozen backbone stays in eval mode."""
        super().train(mode)
        if self.backbone_frozen:
            self.backbone.eval()
        return self

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


class LasagneBatchNorm2d(nn.BatchNorm2d):
    """Lasagne's ``BatchNormLayer`` (the authors' Theano ResNet-32; ``learner.batchnorm =
    "lasagne"``): epsilon 1e-4, and the running averages (alpha 0.1) are of the batch mean
    and of the INVERSE standard deviation ``1 / sqrt(var + eps)`` with the biased batch
    variance, where PyTorch averages the unbiased variance itself. In eval mode it is an
    ordinary BatchNorm: ``running_var`` is kept equal to ``1 / inv_std^2 - eps``, so the
    inference copy can fold it (:mod:`icarl.nets.fold`)."""

    running_inv_std: Tensor

    def __init__(self, num_features: int) -> None:
        super().__init__(num_features, eps=1e-4, momentum=0.1)
        self.register_buffer("running_inv_std", torch.ones(num_features))  # Lasagne: Constant(1)
        with torch.no_grad():
            self._var().fill_(1.0 - self.eps)

    def _var(self) -> Tensor:
        assert self.running_var is not None  # internal: built with track_running_stats
        return self.running_var

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return super().forward(x)
        out = nn.functional.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)
        with torch.no_grad():
            flat = x.detach().float().transpose(0, 1).reshape(x.shape[1], -1)
            var, mean = torch.var_mean(flat, dim=1, unbiased=False)
            a = self.momentum or 0.1
            assert self.running_mean is not None  # internal: built with track_running_stats
            self.running_mean.mul_(1 - a).add_(a * mean)
            self.running_inv_std.mul_(1 - a).add_(a * (var + self.eps).rsqrt())
            self._var().copy_(self.running_inv_std.pow(-2) - self.eps)
        return out


@torch.no_grad()
def use_lasagne_batchnorm(module: nn.Module) -> nn.Module:
    """``module`` with every ``nn.BatchNorm2d`` replaced by a :class:`LasagneBatchNorm2d` that
    keeps its scale, shift and running mean (pretrained weights survive; a new network has
    1, 0, 0) and starts ``inv_std`` from its running variance. Returns it."""
    for name, child in list(module.named_children()):
        if type(child) is nn.BatchNorm2d and child.running_var is not None:
            bn = LasagneBatchNorm2d(child.num_features).to(child.weight.device)
            bn.weight.copy_(child.weight)
            bn.bias.copy_(child.bias)
            assert bn.running_mean is not None and child.running_mean is not None  # internal
            bn.running_mean.copy_(child.running_mean)
            fresh = bool((child.running_var == 1).all())  # PyTorch's initial variance: Lasagne's 1
            if not fresh:
                bn.running_inv_std.copy_((child.running_var + bn.eps).rsqrt())
                bn._var().copy_(bn.running_inv_std.pow(-2) - bn.eps)
            setattr(module, name, bn)
        else:
            use_lasagne_batchnorm(child)
    return module


def plain_batchnorm(module: nn.Module) -> nn.Module:
    """``module`` with each :class:`LasagneBatchNorm2d` replaced by an ``nn.BatchNorm2d`` that
    computes the same eval-mode function (for folding and export). Returns it."""
    for name, child in list(module.named_children()):
        if isinstance(child, LasagneBatchNorm2d):
            bn = nn.BatchNorm2d(child.num_features, eps=child.eps).to(child.weight.device)
            bn.load_state_dict({k: v for k, v in child.state_dict().items() if k != "running_inv_std"})
            setattr(module, name, bn.eval())
        else:
            plain_batchnorm(child)
    return module
