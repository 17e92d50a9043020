"""No write through a link (issue 22, finding 2): a lock, temporary file, log, report or model
file that is a symbolic link (planted to a victim file) is never followed. Temporary files are
created with O_EXCL | O_NOFOLLOW after the link is removed, final names are replaced by
rename (the link goes, its target stays), and a ``.lock`` that is a link is refused in one
line. Each case leaves the victim unchanged."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from run_helpers import Crash, crash_after

from icarl.cli import main
from icarl.files import atomic
from icarl.files.atomic import atomic_write, open_replacing

TINY = ["--quiet", "--epochs", "2", "--memory", "40", "--classes", "0,1,2,3"]
PRECIOUS = "precious data, not icarl's\n"


def one_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("icarl: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny run killed after its second checkpoint (step 1, epoch 1 written), and a finished one."""
    root = tmp_path_factory.mktemp("links")
    mp = pytest.MonkeyPatch()
    crash_after(mp, 2)
    with pytest.raises(Crash):
        main(["run", *TINY, "--checkpoint-every", "1", "--out", str(root / "killed")])
    mp.undo()
    assert main(["run", *TINY, "--out", str(root / "finished")]) == 0
    return {"killed": root / "killed", "finished": root / "finished"}


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim.txt"
    path.write_text(PRECIOUS)
    return path


def _copy(src: Path, tmp: Path) -> Path:
    dst = tmp / src.name
    shutil.copytree(src, dst)
    return dst


def _plant(link: Path, victim: Path) -> None:
    with_link = link.parent
    with_link.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(link):
        link.unlink()
    link.symlink_to(victim)


@pytest.mark.parametrize("name", [".checkpoint.pt.tmp", "epochs.csv", "checkpoint.pt", ".results.json.tmp"])
def test_resume_writes_no_file_through_a_link(runs, tmp_path, victim, name):
    run = _copy(runs["killed"], tmp_path)
    if name == "checkpoint.pt":  # the final name: the checkpoint is read first, so link a copy
        shutil.copy(run / name, victim)
        before = victim.read_bytes()
        (run / name).unlink()
    else:
        before = victim.read_bytes()
    _plant(run / name, victim)
    assert main(["run", "--resume", str(run), "--quiet"]) == 0
    assert victim.read_bytes() == before
    assert not (run / name).is_symlink()
    assert (run / "results.json").is_file() and not (run / "results.json").is_symlink()


def test_a_lock_that_is_a_link_or_a_hard_link_is_refused_in_one_line(runs, tmp_path, victim, capsys):
    run = _copy(runs["killed"], tmp_path)
    _plant(run / ".lock", victim)
    err = one_line(capsys, ["run", "--resume", str(run)])
    assert f"{run / '.lock'} is a symbolic link" in err and "remove it" in err
    assert victim.read_text() == PRECIOUS
    (run / ".lock").unlink()
    os.link(victim, run / ".lock")  # a hard link: truncating it would empty the victim
    err = one_line(capsys, ["run", "--resume", str(run)])
    assert "is a hard link to another file" in err and victim.read_text() == PRECIOUS
    new = tmp_path / "new"
    new.mkdir()
    _plant(new / ".lock", victim)
    assert "is a symbolic link" in one_line(capsys, ["run", *TINY, "--out", str(new)])
    assert victim.read_text() == PRECIOUS


@pytest.mark.parametrize("name", [".report.html.tmp", "report.html", ".accuracy.png.tmp", "metrics.csv"])
def test_report_replaces_links_without_following_them(runs, tmp_path, victim, name):
    run = _copy(runs["finished"], tmp_path)
    _plant(run / name, victim)
    assert main(["report", str(run)]) == 0
    assert victim.read_text() == PRECIOUS and not (run / name).is_symlink()
    assert (run / "report.html").stat().st_size > 0


def test_save_writes_no_model_through_a_link(runs, tmp_path, victim, capsys):
    run = _copy(runs["finished"], tmp_path)
    model = tmp_path / "m.icarl"
    _plant(tmp_path / ".m.icarl.tmp", victim)
    assert main(["run", "--resume", str(run), "--save", str(model)]) == 0
    assert victim.read_text() == PRECIOUS and model.is_file() and not model.is_symlink()
    _plant(model, victim)  # the final name is a link: it needs --force, then the link is replaced
    assert "--force" in one_line(capsys, ["run", "--resume", str(run), "--save", str(model)])
    assert main(["run", "--resume", str(run), "--save", str(model), "--force"]) == 0
    assert victim.read_text() == PRECIOUS and not model.is_symlink()
    out = tmp_path / "exp"
    _plant(tmp_path / ".exp.labels.json.tmp", victim)
    assert main(["export", str(model), str(out), "--format", "icarl", "--no-exemplars"]) == 0
    assert victim.read_text() == PRECIOUS


def test_the_shared_helper_never_follows_a_link(tmp_path, victim):
    target = tmp_path / "f.txt"
    _plant(atomic.temp_path(target), victim)
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new" and victim.read_text() == PRECIOUS
    _plant(target, victim)
    atomic_write(target, b"newer")  # the final name a link: replaced by the file
    assert not target.is_symlink() and target.read_bytes() == b"newer" and victim.read_text() == PRECIOUS
    log = tmp_path / "log.csv"
    _plant(log, victim)
    with open_replacing(log) as f:
        f.write("a,b\n")
    assert log.read_text() == "a,b\n" and victim.read_text() == PRECIOUS
    dangling = tmp_path / "dangling"
    _plant(atomic.temp_path(dangling), tmp_path / "would_be_created")  # O_CREAT through a link
    atomic_write(dangling, b"x")
    assert not (tmp_path / "would_be_created").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
