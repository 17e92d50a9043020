"""iCaRL: Incremental Classifier and Representation Learning (Rebuffi et al., CVPR 2017).

The learner in the paper's terms. ``K`` is the memory size, ``t`` the number of
classes seen, ``m = K // t`` exemplars per class, ``P_y`` the ordered exemplar
set of class ``y``, ``phi`` the feature extractor, ``mu_y`` the class means.
The sections follow the paper's Algorithms 1-5 in order. Deviations from the paper
or the authors' code are marked DEVIATION.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .. import distributed
from ..config import LearnerConfig
from ..data.reading import BatchReader, label_lut, read_shard
from ..data.source import ImageSource, TensorSource, concat
from ..errors import IcarlError, NotFittedError
from ..nets import IncrementalNet, build_backbone, init_like_lasagne, use_lasagne_batchnorm
from ..nets.fold import inference_copy
from ..nets.resnet import set_last_relu
from ..timing import phase
from ..train import TrainHooks, TrainResult, TrainState, train
from ..train.amp import resolve_device
from ..train.console import EpochBar, on_terminal
from ..train.loop import Batch, LossFn
from . import classifiers
from .classifiers import ClassifierRule, ScoreInputs
from .herding import herding_order, herding_order_authors, random_order
from .inputs import as_source, labelled_source, positions
from .losses import icarl_bce, kd_softmax
from .memory import ExemplarMemory, check_budget, per_class_budget
from .nme import ClassSums
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

    The configuration is written in one place (:meth:`_configure`, through
    :func:`icarl.config.resolve_learner`): the constructor, ``set_params`` and the automatic
    batch size of the first ``partial_fit``. A method changes the learner's behaviour by
    overriding the steps below (``_update_representation``, ``exemplars_per_class``, ...).
    """

    method = "icarl"

    def __init__(
        self,
        *,
        config: LearnerConfig | None = None,
        batch_transform: Callable[[Tensor], Tensor] | None = None,
        **params: Any,
    ) -> None:
        self.backbone_object: nn.Module | None = None
        self.batch_transform: Callable[[Tensor], Tensor] | None = None
        self.net_: IncrementalNet | None = None
        self._configure(config or LearnerConfig(), params, batch_transform)  # the one writer
        self.label_kind_ = "int"  # "str" once taught class names as labels
        self.classes_ = []
        self.class_names_: dict[int, str] = {}
        # the exemplar sets P_y; their budget K is config.memory_size, read at every step
        self.memory_ = ExemplarMemory()
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
        source = as_source(x, self.image_shape_, self._normalisation())
        chunks = read_shard(source, bs, self.config.workers)  # DDP: this rank's share
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
        """(N, t) ranking scores from ``phi(x)``, higher is better, columns in ``classes_`` order,
        by the rule ``classifier`` (default ``config.classifier``; :mod:`icarl.algorithm.classifiers`).

        ``"nme"`` (Algorithm 1): the cosine similarity to each seen class's ``mu_y``, so the
        argmax is the nearest mean of exemplars. ``"cnn"``: the network's outputs
        ``w_y . phi(x) + b_y`` (its head, through ``forward_head``)."""
        rule = self._rule(classifier)
        out = rule.scores(features.float().cpu(), self.score_inputs())
        if out is None:
            raise IcarlError(rule.missing)
        return out

    def score_inputs(self, true_means: Tensor | None = None) -> ScoreInputs:
        """What a classifier rule may use: the head of :meth:`inference_network` (on CPU
        features in, float32 CPU scores out), ``t``, the class means (and iNCM's)."""
        net, device = self.inference_network(), self.device

        def head(f: Tensor) -> Tensor:
            with torch.no_grad():
                return net.forward_head(f.to(device)).float().cpu()

        means = self.means_.float().cpu() if self.means_ is not None else None
        return ScoreInputs(head, len(self._classes), means, true_means)

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
        source, _, _ = self._labelled_source(x, y, learning=False)
        predicted = self.labels_of(self.scores(self.features(source), classifier))
        return float((predicted == source.labels.cpu()).float().mean())

    def decision_scores(self, x: Any, classifier: str | None = None) -> Tensor:
        """(B, t) scores as users see them, higher is better: for ``"nme"`` the cosine
        similarity to each class mean (-1..1), for ``"cnn"`` the sigmoid outputs (0..1); the
        numbers ``icarl predict`` and the exported programs give."""
        rule = self._rule(classifier)
        return rule.decision(self.scores(self.features(x), rule.name))

    def logits(self, x: Tensor) -> Tensor:
        """Network outputs for the seen classes (B, t), float32 on CPU."""
        return self.scores(self.features(x), "cnn")

    def _rule(self, classifier: str | None) -> ClassifierRule:
        return classifiers.rule(classifier or self.config.classifier)

    def _update_means(self, known: Mapping[int, Tensor] | None = None) -> None:
        """``mu_y`` from the exemplars, averaged with their flipped copies when flips are on;
        ``known``: features of some classes' exemplars computed already this step (herding's)."""
        exemplars = self._exemplars()
        if len(exemplars) == 0:
            self.means_ = None
            return
        with phase("means"):
            self.means_ = self.class_means(exemplars, known)

    @torch.no_grad()
    def class_means(self, source: ImageSource, known: Mapping[int, Tensor] | None = None) -> Tensor:
        """``mu_y`` (t, d) of the items of ``source`` (labelled with seen classes) under the
        current network: the mean of their L2-normalised features, averaged with the flipped
        images' when flips are on, re-normalised. The exemplar means of Algorithm 1; over all
        training data, iNCM's true means (evaluation, ``methods/incm.py``). Read in chunks of
        ``MEANS_CHUNK`` feature batches, so large sources never hold all their features at once
        (the sums run in item order: the same means as at once).

        ``known``: for some class indices, the features of that class's items of ``source``
        in their order, computed already under the same network: herding's features of the new
        exemplars, so a step passes its new exemplars through the network once, not twice
        (their flipped copies, which herding does not use, are still computed here)."""
        lut, flip = label_lut(self._classes), self.config.flip
        sums = ClassSums(len(self._classes), self.feature_dim, flipped=flip)
        labels = lut[source.labels.cpu()]
        given = torch.tensor(sorted(known or {}), dtype=labels.dtype)
        rest = source.subset(torch.nonzero(~torch.isin(labels, given)).flatten()) if known else source
        chunk = MEANS_CHUNK * self.config.eval_batch_size  # whole batches: the batches of features()
        for start in range(0, len(rest), chunk):
            part = rest.subset(torch.arange(start, min(start + chunk, len(rest))))
            flipped = self.features(part, flip=True) if flip else None
            sums.add(self.features(part), lut[part.labels.cpu()], flipped)
        for y, f in (known or {}).items():  # each class whole, in item order: the same sums
            items = source.subset(torch.nonzero(labels == y).flatten())
            if len(items) != len(f):
                raise IcarlError(f"class {y}: {len(f)} known features for {len(items)} items")
            flipped = self.features(items, flip=True) if flip else None
            sums.add(f, torch.full((len(f),), y, dtype=torch.long), flipped)
        return sums.means()

    def _exemplars(self) -> TensorSource:
        """The exemplar sets ``P_y``, class by class, as a source (uint8 in RAM; original labels)."""
        x, y = self.memory_.as_tensors()
        return TensorSource(x, torch.tensor(self._classes, dtype=torch.long)[y], name="exemplars")

    # ------------------------------------------------------------ Algorithm 2
    def partial_fit(
        self,
        x: Any,
        y: Any = None,
        *,
        resume: TrainState | None = None,
        callbacks: Sequence[Any] = (),
    ) -> ICaRL:
        """IncrementalTrain: learn the new classes in ``(x, y)``, then update the exemplars.

        ``x``: images in any accepted form with labels ``y``, or an image source with its own
        labels (``step.train``, any ``torch.utils.data.Dataset`` of ``(image, label)``), read in
        batches. ``resume`` continues an interrupted step (checkpoints,
        :mod:`icarl.files.checkpoint`); ``callbacks`` hear ``on_epoch_end`` after every epoch
        (:mod:`icarl.train.callbacks`: loggers, checkpoints, your own)."""
        source, names, kind = self._labelled_source(x, y, learning=True)  # past here: sources only
        new = [int(c) for c in torch.unique(source.labels)]
        t = self._check_step(source.image_shape, new)
        self.class_names_.update(names)
        self.label_kind_ = kind
        if self.net_ is None:
            self._init_network(source)
        n_old, self.classes_ = len(self._classes), self._classes + new
        self._update_representation(source, n_old, TrainHooks(resume=resume, callbacks=tuple(callbacks)))
        m = self.exemplars_per_class(t)
        self._reduce_exemplar_sets(m)
        known: dict[int, Tensor] = {}  # herding's features of the new exemplars, for the means
        for c in new:
            f = self._construct_exemplar_set(source.of_classes([c]), self._classes.index(c), m)
            if f is not None:
                known[self._classes.index(c)] = f
        if len(self.memory_) > t * m:  # internal invariant: every set holds at most m
            raise IcarlError(f"the memory holds {len(self.memory_)} exemplars, more than t * m = {t * m}")
        self._update_means(known)
        distributed.check_same("exemplar memory", {str(k): v for k, v in self.memory_.sets.items()})
        when = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.history_.append({"classes": new, "seen": t, "m": m, "memory": len(self.memory_), "time": when})
        return self

    def exemplars_per_class(self, t: int) -> int:
        """``m``, the exemplars each of ``t`` seen classes keeps: ``K // t`` (floor, so that the
        memory never exceeds ``K``; see :func:`icarl.algorithm.memory.per_class_budget`). A
        method with another rule (the authors' ceil, a per-class budget) overrides this."""
        return per_class_budget(self.config.memory_size, t)

    def check_budget(self, t: int, where: str = "seen") -> None:
        """Refuse (one line) a memory budget that would leave ``t`` classes no exemplar."""
        check_budget(self.config.memory_size, t, self.exemplars_per_class(t), where)

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
        self.check_budget(t)
        return t

    def _labelled_source(self, x: Any, y: Any, learning: bool) -> tuple[ImageSource, dict[int, str], str]:
        """The learner's door: ``(x, y)`` in any accepted form as an image source, with the class
        names it brings and the label kind (see :func:`icarl.algorithm.inputs.labelled_source`)."""
        return labelled_source(
            x,
            y,
            image_shape=self.image_shape_,
            class_names=self.class_names_,
            classes=self._classes,
            kind=self.label_kind_,
            learning=learning,
            normalisation=self._normalisation(),
        )

    def _normalisation(self) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        """The declared ``(input_mean, input_std)`` of normalised float images, if any."""
        cfg = self.config
        return None if cfg.input_mean is None or cfg.input_std is None else (cfg.input_mean, cfg.input_std)

    def _init_network(self, source: ImageSource) -> None:
        if self.config.batch_size == 0:  # auto, from the first step's size: the one resolver
            self._configure(self.config, {}, first_step_images=len(source))
        cfg = self.config
        self.image_shape_ = source.image_shape
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.net_ = self._new_network(0, fresh=True)
        self.rng_ = torch.Generator().manual_seed(cfg.seed + 1)
        self.pixel_mean_ = first_step_mean(source, cfg)  # DEVIATION there: the first step's data

    def _new_network(self, num_outputs: int, fresh: bool = False) -> IncrementalNet:
        """The network; ``fresh`` (the first step) also loads ``init_weights``."""
        assert self.image_shape_ is not None  # internal: set before any network is built
        c, h, _ = self.image_shape_
        cfg = self.config
        phi = build_backbone(
            cfg.backbone,
            c,
            h,
            self.backbone_object,
            cfg.init_weights if fresh else "",
            token_pool=cfg.token_pool,
            strict_weights=cfg.init_weights_strict,
        )
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
    def _update_representation(self, source: ImageSource, n_old: int, hooks: TrainHooks) -> None:
        """UpdateRepresentation: new data plus exemplars, trained on :meth:`representation_loss`."""
        cfg, net = self.config, self.network()
        # the network before this step, frozen (eval mode, BatchNorm folded): distillation's teacher
        old_net = inference_copy(net) if n_old and cfg.distillation != "none" else None
        previous = PreviousNetwork(old_net, n_old)
        net.grow(max(cfg.head_size, len(self.classes_)), generator=self._generator())
        with phase("data"):
            reader = self._reader(source, with_exemplars=True)

        def loss_fn(batch: Batch) -> Tensor:
            return self.representation_loss(batch, previous)

        self._train(net, reader, loss_fn, hooks, f"classes {n_old + 1}-{len(self.classes_)}")

    def representation_loss(self, batch: Batch, previous: PreviousNetwork) -> Tensor:
        """Algorithm 3's loss on one batch: classification of the new classes plus distillation
        towards ``previous``, the network of the step before, run on the same augmented batch
        (the authors' code; not targets stored once before training). ``batch`` holds the
        inputs, features, logits (every output) and labels. A method with another loss (LUCIR's
        feature distillation, PODNet's pooled features) overrides this; see
        docs/architecture.md, "Add a method"."""
        cfg, t = self.config, len(self._classes)
        old = previous.logits(batch.inputs)
        if cfg.distillation == "kd":
            logits = batch.logits[:, :t]
            return kd_softmax(logits, batch.labels, old, temperature=cfg.temperature, ce_weight=cfg.kd_lambda)
        # the sigmoid BCE over every output unit, unseen classes with target 0 (the authors'
        # code; the lr of 2.0 assumes that average over batch x outputs)
        return icarl_bce(batch.logits, batch.labels, old)

    def _reader(self, source: ImageSource, with_exemplars: bool) -> BatchReader:
        """The step's training data, followed by the exemplars when ``with_exemplars``, read in
        batches onto the training device with labels as output indices. In memory both are one
        tensor there (each batch a gather: the fast path); read from files, decoding workers
        read each batch (:mod:`icarl.data.reading`)."""
        parts = [source, self._exemplars()] if with_exemplars else [source]
        return BatchReader(concat(parts), label_lut(self._classes), self.device, self.config.workers)

    def _train(
        self, net: nn.Module, reader: BatchReader, loss_fn: LossFn, hooks: TrainHooks, desc: str
    ) -> TrainResult:
        """The one training loop, with this learner's augmentation, generator and callbacks
        (the epoch bar when ``progress`` is on and stderr is a terminal)."""

        def prepare(xb: Tensor, part: tuple[int, int, int] | None = None) -> Tensor:
            return self._prepare(xb, True, part)

        callbacks = list(hooks.callbacks)
        if self.config.progress and distributed.is_main() and on_terminal():  # DDP: rank 0 draws
            callbacks.append(EpochBar())
        carry = self.config.momentum_carry  # one velocity across steps (see icarl.train.momentum)
        with phase("train"):
            result = train(
                net,
                reader,
                cfg=self.config,
                prepare=prepare,
                loss_fn=loss_fn,
                generator=self._generator(),
                hooks=TrainHooks(hooks.resume, tuple(callbacks)),
                velocity=self.velocity_ if carry else None,
                step=len(self.history_),
                desc=desc,
            )
        if result.velocity is not None:
            self.velocity_ = result.velocity
        return result

    # ------------------------------------------------------------ Algorithm 4
    def _construct_exemplar_set(self, items: ImageSource, y: int, m: int) -> Tensor | None:
        """ConstructExemplarSet: the ``m`` herding-ordered exemplars of a new class ``y``.
        Returns the features of the stored exemplars, in their order, when herding computed
        them (the class means reuse them), else None."""
        if m == 0:
            return None
        n = len(items)
        m = min(m, n)
        if not self.config.selection.startswith("herding"):
            self.memory_.add(y, items.take(random_order(n, m, self.rng_)))
            return None
        authors = self.config.selection == "herding-authors"  # repeats, a cap: maybe < m
        with phase("herding"):
            f = self.features(items)
            order = herding_order_authors(f, m) if authors else herding_order(f, m)
        self.memory_.add(y, items.take(order))  # uint8 in RAM, whatever the source
        return f[order]

    # ------------------------------------------------------------ Algorithm 5
    def _reduce_exemplar_sets(self, m: int) -> None:
        """ReduceExemplarSet for every old class: keep the first ``m`` of its ordered set."""
        self.memory_.reduce(m)


MEANS_CHUNK = 16  # feature batches per chunk of class_means (a bound on the features held)


def _weights_key(net: nn.Module) -> tuple[tuple[int, int], ...]:
    """Identity and in-place version of every parameter and buffer: changes whenever the
    weights do (an optimiser step, ``load_state_dict``, a grown head, a move)."""
    return tuple((id(t), t._version) for t in (*net.parameters(), *net.buffers()))


class PreviousNetwork:
    """The frozen network of the step before (None at the first step, or without distillation)
    with its ``n_old`` outputs, run on a training batch once, without gradients: its logits
    (distillation targets) and its features (for methods that distil features)."""

    def __init__(self, net: IncrementalNet | None, n_old: int) -> None:
        self.net, self.n_old = net, n_old
        self._last: tuple[Tensor, Tensor, Tensor] | None = None  # (inputs, features, logits)

    def _run(self, inputs: Tensor) -> tuple[Tensor, Tensor] | None:
        if self.net is None:
            return None
        if self._last is None or self._last[0] is not inputs:  # once per batch, however many ask
            with torch.no_grad(), phase("previous"):
                f = self.net.forward_features(inputs)
                self._last = (inputs, f, self.net.forward_head(f)[:, : self.n_old].float())
        return self._last[1], self._last[2]

    def logits(self, inputs: Tensor) -> Tensor | None:
        """``(B, n_old)`` float32 outputs of the old classes, or None without a previous network."""
        out = self._run(inputs)
        return None if out is None else out[1]

    def features(self, inputs: Tensor) -> Tensor | None:
        """``(B, d)`` features ``phi_old(x)``, or None without a previous network."""
        out = self._run(inputs)
        return None if out is None else out[0]
