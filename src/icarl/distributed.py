"""torchrun / DistributedDataParallel glue, driven by the environment (as in nanoGPT).

``torchrun --nproc_per_node=N -m icarl run ...`` sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; :func:`setup` reads them, starts the process group (NCCL for CUDA
tensors and gloo for CPU tensors when a GPU is present, gloo alone otherwise) and
selects the GPU ``LOCAL_RANK``. Without those variables nothing starts and every
helper below is the identity of a one-process run, so there is one code path.

The state lives in ``torch.distributed`` itself (no globals here). Under DDP every
rank holds the whole data set and the same seeded generator, so every rank draws the
same permutations and augmentations; each rank computes its shard and the results
are gathered in the original order, so every rank ends each step in the same state.
See docs/distributed.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .errors import IcarlError

T = TypeVar("T")
DEFAULT_TIMEOUT_S = 1800.0
TIMEOUT_ENV = "ICARL_DIST_TIMEOUT"  # the process group's timeout, as setup() was given it


class DistributedError(IcarlError):
    """The processes of a distributed run disagree or cannot start."""


@dataclass(frozen=True)
class LaunchEnv:
    """What torchrun (or any launcher setting the same variables) tells this process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def launch_env(environ: dict[str, str] | None = None) -> LaunchEnv:
    """Read ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (absent: one process)."""
    env = os.environ if environ is None else environ
    try:
        return LaunchEnv(
            rank=int(env.get("RANK", "0")),
            world_size=int(env.get("WORLD_SIZE", "1")),
            local_rank=int(env.get("LOCAL_RANK", "0")),
        )
    except ValueError:
        raise DistributedError(
            "RANK, WORLD_SIZE or LOCAL_RANK is not an integer; launch with torchrun"
        ) from None


def backend_for(cuda: bool) -> str:
    """gloo for CPU tensors always; NCCL for CUDA tensors when there is a GPU."""
    return "cpu:gloo,cuda:nccl" if cuda else "gloo"


def setup(environ: dict[str, str] | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> LaunchEnv:
    """Start the process group if launched with ``WORLD_SIZE > 1``; idempotent."""
    env = launch_env(environ)
    if not env.distributed or is_dist():
        return env
    cuda = torch.cuda.is_available()
    if cuda and env.local_rank < torch.cuda.device_count():
        # "cuda" and device "auto" now mean this process's GPU. More processes than GPUs
        # is fine with --device cpu; on CUDA, NCCL refuses two ranks on one GPU.
        torch.cuda.set_device(env.local_rank)
    os.environ[TIMEOUT_ENV] = str(timeout_s)  # for monitored barriers (torch does not keep it)
    dist.init_process_group(
        backend=backend_for(cuda),
        rank=env.rank,
        world_size=env.world_size,
        timeout=timedelta(seconds=timeout_s),
    )
    return env


def cleanup() -> None:
    if is_dist():
        dist.destroy_process_group()


@contextlib.contextmanager
def session(timeout_s: float | None = None) -> Iterator[LaunchEnv]:
    """Set up (if launched by torchrun), silence stdout on ranks other than 0, and clean
    up the process group if this session started it. ``timeout_s`` (``--dist-timeout``):
    how long a collective waits for the other processes before it fails."""
    if timeout_s is not None and not (0 < timeout_s < float("inf")):
        raise DistributedError(f"--dist-timeout is {timeout_s}; give a positive number of seconds")
    started = not is_dist()
    env = setup(timeout_s=timeout_s or DEFAULT_TIMEOUT_S)
    started = started and is_dist()
    try:
        if is_main():
            yield env
        else:
            with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
                yield env
    finally:
        if started:
            cleanup()


# ------------------------------------------------------------------ who am I
def is_dist() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_dist() else 0


def world() -> int:
    return dist.get_world_size() if is_dist() else 1


def is_main() -> bool:
    """Rank 0 prints, shows progress and writes files."""
    return rank() == 0


# ------------------------------------------------------------------ sharding
def shard_bounds(n: int, rank: int, world: int) -> tuple[int, int]:
    """Contiguous, balanced ``[start, stop)`` of ``range(n)`` for ``rank``; concatenating
    the shards of ranks 0..world-1 gives ``range(n)`` back in order."""
    return n * rank // world, n * (rank + 1) // world


def local_part(n: int) -> tuple[int, int, float]:
    """This rank's contiguous slice ``[start, stop)`` of a global batch of ``n`` and the factor
    for its mean loss.

    DDP averages gradients over ranks; scaling each rank's mean loss by
    ``n_local * world / n_global`` makes that average the gradient of the global
    batch's mean loss exactly, even when the batch does not split evenly.
    """
    w = world()
    start, stop = shard_bounds(n, rank(), w)
    if stop == start:
        raise DistributedError(
            f"a batch of {n} images cannot be split over {w} processes; "
            "raise learner.batch_size or use fewer processes"
        )
    return start, stop, (stop - start) * w / n


# ------------------------------------------------------------------ collectives
def barrier() -> None:
    """Wait for every rank; with gloo a monitored barrier, whose error names the ranks that
    did not arrive within the process group's timeout."""
    if not is_dist():
        return
    if dist.get_backend() == "gloo":
        timeout = float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))
        dist.monitored_barrier(timeout=timedelta(seconds=timeout), wait_all_ranks=True)
    else:
        dist.barrier()


def all_reduce_sum(t: Tensor) -> Tensor:
    """Sum over ranks (a new tensor; ``t`` unchanged)."""
    out = t.clone()
    if is_dist():
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


def all_reduce_sum_int(k: int) -> int:
    """Sum of a Python integer over ranks."""
    if not is_dist():
        return k
    return int(all_reduce_sum(torch.tensor(k, dtype=torch.long)))


def all_gather_cat(t: Tensor) -> Tensor:
    """Concatenate every rank's ``t`` along dim 0 in rank order; lengths may differ
    (zero included); the other dimensions and dtype must agree."""
    if not is_dist():
        return t
    w = world()
    n = torch.tensor([t.shape[0]], dtype=torch.long, device=t.device)
    sizes = [torch.zeros_like(n) for _ in range(w)]
    dist.all_gather(sizes, n)
    lengths = [int(s) for s in sizes]
    longest = max(lengths)
    padded = t.new_zeros((longest, *t.shape[1:]))
    padded[: t.shape[0]] = t
    parts = [torch.empty_like(padded) for _ in range(w)]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([p[:k] for p, k in zip(parts, lengths, strict=True)])


def broadcast_object(obj: T) -> T:
    """Rank 0's ``obj`` on every rank (a run folder name, a resume decision, ...)."""
    if not is_dist():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def digest(tensors: dict[str, Tensor]) -> str:
    """A SHA-256 of names, shapes, dtypes and bytes: equal digests, identical tensors."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def check_same(what: str, tensors: dict[str, Tensor]) -> None:
    """Raise on every rank unless all ranks hold identical ``tensors`` (no-op alone)."""
    if not is_dist():
        return
    mine = digest(tensors)
    all_digests: list[Any] = [None] * world()
    dist.all_gather_object(all_digests, mine)
    if len(set(all_digests)) > 1:
        differ = [r for r, d in enumerate(all_digests) if d != all_digests[0]]
        raise DistributedError(
            f"the {what} differs between ranks (ranks {differ} differ from rank 0); "
            "every rank must see the same data, seed and config"
        )


def check_agreement(what: str, obj: Any) -> None:
    """Raise on every rank unless every rank passes an equal ``obj`` (JSON-able: a config,
    a data fingerprint, a checkpoint's description); names the ranks that differ."""
    if not is_dist():
        return
    mine = hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
    every: list[Any] = [None] * world()
    dist.all_gather_object(every, mine)
    differ = [r for r, d in enumerate(every) if d != every[0]]
    if differ:
        raise DistributedError(
            f"the {what} of rank(s) {differ} differs from rank 0's; start every process with the "
            "same command, data and run folder"
        )


def failure_message(e: BaseException) -> str | None:
    """One line for a collective that failed or timed out (a process stopped or stalled)."""
    text = str(e).strip()
    first = text.splitlines()[0][:200] if text else type(e).__name__
    backend_error = getattr(dist, "DistBackendError", None)
    known = backend_error is not None and isinstance(e, backend_error)
    if not (known or "monitoredBarrier" in text or "timed out" in text.lower()):
        return None
    late = re.search(r"Ranks? ([\d, ]+) failed to pass monitoredBarrier in (\d+) ms", text)
    if late:
        return (
            f"rank(s) {late.group(1).strip()} did not answer within {int(late.group(2)) / 1000:g} s "
            "(--dist-timeout); a process stopped or stalled: see its own error, or raise --dist-timeout"
        )
    return (
        f"rank {rank()}: a collective with the other processes failed ({first}); a process stopped "
        "or stalled: see its own error above, or raise --dist-timeout for slow steps"
    )


# ------------------------------------------------------------------ models
def wrap_ddp(net: nn.Module, sync_batchnorm: bool = False) -> nn.Module:
    """``net`` itself in one process; DistributedDataParallel around it otherwise.

    ``sync_batchnorm`` (CUDA only, PyTorch's limit): BatchNorm layers of ``net`` become
    SyncBatchNorm, in place, so that they normalise with the global batch's statistics.

    Buffers are not re-broadcast from rank 0 at every forward (``forward_sync_buffers``,
    formerly ``broadcast_buffers=False``): each rank keeps its own BatchNorm running
    statistics within an epoch; :func:`sync_module` averages them after each epoch.
    """
    if not is_dist():
        return net
    from torch.nn.parallel import DistributedDataParallel

    dev = next(net.parameters()).device
    if sync_batchnorm:
        if dev.type != "cuda":
            raise DistributedError(
                "learner.sync_batchnorm needs CUDA (PyTorch's SyncBatchNorm has no CPU version); "
                "set learner.sync_batchnorm=false on CPU"
            )
        nn.SyncBatchNorm.convert_sync_batchnorm(net)
    device_ids = None
    if dev.type == "cuda":
        device_ids = [dev.index if dev.index is not None else torch.cuda.current_device()]
    params = inspect.signature(DistributedDataParallel.__init__).parameters
    no_sync: dict[str, Any] = {
        "forward_sync_buffers" if "forward_sync_buffers" in params else "broadcast_buffers": False
    }
    # gradients as views of DDP's buckets: less memory, no copy (and no stride warning)
    return DistributedDataParallel(net, device_ids=device_ids, gradient_as_bucket_view=True, **no_sync)


@torch.no_grad()
def sync_module(net: nn.Module) -> None:
    """Make every rank's copy identical: floating buffers (BatchNorm running mean and
    variance) averaged over ranks, parameters and other buffers taken from rank 0."""
    if not is_dist():
        return
    w = world()
    for b in net.buffers():
        if b.is_floating_point():
            dist.all_reduce(b, op=dist.ReduceOp.SUM)
            b.div_(w)
        else:
            dist.broadcast(b, src=0)
    for p in net.parameters():
        dist.broadcast(p.data, src=0)
