"""Bounded loading of what is not data (issue 22, finding 6, and FIFOs of finding 8): model
files, checkpoints, initial weights, configs, class orders and predict's inputs. A file that
would inflate, expand, nest itself or ask for a huge network is refused in one line before
anything that size is made; a FIFO or device is refused by its type before it is opened;
values that size memory have upper bounds. Each: exit 2, one line, no run folder left."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hostile_models import MODEL_CASES, deep_pickle, hostile_checkpoint, hostile_model

import icarl
from icarl.cli import main
from icarl.errors import IcarlError
from icarl.files.model import read_model

TINY = ["--quiet", "--epochs", "1", "--memory", "40", "--classes", "0,1,2,3"]
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes (POSIX)")


def one_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("icarl: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bounds")
    run, model = root / "run", root / "m.icarl"
    assert main(["run", *TINY, "--out", str(run), "--save", str(model)]) == 0
    np.savez(root / "x.npz", x=np.zeros((3, 8, 8), np.uint8))
    return {"root": root, "run": run, "model": model}


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_hostile_model_files_are_refused_by_info_predict_and_load(finished, tmp_path, capsys, case):
    path = hostile_model(read_model(finished["model"]), case, tmp_path / f"{case}.icarl")
    assert path.stat().st_size < 3 << 20  # small on disk (the long name: 2 MiB of it)
    message = MODEL_CASES[case][1]
    for argv in (["info", str(path)], ["predict", str(path), str(finished["root"] / "x.npz")]):
        err = one_line(capsys, argv)
        assert str(path) in err and message in err, (argv, err)
    with pytest.raises(IcarlError, match=message.replace("(", r"\(").replace(")", r"\)")):
        icarl.load(path)


def test_a_pickle_nested_far_beyond_python_recursion_is_refused(tmp_path, capsys):
    path = deep_pickle(tmp_path / "deep.icarl")
    err = one_line(capsys, ["info", str(path)])
    assert "containers nested more than 64 deep" in err and "ICARL_MAX_DEPTH" in err


@pytest.mark.parametrize("case", ["deflated", "expanded", "self_nested", "doubling", "many_outputs"])
def test_hostile_checkpoints_are_refused_by_resume(finished, tmp_path, capsys, case):
    run = tmp_path / "run"
    shutil.copytree(finished["run"], run)
    ck = torch.load(run / "checkpoint.pt", weights_only=True)
    hostile_checkpoint(ck, case, run / "checkpoint.pt")
    err = one_line(capsys, ["run", "--resume", str(run)])
    assert "checkpoint.pt" in err and MODEL_CASES[case][1] in err, err


@needs_fifo
def test_fifos_and_devices_are_refused_by_type_before_reading(finished, tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    out = tmp_path / "out"
    model, x = str(finished["model"]), str(finished["root"] / "x.npz")
    cases = [
        (["info", str(fifo)], "is a FIFO (named pipe), not a file"),
        (["predict", str(fifo), x], "is a FIFO (named pipe), not a file"),
        (["predict", model, str(fifo)], f"input {fifo} is a FIFO (named pipe), not a file or folder"),
        (["run", *TINY, "--out", str(out), "--config", str(fifo)], "is not a regular file"),
        (["run", *TINY, "--out", str(out), "--config", "/dev/zero"], "is not a regular file"),
        (["run", *TINY, "--out", str(out), "--class-order", str(fifo)], "is not a regular file"),
        (["run", *TINY, "--out", str(out), f"learner.init_weights='{fifo}'"], "is a FIFO (named pipe)"),
    ]
    for argv, message in cases:
        assert message in one_line(capsys, argv), argv
    run = tmp_path / "run"
    shutil.copytree(finished["run"], run)
    (run / "checkpoint.pt").unlink()
    os.mkfifo(run / "checkpoint.pt")
    assert "is a FIFO (named pipe)" in one_line(capsys, ["run", "--resume", str(run)])
    assert not out.exists()


def test_config_and_class_order_files_are_bounded(tmp_path, capsys):
    out = tmp_path / "out"
    nested = tmp_path / "nested.toml"
    nested.write_text("a = " + "[" * 50_000 + "]" * 50_000 + "\n")
    big = tmp_path / "big.toml"
    with open(big, "wb") as f:
        f.truncate(2 << 20)  # 2 MiB (sparse)
    order = tmp_path / "order.txt"
    with open(order, "wb") as f:
        f.truncate(32 << 20)
    cases = [
        (["--config", str(nested)], "nests tables or arrays too deeply"),
        (["--config", str(big)], "has 2097152 bytes, more than 1048576"),
        (["--class-order", str(order)], "data.class_order file"),
    ]
    for args, message in cases:
        assert message in one_line(capsys, ["run", *TINY, "--out", str(out), *args]), args
    assert not out.exists()


def test_predict_refuses_an_npz_without_images(finished, tmp_path, capsys):
    empty = tmp_path / "empty.npz"
    np.savez(empty, x=np.zeros((0, 8, 8), np.uint8))
    err = one_line(capsys, ["predict", str(finished["model"]), str(empty)])
    assert "hold no images" in err


BOUNDS = [
    (
        "learner.head_size=1000000000",
        "learner.head_size is 1000000000; it must be a finite number in [0, 100000]",
    ),
    ("learner.crop_pad=100000", "learner.crop_pad is 100000; it must be a finite number in [0, 64]"),
    ("data.image_size=100000", "data.image_size is 100000; it must be a finite number in [0, 2048]"),
    ("learner.batch_size=1000000000", "learner.batch_size is 1000000000"),
    ("learner.eval_batch_size=1000000000", "learner.eval_batch_size is 1000000000"),
    ("learner.workers=100000", "learner.workers is 100000; it must be a finite number in [0, 64]"),
    ("learner.memory_size=1000000000000", "learner.memory_size is 1000000000000"),
    ("learner.epochs=1000000000", "learner.epochs is 1000000000"),
    ("data.classes_per_step=1000000000", "data.classes_per_step is 1000000000"),
]


@pytest.mark.parametrize(("override", "message"), BOUNDS, ids=[b[0].split("=")[0] for b in BOUNDS])
def test_config_values_that_size_memory_have_upper_bounds(tmp_path, capsys, override, message):
    out = tmp_path / "out"
    assert message in one_line(capsys, ["run", *TINY, "--out", str(out), override])
    assert not out.exists()


def test_a_model_file_with_an_out_of_bounds_config_is_refused(finished, tmp_path, capsys):
    state = read_model(finished["model"])
    torch.save({**state, "config": {**state["config"], "head_size": 10**9}}, tmp_path / "m.icarl")
    err = one_line(capsys, ["predict", str(tmp_path / "m.icarl"), str(finished["root"] / "x.npz")])
    assert "head_size is 1000000000" in err
