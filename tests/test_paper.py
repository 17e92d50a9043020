"""``icarl paper cifar100``: the grid of the paper's Figure 2 and Table 1 (icarl.experiment.paper),
its table beside the published values, resuming a killed grid, and --dry-run's work and time.
No real data: a tiny CIFAR-100 in the official format (tests/data_writers.py)."""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from typing import Any

import pytest
from data_writers import write_cifar100
from run_helpers import Crash, crash_after, record_checkpoints, strip_timings

from icarl import methods
from icarl.cli import main
from icarl.config import load_config, parse_override
from icarl.data.orders import ICARL_THEANO_CIFAR100, resolve_order
from icarl.experiment import paper
from icarl.experiment.grid import Cell


def _config(cell: Cell):  # type: ignore[no-untyped-def]
    return methods.resolve(load_config("cifar100-paper", [parse_override(o) for o in cell.overrides]))


def test_the_paper_grid_plans_every_step_size_run_and_order() -> None:
    sp = paper.spec()
    assert sp.classes_per_step == (2, 5, 10, 20, 50) and sp.orders == 3 and sp.epochs == 70
    # iCaRL's run gives iCaRL, hybrid1 and iNCM: six methods run, not eight
    assert sp.runs() == ["icarl", "lwf", "finetune", "fixed", "hybrid2", "hybrid3"]
    cells = paper.plan(sp, seed=1993)
    assert len(cells) == 5 * 6 * 3 and len({c.folder for c in cells}) == len(cells)
    by_folder = {c.folder: c for c in cells}
    cell = by_folder["cps-20/hybrid2/order-1"]
    assert cell.labels == {"classes_per_step": 20, "method": "hybrid2", "order": 1}
    cfg = _config(cell)
    assert (cfg.method, cfg.data.classes_per_step, cfg.data.class_order) == ("hybrid2", 20, "icarl-theano:1")
    assert cfg.learner.distillation == "none" and cfg.learner.classifier == "nme"  # hybrid2's settings
    assert not cfg.evaluation.incm
    icarl = _config(by_folder["cps-2/icarl/order-0"])
    assert icarl.evaluation.incm and icarl.data.classes_per_step == 2  # iNCM from the iCaRL run
    assert _config(by_folder["cps-50/lwf/order-2"]).learner.memory_size == 0
    # order K is the same for every method and step size; K = 0 is the authors' order
    for k in range(3):
        orders = {c.overrides[2] for c in cells if c.labels["order"] == k}
        assert orders == {f"data.class_order=icarl-theano:{k}"}
    assert resolve_order("icarl-theano:0", 100, 1993) == list(ICARL_THEANO_CIFAR100)
    assert resolve_order("icarl-theano:1", 100, 1993) != list(ICARL_THEANO_CIFAR100)


def test_budgets_and_flags_restrict_the_grid_and_bad_values_are_refused() -> None:
    cpu = paper.spec(budget="cpu")
    cells = paper.plan(cpu, seed=1993)
    assert [c.folder for c in cells] == [
        *(f"cps-10/icarl/order-{k}" for k in range(3)),
        *(f"cps-10/finetune/order-{k}" for k in range(3)),
    ]
    assert (cpu.epochs, cpu.incm) == (5, False)
    assert all("evaluation.incm=true" not in c.overrides for c in cells)  # iNCM not asked for
    one = paper.spec(classes_per_step="5,50", methods="hybrid1", orders=2, epochs=7)
    assert one.runs() == ["icarl"] and len(paper.plan(one, 1993)) == 2 * 2
    for bad in ({"classes_per_step": "3"}, {"methods": "icarl,gem"}, {"orders": 0}, {"epochs": 0}):
        with pytest.raises(paper.ConfigError):
            paper.spec(**bad)  # type: ignore[arg-type]
    with pytest.raises(paper.ConfigError, match="divisors of 100"):
        paper.spec(classes_per_step="10,30")


def _fake_results(method: str, avg: dict[str, float], curve: list[float]) -> dict[str, Any]:
    steps = [
        {"step": i, "seen_classes": 10 * (i + 1), "accuracy": {k: v for k, v in avg.items()}}
        for i in range(len(curve))
    ]
    for s, v in zip(steps, curve, strict=True):
        s["accuracy"]["nme"] = v
    return {
        "method": method,
        "dataset": "cifar100",
        "class_order": list(range(100)),
        "steps": steps,
        "average_incremental_accuracy": avg,
        "final_accuracy": {k: None if v is None else v - 0.1 for k, v in avg.items()},
    }


def test_the_table_gives_mean_sd_n_and_only_the_cited_paper_value(tmp_path: Path) -> None:
    sp = paper.spec(classes_per_step="10,20", methods="icarl,hybrid1,incm,lwf", orders=3, epochs=70)
    cells = paper.plan(sp, 1993)
    nme = {0: 0.62, 1: 0.66, 2: 0.65}
    for cell in cells:
        k, run = cell.labels["order"], cell.labels["method"]
        if (cell.labels["classes_per_step"], run, k) == (20, "lwf", 2):
            continue  # not finished: left out and named
        avg = {"nme": nme[k], "cnn": 0.5 + k / 100, "incm": 0.7} if run == "icarl" else {"cnn": 0.3}
        if run == "lwf":
            avg = {"nme": None, "cnn": 0.3 + k / 10}  # type: ignore[dict-item]
        res = _fake_results(run, avg, [nme[k]] * 10)
        (tmp_path / cell.folder).mkdir(parents=True)
        (tmp_path / cell.folder / "results.json").write_text(json.dumps(res))
    found, missing = paper.collect(tmp_path, cells)
    assert missing == ["cps-20/lwf/order-2"]
    rows = {(r["classes_per_step"], r["method"]): r for r in paper.rows(found, sp)}
    r = rows[(10, "icarl")]
    assert r["n"] == 3 and r["classifier"] == "nme"
    assert r["average"]["mean"] == pytest.approx(statistics.mean(nme.values()))
    assert r["average"]["sd"] == pytest.approx(statistics.stdev(nme.values()))
    assert r["final"]["mean"] == pytest.approx(statistics.mean(nme.values()) - 0.1)
    assert rows[(10, "hybrid1")]["average"]["mean"] == pytest.approx(0.51)  # the iCaRL run's CNN
    assert rows[(20, "incm")]["average"]["mean"] == pytest.approx(0.7)
    assert rows[(20, "lwf")]["n"] == 2 and rows[(20, "lwf")]["average"]["mean"] == pytest.approx(0.35)
    # the paper's column: 64.1 for iCaRL at 10 classes per step, empty everywhere else
    assert {k: v.value for k, v in paper.PUBLISHED.items()} == {("icarl", 10): 0.641}
    assert [(k, v["paper"]) for k, v in rows.items() if v["paper"] is not None] == [((10, "icarl"), 0.641)]
    text = paper.format_table(list(rows.values()))
    icarl_line = next(line for line in text.splitlines() if line.startswith("10") and "iCaRL" in line)
    assert "64.1 [1]" in icarl_line and "64.33 ± 2.08" in icarl_line
    assert text.count("64.1") == 1 and text.count("—") == len(rows) - 1 + 1  # + the footnote's
    assert "[1] Rebuffi et al. 2017" in text and "left empty rather than guessed" in text
    md = paper.markdown(paper.record(found, missing, sp, "icarl paper cifar100"))
    assert "| 10 | iCaRL | 64.33 ± 2.08 | 3 | 64.1 [1] |" in md and "cps-20/lwf/order-2" in md


TINY = ["--epochs", "1", "--classes-per-step", "50", "--quiet", "--checksum", "off"]
SMALL = [
    "learner.backbone=small_cnn",
    "learner.memory_size=100",
    "learner.batch_size=32",
    "checkpoint_every=1",
]


@pytest.fixture(scope="module")
def fake_cifar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path, _ = write_cifar100(tmp_path_factory.mktemp("c100"), n_train=400, n_test=200, num_classes=100)
    return path


def _steps(folder: Path) -> list[dict[str, Any]]:
    return strip_timings(json.loads((folder / "results.json").read_text()))["steps"]


def test_a_killed_paper_grid_resumes_and_each_cell_is_an_ordinary_run(
    tmp_path: Path, fake_cifar: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = tmp_path / "ref"  # order 1's cell, run alone as the plain `icarl run` it stands for
    with monkeypatch.context() as m:
        writes = record_checkpoints(m)
        run = ["run", "--config", "cifar100-paper", "--data", str(fake_cifar), *TINY, "--out", str(ref)]
        assert main([*run, *SMALL, "data.class_order=icarl-theano:1", "evaluation.incm=true"]) == 0
    per_run = len(writes)
    out = tmp_path / "grid"
    grid = ["paper", "cifar100", "--data", str(fake_cifar), *TINY, "--orders", "2", "--out", str(out)]
    with monkeypatch.context() as m:
        crash_after(m, per_run + 2)  # in order 1's cell, after its second checkpoint
        with pytest.raises(Crash):
            main([*grid, "--methods", "icarl,hybrid1,incm", *SMALL])
    cell0, cell1 = out / "cps-50/icarl/order-0", out / "cps-50/icarl/order-1"
    assert (cell0 / "results.json").exists() and not (cell1 / "results.json").exists()
    assert (cell1 / "checkpoint.pt").exists()
    before = (cell0 / "results.json").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["paper", "--resume", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "finished, kept" in printed and "resuming from the checkpoint" in printed
    assert (cell0 / "results.json").stat().st_mtime_ns == before
    assert _steps(cell1) == _steps(ref)  # as if never interrupted
    record = json.loads((out / "paper.json").read_text())
    rows = {r["method"]: r for r in record["rows"]}
    assert set(rows) == {"icarl", "hybrid1", "incm"} and all(r["n"] == 2 for r in rows.values())
    ref_res = json.loads((ref / "results.json").read_text())
    assert ref_res["average_incremental_accuracy"]["incm"] in rows["incm"]["average"]["values"]
    assert (out / "paper.md").is_file() and (out / "figure2.png").is_file() and not record["missing"]
    assert "iNCM" in printed and "paper %" in printed
    # a second start over the same folder is refused; --resume of a finished grid keeps every cell
    assert main([*grid, "--methods", "icarl"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["paper", "--resume", str(out)]) == 0
    assert capsys.readouterr().out.count("finished, kept") == 2


def test_paper_refuses_what_it_cannot_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["paper"]) == 2
    assert "icarl paper cifar100" in capsys.readouterr().err
    assert main(["paper", "cifar100", "--classes-per-step", "3", "--dry-run"]) == 2
    assert "divisors of 100" in capsys.readouterr().err
    assert main(["paper", "cifar100", "--methods", "gem", "--dry-run"]) == 2
    assert "choose from" in capsys.readouterr().err
    (tmp_path / "grid.json").write_text(
        json.dumps({"grid_version": 1, "kind": "run", "argv": [], "cells": []})
    )
    assert main(["paper", "--resume", str(tmp_path)]) == 2
    assert "icarl run --resume" in capsys.readouterr().err


def test_dry_run_prints_the_grid_its_work_and_time_and_trains_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["paper", "cifar100", "--budget", "cpu", "--dry-run", "--gpu-rate", "6000"]) == 0
    text = capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []  # nothing written, nothing trained
    lines = {
        m.group(1): m for m in re.finditer(r"^\s+10\s+(\w+)\s.*?\s10\s+3\s+([\d,]+)\s+([\d,]+)", text, re.M)
    }
    assert set(lines) == {"icarl", "finetune"}
    # 500 images per class, K = 2000, batch 128 (the last partial batch dropped), 5 epochs:
    # step 1: 5,000 images -> 39 batches; later steps 5,000 + about 2,000 exemplars -> 54 batches
    assert int(lines["icarl"].group(2).replace(",", "")) == 5 * 128 * (39 + 9 * 54)
    assert int(lines["finetune"].group(2).replace(",", "")) == 5 * 128 * 39 * 10  # no exemplars
    work = {k: [int(m.group(i).replace(",", "")) for i in (2, 3)] for k, m in lines.items()}
    gpu = 3 * sum(t / 6000 + f / (6000 * 40 / 12) for t, f in work.values())  # the assumption's ratio
    assert f"one GPU:      {round(gpu / 60)} min  [GIVEN with --gpu-rate" in text
    assert "this machine:" in text and "MEASURED now: resnet32 at batch 16" in text
    assert "total: 6 runs (cells)" in text and "icarl-theano:0..2" in text
    assert "lr 2.0 divided by 5 after epochs 3 and 4 of 5" in text
    capsys.readouterr()
    assert main(["paper", "cifar100", "--dry-run", "--orders", "1", "--classes-per-step", "50"]) == 0
    text = capsys.readouterr().out
    assert "ASSUMED, not measured" in text and "total: 6 runs" in text
    assert re.search(r"50\s+icarl\s+iCaRL, hybrid1, iNCM\s+2\s+1 ", text)
