"""A learner as one self-contained program: uint8 images in, labels and scores out.

:func:`export` writes the learner's classifier with its preprocessing (the resize, the /255,
the pixel mean) and its class means baked in as buffers, traced by ``torch.export`` and saved
as a ``.pt2`` file (``torch.export.load`` runs it without icarl), and as ONNX where the
``onnx`` package is installed. The program takes uint8 images shaped (N, C, H, W) with the
model's channels, any N, H and W (resized to the model's size as ``icarl predict`` does), and
returns ``(labels, scores)``: the original integer label of each image's best class (int64,
(N,)) and the scores of all seen classes ((N, t), columns in the order of ``classes`` in the
labels file), with the meaning ``icarl predict`` gives them: the classifier rule's decision
scores (:mod:`icarl.algorithm.classifiers`), the same functions the learner runs: cosine
similarity to the class means (``nme``) or per-class sigmoid outputs (``cnn``). Class names
cannot live in a tensor program: they go beside it in ``<out>.labels.json``.
"""

from __future__ import annotations

import copy
import importlib.util
import io
import json
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..algorithm import ICaRL, classifiers
from ..algorithm.classifiers import ScoreInputs
from ..errors import IcarlError
from ..files.atomic import atomic_write, place, scratch_dir
from ..nets import IncrementalNet
from .learn import DeployError

FORMATS = ("pt2", "onnx", "icarl")
NEEDS = {"onnx": ("onnx", "onnxscript")}  # format -> packages it needs


class ExportError(DeployError):
    """A model that cannot be exported as asked."""


class InferenceProgram(nn.Module):
    """uint8 (N, C, H, W) -> ``(labels (N,), scores (N, t))`` of a learner's classifier."""

    mean255: Tensor  # 255 * the pixel mean, (C, H, W) or (C, 1, 1)
    class_labels: Tensor  # (t,) original labels, in output order
    means: Tensor | None  # the class means mu_y (t, d), where the learner has them

    def __init__(self, learner: ICaRL, classifier: str) -> None:
        super().__init__()
        t = len(learner.classes_)
        self.rule = classifiers.rule(classifier)
        self.seen = t
        # the learner's own inference network (fp32, BatchNorm folded): the function that its
        # evaluation and `icarl predict` run, so the program gives the same labels
        self.net: IncrementalNet = copy.deepcopy(learner.inference_network()).cpu().float().eval()
        self.net.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
        c, self.h, self.w = learner.image_shape_ or (1, 1, 1)
        mean = learner.pixel_mean_
        self.register_buffer("mean255", (mean.float() * 255.0) if mean is not None else torch.zeros(c, 1, 1))
        self.register_buffer("class_labels", torch.tensor(learner.classes_.tolist(), dtype=torch.long))
        means = learner.means_
        self.register_buffer("means", None if means is None else means[:t].detach().float().cpu().clone())
        if self.rule.scores(torch.zeros(1, self.net.feature_dim), self._inputs()) is None:
            raise ExportError(f"{self.rule.missing}; export with another --classifier")

    def _inputs(self) -> ScoreInputs:
        # the program's own copy of the network: its head through forward_head
        return ScoreInputs(self.net.forward_head, self.seen, self.means)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        # any H, W: resized as icarl predict does (conform_images; the identity at the model's size)
        x = F.interpolate(
            images.to(torch.float32),
            size=(self.h, self.w),
            mode="bilinear",
            antialias=True,
            align_corners=False,
        )
        x = x.round().clamp(0.0, 255.0)
        # as icarl.data.augment.to_float: (x - 255 * mean) / 255, then the backbone in eval mode
        x = (x - self.mean255) * (1.0 / 255.0)
        f = self.net.forward_features(x).float()
        ranked = self.rule.scores(f, self._inputs())
        assert ranked is not None  # internal: checked when the program was built
        scores = self.rule.decision(ranked)  # as icarl predict and decision_function give them
        return self.class_labels[scores.argmax(1)], scores


def check_formats(formats: Sequence[str]) -> list[str]:
    """The formats asked for, known and with their packages installed (one-line errors)."""
    out: list[str] = []
    for f in formats:
        if f not in FORMATS:
            raise ExportError(f"export format {f!r} is not one of {', '.join(FORMATS)}")
        missing = [p for p in NEEDS.get(f, ()) if importlib.util.find_spec(p) is None]
        if missing:
            raise ExportError(
                f"--format {f} needs the {' and '.join(missing)} package; pip install {' '.join(missing)}"
            )
        if f not in out:
            out.append(f)
    return out


def outputs(out: str | Path, formats: Sequence[str]) -> dict[str, Path]:
    """format -> file for a base ``out`` (a known suffix on it is dropped), plus ``labels``."""
    base = Path(out)
    if base.suffix.lstrip(".") in FORMATS:
        base = base.with_suffix("")
    files = {f: base.with_name(f"{base.name}.{f}") for f in formats}
    if any(f in files for f in ("pt2", "onnx")):
        files["labels"] = base.with_name(f"{base.name}.labels.json")
    return files


def labels_doc(learner: ICaRL, classifier: str) -> dict[str, Any]:
    """What the program's outputs mean, with the class names it cannot hold."""
    names = learner.named_classes()
    return {
        "inputs": {
            "images": "uint8 (N, C, H, W), values 0..255, C the model's; any H, W (resized to shape)",
            "shape": list(learner.image_shape_ or []),
        },
        "outputs": {"labels": "int64 (N,): the label of each image's best class", "scores": "(N, t)"},
        "classifier": classifier,
        "score": classifiers.rule(classifier).meaning,
        "classes": learner.classes_.tolist(),
        "names": [names[c] for c in learner.classes_.tolist()],
        "method": learner.method,
    }


def program(learner: ICaRL, classifier: str) -> tuple[InferenceProgram, Tensor]:
    """The program on the CPU and an example input (two zero images of another size than the
    model's, so that the trace holds for any size)."""
    if learner.net_ is None or learner.image_shape_ is None:
        raise ExportError("the model has learned nothing yet; train it with icarl run first")
    module = InferenceProgram(learner, classifier).cpu().eval()
    c, h, w = learner.image_shape_
    return module, torch.zeros((2, c, h + 3, w + 5), dtype=torch.uint8)


def trace(module: nn.Module, example: Tensor) -> torch.export.ExportedProgram:
    """``module`` traced by ``torch.export``, with dynamic batch, height and width."""
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    height, width = (torch.export.Dim(n, min=2, max=1 << 14) for n in ("height", "width"))
    shapes = {"images": {0: batch, 2: height, 3: width}}
    with torch.no_grad():
        return torch.export.export(module, (example,), dynamic_shapes=shapes)


def export_pt2(ep: torch.export.ExportedProgram, path: Path) -> None:
    buf = io.BytesIO()
    torch.export.save(ep, buf)
    atomic_write(path, buf.getvalue(), then="export again")


def export_onnx(ep: torch.export.ExportedProgram, path: Path) -> None:
    """``torch.onnx.export`` writes by name: into a private folder, then renamed to ``path``."""
    with scratch_dir(path.parent) as scratch:
        tmp = scratch / path.name
        _onnx_to(ep, tmp)
        place(tmp, path)


def _onnx_to(ep: torch.export.ExportedProgram, tmp: Path) -> None:
    registry = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registry.level
    registry.setLevel(logging.ERROR)  # "torchvision is not installed" notes: not ours to show
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.onnx.export(
            ep,
            (),
            str(tmp),
            dynamo=True,
            input_names=["images"],
            output_names=["labels", "scores"],
            external_data=False,
            optimize=False,
            verbose=False,
        )
    registry.setLevel(level)


def export(
    learner: ICaRL,
    out: str | Path,
    formats: Sequence[str] = ("pt2",),
    classifier: str | None = None,
    exemplars: bool = True,
) -> dict[str, Path]:
    """Write ``learner`` in each of ``formats`` beside base ``out``; returns format -> file.

    ``pt2`` / ``onnx``: the inference program (see the module docstring) plus the labels
    file; ``icarl``: a model file, without its exemplars when ``exemplars`` is false."""
    kinds = check_formats(formats)
    files = outputs(out, kinds)
    classifier = classifier or learner.config.classifier
    try:
        classifiers.rule(classifier)
    except IcarlError as e:
        raise ExportError(str(e)) from None
    if "pt2" in kinds or "onnx" in kinds:
        ep = trace(*program(learner, classifier))
        files["labels"].parent.mkdir(parents=True, exist_ok=True)
        if "pt2" in kinds:
            export_pt2(ep, files["pt2"])
        if "onnx" in kinds:
            export_onnx(ep, files["onnx"])
        doc = json.dumps(labels_doc(learner, classifier), indent=2) + "\n"
        atomic_write(files["labels"], doc.encode(), then="export again")
    if "icarl" in kinds:
        learner.save(files["icarl"], exemplars=exemplars)
    return files
