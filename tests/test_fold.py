"""BatchNorm folding of inference copies: the same function, without BatchNorm layers."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from icarl.nets import IncrementalNet, create_backbone
from icarl.nets.fold import fold_batchnorm, inference_copy


def _trained_stats(net: nn.Module, shape: tuple[int, ...]) -> None:
    """Give the BatchNorms non-trivial running statistics and affine parameters."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.5, 0.5, generator=g)
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(16, *shape, generator=g) * 2 + 0.3)


def _bn_count(module: nn.Module) -> int:
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


@pytest.mark.parametrize(
    ("backbone", "shape"), [("small_cnn", (1, 28, 28)), ("resnet32", (3, 32, 32)), ("resnet18", (3, 32, 32))]
)
@pytest.mark.parametrize("channels_last", [False, True])
def test_inference_copy_is_the_same_function_without_batchnorm(
    backbone: str, shape: tuple[int, int, int], channels_last: bool
) -> None:
    torch.manual_seed(0)
    net = IncrementalNet(create_backbone(backbone, shape[0], shape[1]), 7)
    _trained_stats(net, shape)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    x = torch.randn(8, *shape)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    copy = inference_copy(net)
    assert net.training, "the original keeps its mode"
    assert _bn_count(net.backbone) > 0
    assert _bn_count(copy.backbone) == 0, "every conv -> BatchNorm pair is folded"
    assert not any(p.requires_grad for p in copy.parameters())
    assert all(p.requires_grad for p in net.parameters())
    net.eval()
    with torch.no_grad():
        ref_logits, ref_feat = net(x), net.forward_features(x)
        logits, feat = copy(x), copy.forward_features(x)
    scale = ref_logits.abs().max().item()
    assert scale > 1e-3
    torch.testing.assert_close(logits, ref_logits, rtol=1e-4, atol=1e-4 * scale)
    torch.testing.assert_close(feat, ref_feat, rtol=1e-4, atol=1e-4 * ref_feat.abs().max().item())
    assert copy.feature_dim == net.feature_dim and copy.num_outputs == 7


class _Untraceable(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it."""

    out_dim = 4

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)

    def forward_features(self, x: Tensor) -> Tensor:
        h = self.bn(self.conv(x))
        if float(h.sum()) > 0:
            h = h * 2
        return h.mean((2, 3))


def test_untraceable_backbone_falls_back_to_a_plain_copy() -> None:
    torch.manual_seed(0)
    net = IncrementalNet(_Untraceable(), 3)
    _trained_stats(net, (1, 6, 6))
    copy = inference_copy(net)
    assert isinstance(copy.backbone, _Untraceable) and _bn_count(copy) == 1
    net.eval()
    x = torch.randn(5, 1, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(copy(x), net(x))


def test_fold_needs_eval_mode_and_leaves_bn_free_modules_alone() -> None:
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(create_backbone("small_cnn", 1, 28).train())
    mlp = create_backbone("mlp", 1, 8).eval()
    assert fold_batchnorm(mlp) is mlp
