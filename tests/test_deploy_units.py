"""The pieces of a deployed model: the file, name matching, scores, inputs, errors."""

import json

import numpy as np
import pytest
import torch

from icarl import ICaRL, load
from icarl.cli import main
from icarl.cli.learn import default_out
from icarl.data import Dataset, Split
from icarl.deploy import DeployError, learn_step, plan_step, scores, top_k
from icarl.deploy.inputs import InputError, conform_images, read_inputs
from icarl.files.model import read_model as read_state
from icarl.tools.export_images import export_pngs

NAMES = {0: "zero", 1: "one", 2: "two"}


@pytest.fixture(scope="module")
def tiny(digits):
    """A learner that knows digits 0-2 (named), one epoch: fast, and good enough to rank."""
    learner = ICaRL(
        backbone="small_cnn",
        memory_size=60,
        epochs=2,
        crop_pad=1,
        flip=False,
        batch_size=64,
        progress=False,
        device="cpu",
    )
    train = digits.train.of_classes([0, 1, 2])
    learner.partial_fit(train.x, train.y)
    learner.class_names_ = dict(NAMES)
    return learner


@pytest.fixture(scope="module")
def saved(tiny, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.icarl"
    tiny.save(str(path))
    return path


def _named(digits, classes, names):
    """The digits of ``classes``, relabelled 0..n-1 and given ``names``."""

    def part(split):
        sub = split.of_classes(classes)
        lut = torch.full((10,), -1, dtype=torch.long)
        lut[torch.tensor(classes)] = torch.arange(len(classes))
        return Split(sub.x, lut[sub.y])

    return Dataset("named", part(digits.train), part(digits.test), tuple(names))


# ------------------------------------------------------------------- the file
def test_saved_file_holds_everything_and_loads_weights_only(tiny, saved, digits):
    state = read_state(saved)  # torch.load(weights_only=True)
    assert state["class_names"] == NAMES
    assert state["preprocessing"]["image_shape"] == [1, 8, 8] and state["preprocessing"]["channels"] == 1
    assert set(state["versions"]) >= {"icarl", "torch", "numpy", "python"}
    assert state["saved_at"] and state["history"][0]["time"]
    assert state["config"]["memory_size"] == 60 and state["pixel_mean"].shape == (1, 8, 8)
    back = load(saved, device="cpu")
    x = digits.test.of_classes([0, 1, 2]).x
    assert np.array_equal(back.predict(x), tiny.predict(x))
    assert torch.allclose(back.decision_scores(x, "cnn"), tiny.decision_scores(x, "cnn"))
    assert back.class_names_ == NAMES and back.memory_.counts() == tiny.memory_.counts()


def test_scores_rank_like_the_classifiers(tiny, digits):
    x = digits.test.of_classes([0, 1, 2]).x
    cos = scores(tiny, x, "nme")
    assert float(cos.min()) >= -1.0 - 1e-5 and float(cos.max()) <= 1.0 + 1e-5
    labels, vals = top_k(tiny, x, 5, "nme")  # k larger than the classes: capped at 3
    assert labels.shape == (len(x), 3) and bool((vals[:, :-1] >= vals[:, 1:]).all())
    assert np.array_equal(labels[:, 0].numpy(), tiny.predict(x, "nme"))
    sig = scores(tiny, x, "cnn")
    assert float(sig.min()) >= 0.0 and float(sig.max()) <= 1.0
    assert np.array_equal(top_k(tiny, x, 1, "cnn")[0][:, 0].numpy(), tiny.predict(x, "cnn"))


# --------------------------------------------------------------- name matching
def test_plan_matches_names_refuses_known_and_numbers_new_after_old(tiny, digits):
    data = _named(digits, [2, 3, 4], ["two", "three", "four"])
    with pytest.raises(DeployError, match="--allow-known"):
        plan_step(tiny, data, allow_known=False)
    plan = plan_step(tiny, data, allow_known=True)
    assert plan.known == {0: 2}  # "two" is the model's label 2
    assert plan.new == {1: 3, 2: 4} and plan.names == {3: "three", 4: "four"}
    only_known = _named(digits, [0, 1], ["zero", "one"])
    with pytest.raises(DeployError, match="nothing to learn"):
        plan_step(tiny, only_known, allow_known=True)


def test_learn_step_with_known_classes_skips_them_and_scores_all(saved, digits):
    learner = load(saved, device="cpu")
    learner.set_params(epochs=1)
    data = _named(digits, [1, 7], ["one", "seven"])  # "one" known, "seven" new
    report = learn_step(learner, data, allow_known=True, source="test")
    assert report.added == {3: "seven"} and report.skipped_known == ["one"]
    assert learner.classes_.tolist() == [0, 1, 2, 3] and learner.class_names_[3] == "seven"
    assert learner.history_[-1]["classes"] == [3] and learner.history_[-1]["names"] == ["seven"]
    n_test = int((digits.test.y == 7).sum()) + int((digits.test.y == 1).sum())
    assert report.n_test_all == n_test and report.n_test_new == int((digits.test.y == 7).sum())
    assert 0.0 <= report.accuracy_all["nme"] <= 1.0


# ---------------------------------------------------------------- images in
def test_conform_images_converts_channels_and_resizes():
    from PIL import Image

    rgb = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    grey = conform_images(rgb, (1, 8, 8), "t")
    pil = np.asarray(Image.fromarray(rgb[0].permute(1, 2, 0).numpy()).convert("L"))
    assert grey.shape == (2, 1, 8, 8) and np.abs(grey[0, 0].numpy().astype(int) - pil).max() <= 1
    assert torch.equal(conform_images(grey, (3, 8, 8), "t"), grey.expand(-1, 3, -1, -1))
    flat = torch.full((1, 1, 16, 16), 77, dtype=torch.uint8)
    assert torch.equal(conform_images(flat, (1, 8, 8), "t"), torch.full((1, 1, 8, 8), 77, dtype=torch.uint8))
    with pytest.raises(InputError, match="4 channels"):
        conform_images(torch.zeros(1, 4, 8, 8, dtype=torch.uint8), (3, 8, 8), "t")


def test_read_inputs_files_folders_and_npz(tmp_path, digits):
    export_pngs(digits, tmp_path / "png", classes=[3], splits=["test"])
    np.savez(tmp_path / "imgs.npz", x=digits.test.x[:4].permute(0, 2, 3, 1).numpy())  # NHWC
    files = sorted((tmp_path / "png").rglob("*.png"))
    inputs = read_inputs([str(tmp_path / "png"), str(files[0]), str(tmp_path / "imgs.npz")], (1, 8, 8))
    n = len(files)
    assert inputs.x.shape == (n + 1 + 4, 1, 8, 8)
    assert inputs.folders[: n + 1] == ["3"] * (n + 1) and inputs.folders[-4:] == [""] * 4
    assert torch.equal(inputs.x[-4:], digits.test.x[:4]) and inputs.ids[-1].endswith("imgs.npz[3]")
    first = digits.test.x[digits.test.y == 3][0]
    assert torch.equal(inputs.x[0], first)  # PNG round trip is exact


def test_default_out_names_the_step_next_to_the_model(tmp_path):
    assert default_out(tmp_path / "m.icarl", 2) == tmp_path / "m.step2.icarl"
    assert default_out(tmp_path / "m.step2.icarl", 3) == tmp_path / "m.step3.icarl"


# ---------------------------------------------------------------- bad inputs
def _error(capsys, argv):
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("icarl: error: ") and err.count("\n") == 1
    return err


def test_bad_inputs_are_one_line_errors(saved, tmp_path, capsys):
    assert "does not exist" in _error(capsys, ["predict", str(tmp_path / "nope.icarl"), str(saved)])
    corrupt = tmp_path / "corrupt.icarl"
    corrupt.write_bytes(b"not a model" * 10)
    assert "not an icarl model file" in _error(capsys, ["info", str(corrupt)])
    truncated = tmp_path / "truncated.icarl"
    truncated.write_bytes(saved.read_bytes()[:4000])
    assert "damaged" in _error(capsys, ["info", str(truncated)])
    evil = tmp_path / "evil.icarl"
    torch.save({"format_version": 1, "payload": print}, evil)  # a pickled function
    assert "refuses to unpickle" in _error(capsys, ["predict", str(evil), str(tmp_path)])
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert "cannot decode image" in _error(capsys, ["predict", str(saved), str(text)])
    np.savez(tmp_path / "rgba.npz", x=np.zeros((2, 8, 8, 4), dtype=np.uint8))  # NHWC
    assert "4 channels" in _error(capsys, ["predict", str(saved), str(tmp_path / "rgba.npz")])
    np.savez(tmp_path / "floats.npz", x=np.zeros((2, 8, 8), dtype=np.float32))
    assert "uint8" in _error(capsys, ["predict", str(saved), str(tmp_path / "floats.npz")])
    assert "does not exist" in _error(capsys, ["predict", str(saved), str(tmp_path / "missing.png")])


def test_predict_json_names_and_scores(saved, tmp_path, capsys, digits):
    export_pngs(digits, tmp_path / "png", classes=[0, 1, 2, 7], splits=["test"])
    capsys.readouterr()
    root = tmp_path / "png" / "test"
    assert main(["predict", str(saved), str(root), "--json", "--labels-from-folders", "--top-k", "3"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["classifier"] == "nme" and "cosine" in doc["score"]
    assert {t["name"] for p in doc["predictions"] for t in p["top"]} <= set(NAMES.values())
    # folders are "0", "1", "2", "7": none names a class of this model ("zero", ...)
    assert doc["accuracy"]["images"] == 0 and doc["accuracy"]["ignored"] == len(doc["predictions"])
    assert all(p["true"] is None for p in doc["predictions"])


def test_learn_in_place_replaces_the_model(saved, tmp_path, digits, capsys):
    model = tmp_path / "m.icarl"
    model.write_bytes(saved.read_bytes())
    export_pngs(digits, tmp_path / "seven", classes=[7])
    argv = ["learn", str(model), "--data", str(tmp_path / "seven"), "--out", str(model)]
    assert main([*argv, "--epochs", "1", "--quiet"]) == 2  # --out MODEL alone: refused
    assert "pass --in-place" in capsys.readouterr().err and model.read_bytes() == saved.read_bytes()
    assert main([*argv, "--epochs", "1", "--quiet", "--in-place"]) == 0
    assert "accuracy on the new classes" in capsys.readouterr().out
    learned = load(model, device="cpu")
    assert learned.classes_.tolist() == [0, 1, 2, 3] and learned.class_names_[3] == "7"
    assert not (tmp_path / "m.step2.icarl").exists()


def test_model_saved_for_cuda_loads_where_there_is_none(saved, tmp_path, digits):
    state = read_state(saved)
    state["config"]["device"] = "cuda"
    path = tmp_path / "cuda.icarl"
    torch.save(state, path)
    learner = load(path)  # CPU where CUDA is absent, CUDA where present
    x = digits.test.of_classes([0, 1, 2]).x
    assert learner.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    agree = (learner.predict(x) == load(saved, device="cpu").predict(x)).mean()
    assert float(agree) > 0.95  # equal on CPU; CUDA arithmetic may flip a borderline case
