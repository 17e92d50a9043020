"""A deployed model: learn new classes by name, predict top-k with scores, read inputs.

Class identity is the class NAME. A model maps its labels (ints, in ``classes_``)
to names (``class_names_``); new data arrive with their own labels and names, and
``plan_step`` matches them by name: known names keep the model's label, new names
get fresh labels after the model's largest one.

Scores (see :func:`scores`):

- ``nme`` (Algorithm 1): the cosine similarity ``phi(x) . mu_y`` between the
  L2-normalised feature and the class mean, in [-1, 1]; ranking by it is exactly
  ranking by NME distance (``||phi - mu||^2 = 2 - 2 cos``).
- ``cnn``: the network's sigmoid output ``g_y(x)`` for each class, in [0, 1],
  independent per class (the paper's per-class sigmoids, not a softmax).

Neither is a calibrated probability.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .data.dataset import Dataset, Split
from .errors import IcarlError
from .icarl import ICaRL

SCORE_MEANING = {
    "nme": "cosine similarity between the image's normalised feature and the class mean (-1..1)",
    "cnn": "sigmoid output of the class's output unit (0..1, independent per class)",
}


class DeployError(IcarlError):
    """A problem with the inputs of learn / predict."""


# ---------------------------------------------------------------- class names
def class_names(learner: ICaRL) -> dict[int, str]:
    """label -> name for every class the learner knows (``str(label)`` where unnamed)."""
    given: dict[int, str] = dict(getattr(learner, "class_names_", {}) or {})
    return {c: given.get(c, str(c)) for c in learner.classes_}


def set_class_names(learner: ICaRL, names: dict[int, str]) -> None:
    learner.class_names_ = {**class_names(learner), **names}  # type: ignore[attr-defined]


# -------------------------------------------------------------------- images
def conform_images(x: Tensor, shape: tuple[int, int, int], where: str) -> Tensor:
    """uint8 (N, C, H, W) -> the model's ``shape``: 1<->3 channels, bilinear resize."""
    c, h, w = shape
    if x.ndim != 4:
        raise DeployError(f"{where}: images shaped {tuple(x.shape)}; expected (N, C, H, W)")
    if x.shape[1] != c:
        if (x.shape[1], c) == (3, 1):  # ITU-R 601 luma, as Pillow's convert("L")
            weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            x = (x.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
        elif (x.shape[1], c) == (1, 3):
            x = x.expand(-1, 3, -1, -1).contiguous()
        else:
            raise DeployError(
                f"{where}: images have {x.shape[1]} channels but the model takes {c}; "
                "give 1-channel (grey) or 3-channel (RGB) images"
            )
    if tuple(x.shape[2:]) != (h, w) and x.shape[0]:
        resized = torch.nn.functional.interpolate(
            x.float(), size=(h, w), mode="bilinear", antialias=True, align_corners=False
        )
        x = resized.round().clamp(0, 255).to(torch.uint8)
    return x


def conform_dataset(data: Dataset, shape: tuple[int, int, int]) -> Dataset:
    train = Split(conform_images(data.train.x, shape, f"{data.name} train"), data.train.y)
    test = Split(conform_images(data.test.x, shape, f"{data.name} test"), data.test.y)
    return Dataset(data.name, train, test, data.class_names)


# ------------------------------------------------------------------- learning
@dataclass(frozen=True)
class StepPlan:
    """How the classes of new data map onto the model's labels."""

    new: dict[int, int]  # dataset label -> new model label
    known: dict[int, int]  # dataset label -> existing model label
    names: dict[int, str]  # new model label -> name


def plan_step(learner: ICaRL, data: Dataset, allow_known: bool) -> StepPlan:
    """Match ``data``'s classes to the model's by name; refuse known ones unless allowed."""
    by_name = {name: label for label, name in class_names(learner).items()}
    present = sorted(set(data.train.y.tolist()) | set(data.test.y.tolist()))
    known = {d: by_name[data.class_names[d]] for d in present if data.class_names[d] in by_name}
    if known and not allow_known:
        shown = ", ".join(data.class_names[d] for d in sorted(known)[:8])
        raise DeployError(
            f"the new data hold classes the model already knows ({shown}); remove them, or pass "
            "--allow-known to skip their training images and use their test images for accuracy"
        )
    new_labels = [d for d in present if d not in known]
    if not new_labels:
        raise DeployError("the new data hold no class the model does not know; nothing to learn")
    start = max(learner.classes_, default=-1) + 1
    new = {d: start + i for i, d in enumerate(new_labels)}
    counts = torch.bincount(data.train.y, minlength=data.num_classes)
    empty = [data.class_names[d] for d in new if int(counts[d]) == 0]
    if empty:
        raise DeployError(f"new classes {empty} have no training images; add images or remove them")
    return StepPlan(new=new, known=known, names={new[d]: data.class_names[d] for d in new})


def _relabel(split: Split, mapping: dict[int, int]) -> Split:
    """Keep the items whose label is in ``mapping`` and relabel them."""
    if not mapping:
        return Split(split.x[:0], split.y[:0])
    src = torch.tensor(list(mapping))
    keep = torch.isin(split.y, src)
    size = max([int(split.y.max()) if len(split.y) else 0, *mapping]) + 1
    lut = torch.full((size,), -1, dtype=torch.long)
    lut[src] = torch.tensor(list(mapping.values()))
    return Split(split.x[keep], lut[split.y[keep]])


@dataclass
class StepReport:
    added: dict[int, str]
    skipped_known: list[str]
    accuracy_new: dict[str, float | None] = field(default_factory=dict)
    accuracy_all: dict[str, float | None] = field(default_factory=dict)
    n_test_new: int = 0
    n_test_all: int = 0


def _accuracy(learner: ICaRL, split: Split) -> dict[str, float | None]:
    if not len(split):
        return {}
    nme = learner.score(split.x, split.y, "nme") if learner.means_ is not None else None
    return {"nme": nme, "cnn": learner.score(split.x, split.y, "cnn")}


def learn_step(learner: ICaRL, data: Dataset, *, allow_known: bool = False, source: str = "") -> StepReport:
    """One incremental step (Algorithm 2) on the classes of ``data`` the model does not know."""
    if learner.net_ is None or learner.image_shape_ is None:
        raise DeployError("the model has learned nothing yet; train it with icarl run first")
    plan = plan_step(learner, data, allow_known)
    data = conform_dataset(data, learner.image_shape_)
    train = _relabel(data.train, plan.new)
    learner.partial_fit(train.x, train.y)
    set_class_names(learner, plan.names)
    test_new = _relabel(data.test, plan.new)
    test_all = _relabel(data.test, {**plan.new, **plan.known})
    report = StepReport(
        added=plan.names,
        skipped_known=[data.class_names[d] for d in sorted(plan.known)],
        accuracy_new=_accuracy(learner, test_new),
        accuracy_all=_accuracy(learner, test_all) if plan.known else {},
        n_test_new=len(test_new),
        n_test_all=len(test_all) if plan.known else 0,
    )
    entry = learner.history_[-1]
    entry["names"] = [plan.names[c] for c in entry["classes"]]
    entry["source"] = source
    if report.accuracy_new:
        entry["accuracy"] = {**report.accuracy_new, "on": f"{len(test_new)} test images of new classes"}
    return report


def with_overrides(learner: ICaRL, **changes: Any) -> ICaRL:
    """Change training settings (epochs, lr, ...) of a loaded learner for its next step."""
    changes = {k: v for k, v in changes.items() if v is not None}
    if changes:
        learner.config = replace(learner.config, **changes).check()
    return learner


# ----------------------------------------------------------------- prediction
def scores(learner: ICaRL, x: Tensor, classifier: str) -> Tensor:
    """(N, t) scores, higher is better; see the module docstring for their meaning."""
    if classifier == "nme":
        if learner.means_ is None:
            raise DeployError("this model keeps no exemplars, so it has no NME; use --classifier cnn")
        return 1.0 + learner.decision_scores(x, "nme") / 2.0  # 1 - ||f - mu||^2 / 2 = cos
    return learner.decision_scores(x, "cnn")


def top_k(learner: ICaRL, x: Tensor, k: int, classifier: str) -> tuple[Tensor, Tensor]:
    """Labels (original, N x k) and scores of the ``k`` best classes per image."""
    s = scores(learner, x, classifier)
    vals, idx = s.topk(min(k, s.shape[1]), dim=1)
    labels = torch.tensor(learner.classes_, dtype=torch.long)
    return labels[idx], vals


# --------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class Inputs:
    x: Tensor  # uint8 (N, C, H, W) in the model's shape
    ids: list[str]  # a name per image: its path, or file.npz[i]
    folders: list[str]  # each image's parent folder name ("" for NPZ items)


def _image_files(path: Path) -> list[Path]:
    from .data.images import IMAGE_SUFFIXES

    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _read_npz(path: Path) -> Tensor:
    try:
        with np.load(path, allow_pickle=False) as f:
            if "x" not in f.files:
                raise DeployError(f"{path} has no array 'x' (found {sorted(f.files)}); save x=images")
            arr = f["x"]
    except DeployError:
        raise
    except Exception as e:
        raise DeployError(f"cannot read {path} ({type(e).__name__}); pass a .npz of uint8 images") from None
    if arr.dtype != np.uint8:
        raise DeployError(f"{path}: 'x' has dtype {arr.dtype}; save uint8 pixels in 0..255")
    if arr.ndim == 3:
        arr = arr[:, None]
    elif arr.ndim == 4 and arr.shape[1] not in (1, 3, 4) and arr.shape[3] in (1, 3, 4):
        arr = arr.transpose(0, 3, 1, 2)  # NHWC; a 4th channel is refused in conform_images
    if arr.ndim != 4 or arr.shape[1] not in (1, 3, 4):
        raise DeployError(
            f"{path}: 'x' has shape {arr.shape}; expected (N, H, W), (N, H, W, C) or (N, C, H, W)"
        )
    return torch.from_numpy(np.ascontiguousarray(arr))


def read_inputs(paths: list[str], shape: tuple[int, int, int]) -> Inputs:
    """Image files, folders (recursively their images) and .npz files -> the model's shape."""
    from .data.images import decode_image

    c, h, w = shape
    images: list[Tensor] = []
    ids: list[str] = []
    folders: list[str] = []
    for spec in paths:
        p = Path(spec)
        if not p.exists():
            raise DeployError(f"input {spec} does not exist; pass image files, folders or .npz files")
        if p.suffix.lower() == ".npz":
            x = conform_images(_read_npz(p), shape, str(p))
            images.append(x)
            ids += [f"{p}[{i}]" for i in range(x.shape[0])]
            folders += [""] * x.shape[0]
            continue
        files = _image_files(p) if p.is_dir() else [p]
        if p.is_dir() and not files:
            raise DeployError(f"folder {p} holds no image files; pass a folder of images")
        for f in files:
            img = decode_image(f, channels=c, size=h if h == w else None)
            images.append(conform_images(img[None], shape, str(f)))
            ids.append(str(f))
            folders.append(f.parent.name)
    if not images:
        raise DeployError("no inputs given; pass image files, folders or .npz files")
    return Inputs(torch.cat(images), ids, folders)
