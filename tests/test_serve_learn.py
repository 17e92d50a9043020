"""Learning while serving, on a real server on 127.0.0.1: predictions keep succeeding while a
learn job runs, answered by version 1 until the swap and by version 2 after it; a second job
is refused while one runs; a restart serves the latest version; a server killed with -9 in
the middle of writing a new version restarts on the version it served, with no temporary
file left and no learn process left running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from serve_helpers import call, digits, make_model, multipart, png, post_images, wait_job

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("python_multipart")

from icarl.files.atomic import PAUSE_ENV, temp_path
from icarl.serve import Options, Store, open_service
from icarl.serve.server import start_background

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model(tmp_path_factory.mktemp("learn") / "digits.icarl")


def sevens(n: int = 20) -> tuple[bytes, dict[str, str]]:
    body, kind = multipart([("seven", f"{i}.png", png(img)) for i, img in enumerate(digits(7, "train", n))])
    return body, {"Content-Type": kind}


def test_predictions_go_on_while_a_class_is_learned(model: Path, tmp_path: Path) -> None:
    store = tmp_path / "served"
    running = start_background(open_service(model, store, Options()))
    url = running.url
    probe = [png(digits(7, n=1)[0]), png(digits(0, n=1)[0])]
    try:
        body, headers = sevens()
        status, doc, _ = call("POST", f"{url}learn?epochs=2", body, headers)
        assert status == 202, doc
        job = doc["job"]
        assert job["state"] in ("queued", "starting") and job["version"] == 2 and job["from_version"] == 1
        status, busy, _ = call("POST", f"{url}learn?epochs=2", body, headers)
        assert status == 409 and job["id"] in busy["error"]
        seen: list[int] = []
        while True:
            status, answer = post_images(f"{url}predict", probe)
            assert status == 200, answer
            seen.append(answer["version"])
            _, state, _ = call("GET", f"{url}jobs/{job['id']}")
            if state["state"] in ("done", "failed") and seen[-1] == 2:
                break
            assert state["state"] != "failed", state
        assert state["state"] == "done" and state["epoch"] == 2 and state["error"] is None
        assert seen[0] == 1 and seen[-1] == 2 and seen == sorted(seen)  # 1 until the swap, then 2
        assert seen.count(1) >= 3  # predictions were answered while the job ran
        status, after = post_images(f"{url}predict?top_k=6", probe)
        names = [t["name"] for t in after["predictions"][0]["top"]]
        assert after["version"] == 2 and "seven" in names
        _, info, _ = call("GET", f"{url}info")
        assert info["version"] == 2 and info["versions"] == [1, 2]
        assert [c["name"] for c in info["classes"]][-1] == "seven" and len(info["classes"]) == 6
        assert info["history"][-1]["names"] == ["seven"]
        assert json.loads((store / "current.json").read_text())["version"] == 2
    finally:
        running.stop()
    assert not (store / ".lock").exists()
    restarted = start_background(open_service(store, None, Options()))  # the folder alone
    try:
        _, health, _ = call("GET", f"{restarted.url}health")
        assert health["version"] == 2 and health["classes"] == 6
    finally:
        restarted.stop()


def test_a_cancelled_job_leaves_nothing_and_frees_the_next(model: Path, tmp_path: Path) -> None:
    running = start_background(open_service(model, tmp_path / "served", Options()))
    store = running.service.store
    try:
        body, headers = sevens(5)
        for _ in range(2):  # the second job is accepted once the first is cancelled
            status, doc, _ = call("POST", f"{running.url}learn?epochs=50", body, headers)
            assert status == 202, doc
            status, cancelled, _ = call("POST", f"{running.url}jobs/{doc['job']['id']}/cancel")
            assert status == 200 and cancelled["id"] == doc["job"]["id"]
            final = wait_job(running.url, doc["job"]["id"], until=("cancelled", "failed", "done"), timeout=60)
            assert final["state"] == "cancelled", final
            pid = final["pid"]
            if pid is not None:
                wait_until(lambda p=pid: not alive(p), 10, "the cancelled learn process is still running")
            _, health, _ = call("GET", f"{running.url}health")
            assert health["version"] == 1 and health["learning"] is None
        assert store.current() == 1 and store.existing() == [1]
    finally:
        running.stop()


def test_a_failed_job_says_why_in_one_line_and_changes_nothing(model: Path, tmp_path: Path) -> None:
    running = start_background(open_service(model, tmp_path / "served", Options()))
    store = running.service.store
    away = store.root / "v1.away"
    try:
        body, headers = sevens(5)
        status, doc, _ = call("POST", f"{running.url}learn?epochs=1", body, headers)
        assert status == 202, doc
        store.file(1).rename(away)  # the learn process (a new interpreter: seconds) finds no model
        final = wait_job(running.url, doc["job"]["id"], timeout=120)
        away.rename(store.file(1))
        assert final["state"] == "failed" and "does not exist" in final["error"]
        assert "\n" not in final["error"]
        _, health, _ = call("GET", f"{running.url}health")  # read right after: the job is over
        assert health["version"] == 1 and health["learning"] is None
        status, answer = post_images(f"{running.url}predict", [png(digits(2, n=1)[0])])
        assert status == 200 and answer["version"] == 1
        assert store.current() == 1 and store.existing() == [1]
        assert not temp_path(store.file(2)).exists()
    finally:
        if away.exists():
            away.rename(store.file(1))
        running.stop()


def launch(model: Path, store: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str, str]:
    """``icarl serve`` in its own process; returns it, its URL (once it listens) and what it
    printed until then."""
    full = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", **env}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "icarl",
            "serve",
            str(model),
            "--store",
            str(store),
            "--port",
            "0",
            "--no-access-log",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=full,
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("listening on "):
            return proc, line.split()[-1], "".join(lines)
    raise AssertionError(f"the server ended (exit {proc.wait()}): {''.join(lines)}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not running
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return True


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} within {timeout} s")


def test_kill_9_while_writing_a_version_loses_nothing(model: Path, tmp_path: Path) -> None:
    store = Store(tmp_path / "served")
    store.create(model)  # made here, so that the server's own start writes nothing
    before = store.file(1).read_bytes()
    # every atomic write of the server and its learn process pauses 30 s halfway
    proc, url, _ = launch(model, store.root, {PAUSE_ENV: "30"})
    try:
        body, headers = sevens(10)
        status, doc, _ = call("POST", f"{url}learn?epochs=1", body, headers)
        assert status == 202, doc
        half = temp_path(store.file(2))
        wait_until(half.exists, 240, "the learn job did not start writing version 2")
        job = wait_job(url, doc["job"]["id"], until=("saving",), timeout=10)
        status, answer = post_images(f"{url}predict", [png(digits(3, n=1)[0])])
        assert status == 200 and answer["version"] == 1  # still answering, mid-write
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        wait_until(lambda: not alive(job["pid"]), 10, "the learn process outlived its server")
        assert half.exists()  # killed in the middle of the write: the half file is the temporary one
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not store.file(2).exists() and store.current() == 1
    proc, url, head = launch(model, store.root, {})
    assert "note: removed versions/.v2.icarl.tmp, a temporary file of a write that was interrupted" in head
    try:
        _, health, _ = call("GET", f"{url}health")
        assert health["version"] == 1 and health["classes"] == 5
        status, answer = post_images(f"{url}predict", [png(digits(3, n=1)[0])])
        assert status == 200 and answer["version"] == 1
        left = [p.name for p in [*store.root.iterdir(), *store.versions.iterdir()] if p.name.endswith(".tmp")]
        assert left == []
        assert store.file(1).read_bytes() == before
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        assert "Traceback" not in out and proc.returncode in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (store.root / ".lock").exists()
