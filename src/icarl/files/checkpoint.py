"""Atomic checkpoints of a run, and resuming from them.

A run folder holds ``checkpoint.pt``: the learner as it was at the start of the
step being trained (network, which is also the step's *previous* network, exemplar
memory, class means, random-number state), the results of the finished steps, the
run's configuration and class order, a fingerprint of the data and, when written in
the middle of a step, the training loop's state (network, optimizer, scheduler,
epoch, generator; see :class:`icarl.train.loop.TrainState`). Everything is plain tensors
and containers, read back with ``torch.load(weights_only=True)`` only.

Writes are atomic: a temporary file in the same folder, flushed and fsynced, then
``os.replace`` and an fsync of the folder. A crash or a full disk at any moment
leaves the previous checkpoint intact.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import IcarlError
from .atomic import atomic_write, temp_path
from .layout import StateLayoutError, check_keys, check_learner_state
from .plain import PlainFileError, load_torch

CHECKPOINT_NAME = "checkpoint.pt"
RESULTS_NAME = "results.json"
CHECKPOINT_VERSION = 1
KIND = "icarl-run-checkpoint"
# Configuration keys that may differ between a run and its resumption: they do not
# change what is learned (where files go, progress bars, device, checkpoint spacing).
RESUMABLE_DIFFERENCES = ("out", "checkpoint_every", "learner.progress", "learner.device")
# Keys a resumed run may change (recorded in results.json under "resumed"): they change how
# training goes on, not the model's shape or what was learned so far.
RESUME_CHANGES = (
    "learner.lr",
    "learner.lr_milestones",
    "learner.lr_gamma",
    "learner.weight_decay",
    "learner.momentum",
    "learner.epochs",
    "learner.batch_size",
    "learner.eval_batch_size",
    "learner.workers",
)


class CheckpointError(IcarlError):
    """A checkpoint that cannot be used to resume; the message says why and what to do."""


# ------------------------------------------------------------------- checkpoints
@dataclass(frozen=True)
class Checkpoint:
    """What ``checkpoint.pt`` holds. ``learner`` is the learner at the start of step
    ``len(results["steps"])``; ``training`` (or None) is the interrupted training loop of
    that step: ``{"step": i, **TrainState.as_dict()}``."""

    config: dict[str, Any]
    deterministic: bool
    data_fingerprint: str
    total_steps: int
    results: dict[str, Any]
    learner: dict[str, Any]
    training: dict[str, Any] | None = None
    world_size: int = 1  # processes that trained it (torchrun); 1 in checkpoints before this field

    @property
    def steps_done(self) -> int:
        return len(self.results["steps"])

    @property
    def finished(self) -> bool:
        return self.steps_done >= self.total_steps

    def describe(self) -> str:
        if self.training is not None:
            return f"step {self.training['step'] + 1}, epoch {self.training['epoch']}"
        return f"after step {self.steps_done}" if self.steps_done else "before step 1"


def save_checkpoint(run_dir: str | Path, ck: Checkpoint) -> Path:
    buf = io.BytesIO()
    torch.save(
        {
            "kind": KIND,
            "checkpoint_version": CHECKPOINT_VERSION,
            "config": ck.config,
            "deterministic": ck.deterministic,
            "data_fingerprint": ck.data_fingerprint,
            "total_steps": ck.total_steps,
            "results": ck.results,
            "learner": ck.learner,
            "training": ck.training,
            "world_size": ck.world_size,
        },
        buf,
    )
    path = Path(run_dir) / CHECKPOINT_NAME
    atomic_write(path, buf.getvalue())
    return path


def load_checkpoint(run_dir: str | Path) -> Checkpoint:
    """Read ``run_dir/checkpoint.pt`` with ``weights_only=True``; one-line errors otherwise."""
    run_dir = Path(run_dir)
    path = run_dir / CHECKPOINT_NAME
    if not run_dir.is_dir():
        raise CheckpointError(f"run folder {run_dir} does not exist; pass the folder of an earlier run")
    if not path.exists():
        raise CheckpointError(
            f"{run_dir} holds no {CHECKPOINT_NAME}; it is not a run folder, or its run stopped "
            "before the first checkpoint (start it again with --force)"
        )
    try:
        state = load_torch(path, "checkpoint", "start the run again with --force")
    except PlainFileError as e:
        raise CheckpointError(str(e)) from None
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:120]
        raise CheckpointError(f"{path} is unreadable ({first}); start the run again with --force") from None
    if not isinstance(state, dict) or state.get("kind") != KIND:
        raise CheckpointError(f"{path} is not an icarl run checkpoint; pass a run folder of icarl run")
    version = state.get("checkpoint_version")
    if version != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {version}, this icarl reads version "
            f"{CHECKPOINT_VERSION}; resume with the icarl version that wrote it or start over with --force"
        )
    _check_layout(state, str(path))
    return Checkpoint(
        config=state["config"],
        deterministic=bool(state["deterministic"]),
        data_fingerprint=str(state["data_fingerprint"]),
        total_steps=int(state["total_steps"]),
        results=state["results"],
        learner=state["learner"],
        training=state["training"],
        world_size=int(state.get("world_size", 1)),
    )


CHECKPOINT_KEYS: dict[str, tuple[type | None, ...]] = {
    "config": (dict,),
    "deterministic": (bool,),
    "data_fingerprint": (str,),
    "total_steps": (int,),
    "results": (dict,),
    "learner": (dict,),
    "training": (dict, None),
}
TRAINING_KEYS: dict[str, tuple[type | None, ...]] = {
    "step": (int,),
    "epoch": (int,),
    "net": (dict,),
    "optimizer": (dict,),
    "scheduler": (dict,),
    "generator": (Tensor,),
}


def _check_layout(state: dict[str, Any], where: str) -> None:
    """The checkpoint's keys and types, and its learner's, checked before anything uses them."""
    try:
        check_keys(state, CHECKPOINT_KEYS, where)
        check_keys(state["results"], {"steps": (list,)}, where, "results.")
        check_learner_state(state["learner"], f"{where} (learner)")
        if state["training"] is not None:
            check_keys(state["training"], TRAINING_KEYS, where, "training.")
    except StateLayoutError as e:
        raise CheckpointError(f"{e}; start the run again with --force") from None


def config_differences(saved: dict[str, Any], current: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ, except :data:`RESUMABLE_DIFFERENCES`."""
    out: list[str] = []
    for key in sorted(set(saved) | set(current)):
        full = f"{prefix}{key}"
        if full in RESUMABLE_DIFFERENCES:
            continue
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_differences(a, b, f"{full}.")
        elif a != b:
            out.append(f"{full}: {a!r} in the checkpoint, {b!r} now")
    return out


def _get(table: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        table = table.get(part, {}) if isinstance(table, dict) else {}
    return table


def resume_changes(ck: Checkpoint, current: dict[str, Any], run_dir: str | Path) -> dict[str, list[Any]]:
    """``{key: [old, new]}`` for the :data:`RESUME_CHANGES` keys that differ; a one-line
    error if any other key (except :data:`RESUMABLE_DIFFERENCES`) differs."""
    changed = {k: [_get(ck.config, k), _get(current, k)] for k in RESUME_CHANGES}
    changed = {k: v for k, v in changed.items() if v[0] != v[1]}
    check_config(ck, current, run_dir, ignore=tuple(changed))
    return changed


def check_config(
    ck: Checkpoint, current: dict[str, Any], run_dir: str | Path, ignore: tuple[str, ...] = ()
) -> None:
    diff = [d for d in config_differences(ck.config, current) if d.split(":")[0] not in ignore]
    if diff:
        more = f" (and {len(diff) - 2} more)" if len(diff) > 2 else ""
        raise CheckpointError(
            f"the checkpoint in {run_dir} was written with another configuration "
            f"({'; '.join(diff[:2])}{more}); resume with only --resume {run_dir} (a resume may change "
            f"only {', '.join(k.split('.')[-1] for k in RESUME_CHANGES)}), or start a new run"
        )


# ------------------------------------------------------------------------ helpers
def data_fingerprint(*tensors: Tensor) -> str:
    """SHA-256 over the bytes, shapes and dtypes of ``tensors`` (a dataset's identity)."""
    h = hashlib.sha256()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(f"{tuple(t.shape)}{t.dtype};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().data)
    return h.hexdigest()


def clone_state(obj: Any) -> Any:
    """A deep copy of nested containers with every tensor cloned to the CPU."""
    if isinstance(obj, Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: clone_state(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(clone_state(v) for v in obj)
    return obj


def clear_run_files(run_dir: Path) -> None:
    """Remove a previous run's checkpoint and results (``--force``), nothing else."""
    for name in (CHECKPOINT_NAME, RESULTS_NAME):
        for p in (run_dir / name, temp_path(run_dir / name)):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
