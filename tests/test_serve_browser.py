"""The web page of ``icarl serve`` in a real headless Chromium (the system's package), driven
over the DevTools protocol: drop images and see their predictions, name a new class, drop a
few images of it, watch it learn, and see it predicted by the new version. Screenshots of
the page before and after learning are written to ``ICARL_SCREENSHOTS`` (a folder) when set,
else under the test's temporary folder. Slow: run with ``-m slow``."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from serve_helpers import digits, make_model, png

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("python_multipart")
pytest.importorskip("websockets")

from icarl.serve import Options, open_service
from icarl.serve.server import start_background

sync_client = pytest.importorskip("websockets.sync.client")

pytestmark = pytest.mark.slow
BROWSER = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None
)


class Page:
    """One browser tab over the Chrome DevTools protocol (a websocket of JSON messages)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=120))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result

    def eval(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait(self, expression: str, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                value = self.eval(expression)
            except AssertionError:  # the page is not there yet
                value = None
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(
            f"{what} within {timeout} s; the page shows: {self.eval('document.body.innerText')}"
        )

    def set_files(self, selector: str, files: list[Path]) -> None:
        """What dropping or choosing files does: the input's files set, its change event fired."""
        root = self.send("DOM.getDocument")["root"]["nodeId"]
        node = self.send("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        self.send("DOM.setFileInputFiles", files=[str(f) for f in files], nodeId=node)

    def type(self, selector: str, text: str) -> None:
        self.eval(f"document.querySelector({json.dumps(selector)}).focus()")
        self.send("Input.insertText", text=text)

    def click(self, selector: str) -> None:
        box = self.eval(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def screenshot(self, path: Path) -> Path:
        shot = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


@contextlib.contextmanager
def browser(url: str, profile: Path) -> Iterator[Page]:
    """Chromium showing ``url``, and its tab; the browser ends with the block."""
    assert BROWSER is not None
    proc = subprocess.Popen(
        [
            BROWSER,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "--window-size=1280,900",
            url,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (active.exists() and active.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.1)
        port = active.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as response:
            targets = json.loads(response.read())
        tab = next(t for t in targets if t["type"] == "page")
        with sync_client.connect(tab["webSocketDebuggerUrl"], max_size=None) as ws:
            yield Page(ws)
    finally:
        proc.kill()
        proc.wait()


def write_images(folder: Path, name: str, images: Any) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(images):
        path = folder / f"{name}{i}.png"
        path.write_bytes(png(image))
        paths.append(path)
    return paths


@pytest.mark.skipif(BROWSER is None, reason="needs Chromium (apt-get install chromium)")
def test_the_page_predicts_and_learns_a_new_class(tmp_path: Path) -> None:
    model = make_model(tmp_path / "digits.icarl", epochs=15)
    shots = Path(os.environ.get("ICARL_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(0).integers(0, 256, (1, 3, 48, 48), dtype=np.uint8)
    probes = [
        *write_images(tmp_path / "probe", "seven", digits(7, "test", 1)),
        *write_images(tmp_path / "probe", "three", digits(3, "test", 1)),
        *write_images(tmp_path / "probe", "noise", noise),
    ]
    teach = write_images(tmp_path / "teach", "seven", digits(7, "train", 20))
    running = start_background(open_service(model, tmp_path / "served", Options()))
    try:
        with browser(running.url, tmp_path / "profile") as page:
            page.send("Page.enable")
            page.wait(
                "document.getElementById('version').textContent === '1'",
                60,
                "the page did not load the model",
            )
            assert page.eval("document.getElementById('token-row').offsetParent === null")  # no token here
            page.set_files("#predict-files", probes)
            page.wait(
                "document.querySelectorAll('#predictions .card').length === 3", 60, "no predictions shown"
            )
            labels = page.eval(
                "[...document.querySelectorAll('#predictions .label')].map(e => e.textContent)"
            )
            assert labels[1] == "3" and labels[2] == "unknown" and labels[0] != "seven"
            page.type("#class-name", "seven")
            page.type("#epochs", "4")
            page.set_files("#learn-files", teach)
            page.wait(
                "!document.getElementById('learn-button').disabled", 10, "the learn button stays disabled"
            )
            page.screenshot(shots / "serve-page-before.png")
            page.click("#learn-button")
            page.wait(
                "document.getElementById('job-state').textContent === 'training'",
                120,
                "the job did not train",
            )
            page.screenshot(shots / "serve-page-learning.png")
            page.wait(
                "document.getElementById('job-state').textContent === 'done'", 300, "the job did not finish"
            )
            page.wait("document.getElementById('version').textContent === '2'", 30, "version 2 not shown")
            page.wait(
                "[...document.querySelectorAll('#predictions .why')]"
                ".every(e => e.textContent.endsWith('version 2'))",
                60,
                "the images were not predicted again by version 2",
            )
            after = page.eval("[...document.querySelectorAll('#predictions .label')].map(e => e.textContent)")
            assert after == ["seven", "3", "unknown"], after
            chips = page.eval(
                "[...document.querySelectorAll('#class-list .chip')]"
                ".map(e => e.firstChild.textContent.trim())"
            )
            assert chips == ["0", "1", "2", "3", "4", "seven"]
            shot = page.screenshot(shots / "serve-page.png")
            assert shot.stat().st_size > 10_000
    finally:
        running.stop()
