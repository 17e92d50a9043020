"""SGD's momentum buffers carried from one call of :func:`~icarl.train.loop.train` to the next
(``learner.momentum_carry``): the authors' code builds one optimiser for the whole run, so the
velocity of step ``s`` starts where step ``s - 1`` left it; a new optimiser starts at zero.

The velocity is held in parameter units, as Lasagne's ``momentum`` holds it: ``lr * buf``
with PyTorch's buffer ``buf`` (PyTorch's step is ``p -= lr * buf``, Lasagne's ``p += v``
with ``v = momentum * v - lr * grad``). So the next step, starting at its initial ``lr``,
continues with ``buf = v / lr``: the update the authors' code makes, not one scaled by the
jump of the learning rate back to its initial value (25x on CIFAR-100).

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
def load_velocity(opt: torch.optim.Optimizer, net: nn.Module, velocity: Velocity, lr: float) -> int:
    """Seed ``opt``'s momentum buffers from ``velocity`` (parameter units) for a step that
    starts at learning rate ``lr``; returns how many were seeded."""
    seeded = 0
    for name, p in net.named_parameters():
        v = velocity.get(name)
        if v is None or v.ndim != p.ndim or v.shape[1:] != p.shape[1:] or v.shape[0] > p.shape[0]:
            continue
        buf = torch.zeros_like(p)
        buf[: v.shape[0]] = v.to(device=p.device, dtype=p.dtype) / lr
        opt.state[p]["momentum_buffer"] = buf
        seeded += 1
    return seeded


@torch.no_grad()
def velocity_of(opt: torch.optim.Optimizer, net: nn.Module, lr: float) -> Velocity:
    """``lr`` times ``opt``'s momentum buffers (copies, on CPU), by parameter name; ``lr``: the
    learning rate of the last update. A new dict: the caller's is never written."""
    velocity: Velocity = {}
    for name, p in net.named_parameters():
        buf = opt.state.get(p, {}).get("momentum_buffer")
        if isinstance(buf, Tensor):
            velocity[name] = buf.detach().cpu() * lr
    return velocity
