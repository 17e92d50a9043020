"""Hostile and careless input at every entry point: one line ``icarl: error: ...``, exit
status 2, no traceback, no run folder left behind, nothing overwritten without --force;
a locked run folder; resume with a changed learning rate; missing report files rebuilt.
The cases and messages are listed in docs/reliability.md."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from run_helpers import Crash, crash_after

from icarl import distributed
from icarl.cli import main
from icarl.config import LearnerConfig
from icarl.experiment import preflight
from icarl.files.checkpoint import load_checkpoint
from icarl.files.lock import locked_folder
from icarl.tools.funnel import guarded, user_message
from icarl.train.loop import apply_hyperparameters, param_groups

TINY = ["--quiet", "--epochs", "1", "--memory", "40", "--classes", "0,1,2,3"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1] / "src")}


def one_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """``icarl ARGV`` fails with status 2 and exactly one line on stderr; that line."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("icarl: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One finished tiny run (checkpointed every epoch) and the model it saved."""
    root = tmp_path_factory.mktemp("hostile")
    run, model = root / "run", root / "m.icarl"
    argv = ["run", *TINY, "--checkpoint-every", "1", "--out", str(run), "--save", str(model)]
    assert main(argv) == 0
    return {"root": root, "run": run, "model": model}


# ------------------------------------------------------------------ icarl run: bad values
def _files(tmp: Path) -> dict[str, str]:
    (tmp / "latin1.toml").write_bytes(b"method = '\xe9'\n")
    (tmp / "folder.toml").mkdir()
    (tmp / "scalar.toml").write_text("learner = 3\n")
    (tmp / "a_file").write_text("x")
    return {"latin1": str(tmp / "latin1.toml"), "folder": str(tmp / "folder.toml")}


RUN_CASES = [
    (["--device", "bogus"], "learner.device is 'bogus', which torch does not know"),
    (["--backbone", "nope"], "learner.backbone is 'nope'; choose one of"),
    (["learner.init_weights='{tmp}/none.pt'"], "none.pt does not exist; pass a file saved with torch.save"),
    (["--seed", "-1"], "seed is -1; it must be a finite number in [0, 4294967295]"),
    (["--seed", str(2**40)], "seed is 1099511627776; it must be a finite number in [0, 4294967295]"),
    (["--lr", "nan"], "learner.lr is nan; it must be a finite number in (0, inf)"),
    (["--lr", "inf"], "learner.lr is inf"),
    (["learner.weight_decay=-1"], "learner.weight_decay is -1.0; it must be a finite number in [0, inf)"),
    (["learner.momentum=-0.5"], "learner.momentum is -0.5; it must be a finite number in [0, 1]"),
    (["learner.lr_gamma=2"], "learner.lr_gamma is 2.0; it must be a finite number in (0, 1]"),
    (["learner.temperature=0"], "learner.temperature is 0.0"),
    (["learner.crop_pad=-1"], "learner.crop_pad is -1"),
    (["learner.workers=-1"], "learner.workers is -1"),
    (["--checkpoint-every", "-1"], "checkpoint_every is -1"),
    (["data.memory_budget=-1"], "data.memory_budget is -1.0"),
    (["data.storage='disk'"], "data.storage is 'disk'; choose one of memory, stream, auto"),
    (["data.classes_per_step=0"], "data.classes_per_step is 0; it must be at least 1"),
    (["--dist-timeout", "0"], "--dist-timeout is 0.0; give a positive number of seconds"),
    (["--image-size", "32"], "digits has fixed 8x8 images and cannot be resized; drop --image-size"),
    (["--config", "{latin1}"], "latin1.toml is not UTF-8 text (byte 10); save it as UTF-8"),
    (["--config", "{folder}"], "folder.toml is a folder; pass a .toml file or a preset name"),
    (["--config", "{tmp}/scalar.toml"], "learner must be a table ([learner]), not 3"),
    (["--out", "{tmp}/a_file/run"], "a_file is a file, not a folder; choose another path"),
]
if torch.cuda.is_available():  # pragma: no cover - the CPU-only case is the one to check
    RUN_CASES.append((["--device", "cuda:99"], "but this machine has"))
else:
    RUN_CASES.append((["--device", "cuda"], "but this torch has no usable CUDA device"))


@pytest.mark.parametrize(("args", "message"), RUN_CASES, ids=[" ".join(a) for a, _ in RUN_CASES])
def test_run_refuses_bad_values_in_one_line_and_leaves_no_folder(tmp_path, capsys, args, message):
    files = _files(tmp_path)
    args = [a.format(tmp=tmp_path, **files) for a in args]
    out = tmp_path / "out"
    argv = ["run", *TINY, *args] if "--out" in args else ["run", *TINY, "--out", str(out), *args]
    assert message in one_line(capsys, argv)
    assert not out.exists()  # the corrected command needs no --force


def other_cases(model: Path, tmp: Path) -> list[tuple[list[str], str]]:
    (tmp / "taken.icarl").write_bytes(b"mine")
    return [
        (["compare", "--methods", "icarl", "--device", "bogus", "--out", str(tmp / "c")], "learner.device"),
        (["compare", "--methods", "icarl", "--seed", "-3", "--out", str(tmp / "c")], "seed is -3"),
        (["learn", str(model), "--device", "cuda:x"], "learner.device is 'cuda:x'"),
        (["learn", str(model), "--data", str(tmp), "--out", str(tmp / "taken.icarl")], "pass --force"),
        (["predict", str(model), str(tmp), "--device", "bogus"], "learner.device is 'bogus'"),
        (["info", str(tmp)], "is a folder, not a file"),
        (["report", str(tmp / "nowhere")], "does not exist or is not a folder"),
        (["run", "--resume", str(tmp / "nowhere")], "does not exist; pass the folder of an earlier run"),
    ]


def test_every_command_refuses_bad_input_in_one_line(finished, tmp_path, capsys):
    for argv, message in other_cases(finished["model"], tmp_path):
        assert message in one_line(capsys, argv), argv
    assert not (tmp_path / "c").exists() and not (tmp_path / "nowhere").exists()
    assert (tmp_path / "taken.icarl").read_bytes() == b"mine"


# ------------------------------------------------------------------ outputs, lock
def test_save_never_replaces_a_model_or_a_run_file_checks_writable(finished, tmp_path, capsys, monkeypatch):
    model, run = finished["model"], finished["run"]
    before = model.read_bytes()
    out = tmp_path / "new"
    assert "--save" in one_line(capsys, ["run", *TINY, "--out", str(out), "--save", str(model)])
    assert model.read_bytes() == before and not out.exists()
    results = (run / "results.json").read_bytes()
    err = one_line(capsys, ["run", *TINY, "--out", str(out), "--save", str(out / "results.json")])
    assert "is inside the run folder" in err
    err = one_line(capsys, ["run", "--resume", str(run), "--save", str(run / "results.json")])
    assert "is inside the run folder" in err and (run / "results.json").read_bytes() == results

    def read_only(*_a: object, **_k: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(preflight.tempfile, "mkstemp", read_only)
    err = one_line(capsys, ["run", *TINY, "--out", str(out)])
    assert "--out" in err and "Read-only file system" in err and not out.exists()
    err = one_line(capsys, ["learn", str(model), "--data", str(tmp_path), "--out", str(tmp_path / "x.icarl")])
    assert "--out" in err and "Read-only file system" in err


def test_a_locked_run_folder_is_refused_naming_its_process_and_a_stale_lock_taken_over(tmp_path, capsys):
    out = tmp_path / "run"
    with locked_folder(out):  # another run writes there (a second flock conflicts even in one process)
        err = one_line(capsys, ["run", *TINY, "--out", str(out), "--force"])
        assert f"run folder {out} is in use by process {os.getpid()}" in err
        assert "in use by process" in one_line(capsys, ["run", "--resume", str(out)])
    assert not out.exists()  # the lock's own folder is gone with it
    out.mkdir()
    (out / ".lock").write_text("999999999\n")  # left by a killed run: no process holds it
    assert main(["run", *TINY, "--out", str(out)]) == 0
    assert (out / "results.json").is_file() and not (out / ".lock").exists()


# ------------------------------------------------------------------ damaged files
def _model_variants(model: Path, tmp: Path) -> list[Path]:
    state = torch.load(model, weights_only=True)
    variants = {
        "no_memory": {k: v for k, v in state.items() if k != "memory"},
        "classes_str": {**state, "classes": "abc"},
        "net_list": {**state, "net": [1, 2]},
        "shape_2d": {**state, "image_shape": [8, 8]},
    }
    paths = []
    for name, st in variants.items():
        torch.save(st, tmp / f"{name}.icarl")
        paths.append(tmp / f"{name}.icarl")
    return paths


def test_damaged_models_checkpoints_and_results_give_one_line(finished, tmp_path, capsys):
    for path in _model_variants(finished["model"], tmp_path):
        for argv in (["info", str(path)], ["predict", str(path), str(tmp_path)]):
            err = one_line(capsys, argv)
            assert str(path) in err and ("expected" in err or "lacks the key" in err), err
    run = tmp_path / "run"
    run.mkdir()
    ck = torch.load(finished["run"] / "checkpoint.pt", weights_only=True)
    torch.save({**ck, "results": {"no": "steps"}}, run / "checkpoint.pt")
    assert "lacks the key 'results.steps'" in one_line(capsys, ["run", "--resume", str(run)])
    torch.save({**ck, "learner": {**ck["learner"], "history": 3}}, run / "checkpoint.pt")
    assert "history holds int, expected list" in one_line(capsys, ["run", "--resume", str(run)])
    bad_step = '{"method": "icarl", "dataset": "d", "class_order": [], "steps": [3]}'
    for text in ("{not json", "[1, 2]", bad_step):
        (run / "results.json").write_text(text)
        assert str(run / "results.json") in one_line(capsys, ["report", str(run)])


# ------------------------------------------------------------------ resume
def test_resume_may_change_the_learning_rate_and_records_it(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    crash_after(monkeypatch, 3)  # before step 1, step 1 epoch 1, after step 1: then killed
    with pytest.raises(Crash):
        main(["run", *TINY, "--checkpoint-every", "1", "--out", str(run)])
    monkeypatch.undo()
    assert main(["run", "--resume", str(run), "--lr", "0.25", "--quiet"]) == 0
    assert "resumed with learner.lr 0.5 -> 0.25" in capsys.readouterr().out
    results = json.loads((run / "results.json").read_text())
    assert results["resumed"] == [{"step": 2, "epoch": None, "changed": {"learner.lr": [0.5, 0.25]}}]
    assert load_checkpoint(run).config["learner"]["lr"] == 0.25 and len(results["steps"]) == 2
    assert "learner.memory_size: 40 in the checkpoint, 7 now" in one_line(
        capsys, ["run", "--resume", str(run), "--memory", "7"]
    )


def test_resume_changes_the_optimizer_of_an_interrupted_step():
    net = torch.nn.Linear(2, 2)
    old = LearnerConfig(lr=2.0, epochs=10, lr_milestones=(3, 6))
    opt = torch.optim.SGD(param_groups(net, old), lr=old.lr, momentum=old.momentum)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(old.milestones()), old.lr_gamma)
    for _ in range(4):  # past the first milestone: lr 2.0 * 0.2
        opt.step()
        sched.step()
    new = LearnerConfig(lr=0.5, epochs=10, lr_milestones=(3, 6), momentum=0.5)
    apply_hyperparameters(net, new, opt, sched)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.1, 0.1])
    assert opt.param_groups[0]["momentum"] == 0.5
    assert opt.param_groups[0]["weight_decay"] == 2 * old.weight_decay
    for _ in range(2):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.02)  # the second milestone, from the new lr


def test_finished_run_rebuilds_missing_report_refuses_another_world_size(finished, capsys, monkeypatch):
    run = finished["run"]
    (run / "report.html").unlink()
    (run / "accuracy.png").write_bytes(b"")  # a figure left empty stays (it exists); the page is rebuilt
    assert main(["run", "--resume", str(run)]) == 0
    assert "(rebuilt)" in capsys.readouterr().out and (run / "report.html").stat().st_size > 0
    ck = torch.load(run / "checkpoint.pt", weights_only=True)
    torch.save({**ck, "world_size": 2}, run / "checkpoint.pt")
    err = one_line(capsys, ["run", "--resume", str(run)])
    assert "written by 2 process(es), this resume runs 1" in err and "--allow-world-size-change" in err
    assert main(["run", "--resume", str(run), "--allow-world-size-change"]) == 0
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")  # torchrun --max-restarts: its own checkpoint
    assert main(["run", *TINY, "--out", str(run), "--allow-world-size-change"]) == 0
    assert "continuing the run" in capsys.readouterr().out


# ------------------------------------------------------------------ the funnel itself
def test_funnel_maps_user_errors_only_and_a_closed_pipe_is_quiet(finished):
    assert user_message(OSError(errno.ENOSPC, "No space left on device", "f")).startswith("f: No space")
    assert user_message(ZeroDivisionError()) is None

    def bug() -> int:
        raise KeyError("a programming error")

    with pytest.raises(KeyError):  # a bug keeps its traceback
        guarded(bug)
    read, write = os.pipe()
    os.close(read)  # `icarl info --json MODEL | head -0`
    proc = subprocess.run(
        [sys.executable, "-m", "icarl", "info", "--json", str(finished["model"])],
        stdout=write,
        stderr=subprocess.PIPE,
        env=ENV,
        timeout=120,
    )
    os.close(write)
    assert proc.returncode == 141 and proc.stderr == b""


# ------------------------------------------------------------------ torchrun (2 gloo processes)
def _two_ranks(rank: int, port: int, out: str) -> None:
    """Rank 1 starts with another lr, then stalls past the 2 s --dist-timeout."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    distributed.setup(timeout_s=2)
    found: dict[str, str] = {}
    try:
        distributed.check_agreement("configuration", {"lr": 0.5 if rank else 2.0})
    except distributed.DistributedError as e:
        found["agree"] = str(e)
    distributed.check_agreement("configuration", {"lr": 2.0})  # equal: no error
    if rank == 1:
        time.sleep(4)
    else:
        try:
            distributed.barrier()
        except RuntimeError as e:
            found["stall"] = str(distributed.failure_message(e))
    torch.save(found, Path(out) / f"rank{rank}.pt")
    distributed.cleanup()


@pytest.mark.slow
def test_ranks_compare_their_configuration_and_a_stalled_rank_is_named(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    mp.spawn(_two_ranks, args=(port, str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert r0["agree"] == r1["agree"] and "configuration of rank(s) [1] differs from rank 0's" in r0["agree"]
    assert r0["stall"].startswith("rank(s) 1 did not answer within 2 s (--dist-timeout)")
