"""iCaRL: Incremental Classifier and Representation Learning (Rebuffi et al., CVPR 2017).

The learner in the paper's terms. ``K`` is the memory size, ``t`` the number of
classes seen, ``m = K // t`` exemplars per class, ``P_y`` the ordered exemplar
set of class ``y``, ``phi`` the feature extractor, ``mu_y`` the class means.
Deviations from the paper or the authors' code are marked DEVIATION.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import torch
from torch import Tensor, nn

from . import distributed, engine
from .config import LearnerConfig
from .data.augment import random_crop_flip, to_float
from .errors import IcarlError
from .herding import herding_order, random_order
from .losses import icarl_bce, kd_softmax
from .memory import ExemplarMemory, per_class_budget
from .nets import IncrementalNet, create_backbone
from .nets.fold import inference_copy
from .nme import class_means, nme_classify, nme_distances


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class ICaRL:
    """Class-incremental learner, scikit-learn shaped.

    >>> learner = ICaRL(backbone="small_cnn", memory_size=200, epochs=30)
    >>> learner.partial_fit(x_uint8, y)   # Algorithm 2 for the classes in y
    >>> learner.predict(x_uint8)          # Algorithm 1 (nearest mean of exemplars)

    Keyword arguments are the fields of :class:`~icarl.config.LearnerConfig`.
    Learned state ends in ``_``: ``classes_`` (original labels, in arrival order;
    a class's output unit is its position), ``net_``, ``memory_``, ``means_``.
    """

    def __init__(self, *, config: LearnerConfig | None = None, **params: Any) -> None:
        self.config = replace(config or LearnerConfig(), **params).check()
        self.classes_: list[int] = []
        self.net_: IncrementalNet | None = None
        self.memory_ = ExemplarMemory(self.config.memory_size)
        self.means_: Tensor | None = None
        self.pixel_mean_: Tensor | None = None
        self.image_shape_: tuple[int, int, int] | None = None
        self.rng_: torch.Generator | None = None
        self.history_: list[dict[str, Any]] = []
        self._train_hooks: dict[str, Any] = {}  # set by partial_fit(resume=, on_train_state=)

    # ------------------------------------------------------------------ helpers
    @property
    def device(self) -> torch.device:
        return resolve_device(self.config.device)

    def get_params(self) -> dict[str, Any]:
        from .config import to_dict

        return to_dict(self.config)

    def _to_internal(self, y: Tensor) -> Tensor:
        """Original labels -> output indices (positions in ``classes_``)."""
        known = torch.tensor(self.classes_, dtype=torch.long)
        order = torch.argsort(known)
        pos = torch.searchsorted(known[order], y.cpu())
        pos = pos.clamp_max(len(known) - 1)
        if not bool((known[order][pos] == y.cpu()).all()):
            raise IcarlError("labels include classes the learner has not seen")
        return order[pos].to(y.device)

    def _prepare(self, xb: Tensor, train: bool) -> Tensor:
        """uint8 batch -> float network input: crop/flip (training), normalise, layout."""
        cfg = self.config
        if train:
            xb = random_crop_flip(xb, cfg.crop_pad, cfg.flip, self.rng_)
        return to_float(xb, self._pixel_mean_on(xb.device), channels_last=cfg.channels_last)

    def _pixel_mean_on(self, device: torch.device) -> Tensor | None:
        """The pixel mean on ``device``, copied there once (not once per batch)."""
        mean = self.pixel_mean_
        if mean is None or mean.device == device:
            return mean
        cached = getattr(self, "_pixel_mean_cache", None)
        if cached is None or cached[0] is not mean or cached[1].device != device:
            cached = (mean, mean.to(device))
            self._pixel_mean_cache = cached
        return cached[1]

    @torch.no_grad()
    def features(self, x: Tensor, flip: bool = False) -> Tensor:
        """``phi(x)`` for uint8 images, in batches (raw, not normalised), as float32 on CPU.

        Under DDP this is collective: each rank extracts its shard, all get every row in order.
        """
        assert self.net_ is not None, "call partial_fit first"
        net, dev, bs = self.net_.eval(), self.device, self.config.eval_batch_size
        x = distributed.local_shard(x)  # DDP: this rank's contiguous share
        if x.shape[0] > 2 * bs:  # worth a copy: BatchNorms folded, one pass fewer per layer
            net = inference_copy(net)
        out = []
        for i in range(0, x.shape[0], bs):
            xb = x[i : i + bs].to(dev)
            if flip:
                xb = xb.flip(3)
            with engine.autocast(self.config, dev):
                out.append(net.forward_features(self._prepare(xb, train=False)).float())
        f = torch.cat(out).cpu() if out else torch.empty(0, net.feature_dim)
        return distributed.all_gather_cat(f)  # DDP: every rank's rows, in the original order

    @torch.no_grad()
    def logits(self, x: Tensor) -> Tensor:
        """Network outputs for the seen classes (B, t), float32 on CPU."""
        f = self.features(x)
        assert self.net_ is not None
        head = self.net_.head
        return (f @ head.weight[: len(self.classes_)].float().cpu().T) + head.bias[
            : len(self.classes_)
        ].float().cpu()

    # ------------------------------------------------------------ Algorithm 2
    def partial_fit(
        self,
        x: Tensor,
        y: Tensor,
        *,
        resume: engine.TrainState | None = None,
        on_train_state: engine.StateHook | None = None,
    ) -> ICaRL:
        """IncrementalTrain: learn the new classes in ``(x, y)``, then update the exemplars.

        ``resume`` / ``on_train_state`` continue an interrupted step and receive its training
        state after every epoch (checkpoints; see :mod:`icarl.checkpoint`)."""
        x, y = _check_inputs(x, y)
        new = [int(c) for c in torch.unique(y)]
        already = sorted(set(new) & set(self.classes_))
        if already:
            raise IcarlError(
                f"classes {already} were learned in an earlier step; iCaRL adds new classes only"
            )
        if self.net_ is not None and tuple(x.shape[1:]) != self.image_shape_:
            raise IcarlError(
                f"images are {tuple(x.shape[1:])} but the model was trained on {self.image_shape_}"
            )
        n_old = len(self.classes_)
        t = n_old + len(new)
        if self.config.memory_size and per_class_budget(self.config.memory_size, t) == 0:
            raise IcarlError(
                f"memory_size K={self.config.memory_size} is smaller than the {t} classes seen, "
                "so m = K // t = 0; raise memory_size to at least the number of classes"
            )
        if self.net_ is None:
            self._init_network(x)
        assert self.net_ is not None and self.rng_ is not None
        self.classes_ = self.classes_ + new
        # passed to engine.train through the instance, so that subclasses overriding
        # _update_representation(x, y, n_old) keep working (checkpoints, icarl.runner)
        self._train_hooks = {"start": resume, "on_state": on_train_state}
        try:
            self._update_representation(x, self._to_internal(y), n_old)
        finally:
            self._train_hooks = {}
        m = per_class_budget(self.config.memory_size, t)
        self.memory_.reduce(m)  # Algorithm 5 for the old classes
        for c in new:  # Algorithm 4 for the new ones
            self._construct_exemplar_set(x[y == c], self.classes_.index(c), m)
        self._update_means()
        distributed.check_same("exemplar memory", {str(k): v for k, v in self.memory_.sets.items()})
        when = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.history_.append({"classes": new, "seen": t, "m": m, "memory": len(self.memory_), "time": when})
        return self

    def _init_network(self, x: Tensor) -> None:
        cfg = self.config
        c, h, w = (int(s) for s in x.shape[1:])
        self.image_shape_ = (c, h, w)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            backbone = create_backbone(cfg.backbone, c, h)
        self.net_ = IncrementalNet(backbone, 0).to(self.device)
        if cfg.channels_last:
            self.net_ = self.net_.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.rng_ = torch.Generator().manual_seed(cfg.seed + 1)
        if cfg.normalize == "pixel_mean":
            # DEVIATION: the authors subtract the mean image of the whole training set; an
            # incremental learner only has the first step's data, so the mean comes from there.
            self.pixel_mean_ = x.float().div(255.0).mean(0).cpu()

    # ------------------------------------------------------------ Algorithm 3
    def _update_representation(self, x: Tensor, y: Tensor, n_old: int) -> None:
        """UpdateRepresentation: new data plus exemplars; classification + distillation."""
        cfg, net = self.config, self.net_
        assert net is not None and self.rng_ is not None
        old_net = self._frozen_copy() if n_old and cfg.distillation != "none" else None
        net.grow(max(cfg.head_size, len(self.classes_)), generator=self.rng_)
        ex_x, ex_y = self.memory_.as_tensors()
        dev = self.device
        train_x = torch.cat([x.cpu(), ex_x]).to(dev)
        train_y = torch.cat([y.cpu(), ex_y]).to(dev)
        if cfg.distillation == "kd":
            t = len(self.classes_)

            def loss_fn(inputs: Tensor, logits: Tensor, labels: Tensor) -> Tensor:
                old = _old_logits(old_net, inputs, n_old)
                return kd_softmax(
                    logits[:, :t], labels, old, temperature=cfg.temperature, ce_weight=cfg.kd_lambda
                )
        else:

            def loss_fn(inputs: Tensor, logits: Tensor, labels: Tensor) -> Tensor:
                # the previous network runs on the same augmented batch (authors' code)
                return icarl_bce(logits, labels, _old_logits(old_net, inputs, n_old))

        engine.train(
            net,
            train_x,
            train_y,
            cfg=cfg,
            prepare=lambda xb: self._prepare(xb, train=True),
            loss_fn=loss_fn,
            generator=self.rng_,
            desc=f"classes {n_old + 1}-{len(self.classes_)}",
            **self._train_hooks,
        )

    def _frozen_copy(self) -> nn.Module:
        """The previous network: a frozen eval-mode copy, BatchNorms folded (the same function)."""
        assert self.net_ is not None
        return inference_copy(self.net_)

    # ------------------------------------------------------------ Algorithm 4
    def _construct_exemplar_set(self, x_class: Tensor, y: int, m: int) -> None:
        if m == 0:
            return
        m = min(m, x_class.shape[0])
        if self.config.selection == "herding":
            order = herding_order(self.features(x_class), m)
        else:
            order = random_order(x_class.shape[0], m, self.rng_)
        self.memory_.add(y, x_class[order.cpu()])

    # ------------------------------------------------------------ Algorithm 1
    def _update_means(self) -> None:
        """``mu_y`` from the exemplars, averaged with their flipped copies when flips are on."""
        ex_x, ex_y = self.memory_.as_tensors()
        if ex_x.shape[0] == 0:
            self.means_ = None
            return
        flipped = self.features(ex_x, flip=True) if self.config.flip else None
        self.means_ = class_means(self.features(ex_x), ex_y, len(self.classes_), flipped)

    def predict(self, x: Tensor, classifier: str | None = None) -> Tensor:
        """Original labels: nearest mean of exemplars (``"nme"``) or network outputs (``"cnn"``)."""
        kind = classifier or self.config.classifier
        x, _ = _check_inputs(x, None)
        labels = torch.tensor(self.classes_, dtype=torch.long)
        if kind == "nme":
            if self.means_ is None:
                raise IcarlError("NME needs exemplars; this learner keeps none (use 'cnn')")
            seen = torch.arange(len(self.classes_))
            return labels[nme_classify(self.features(x), self.means_, seen)]
        return labels[self.logits(x).argmax(1)]

    def save(self, path: str, **extra: Any) -> None:
        """One file: network, exemplars, class names, preprocessing, config, history."""
        from .persist import save

        save(self, path, extra or None)

    def score(self, x: Tensor, y: Tensor, classifier: str | None = None) -> float:
        """Accuracy (a fraction) of :meth:`predict` on ``(x, y)``."""
        return float((self.predict(x, classifier) == y.cpu()).float().mean())

    def decision_scores(self, x: Tensor, classifier: str | None = None) -> Tensor:
        """(B, t) scores, higher is better: ``-||phi(x) - mu_y||^2`` or sigmoid outputs."""
        kind = classifier or self.config.classifier
        if kind == "nme":
            assert self.means_ is not None
            return -nme_distances(self.features(x), self.means_)
        return torch.sigmoid(self.logits(x))


def _old_logits(old_net: nn.Module | None, inputs: Tensor, n_old: int) -> Tensor | None:
    if old_net is None:
        return None
    with torch.no_grad():
        return old_net(inputs)[:, :n_old].float()


def _check_inputs(x: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor]:
    if not isinstance(x, Tensor):
        x = torch.as_tensor(x)
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise IcarlError("images contain NaN or infinite values; clean them, then convert to uint8 (0-255)")
    if x.dtype != torch.uint8:
        raise IcarlError(f"images must be uint8 (0-255), got {x.dtype}; convert before fitting")
    if x.ndim != 4:
        raise IcarlError(f"images must be shaped (N, C, H, W), got {tuple(x.shape)}")
    if y is None:
        return x, torch.empty(0, dtype=torch.long)
    y = torch.as_tensor(y).long()
    if y.shape != (x.shape[0],):
        raise IcarlError(f"{x.shape[0]} images but labels shaped {tuple(y.shape)}")
    return x, y


# ---------------------------------------------------------------- persistence
FORMAT_VERSION = 1


def learner_state(learner: ICaRL) -> dict[str, Any]:
    """Everything a learner has learned, as tensors and plain containers only
    (loadable with ``torch.load(weights_only=True)``)."""
    from .config import to_dict

    net = learner.net_
    return {
        "format_version": FORMAT_VERSION,
        "kind": type(learner).__name__,
        "config": to_dict(learner.config),
        "classes": list(learner.classes_),
        "class_names": dict(getattr(learner, "class_names_", {})),
        "image_shape": list(learner.image_shape_) if learner.image_shape_ else None,
        "num_outputs": net.num_outputs if net is not None else 0,
        "net": {k: v.detach().cpu() for k, v in net.state_dict().items()} if net else None,
        "memory": learner.memory_.state_dict(),
        "means": learner.means_,
        "pixel_mean": learner.pixel_mean_,
        "rng": learner.rng_.get_state() if learner.rng_ is not None else None,
        "history": list(learner.history_),
    }


def restore_learner(learner: ICaRL, state: dict[str, Any]) -> ICaRL:
    """Inverse of :func:`learner_state` on a learner built with the same config."""
    if state.get("format_version") != FORMAT_VERSION:
        raise IcarlError(
            f"model format version {state.get('format_version')} is not supported by this "
            f"icarl (format {FORMAT_VERSION}); use the icarl version that wrote it"
        )
    learner.classes_ = [int(c) for c in state["classes"]]
    learner.class_names_ = {int(k): str(v) for k, v in state["class_names"].items()}  # type: ignore[attr-defined]
    learner.history_ = list(state["history"])
    learner.memory_.load_state_dict(state["memory"])
    learner.means_ = state["means"]
    learner.pixel_mean_ = state["pixel_mean"]
    if state["image_shape"] is not None:
        learner.image_shape_ = tuple(state["image_shape"])  # type: ignore[assignment]
        c, h, _ = learner.image_shape_  # type: ignore[misc]
        backbone = create_backbone(learner.config.backbone, c, h)
        net = IncrementalNet(backbone, int(state["num_outputs"]))
        net.load_state_dict(state["net"])
        learner.net_ = net.to(learner.device)
        if learner.config.channels_last:
            learner.net_ = learner.net_.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        learner.net_.eval()
    if state["rng"] is not None:
        learner.rng_ = torch.Generator()
        learner.rng_.set_state(state["rng"])
    return learner
