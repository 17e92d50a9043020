"""``report.html``: one self-contained page (figures embedded) of a run or compare folder.

Each figure carries a caption that says what it shows and how to read it. Below the tables
and figures, the environment each run was trained in (device, the thread policy and count,
the load of other processes, precision) and where its time went, step by step: the same
seed can give other numbers under another thread count, device or precision, so a page
that shows numbers shows those too.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from .results import label


class Figure(NamedTuple):
    title: str
    path: Path
    caption: str


CAPTIONS = {
    "accuracy": (
        "Accuracy on the test images of all classes seen so far, after each step, against the number "
        "of classes seen (the paper's Figure 2). Solid line: each method's own classifier; dashed and "
        "dotted: its other classifiers. The legend gives the average incremental accuracy (%)."
    ),
    "confusion": (
        "Confusion matrix after the last step (the paper's Figure 3), each method's own classifier: "
        "rows are the true classes, columns the predicted ones, both in arrival order (the first "
        "step's classes top left). Colour is the square root of the number of test images, so that "
        "small counts off the diagonal show. Mass right of the diagonal went to classes learned later "
        "than the true one (a bias towards new classes), left of it to older ones."
    ),
    "accuracy matrix": (
        "Accuracy (%) after step s (rows) on the test images of the classes that arrived in step j "
        "(columns), each method's own classifier. The diagonal is each step's classes just after "
        "they were learned; a column read downwards shows how they are forgotten."
    ),
    "loss": (
        "Training loss of each epoch, the epochs of all steps in sequence; a dotted line and a label "
        "mark where each step starts, the grey dashed line is the learning rate (right axis). From "
        "the second step on, the loss includes the distillation towards the previous network."
    ),
}


def exemplar_caption(method: str) -> str:
    return (
        f"The exemplars {method} holds after the last step: one row per class (at most the first 10, "
        "in arrival order as in the confusion matrix), at most 10 a row in herding order, the "
        "leftmost chosen first (its features are the closest to the class mean)."
    )


def figures_html(figures: Sequence[Figure]) -> str:
    return "".join(
        f"<figure><img alt='{html.escape(f.title)}' src='data:image/png;base64,"
        f"{base64.b64encode(f.path.read_bytes()).decode()}'><figcaption><b>{html.escape(f.title)}.</b> "
        f"{html.escape(f.caption)}</figcaption></figure>"
        for f in figures
    )


STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    "td:first-child,th:first-child{text-align:left}img{max-width:100%}figure{margin:1.5em 0}"
    "figcaption{font-size:0.95em;max-width:900px;color:#333}table.env td{text-align:left}"
)


# ------------------------------------------------------------- environment
ENVIRONMENT_ROWS = (
    ("device", lambda e: f"{e.get('device', '?')} ({e.get('device_name', '?')})"),
    ("threads", lambda e: _threads(e)),
    ("CPUs other processes kept busy", lambda e: _get(e, "load_others")),
    ("training precision", lambda e: "bf16 autocast" if e.get("bf16_autocast") else "fp32"),
    ("inference precision", lambda e: _get(e, "inference_precision")),
    ("deterministic kernels", lambda e: "yes" if e.get("deterministic") else "no"),
    ("processes (world size)", lambda e: _get(e, "world_size")),
    ("torch / python", lambda e: f"{e.get('torch', '?')} / {e.get('python', '?')}"),
    ("platform", lambda e: _get(e, "platform")),
    ("command", lambda e: " ".join(str(a) for a in e.get("command") or []) or "-"),
)


def _get(env: dict[str, Any], key: str) -> str:
    v = env.get(key)
    return "-" if v is None else str(v)


def _threads(env: dict[str, Any]) -> str:
    """``fixed: 1 (of 2 CPUs)``; under ``auto`` also the range of the epochs' counts."""
    text = f"{env.get('threads_policy', '?')}: {env.get('threads', '?')} (of {env.get('cpus', '?')} CPUs)"
    epochs = env.get("epoch_threads")
    if isinstance(epochs, list) and epochs:
        text += f", epochs {min(epochs)}-{max(epochs)}"
    return text


def environment_html(runs: dict[str, dict[str, Any]]) -> str:
    """One column per run: where and how it was trained (``results.json`` ``environment``)."""
    envs: dict[str, dict[str, Any]] = {}
    for name, res in runs.items():
        env = res.get("environment")
        if isinstance(env, dict):  # with the thread counts of the epochs (they vary under auto)
            counts = [e["threads"] for s in res["steps"] for e in s.get("epochs") or [] if "threads" in e]
            envs[name] = {**env, "epoch_threads": counts}
    if not envs:
        return "<p>The results record no environment (written by an older icarl).</p>"
    head = "".join(f"<th>{html.escape(n)}</th>" for n in envs)
    body = "".join(
        f"<tr><td>{label}</td>" + "".join(f"<td>{html.escape(fn(e))}</td>" for e in envs.values()) + "</tr>"
        for label, fn in ENVIRONMENT_ROWS
    )
    return f"<table class='env'><tr><th></th>{head}</tr>{body}</table>"


# ------------------------------------------------------------------ timing
PHASE_ORDER = ("train", "previous", "herding", "means", "eval", "checkpoint", "data")


def timing_html(runs: dict[str, dict[str, Any]]) -> str:
    """Wall seconds per phase (``phase_seconds``): per step for one run; per method, summed
    over the steps, for several."""
    phases: list[str] = []
    for res in runs.values():
        for s in res["steps"]:
            phases += [p for p in s.get("phase_seconds") or {} if p not in phases]
    if not phases:
        return "<p>The results record no timing (written by an older icarl).</p>"
    phases = sorted(phases, key=lambda p: (PHASE_ORDER.index(p) if p in PHASE_ORDER else 99, p))
    rows: list[tuple[str, dict[str, float]]] = []
    if len(runs) == 1:
        res = next(iter(runs.values()))
        rows = [
            (f"step {i} ({s['seen_classes']} classes)", s.get("phase_seconds") or {})
            for i, s in enumerate(res["steps"], 1)
        ]
    totals = {name: _sum_phases(res["steps"]) for name, res in runs.items()}
    rows += [(f"{name}: all steps" if len(runs) == 1 else name, t) for name, t in totals.items()]
    head = "".join(f"<th>{html.escape(p)}</th>" for p in phases)
    body = "".join(
        f"<tr><td>{html.escape(label)}</td>"
        + "".join(f"<td>{t.get(p, 0.0):.2f}</td>" for p in phases)
        + "</tr>"
        for label, t in rows
    )
    return f"<table class='timing'><tr><th>seconds</th>{head}</tr>{body}</table>"


def _sum_phases(steps: Sequence[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for s in steps:
        for p, v in (s.get("phase_seconds") or {}).items():
            out[p] = out.get(p, 0.0) + float(v)
    return out


# -------------------------------------------------------------------- page
def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def page(
    title: str,
    runs: dict[str, dict[str, Any]],
    rows: Sequence[dict[str, Any]],
    bias: Sequence[dict[str, Any]],
    figures: Sequence[Figure],
) -> str:
    """The whole page: setup, accuracy table, prediction shares, figures, environment, timing."""
    first = next(iter(runs.values()))
    cfg = first.get("config", {})
    seen = rows[0]["seen"] if rows else []
    head = "".join(f"<th>{n}</th>" for n in seen)
    body = "".join(
        f"<tr><td>{html.escape(r['label'])}</td>"
        + "".join(f"<td>{100 * a:.1f}</td>" for a in r["accuracy"])
        + f"<td><b>{100 * r['average']:.1f}</b></td><td>{100 * r['final']:.1f}</td></tr>"
        for r in rows
    )
    shares = "".join(
        f"<tr><td>{html.escape(b['method'])}</td><td>{label(b['classifier'])}</td>"
        f"<td>{_pct(b['share_newest'])} ({_pct(b['test_share_newest'])})</td>"
        f"<td>{_pct(b['share_first'])} ({_pct(b['test_share_first'])})</td>"
        f"<td>{_pct(b['forgetting'])}</td><td>{_pct(b['backward_transfer'])}</td></tr>"
        for b in bias
    )
    learner = cfg.get("learner", {})
    setup = (
        f"seed {cfg.get('seed')}, class order {first.get('class_order')}, backbone "
        f"{learner.get('backbone')}, K={learner.get('memory_size')}, epochs {learner.get('epochs')}, "
        f"lr {learner.get('lr')}"
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>icarl report: {html.escape(title)}</title>
<style>{STYLE}</style></head><body>
<h1>icarl report: {html.escape(title)}</h1>
<p>{html.escape(setup)}</p>
<p>Classifiers: <b>NME</b> nearest mean of exemplars (iCaRL, Alg. 1); <b>CNN</b> the network's
outputs (for iCaRL: hybrid1); <b>iNCM</b> nearest class mean over all training data (an oracle
ablation). Each method's own classifier is the unbracketed row.</p>
<h2>Accuracy on all classes seen so far (%), by number of classes</h2>
<table><tr><th>method</th>{head}<th>average incremental</th><th>final</th></tr>{body}</table>
<h2>Where the predictions go, after the last step</h2>
<p>Share (%) of test predictions in the newest step's classes and in the first step's classes;
in brackets the share of test images that belong there. Forgetting and backward transfer (BWT)
in accuracy points, from the accuracy matrix (after step s, accuracy on the classes of step j).</p>
<table><tr><th>method</th><th>classifier</th><th>newest</th><th>first</th><th>forgetting</th>
<th>BWT</th></tr>{shares}</table>
<h2>Figures</h2>{figures_html(figures)}
<h2>Environment</h2>
<p>Where and how each run was trained: another thread count, device or precision sums in
another order and, training being chaotic, acts like another seed.</p>
{environment_html(runs)}
<h2>Timing</h2>
<p>Wall seconds per phase (<code>phase_seconds</code> in results.json). Phases nest:
<i>previous</i> (the previous network's outputs) runs inside <i>train</i>.</p>
{timing_html(runs)}
</body></html>
"""
