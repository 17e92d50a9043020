"""The run report and the repetitions page: captions that say what a figure shows, the loss
curve, the environment and timing, one class order everywhere, readable text in every figure,
and the per-step table and links of aggregate.html. Results are written by hand here (no
training) except where a run's own files are what is tested."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote

import pytest
import torch

from icarl.experiment import aggregate, plots, report
from icarl.experiment.grid import Cell

ORDER = [1, 7, 3, 0, 2, 8]  # arrival order: step 1 brings 1, 7; step 2 brings 3, 0; ...


def fake_results(method: str = "icarl", accs: list[float] | None = None, steps: int = 3) -> dict[str, Any]:
    """A results.json as a run writes it, ``steps`` steps of two classes each."""
    accs = accs or [0.9, 0.8, 0.7][:steps]
    out: list[dict[str, Any]] = []
    for i in range(steps):
        n = 2 * (i + 1)
        out.append(
            {
                "step": i,
                "classes": ORDER[2 * i : 2 * i + 2],
                "seen_classes": n,
                "accuracy": {"nme": accs[i], "cnn": accs[i] - 0.1, "incm": None},
                "accuracy_row": {"nme": [accs[i]] * (i + 1), "cnn": [accs[i] - 0.1] * (i + 1), "incm": None},
                "classifier": "nme",
                "confusion": (torch.eye(n, dtype=torch.long) * 9 + 1).tolist(),
                "phase_seconds": {"train": 1.5 + i, "herding": 0.25, "means": 0.125, "eval": 0.5},
                "epochs": [
                    {"epoch": e, "loss": 1.0 / (e + i), "lr": 2.0 if e < 3 else 0.4, "threads": 1}
                    for e in range(1, 5)
                ],
            }
        )
    return {
        "method": method,
        "dataset": "digits",
        "class_order": ORDER[: 2 * steps],
        "class_names": [f"c{c}" for c in ORDER[: 2 * steps]],
        "config": {"seed": 1, "learner": {"backbone": "small_cnn", "memory_size": 40}},
        "classifier": "nme",
        "steps": out,
        "accuracy_matrix": {"nme": [[a] * (i + 1) + [None] * (steps - i - 1) for i, a in enumerate(accs)]},
        "environment": {
            "device": "cpu",
            "device_name": "Test CPU",
            "cpus": 2,
            "threads_policy": "fixed",
            "threads": 1,
            "load_others": 0.37,
            "bf16_autocast": True,
            "inference_precision": "fp32",
            "deterministic": False,
            "world_size": 1,
            "torch": "2.x",
            "python": "3.x",
            "platform": "linux",
            "command": ["icarl", "run"],
        },
    }


def write_run(folder: Path, res: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(res))
    return folder


def captions(page: str) -> dict[str, str]:
    """figure title -> caption text, from the page's <figcaption>s."""
    found = re.findall(r"<figcaption><b>(.*?)\.</b> (.*?)</figcaption>", page, flags=re.S)
    return {html.unescape(t): html.unescape(c) for t, c in found}


def test_report_captions_loss_curve_environment_and_timing(tmp_path):
    run = write_run(tmp_path / "run", fake_results())
    page = report.build(run).read_text()
    caps = captions(page)
    assert set(caps) == {"Accuracy", "Confusion", "Accuracy matrix", "Training loss"}
    for title, text in caps.items():  # what the figure shows, not a file name
        assert ".png" not in text and len(text.split()) >= 25, title
    assert "rows are the true classes" in caps["Confusion"] and "arrival order" in caps["Confusion"]
    assert "learning rate" in caps["Training loss"]
    assert page.count("data:image/png;base64,") == 4
    assert (run / "loss.png").read_bytes()[:4] == b"\x89PNG"
    env = page[page.index("<h2>Environment") : page.index("<h2>Timing")]
    for shown in ("cpu (Test CPU)", "fixed: 1 (of 2 CPUs)", "0.37", "bf16 autocast", "fp32", "icarl run"):
        assert shown in env, shown
    timing = page[page.index("<h2>Timing") :]
    rows = re.findall(r"<tr><td>(step \d[^<]*)</td>((?:<td>[^<]*</td>)+)</tr>", timing)
    assert [r[0] for r in rows] == ["step 1 (2 classes)", "step 2 (4 classes)", "step 3 (6 classes)"]
    assert re.findall(r"<td>([\d.]+)</td>", rows[1][1]) == [
        "2.50",
        "0.25",
        "0.12",
        "0.50",
    ]  # train, herding, ...
    assert "<td>7.50</td>" in timing  # the train phase summed over the steps: 1.5 + 2.5 + 3.5


def test_loss_figure_follows_the_epochs_of_every_step(tmp_path, monkeypatch):
    figs = capture_figures(monkeypatch)
    plots.loss_figure({"icarl": fake_results()}, tmp_path / "loss.png", ("png",))
    ax = figs[-1].axes[0]
    (line,) = ax.get_lines()[:1]
    assert list(line.get_ydata()) == pytest.approx([1.0 / (e + i) for i in range(3) for e in range(1, 5)])
    labels = [t.get_text() for t in ax.texts]
    assert labels == ["step 1", "step 2", "step 3"]
    assert plots.loss_figure({"old": {"steps": [{"accuracy": {}}]}}, tmp_path / "none.png", ("png",)) is None


def capture_figures(monkeypatch) -> list[Any]:
    """Record every figure the report writes (the real save still runs)."""
    figs: list[Any] = []
    save = plots.save_figure

    def recording(fig: Any, path: Path, formats: Any = ("png",)) -> Path:
        figs.append(fig)
        return save(fig, path, formats)

    monkeypatch.setattr(plots, "save_figure", recording)
    monkeypatch.setattr(report, "save_figure", recording)
    return figs


def shown_font_sizes(fig: Any) -> list[tuple[float, str]]:
    """(size in points as the page shows it, text) of every visible text of ``fig``: report.html
    scales a figure wider than its column down, and its text with it."""
    from matplotlib.text import Text

    width_px = fig.get_figwidth() * fig.dpi
    scale = min(1.0, plots.PAGE_WIDTH_IN * plots.DPI / width_px)
    return [
        (t.get_fontsize() * scale, t.get_text())
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip()
    ]


@pytest.mark.parametrize("methods", [1, 5])
def test_every_text_in_the_figures_reads_at_8_points_or_more(tmp_path, monkeypatch, methods):
    """Multi-panel figures (a compare of five methods) included."""
    figs = capture_figures(monkeypatch)
    runs = {f"method{i}": fake_results(f"method{i}") for i in range(methods)}
    rows = report.table_rows(runs)
    report.accuracy_figure(rows, tmp_path / "a.png", "title")
    report.confusion_figure(runs, tmp_path / "c.png")
    plots.accuracy_matrix_figure(runs, tmp_path / "m.png", ("png",))
    plots.loss_figure(runs, tmp_path / "l.png", ("png",))
    assert len(figs) == 4
    small = [(round(size, 1), text) for fig in figs for size, text in shown_font_sizes(fig) if size < 8.0]
    assert not small


def fake_learner(classes: list[int]) -> Any:
    """What the exemplar grid reads: ``classes_`` (output order) and ``memory_.sets`` keyed by
    output index; each exemplar's pixels hold its class label."""
    sets = {y: torch.full((3, 1, 4, 4), c, dtype=torch.uint8) for y, c in enumerate(classes)}
    return SimpleNamespace(classes_=classes, memory_=SimpleNamespace(sets=sets))


def test_exemplar_rows_follow_the_arrival_order(tmp_path, monkeypatch):
    """The learner sorts the classes within a step (output order 1, 7, 0, 3); the stream's
    arrival order, which the confusion matrix uses, is 1, 7, 3, 0: the rows follow it."""
    figs = capture_figures(monkeypatch)
    learner = fake_learner([1, 7, 0, 3])
    names = {c: f"c{c}" for c in ORDER}
    report.save_exemplar_grid(learner, tmp_path / "ex.png", names, order=ORDER[:4])
    axes = figs[-1].axes
    k = 3  # exemplars a row
    row_labels = [axes[i * k].get_ylabel() for i in range(4)]
    assert row_labels == ["c1", "c7", "c3", "c0"]
    pixels = [int(axes[i * k].get_images()[0].get_array()[0, 0]) for i in range(4)]
    assert pixels == [1, 7, 3, 0]  # each row shows its own class's exemplars
    report.save_exemplar_grid(learner, tmp_path / "ex2.png", names)  # without an order: output order
    assert [figs[-1].axes[i * k].get_ylabel() for i in range(4)] == ["c1", "c7", "c0", "c3"]


def test_a_run_draws_its_exemplars_in_its_class_order(tmp_path, monkeypatch):
    from icarl.cli import main
    from icarl.experiment import evaluation

    seen: dict[str, Any] = {}
    draw = evaluation.save_exemplar_grid

    def spy(learner: Any, path: Path, names: Any = None, **kw: Any) -> Path:
        seen["order"], seen["classes"] = kw.get("order"), [int(c) for c in learner.classes_]
        return draw(learner, path, names, **kw)

    monkeypatch.setattr(evaluation, "save_exemplar_grid", spy)
    out = tmp_path / "r"
    args = ["run", "--classes", "0,1,2,3", "--classes-per-step", "2", "--epochs", "1", "--quiet"]
    assert main([*args, "--memory", "20", "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert seen["order"] == res["class_order"]
    assert sorted(seen["classes"]) == sorted(res["class_order"])


def test_aggregate_page_per_step_table_figures_and_links(tmp_path):
    cells = []
    for lr in (0.5, 1.0):
        for seed, accs in ((1, [0.9, 0.8, 0.5]), (2, [0.7, 0.6, 0.5])):
            folder = f"learner.lr={lr}/seed-{seed}"
            res = fake_results(accs=[a + (lr == 1.0) * 0.05 for a in accs])
            report.build(write_run(tmp_path / folder, res))
            cells.append(Cell(folder, {"learner.lr": lr, "seed": seed}))
    (tmp_path / "learner.lr=1.0/seed-2/report.html").unlink()  # a report not (yet) rebuilt: no link
    aggregate.build(tmp_path, cells)
    page = (tmp_path / "aggregate.html").read_text()
    steps = page[page.index("Accuracy after each step") : page.index("<h2>Figures")]
    row = re.search(r"<tr><td>learner.lr=0.5: icarl</td>((?:<td>[^<]*</td>)+)</tr>", steps)
    assert row is not None
    # step 1: 0.9 and 0.7 -> 80.0 ± 14.1; step 3: 0.5 and 0.5 -> 50.0 ± 0.0
    assert re.findall(r"<td>([^<]*)</td>", row.group(1)) == ["80.0 ± 14.1", "70.0 ± 14.1", "50.0 ± 0.0"]
    caps = captions(page)
    assert set(caps) == {"Accuracy over the repetitions", "Sweep over learner.lr"}
    assert all(len(c.split()) >= 25 for c in caps.values())
    links = re.findall(r"<a href='([^']+)'>", page)
    assert len(links) == 3 and all((tmp_path / unquote(html.unescape(h))).is_file() for h in links)
    assert "learner.lr=1.0/seed-2</td><td>learner.lr 1.0, seed 2</td>" in page
    assert "icarl 73.3 / 50.0" in page  # seed 1, lr 0.5: mean of 0.9, 0.8, 0.5; final 0.5
