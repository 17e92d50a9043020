"""The Figure-2-style plot of an ``icarl paper`` grid, and the files its table goes to:
``paper.json`` (the record), ``paper.md`` (the table beside the paper's values, with its
footnote) and ``figure2.png`` in the grid's folder (:mod:`.paper`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..files.atomic import atomic_write
from . import stats
from .grid import Cell
from .paper import (
    FIGURE2,
    NUM_CLASSES,
    PAPER_METHODS,
    PAPER_NAME,
    Found,
    PaperSpec,
    collect,
    markdown,
    record,
)
from .plots import grid as panel_grid
from .plots import pyplot, save_figure
from .results import write_json

FIGURE_NAME = "figure2.png"
TABLE_NAME = "paper.md"


def finish(
    out: Path, cells: Sequence[Cell], sp: PaperSpec, command: str, formats: Sequence[str] = ("png",)
) -> dict[str, Any]:
    """Write ``paper.json``, ``paper.md`` and ``figure2.png`` from the finished cells; return the record."""
    found, missing = collect(out, cells)
    rec = record(found, missing, sp, command)
    path = figure(found, sp, out / FIGURE_NAME, formats)
    rec["figure"] = None if path is None else path.name
    write_json(out / PAPER_NAME, rec)
    atomic_write(out / TABLE_NAME, markdown(rec).encode())
    return rec


def figure(found: Found, sp: PaperSpec, path: Path, formats: Sequence[str]) -> Path | None:
    """Figure 2's layout: one panel per step size, the accuracy on all seen classes against the
    number of classes, a mean line and a band of one sd over the orders per method (the
    Figure 2 methods that ran, else every method asked for). None when nothing has finished."""
    shown = [m for m in sp.methods if m in FIGURE2] or list(sp.methods)
    panels = [p for p in sp.classes_per_step if any(found.get((p, PAPER_METHODS[m].run)) for m in shown)]
    if not panels:
        return None
    plt = pyplot()
    fig, axes = panel_grid(len(panels), 4.4, 3.6)
    colours = plt.get_cmap("tab10").colors
    for ax, p in zip(axes.flat, panels, strict=False):
        for i, name in enumerate(shown):
            m = PAPER_METHODS[name]
            results = found.get((p, m.run), [])
            curves = [[s["accuracy"].get(m.classifier) for s in r["steps"]] for r in results]
            curves = [c for c in curves if c and all(v is not None for v in c)]
            if not curves or len({len(c) for c in curves}) != 1:
                continue
            st = stats.per_step(curves)
            mean, sd = 100 * np.asarray(st["mean"]), 100 * np.asarray(st["sd"])
            seen = [s["seen_classes"] for s in results[0]["steps"]]
            colour = colours[i % len(colours)]
            ax.plot(
                seen, mean, color=colour, marker="o", ms=2.5, lw=1.4, label=f"{m.label} (n={len(curves)})"
            )
            ax.fill_between(seen, mean - sd, mean + sd, color=colour, alpha=0.18, lw=0)
        ax.set_title(f"{p} classes per step", fontsize=10)
        ax.set_xlabel("number of classes", fontsize=8)
        ax.set_ylabel("accuracy (%)", fontsize=8)
        ax.set_xlim(0, NUM_CLASSES)
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"CIFAR-100, {sp.epochs} epochs per step: mean ± sd over class orders", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, formats)
