"""Figures and the run report, rebuilt from ``results.json`` (one run) or ``compare.json``.

- ``accuracy.png``: accuracy on all seen classes against the number of classes (paper Fig. 2);
- ``confusion.png``: the confusion matrix after the last step (paper Fig. 3), one colour
  scale and one colour bar across the panels;
- ``accuracy_matrix.png``: each run's accuracy matrix as a heat map (:mod:`.plots`);
- ``loss.png``: the training loss and learning rate per epoch, all steps in sequence;
- ``exemplars.png``: written during the run (it needs the learner's memory), the exemplars of
  the first classes (rows in arrival order, as in the confusion matrix) in herding order;
- ``report.html``: one self-contained page (images embedded) with the tables, the figures with
  captions that say what each shows, the environment and the timing (:mod:`.report_page`).

With ``formats`` (``--figure-format png,svg,pdf``) each figure is also written as SVG / PDF.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..algorithm import classifiers
from ..errors import IcarlError
from ..files.atomic import atomic_write
from ..files.plain import PlainFileError, check_regular
from .plots import (
    TICK_FONT,
    accuracy_axes,
    accuracy_matrix_figure,
    grid,
    label_axes,
    loss_figure,
    pyplot,
    save_figure,
)
from .report_page import CAPTIONS, Figure, exemplar_caption, page
from .results import label, write_metrics_csv


class ReportError(IcarlError):
    """The folder holds no results to report."""


def _plt() -> Any:
    return pyplot()


# ------------------------------------------------------------------- tables
def table_rows(runs: dict[str, dict[str, Any]], all_classifiers: bool = True) -> list[dict[str, Any]]:
    """One row per (method, classifier): the method's own classifier, then, with
    ``all_classifiers``, the others it has, labelled e.g. ``icarl [CNN = hybrid1]``. Several
    runs side by side show the other classifiers of iCaRL only (the paper's ablations)."""
    rows = []
    for name, res in runs.items():
        main = res.get("classifier") or "cnn"
        extra = all_classifiers and (len(runs) == 1 or name == "icarl")
        kinds = [main] + [k for k in classifiers.names() if k != main] if extra else [main]
        for k in kinds:
            accs = [s["accuracy"].get(k) for s in res["steps"]]
            if any(a is None for a in accs):
                continue
            label = name if k == main else f"{name} [{_kind_label(name, k)}]"
            rows.append(
                {
                    "label": label,
                    "method": name,
                    "classifier": k,
                    "seen": [s["seen_classes"] for s in res["steps"]],
                    "accuracy": accs,
                    "average": float(np.mean(accs)),
                    "final": accs[-1],
                }
            )
    return rows


def _kind_label(method: str, kind: str) -> str:
    if method == "icarl" and kind == "cnn":
        return "CNN = hybrid1"
    return label(kind)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Methods by steps (accuracy %), then average incremental and final accuracy."""
    if not rows:
        return "(no results)"
    width = max(12, *(len(r["label"]) for r in rows))
    seen = rows[0]["seen"]
    head = f"{'method':<{width}}" + "".join(f"{n:>7}" for n in seen) + "    avg  final"
    lines = [f"{'':<{width}}" + "  accuracy (%) after each step, by classes seen", head]
    for r in rows:
        cells = "".join(f"{100 * a:7.1f}" for a in r["accuracy"])
        lines.append(f"{r['label']:<{width}}{cells}  {100 * r['average']:5.1f}  {100 * r['final']:5.1f}")
    return "\n".join(lines)


def bias_rows(runs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """After the last step: share of test predictions in the newest / first step's classes
    (own classifier), with the share of test images there, forgetting and backward transfer."""
    out = []
    for name, res in runs.items():
        last = res["steps"][-1]
        main = res.get("classifier") or "cnn"
        out.append(
            {
                "method": name,
                "classifier": main,
                "share_newest": last.get("share_newest"),
                "share_first": last.get("share_first"),
                "test_share_newest": last.get("test_share_newest"),
                "test_share_first": last.get("test_share_first"),
                "forgetting": (res.get("forgetting") or {}).get(main),
                "backward_transfer": (res.get("backward_transfer") or {}).get(main),
            }
        )
    return out


def format_bias(rows: Sequence[dict[str, Any]]) -> str:
    def pct(v: float | None) -> str:
        return "    -" if v is None else f"{100 * v:5.1f}"

    lines = ["method      predicted in newest / first step's classes (%, test share)  forgetting  BWT"]
    for r in rows:
        lines.append(
            f"{r['method']:<12}{pct(r['share_newest'])} ({pct(r['test_share_newest']).strip()})"
            f"   {pct(r['share_first'])} ({pct(r['test_share_first']).strip()})"
            f"{'':>22}{pct(r['forgetting'])}  {pct(r['backward_transfer'])}"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------ figures
def accuracy_figure(
    rows: Sequence[dict[str, Any]], path: Path, title: str, formats: Sequence[str] = ("png",)
) -> Path:
    """Paper Fig. 2: accuracy (%) against the number of classes; one colour per method, a
    solid line for its own classifier, dashed / dotted for the others; legend outside."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    colours = plt.get_cmap("tab10").colors
    methods = list(dict.fromkeys(r["method"] for r in rows))
    styles = iter(["--", ":", "-."] * len(rows))
    for r in rows:
        # one colour per method; a single run's classifiers get a colour each
        key = methods.index(r["method"]) if len(methods) > 1 else rows.index(r)
        colour = colours[key % len(colours)]
        own = r["label"] == r["method"]
        ax.plot(
            r["seen"],
            [100 * a for a in r["accuracy"]],
            "-" if own else next(styles),
            color=colour,
            marker="o" if own else ".",
            ms=5 if own else 4,
            lw=2 if own else 1.3,
            label=f"{r['label']} ({100 * r['average']:.1f})",
        )
    accuracy_axes(ax, title, rows[0]["seen"] if rows else [], "method (avg. inc. acc.)")
    fig.tight_layout()
    return save_figure(fig, path, formats)


def confusion_figure(runs: dict[str, dict[str, Any]], path: Path, formats: Sequence[str] = ("png",)) -> Path:
    """Paper Fig. 3: the last step's confusion matrix per method (rows true, columns predicted,
    classes in arrival order; colour on a square-root scale so off-diagonal mass shows, the
    same scale in every panel, with its colour bar)."""
    from matplotlib.colors import PowerNorm

    n = len(runs)
    fig, axes = grid(n, 4.6, 4.6)
    top = max([1.0] + [float(np.max(r["steps"][-1]["confusion"], initial=0)) for r in runs.values()])
    norm = PowerNorm(0.5, vmin=0, vmax=top)
    im = None
    for ax, (name, res) in zip(axes.flat, runs.items(), strict=False):
        last = res["steps"][-1]
        cm = np.asarray(last["confusion"], dtype=float)
        im = ax.imshow(cm, cmap="viridis", norm=norm)
        ax.set_title(f"{name} ({label(last.get('classifier', 'cnn'))})", fontsize=10)
        label_axes(ax, "predicted class (arrival order)", "true class (arrival order)")
        names = res.get("class_names") or []
        if len(cm) <= (20 if n == 1 else 12) and len(names) >= len(cm):  # names while they fit
            ticks = range(len(cm))
            ax.set_xticks(ticks, names[: len(cm)], fontsize=TICK_FONT, rotation=90)
            ax.set_yticks(ticks, names[: len(cm)], fontsize=TICK_FONT)
        ax.tick_params(labelsize=TICK_FONT)
    fig.suptitle("confusion after the last step (colour: square root of the count)", fontsize=10)
    fig.tight_layout(h_pad=2.5)
    fig.colorbar(im, ax=list(axes.flat), label="test images", shrink=0.8)
    return save_figure(fig, path, formats)


def save_exemplar_grid(
    learner: Any,
    path: Path,
    names: dict[int, str] | None = None,
    classes: int = 10,
    per_class: int = 10,
    order: Sequence[int] | None = None,
) -> Path:
    """The first ``per_class`` exemplars (herding order, left to right) of the first ``classes``
    classes in the learner's memory, top to bottom in ``order`` (original labels in arrival
    order, ``results.json``'s ``class_order``, as in the confusion matrix; default the
    learner's output order, which sorts the classes within each step); ``names`` maps
    original labels to class names."""
    plt = _plt()
    sets = learner.memory_.sets
    labels = [int(c) for c in learner.classes_]
    rows = [labels.index(c) for c in (order if order is not None else labels) if c in labels]
    ys = [y for y in rows if y in sets][:classes]
    if not ys:
        raise ReportError("the learner keeps no exemplars; there is no exemplar grid to draw")
    k = min(per_class, max(int(sets[y].shape[0]) for y in ys))
    fig, axes = plt.subplots(len(ys), k, figsize=(0.8 * k + 1.2, 0.8 * len(ys) + 0.6), dpi=100, squeeze=False)
    for i, y in enumerate(ys):
        for j in range(k):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            if j < sets[y].shape[0]:
                img = sets[y][j].permute(1, 2, 0).numpy()
                ax.imshow(img[..., 0] if img.shape[2] == 1 else img, cmap="gray", vmin=0, vmax=255)
            if j == 0:
                name = (names or {}).get(labels[y], str(labels[y]))
                ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=TICK_FONT)
    fig.suptitle("exemplars in herding order (left = chosen first); classes in arrival order", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    return path


# --------------------------------------------------------------------- build
def load_runs(run_dir: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None]:
    """``{method: results}`` of a compare folder (``compare.json``) or a run folder."""
    run_dir = Path(run_dir)
    cmp_path = run_dir / "compare.json"
    if cmp_path.exists():
        cmp = read_json(cmp_path, {"methods": list, "folders": dict})
        runs = {}
        for name in cmp["methods"]:
            folder = str(cmp["folders"].get(name, name))
            if folder in ("", ".", "..") or Path(folder).name != folder:  # its files stay inside
                raise ReportError(f"{cmp_path} names the folder {folder[:80]!r}, not one inside {run_dir}")
            p = run_dir / folder / "results.json"
            if p.exists():
                runs[name] = read_results(p)
        return runs, cmp
    res_path = run_dir / "results.json"
    if not res_path.exists():
        raise ReportError(f"{run_dir} has no results.json or compare.json; pass a run or compare folder")
    res = read_results(res_path)
    if not res.get("steps"):
        raise ReportError(f"{res_path} has no finished steps; run the method first")
    return {res["method"]: res}, None


REPORT_FILES = ("report.html", "accuracy.png", "confusion.png")  # what build() writes in a run folder
RESULTS_LAYOUT: dict[str, type] = {"method": str, "dataset": str, "class_order": list, "steps": list}


def read_json(path: Path, layout: dict[str, type]) -> dict[str, Any]:
    """A JSON object with at least ``layout``'s keys and types; one-line ``ReportError`` else."""
    try:
        check_regular(path, "results file", "restore it or run again")
        doc = json.loads(path.read_text(encoding="utf-8"))
    except PlainFileError as e:
        raise ReportError(str(e)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ReportError(f"{path} is not valid JSON ({e}); restore it or run again") from None
    except RecursionError:
        raise ReportError(f"{path} nests arrays or objects too deeply; restore it or run again") from None
    if not isinstance(doc, dict):
        raise ReportError(f"{path} holds {type(doc).__name__}, not a JSON object; restore it or run again")
    for key, tp in layout.items():
        if not isinstance(doc.get(key), tp):
            raise ReportError(
                f"{path}: {key!r} is missing or not a {tp.__name__}; damaged: restore it or run again"
            )
    return doc


def read_results(path: Path) -> dict[str, Any]:
    """A run's ``results.json``, its layout checked down to each step's accuracy."""
    res = read_json(path, RESULTS_LAYOUT)
    for i, s in enumerate(res["steps"], 1):
        ok = (
            isinstance(s, dict)
            and isinstance(s.get("accuracy"), dict)
            and isinstance(s.get("seen_classes"), int)
        )
        if not ok:
            raise ReportError(f"{path}: step {i} lacks accuracy or seen_classes; the file is damaged")
    return res


def build(run_dir: Path | str, formats: Sequence[str] = ("png",)) -> Path:
    """Rebuild the figures (PNG, and each other of ``formats``), ``metrics.csv`` of each run
    and ``report.html`` in ``run_dir``."""
    run_dir = Path(run_dir)
    runs, cmp = load_runs(run_dir)
    if not runs:
        raise ReportError(f"{run_dir}/compare.json names no finished runs; run icarl compare again")
    first = next(iter(runs.values()))
    title = f"{first['dataset']}: {len(first['class_order'])} classes, {len(first['steps'])} steps"
    rows = table_rows(runs, all_classifiers=True)
    figures = [
        Figure(
            "Accuracy", accuracy_figure(rows, run_dir / "accuracy.png", title, formats), CAPTIONS["accuracy"]
        ),
        Figure(
            "Confusion", confusion_figure(runs, run_dir / "confusion.png", formats), CAPTIONS["confusion"]
        ),
    ]
    matrix = accuracy_matrix_figure(runs, run_dir / "accuracy_matrix.png", formats)
    if matrix is not None:
        figures.append(Figure("Accuracy matrix", matrix, CAPTIONS["accuracy matrix"]))
    loss = loss_figure(runs, run_dir / "loss.png", formats)
    if loss is not None:
        figures.append(Figure("Training loss", loss, CAPTIONS["loss"]))
    for name, res in runs.items():
        sub = run_dir / cmp["folders"][name] if cmp else run_dir
        if "confusion" in res["steps"][-1]:
            write_metrics_csv(res, sub / "metrics.csv")
        if (sub / "exemplars.png").is_file():
            figures.append(Figure(f"Exemplars ({name})", sub / "exemplars.png", exemplar_caption(name)))
    html_page = page(title, runs, rows, bias_rows(runs), figures)
    out = run_dir / "report.html"
    atomic_write(out, html_page.encode(), then="free some space and run icarl report again")
    return out
