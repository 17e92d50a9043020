"""``icarl serve`` answering on 127.0.0.1 (a real uvicorn on a free port, on a thread):
predictions in every body form agree with ``icarl predict``'s; info and health; every
malformed or refused request gets its 4xx as one line of JSON."""

from __future__ import annotations

import http.client
import io
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
import torch
from serve_helpers import call, digits, make_model, multipart, png, post_images

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("python_multipart")

import icarl
from icarl.deploy import top_k
from icarl.serve import Limits, Options, UnknownRule, calibrate, open_service
from icarl.serve.server import Background, start_background

TOKEN = "s3cret-token"
LIMITS = Limits(max_body_bytes=200_000, max_images=8, max_learn_images=40, max_classes=3)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model(tmp_path_factory.mktemp("api") / "digits.icarl")


@pytest.fixture(scope="module")
def server(model: Path) -> Iterator[Background]:
    options = Options(token=TOKEN, limits=LIMITS, rule=UnknownRule("calibrated", k=4.0))
    running = start_background(open_service(model, None, options))
    yield running
    running.stop()


def images_of(labels: list[int]) -> torch.Tensor:
    return torch.cat([digits(c, n=1) for c in labels])


def test_predict_agrees_with_icarl_predict(server: Background, model: Path) -> None:
    x = images_of([0, 1, 2, 3, 4, 0])
    status, doc = post_images(f"{server.url}predict?top_k=3", [png(img) for img in x])
    assert status == 200, doc
    assert doc["version"] == 1 and doc["classifier"] == "nme"
    learner = icarl.load(model)
    labels, values = top_k(learner, x, 3, "nme")
    names = learner.named_classes()
    for row, lab, val in zip(doc["predictions"], labels, values, strict=True):
        assert [t["name"] for t in row["top"]] == [names[int(c)] for c in lab]
        assert [t["score"] for t in row["top"]] == pytest.approx(val.tolist(), abs=2e-6)
        assert row["score"] == row["top"][0]["score"]
        assert row["name"] == (row["top"][0]["name"] if row["known"] else "unknown")
    right = [row["top"][0]["name"] for row in doc["predictions"]] == ["0", "1", "2", "3", "4", "0"]
    assert (
        right or sum(r["top"][0]["name"] == n for r, n in zip(doc["predictions"], "012340", strict=True)) >= 4
    )


def test_every_body_form_gives_the_same_answer(server: Background) -> None:
    x = images_of([3, 1, 4])
    _, multi = post_images(f"{server.url}predict", [png(img) for img in x])
    expected = [r["top"] for r in multi["predictions"]]
    buf = io.BytesIO()
    np.save(buf, x[:, 0].numpy())  # (N, H, W)
    forms = [
        (buf.getvalue(), "application/x-npy"),
        (json.dumps({"images": x.permute(0, 2, 3, 1).tolist()}).encode(), "application/json"),  # NHWC
    ]
    for body, kind in forms:
        status, doc, _ = call("POST", f"{server.url}predict", body, {"Content-Type": kind})
        assert status == 200, doc
        assert [r["top"] for r in doc["predictions"]] == expected
    status, doc, _ = call("POST", f"{server.url}predict", png(x[1]), {"Content-Type": "image/png"})
    assert status == 200 and [r["top"] for r in doc["predictions"]] == expected[1:2]
    big = png(x[2], scale=4)  # 32x32: resized to the model's 8x8 as icarl predict resizes
    status, doc, _ = call(
        "POST", f"{server.url}predict?classifier=cnn&top_k=1", big, {"Content-Type": "image/png"}
    )
    assert status == 200 and doc["classifier"] == "cnn" and len(doc["predictions"][0]["top"]) == 1
    assert 0.0 <= doc["predictions"][0]["score"] <= 1.0


def test_unknown_follows_the_calibrated_rule(server: Background, model: Path) -> None:
    learner = icarl.load(model)
    cal = calibrate(learner)
    assert cal is not None
    thresholds = UnknownRule("calibrated", k=4.0).thresholds(cal)
    noise = torch.randint(0, 256, (8, 1, 8, 8), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    x = torch.cat([images_of([0, 1, 2, 3]), noise[:4]])
    _, doc = post_images(f"{server.url}predict", [png(img) for img in x])
    index = {n: i for i, n in enumerate(learner.named_classes().values())}
    for row in doc["predictions"]:
        best = row["top"][0]
        assert row["known"] == (best["score"] >= float(thresholds[index[best["name"]]]) - 1e-6)
    assert sum(not r["known"] for r in doc["predictions"][4:]) >= 3  # per-pixel noise: unknown
    _, info, _ = call("GET", f"{server.url}info")
    assert info["unknown"]["rule"] == "calibrated"
    assert info["unknown"]["thresholds"] == pytest.approx(thresholds.tolist(), abs=1e-6)


def test_info_and_health(server: Background) -> None:
    status, info, _ = call("GET", f"{server.url}info")
    assert status == 200
    assert [c["name"] for c in info["classes"]] == ["0", "1", "2", "3", "4"]
    assert all(c["exemplars"] == 20 for c in info["classes"])
    assert info["method"] == "icarl" and info["version"] == 1 and info["versions"] == [1]
    assert info["image_shape"] == [1, 8, 8]
    assert info["memory"]["K"] == 100 and info["memory"]["exemplars"] == 100
    assert info["memory"]["network_bytes"] > 0 and info["memory"]["process_rss_bytes"] > 10**7
    assert info["learning"] == {"allowed": True, "token_required": True, "active": None}
    assert info["limits"]["max_images"] == 8
    status, health, _ = call("GET", f"{server.url}health")
    assert status == 200 and health["status"] == "ok" and health["version"] == 1
    assert health["uptime_s"] > 0 and health["learning"] is None


def learn_form(names: list[str], n: int = 3) -> tuple[bytes, dict[str, str]]:
    """A learn request's multipart body and headers: ``n`` images of a 7 under each name."""
    body, kind = multipart(
        [(name, f"{i}.png", png(img)) for name in names for i, img in enumerate(digits(7, "train", n))]
    )
    return body, {"Content-Type": kind}


def errors(server: Background) -> list[tuple[str, int, int, dict[str, object], dict[str, str]]]:
    """(what, expected status, status, answer, headers) of every refused request."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    one = png(digits(1, n=1)[0])
    as_png = {"Content-Type": "image/png"}
    body, sevens = learn_form(["seven"])
    known, known_h = learn_form(["3"])
    unknown, unknown_h = learn_form(["unknown"])
    four, four_h = learn_form(["a", "b", "c", "d"], 1)
    nine, nine_kind = multipart([("i", f"{i}.png", one) for i in range(9)])
    cases = [
        ("no token", 401, "POST", "learn", body, sevens),
        ("wrong token", 401, "POST", "learn", body, {**sevens, "Authorization": "Bearer nope"}),
        ("known class", 409, "POST", "learn", known, {**known_h, **auth}),
        ("class named unknown", 400, "POST", "learn", unknown, {**unknown_h, **auth}),
        ("four classes", 413, "POST", "learn", four, {**four_h, **auth}),
        ("epochs 0", 400, "POST", "learn?epochs=0", body, {**sevens, **auth}),
        ("cross-site page", 403, "POST", "learn", body, {**sevens, **auth, "Origin": "http://evil.example"}),
        ("oversized body", 413, "POST", "predict", b"\0" * 300_000, as_png),
        ("corrupt image", 400, "POST", "predict", one[:50], as_png),
        ("not an image", 400, "POST", "predict", b"hello", as_png),
        ("unsupported type", 415, "POST", "predict", b"hello", {"Content-Type": "text/plain"}),
        ("empty body", 400, "POST", "predict", b"", as_png),
        ("bad JSON", 400, "POST", "predict", b"{", {"Content-Type": "application/json"}),
        ("9 images", 413, "POST", "predict", nine, {"Content-Type": nine_kind}),
        ("top_k 0", 400, "POST", "predict?top_k=0", one, as_png),
        ("classifier", 400, "POST", "predict?classifier=svm", one, as_png),
        ("no such path", 404, "GET", "nothing", None, {}),
        ("wrong method", 405, "GET", "predict", None, {}),
        ("no such job", 404, "GET", "jobs/abc", None, {}),
        ("bad Host", 400, "GET", "health", None, {"Host": "rebound.example"}),
    ]
    out = []
    for what, expected, method, path, data, headers in cases:
        status, doc, got = call(method, f"{server.url}{path}", data, headers)
        out.append((what, expected, status, doc, got))
    return out


def test_refused_requests_get_their_4xx_in_one_line(server: Background) -> None:
    for what, expected, status, doc, headers in errors(server):
        assert status == expected, (what, doc)
        assert set(doc) == {"error"} and isinstance(doc["error"], str), (what, doc)
        assert "\n" not in doc["error"] and "Traceback" not in doc["error"] and doc["error"], what
        if expected == 401:
            assert headers.get("www-authenticate", headers.get("WWW-Authenticate")) == "Bearer"
    status, health, _ = call("GET", f"{server.url}health")
    assert health["learning"] is None and health["version"] == 1  # nothing refused started a job


def test_a_chunked_body_over_the_limit_is_cut_off(server: Background) -> None:
    netloc = urlsplit(server.url).netloc
    conn = http.client.HTTPConnection(netloc, timeout=30)

    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"\0" * 10_000

    conn.request(
        "POST", "/predict", body=chunks(), headers={"Content-Type": "image/png"}, encode_chunked=True
    )
    response = conn.getresponse()
    doc = json.loads(response.read())
    assert response.status == 413 and "at least" in doc["error"]
    conn.close()
