"""Typed, frozen configuration, loaded from TOML with dotted overrides. A run is a
:class:`RunConfig`: the data (``[data]``), the learner (``[learner]``), the evaluation, the
method, the seed and where to write. Presets: ``icarl/configs/*.toml`` (``--config NAME``)."""

from __future__ import annotations

import dataclasses
import errno
import math
import os
import stat
import sys
import types
import typing
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from .errors import IcarlError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ConfigError(IcarlError):
    """A configuration problem; the message names the key and the fix."""


@dataclass(frozen=True)
class LearnerConfig:
    """Hyperparameters of a learner. Defaults are the paper's CIFAR-100 settings."""

    # a registry name, "package.module:factory" (called with channels and image size), or
    # "object:<class>" for a module passed as an object (ICaRL(backbone=module))
    backbone: str = "resnet32"
    init_weights: str = ""  # initial backbone weights: a state dict file (read with weights_only=True)
    # false: load every tensor whose name (common prefixes such as module., model., backbone.
    # stripped) and shape fit, and say in one line what did not; true: refuse a file that does
    # not fit exactly (icarl.nets.weights)
    init_weights_strict: bool = False
    # a backbone that returns tokens (B, N, d) and has no timm forward_head: "mean" of the
    # tokens, or "cls", the first (class) token (icarl.nets.adapt)
    token_pool: str = "mean"
    augment: str = "builtin"  # "builtin": crop/flip then batch_transform; "user": batch_transform only
    memory_size: int = 2000  # K, total exemplars; 0 = no exemplar memory
    epochs: int = 70
    lr: float = 2.0
    # None: 70% and 90% of epochs, to the nearest epoch, halves down (49, 63 of 70; 3, 4 of 5),
    # so the schedule scales with --epochs
    lr_milestones: tuple[int, ...] | None = None
    lr_gamma: float = 0.2  # divide by 5
    momentum: float = 0.9
    batch_size: int = 128  # 0 = auto (resolve_learner): 128, or 64 for a small first step
    weight_decay: float = 1e-5
    # "authors": the Theano code adds weight_decay * sum(p^2) over Lasagne's regularizable
    # parameters: conv/linear weights and the BatchNorm scales (gamma), not biases or BatchNorm
    # shifts, i.e. torch weight_decay = 2 * weight_decay on those. "weights": the same on conv/
    # linear weights only (no gamma). "torch": PyTorch's weight_decay on every parameter.
    weight_decay_convention: str = "weights"
    distillation: str = "bce"  # "bce" (paper), "kd" (Hinton softmax with temperature), "none"
    temperature: float = 2.0  # kd only
    kd_lambda: float = 1.0  # kd only: weight of the cross-entropy term
    # what predict() uses: a rule of icarl.algorithm.classifiers, "nme" (Alg. 1, nearest mean of
    # exemplars) or "cnn" (network outputs) built in
    classifier: str = "nme"
    # "herding" (Alg. 4: exactly m distinct items), "herding-authors" (the authors' loop:
    # repeats allowed, at most 1000 iterations, so possibly fewer than m) or "random"
    selection: str = "herding"
    # "default": convolutions He-normal over their fan-out, the head nn.Linear's uniform init;
    # "lasagne": the authors' Theano init, convolutions He-normal over their fan-in
    # (HeNormal(gain='relu')), the head He-normal (gain 1) with zero biases. Built-in
    # backbones only (a module you pass, or init_weights, keeps its own weights)
    init: str = "default"
    # "torch": nn.BatchNorm2d (eps 1e-5, running average of the unbiased variance); "lasagne":
    # the authors' Theano BatchNormLayer (eps 1e-4, running average of 1/sqrt(biased var + eps));
    # built-in backbones' BatchNorm2d layers only
    batchnorm: str = "torch"
    # outputs allocated up front (the authors' code: 100 on CIFAR-100, loss over all; the paper
    # does not say); 0 = grow
    head_size: int = 0
    crop_pad: int = 4  # random crop after zero padding by this many pixels; 0 = off
    flip: bool = True  # random horizontal flips; class means also average flipped copies
    # "pixel_mean" (the mean image of the first step's data), "channel_mean" (its mean colour,
    # one value per channel: the authors' TensorFlow ImageNet code) or "none"
    normalize: str = "pixel_mean"
    # float images handed over normalised, x = (pixel - mean) / std (torchvision's Normalize):
    # the mean and std per channel (or one for all), so the learner can store them as uint8
    # pixels again; None: floats are pixels in [0, 1]. A user's Dataset whose transform holds
    # a Normalize is read with that one's values unless these are given (icarl.data.user)
    input_mean: tuple[float, ...] | None = None
    input_std: tuple[float, ...] | None = None
    # the colour of the crop padding: "zero" (black: the uint8 image is padded with 0, the mean
    # subtracted after) or "mean" (the authors: the mean-subtracted image is padded with 0)
    pad_value: str = "zero"
    # ResNet-32/20 (CIFAR ResNets): a ReLU after the sum of the last residual block (features
    # >= 0); the authors' Theano network has none there (``last=True``: signed features)
    resnet_last_relu: bool = True
    # keep SGD's momentum buffers from one step (increment) to the next, as the authors' code
    # does (one optimiser for the whole run); False: a new optimiser (zero velocity) each step
    momentum_carry: bool = False
    # bf16 autocast: "auto" = where it is fast (AMX / AVX512-BF16 CPUs, CUDA with bf16),
    # "bf16" = always, "off" = fp32. 2-2.5x faster on AMX CPUs; the same accuracy for the
    # small CNN on digits, but the MLP at lr 2.0 collapsed in bf16 (digits, step 2): so it is
    # off by default and the presets whose accuracy was measured turn it on.
    amp: str = "off"
    channels_last: bool = True  # NHWC activations: faster convolutions on CPU and GPU
    compile: bool = False  # torch.compile the network for training (see benchmarks/RESULTS.md)
    sync_batchnorm: bool = False  # DDP on GPUs: BatchNorm over the global batch (docs/distributed.md)
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", ...
    eval_batch_size: int = 1024
    workers: int = 2  # decoding processes of sources read from files (DataLoader num_workers; 0: in process)
    seed: int = 1993
    progress: bool = True

    def milestones(self) -> tuple[int, ...]:
        if self.lr_milestones is not None:
            return tuple(self.lr_milestones)
        # the nearest epoch, halves rounded down (5 epochs: 3 and 4, as the reduced CIFAR-100
        # runs; 12: 8 and 11; 70: 49 and 63), in integers since 0.7 * 70 is 48.999... in floats;
        # the second kept after the first (two equal ones would divide the lr by 25 at once)
        first = max(1, (7 * self.epochs + 4) // 10)  # never before the first epoch
        return (first, max((9 * self.epochs + 4) // 10, first + 1))

    def check(self) -> LearnerConfig:
        choices = {
            "weight_decay_convention": ("authors", "weights", "torch"),
            "distillation": ("bce", "kd", "none"),
            "selection": ("herding", "herding-authors", "random"),
            "init": ("default", "lasagne"),
            "batchnorm": ("torch", "lasagne"),
            "normalize": ("pixel_mean", "channel_mean", "none"),
            "pad_value": ("zero", "mean"),
            "amp": ("auto", "off", "bf16"),
            "augment": ("builtin", "user"),
            "token_pool": ("mean", "cls"),
        }
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(
                    f"learner.{key} is {getattr(self, key)!r}; choose one of {', '.join(allowed)}"
                )
        for key in ("resnet_last_relu", "momentum_carry", "init_weights_strict"):
            if not isinstance(getattr(self, key), bool):
                raise ConfigError(f"learner.{key} is {getattr(self, key)!r}; use true or false")
        for key in ("epochs", "eval_batch_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"learner.{key} is {getattr(self, key)}; it must be at least 1")
        if self.batch_size < 0:
            raise ConfigError(f"learner.batch_size is {self.batch_size}; use 1 or more, or 0 (auto)")
        if self.memory_size < 0:
            raise ConfigError(f"learner.memory_size is {self.memory_size}; use 0 or more")
        check_ranges("learner.", self, LEARNER_RANGES)
        kind = str(self.device).split(":")[0]
        if kind in NO_DEVICES:  # torch knows them, but they hold no data or cannot train here
            raise ConfigError(
                f"learner.device is {self.device!r}, on which icarl cannot train or predict; "
                "use auto, cpu, cuda, cuda:N, mps or xpu"
            )
        if (self.input_mean is None) != (self.input_std is None):
            raise ConfigError("learner.input_mean and learner.input_std go together; give both or neither")
        # learner.classifier names a rule of the classifier registry: checked with it, by the
        # learner and icarl.methods.resolve (icarl.algorithm.classifiers.check_learner_classifier)
        if self.input_mean is None:
            return self
        mean, std = channel_values("input_mean", self.input_mean), channel_values("input_std", self.input_std)
        return (
            self
            if (mean, std) == (self.input_mean, self.input_std)
            else replace(self, input_mean=mean, input_std=std)
        )


def channel_values(key: str, values: Any) -> tuple[float, ...]:
    """``learner.input_mean`` / ``input_std`` as a tuple of 1-4 finite floats (std above 0)."""
    items = values if isinstance(values, list | tuple) else [values]
    ok = 1 <= len(items) <= 4 and all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in items
    )
    if not ok or (key == "input_std" and min(items) <= 0):
        above = ", each above 0" if key == "input_std" else ""
        raise ConfigError(f"learner.{key} is {values!r}; give 1-4 finite numbers (one per channel){above}")
    return tuple(float(v) for v in items)


SMALL_FIRST_STEP = 2048  # training images below which batch_size auto is 64, not 128

Checkable = TypeVar("Checkable", "LearnerConfig", "DataConfig", "RunConfig")
# Values already checked. The checks are pure functions of a frozen value, so an equal value
# passes them too: a configuration handed from the command line to the runner to the learner
# is checked once, not at every door it passes (a run used to check it 23 times).
_CHECKED: weakref.WeakSet[Any] = weakref.WeakSet()


def checked(cfg: Checkable) -> Checkable:
    """``cfg.check()``, unless an equal value has been checked already; returns the checked
    value (``cfg``, or ``cfg`` with values put in their canonical form: learner.input_mean
    given as a list becomes a tuple of floats)."""
    try:
        known = cfg in _CHECKED
    except TypeError:  # a list where a tuple belongs (LearnerConfig(lr_milestones=[...])): unhashable
        return cfg.check()
    if known:
        return cfg
    out = cfg.check()
    _CHECKED.add(out)
    return out


def resolve_learner(
    base: LearnerConfig, changes: Mapping[str, Any] | None = None, *, first_step_images: int | None = None
) -> LearnerConfig:
    """THE one function that makes a learner's configuration: ``base`` with ``changes``
    applied (a method's settings, the run's seed, a user's ``set_params``), then the automatic
    batch size once the first step's size is known, checked. Every configuration a learner
    holds was made here (:class:`~icarl.algorithm.learner.ICaRL` calls it from its constructor,
    ``set_params`` and its first ``partial_fit``; :func:`icarl.methods.resolve` for a run).
    Resolving a resolved configuration again gives it back unchanged.

    ``batch_size = 0`` (auto) becomes 128 (the paper's), or 64 for a first step of fewer than
    SMALL_FIRST_STEP training images (digits: 4 or more batches an epoch instead of 2)."""
    cfg = replace(base, **changes) if changes else base
    if first_step_images is not None and cfg.batch_size == 0:
        cfg = replace(cfg, batch_size=64 if first_step_images < SMALL_FIRST_STEP else 128)
    return checked(cfg)


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "digits"
    path: str | None = None  # where the dataset's files are (None: embedded data)
    classes_per_step: int = 2
    first_step: int = 0  # classes in the first step; 0 = classes_per_step
    class_order: str = "seed"  # "seed" (the run's seed), "seed:N", a named order, or a file
    classes: tuple[int, ...] | None = None  # restrict to these classes
    image_size: int = 0  # resize to this size at load time; 0 = native
    cache: str = "auto"  # decoded-image cache: "auto" (default folder, slow sources), "off", or a folder
    download: bool = False  # fetch the published files into `path` (cifar10/100, mnist, fashion-mnist)
    # "memory": decode the dataset into uint8 tensors (the fast path); "stream": read batches
    # from the files through decoding workers (imagefolder, tinyimagenet, npz); "auto": stream
    # when the decoded training set would exceed memory_budget
    storage: str = "auto"
    memory_budget: float = 0.0  # GiB the decoded training set may take; 0: half the available RAM
    # an archive's checksum (CIFAR): "published" (the official md5), "off" (not checked, said in
    # a notice), or the md5 (32 hex digits) or sha256 (64) of your own copy, e.g. a rebuilt archive
    checksum: str = "published"

    def check(self) -> DataConfig:
        if self.storage not in ("memory", "stream", "auto"):
            raise ConfigError(f"data.storage is {self.storage!r}; choose one of memory, stream, auto")
        digest = self.checksum.lower()
        hexdigest = len(digest) in (32, 64) and all(c in "0123456789abcdef" for c in digest)
        if self.checksum not in ("published", "off") and not hexdigest:
            raise ConfigError(
                f"data.checksum is {self.checksum!r}; use published, off, or the md5 (32 hex digits) "
                "or sha256 (64) of your copy"
            )
        if self.classes_per_step < 1:
            raise ConfigError(f"data.classes_per_step is {self.classes_per_step}; it must be at least 1")
        check_ranges("data.", self, DATA_RANGES)
        named = self.class_order in ("seed", "identity") or self.class_order.startswith("seed:")
        if not named and os.path.exists(self.class_order):  # a file: regular and bounded
            regular_text(self.class_order, "data.class_order file", ORDER_MAX_BYTES, read=False)
        return self


@dataclass(frozen=True)
class EvaluationConfig:
    """What the evaluation after each step computes besides the learner's own classifiers."""

    # iNCM (paper Sec. 4.2): the class means of ALL seen training data, an oracle ablation (a
    # feature pass over every seen training image after each step)
    incm: bool = False
    # rank every output of the head, seen or not, as the authors' CIFAR-100 evaluation does:
    # unseen classes compete (NME and iNCM with a zero class mean, CNN with their outputs) and
    # a test image given to one counts as wrong (results.json: steps[i].unseen_share). False:
    # the seen classes only, as predict() and the exported programs always do
    score_all_outputs: bool = False


@dataclass(frozen=True)
class RunConfig:
    """A whole run: the method, the one seed, the data and stream, the learner and evaluation.

    What ``icarl run`` resolves from a preset, a TOML file and the command line
    (:func:`load_config`) and records in ``results.json``."""

    method: str = "icarl"
    seed: int = 1993
    out: str = "runs"
    checkpoint_every: int = 10  # epochs between checkpoints within a step (0: after each step only)
    # the accuracy the run's summary prints first: "top1" or "top5" (the paper's ImageNet figures);
    # results.json holds both (average_incremental_accuracy, average_incremental_top5, ...)
    headline: str = "top1"
    data: DataConfig = field(default_factory=DataConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)

    def check(self) -> RunConfig:
        """Every value in its range (the message names the key and the range)."""
        if self.checkpoint_every < 0:
            raise ConfigError(
                f"checkpoint_every is {self.checkpoint_every}; use 0 (after each step only) or more"
            )
        check_ranges("", self, RUN_RANGES)
        if self.headline not in ("top1", "top5"):
            raise ConfigError(f"headline is {self.headline!r}; choose one of top1, top5")
        checked(self.data)
        learner = checked(self.learner)
        return self if learner is self.learner else replace(self, learner=learner)


SEED_MAX = 2**32 - 1  # numpy's and every generator's common range
INF = float("inf")
# Upper bounds of the values that size memory or processes (a model file or checkpoint carries
# its config too): generous for real use, far below what would exhaust a machine.
MAX_IMAGE_SIDE = 2048  # pixels of an image side (data.image_size, a model's image_shape)
MAX_CLASSES = 100_000  # classes a head, a step or a stream may have (as ICARL_MAX_CLASSES)
MAX_BATCH = 65_536
# torch device types that exist but on which nothing can be learned or predicted (``meta``
# holds no data; the others need backends icarl does not drive)
NO_DEVICES = ("meta", "lazy", "xla", "vulkan", "mkldnn", "opengl", "opencl", "ideep", "ve", "fpga", "ort")
CONFIG_MAX_BYTES = 1 << 20  # a TOML config file
ORDER_MAX_BYTES = 16 << 20  # a class-order file (one label a line)
# key -> (lowest, highest, whether the lowest is allowed); every value must be finite
LEARNER_RANGES: dict[str, tuple[float, float, bool]] = {
    "lr": (0.0, INF, False),
    "lr_gamma": (0.0, 1.0, False),
    "momentum": (0.0, 1.0, True),
    "weight_decay": (0.0, INF, True),
    "temperature": (0.0, INF, False),
    "kd_lambda": (0.0, INF, True),
    "crop_pad": (0, 64, True),
    "workers": (0, 64, True),
    "head_size": (0, MAX_CLASSES, True),
    "seed": (0, SEED_MAX, True),
    "epochs": (1, 1_000_000, True),
    "batch_size": (0, MAX_BATCH, True),
    "eval_batch_size": (1, MAX_BATCH, True),
    "memory_size": (0, 10_000_000, True),
}
DATA_RANGES: dict[str, tuple[float, float, bool]] = {
    "first_step": (0, MAX_CLASSES, True),
    "classes_per_step": (1, MAX_CLASSES, True),
    "image_size": (0, MAX_IMAGE_SIDE, True),
    "memory_budget": (0.0, INF, True),
}
RUN_RANGES: dict[str, tuple[float, float, bool]] = {
    "seed": (0, SEED_MAX, True),
    "checkpoint_every": (0, INF, True),
}


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def check_ranges(prefix: str, obj: Any, ranges: dict[str, tuple[float, float, bool]]) -> None:
    """``ConfigError`` naming the key and its allowed range for the first value outside it."""
    for key, (low, high, closed) in ranges.items():
        v = getattr(obj, key)
        above = v >= low if closed else v > low
        if not (math.isfinite(v) and above and v <= high):
            lo = "[" if closed else "("
            hi = "inf)" if high == INF else f"{_num(high)}]"
            raise ConfigError(f"{prefix}{key} is {v}; it must be a finite number in {lo}{_num(low)}, {hi}")
    for m in getattr(obj, "lr_milestones", None) or ():
        if m < 0:
            raise ConfigError(f"{prefix}lr_milestones holds {m}; epochs are 0 or more")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key} = {value!r} has the wrong type; expected {tp}")
    if origin is tuple:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key} = {value!r} must be a list, like [1, 2, 3]")
        return tuple(_coerce(v, args[0], key) for v in value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        raise ConfigError(f"{key} = {value!r} must be true or false")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ConfigError(f"{key} = {value!r} must be an integer")
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{key} = {value!r} must be an integer") from None
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key} = {value!r} must be a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key} = {value!r} must be a number") from None
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} = {value!r} must be a string")
        return value
    raise ConfigError(f"{key}: unsupported type {tp}")


def from_table(cls: type, table: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        full = f"{prefix}{key}"
        if key not in known:
            raise ConfigError(f"unknown config key {full!r}; known keys: {', '.join(sorted(known))}")
        tp = hints[key]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise ConfigError(f"{full} must be a table ([{full}])")
            kwargs[key] = from_table(tp, value, f"{full}.")
        else:
            kwargs[key] = _coerce(value, tp, full)
    return cls(**kwargs)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        old = out.get(k)
        if isinstance(v, dict) != isinstance(old, dict) and old is not None and k in _SECTIONS:
            raise ConfigError(f"{k} must be a table ([{k}]), not {old if isinstance(v, dict) else v!r}")
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(old, dict) else v
    return out


_SECTIONS = ("data", "learner")


def parse_override(item: str) -> dict[str, Any]:
    """``learner.lr=0.5`` -> ``{"learner": {"lr": 0.5}}``; values are read as TOML, else strings."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} has no '='; write key=value, like learner.lr=0.5")
    key, raw = item.split("=", 1)
    key = key.strip()
    try:
        value: Any = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    node: dict[str, Any] = {}
    cur = node
    parts = key.split(".")
    for p in parts[:-1]:
        cur[p] = {}
        cur = cur[p]
    cur[parts[-1]] = value
    return node


def preset_names() -> list[str]:
    folder = resources.files("icarl") / "configs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def read_toml(spec: str) -> dict[str, Any]:
    """A preset name (see :func:`preset_names`) or a TOML file path."""
    path = Path(spec)
    if path.suffix != ".toml" and not path.exists():
        res = resources.files("icarl") / "configs" / f"{spec}.toml"
        if not res.is_file():
            raise ConfigError(
                f"no config file or preset named {spec!r}; presets: {', '.join(preset_names())}"
            )
        return tomllib.loads(res.read_text())
    try:
        return tomllib.loads(regular_text(path, "config file", CONFIG_MAX_BYTES))
    except RecursionError:
        raise ConfigError(f"config file {spec} nests tables or arrays too deeply; flatten it") from None
    except FileNotFoundError:
        raise ConfigError(f"config file {spec} does not exist; check the path") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {spec} is not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"config file {spec} is not UTF-8 text (byte {e.start}); save it as UTF-8"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"config file {spec} is a folder; pass a .toml file or a preset name") from None
    except OSError as e:
        raise ConfigError(f"config file {spec} cannot be read ({e.strerror}); check the path") from None


def regular_text(path: str | Path, what: str, max_bytes: int, read: bool = True) -> str:
    """The UTF-8 text of ``path``, a regular file of at most ``max_bytes`` (a FIFO or a device
    is refused by ``stat`` before it is opened; the descriptor is checked again). ``read``
    False: the checks only."""
    st = os.stat(path)
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a folder", str(path))
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{what} {path} is not a regular file (a FIFO, device or socket); pass a file")
    if st.st_size > max_bytes:
        raise ConfigError(f"{what} {path} has {st.st_size} bytes, more than {max_bytes}; pass the right file")
    if not read:
        return ""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise ConfigError(f"{what} {path} is not a regular file (a FIFO, device or socket); pass a file")
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ConfigError(f"{what} {path} has more than {max_bytes} bytes; pass the right file")
    return data.decode("utf-8")


def load_config(spec: str | None = "digits", overrides: list[dict[str, Any]] | None = None) -> RunConfig:
    """Build a :class:`RunConfig` from a preset or file, then dotted overrides, in order."""
    table: dict[str, Any] = read_toml(spec) if spec else {}
    for o in overrides or []:
        table = _merge(table, o)
    learner_seed = table.get("learner", {}).get("seed") if isinstance(table.get("learner"), dict) else None
    if learner_seed is not None and learner_seed != table.get("seed", RunConfig.seed):
        raise ConfigError(
            f"learner.seed = {learner_seed} differs from the run's seed = "
            f"{table.get('seed', RunConfig.seed)}; one seed drives a run: set only seed (--seed)"
        )
    cfg: RunConfig = from_table(RunConfig, table, "")
    return checked(cfg)


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON/TOML-friendly dict (tuples become lists)."""

    def plain(v: Any) -> Any:
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(dataclasses.asdict(cfg))
