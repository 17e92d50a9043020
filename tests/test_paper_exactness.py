"""The authors' behaviours on CIFAR-100 as named options (issue: the paper's benchmark):
their herding loop, their initialisation, their scoring over all head outputs, their class
orders drawn from one generator, a data checksum the user chooses, and the schedule that
scales with the epochs. Slow tests read the real CIFAR-100 copy in ../shared/data."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from data_writers import write_cifar100

from icarl import ICaRL, load_dataset
from icarl.algorithm.herding import herding_order, herding_order_authors
from icarl.cli import main
from icarl.config import ConfigError, DataConfig, LearnerConfig, load_config
from icarl.data import DataError, TensorSource
from icarl.data.orders import ICARL_THEANO_CIFAR100, order_draw, resolve_order
from icarl.experiment.evaluation import with_unseen_outputs


def authors_herding(features: np.ndarray, m: int, cap: int = 1000) -> list[int]:
    """``main_cifar_100_theano.py``'s loop, transcribed line by line (numpy, float32)."""
    D = features.T.astype(np.float32)
    D = D / np.linalg.norm(D, axis=0)
    mu = np.mean(D, axis=1)
    alpha = np.zeros(D.shape[1], np.float32)
    w_t, iter_herding, iter_herding_eff = mu, 0, 0
    while np.sum(alpha != 0) != min(m, D.shape[1]) and iter_herding_eff < cap:
        ind_max = int(np.argmax(np.dot(w_t, D)))
        iter_herding_eff += 1
        if alpha[ind_max] == 0:
            alpha[ind_max] = 1 + iter_herding
            iter_herding += 1
        w_t = w_t + mu - D[:, ind_max]
    picked = np.nonzero(alpha)[0]
    return [int(i) for i in picked[np.argsort(alpha[picked])]]


@pytest.mark.parametrize("seed,n,m", [(0, 500, 20), (1, 500, 200), (2, 50, 50), (3, 64, 10)])
def test_authors_herding_is_their_loop(seed: int, n: int, m: int) -> None:
    f = torch.randn(n, 64, generator=torch.Generator().manual_seed(seed))
    assert herding_order_authors(f, m).tolist() == authors_herding(f.numpy(), m)


def test_authors_herding_stops_at_its_cap_with_fewer_than_m() -> None:
    f = torch.randn(300, 16, generator=torch.Generator().manual_seed(5))
    capped = herding_order_authors(f, 200, cap=150)
    assert len(capped) < 200 and len(set(capped.tolist())) == len(capped)
    assert capped.tolist() == authors_herding(f.numpy(), 200, cap=150)
    assert len(herding_order(f, 200)) == 200  # Algorithm 4 as we read it: always exactly m


def test_lasagne_init_follows_fan_in_and_zero_bias_head() -> None:
    x = torch.randint(0, 256, (20, 3, 32, 32), dtype=torch.uint8)
    y = torch.arange(20) % 2
    stds = {}
    for init in ("default", "lasagne"):
        learner = ICaRL(backbone="resnet32", init=init, epochs=1, memory_size=10, progress=False)
        learner._init_network(TensorSource(x, y))  # the network as built, before any training
        net = learner.network()
        net.grow(10, generator=learner._generator())
        stem = net.backbone.stem[0].weight
        stds[init] = float(stem.detach().std())
        if init == "lasagne":
            assert torch.count_nonzero(net.head.bias) == 0
            head_std = float(net.head.weight.detach().std())
            assert head_std == pytest.approx(1 / 8, rel=0.25)  # He-normal, gain 1
    assert stds["lasagne"] == pytest.approx((2 / 27) ** 0.5, rel=0.15)  # the authors' 0.272
    assert stds["default"] == pytest.approx((2 / 144) ** 0.5, rel=0.15)  # fan-out: 0.118
    learner = ICaRL(backbone="mlp", init="lasagne", epochs=1, memory_size=10, progress=False)
    learner.partial_fit(x[:, :1, :8, :8], y)  # a trainable run with the option
    with pytest.raises(ConfigError, match=r"learner\.init is 'he'"):
        LearnerConfig(init="he").check()


def test_scoring_over_all_outputs_gives_unseen_classes_their_column() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8, generator=g)
    learner = ICaRL(backbone="mlp", head_size=6, memory_size=20, epochs=1, progress=False)
    learner.partial_fit(x, torch.arange(40) % 2)
    f = learner.features(x)
    seen = {"nme": learner.scores(f, "nme"), "cnn": learner.scores(f, "cnn")}
    scores = with_unseen_outputs(learner, f, seen)
    # a zero mean is at distance 1 from every normalised feature: cosine score 1 - 1/2
    assert scores["nme"].shape == (40, 6) and torch.equal(scores["nme"][:, 2:], torch.full((40, 4), 0.5))
    assert torch.allclose(scores["cnn"][:, :2], seen["cnn"])
    with torch.no_grad():
        learner.network().head.bias[3] = 1e4  # an unseen output that wins everywhere
    cnn = with_unseen_outputs(learner, f, {"cnn": learner.scores(f, "cnn")})["cnn"]
    assert (cnn.argmax(1) == 3).all()


def test_run_records_the_share_given_to_unseen_outputs(tmp_path: Path) -> None:
    run = ["run", "--classes", "0,1,2,3", "--classes-per-step", "2", "--epochs", "2", "--quiet"]
    args = [*run, "learner.head_size=10", "evaluation.score_all_outputs=true"]
    assert main([*args, "--out", str(tmp_path / "r")]) == 0
    import json

    res = json.loads((tmp_path / "r" / "results.json").read_text())
    for step in res["steps"]:
        share = step["unseen_share"]
        assert set(share) == {"nme", "cnn"} and all(0.0 <= v <= 1.0 for v in share.values())
        # a prediction on an unseen output is wrong: accuracy + unseen share cannot exceed 1
        assert step["accuracy"]["cnn"] + share["cnn"] <= 1.0 + 1e-9


def test_class_orders_drawn_from_one_generator() -> None:
    assert resolve_order("icarl-theano:0", 100, 0) == list(ICARL_THEANO_CIFAR100)
    draws = [resolve_order(f"icarl-theano:{k}", 100, 0) for k in range(3)]
    assert len({tuple(d) for d in draws}) == 3 and all(sorted(d) == list(range(100)) for d in draws)
    assert resolve_order("seed:7:0", 10, 0) == resolve_order("seed:7", 10, 0)
    assert resolve_order("seed:7:1", 10, 0) != resolve_order("seed:7:0", 10, 0)
    assert resolve_order("numpy-1993:0", 100, 0) == resolve_order("numpy-1993", 100, 0)
    assert order_draw("seed", 1993, 2) == "seed:1993:2" and order_draw("seed:4", 0, 1) == "seed:4:1"
    assert order_draw("icarl-theano", 0, 4) == "icarl-theano:4"
    # the TF code relabels c as mixing[c] and learns labels 0, 1, ...: mixing[order[j]] == j
    mixing = np.random.RandomState(1993).permutation(100)
    assert [int(mixing[c]) for c in resolve_order("icarl-tf", 100, 0)] == list(range(100))
    with pytest.raises(DataError, match="--orders draws class orders"):
        order_draw("identity", 0, 1)
    with pytest.raises(DataError, match="bad class order"):
        resolve_order("seed:7:x", 10, 0)


def test_milestones_scale_with_the_epochs() -> None:
    assert LearnerConfig(epochs=70).milestones() == (49, 63)
    assert LearnerConfig(epochs=5).milestones() == (3, 4)
    assert LearnerConfig(epochs=2).milestones() == (1, 2)  # never twice the same epoch
    assert LearnerConfig(epochs=12).milestones() == (8, 11)  # as round() gave before
    assert LearnerConfig(epochs=30).milestones() == (21, 27)
    preset = load_config("cifar100-paper", [{"learner": {"epochs": 5}}]).learner
    assert preset.milestones() == (3, 4)  # --epochs scales the paper's schedule


def test_checksum_option_loads_a_rebuilt_archive_with_a_notice(tmp_path: Path, capsys) -> None:
    path, arrays = write_cifar100(tmp_path)
    with pytest.raises(DataError, match=r"pass --checksum [0-9a-f]{32} \(or --checksum off"):
        load_dataset("cifar100", path)
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    for checksum in (md5, sha, "off"):
        d = load_dataset("cifar100", path, checksum=checksum)
        assert np.array_equal(d.train.x.numpy().reshape(-1), arrays["x_train"].reshape(-1))
    assert "checksum not checked (data.checksum = off)" in capsys.readouterr().err
    with pytest.raises(DataError, match=r"but data\.checksum \(--checksum\) asks for"):
        load_dataset("cifar100", path, checksum="0" * 32)
    with pytest.raises(ConfigError, match=r"data\.checksum is 'yes'"):
        DataConfig(checksum="yes").check()


def _shared_cifar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared CIFAR-100 copy, unpacked once with its own script (about 20 s)."""
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not (shared / "cifar100_unpack.py").exists():
        pytest.skip("../shared/data holds no CIFAR-100 copy")
    folder = tmp_path_factory.mktemp("cifar")
    subprocess.run([sys.executable, str(shared / "cifar100_unpack.py"), str(folder)], check=True, timeout=600)
    return folder / "cifar-100-python.tar.gz"


@pytest.fixture(scope="module")
def shared_cifar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _shared_cifar(tmp_path_factory)


@pytest.mark.slow
def test_shared_cifar100_copy_loads_as_the_readme_says(shared_cifar: Path) -> None:
    with pytest.raises(DataError, match="--checksum"):
        load_dataset("cifar100", shared_cifar)
    d = load_dataset("cifar100", shared_cifar, checksum="ab1f8afe0ae8135aa1fd6aae667f85d9")
    assert len(d.train) == 50_000 and len(d.test) == 10_000 and d.num_classes == 100
    assert d.train.y[:5].tolist() == [19, 29, 0, 11, 1] and d.test.y[:5].tolist() == [49, 33, 72, 51, 71]
    digest = hashlib.sha256(d.train.x.contiguous().numpy().tobytes()).hexdigest()
    assert digest == "de64658905c6b161606e3649ddafce7cf86c7634a0cf9116d518e64ef46a33c5"


@pytest.mark.slow
def test_cifar100_paper_preset_trains_and_evaluates_two_steps(shared_cifar: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    classes = ",".join(str(c) for c in ICARL_THEANO_CIFAR100[:20])
    args = ["run", "--config", "cifar100-paper", "--data", str(shared_cifar), "--checksum", "off"]
    args += ["--epochs", "1", "--classes", classes, "--out", str(out), "--quiet", "--threads", "2"]
    env_threads = os.environ.get("OMP_NUM_THREADS")
    assert main(args) == 0, env_threads
    import json

    res = json.loads((out / "results.json").read_text())
    assert [s["seen_classes"] for s in res["steps"]] == [10, 20]
    assert all(s["accuracy"]["nme"] > 0.05 for s in res["steps"])  # above chance (1/20)
    assert res["config"]["learner"]["selection"] == "herding-authors"
    assert res["config"]["evaluation"]["score_all_outputs"] is True


def test_lasagne_batchnorm_keeps_inverse_std_averages() -> None:
    from icarl.nets.incremental import LasagneBatchNorm2d

    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 3, 5, 5, generator=g) * 2 + 1
    bn = LasagneBatchNorm2d(3)
    out = bn(x)
    mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=False)
    want = (x - mean[None, :, None, None]) / (var[None, :, None, None] + 1e-4).sqrt()
    assert torch.allclose(out, want, atol=1e-5)  # normalised by the batch, eps 1e-4
    inv = 0.9 * 1.0 + 0.1 * (var + 1e-4).rsqrt()  # Lasagne: alpha 0.1 on 1/std, biased var
    assert torch.allclose(bn.running_inv_std, inv) and torch.allclose(bn.running_mean, 0.1 * mean)
    bn.eval()
    ev = (x - bn.running_mean[None, :, None, None]) * inv[None, :, None, None]
    assert torch.allclose(bn(x), ev, atol=1e-5)  # eval: the averaged inverse std


def test_learner_with_lasagne_batchnorm_learns_saves_and_folds(tmp_path: Path, digits) -> None:
    from icarl import load
    from icarl.nets.incremental import LasagneBatchNorm2d

    x, y = digits.train.x, digits.train.y
    keep = y < 4
    learner = ICaRL(backbone="small_cnn", batchnorm="lasagne", epochs=3, memory_size=40, progress=False)
    learner.partial_fit(x[keep], y[keep])
    assert any(isinstance(m, LasagneBatchNorm2d) for m in learner.network().modules())
    assert not any(isinstance(m, LasagneBatchNorm2d) for m in learner.inference_network().modules())
    test = digits.test.y < 4
    assert learner.score(digits.test.x[test], digits.test.y[test]) > 0.5  # 4 classes: chance 0.25
    net = learner.network().eval()
    with torch.no_grad():
        xb = learner._prepare(digits.test.x[:32], train=False)
        assert torch.allclose(
            net.forward_features(xb), learner.inference_network().forward_features(xb), atol=1e-4
        )
    learner.save(tmp_path / "m.icarl")
    again = load(tmp_path / "m.icarl")
    assert torch.equal(again.predict(digits.test.x[test]), learner.predict(digits.test.x[test]))
