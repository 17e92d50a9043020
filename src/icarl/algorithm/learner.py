"""iCaRL: Incremental Classifier and Representation Learning (Rebuffi et al., CVPR 2017).

The learner in the paper's terms. ``K`` is the memory size, ``t`` the number of
classes seen, ``m = K // t`` exemplars per class, ``P_y`` the ordered exemplar
set of class ``y``, ``phi`` the feature extractor, ``mu_y`` the class means.
The sections follow the paper's Algorithms 1-5 in order. Deviations from the paper
or the authors' code are marked DEVIATION.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..config import LearnerConfig, resolve_batch_size
from ..data.streaming import ImageSource
from ..errors import IcarlError, NotFittedError
from ..nets import IncrementalNet, build_backbone, init_like_lasagne, object_spec, use_lasagne_batchnorm
from ..nets.fold import inference_copy
from ..nets.resnet import set_last_relu
from ..timing import phase
from ..train import TrainHooks, TrainState, distributed, train
from ..train.amp import resolve_device
from ..train.loop import LogHook, LossFn, StateHook
from ..train.stream import SourceReader, read_shard, take, training_reader
from .herding import herding_order, herding_order_authors, random_order
from .inputs import as_source, check_images, encode_labels, known_labels, positions, source_names
from .losses import icarl_bce, kd_softmax
from .memory import ExemplarMemory, per_class_budget
from .nme import class_means, nme_distances
from .preprocess import first_step_mean, prepare
from .sklearn_api import EstimatorAPI
from .state import LearnerState


class ICaRL(EstimatorAPI, LearnerState):
    """Class-incremental learner, scikit-learn shaped.

    >>> learner = ICaRL(backbone="small_cnn", memory_size=200, epochs=30)
    >>> learner.partial_fit(x_uint8, y)   # Algorithm 2 for the classes in y
    >>> learner.predict(x_uint8)          # Algorithm 1 (nearest mean of exemplars)

    Keyword arguments are the fields of :class:`~icarl.config.LearnerConfig`.
    Learned state ends in ``_``: ``classes_`` (original labels, in arrival order;
    a class's output unit is its position), ``class_names_``, ``net_``, ``memory_``,
    ``means_``. ``method`` names the method it was built as (see :mod:`icarl.methods`).

    ``backbone`` may be any ``nn.Module`` mapping float images (B, C, H, W) to features
    (B, d) or a feature map (see :mod:`icarl.nets.adapt`); ``batch_transform`` is a callable
    on the float [0, 1] training batch on the training device, after the built-in crop and
    flip (``augment="builtin"``) or instead of them (``augment="user"``).
    """

    method = "icarl"
    streams = True  # whether partial_fit takes image sources (the streaming path)

    def __init__(
        self,
        *,
        config: LearnerConfig | None = None,
        batch_transform: Callable[[Tensor], Tensor] | None = None,
        **params: Any,
    ) -> None:
        self.backbone_object: nn.Module | None = None
        if isinstance(params.get("backbone"), nn.Module):
            self.backbone_object = params["backbone"]
            params["backbone"] = object_spec(params["backbone"])
        self.config = replace(config or LearnerConfig(), **params).check()
        if self.config.augment == "user" and batch_transform is None:
            raise IcarlError(
                "augment='user' replaces crop and flip by batch_transform; pass batch_transform=fn"
            )
        self.batch_transform = batch_transform
        self.label_kind_ = "int"  # "str" once taught class names as labels
        self.classes_ = []
        self.class_names_: dict[int, str] = {}
        self.net_: IncrementalNet | None = None
        self.memory_ = ExemplarMemory(self.config.memory_size)
        self.means_: Tensor | None = None
        self.pixel_mean_: Tensor | None = None
        self.image_shape_: tuple[int, int, int] | None = None
        self.rng_: torch.Generator | None = None
        self.history_: list[dict[str, Any]] = []
        self.inference_only_ = False  # True once loaded from a file saved without exemplars
        self.velocity_: dict[str, Tensor] = {}  # momentum buffers carried across steps
        self._mean_on_device: tuple[Tensor, Tensor] | None = None
        # (network, its weights' key, the inference copy): see inference_network
        self._inference: tuple[IncrementalNet, tuple[tuple[int, int], ...], IncrementalNet] | None = None

    # ------------------------------------------------------------------ helpers
    @property
    def device(self) -> torch.device:
        return resolve_device(self.config.device)

    @property
    def feature_dim(self) -> int:
        return self.network().feature_dim

    def network(self) -> IncrementalNet:
        if self.net_ is None:
            raise NotFittedError("this learner has not learned any classes yet; call partial_fit(x, y) first")
        return self.net_

    def output_index(self, y: Tensor) -> Tensor:
        """Original labels -> output indices (positions in ``classes_``)."""
        return positions(self._classes, y)

    def _prepare(self, xb: Tensor, train: bool, part: tuple[int, int, int] | None = None) -> Tensor:
        """uint8 batch -> float network input (see :func:`icarl.algorithm.preprocess.prepare`)."""
        mean = self._pixel_mean_on(xb.device)
        rng = self.rng_ if train else None
        return prepare(xb, self.config, mean, rng, self.batch_transform, train, part)

    def _pixel_mean_on(self, device: torch.device) -> Tensor | None:
        """The pixel mean on ``device``, copied there once (not once per batch)."""
        mean = self.pixel_mean_
        if mean is None or mean.device == device:
            return mean
        cached = self._mean_on_device
        if cached is None or cached[0] is not mean or cached[1].device != device:
            cached = (mean, mean.to(device))
            self._mean_on_device = cached
        return cached[1]

    def inference_network(self) -> IncrementalNet:
        """The one network every inference runs: features for herding, class means, evaluation,
        ``predict``, ``decision_function`` and the exported programs. An eval-mode copy in fp32
        with each BatchNorm folded into its convolution (the same function, one pass fewer),
        made once per version of the weights (any in-place update, load or growth makes a new
        one). fp32 whatever ``learner.amp`` trains in: bf16 features moved 13 of 1,797 digits
        labels between ``icarl predict`` and the exported program, and inference is cheap
        next to training."""
        net = self.network()
        key = _weights_key(net)
        cached = self._inference
        if cached is None or cached[0] is not net or cached[1] != key:  # holding net: ids stay its
            cached = self._inference = (net, key, inference_copy(net).float())
        return cached[2]

    @torch.no_grad()
    def features(self, x: Any, flip: bool = False) -> Tensor:
        """``phi(x)`` for images (any accepted form, or an image source read in batches), raw,
        not normalised, as float32 on CPU, from :meth:`inference_network`.

        Under DDP this is collective: each rank extracts its shard, all get every row in order.
        """
        net, bs = self.inference_network(), self.config.eval_batch_size
        source = as_source(x)
        if source is not None:
            chunks = read_shard(source, bs, self.config.workers)
        else:
            x = distributed.local_shard(check_images(x, self.image_shape_))  # DDP: this rank's share
            chunks = (x[i : i + bs] for i in range(0, x.shape[0], bs))
        out = [self.batch_features(xb, flip, net) for xb in chunks]
        f = torch.cat(out) if out else torch.empty(0, net.feature_dim)
        return distributed.all_gather_cat(f)  # DDP: every rank's rows, in the original order

    @torch.no_grad()
    def batch_features(self, xb: Tensor, flip: bool = False, net: IncrementalNet | None = None) -> Tensor:
        """``phi`` of one uint8 batch (this process only, not collective), float32 on CPU, by
        :meth:`inference_network` (fp32, no autocast) unless ``net`` is given."""
        net = net or self.inference_network()
        xb = xb.to(self.device)
        if flip:
            xb = xb.flip(3)
        return net.forward_features(self._prepare(xb, train=False)).float().cpu()

    # ------------------------------------------------------------ Algorithm 1
    def scores(self, features: Tensor, classifier: str | None = None) -> Tensor:
        """(N, t) ranking scores from ``phi(x)``, higher is better, columns in ``classes_`` order.

        ``"nme"`` (Algorithm 1): ``-||phi(x) - mu_y||^2`` over the seen classes, so the argmax
        is the nearest mean of exemplars. ``"cnn"``: the network's outputs ``w_y . phi(x) + b_y``.
        """
        net, t = self.network(), len(self.classes_)
        if self._classifier(classifier) == "nme":
            if self.means_ is None:
                raise IcarlError("NME needs exemplars; this learner keeps none (use classifier 'cnn')")
            return -nme_distances(features, self.means_[:t].float().cpu())
        with torch.no_grad():
            head = net.head
            w, b = head.weight[:t].detach().float().cpu(), head.bias[:t].detach().float().cpu()
            return features.float().cpu() @ w.T + b

    def predict(self, x: Any, classifier: str | None = None) -> Any:
        """Labels of the kind the learner was taught (an int64 tensor, or a numpy array of class
        names): nearest mean of exemplars (``"nme"``) or network outputs (``"cnn"``)."""
        labels = self.labels_of(self.scores(self.features(x), classifier))
        if self.label_kind_ == "str":
            return np.array([self.class_names_[int(c)] for c in labels])
        return labels.numpy() if isinstance(x, np.ndarray) else labels  # numpy in, numpy out

    def labels_of(self, scores: Tensor) -> Tensor:
        """The original label of each row's best score."""
        return torch.tensor(self._classes, dtype=torch.long)[scores.argmax(1)]

    def score(self, x: Any, y: Any = None, classifier: str | None = None) -> float:
        """Accuracy (a fraction) of :meth:`predict` on ``(x, y)`` (``y`` of a source: its labels)."""
        source = as_source(x)
        f = self.features(x)
        truth = source.labels if source is not None else known_labels(y, f.shape[0], self.class_names_)
        return float((self.labels_of(self.scores(f, classifier)) == truth).float().mean())

    def decision_scores(self, x: Any, classifier: str | None = None) -> Tensor:
        """(B, t) scores, higher is better: ``-||phi(x) - mu_y||^2`` or sigmoid outputs."""
        s = self.scores(self.features(x), classifier)
        return s if self._classifier(classifier) == "nme" else torch.sigmoid(s)

    def logits(self, x: Tensor) -> Tensor:
        """Network outputs for the seen classes (B, t), float32 on CPU."""
        return self.scores(self.features(x), "cnn")

    def _classifier(self, classifier: str | None) -> str:
        kind = classifier or self.config.classifier
        if kind not in ("nme", "cnn"):
            raise IcarlError(f"classifier {kind!r} is not one of nme, cnn")
        return kind

    def _update_means(self) -> None:
        """``mu_y`` from the exemplars, averaged with their flipped copies when flips are on."""
        ex_x, ex_y = self.memory_.as_tensors()
        if ex_x.shape[0] == 0:
            self.means_ = None
            return
        with phase("means"):
            flipped = self.features(ex_x, flip=True) if self.config.flip else None
            self.means_ = class_means(self.features(ex_x), ex_y, len(self.classes_), flipped)

    # ------------------------------------------------------------ Algorithm 2
    def partial_fit(
        self,
        x: Any,
        y: Any = None,
        *,
        resume: TrainState | None = None,
        on_train_state: StateHook | None = None,
        on_epoch_log: LogHook | None = None,
    ) -> ICaRL:
        """IncrementalTrain: learn the new classes in ``(x, y)``, then update the exemplars.

        ``x``: images in any accepted form with labels ``y``, or a ``torch.utils.data.Dataset``
        of ``(image, label)`` (an image source), read in batches: the streaming path. ``resume`` /
        ``on_train_state`` continue an interrupted step and receive its training state after every
        epoch (checkpoints, :mod:`icarl.files.checkpoint`); ``on_epoch_log`` each epoch's loss and lr."""
        source = as_source(x)
        if source is not None and not self.streams:
            raise IcarlError(
                f"{self.method} keeps every training image in memory; use data.storage = 'memory'"
            )
        if source is not None:
            x, y, names = source, source.labels, source_names(source, self.label_kind_)
            shape = source.image_shape
        else:
            x = check_images(x, self.image_shape_)
            y, names = encode_labels(y, x.shape[0], self.class_names_, self._classes, self.label_kind_)
            shape = (int(x.shape[1]), int(x.shape[2]), int(x.shape[3]))
        new = [int(c) for c in torch.unique(y)]
        t = self._check_step(shape, new)
        self.class_names_.update(names)
        if names and source is None:
            self.label_kind_ = "str"
        if self.net_ is None:
            self._init_network(x, shape)
        n_old, self.classes_ = len(self._classes), self._classes + new
        hooks = TrainHooks(resume=resume, on_epoch=on_train_state, on_log=on_epoch_log)
        self._update_representation(x, self.output_index(y), n_old, hooks)
        m = per_class_budget(self.config.memory_size, t)
        self._reduce_exemplar_sets(m)
        for c in new:
            items = x.of_classes([c]) if source is not None else x[y == c]
            self._construct_exemplar_set(items, self._classes.index(c), m)
        self._update_means()
        distributed.check_same("exemplar memory", {str(k): v for k, v in self.memory_.sets.items()})
        when = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.history_.append({"classes": new, "seen": t, "m": m, "memory": len(self.memory_), "time": when})
        return self

    def _check_step(self, shape: tuple[int, int, int], new: list[int]) -> int:
        """The preconditions of a step (before anything changes); returns ``t``."""
        self.check_can_learn()
        already = sorted(set(new) & set(self._classes))
        if already:
            raise IcarlError(
                f"classes {already} were learned in an earlier step; iCaRL adds new classes only"
            )
        if self.net_ is not None and shape != self.image_shape_:
            raise IcarlError(f"images are {shape} but the model was trained on {self.image_shape_}")
        t = len(self.classes_) + len(new)
        if self.config.memory_size and per_class_budget(self.config.memory_size, t) == 0:
            raise IcarlError(
                f"memory_size K={self.config.memory_size} is smaller than the {t} classes seen, "
                "so m = K // t = 0; raise memory_size to at least the number of classes"
            )
        return t

    def _init_network(self, x: Tensor | ImageSource, shape: tuple[int, int, int]) -> None:
        self.config = cfg = resolve_batch_size(self.config, len(x))  # batch_size 0: auto
        self.image_shape_ = shape
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.net_ = self._new_network(0, fresh=True)
        self.rng_ = torch.Generator().manual_seed(cfg.seed + 1)
        self.pixel_mean_ = first_step_mean(x, cfg)  # DEVIATION there: the first step's data

    def _new_network(self, num_outputs: int, fresh: bool = False) -> IncrementalNet:
        """The network; ``fresh`` (the first step) also loads ``init_weights``."""
        assert self.image_shape_ is not None  # internal: set before any network is built
        c, h, _ = self.image_shape_
        cfg = self.config
        phi = build_backbone(cfg.backbone, c, h, self.backbone_object, cfg.init_weights if fresh else "")
        phi = set_last_relu(phi, cfg.resnet_last_relu)
        if cfg.init == "lasagne" and self.backbone_object is None and not cfg.init_weights:
            phi = init_like_lasagne(phi)  # the authors' init (a module or weights you give keep theirs)
        if cfg.batchnorm == "lasagne" and self.backbone_object is None:
            phi = use_lasagne_batchnorm(phi)  # before init_weights would matter: buffers only
        net = IncrementalNet(phi, num_outputs, head_init=cfg.init).to(self.device)
        return net.to_channels_last() if self.config.channels_last else net

    def _generator(self) -> torch.Generator:
        assert self.rng_ is not None  # internal: set with the network
        return self.rng_

    # ------------------------------------------------------------ Algorithm 3
    def _update_representation(self, x: Tensor, y: Tensor, n_old: int, hooks: TrainHooks) -> None:
        """UpdateRepresentation: new data plus exemplars; classification + distillation."""
        cfg, net = self.config, self.network()
        old_net = inference_copy(net) if n_old and cfg.distillation != "none" else None
        net.grow(max(cfg.head_size, len(self.classes_)), generator=self._generator())
        with phase("data"):
            train_x, train_y = self._train_data(x, y, with_exemplars=True)
        t, kd = len(self.classes_), cfg.distillation == "kd"

        def loss_fn(inputs: Tensor, logits: Tensor, labels: Tensor) -> Tensor:
            # the previous network runs on the same augmented batch (authors' code)
            old = _old_logits(old_net, inputs, n_old)
            if kd:
                return kd_softmax(
                    logits[:, :t], labels, old, temperature=cfg.temperature, ce_weight=cfg.kd_lambda
                )
            return icarl_bce(logits, labels, old)

        self._train(net, train_x, train_y, loss_fn, hooks, f"classes {n_old + 1}-{t}")

    def _train_data(
        self, x: Tensor | ImageSource, y: Tensor, with_exemplars: bool
    ) -> tuple[Tensor | SourceReader, Tensor | None]:
        """The step's training data on the device (in memory) or as a reader (streaming),
        followed by the exemplars when ``with_exemplars``."""
        ex_x, ex_y = self.memory_.as_tensors() if with_exemplars else ExemplarMemory(0).as_tensors()
        if isinstance(x, Tensor):
            return torch.cat([x.cpu(), ex_x]).to(self.device), torch.cat([y.cpu(), ex_y]).to(self.device)
        return training_reader(x, (ex_x, ex_y), self._classes, self.device, self.config.workers), None

    def _train(
        self,
        net: nn.Module,
        x: Tensor | SourceReader,
        y: Tensor | None,
        loss_fn: LossFn,
        hooks: TrainHooks,
        desc: str,
    ) -> None:
        """The one training loop, with this learner's augmentation and generator."""

        def prepare(xb: Tensor, part: tuple[int, int, int] | None = None) -> Tensor:
            return self._prepare(xb, True, part)

        if self.config.momentum_carry:  # one velocity across steps (see icarl.train.momentum)
            hooks = replace(hooks, velocity=self.velocity_)
        with phase("train"):
            train(
                net,
                x,
                y,
                cfg=self.config,
                prepare=prepare,
                loss_fn=loss_fn,
                generator=self._generator(),
                hooks=hooks,
                desc=desc,
            )

    # ------------------------------------------------------------ Algorithm 4
    def _construct_exemplar_set(self, x_class: Tensor | ImageSource, y: int, m: int) -> None:
        """ConstructExemplarSet: the ``m`` herding-ordered exemplars of a new class ``y``."""
        if m == 0:
            return
        n = len(x_class)
        m = min(m, n)
        if self.config.selection.startswith("herding"):
            authors = self.config.selection == "herding-authors"  # repeats, a cap: maybe < m
            with phase("herding"):
                f = self.features(x_class)
                order = herding_order_authors(f, m) if authors else herding_order(f, m)
        else:
            order = random_order(n, m, self.rng_)
        images = x_class[order.cpu()] if isinstance(x_class, Tensor) else take(x_class, order)
        self.memory_.add(y, images)  # uint8 in RAM either way

    # ------------------------------------------------------------ Algorithm 5
    def _reduce_exemplar_sets(self, m: int) -> None:
        """ReduceExemplarSet for every old class: keep the first ``m`` of its ordered set."""
        self.memory_.reduce(m)


def _weights_key(net: nn.Module) -> tuple[tuple[int, int], ...]:
    """Identity and in-place version of every parameter and buffer: changes whenever the
    weights do (an optimiser step, ``load_state_dict``, a grown head, a move)."""
    return tuple((id(t), t._version) for t in (*net.parameters(), *net.buffers()))


def _old_logits(old_net: nn.Module | None, inputs: Tensor, n_old: int) -> Tensor | None:
    if old_net is None:
        return None
    with torch.no_grad(), phase("previous"):
        out: Tensor = old_net(inputs)[:, :n_old].float()
        return out
