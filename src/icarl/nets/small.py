"""Small backbones for tiny images: an MLP and a small CNN."""

from __future__ import annotations

from torch import Tensor, nn

from .registry import register


class MLP(nn.Module):
    def __init__(self, in_features: int, hidden: int = 256, out_dim: int = 128) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_features, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, out_dim),
            nn.ReLU(inplace=True),
        )

    def forward_features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_features(x)


def _conv_bn(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class SmallCNN(nn.Module):
    """Three conv-BN-ReLU stages (32, 64, 128 channels), two 2×2 max-pools, global average pool."""

    def __init__(self, in_channels: int, width: int = 32) -> None:
        super().__init__()
        w = width
        self.out_dim = 4 * w
        self.body = nn.Sequential(
            _conv_bn(in_channels, w),
            nn.MaxPool2d(2),
            _conv_bn(w, 2 * w),
            nn.MaxPool2d(2),
            _conv_bn(2 * w, 4 * w),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )

    def forward_features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_features(x)


@register("mlp")
def mlp(in_channels: int, image_size: int) -> nn.Module:
    """A two-layer perceptron on the flattened image (256 hidden units, 128 features)."""
    return MLP(in_channels * image_size * image_size)


@register("small_cnn")
def small_cnn(in_channels: int, image_size: int) -> nn.Module:
    """Three conv-BN-ReLU stages (32, 64, 128 channels): fast on CPUs, 128 features."""
    return SmallCNN(in_channels)


def count_parameters(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


__all__ = ["MLP", "SmallCNN", "count_parameters"]
