"""Any ``nn.Module`` as a backbone (CNNs, timm models, ViTs returning tokens), and the checks
of the import paths that name one.

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
``forward_features`` (timm's convention; unless it returns no tensor, as DINOv2's dict) or its
``forward`` gives the features; a model with timm's ``forward_head(f, pre_logits=True)`` pools
them itself (a ViT's class token or average, its final norm); else a feature map
``(B, d, h, w)`` is average-pooled to ``(B, d)`` and tokens ``(B, N, d)`` (a ViT without
timm's head) are averaged, or give their first (class) token (``learner.token_pool = "cls"``);
a tuple gives its first item, a Hugging Face output its ``last_hidden_state``. ``d`` comes
from one forward pass. Initial weights: :mod:`icarl.nets.weights`.
"""

from __future__ import annotations

import copy
import importlib
import sys
from typing import Any

import torch
from torch import Tensor, nn

from ..config import ConfigError
from ..errors import IcarlError
from .protocol import Backbone
from .registry import available, create_backbone
from .weights import load_weights

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


TOKEN_POOLS = ("mean", "cls")  # how (B, N, D) tokens become (B, D): their mean, or the first (class) token


def features_of(out: Any) -> Tensor:
    """The tensor in what a module returns: itself, the first item of a tuple or list, or a
    model output's ``last_hidden_state`` (Hugging Face's convention)."""
    if isinstance(out, Tensor):
        return out
    if isinstance(out, tuple | list) and out and isinstance(out[0], Tensor):
        return out[0]
    key = "last_hidden_state"
    hidden = out.get(key) if isinstance(out, dict) else getattr(out, key, None)
    if isinstance(hidden, Tensor):
        return hidden
    raise IcarlError(
        f"the backbone returns {type(out).__name__}, not a tensor; it must return (B, d) features, "
        "a (B, d, h, w) feature map or (B, N, d) tokens"
    )


def pool(f: Tensor, token_pool: str = "mean") -> Tensor:
    """(B, d) features from features, a feature map (averaged over h, w) or tokens (their mean,
    or the class token first in the sequence: ``token_pool = "cls"``)."""
    if f.ndim == 4:
        return f.mean(dim=(2, 3))
    if f.ndim == 3:
        return f[:, 0] if token_pool == "cls" else f.mean(dim=1)
    if f.ndim == 2:
        return f
    raise IcarlError(
        f"the backbone gives features shaped {tuple(f.shape)}; it must map (B, C, H, W) images "
        "to (B, d) features, a (B, d, h, w) feature map or (B, N, d) tokens"
    )


class AdaptedBackbone(nn.Module):
    """A user module under the backbone protocol: ``forward_features(x) -> (B, out_dim)``.

    ``own_features``: the module's ``forward_features`` gives the features (timm), else its
    ``forward``; ``own_head``: then its ``forward_head(f, pre_logits=True)`` pools them as the
    model itself does (timm: class token or average, its final norm), else :func:`pool` with
    ``token_pool``."""

    def __init__(
        self,
        body: nn.Module,
        out_dim: int,
        *,
        token_pool: str = "mean",
        own_features: bool | None = None,
        own_head: bool = False,
    ) -> None:
        super().__init__()
        self.body = body
        self.out_dim = out_dim
        self.token_pool = token_pool
        has_features = callable(getattr(body, "forward_features", None))
        self.own_features = has_features if own_features is None else own_features
        self.own_head = own_head and self.own_features

    def forward_features(self, x: Tensor) -> Tensor:
        if not self.own_features:
            return pool(features_of(self.body(x)), self.token_pool)
        f = _call(self.body, "forward_features", x)
        if self.own_head:
            f = _call(self.body, "forward_head", f, pre_logits=True)
        return pool(features_of(f), self.token_pool)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_features(x)


def _call(module: nn.Module, name: str, *args: Any, **kwargs: Any) -> Any:
    """``module.name(*args, **kwargs)`` for a method the module's class defines (typed as such)."""
    return getattr(module, name)(*args, **kwargs)


def _usable(out: Any) -> bool:
    try:
        return features_of(out).ndim in (2, 3, 4)
    except IcarlError:
        return False


@torch.no_grad()
def _own_parts(module: nn.Module, probe: Tensor) -> tuple[bool, bool]:
    """Whether ``module``'s ``forward_features`` (a tensor out: not DINOv2's dict, say) and then
    its ``forward_head(f, pre_logits=True)`` (timm's signature) give the features."""
    if not callable(getattr(module, "forward_features", None)):
        return False, False
    f = _call(module, "forward_features", probe)
    if not _usable(f):
        return False, False
    head = getattr(module, "forward_head", None)
    if not callable(head):
        return True, False
    try:
        return True, _usable(head(f, pre_logits=True))
    except (TypeError, NotImplementedError):  # a forward_head of another signature: not timm's
        return True, False


def adapt(module: nn.Module, in_channels: int, image_size: int, token_pool: str = "mean") -> nn.Module:
    """``module`` as a :class:`Backbone` (itself when it already is one); what it returns is
    found by one forward pass on a probe batch (see :class:`AdaptedBackbone`)."""
    if isinstance(module, Backbone) and isinstance(getattr(module, "out_dim", None), int):
        return module
    was_training = module.training
    probe = torch.zeros(2, in_channels, image_size, image_size)
    try:
        own_features, own_head = _own_parts(module.eval(), probe)
        adapted = AdaptedBackbone(
            module, 0, token_pool=token_pool, own_features=own_features, own_head=own_head
        )
        with torch.no_grad():
            out = adapted.forward_features(probe)
    except IcarlError:
        raise
    except Exception as e:  # the user's module rejects the images: say which shape it was given
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise IcarlError(
            f"the backbone {type(module).__name__} fails on a batch shaped {tuple(probe.shape)} ({first}); "
            "pass a module that takes float images (B, C, H, W)"
        ) from None
    finally:
        module.train(was_training)
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
    spec: str,
    in_channels: int,
    image_size: int,
    obj: nn.Module | None = None,
    init_weights: str = "",
    *,
    token_pool: str = "mean",
    strict_weights: bool = False,
    report: bool = True,
) -> nn.Module:
    """The backbone ``spec`` names (a copy of ``obj`` for ``object:`` specs, and for import
    paths when ``obj`` is given: the module the user passed instead of importing one), with
    ``init_weights`` loaded into it (:func:`icarl.nets.weights.load_weights`: ``strict_weights``,
    ``report``), adapted to the protocol (tokens pooled by ``token_pool``)."""
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
        load_weights(module, init_weights, strict=strict_weights, report=report)
    return adapt(module, in_channels, image_size, token_pool)
