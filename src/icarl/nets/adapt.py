"""Any ``nn.Module`` as a backbone, and initial weights from a file.

A backbone spec (``learner.backbone``) is a registry name (``resnet32``), an import path
``package.module:factory`` (the factory is called with the image channels and size), or
``object:<class>`` for a module handed to the learner as an object (it records the class;
loading such a model needs an object of the same architecture again).

An import path runs code: importing the module runs it, and so does calling the factory.
Typed by the user for a new run (``--backbone``, ``ICaRL(backbone=...)``) it is the user's
choice; read from a file (a model file or a checkpoint) it is the file's, so the loaders
call :func:`check_consent` first and import nothing unless the user said so
(``--trust-backbone``, ``icarl.load(path, trust_backbone=True)``) or passed the module
itself. Either way :func:`check_import_path` checks the spec's form before any import, and
the standard library and builtins are never backbones (``os:truncate``, ``os:kill``,
``builtins:exec``, ... take two integers as happily as a factory does).

:func:`adapt` makes a module fit :class:`~icarl.nets.protocol.Backbone`: a module with
``forward_features`` and an integer ``out_dim`` is used as it is; otherwise its
``forward_features`` (timm's convention) or its ``forward`` gives the features, a feature
map ``(B, d, h, w)`` is average-pooled to ``(B, d)``, and ``d`` comes from one forward pass.
"""

from __future__ import annotations

import copy
import importlib
import sys
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..config import ConfigError
from ..errors import IcarlError
from ..files.plain import PlainFileError, load_torch
from .protocol import Backbone
from .registry import available, create_backbone

OBJECT_PREFIX = "object:"
SPEC_MAX_CHARS = 200
# never backbones: whatever a file or a user names, these are not imported for one
NEVER_BACKBONES = frozenset(sys.stdlib_module_names) | frozenset(sys.builtin_module_names) | {"__main__"}


class BackboneConsentError(IcarlError):
    """A file names code to import for its backbone and the user has not allowed it."""


def object_spec(module: nn.Module) -> str:
    """The spec recorded for a backbone passed as an object: its class's import path."""
    cls = type(module)
    return f"{OBJECT_PREFIX}{cls.__module__}.{cls.__qualname__}"


def _pool(f: Tensor) -> Tensor:
    if f.ndim == 4:
        return f.mean(dim=(2, 3))
    if f.ndim == 2:
        return f
    raise IcarlError(
        f"the backbone gives features shaped {tuple(f.shape)}; it must map (B, C, H, W) images "
        "to (B, d) features or a (B, d, h, w) feature map"
    )


class AdaptedBackbone(nn.Module):
    """A user module under the backbone protocol: ``forward_features(x) -> (B, out_dim)``."""

    def __init__(self, body: nn.Module, out_dim: int) -> None:
        super().__init__()
        self.body = body
        self.out_dim = out_dim
        self.own_features = callable(getattr(body, "forward_features", None))

    def forward_features(self, x: Tensor) -> Tensor:
        fn = getattr(self.body, "forward_features") if self.own_features else self.body  # noqa: B009
        f: Tensor = fn(x)
        return _pool(f)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_features(x)


def adapt(module: nn.Module, in_channels: int, image_size: int) -> nn.Module:
    """``module`` as a :class:`Backbone` (itself when it already is one)."""
    if isinstance(module, Backbone) and isinstance(getattr(module, "out_dim", None), int):
        return module
    adapted = AdaptedBackbone(module, 0)
    was_training = module.training
    probe = torch.zeros(2, in_channels, image_size, image_size)
    try:
        with torch.no_grad():
            out = adapted.eval().forward_features(probe)
    except IcarlError:
        raise
    except Exception as e:  # the user's module rejects the images: say which shape it was given
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise IcarlError(
            f"the backbone {type(module).__name__} fails on a batch shaped {tuple(probe.shape)} ({first}); "
            "pass a module that takes float images (B, C, H, W)"
        ) from None
    adapted.train(was_training)
    adapted.out_dim = int(out.shape[1])
    return adapted


def is_import_path(spec: str) -> bool:
    """Whether ``spec`` asks for an import (``package.module:factory``)."""
    return ":" in spec and not spec.startswith(OBJECT_PREFIX)


def check_import_path(spec: str) -> tuple[str, str]:
    """``(module, factory)`` of a ``package.module:factory`` spec whose form is checked
    before anything is imported: dotted identifiers, one colon, not the standard library."""
    shown = repr(spec[:SPEC_MAX_CHARS]) + ("..." if len(spec) > SPEC_MAX_CHARS else "")
    module_name, _, attr = spec.partition(":")
    parts = module_name.split(".")
    if len(spec) > SPEC_MAX_CHARS or not attr.isidentifier() or not all(p.isidentifier() for p in parts):
        raise ConfigError(
            f"backbone {shown} is not an import path of the form package.module:factory (dotted "
            f"names, one colon); name a factory so, or choose one of: {', '.join(available())}"
        )
    if parts[0] in NEVER_BACKBONES or attr.startswith("__"):
        what = f"the standard library module {parts[0]}" if parts[0] in NEVER_BACKBONES else "a special name"
        raise ConfigError(
            f"backbone {shown} names {what}, which is never a backbone; name a factory of your "
            f"own package, or choose one of: {', '.join(available())}"
        )
    return module_name, attr


def check_consent(spec: str, where: str, trusted: bool) -> None:
    """A backbone spec read from ``where`` (a model file, a checkpoint): an import path is
    checked, and allowed only when the user ``trusted`` the file; nothing is imported here."""
    if not is_import_path(spec):
        return
    module_name, attr = check_import_path(spec)  # refused even with consent when malformed
    if not trusted:
        raise BackboneConsentError(
            f"{where} asks to import the module {module_name} and call {attr} to build its backbone, "
            "which would run that code; if you trust the file, pass --trust-backbone (Python: "
            "icarl.load(path, trust_backbone=True)) or give the module: icarl.load(path, backbone=module)"
        )


def factory_from_path(spec: str) -> Any:
    """The factory named by ``package.module:factory``; a one-line error if it cannot be imported."""
    module_name, attr = check_import_path(spec)
    try:
        module = importlib.import_module(module_name)
    except Exception as e:
        first = (str(e).strip().splitlines() or [""])[0][:160]
        raise ConfigError(
            f"backbone {spec!r}: cannot import {module_name} ({type(e).__name__}: {first}); check "
            "the name and that the module is importable here, or choose one of: " + ", ".join(available())
        ) from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConfigError(f"backbone {spec!r}: {module_name} has no callable {attr!r}; check the name")
    return factory


def _call_factory(spec: str, in_channels: int, image_size: int) -> nn.Module:
    """The module the factory ``spec`` returns for ``(in_channels, image_size)``; its failure
    (it raises, takes other arguments, returns no module) as one line."""
    factory = factory_from_path(spec)
    try:
        module = factory(in_channels, image_size)
    except Exception as e:
        first = (str(e).strip().splitlines() or [""])[0][:160]
        raise ConfigError(
            f"backbone factory {spec!r} failed when called as {spec.partition(':')[2]}({in_channels}, "
            f"{image_size}) ({type(e).__name__}: {first}); it must take (in_channels, image_size) "
            "and return an nn.Module"
        ) from None
    if not isinstance(module, nn.Module):
        raise ConfigError(f"backbone factory {spec!r} returned {type(module).__name__}, not an nn.Module")
    return module


def build_backbone(
    spec: str, in_channels: int, image_size: int, obj: nn.Module | None = None, init_weights: str = ""
) -> nn.Module:
    """The backbone ``spec`` names (a copy of ``obj`` for ``object:`` specs, and for import
    paths when ``obj`` is given: the module the user passed instead of importing one), with
    ``init_weights`` loaded into it, adapted to the protocol."""
    if spec.startswith(OBJECT_PREFIX) or (obj is not None and is_import_path(spec)):
        if obj is None:
            raise ConfigError(
                f"backbone {spec[len(OBJECT_PREFIX) :]} was passed as an object; pass a module of the same "
                "architecture again: ICaRL(backbone=module) or icarl.load(path, backbone=module)"
            )
        module = copy.deepcopy(obj)
    elif ":" in spec:
        module = _call_factory(spec, in_channels, image_size)
    else:
        module = create_backbone(spec, in_channels, image_size)
    if init_weights:
        load_weights(module, init_weights)
    return adapt(module, in_channels, image_size)


def load_weights(module: nn.Module, path: str | Path) -> None:
    """Initial weights from ``path`` (a state dict, read with ``weights_only=True`` within the
    bounds of :mod:`icarl.files.plain`; a ``{"state_dict": ...}`` wrapper and DDP's ``module.``
    prefixes are accepted). Values that are not tensors and tensors of another shape than the
    backbone's are named in one line."""
    p = Path(path)
    fix = "save model.state_dict() with torch.save"
    if not p.exists():
        raise ConfigError(f"learner.init_weights {p} does not exist; pass a file saved with torch.save")
    try:
        state = load_torch(p, "learner.init_weights", fix)
    except PlainFileError as e:
        raise ConfigError(str(e)) from None
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:120]
        raise ConfigError(f"learner.init_weights {p} is not a plain state dict ({first}); {fix}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ConfigError(f"learner.init_weights {p} holds {type(state).__name__}, not a state dict; {fix}")
    for k, v in state.items():
        if not isinstance(k, str) or not isinstance(v, torch.Tensor):
            raise ConfigError(
                f"learner.init_weights {p}: {str(k)[:80]!r} holds {type(v).__name__}, not a tensor; {fix}"
            )
    _load_fitting(module, {k.removeprefix("module."): v for k, v in state.items()}, p)


def _load_fitting(module: nn.Module, state: dict[str, torch.Tensor], p: Path) -> None:
    own = module.state_dict()
    wrong = [k for k, v in state.items() if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if wrong:
        k = wrong[0]
        more = f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""
        raise ConfigError(
            f"learner.init_weights {p} does not fit the backbone: {k} is shaped {tuple(state[k].shape)} "
            f"in the file, {tuple(own[k].shape)} in the backbone{more}; save the state dict of the "
            "same architecture"
        )
    try:
        result = module.load_state_dict(state, strict=False)
    except (RuntimeError, TypeError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise ConfigError(f"learner.init_weights {p} does not fit the backbone ({first})") from None
    if result.missing_keys or result.unexpected_keys:
        raise ConfigError(
            f"learner.init_weights {p} does not fit the backbone: {len(result.missing_keys)} missing "
            f"(e.g. {result.missing_keys[:2]}), {len(result.unexpected_keys)} unexpected keys "
            f"(e.g. {result.unexpected_keys[:2]}); save the state dict of the same architecture"
        )
