"""Figure plumbing and the figures a paper uses beside the paper's own (see :mod:`.report`):

- every figure is written as PNG (embedded in report.html) and, with ``--figure-format``,
  as SVG and/or PDF beside it (same name, other suffix);
- ``accuracy_matrix.png``: the accuracy matrix (after step s, accuracy on the classes of
  step j) of each run as a heat map, one colour scale (0-100 %) and one colour bar;
- ``accuracy_repeats.png``: the mean accuracy over repetitions (``--seeds``, ``--orders``)
  against the number of classes, with a band of one standard deviation;
- ``loss.png``: the training loss (and learning rate) per epoch, all steps in sequence.

Sizes: report.html shows a figure at most ``PAGE_WIDTH_IN`` inches wide at ``DPI`` (1,100
pixels); wider figures would be scaled down on the page and their text with them, so panels
shrink to fit, and every text is at least ``MIN_FONT`` points as shown.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ConfigError
from ..files.atomic import atomic_write
from .results import label

FORMATS = ("png", "svg", "pdf")
DPI = 110
PAGE_WIDTH_IN = 10.0  # report.html's column: 1,100 px at DPI
MIN_FONT = 8.0  # points, as shown on the page
TICK_FONT = 9.0


def parse_formats(spec: str | None) -> tuple[str, ...]:
    """``png,svg`` -> ("png", "svg"); PNG is always written (report.html embeds it)."""
    names = [n.strip().lower().lstrip(".") for n in (spec or "png").split(",") if n.strip()]
    unknown = [n for n in names if n not in FORMATS]
    if unknown:
        raise ConfigError(
            f"unknown figure format(s) {', '.join(unknown)} in --figure-format; "
            f"choose from: {', '.join(FORMATS)}"
        )
    return tuple(dict.fromkeys(["png", *names]))


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path, formats: Sequence[str] = ("png",)) -> Path:
    """``path`` (PNG) and the same figure in each other format of ``formats``, each written
    atomically (a full disk leaves the old figure, not a 0-byte one); closes ``fig``."""
    for fmt in ("png", *(f for f in formats if f != "png")):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt)
        target = path if fmt == "png" else path.with_suffix(f".{fmt}")
        atomic_write(target, buf.getvalue(), then="free some space and run icarl report again")
    pyplot().close(fig)
    return path


def grid(n: int, width: float, height: float, extra: float = 1.0) -> tuple[Any, Any]:
    """A figure of ``n`` panels, at most 3 a row, each ``width`` x ``height`` inches but
    narrowed (keeping the aspect) so that the row and ``extra`` inches (a colour bar) fit
    the page without scaling; unused panels hidden."""
    plt = pyplot()
    cols = max(1, min(n, 3))
    rows = max(1, math.ceil(n / cols))
    scale = min(1.0, (PAGE_WIDTH_IN - extra) / (width * cols))
    size = (width * scale * cols + extra, height * scale * rows + 0.6)
    fig, axes = plt.subplots(rows, cols, figsize=size, dpi=DPI, squeeze=False)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return fig, axes


def accuracy_matrix_figure(
    runs: dict[str, dict[str, Any]], path: Path, formats: Sequence[str]
) -> Path | None:
    """Each run's accuracy matrix (own classifier) as a heat map; None when no run has one."""
    mats = {}
    for name, res in runs.items():
        main = res.get("classifier") or "cnn"
        rows = (res.get("accuracy_matrix") or {}).get(main)
        if rows:
            mats[name] = (main, np.array([[np.nan if v is None else 100 * v for v in r] for r in rows]))
    if not mats:
        return None
    fig, axes = grid(len(mats), 3.6, 3.4)
    im = None
    for ax, (name, (main, a)) in zip(axes.flat, mats.items(), strict=False):
        im = ax.imshow(np.ma.masked_invalid(a), cmap="viridis", vmin=0, vmax=100)
        n = len(a)
        ticks = range(0, n, max(1, math.ceil(n / 12)))  # at most 12 labels an axis
        ax.set_xticks(ticks, [str(j + 1) for j in ticks], fontsize=TICK_FONT)
        ax.set_yticks(ticks, [str(s + 1) for s in ticks], fontsize=TICK_FONT)
        label_axes(ax, "classes of step j", "after step s")
        ax.set_title(f"{name} ({label(main)})", fontsize=10)
        if n <= 8:  # the values in the cells while they fit at a readable size
            for s in range(n):
                for j in range(n):
                    if not np.isnan(a[s, j]):
                        colour = "black" if a[s, j] > 60 else "white"
                        ax.text(j, s, f"{a[s, j]:.0f}", ha="center", va="center", fontsize=8.5, color=colour)
    fig.suptitle("accuracy matrix: after step s (rows), on the classes of step j", fontsize=10)
    fig.tight_layout(h_pad=2.5)
    fig.colorbar(im, ax=list(axes.flat), label="accuracy (%)", shrink=0.8)
    return save_figure(fig, path, formats)


def label_axes(ax: Any, xlabel: str, ylabel: str) -> None:
    """Axis labels of a panel: the y label on the first column only, so that it does not run
    into the panel on its left."""
    ax.set_xlabel(xlabel, fontsize=TICK_FONT)
    if ax.get_subplotspec().is_first_col():
        ax.set_ylabel(ylabel, fontsize=TICK_FONT)


def band_figure(rows: Sequence[dict[str, Any]], path: Path, title: str, formats: Sequence[str]) -> Path:
    """Mean accuracy (%) over repetitions against the number of classes, with a band of one
    standard deviation either side and, in the legend, the average incremental accuracy."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=DPI)
    colours = plt.get_cmap("tab10").colors
    for i, r in enumerate(rows):
        mean, sd = 100 * np.asarray(r["mean"]), 100 * np.asarray(r["sd"])
        colour = colours[i % len(colours)]
        label = f"{r['label']} ({100 * r['average_mean']:.1f} ± {100 * r['average_sd']:.1f})"
        ax.plot(r["seen"], mean, color=colour, marker="o", ms=4, lw=1.6, label=label)
        ax.fill_between(r["seen"], mean - sd, mean + sd, color=colour, alpha=0.18, lw=0)
    accuracy_axes(ax, title, rows[0]["seen"] if rows else [], "avg. inc. acc. (mean ± sd)")
    fig.tight_layout()
    return save_figure(fig, path, formats)


def sweep_figure(
    lines: dict[str, list[tuple[Any, float, float]]], key: str, path: Path, formats: Sequence[str]
) -> Path:
    """Average incremental accuracy (%) against the values of one swept key, mean with error
    bars of one sd over the repetitions; one line per method (and other swept keys' values).
    Numeric values on a numeric axis, others as categories in the order given."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=DPI)
    values = list(dict.fromkeys(v for pts in lines.values() for v, _, _ in pts))
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    for name, pts in lines.items():
        xs = [v if numeric else values.index(v) for v, _, _ in pts]
        means, sds = [100 * m for _, m, _ in pts], [100 * sd for _, _, sd in pts]
        ax.errorbar(xs, means, yerr=sds, marker="o", ms=4, capsize=3, lw=1.6, label=name)
    if not numeric:
        ax.set_xticks(range(len(values)), [str(v) for v in values])
    ax.set_xlabel(key)
    ax.set_ylabel("average incremental accuracy (%)")
    ax.set_title(f"sweep over {key} (mean ± sd)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, formats)


def accuracy_axes(ax: Any, title: str, seen: Sequence[int], legend: str) -> None:
    """Labels, limits, grid and the legend (outside, right) of an accuracy-by-classes plot."""
    ax.set_xlabel("number of classes")
    ax.set_ylabel("accuracy on all seen classes (%)")
    ax.set_title(title)
    ax.set_ylim(0, 101)
    ax.set_xticks(seen)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title=legend)


def loss_figure(runs: dict[str, dict[str, Any]], path: Path, formats: Sequence[str]) -> Path | None:
    """Each run's training loss per epoch (``steps[i].epochs``), the epochs of all steps in
    sequence, a dotted line where each step starts; the first run's learning rate in grey on
    the right axis. None when no run recorded its epochs."""
    curves = {name: epoch_curve(res) for name, res in runs.items()}
    curves = {k: v for k, v in curves.items() if v[0]}
    if not curves:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.8), dpi=DPI)
    colours = plt.get_cmap("tab10").colors
    for i, (name, (_, losses, _)) in enumerate(curves.items()):
        ax.plot(range(1, len(losses) + 1), losses, color=colours[i % 10], lw=1.5, label=name)
    steps, losses, lrs = next(iter(curves.values()))
    starts = [x for x in range(1, len(steps) + 1) if x == 1 or steps[x - 2] != steps[x - 1]]
    every = max(1, math.ceil(len(starts) / 12))  # at most 12 step labels
    for k, x in enumerate(starts):
        ax.axvline(x - 0.5, color="black", lw=0.6, ls=":")
        if k % every == 0:
            ax.annotate(
                f"step {steps[x - 1]}",
                (x - 0.3, 1.01),
                xycoords=("data", "axes fraction"),
                fontsize=TICK_FONT,
            )
    if min(v for _, ls, _ in curves.values() for v in ls) > 0:
        ax.set_yscale("log")
    lr_ax = ax.twinx()
    lr_ax.step(range(1, len(lrs) + 1), lrs, where="mid", color="grey", lw=1, ls="--")
    lr_ax.set_ylim(bottom=0)
    lr_ax.set_ylabel("learning rate (grey, dashed)", color="grey")
    ax.set_xlabel("epoch (the epochs of all steps in sequence)")
    ax.set_ylabel("training loss" + (" (log scale)" if ax.get_yscale() == "log" else ""))
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend(fontsize=MIN_FONT, loc="upper left", bbox_to_anchor=(1.1, 1.0), title="method")
    fig.tight_layout()
    return save_figure(fig, path, formats)


def epoch_curve(res: dict[str, Any]) -> tuple[list[int], list[float], list[float]]:
    """(step number, loss, lr) of every epoch a run recorded, in order."""
    out: tuple[list[int], list[float], list[float]] = ([], [], [])
    for i, s in enumerate(res["steps"], 1):
        for e in s.get("epochs") or []:
            out[0].append(i)
            out[1].append(float(e["loss"]))
            out[2].append(float(e["lr"]))
    return out
