"""Checks made before a run trains or writes anything: the learner's device and backbone,
and every output target (writable, not inside a run folder's own files, not replaced
without ``--force``). Each failure is one ``ConfigError`` line naming the option."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from ..config import ConfigError, LearnerConfig
from ..files.atomic import same_file
from ..files.plain import check_regular
from ..nets import available, build_backbone
from ..nets.adapt import OBJECT_PREFIX, factory_from_path, is_import_path
from ..train.amp import resolve_device


def check_learner(cfg: LearnerConfig) -> None:
    """The device exists here and the backbone can be found (before any folder is made)."""
    resolve_device(cfg.device)
    if cfg.init_weights and not Path(cfg.init_weights).exists():
        raise ConfigError(
            f"learner.init_weights {cfg.init_weights} does not exist; pass a file saved with torch.save"
        )
    if cfg.init_weights:  # a FIFO or a device is refused here, before any folder is made
        check_regular(cfg.init_weights, "learner.init_weights", "save model.state_dict() with torch.save")
    spec = cfg.backbone
    if spec.startswith(OBJECT_PREFIX):
        return
    if ":" in spec:
        factory_from_path(spec)
    elif spec not in available():
        raise ConfigError(
            f"learner.backbone is {spec!r}; choose one of: {', '.join(available())}, "
            "or name a factory as package.module:function"
        )


def check_backbone(cfg: LearnerConfig, image_shape: tuple[int, int, int], obj: nn.Module | None) -> None:
    """Build a user's backbone once (import-path factory, module passed as an object, initial
    weights) for images of ``image_shape``, so that a factory that fails or weights that do not
    fit are one line before the run folder is written. Registry backbones without initial
    weights are known to build and are skipped; the global generators are left as they were."""
    if not (is_import_path(cfg.backbone) or cfg.backbone.startswith(OBJECT_PREFIX) or cfg.init_weights):
        return
    c, h, _ = image_shape
    with torch.random.fork_rng(devices=[]):
        build_backbone(
            cfg.backbone,
            c,
            h,
            obj,
            cfg.init_weights,
            token_pool=cfg.token_pool,
            strict_weights=cfg.init_weights_strict,
            report=False,  # the learner's build says what did not fit, once
        )


def _existing_ancestor(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_writable(target: Path, option: str) -> None:
    """``target`` (a file or folder to be made) can be created: its nearest existing
    ancestor is a folder in which a file can be created and removed."""
    parent = _existing_ancestor(target.parent if not target.is_dir() else target)
    if not parent.is_dir():
        raise ConfigError(f"{option} {target}: {parent} is a file, not a folder; choose another path")
    try:
        fd, name = tempfile.mkstemp(prefix=".icarl-write-test-", dir=parent)
    except OSError as e:
        raise ConfigError(
            f"{option} {target}: cannot write in {parent} ({e.strerror}); choose a writable place"
        ) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)


def check_not_input(target: Path, inputs: dict[str, str | Path | None], option: str) -> None:
    """``target`` is none of ``inputs`` (what -> path): no command replaces what it reads."""
    for what, path in inputs.items():
        if path and same_file(target, path):
            raise ConfigError(
                f"{option} {target} is {what}, which this command reads; choose another file "
                "(the input is kept as it is)"
            )


def check_output_file(path: Path, option: str, force: bool, run_dir: Path | None = None) -> None:
    """A model file to write: not a folder, not inside ``run_dir``, not replaced without
    ``force``, writable."""
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder; give a file name, like model.icarl")
    if run_dir is not None and run_dir.resolve() in path.resolve().parents:
        raise ConfigError(
            f"{option} {path} is inside the run folder {run_dir}, whose files the run writes; "
            "save the model elsewhere"
        )
    if path.exists() and not force:
        raise ConfigError(f"{option} {path} exists; pass --force to replace it, or choose another file")
    check_writable(path, option)
