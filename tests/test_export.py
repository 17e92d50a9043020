"""icarl export: the exported program, run in a fresh process without icarl, labels all
1,797 digits images exactly as ``icarl predict`` does, for both classifiers, from a model
trained with the digits preset's precision (bf16 autocast where the CPU has it: inference
is fp32 everywhere, so training's precision cannot split them); inference-only
model files (--no-exemplars) predict, show as such in info, and refuse to learn."""

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from icarl import load
from icarl.cli import main

HAS_ONNX = all(importlib.util.find_spec(p) for p in ("onnx", "onnxscript", "onnxruntime"))
TINY_RUN = ["run", "--epochs", "2", "--lr", "2.0", "--quiet"]  # digits, shorter (at lr 0.5: one label)

# runs in a fresh interpreter: torch (and onnxruntime) only, never icarl
RUNNER = r"""
import json, os, sys
import numpy as np, torch
x, big = np.load(sys.argv[1])["x"], np.load(sys.argv[2])["x"]
out = {}
for base in sys.argv[3:]:
    program = torch.export.load(base + ".pt2").module()
    labels, scores = program(torch.from_numpy(x))
    one, _ = program(torch.from_numpy(x[:1]))  # the batch dimension is dynamic
    resized, _ = program(torch.from_numpy(big))  # another size: the program resizes
    out[base] = {"pt2": labels.tolist(), "pt2_one": one.tolist(), "scores": scores.detach().tolist()}
    out[base]["pt2_big"] = resized.tolist()
    if os.path.exists(base + ".onnx"):
        import onnxruntime as ort
        session = ort.InferenceSession(base + ".onnx", providers=["CPUExecutionProvider"])
        out[base]["onnx"] = session.run(["labels"], {"images": x})[0].tolist()
assert "icarl" not in sys.modules, "the exported program imported icarl"
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory, digits):
    root = tmp_path_factory.mktemp("export")
    model = root / "m.icarl"
    run = [*TINY_RUN, "--out", str(root / "run"), "--save", str(model)]  # the preset's amp
    assert main(run) == 0
    images = root / "all.npz"
    every = np.concatenate([digits.train.x.numpy(), digits.test.x.numpy()])
    np.savez(images, x=every)
    np.savez(root / "big.npz", x=digits.test.x.numpy().repeat(2, axis=2).repeat(3, axis=3))  # 16x24
    return root, model, images


def _predict(model, images, classifier, capsys):
    capsys.readouterr()
    assert main(["predict", str(model), str(images), "--json", "--classifier", classifier]) == 0
    return json.loads(capsys.readouterr().out)["predictions"]


def _check_parity(root, model, images, formats, capsys):
    """Export for both classifiers; in a fresh process the programs label as icarl predict."""
    bases = [str(root / kind) for kind in ("nme", "cnn")]
    for kind, base in zip(("nme", "cnn"), bases, strict=True):
        assert main(["export", str(model), base, "--format", formats, "--classifier", kind]) == 0
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, str(images), str(images.parent / "big.npz"), *bases],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    for kind, base in zip(("nme", "cnn"), bases, strict=True):
        rows = _predict(model, images, kind, capsys)
        want = [r["top"][0]["label"] for r in rows]
        assert len(want) == 1797 and got[base]["pt2"] == want  # every one of the digits images
        assert got[base]["pt2_one"] == want[:1]
        big = _predict(model, images.parent / "big.npz", kind, capsys)  # icarl predict resizes too
        assert got[base]["pt2_big"] == [r["top"][0]["label"] for r in big]
        assert got[base].get("onnx", want) == want and ("onnx" in got[base]) == ("onnx" in formats)
        best = np.max(np.array(got[base]["scores"]), axis=1)
        assert np.allclose(best, [r["top"][0]["score"] for r in rows], atol=1e-5)  # predict's scores
        doc = json.loads((root / f"{kind}.labels.json").read_text())
        assert doc["classifier"] == kind and sorted(doc["classes"]) == list(range(10))
        assert doc["names"] == [str(c) for c in doc["classes"]] and doc["inputs"]["shape"] == [1, 8, 8]
        assert len(set(want)) > 1  # a classifier that labels everything alike would prove nothing


def test_exported_program_labels_as_icarl_predict_in_a_fresh_process(exported, capsys):
    _check_parity(*exported, "pt2", capsys)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_ONNX, reason="needs onnx, onnxscript and onnxruntime")
def test_exported_onnx_labels_as_icarl_predict_in_onnxruntime(exported, tmp_path, capsys):
    _, model, images = exported
    _check_parity(tmp_path, model, images, "pt2,onnx", capsys)


def test_export_refuses_existing_files_and_unknown_or_missing_formats(exported, capsys, monkeypatch):
    root, model, _ = exported
    capsys.readouterr()
    (root / "old.labels.json").write_text("{}")
    assert main(["export", str(model), str(root / "old"), "--format", "pt2"]) == 2
    assert "already exist" in capsys.readouterr().err
    assert main(["export", str(model), str(root / "x"), "--format", "pdf"]) == 2
    assert "'pdf' is not one of pt2, onnx, icarl" in capsys.readouterr().err
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "onnx" else real(n, *a))
    assert main(["export", str(model), str(root / "y"), "--format", "pt2,onnx"]) == 2
    err = capsys.readouterr().err.strip()
    # (onnxscript may be missing as well, and then is named too)
    assert len(err.splitlines()) == 1 and "needs the onnx" in err and "pip install onnx" in err
    assert not (root / "y.pt2").exists()


def test_inference_only_file_predicts_shows_in_info_and_refuses_to_learn(exported, tmp_path, capsys):
    _, model, images = exported
    assert main(["export", str(model), str(tmp_path / "lean"), "--no-exemplars"]) == 0
    lean = tmp_path / "lean.icarl"
    full, small = load(model), load(lean)
    assert len(full.memory_) > 0 and len(small.memory_) == 0 and small.inference_only_
    assert lean.stat().st_size < model.stat().st_size
    for kind in ("nme", "cnn"):
        assert _predict(lean, images, kind, capsys) == _predict(model, images, kind, capsys)
    capsys.readouterr()
    assert main(["info", str(lean), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["inference_only"] and info["memory"]["exemplars"] == 0
    assert main(["info", str(lean)]) == 0 and "inference only" in capsys.readouterr().out
    assert main(["learn", str(lean), "--data", str(tmp_path), "--out", str(tmp_path / "n.icarl")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "saved without exemplars (--no-exemplars)" in err
    assert "save it again without --no-exemplars" in err and not (tmp_path / "n.icarl").exists()
    with pytest.raises(Exception, match="saved without exemplars"):
        small.partial_fit(np.zeros((2, 1, 8, 8), np.uint8), [7, 8])


def test_run_save_no_exemplars_writes_an_inference_only_model(tmp_path, capsys):
    model = tmp_path / "m.icarl"
    run = ["run", "--classes", "0,1", "--classes-per-step", "2", "--epochs", "1", "--quiet"]
    assert main([*run, "--out", str(tmp_path / "r"), "--save", str(model), "--no-exemplars"]) == 0
    learner = load(model)
    assert learner.inference_only_ and len(learner.memory_) == 0 and learner.means_ is not None
    assert learner.predict(np.zeros((3, 1, 8, 8), np.uint8)).shape == (3,)
