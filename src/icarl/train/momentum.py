"""SGD's momentum buffers carried from one call of :func:`~icarl.train.loop.train` to the next
(``learner.momentum_carry``): the authors' code builds one optimiser for the whole run, so the
velocity of step ``s`` starts where step ``s - 1`` left it; a new optimiser starts at zero.

The buffers are held by parameter name (``net.named_parameters()``), as plain tensors, so a
learner's state and its checkpoints keep them. A parameter that grew by rows since (the head
when ``head_size`` does not allocate every output up front) gets zero velocity in its new
rows; a parameter of another shape, or one not seen before, starts at zero.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

Velocity = dict[str, Tensor]


@torch.no_grad()
def load_velocity(opt: torch.optim.Optimizer, net: nn.Module, velocity: Velocity) -> int:
    """Seed ``opt``'s momentum buffers from ``velocity``; returns how many were seeded."""
    seeded = 0
    for name, p in net.named_parameters():
        v = velocity.get(name)
        if v is None or v.ndim != p.ndim or v.shape[1:] != p.shape[1:] or v.shape[0] > p.shape[0]:
            continue
        buf = torch.zeros_like(p)
        buf[: v.shape[0]] = v.to(device=p.device, dtype=p.dtype)
        opt.state[p]["momentum_buffer"] = buf
        seeded += 1
    return seeded


@torch.no_grad()
def store_velocity(opt: torch.optim.Optimizer, net: nn.Module, velocity: Velocity) -> None:
    """Replace the contents of ``velocity`` by ``opt``'s momentum buffers (copies, on CPU)."""
    velocity.clear()
    for name, p in net.named_parameters():
        buf = opt.state.get(p, {}).get("momentum_buffer")
        if isinstance(buf, Tensor):
            velocity[name] = buf.detach().cpu().clone()
