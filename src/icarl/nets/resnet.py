"""ResNets: ResNet-32 for 32×32 images (the paper's CIFAR network) and ResNet-18.

ResNet-32 (He et al. 2016, CIFAR variant): a 3×3 stem with 16 channels, three
stages of five basic blocks with 16, 32 and 64 channels, option-A shortcuts
(stride-2 subsampling and zero-padded channels, no parameters), global average
pool: 64-d features. ResNet-18 is the ImageNet network (7×7 stem, max-pool,
four stages of two blocks, 512-d features); for images of 64 pixels or less
the stem is a 3×3 convolution without max-pool, as is usual for small inputs.

DEVIATION (docs/paper.md): BatchNorm epsilon is PyTorch's 1e-5 (Lasagne's 1e-4 in the
authors' ResNet-32, 0.01 in their TensorFlow ResNet-18); their ResNet-18 puts the ReLU before
the BatchNorm in the stem and the first convolution of each block (conv, ReLU, BN) and its
convolutions have biases; ours is He et al.'s conv, BN, ReLU without biases. The last block's
ReLU follows ``learner.resnet_last_relu`` (theirs has none: :func:`set_last_relu`).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .registry import register


class ShortcutA(nn.Module):
    """Option A: subsample spatially, zero-pad the new channels."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.stride, self.pad = stride, cout - cin

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        half = self.pad // 2
        return F.pad(x, (0, 0, 0, 0, half, self.pad - half))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and a shortcut; ``relu_out``: a ReLU after the sum (He et al.)."""

    def __init__(self, cin: int, cout: int, stride: int, shortcut: str) -> None:
        super().__init__()
        self.relu_out = True
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            if shortcut == "A":
                self.shortcut = ShortcutA(cin, cout, stride)
            else:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
                )

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out)) + self.shortcut(x)
        return F.relu(out, inplace=True) if self.relu_out else out


class ResNet(nn.Module):
    def __init__(
        self,
        in_channels: int,
        widths: tuple[int, ...],
        blocks: int | tuple[int, ...],
        shortcut: str,
        imagenet_stem: bool,
    ) -> None:
        super().__init__()
        per_stage = (blocks,) * len(widths) if isinstance(blocks, int) else blocks
        stem_out = widths[0]
        if imagenet_stem:
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, stem_out, 7, 2, 3, bias=False),
                nn.BatchNorm2d(stem_out),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, 2, 1),
            )
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, stem_out, 3, 1, 1, bias=False),
                nn.BatchNorm2d(stem_out),
                nn.ReLU(inplace=True),
            )
        layers: list[nn.Module] = []
        cin = stem_out
        for i, (w, n) in enumerate(zip(widths, per_stage, strict=True)):
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                layers.append(BasicBlock(cin, w, stride, shortcut))
                cin = w
        self.stages = nn.Sequential(*layers)
        self.out_dim = cin
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: Tensor) -> Tensor:
        x = self.stages(self.stem(x))
        return x.mean((2, 3))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_features(x)


@register("resnet32")
def resnet32(in_channels: int, image_size: int) -> nn.Module:
    """ResNet-32 for 32x32 images (the paper's CIFAR-100 network; 0.46M parameters, 64 features)."""
    return ResNet(in_channels, (16, 32, 64), 5, shortcut="A", imagenet_stem=False)


@register("resnet20")
def resnet20(in_channels: int, image_size: int) -> nn.Module:
    """ResNet-20 for 32x32 images (three stages of 3 blocks, 64 features)."""
    return ResNet(in_channels, (16, 32, 64), 3, shortcut="A", imagenet_stem=False)


@register("resnet18")
def resnet18(in_channels: int, image_size: int) -> nn.Module:
    """ResNet-18 (the paper's ImageNet network; ImageNet stem above 64 pixels, 512 features)."""
    return ResNet(in_channels, (64, 128, 256, 512), 2, shortcut="B", imagenet_stem=image_size > 64)


def set_last_relu(backbone: nn.Module, on: bool) -> nn.Module:
    """``backbone`` with (``on``) or without the ReLU after the sum of its last residual block
    (``learner.resnet_last_relu``); returned unchanged when it is not one of these ResNets.

    The authors' Theano ResNet-32 builds its last block with ``last=True``: no ReLU after the
    sum, so the pooled features are signed; He et al.'s block (and our default) ends in one.
    """
    if isinstance(backbone, ResNet):
        last = backbone.stages[-1]
        assert isinstance(last, BasicBlock)  # internal: stages hold BasicBlocks only
        last.relu_out = on
    return backbone
