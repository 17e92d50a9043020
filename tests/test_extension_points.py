"""The four extension examples of docs/architecture.md ("Extension points"), executed as
written there, and what each extension then changes: a method, a data format, a logger and
a classifier rule, each added in one place."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch

from icarl import ICaRL, methods
from icarl.algorithm import classifiers
from icarl.cli import main
from icarl.config import load_config
from icarl.data import load_dataset
from icarl.data import registry as formats
from icarl.deploy.export import program
from icarl.experiment import runner
from icarl.experiment.loggers import LOGGERS

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
TINY = {"learner": {"backbone": "mlp", "epochs": 2, "progress": False}, "data": {"classes": [0, 1, 2, 3]}}


def example(kind: str) -> dict[str, Any]:
    """Run the doc's ``# example: <kind>`` block; its names."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    (code,) = [b for b in blocks if b.startswith(f"# example: {kind}\n")]
    namespace: dict[str, Any] = {"__name__": f"doc_example_{kind.replace(' ', '_')}"}
    exec(compile(code, f"{DOC}:{kind}", "exec"), namespace)
    return namespace


@pytest.fixture
def feature_method():
    yield example("add a method")
    methods.METHODS.unregister("icarl-fd")


@pytest.fixture
def inverted_format():
    yield example("add a data format")
    formats.FORMATS.unregister("digits-inverted")


@pytest.fixture
def jsonl_logger():
    yield example("add a logger")
    LOGGERS.unregister("jsonl")


@pytest.fixture
def mix_rule():
    yield example("add a classifier rule")
    classifiers.CLASSIFIERS.unregister("mix")


def test_the_doc_has_the_four_examples() -> None:
    text = DOC.read_text()
    for kind in ("add a method", "add a data format", "add a logger", "add a classifier rule"):
        assert f"# example: {kind}\n" in text


def test_a_method_from_the_doc_runs_by_name_with_its_feature_loss(feature_method, digits) -> None:
    cfg = load_config("digits", [TINY, {"method": "icarl-fd"}])
    res = runner.run(cfg, None, data=digits)
    plain = runner.run(load_config("digits", [TINY]), None, data=digits)
    assert res["method"] == "icarl-fd" and len(res["steps"]) == 2
    loss = [[e["loss"] for e in s["epochs"]] for s in res["steps"]]
    base = [[e["loss"] for e in s["epochs"]] for s in plain["steps"]]
    assert loss[0] == base[0]  # the first step has no previous network: iCaRL's loss exactly
    assert loss[1] != base[1]  # from the second, the feature term is trained on
    learner = methods.create("icarl-fd", cfg.learner)
    assert isinstance(learner, feature_method["FeatureDistillation"]) and learner.method == "icarl-fd"


def test_a_data_format_from_the_doc_loads_by_name_and_runs(inverted_format, digits, tmp_path) -> None:
    data = load_dataset("digits-inverted")
    assert torch.equal(data.train.x, 255 - digits.train.x) and data.class_names == digits.class_names
    out = tmp_path / "run"
    args = ["run", "--dataset", "digits-inverted", "--classes", "0,1,2,3", "--epochs", "1", "--quiet"]
    assert main([*args, "--backbone", "mlp", "--out", str(out)]) == 0
    assert json.loads((out / "results.json").read_text())["dataset"] == "digits-inverted"


def test_a_logger_from_the_doc_logs_every_epoch_by_name_and_as_an_object(jsonl_logger, tmp_path) -> None:
    out = tmp_path / "run"
    args = ["run", "--classes", "0,1,2,3", "--epochs", "2", "--backbone", "mlp", "--quiet"]
    assert main([*args, "--log", "jsonl", "--out", str(out)]) == 0
    lines = [json.loads(line) for line in (out / "epochs.jsonl").read_text().splitlines()]
    csv_rows = (out / "epochs.csv").read_text().splitlines()[1:]
    assert [(r["step"], r["epoch"]) for r in lines] == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert [float(row.split(",")[2]) for row in csv_rows] == [r["loss"] for r in lines]
    logger = jsonl_logger["JsonLinesLogger"]()  # the same class, passed as an object
    runner.run(load_config("digits", [TINY]), tmp_path / "object", callbacks=[logger])
    assert len((tmp_path / "object" / "epochs.jsonl").read_text().splitlines()) == 4


def test_a_classifier_rule_from_the_doc_is_evaluated_predicted_and_exported(mix_rule, digits) -> None:
    res = runner.run(load_config("digits", [TINY]), None, data=digits)
    assert all(0.0 <= s["accuracy"]["mix"] <= 1.0 for s in res["steps"])  # evaluated every step
    keep = digits.train.y < 2
    learner = ICaRL(backbone="mlp", memory_size=40, epochs=1, progress=False)
    learner.partial_fit(digits.train.x[keep], digits.train.y[keep])
    x = digits.test.x[digits.test.y < 2]
    f = learner.features(x)
    by_hand = (learner.scores(f, "nme") + torch.sigmoid(learner.scores(f, "cnn"))) / 2
    assert torch.allclose(learner.decision_scores(x, "mix"), by_hand)
    assert torch.equal(learner.predict(x, "mix"), learner.labels_of(by_hand))
    module, _ = program(learner, "mix")  # the exported program computes the same rule
    labels, scores = module(x)
    assert torch.equal(labels, learner.predict(x, "mix")) and torch.allclose(scores, by_hand, atol=1e-5)
    assert learner.set_params(classifier="mix").predict(x).tolist() == labels.tolist()
