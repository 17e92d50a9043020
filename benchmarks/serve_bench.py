"""Prediction latency and throughput of ``icarl serve`` on loopback, against ``icarl predict``
run as one process per request.

    python benchmarks/serve_bench.py                       # small_cnn and resnet32, 32x32 RGB
    python benchmarks/serve_bench.py --quick               # shorter windows, fewer CLI runs
    python benchmarks/serve_bench.py --out bench.json

For each backbone: a model trained for one epoch on synthetic 32x32 RGB images (10 classes;
what the numbers measure is the serving path, not accuracy) is served by ``icarl serve`` in
its own process (``--predict-threads 1 --learn-threads 1``: the two shares of a 2-CPU
machine). Clients (threads, each one keep-alive connection) send one 32x32 PNG per request
(``Content-Type: image/png``) for a fixed window, 1, 4 and 16 at a time: first with the
server idle, then while a learn job (a new class of 100 images, many epochs) trains in its
own process. Then ``icarl predict MODEL image.png`` is run as a process per request by 1, 4
and 16 clients at a time. Latency is per request, measured by the client (p50, p99);
throughput is requests completed per second of the window. The machine's load average is
printed at the start and the end: read the figures with it.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from icarl import ICaRL

CLIENTS = (1, 4, 16)


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"


def synthetic(classes: int, per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each class a colour with per-pixel noise: uint8 (N, 3, 32, 32) and labels."""
    rng = np.random.default_rng(seed)
    colours = rng.integers(0, 256, (classes, 3, 1, 1))
    x = colours.repeat(per_class, 0) + rng.integers(-60, 61, (classes * per_class, 3, 32, 32))
    y = np.arange(classes).repeat(per_class)
    return torch.from_numpy(np.clip(x, 0, 255).astype(np.uint8)), torch.from_numpy(y)


def make_model(backbone: str, path: Path) -> Path:
    x, y = synthetic(10, 100, 0)
    learner = ICaRL(backbone=backbone, memory_size=200, epochs=1, progress=False, batch_size=64)
    learner.partial_fit(x, y)
    learner.save(path)
    return path


def png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image.transpose(1, 2, 0)).save(buf, format="PNG")
    return buf.getvalue()


# ------------------------------------------------------------------ server side
def start_server(model: Path, store: Path) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "icarl", "serve", str(model), "--store", str(store), "--port", "0"]
    cmd += ["--no-access-log", "--predict-threads", "1", "--learn-threads", "1"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("listening on "):
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
            return proc, line.split()[-1].rstrip("/").removeprefix("http://")
    raise SystemExit(f"the server did not start (exit {proc.wait()})")


def request(host: str, method: str, path: str, body: bytes | None = None, kind: str = "") -> dict[str, Any]:
    conn = http.client.HTTPConnection(host, timeout=600)
    conn.request(method, path, body=body, headers={"Content-Type": kind} if kind else {})
    doc: dict[str, Any] = json.loads(conn.getresponse().read())
    conn.close()
    return doc


def clients(host: str, image: bytes, n: int, seconds: float) -> dict[str, Any]:
    """``n`` clients sending ``image`` for ``seconds``: latencies (s) and throughput."""
    latencies: list[list[float]] = [[] for _ in range(n)]
    failures: list[int] = [0] * n
    stop = time.monotonic() + seconds

    def client(i: int) -> None:
        conn = http.client.HTTPConnection(host, timeout=600)
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            conn.request("POST", "/predict", body=image, headers={"Content-Type": "image/png"})
            response = conn.getresponse()
            response.read()
            latencies[i].append(time.perf_counter() - t0)
            failures[i] += response.status != 200
        conn.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return summarise([v for per in latencies for v in per], time.monotonic() - t0, sum(failures))


def summarise(latencies: list[float], wall: float, failures: int = 0) -> dict[str, Any]:
    ms = sorted(1000 * v for v in latencies)
    p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))] if ms else float("nan")
    return {
        "requests": len(ms),
        "failures": failures,
        "p50_ms": round(statistics.median(ms), 2) if ms else None,
        "p99_ms": round(p99, 2),
        "per_s": round(len(ms) / wall, 2),
    }


def start_learning(host: str, model_classes: int) -> str:
    x, _ = synthetic(model_classes + 1, 100, 1)
    parts = [png(img.numpy()) for img in x[-100:]]
    boundary = "benchboundary"
    body = (
        b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="new"; filename="{i}.png"\r\n\r\n'.encode()
            + p
            + b"\r\n"
            for i, p in enumerate(parts)
        )
        + f"--{boundary}--\r\n".encode()
    )
    doc = request(host, "POST", "/learn?epochs=200", body, f"multipart/form-data; boundary={boundary}")
    job: str = doc["job"]["id"]
    while request(host, "GET", f"/jobs/{job}")["state"] != "training":
        time.sleep(0.5)
    return job


def serve_rows(model: Path, name: str, image: bytes, seconds: float) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        proc, host = start_server(model, Path(tmp) / "served")
        try:
            clients(host, image, 1, 2.0)  # warm-up
            for n in CLIENTS:
                rows.append(
                    {
                        "model": name,
                        "how": "icarl serve",
                        "while": "idle",
                        "clients": n,
                        **clients(host, image, n, seconds),
                    }
                )
                print(rows[-1], flush=True)
            job = start_learning(host, 10)
            for n in CLIENTS:
                before = request(host, "GET", f"/jobs/{job}")
                row = clients(host, image, n, seconds)
                after = request(host, "GET", f"/jobs/{job}")
                assert after["state"] == "training", after  # the job trained through the window
                epochs = after["epoch"] - before["epoch"]
                rows.append(
                    {
                        "model": name,
                        "how": "icarl serve",
                        "while": f"learning ({epochs} epochs in the window)",
                        "clients": n,
                        **row,
                    }
                )
                print(rows[-1], flush=True)
            request(host, "POST", f"/jobs/{job}/cancel")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    return rows


def processes(cmd: list[str], n: int, per: int) -> list[float]:
    """``n`` clients each running ``cmd`` ``per`` times in a row: the latency of every run."""
    latencies: list[float] = []
    lock = threading.Lock()

    def client() -> None:
        for _ in range(per):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            with lock:
                latencies.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=client) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def cli_rows(model: Path, name: str, image: bytes, runs: dict[int, int]) -> list[dict[str, Any]]:
    """``icarl predict`` as one process per request; ``runs``: clients -> requests per client."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "image.png"
        path.write_bytes(image)
        cmd = [sys.executable, "-m", "icarl", "predict", str(model), str(path), "--json", "--threads", "1"]
        for n, per in runs.items():
            t0 = time.monotonic()
            latencies = processes(cmd, n, per)
            rows.append(
                {
                    "model": name,
                    "how": "icarl predict (a process per request)",
                    "while": "idle",
                    "clients": n,
                    **summarise(latencies, time.monotonic() - t0),
                }
            )
            print(rows[-1], flush=True)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    out = [
        "| model | served by | while | clients | requests | p50 ms | p99 ms | requests/s |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['model']} | {r['how']} | {r['while']} | {r['clients']} | {r['requests']} | "
            f"{r['p50_ms']} | {r['p99_ms']} | {r['per_s']} |"
        )
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbones", default="small_cnn,resnet32")
    p.add_argument("--seconds", type=float, default=10.0, help="window per row (default 10)")
    p.add_argument("--quick", action="store_true", help="5 s windows, fewer icarl predict runs")
    p.add_argument("--out", help="write the rows as JSON here")
    args = p.parse_args()
    seconds = 5.0 if args.quick else args.seconds
    runs = {1: 2, 4: 1, 16: 1} if args.quick else {1: 4, 4: 2, 16: 1}
    print(f"load average at start: {load()} ({os.cpu_count()} CPUs)", flush=True)
    image = png(synthetic(10, 1, 2)[0][3].numpy())
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for backbone in args.backbones.split(","):
            t0 = time.monotonic()
            model = make_model(backbone, Path(tmp) / f"{backbone}.icarl")
            print(f"{backbone}: model trained in {time.monotonic() - t0:.0f} s", flush=True)
            rows += serve_rows(model, backbone, image, seconds)
            rows += cli_rows(model, backbone, image, runs)
    print(f"load average at end: {load()}")
    print(table(rows))
    if args.out:
        Path(args.out).write_text(json.dumps({"rows": rows, "load_end": load()}, indent=2))


if __name__ == "__main__":
    main()
