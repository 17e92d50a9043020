"""Inference copies of a network: frozen, in eval mode, each BatchNorm folded into its convolution.

In eval mode a BatchNorm after a convolution is an affine map per channel, so it can be
merged into the convolution's weights and bias (``torch.nn.utils.fuse_conv_bn_eval``):
the same function, one pass over the activations fewer. The previous network of
Algorithm 3 runs this way on every training batch, and feature extraction (class means,
herding, NME evaluation) on large inputs. The fold traces the backbone's
``forward_features`` with ``torch.fx``; a backbone that cannot be traced is used as it is.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import Tensor, nn

from .incremental import IncrementalNet, plain_batchnorm
from .protocol import as_backbone


class _Features(nn.Module):
    """``forward = backbone.forward_features``, so tracing follows the features path."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.phi = (as_backbone(backbone),)  # a tuple: not a second registration of the module

    def forward(self, x: Tensor) -> Tensor:
        return self.phi[0].forward_features(x)


class FoldedBackbone(nn.Module):
    """A traced, BatchNorm-folded backbone with the backbone interface (``out_dim``)."""

    def __init__(self, graph: nn.Module, out_dim: int) -> None:
        super().__init__()
        self.graph = graph
        self.out_dim = out_dim

    def forward_features(self, x: Tensor) -> Tensor:
        out: Tensor = self.graph(x)
        return out

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_features(x)


def fold_batchnorm(backbone: nn.Module) -> nn.Module:
    """An eval-mode ``backbone`` with every conv -> BatchNorm pair folded (a new module);
    ``backbone`` itself when nothing folds or it cannot be traced."""
    if backbone.training:
        raise ValueError("fold_batchnorm needs a module in eval mode")
    with warnings.catch_warnings():  # its imports warn that torch.jit.script_method is deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        from torch.fx.experimental.optimization import fuse

    before = _count_bn(backbone)
    if before == 0:
        return backbone
    try:
        graph = fuse(_Features(backbone), inplace=False)
    except Exception:  # any tracing failure: fall back to the module as it is
        return backbone
    if _count_bn(graph) == before:
        return backbone
    return FoldedBackbone(graph, as_backbone(backbone).out_dim)


def inference_copy(net: IncrementalNet) -> IncrementalNet:
    """A frozen eval-mode deep copy of ``net`` with its backbone's BatchNorms folded."""
    out = copy.deepcopy(net)
    for p in out.parameters():
        p.requires_grad_(False)
    out.eval()
    with torch.no_grad():
        out.backbone = fold_batchnorm(plain_batchnorm(out.backbone))  # Lasagne's BN: same in eval
    return out


def _count_bn(module: nn.Module) -> int:
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())
