"""Every bad input gets one clear line (CLI exit status 2, no traceback), and nothing
already written is lost. The messages checked here are listed in notes/reliability.md."""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from icarl import ICaRL, load_config
from icarl.cli import main
from icarl.data import Dataset, Split
from icarl.errors import IcarlError
from icarl.experiment import runner
from icarl.files import atomic
from icarl.files.atomic import WriteError, atomic_write
from icarl.files.checkpoint import load_checkpoint

TINY = ["--quiet", "--epochs", "1", "--memory", "40", "--checkpoint-every", "1"]


def write_png(path: Path, size: int = 8, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)


def image_folder(root: Path, counts: dict[str, tuple[int, int]]) -> Path:
    """``root/{train,test}/<class>/<i>.png`` with ``counts[class] = (n_train, n_test)``."""
    for c, (n_train, n_test) in counts.items():
        for split, n in (("train", n_train), ("test", n_test)):
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                write_png(root / split / c / f"{i}.png", seed=hash((c, split, i)) % 1000)
    return root


def run_cli(capsys, *args: str) -> str:
    """Run ``icarl run``; assert exit status 2 and ONE line on stderr; return that line."""
    assert main(["run", *TINY, *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("icarl: error: ") and err.count("\n") == 1 and "Traceback" not in err
    return err.strip()


GOOD = {"a": (4, 2), "b": (4, 2)}


def truncated(root: Path) -> None:
    p = image_folder(root, GOOD) / "train" / "a" / "1.png"
    p.write_bytes(p.read_bytes()[:60])


def corrupt(root: Path) -> None:
    (image_folder(root, GOOD) / "test" / "b" / "0.png").write_bytes(b"not an image at all")


def mixed_sizes(root: Path) -> None:
    write_png(image_folder(root, GOOD) / "train" / "b" / "9.png", size=10)


def no_test_data(root: Path) -> None:
    image_folder(root, {**GOOD, "c": (4, 0)})


def no_training_data(root: Path) -> None:
    image_folder(root, {**GOOD, "c": (0, 2)})


FOLDER_CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "missing": (lambda root: None, "image folder {root} does not exist; pass a folder with one subfolder"),
    "truncated": (truncated, "cannot decode image {root}/train/a/1.png: image file is truncated"),
    "corrupt": (corrupt, "cannot decode image {root}/test/b/0.png: cannot identify image file"),
    "wrong shape": (mixed_sizes, "have different sizes [(3, 8, 8), (3, 10, 10)]; pass image_size"),
    "no test data": (no_test_data, "class 2 (c) has no test images; remove it with --classes or add"),
    "no training data": (no_training_data, "class 2 (c) has no training images; remove it with --classes"),
}


@pytest.mark.parametrize("case", list(FOLDER_CASES))
def test_bad_image_folders(tmp_path, capsys, case):
    make, message = FOLDER_CASES[case]
    root = tmp_path / "data"
    make(root)
    out = tmp_path / "run"
    err = run_cli(
        capsys, "--dataset", "imagefolder", "--data", str(root), "--classes-per-step", "1", "--out", str(out)
    )
    assert message.format(root=root) in err
    assert not out.exists()  # nothing was written before the data were checked


def test_good_image_folder_runs(tmp_path, capsys):
    root = image_folder(tmp_path / "data", GOOD)
    out = tmp_path / "run"
    args = ["run", *TINY, "--dataset", "imagefolder", "--data", str(root), "--classes-per-step", "1"]
    assert main([*args, "--out", str(out), "--memory", "4", "--batch-size", "4"]) == 0
    assert load_checkpoint(out).finished


def order_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "order.txt"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--memory", "5"], "memory size K=5 is smaller than the 10 classes of the stream, so m = K // t"),
        (["--classes-per-step", "3"], "10 classes do not split into a first step of 3 and steps of 3"),
        (["--first-step", "11"], "the first step asks for 11 classes but the dataset has 10"),
        (["--classes", "3,12"], "classes [12] are not in digits (labels 0..9); pick existing classes"),
        (
            ["--class-order", "@dup"],
            "class 1 appears twice in the class order file {f}; list each class once",
        ),
        (
            ["--class-order", "@unknown"],
            "class 12 in the class order file {f} is unknown; labels lie in 0..9",
        ),
        (["--class-order", "@words"], "class-order file {f} holds a non-integer entry"),
        (["--checkpoint-every", "-1"], "checkpoint_every is -1; use 0 (after each step only) or more"),
    ],
)
def test_bad_stream_and_config(tmp_path, capsys, args, message):
    texts = {"@dup": "0\n1\n1\n2\n", "@unknown": "0,1,12", "@words": "0 one 2"}
    f = order_file(tmp_path, texts.get(args[-1], ""))
    args = [f if a in texts else a for a in args]
    out = tmp_path / "run"
    assert message.format(f=f) in run_cli(capsys, "--out", str(out), *args)
    assert not out.exists()


# ------------------------------------------------------------ arrays (Python API)
def test_dataset_validation_messages():
    x = torch.zeros(4, 1, 8, 8, dtype=torch.uint8)
    y = torch.tensor([0, 1, 0, 1])

    def check(train: Split, message: str, names: tuple[str, ...] = ("a", "b")) -> None:
        with pytest.raises(IcarlError, match=re.escape(message)):
            Dataset("toy", train, Split(x, y), names).validate()

    check(Split(x.float(), y), "toy train images have dtype torch.float32; expected uint8")
    check(Split(x[:, 0], y), "toy train images have shape (4, 8, 8); expected (N, C, H, W)")
    check(Split(x, y[:3]), "toy train has 4 images but labels of shape (3,)")
    check(Split(x, y + 1), "toy train labels range 1..2 but there are 2 class names; labels must lie in 0..1")
    check(Split(x, y - 1), "labels range -1..0")
    check(Split(torch.zeros(4, 1, 6, 6, dtype=torch.uint8), y), "train images are (1, 6, 6) but test images")


def test_learner_input_messages():
    learner = ICaRL(backbone="mlp", memory_size=10, epochs=1, progress=False, device="cpu")
    x = torch.zeros(6, 1, 8, 8)
    y = torch.tensor([0, 0, 0, 1, 1, 1])
    with pytest.raises(IcarlError, match="images contain NaN or infinite values"):
        learner.partial_fit(x.index_fill(0, torch.tensor([2]), float("nan")), y)
    with pytest.raises(IcarlError, match="images contain NaN or infinite values"):
        learner.partial_fit(x.index_fill(0, torch.tensor([2]), float("inf")), y)
    with pytest.raises(IcarlError, match=re.escape("float images range 255..255; give floats in [0, 1]")):
        learner.partial_fit(x + 255.0, y)  # floats are taken in [0, 1] only
    with pytest.raises(IcarlError, match=re.escape("6 images but labels shaped (5,)")):
        learner.partial_fit(x.byte(), y[:5])
    learner.partial_fit(x.byte(), y)
    with pytest.raises(
        IcarlError, match=re.escape("images are (1, 6, 6) but the model was trained on (1, 8, 8)")
    ):
        learner.partial_fit(torch.zeros(6, 1, 6, 6, dtype=torch.uint8), y + 2)
    with pytest.raises(IcarlError, match="memory size K=10 is smaller than the 12 classes seen"):
        learner.partial_fit(torch.zeros(10, 1, 8, 8, dtype=torch.uint8), torch.arange(2, 12))


# ------------------------------------------------------------ training diverges
def test_nan_loss_stops_keeps_last_good_checkpoint_and_says_so(tmp_path, capsys, monkeypatch):
    import icarl.algorithm.learner as core

    real = core.icarl_bce

    def nan_in_step_2(logits, labels, old_logits=None):
        loss = real(logits, labels, old_logits)
        return loss * float("nan") if old_logits is not None else loss

    monkeypatch.setattr(core, "icarl_bce", nan_in_step_2)
    out = tmp_path / "run"
    err = run_cli(capsys, "--out", str(out), "--classes", "0,1,2,3")
    assert "the training loss became nan in epoch 1 of classes 3-4" in err
    assert f"the last good checkpoint (after step 1) is kept in {out / 'checkpoint.pt'}" in err
    ck = load_checkpoint(out)
    assert ck.steps_done == 1 and ck.training is None
    assert all(torch.isfinite(v).all() for v in ck.learner["net"].values() if v.is_floating_point())
    assert not (out / "results.json").exists()


# ------------------------------------------------------------------ disk full
def enospc(*_a: object, **_k: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class FillingFile:
    """A real file that raises ENOSPC after ``room`` bytes have been written to it."""

    def __init__(self, path: Path | int, room: int) -> None:
        self.f, self.room = open(path, "wb"), room  # noqa: SIM115

    def write(self, data: bytes) -> int:
        if len(data) > self.room:
            self.f.write(data[: self.room])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.f.write(data)

    def __getattr__(self, name: str) -> object:
        return getattr(self.f, name)

    def __enter__(self) -> FillingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.f.close()


@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
def test_disk_full_keeps_the_previous_file(tmp_path, monkeypatch, where):
    path = tmp_path / "checkpoint.pt"
    atomic_write(path, b"old" * 100)
    if where == "write":
        monkeypatch.setattr(atomic.os, "fdopen", lambda fd, mode: FillingFile(fd, 50))
    else:
        monkeypatch.setattr(atomic.os, where, enospc)
    with pytest.raises(WriteError) as e:
        atomic_write(path, b"new" * 1000)
    monkeypatch.undo()
    assert str(e.value) == (
        f"cannot write {path}: the disk is full; the previous checkpoint.pt is kept; "
        f"free some space, then resume with icarl run --resume {tmp_path}"
    )
    assert path.read_bytes() == b"old" * 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]  # no temporary left


def test_disk_full_during_a_run_then_resume(tmp_path, capsys, monkeypatch):
    real, calls = atomic.os.replace, [0]

    def fill_on_third(src, dst):
        calls[0] += Path(dst).name == "checkpoint.pt"  # the third checkpoint write
        if calls[0] == 3:
            enospc()
        real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", fill_on_third)
    out = tmp_path / "run"
    err = run_cli(capsys, "--out", str(out), "--classes", "0,1,2,3")
    assert (
        f"cannot write {out / 'checkpoint.pt'}: the disk is full; the previous checkpoint.pt is kept" in err
    )
    monkeypatch.undo()
    assert load_checkpoint(out).describe() == "step 1, epoch 1"
    assert main(["run", "--quiet", "--resume", str(out)]) == 0
    assert load_checkpoint(out).finished and (out / "results.json").is_file()


def test_first_write_failing_says_nothing_was_written(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic.os, "fsync", enospc)
    cfg = load_config("digits", [{"data": {"classes": [0, 1]}, "learner": {"epochs": 1, "progress": False}}])
    with pytest.raises(WriteError, match=re.escape("the disk is full; no checkpoint.pt was written")):
        runner.run(cfg, tmp_path / "run")


def test_deterministic_mode_names_an_operation_without_deterministic_kernel(tmp_path, monkeypatch):
    import icarl.algorithm.learner as core

    def cuda_only_failure(*_a, **_k):
        raise RuntimeError(
            "adaptive_avg_pool2d_backward_cuda does not have a deterministic implementation, but you "
            "set 'torch.use_deterministic_algorithms(True)'.\nsecond line"
        )

    monkeypatch.setattr(runner, "set_deterministic", lambda seed: None)  # keep this process as it is
    monkeypatch.setattr(core, "icarl_bce", cuda_only_failure)
    cfg = load_config("digits", [{"data": {"classes": [0, 1]}, "learner": {"epochs": 1, "progress": False}}])
    with pytest.raises(IcarlError) as e:
        runner.run(cfg, tmp_path / "run", deterministic=True)
    assert str(e.value).startswith("--deterministic: adaptive_avg_pool2d_backward_cuda does not have")
    assert str(e.value).endswith("run on the CPU (--device cpu) or without --deterministic")
    assert "\n" not in str(e.value)
