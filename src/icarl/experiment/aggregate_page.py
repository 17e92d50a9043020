"""``aggregate.html``: the page of a grid of repetitions (:mod:`.aggregate`).

Mean ± sd (se) of the average incremental and final accuracy; the accuracy after every step,
mean ± sd; the A/B difference; the figures with captions (the band over repetitions, one per
swept key); and every repetition with a link to its own report and its own numbers, so a
figure's outlier can be traced to the run that made it.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .report_page import Figure, figures_html

STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px}"
    "td{text-align:right}td:first-child{text-align:left}img{max-width:100%}figure{margin:1.5em 0}"
    "figcaption{font-size:0.95em;max-width:900px;color:#333}.wide{overflow-x:auto}"
)

BAND_CAPTION = (
    "Accuracy on the test images of all classes seen so far, after each step, against the number "
    "of classes seen: the mean over the repetitions (line) and one sample standard deviation either "
    "side (band). The legend gives the average incremental accuracy, mean ± sd (%)."
)


def sweep_caption(key: str) -> str:
    return (
        f"Average incremental accuracy (%) against the value of {key}: the mean over the repetitions "
        "with error bars of one sample standard deviation; one line per method and classifier (and "
        "per value of the other swept keys)."
    )


def _pm(r: dict[str, Any], key: str) -> str:
    return f"{100 * r[f'{key}_mean']:.2f} ± {100 * r[f'{key}_sd']:.2f} ({100 * r[f'{key}_se']:.2f})"


def summary_html(table: Sequence[dict[str, Any]]) -> str:
    body = "".join(
        f"<tr><td>{html.escape(r['label'])}</td><td>{_pm(r, 'average')}</td><td>{_pm(r, 'final')}</td></tr>"
        for r in table
    )
    return f"<table><tr><th>method</th><th>average incremental</th><th>final</th></tr>{body}</table>"


def per_step_html(table: Sequence[dict[str, Any]]) -> str:
    """Rows as in the summary; a column per step (by classes seen): mean ± sd (%)."""
    if not table:
        return ""
    seen = table[0]["seen"]
    head = "".join(f"<th>{n}</th>" for n in seen)
    body = "".join(
        f"<tr><td>{html.escape(r['label'])}</td>"
        + "".join(
            f"<td>{100 * m:.1f} ± {100 * sd:.1f}</td>" for m, sd in zip(r["mean"], r["sd"], strict=True)
        )
        + "</tr>"
        for r in table
    )
    return f"<div class='wide'><table><tr><th>method \\ classes seen</th>{head}</tr>{body}</table></div>"


def repetitions_html(out: Path, cells: Sequence[dict[str, Any]]) -> str:
    """A row per finished repetition: its folder (a link to its report.html when there is
    one), what identifies it, and each method's own-classifier average and final accuracy."""
    rows = []
    for c in cells:
        folder = html.escape(c["folder"])
        link = (
            f"<a href='{html.escape(quote(c['folder'], safe='/=,'))}/report.html'>{folder}</a>"
            if (out / c["folder"] / "report.html").is_file()
            else folder
        )
        labels = ", ".join(f"{k} {v}" for k, v in c["labels"].items())
        scores = "; ".join(
            f"{html.escape(m)} {100 * avg:.1f} / {100 * fin:.1f}" for m, (avg, fin) in c["scores"].items()
        )
        rows.append(f"<tr><td>{link}</td><td>{html.escape(labels)}</td><td>{scores}</td></tr>")
    return (
        "<table><tr><th>report</th><th>repetition</th><th>average incremental / final (%), own classifier"
        f"</th></tr>{''.join(rows)}</table>"
    )


def page(
    title: str,
    table: Sequence[dict[str, Any]],
    record: dict[str, Any],
    figures: Sequence[Figure],
    out: Path,
    cells: Sequence[dict[str, Any]],
    ab_text: str = "",
) -> str:
    missing = ", ".join(record["missing"])
    ab = f"<h2>A/B</h2><pre>{html.escape(ab_text)}</pre>" if ab_text else ""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>Accuracy (%), mean ± sample standard deviation (standard "
        "error) over the repetitions.</p>"
        f"<h2>Average incremental and final accuracy</h2>{summary_html(table)}{ab}"
        "<h2>Accuracy after each step</h2><p>Accuracy (%) on all classes seen so far, mean ± sd over "
        f"the repetitions, by the number of classes seen.</p>{per_step_html(table)}"
        f"<h2>Figures</h2>{figures_html(figures)}"
        f"<h2>Repetitions</h2>{repetitions_html(out, cells)}"
        + (f"<p>Not finished (left out): {html.escape(missing)}</p>" if missing else "")
        + "</body></html>\n"
    )
