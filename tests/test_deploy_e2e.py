"""End to end, as a user would: run on digits 0-4 with --save, learn 5-9 from PNG folders,
predict PNG files of all ten digits, and read the model back with info."""

import hashlib
import json

import pytest

from icarl import load
from icarl.cli import main
from icarl.tools.export_images import export_pngs

EPOCHS = ["--epochs", "4", "--quiet"]


def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def session(tmp_path_factory, digits):
    root = tmp_path_factory.mktemp("deploy")
    new, everything = root / "new", root / "all"
    export_pngs(digits, new, classes=[5, 6, 7, 8, 9])  # new/train/<digit>/*.png, new/test/...
    export_pngs(digits, everything, splits=["test"])  # all/test/<digit>/*.png, ten digits
    model = root / "digits04.icarl"
    run = ["run", "--classes", "0,1,2,3,4", "--classes-per-step", "5", *EPOCHS]
    assert main([*run, "--out", str(root / "run"), "--save", str(model)]) == 0
    before = _md5(model)
    assert main(["learn", str(model), "--data", str(new), *EPOCHS]) == 0
    return {"root": root, "model": model, "md5_before": before, "new": new, "all": everything}


def test_learn_keeps_original_and_writes_stepped_model(session):
    model = session["model"]
    assert _md5(model) == session["md5_before"]
    old = load(model, device="cpu")
    assert sorted(old.classes_) == [0, 1, 2, 3, 4]
    learned = load(session["root"] / "digits04.step2.icarl", device="cpu")
    assert sorted(learned.classes_) == list(range(10))
    assert learned.class_names_ == {c: str(c) for c in range(10)}
    assert [h["names"] for h in learned.history_] == [["0", "1", "2", "3", "4"], ["5", "6", "7", "8", "9"]]
    assert "learn" in learned.history_[1]["source"] and "accuracy" in learned.history_[1]
    assert len(learned.memory_) <= 200
    assert set(learned.memory_.counts().values()) == {20}  # m = K // t = 200 // 10


def test_predict_pngs_of_ten_digits_well_above_chance(session, capsys):
    capsys.readouterr()
    model = session["root"] / "digits04.step2.icarl"
    args = ["predict", str(model), str(session["all"] / "test"), "--labels-from-folders", "--json"]
    assert main([*args, "--top-k", "2"]) == 0
    doc = json.loads(capsys.readouterr().out)
    acc = doc["accuracy"]
    print("ten-class accuracy", acc)
    assert acc["images"] == 364 and acc["ignored"] == 0
    assert acc["top1"] > 0.6  # chance is 0.1
    assert acc["topk"] >= acc["top1"]
    preds = doc["predictions"]
    old = [p for p in preds if int(p["true"]) < 5]
    new = [p for p in preds if int(p["true"]) >= 5]
    for group in (old, new):  # neither the old nor the new classes are lost
        assert sum(p["top"][0]["name"] == p["true"] for p in group) / len(group) > 0.5
    assert all(len(p["top"]) == 2 and p["top"][0]["score"] >= p["top"][1]["score"] for p in preds)


def test_info_lists_classes_steps_and_memory(session, capsys):
    capsys.readouterr()
    assert main(["info", str(session["root"] / "digits04.step2.icarl"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in info["classes"]] == [str(c) for c in range(10)]
    assert all(c["exemplars"] == 20 for c in info["classes"])
    assert info["memory"]["exemplar_bytes"] == 200 * 8 * 8
    assert len(info["steps"]) == 2 and info["preprocessing"]["channels"] == 1
    assert info["versions"]["icarl"] and info["config"]["memory_size"] == 200


def test_learn_refuses_known_classes_and_existing_default_out(session, capsys):
    model = session["model"]
    capsys.readouterr()
    out = session["root"] / "refused.icarl"
    data = str(session["all"] / "test")  # digits 0-9: 0-4 are known
    assert main(["learn", str(model), "--data", data, "--out", str(out), *EPOCHS]) == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert "--allow-known" in err and err.count("\n") == 1
    # the default output (digits04.step2.icarl) exists already: ask for --out
    assert main(["learn", str(model), "--data", str(session["new"]), *EPOCHS]) == 2
    assert "--out" in capsys.readouterr().err
    assert _md5(model) == session["md5_before"]


def test_resume_with_save_writes_the_final_model(tmp_path):
    """``--save`` works on ``--resume`` too, also for a run that had already finished."""
    run = tmp_path / "run"
    args = ["run", "--quiet", "--epochs", "1", "--classes", "0,1,2,3", "--out", str(run)]
    assert main(args) == 0
    model = tmp_path / "m.icarl"
    assert main(["run", "--quiet", "--resume", str(run), "--save", str(model)]) == 0
    learner = load(model)
    assert sorted(learner.classes_) == [0, 1, 2, 3]
    assert [e["names"] for e in learner.history_] == [
        [learner.class_names_[c] for c in e["classes"]] for e in learner.history_
    ]
