"""Initial backbone weights from a state dict file (``learner.init_weights``), as the field
saves them.

Pretrained checkpoints rarely name their tensors as the module that loads them: DDP adds
``module.``, ``torch.compile`` ``_orig_mod.``, a classifier wrapper ``model.`` or
``backbone.``, self-supervised code ``encoder.``; and they carry tensors the backbone does not
have (a classifier head ``fc.weight``) or lack some it has. So:

- a wrapper dict (``{"state_dict": ...}``, ``{"model": ...}``, ``{"model_state_dict": ...}``,
  ``{"net": ...}``) is opened;
- the common prefixes (:data:`PREFIX_NAMES`, on the file's side, and on the module's side
  when the module wraps the network) are stripped where that makes more tensors fit, the
  choice with the most fitting tensors winning (no stripping on a tie);
- every tensor whose name and shape fit is loaded; the others are reported in one line on
  stderr: how many loaded, the prefix stripped, the missing, unexpected and differently
  shaped ones with examples. ``learner.init_weights_strict = true`` refuses any of those
  instead, in one line; a file of which no tensor fits is refused either way.

The file is read with ``weights_only=True`` within the bounds of :mod:`icarl.files.plain`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from ..config import ConfigError
from ..files.plain import PlainFileError, load_torch

FIX = "save model.state_dict() with torch.save"
WRAPPERS = ("state_dict", "model", "model_state_dict", "net", "module")
# leading name components that wrappers add (DDP, torch.compile, classifier and SSL wrappers)
PREFIX_NAMES = frozenset({"module", "_orig_mod", "model", "backbone", "encoder", "net", "body", "base_model"})


@dataclass
class Fit:
    """How a file's tensors map onto a module's: ``load`` (module name -> tensor) and the rest."""

    load: dict[str, Tensor] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    reshaped: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    stripped: str = ""
    added: str = ""

    @property
    def exact(self) -> bool:
        return not (self.missing or self.unexpected or self.reshaped)

    def summary(self, total: int) -> str:
        """One line: what loaded, what did not."""
        parts = [f"{len(self.load)} of {total} tensors loaded"]
        if self.stripped or self.added:
            how = [f"prefix {self.stripped!r} stripped" if self.stripped else ""]
            how += [f"prefix {self.added!r} added" if self.added else ""]
            parts[0] += f" ({', '.join(h for h in how if h)})"
        parts.append(f"{len(self.missing)} missing{_examples(self.missing)}")
        parts.append(f"{len(self.unexpected)} unexpected{_examples(self.unexpected)}")
        shaped = [f"{k} {a} in the file, {b} here" for k, a, b in self.reshaped]
        parts.append(f"{len(self.reshaped)} of another shape{_examples(shaped)}")
        return "; ".join(parts)


def _examples(names: list[str]) -> str:
    return f" (e.g. {', '.join(names[:2])})" if names else ""


def read_state(path: str | Path) -> dict[str, Tensor]:
    """The state dict in ``path``, a wrapper opened; one line for anything else."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"learner.init_weights {p} does not exist; pass a file saved with torch.save")
    try:
        state = load_torch(p, "learner.init_weights", FIX)
    except PlainFileError as e:
        raise ConfigError(str(e)) from None
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:120]
        raise ConfigError(f"learner.init_weights {p} is not a plain state dict ({first}); {FIX}") from None
    for key in WRAPPERS:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict):
        raise ConfigError(f"learner.init_weights {p} holds {type(state).__name__}, not a state dict; {FIX}")
    for k, v in state.items():
        if not isinstance(k, str) or not isinstance(v, Tensor):
            raise ConfigError(
                f"learner.init_weights {p}: {str(k)[:80]!r} holds {type(v).__name__}, not a tensor; {FIX}"
            )
    return state


def prefixes(keys: list[str]) -> set[str]:
    """ "" and every run of :data:`PREFIX_NAMES` components that starts a key ("module.backbone.")."""
    out = {""}
    for k in keys:
        parts = k.split(".")[:-1]
        run = ""
        for part in parts:
            if part not in PREFIX_NAMES:
                break
            run += part + "."
            out.add(run)
    return out


def fit(state: dict[str, Tensor], own: dict[str, Tensor]) -> Fit:
    """The mapping of ``state`` onto ``own`` that fits the most tensors (name and shape), over
    the prefixes stripped from the file's names and added to them (:func:`prefixes`)."""
    best: Fit | None = None
    for strip in sorted(prefixes(list(state)), key=len):
        for add in sorted(prefixes(list(own)), key=len):
            candidate = _fit_with(state, own, strip, add)
            if best is None or len(candidate.load) > len(best.load):
                best = candidate
    assert best is not None  # internal: "" is always a prefix
    return best


def _fit_with(state: dict[str, Tensor], own: dict[str, Tensor], strip: str, add: str) -> Fit:
    out = Fit(stripped=strip, added=add)
    for k, v in state.items():
        name = add + k[len(strip) :] if k.startswith(strip) else k
        if name not in own:
            out.unexpected.append(k)
        elif tuple(v.shape) != tuple(own[name].shape):
            out.reshaped.append((k, tuple(v.shape), tuple(own[name].shape)))
        else:
            out.load[name] = v
    taken = set(out.load) | {add + k[len(strip) :] for k, _, _ in out.reshaped if k.startswith(strip)}
    out.missing = [k for k in own if k not in taken]
    return out


def load_weights(module: nn.Module, path: str | Path, *, strict: bool = False, report: bool = True) -> Fit:
    """Load the tensors of ``path`` that fit ``module`` (see the module docstring); ``strict``:
    refuse a file that does not fit exactly; ``report``: the one-line note on stderr when
    anything was stripped, missing, unexpected or of another shape."""
    p = Path(path)
    state = read_state(p)
    own = module.state_dict()
    result = fit(state, own)
    if not result.load:
        raise ConfigError(
            f"learner.init_weights {p} does not fit the backbone: no tensor fits; "
            f"{result.summary(len(own))}; save the state dict of the same architecture"
        )
    if strict and not result.exact:
        raise ConfigError(
            f"learner.init_weights {p} does not fit the backbone exactly (learner.init_weights_strict): "
            f"{result.summary(len(own))}; save the state dict of the same architecture, or drop "
            "init_weights_strict to load what fits"
        )
    try:
        with torch.no_grad():
            module.load_state_dict(result.load, strict=False)
    except (RuntimeError, TypeError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise ConfigError(f"learner.init_weights {p} does not fit the backbone ({first})") from None
    if report and (not result.exact or result.stripped or result.added):
        print(f"icarl: note: learner.init_weights {p}: {result.summary(len(own))}", file=sys.stderr)
    return result
