"""The reference pipeline (c): how the field's frameworks feed data.

A ``torch.utils.data.Dataset`` whose ``__getitem__`` pads, crops, flips and
normalises ONE image at a time (torchvision's ``RandomCrop(padding)``,
``RandomHorizontalFlip``, ``ToTensor``, ``Normalize`` semantics, one random draw per
sample), batched by the default collate of a plain ``DataLoader``. Two flavours:
``tensor`` (per-sample torch ops, the faster of the two) and ``pil`` (PIL images
as torchvision does). The training loop around it does exactly the work of our
step: previous network forward on the same batch, iCaRL BCE, SGD.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from icarl.algorithm.losses import icarl_bce
from icarl.config import LearnerConfig
from icarl.train import loop as engine


class PerSampleTensor(Dataset):
    """Per-sample augmentation with torch ops on a (C, H, W) uint8 image."""

    def __init__(self, x: Tensor, y: Tensor, pad: int, flip: bool, mean: Tensor | None) -> None:
        self.x, self.y, self.pad, self.flip, self.mean = x, y, pad, flip, mean

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        img = self.x[i]
        _, h, w = img.shape
        p = self.pad
        if p:
            img = torch.nn.functional.pad(img, (p, p, p, p))
            r = int(torch.randint(0, 2 * p + 1, (1,)).item())
            c = int(torch.randint(0, 2 * p + 1, (1,)).item())
            img = img[:, r : r + h, c : c + w]
        if self.flip and float(torch.rand(1)) < 0.5:
            img = img.flip(2)
        out = img.float().div(255.0)
        if self.mean is not None:
            out = out.sub(self.mean)
        return out, self.y[i]


class PerSamplePIL(Dataset):
    """Per-sample augmentation on PIL images, as torchvision transforms do it."""

    def __init__(self, x: Tensor, y: Tensor, pad: int, flip: bool, mean: Tensor | None) -> None:
        self.arrays = x.permute(0, 2, 3, 1).numpy()  # N, H, W, C like the field's numpy stores
        self.gray = x.shape[1] == 1
        self.y, self.pad, self.flip, self.mean = y, pad, flip, mean

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        from PIL import Image, ImageOps

        arr = self.arrays[i]
        img = Image.fromarray(arr[:, :, 0] if self.gray else arr)
        w, h = img.size
        p = self.pad
        if p:
            img = ImageOps.expand(img, border=p, fill=0)
            r = int(torch.randint(0, 2 * p + 1, (1,)).item())
            c = int(torch.randint(0, 2 * p + 1, (1,)).item())
            img = img.crop((c, r, c + w, r + h))
        if self.flip and float(torch.rand(1)) < 0.5:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        a = np.asarray(img, dtype=np.uint8)
        a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
        out = torch.from_numpy(a.copy()).float().div(255.0)  # ToTensor
        if self.mean is not None:
            out = out.sub(self.mean)  # Normalize
        return out, self.y[i]


FLAVOURS = {"tensor": PerSampleTensor, "pil": PerSamplePIL}


def loader(
    flavour: str, x: Tensor, y: Tensor, cfg: LearnerConfig, mean: Tensor | None, workers: int, seed: int
) -> DataLoader:
    ds = FLAVOURS[flavour](x.cpu(), y.cpu(), cfg.crop_pad, cfg.flip, mean)
    g = torch.Generator().manual_seed(seed)
    return DataLoader(
        ds, batch_size=cfg.batch_size, shuffle=True, drop_last=True, num_workers=workers, generator=g
    )


def train_epochs(
    net: nn.Module,
    old_net: nn.Module | None,
    n_old: int,
    data: DataLoader,
    cfg: LearnerConfig,
    device: torch.device,
    epochs: int,
) -> int:
    """The same work as :func:`icarl.train.loop.train` with our loss, fed by ``data``; returns images seen."""
    opt = torch.optim.SGD(engine.param_groups(net, cfg), lr=cfg.lr, momentum=cfg.momentum)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(cfg.milestones()), cfg.lr_gamma)
    net.train()
    seen = 0
    for _ in range(epochs):
        for xb, yb in data:
            xb, yb = xb.to(device), yb.to(device)
            if cfg.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with engine.autocast(cfg, device):
                logits = net(xb)
                old = None
                if old_net is not None:
                    with torch.no_grad():
                        old = old_net(xb)[:, :n_old].float()
                loss = icarl_bce(logits, yb, old)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += int(xb.shape[0])
        sched.step()
    float(loss.detach())  # wait for the device
    net.eval()
    return seen
