"""``icarl serve``'s parts that need no HTTP stack: request bodies to images, the unknown
rule's calibration, the serving folder, the Host check, and the command line without the
``serve`` extra."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from serve_helpers import make_model, png

import icarl
from icarl.cli import main as cli_main
from icarl.data.formats.images import decode_image
from icarl.deploy import scores
from icarl.deploy.inputs import conform_images
from icarl.errors import IcarlError
from icarl.files.atomic import temp_path
from icarl.serve import server as http
from icarl.serve.guard import host_of, hostname
from icarl.serve.payload import Limits, RequestError, decode, from_array, json_array, layout, read_npy
from icarl.serve.store import Store, StoreError
from icarl.serve.unknown import Calibration, UnknownRule, calibrate

SHAPE = (1, 8, 8)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model(tmp_path_factory.mktemp("model") / "digits.icarl")


# ------------------------------------------------------------------ payload
@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((8, 8), (1, 1, 8, 8)),
        ((8, 8, 3), (1, 3, 8, 8)),
        ((5, 8, 8), (5, 1, 8, 8)),
        ((5, 8, 8, 3), (5, 3, 8, 8)),
        ((5, 3, 8, 8), (5, 3, 8, 8)),
        ((5, 1, 8, 8), (5, 1, 8, 8)),
    ],
)
def test_array_layouts(shape: tuple[int, ...], expected: tuple[int, ...]) -> None:
    arr = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape).astype(np.uint8)
    out = layout(arr, "x")
    assert out.shape == expected
    if len(shape) == 4 and shape[3] == 3:  # NHWC: the same pixel lands where it belongs
        assert out[2, 1, 4, 6] == arr[2, 4, 6, 1]


def test_array_layouts_refused() -> None:
    for shape in [(5, 4, 8, 8), (8,), (2, 2, 2, 2, 2)]:
        with pytest.raises(RequestError) as e:
            layout(np.zeros(shape, np.uint8), "x")
        assert e.value.status == 400


def test_npy_bodies() -> None:
    arr = np.random.default_rng(0).integers(0, 256, (3, 8, 8), dtype=np.uint8)
    buf = io.BytesIO()
    np.save(buf, arr)
    assert np.array_equal(read_npy(buf.getvalue(), "b"), arr)
    fortran = io.BytesIO()
    np.save(fortran, np.asfortranarray(arr))
    assert np.array_equal(read_npy(fortran.getvalue(), "b"), arr)
    floats = io.BytesIO()
    np.save(floats, arr.astype(np.float32))
    with pytest.raises(RequestError, match="float32"):
        read_npy(floats.getvalue(), "b")
    objects = io.BytesIO()
    np.save(objects, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(RequestError, match="object"):
        read_npy(objects.getvalue(), "b")
    # a header that declares far more pixels than follow: refused before allocating them
    huge = io.BytesIO()
    np.lib.format.write_array_header_1_0(huge, {"descr": "|u1", "fortran_order": False, "shape": (10**12,)})
    with pytest.raises(RequestError, match="declares"):
        read_npy(huge.getvalue() + b"\0" * 64, "b")
    with pytest.raises(RequestError, match="declares"):
        read_npy(buf.getvalue()[:-10], "b")
    with pytest.raises(RequestError, match="not a readable"):
        read_npy(buf.getvalue()[:20], "b")


def test_json_arrays() -> None:
    assert json_array([[0, 255], [3, 4]], "x").dtype == np.uint8
    for bad, what in [
        ([[0, 1], [2]], "ragged"),
        ([[0.5, 1]], "whole"),
        ([[0, 256]], "0..255"),
        ([], "whole"),
    ]:
        with pytest.raises(RequestError, match=what):
            json_array(bad, "x")


def test_png_decoded_as_icarl_predict_does(tmp_path: Path) -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (3, 20, 30), dtype=np.uint8)
    data = png(rgb)
    (tmp_path / "a.png").write_bytes(data)
    expected = conform_images(decode_image(tmp_path / "a.png", channels=1)[None], SHAPE, "a")
    assert torch.equal(decode(data, SHAPE, "a", Limits()), expected)


def test_images_refused_with_their_status() -> None:
    data = png(np.zeros((1, 100, 100), np.uint8))
    for blob, most, status in [
        (data[:60], 10**6, 400),  # truncated after the header
        (b"not an image at all", 10**6, 400),
        (data, 5000, 413),  # 100x100 over a 5,000-pixel limit
    ]:
        with pytest.raises(RequestError) as e:
            decode(blob, SHAPE, "x", Limits(max_pixels=most))
        assert e.value.status == status, str(e.value)
    gif = io.BytesIO()
    Image.new("L", (8, 8)).save(gif, format="GIF")
    with pytest.raises(RequestError) as e:
        decode(gif.getvalue(), SHAPE, "x", Limits())
    assert e.value.status == 415
    with pytest.raises(RequestError) as e:
        from_array(np.zeros((9, 8, 8), np.uint8), SHAPE, "x", Limits(), most=8)
    assert e.value.status == 413


# ------------------------------------------------------------- unknown rule
def test_calibration_is_each_class_exemplars_cosine_spread(model: Path) -> None:
    learner = icarl.load(model)
    cal = calibrate(learner)
    assert cal is not None
    ex_x, ex_y = learner.memory_.as_tensors()
    for k, label in enumerate(learner.classes_.tolist()):
        own = scores(learner, ex_x[ex_y == label], "nme")[:, k].double()
        assert cal.count[k] == len(own)
        assert cal.mean[k] == pytest.approx(float(own.mean()), abs=1e-6)
        assert cal.sd[k] == pytest.approx(float(own.std()), abs=1e-6)
    rule = UnknownRule("calibrated", k=4.0)
    thr = rule.thresholds(cal)
    cos = scores(learner, ex_x, "nme")
    best, index = cos.max(1)
    known = rule.known(best, index, cos, cal)
    manual = cos[torch.arange(len(index)), index].double() >= thr[index]
    assert torch.equal(known, manual)
    assert known.float().mean() > 0.95  # a class's own exemplars are known (k = 4)
    assert not rule.known(best, index, torch.full_like(cos, -1.0), cal).any()  # far from every mean


def test_rules_min_score_off_and_pooled_sd() -> None:
    best = torch.tensor([0.2, 0.5, 0.9])
    index = torch.zeros(3, dtype=torch.long)
    assert UnknownRule("min-score", min_score=0.5).known(best, index, None, None).tolist() == [
        False,
        True,
        True,
    ]
    assert UnknownRule("off").known(best, index, None, None).all()
    assert UnknownRule("calibrated").known(best, index, None, None).all()  # nothing to calibrate on
    cal = Calibration((0.9, 0.8), (0.01, 0.02), (20, 20))
    assert Calibration.from_dict(cal.to_dict(), 2) == cal
    assert Calibration.from_dict(cal.to_dict(), 3) is None
    assert Calibration.from_dict({"mean": [float("nan")] * 2, "sd": [0, 0], "count": [1, 1]}, 2) is None
    assert Calibration.from_dict("junk", 2) is None


# ------------------------------------------------------------------- store
def test_store_create_publish_and_clean(model: Path, tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    store.create(model)
    assert store.file(1).read_bytes() == model.read_bytes()
    assert store.current() == 1 and store.next_version() == 2
    store.file(3).write_bytes(model.read_bytes())  # written, never published
    stale = temp_path(store.file(4))
    stale.write_bytes(b"half a file")
    pointer_tmp = temp_path(store.root / "current.json")
    pointer_tmp.write_bytes(b"{")
    opened = store.open()
    assert opened.version == 1 and opened.unpublished == [3]
    assert sorted(opened.removed) == sorted(["versions/.v4.icarl.tmp", ".current.json.tmp"])
    assert not stale.exists() and not pointer_tmp.exists()
    assert store.next_version() == 4  # never reuses the unpublished number
    store.publish(3)
    assert store.current() == 3 and store.pointer()["file"] == "versions/v3.icarl"


def test_store_refusals(model: Path, tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    store.create(model)
    other = make_model(tmp_path / "other.icarl", classes=(5, 6), epochs=1)
    with pytest.raises(StoreError, match="another model"):
        store.check_source(other)
    store.check_source(model)
    (store.root / "current.json").write_text("{not json")
    with pytest.raises(StoreError, match="damaged"):
        store.current()
    (store.root / "current.json").write_text(json.dumps({"version": 7}))
    with pytest.raises(StoreError, match="missing"):
        store.current()
    (store.root / "current.json").unlink()
    (store.root / "current.json").symlink_to(store.file(1))
    with pytest.raises(StoreError, match="link"):
        store.current()


def test_host_names() -> None:
    assert hostname("127.0.0.1:8000") == "127.0.0.1"
    assert hostname("[::1]:8000") == "::1"
    assert hostname("LocalHost") == "localhost"
    assert host_of("example.org:443") == "example.org"
    assert host_of("Example.org:8443") == "example.org:8443"


# ------------------------------------------------------------ command line
def test_the_cli_does_not_import_the_http_stack() -> None:
    stack = "('starlette', 'uvicorn', 'multipart', 'python_multipart')"
    code = f"import sys, icarl.cli; print(sorted(m for m in {stack} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert (
        subprocess.run([sys.executable, "-m", "icarl", "serve", "--help"], capture_output=True).returncode
        == 0
    )


def test_serve_refusals_are_one_line(
    model: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(http, "missing", lambda: ["uvicorn"])
    assert cli_main(["serve", str(model)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'icarl[serve]'" in err
    monkeypatch.setattr(http, "missing", lambda: [])
    monkeypatch.delenv("ICARL_SERVE_TOKEN", raising=False)
    assert cli_main(["serve", str(model), "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "token" in err
    assert cli_main(["serve", str(model), "--max-images", "0", "--port", "0"]) == 2
    assert "--max-images" in capsys.readouterr().err
    assert cli_main(["serve", str(model.parent), "--port", "0"]) == 2  # a folder that is not a serving folder
    assert "not a serving folder" in capsys.readouterr().err
    assert not (model.parent / ".lock").exists()
    assert os.listdir(model.parent) == ["digits.icarl"]
    garbage = model.parent / "garbage.icarl"
    garbage.write_bytes(b"PK\x03\x04 not really")
    assert cli_main(["serve", str(garbage), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "garbage.icarl" in err
    garbage.unlink()
    assert os.listdir(model.parent) == ["digits.icarl"]  # no serving folder left behind


def test_the_listening_socket_is_tcp() -> None:
    """asyncio sets TCP_NODELAY only on sockets created as IPPROTO_TCP; without it every answer
    waited ~40 ms for the client's delayed ACK (measured: /health 44 ms, 0.5 ms with it)."""
    sock = http.bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP and sock.getsockname()[1] > 0
        with pytest.raises(IcarlError, match="choose another --port"):
            http.bind("127.0.0.1", sock.getsockname()[1])
    finally:
        sock.close()
