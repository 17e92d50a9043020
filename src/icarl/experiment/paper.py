"""The paper's CIFAR-100 experiments as one grid (``icarl paper cifar100``).

Rebuffi et al. (CVPR 2017) report on iCIFAR-100, with 2, 5, 10, 20 and 50 classes per step:

- Figure 2: the accuracy after each step of iCaRL, hybrid1 (iCaRL's training, the network's
  own outputs), LwF-MC, finetuning and the fixed representation;
- Table 1: the average incremental accuracy of iCaRL's ablations: hybrid1, hybrid2 (exemplars
  and NME, no distillation), hybrid3 (exemplars, no distillation, network outputs), LwF-MC,
  and (b) iNCM, nearest class mean over all training data.

Several of these come from one run: the iCaRL run's NME is iCaRL, its network outputs are
hybrid1 and, with ``evaluation.incm = true``, its class means over all training data are iNCM.
So the grid runs ``icarl``, ``hybrid2``, ``hybrid3``, ``lwf``, ``finetune`` and ``fixed``, each
for every step size and class order: every cell an ordinary run folder
``OUT/cps-P/METHOD/order-K`` (:mod:`.grid`, resumable), class order ``K`` the ``K``-th draw of
the authors' generator (``icarl-theano:K``; ``K = 0`` is their order), shared by every method
and step size so that methods compare on the same orders.

The table puts each average incremental accuracy (mean ± sd over the orders, and n) beside the
paper's value where we know it as a number: only iCaRL with 10 classes per step, 64.1%
(:data:`PUBLISHED`). The other values are read off figures and tables we do not hold as
numbers here, so they are left empty ("—"), not guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import ConfigError
from ..data.orders import order_draw
from . import stats
from .grid import Cell
from .report import ReportError, load_runs

Found = dict[tuple[int, str], list[dict[str, Any]]]  # results by (classes per step, run method)

PAPER_NAME = "paper.json"
PAPER_VERSION = 1
NUM_CLASSES = 100  # CIFAR-100
PAPER_STEP_SIZES = (2, 5, 10, 20, 50)
CLASS_ORDER = "icarl-theano"  # --orders N: icarl-theano:0..N-1


@dataclass(frozen=True)
class PaperMethod:
    """A line of the paper's figure or table: which run gives it and with which classifier."""

    name: str
    label: str
    run: str  # the method that is run (icarl, hybrid2, hybrid3, lwf, finetune, fixed)
    classifier: str  # "nme", "cnn" or "incm" of that run's results
    where: str  # the paper's figure/table that shows it


PAPER_METHODS: dict[str, PaperMethod] = {
    m.name: m
    for m in (
        PaperMethod("icarl", "iCaRL", "icarl", "nme", "Fig. 2, Table 1"),
        PaperMethod("hybrid1", "hybrid1", "icarl", "cnn", "Fig. 2, Table 1a"),
        PaperMethod("lwf", "LwF-MC", "lwf", "cnn", "Fig. 2, Table 1a"),
        PaperMethod("finetune", "finetuning", "finetune", "cnn", "Fig. 2"),
        PaperMethod("fixed", "fixed representation", "fixed", "cnn", "Fig. 2"),
        PaperMethod("hybrid2", "hybrid2", "hybrid2", "nme", "Table 1a"),
        PaperMethod("hybrid3", "hybrid3", "hybrid3", "cnn", "Table 1a"),
        PaperMethod("incm", "iNCM", "icarl", "incm", "Table 1b"),
    )
}
FIGURE2 = ("icarl", "hybrid1", "lwf", "finetune", "fixed")


@dataclass(frozen=True)
class Published:
    value: float  # average incremental accuracy, a fraction
    source: str


# Only what we can cite as a number. Every other cell of Fig. 2 / Table 1 is left empty: those
# values are read from the paper's figures and tables, which we do not hold as numbers here.
PUBLISHED: dict[tuple[str, int], Published] = {
    ("icarl", 10): Published(0.641, "Rebuffi et al. 2017, Fig. 2 and Table 1 (10 class orders)"),
}
FOOTNOTE = (
    "paper: the value published by Rebuffi et al. (CVPR 2017) where we hold it as a number; "
    "'—' where the value is only read from the paper's figures and tables, which we do not "
    "hold as numbers (left empty rather than guessed). The paper averages 10 class orders."
)


@dataclass(frozen=True)
class Budget:
    """A named protocol: the step sizes, epochs, orders and methods ``--budget`` selects."""

    classes_per_step: tuple[int, ...]
    epochs: int
    orders: int
    methods: tuple[str, ...]
    description: str


BUDGETS: dict[str, Budget] = {
    "paper": Budget(
        PAPER_STEP_SIZES,
        70,
        3,
        tuple(PAPER_METHODS),
        "the paper's Figure 2 and Table 1: 2-50 classes per step, 70 epochs, every method",
    ),
    "cpu": Budget(
        (10,),
        5,
        3,
        ("icarl", "hybrid1", "finetune"),
        "a CPU-sized protocol: 10 classes per step, 5 epochs, iCaRL (+ hybrid1) and finetuning",
    ),
}


@dataclass(frozen=True)
class PaperSpec:
    """What one ``icarl paper`` grid runs (stored in grid.json for --resume)."""

    classes_per_step: tuple[int, ...]
    methods: tuple[str, ...]
    orders: int
    epochs: int
    budget: str = "paper"

    def runs(self) -> list[str]:
        """The methods that are run, in a fixed order, each once (iCaRL serves three lines)."""
        return list(dict.fromkeys(PAPER_METHODS[m].run for m in self.methods))

    @property
    def incm(self) -> bool:
        return "incm" in self.methods

    def as_dict(self) -> dict[str, Any]:
        return {
            "classes_per_step": list(self.classes_per_step),
            "methods": list(self.methods),
            "orders": self.orders,
            "epochs": self.epochs,
            "budget": self.budget,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> PaperSpec:
        try:
            return spec(
                budget=str(doc.get("budget", "paper")),
                classes_per_step=",".join(str(p) for p in doc["classes_per_step"]),
                methods=",".join(doc["methods"]),
                orders=int(doc["orders"]),
                epochs=int(doc["epochs"]),
            )
        except (KeyError, TypeError, ValueError):
            raise ConfigError("grid.json holds no valid paper grid; run icarl paper again") from None


def spec(
    *,
    budget: str = "paper",
    classes_per_step: str | None = None,
    methods: str | None = None,
    orders: int | None = None,
    epochs: int | None = None,
) -> PaperSpec:
    """The grid of ``--budget`` with the given flags replacing its values, checked."""
    if budget not in BUDGETS:
        raise ConfigError(f"--budget {budget!r} is unknown; choose one of: {', '.join(BUDGETS)}")
    base = BUDGETS[budget]
    sizes = base.classes_per_step if classes_per_step is None else _step_sizes(classes_per_step)
    names = base.methods if methods is None else _methods(methods)
    n = base.orders if orders is None else orders
    if not 1 <= n <= 1000:
        raise ConfigError(f"--orders is {n}; give a number of class orders from 1 to 1000")
    e = base.epochs if epochs is None else epochs
    if e < 1:
        raise ConfigError(f"--epochs is {e}; give at least 1 epoch per step")
    return PaperSpec(sizes, names, n, e, budget)


def _step_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(dict.fromkeys(int(p) for p in text.split(",") if p.strip()))
    except ValueError:
        raise ConfigError(f"--classes-per-step {text!r}: give integers like 2,5,10,20,50") from None
    bad = [p for p in sizes if p < 1 or NUM_CLASSES % p]
    if not sizes or bad:
        raise ConfigError(
            f"--classes-per-step {text!r}: {NUM_CLASSES} classes do not split into steps of "
            f"{', '.join(map(str, bad)) or 'nothing'}; use divisors of 100 such as 2,5,10,20,50"
        )
    return sizes


def _methods(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
    unknown = [m for m in names if m not in PAPER_METHODS]
    if not names or unknown:
        raise ConfigError(
            f"--methods {text!r}: unknown {', '.join(unknown) or 'empty list'}; choose from: "
            f"{', '.join(PAPER_METHODS)}"
        )
    return names


def plan(sp: PaperSpec, seed: int) -> list[Cell]:
    """The cells: every step size x run method x class order. Labels: ``classes_per_step``,
    ``method``, ``order``; the overrides set the step size, the method, the order and, for
    the iCaRL run when iNCM is asked for, ``evaluation.incm``."""
    cells = []
    for p in sp.classes_per_step:
        for run in sp.runs():
            extra = ("evaluation.incm=true",) if run == "icarl" and sp.incm else ()
            for k in range(sp.orders):
                overrides = (
                    f"data.classes_per_step={p}",
                    f"method={run}",
                    f"data.class_order={order_draw(CLASS_ORDER, seed, k)}",
                    *extra,
                )
                labels = {"classes_per_step": p, "method": run, "order": k}
                cells.append(Cell(f"cps-{p}/{run}/order-{k}", labels, overrides))
    return cells


# ----------------------------------------------------------------- the table
def collect(
    out: Path, cells: Sequence[Cell]
) -> tuple[dict[tuple[int, str], list[dict[str, Any]]], list[str]]:
    """The finished runs' results by (classes per step, run method), in order; unfinished folders."""
    found: Found = {}
    missing = []
    for cell in cells:
        try:
            runs = load_runs(out / cell.folder)[0]
        except ReportError:
            runs = {}
        res = runs.get(str(cell.labels["method"]))
        if res is None:
            missing.append(cell.folder)
            continue
        found.setdefault((int(cell.labels["classes_per_step"]), str(cell.labels["method"])), []).append(res)
    return found, missing


def rows(found: Found, sp: PaperSpec) -> list[dict[str, Any]]:
    """One row per step size and paper method: mean, sd, se and n over the finished orders of
    the average incremental and the final accuracy, and the published value (None: unknown)."""
    out = []
    for p in sp.classes_per_step:
        for name in sp.methods:
            m = PAPER_METHODS[name]
            results = found.get((p, m.run), [])
            avg = [r["average_incremental_accuracy"].get(m.classifier) for r in results]
            fin = [r["final_accuracy"].get(m.classifier) for r in results]
            avg_s = stats.summary([v for v in avg if v is not None])
            fin_s = stats.summary([v for v in fin if v is not None])
            pub = PUBLISHED.get((name, p))
            out.append(
                {
                    "classes_per_step": p,
                    "method": name,
                    "label": m.label,
                    "run": m.run,
                    "classifier": m.classifier,
                    "n": avg_s["n"],
                    "average": {k: avg_s[k] for k in ("mean", "sd", "se", "values")},
                    "final": {k: fin_s[k] for k in ("mean", "sd", "se")},
                    "paper": None if pub is None else pub.value,
                    "paper_source": None if pub is None else pub.source,
                }
            )
    return out


def _pct(r: dict[str, Any], key: str) -> str:
    s = r[key]
    if not r["n"]:
        return "not run yet"
    return f"{100 * s['mean']:.2f} ± {100 * s['sd']:.2f}"


def format_table(table: Sequence[dict[str, Any]], markdown: bool = False) -> str:
    """Average incremental accuracy (mean ± sd over orders, n) beside the paper's, per row."""
    head = ("classes/step", "method", "average incremental %", "n", "paper %", "final %")
    lines = []
    for r in table:
        paper = "—" if r["paper"] is None else f"{100 * r['paper']:.1f} [1]"
        lines.append(
            (str(r["classes_per_step"]), r["label"], _pct(r, "average"), str(r["n"]), paper, _pct(r, "final"))
        )
    if markdown:
        body = [f"| {' | '.join(head)} |", "|" + "---|" * len(head)]
        body += [f"| {' | '.join(cols)} |" for cols in lines]
    else:
        widths = [max(len(h), *(len(c[i]) for c in lines)) if lines else len(h) for i, h in enumerate(head)]
        body = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
        body += ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)) for cols in lines]
    sources = sorted({r["paper_source"] for r in table if r["paper_source"]})
    notes = [f"[1] {s}" for s in sources] + [FOOTNOTE]
    return "\n".join([*body, "", *("\n\n" if markdown else "\n").join(notes).split("\n")])


def record(
    found: dict[tuple[int, str], list[dict[str, Any]]], missing: list[str], sp: PaperSpec, command: str
) -> dict[str, Any]:
    """``paper.json``: the table of what has finished (:func:`collect`), the grid, the command."""
    table = rows(found, sp)
    return {
        "paper_version": PAPER_VERSION,
        "benchmark": "cifar100",
        "statistics": "mean and sample standard deviation (ddof=1) over class orders; n orders finished",
        "spec": sp.as_dict(),
        "command": command,
        "rows": table,
        "missing": missing,
        "footnote": FOOTNOTE,
    }


def markdown(record: dict[str, Any]) -> str:
    sp = record["spec"]
    lines = [
        "# iCaRL on CIFAR-100: the paper's experiments",
        "",
        f"Command: `{record['command']}`",
        "",
        f"{sp['epochs']} epochs per step, class orders icarl-theano:0..{sp['orders'] - 1} "
        "(0: the authors' order); average incremental accuracy = the mean over steps of the "
        "accuracy on all classes seen so far; mean ± sample sd over the orders, n orders.",
        "",
        format_table(record["rows"], markdown=True),
    ]
    if record["missing"]:
        lines += ["", f"Not finished (left out): {', '.join(record['missing'])}"]
    return "\n".join(lines) + "\n"
