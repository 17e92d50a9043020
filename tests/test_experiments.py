"""Baselines, the one-pass evaluation, results.json metrics, compare and report (digits, tiny)."""

import json
from dataclasses import replace

import pytest
import torch

from icarl import methods
from icarl.algorithm.nme import class_means
from icarl.cli import main
from icarl.config import EvaluationConfig, load_config
from icarl.experiment import metrics, runner
from icarl.methods import FixedRepresentation, JointTraining, NearestClassMean

FOUR = {"data": {"classes": [0, 1, 2, 3]}}


def tiny_cfg(method="icarl", epochs=1, **learner):
    learner = {"epochs": epochs, "progress": False, **learner}
    return replace(load_config("digits", [FOUR, {"learner": learner}]), method=method)


def two_steps(digits, cfg):
    stream = runner.make_stream(cfg, digits)
    return [(s.train.x, s.train.y) for s in stream]


def test_settings_of_registered_methods():
    cfg = tiny_cfg().learner
    expect = {
        "lwf": (0, "bce", "cnn"),
        "finetune": (0, "none", "cnn"),
        "fixed": (0, "none", "cnn"),
        "joint": (0, "none", "cnn"),
        "hybrid1": (cfg.memory_size, "bce", "cnn"),
        "hybrid2": (cfg.memory_size, "none", "nme"),
        "hybrid3": (cfg.memory_size, "none", "cnn"),
        "incm": (cfg.memory_size, "bce", "nme"),
    }
    for name, (k, dist, clf) in expect.items():
        c = methods.create(name, cfg).config
        assert (c.memory_size, c.distillation, c.classifier) == (k, dist, clf), name
    assert isinstance(methods.create("fixed", cfg), FixedRepresentation)
    for name, (k, dist, clf) in expect.items():  # the run's one resolved config carries them
        run_cfg = methods.resolve(replace(tiny_cfg(), method=name))
        assert (run_cfg.learner.memory_size, run_cfg.learner.distillation, run_cfg.learner.classifier) == (
            k,
            dist,
            clf,
        ), name
    assert isinstance(methods.create("joint", cfg), JointTraining)
    assert isinstance(methods.create("incm", cfg), NearestClassMean)


def test_fixed_representation_freezes_backbone_and_old_rows(digits):
    cfg = tiny_cfg("fixed", epochs=10, lr=2.0)  # at 0.5 the 2-thread run is below the bar (0.76)
    (x1, y1), (x2, y2) = two_steps(digits, cfg)
    learner = methods.create("fixed", cfg.learner)
    learner.partial_fit(x1, y1)
    before = {k: v.clone() for k, v in learner.net_.backbone.state_dict().items()}
    w_old = learner.net_.head.weight[:2].clone()
    learner.partial_fit(x2, y2)
    after = learner.net_.backbone.state_dict()
    for k, v in before.items():  # weights AND BatchNorm running statistics
        assert torch.equal(v, after[k]), k
    assert torch.equal(learner.net_.head.weight[:2], w_old)
    assert learner.net_.head.weight.shape[0] == 4
    # the new rows did learn: between themselves they tell the new classes apart
    new = torch.isin(digits.test.y, torch.unique(y2))
    pred = learner.logits(digits.test.x[new])[:, 2:].argmax(1) + 2
    assert float((pred == learner.output_index(digits.test.y[new])).float().mean()) > 0.8


def test_joint_trains_on_everything_seen(digits):
    cfg = tiny_cfg("joint")
    (x1, y1), (x2, y2) = two_steps(digits, cfg)
    learner = methods.create("joint", cfg.learner)
    learner.partial_fit(x1, y1).partial_fit(x2, y2)
    assert len(learner.seen_) == len(y1) + len(y2)
    assert sorted(learner.seen_.y.unique().tolist()) == [0, 1, 2, 3]
    assert len(learner.memory_) == 0


def test_incm_learner_means_are_means_of_all_training_data(digits):
    cfg = tiny_cfg("incm")
    (x1, y1), (x2, y2) = two_steps(digits, cfg)
    learner = methods.create("incm", cfg.learner)
    learner.partial_fit(x1, y1).partial_fit(x2, y2)
    x, y = torch.cat([x1, x2]), torch.cat([y1, y2])
    want = class_means(learner.features(x), learner.output_index(y), 4)
    assert torch.allclose(learner.means_, want, atol=1e-5)
    ex_x, ex_y = learner.memory_.as_tensors()  # exemplar means are a different estimate
    assert not torch.allclose(class_means(learner.features(ex_x), ex_y, 4), want, atol=1e-4)


def test_run_records_metrics_consistently(digits, tmp_path):
    res = runner.run(tiny_cfg("icarl"), tmp_path, data=digits)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["classifier"] == "nme" and len(saved["steps"]) == 2
    n_test = [int(torch.isin(digits.test.y, torch.tensor(s["classes"])).sum()) for s in res["steps"]]
    for i, s in enumerate(saved["steps"]):
        assert set(s["accuracy"]) == {"nme", "cnn", "incm"}
        assert s["accuracy"]["incm"] is None  # opt-in: evaluation.incm
        assert all(0.0 <= s["accuracy"][k] <= 1.0 for k in ("nme", "cnn"))
        cm = torch.tensor(s["confusion"])
        assert cm.shape == (2 * (i + 1),) * 2
        assert int(cm.sum()) == sum(n_test[: i + 1])  # every test image of the seen classes, once
        assert float(cm.trace() / cm.sum()) == pytest.approx(s["accuracy"]["nme"], abs=1e-6)
        assert len(s["accuracy_row"]["nme"]) == i + 1
        assert s["top5"]["nme"] >= s["accuracy"]["nme"]
        newest = float(cm[:, -2:].sum() / cm.sum())  # columns of the newest step's classes
        assert s["share_newest"] == pytest.approx(newest, abs=1e-6)
    rows = [s["accuracy_row"]["cnn"] for s in saved["steps"]]
    assert saved["accuracy_matrix"]["cnn"][0] == [rows[0][0], None]
    assert saved["forgetting"]["cnn"] == pytest.approx(metrics.forgetting(metrics.accuracy_matrix(rows)))
    assert saved["average_incremental_accuracy"]["incm"] is None  # iNCM is opt-in (evaluation.incm)
    for s in saved["steps"]:  # wall time per phase, each within the step's training and evaluation
        assert {"train", "herding", "means", "eval"} <= set(s["phase_seconds"])
        assert 0 < s["phase_seconds"]["train"] <= s["train_seconds"] + 1e-3
        assert s["phase_seconds"]["eval"] <= s["eval_seconds"] + 1e-3
    csv_lines = (tmp_path / "metrics.csv").read_text().strip().splitlines()
    assert len(csv_lines) == 3 and csv_lines[0].startswith("step,seen_classes,acc_nme")
    for png in ("exemplars.png", "accuracy.png", "confusion.png", "accuracy_matrix.png", "loss.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "report.html").read_text().count("data:image/png;base64,") == 5


def test_incm_accuracy_in_runner_matches_incm_method(digits):
    res = runner.run(replace(tiny_cfg("incm"), evaluation=EvaluationConfig(incm=True)), None, data=digits)
    assert res["average_incremental_accuracy"]["incm"] is not None
    for s in res["steps"]:  # the runner's iNCM and the iNCM learner's NME use the same means
        assert s["accuracy"]["incm"] == pytest.approx(s["accuracy"]["nme"], abs=1e-6)


def test_finetune_predicts_mostly_the_newest_classes(digits):
    res = runner.run(tiny_cfg("finetune", epochs=8), None, data=digits)
    last = res["steps"][-1]
    assert last["share_newest"] > last["test_share_newest"] + 0.2


def test_compare_and_report_commands(tmp_path, capsys):
    out = tmp_path / "cmp"
    args = ["compare", "--methods", "icarl,finetune", "--epochs", "1", "--quiet"]
    rc = main([*args, "--classes", "0,1,2,3", "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "avg  final" in printed and "finetune" in printed
    cmp = json.loads((out / "compare.json").read_text())
    assert cmp["methods"] == ["icarl", "finetune"]
    orders = [json.loads((out / m / "results.json").read_text())["class_order"] for m in cmp["methods"]]
    assert orders[0] == orders[1] == cmp["class_order"]
    assert cmp["summary"]["finetune"]["classifier"] == "cnn"
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 5  # accuracy, confusion, matrix, loss, icarl's exemplars
    assert "finetune" in page and "icarl [CNN = hybrid1]" in page
    for f in ("report.html", "accuracy.png", "confusion.png"):
        (out / f).unlink()
    assert main(["report", str(out)]) == 0
    assert (out / "accuracy.png").is_file() and (out / "report.html").is_file()
    assert main(["report", str(out / "icarl")]) == 0  # a single run folder too
    assert "data:image/png;base64," in (out / "icarl" / "report.html").read_text()


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["compare", "--methods", "icarl,nope", "--out", str(tmp_path / "x")]) == 2
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("icarl: error: ") for e in err)
    assert "nope" in err[0] and "results.json" in err[1]


def test_step_bar_reports_every_step_and_shows_accuracy(capsys, monkeypatch):
    from icarl.config import RunConfig
    from icarl.experiment import progress
    from icarl.experiment.progress import StepProgress
    from icarl.train.callbacks import RunInfo

    monkeypatch.setattr(progress, "on_terminal", lambda: True)  # bars are drawn on a terminal only
    seen = []
    run = RunInfo(RunConfig(), None, None, 2, {"steps": []})
    bar = StepProgress(seen.append, enabled=True, desc="icarl")
    bar.on_run_start(run)
    for i in range(2):
        run.record = {"step": i, "seen_classes": 2 * (i + 1), "classifier": "nme", "accuracy": {"nme": 0.5}}
        bar.on_step_end(run)
    assert [r["step"] for r in seen] == [0, 1]
    assert bar.bar.n == 2 and "acc=50.0%" in capsys.readouterr().err
    quiet = StepProgress(seen.append, enabled=False)  # --quiet: no bar, the rows still reported
    quiet.on_run_start(run)
    quiet.on_step_end(run)
    assert quiet.bar is None and len(seen) == 3
