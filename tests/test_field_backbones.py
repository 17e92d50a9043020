"""Backbones as the field ships them (issue 25): ViT-style modules that return tokens
(B, N, D), pooled by their mean or their class token; timm's ``forward_head(x,
pre_logits=True)`` used when a model has it; DINOv2's dict and Hugging Face's outputs; and
pretrained weights saved under other names (``module.``, ``model.``, ``backbone.``, ...)
loaded with a one-line account of what did not fit, or refused when strict."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from icarl import ICaRL
from icarl.cli import main
from icarl.config import ConfigError
from icarl.nets import adapt
from icarl.nets.weights import load_weights

OPTS = {"memory_size": 40, "epochs": 3, "lr": 0.1, "device": "cpu", "progress": False}
OPTS |= {"flip": False, "crop_pad": 1, "workers": 0}
X = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))


class HybridViT(nn.Module):
    """A convolutional stem, a class token and one transformer layer: tokens (B, 1 + 64, D)."""

    def __init__(self, dim: int = 32) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, dim, 3, padding=1), nn.ReLU(), nn.Conv2d(dim, dim, 3, padding=1), nn.ReLU()
        )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.block = nn.TransformerEncoderLayer(dim, 4, 64, dropout=0.0, batch_first=True, norm_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.stem(x).flatten(2).transpose(1, 2)
        return self.block(torch.cat([self.cls_token.expand(len(t), -1, -1), t], 1))


class TimmViT(HybridViT):
    """timm's convention: ``forward_features`` gives tokens, ``forward_head(pre_logits=True)``
    the model's own pooled features (here: the class token through a norm), ``forward`` logits."""

    def __init__(self) -> None:
        super().__init__()
        self.fc_norm = nn.LayerNorm(32)
        self.head = nn.Linear(32, 1000)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.fc_norm(x[:, 0])
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def four_classes(learner: ICaRL, digits) -> float:
    for classes in ((0, 1), (2, 3)):
        keep = torch.isin(digits.train.y, torch.tensor(classes))
        learner.partial_fit(digits.train.x[keep], digits.train.y[keep])
    keep = torch.isin(digits.test.y, torch.tensor([0, 1, 2, 3]))
    return learner.score(digits.test.x[keep], digits.test.y[keep])


# ------------------------------------------------------------------ tokens and heads
def test_tokens_are_pooled_by_their_mean_or_their_class_token() -> None:
    net = HybridViT().eval()
    with torch.no_grad():
        tokens = net(X)
        mean, cls = adapt(net, 1, 8), adapt(net, 1, 8, token_pool="cls")
        assert mean.out_dim == cls.out_dim == 32
        torch.testing.assert_close(mean.forward_features(X), tokens.mean(1))
        torch.testing.assert_close(cls.forward_features(X), tokens[:, 0])


def test_a_vit_returning_tokens_learns(digits) -> None:
    assert four_classes(ICaRL(backbone=HybridViT(), **OPTS), digits) > 0.5  # chance 0.25; 0.74 here


def test_timm_forward_head_pre_logits_is_used_and_learns(digits) -> None:
    net = TimmViT().eval()
    phi = adapt(net, 1, 8, token_pool="mean")  # the model's own pooling wins over token_pool
    assert phi.out_dim == 32  # the pre-logits features, not the 1000 logits
    with torch.no_grad():
        torch.testing.assert_close(phi.forward_features(X), net.forward_head(net.forward_features(X), True))
    assert four_classes(ICaRL(backbone=TimmViT(), **OPTS), digits) > 0.5


def test_other_heads_and_outputs_fall_back_to_plain_pooling() -> None:
    class OtherHead(HybridViT):  # a forward_head of another signature: not timm's, not used
        def forward_features(self, x):
            return super().forward(x)

        def forward_head(self, x):
            return x.sum()

    class DinoLike(HybridViT):  # forward_features gives a dict (DINOv2): forward is used
        def forward_features(self, x):
            return {"x_norm_clstoken": super().forward(x)[:, 0]}

        def forward(self, x):
            return self.forward_features(x)["x_norm_clstoken"]

    class HuggingFaceLike(HybridViT):  # an output object with last_hidden_state
        def forward(self, x):
            return SimpleNamespace(last_hidden_state=super().forward(x), pooler_output=None)

    with torch.no_grad():
        for cls, expect in [
            (OtherHead, lambda n: HybridViT.forward(n, X).mean(1)),
            (DinoLike, lambda n: HybridViT.forward(n, X)[:, 0]),
            (HuggingFaceLike, lambda n: HybridViT.forward(n, X).mean(1)),
        ]:
            net = cls().eval()
            phi = adapt(net, 1, 8)
            assert phi.out_dim == 32, cls.__name__
            torch.testing.assert_close(phi.forward_features(X), expect(net), msg=cls.__name__)


# ------------------------------------------------------------------ initial weights
def conv_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1))


class Wrapped(nn.Module):
    """A user's wrapper around the network: its names start with ``model.``."""

    def __init__(self) -> None:
        super().__init__()
        self.model = conv_net()

    def forward(self, x):
        return self.model(x)


def test_common_prefixes_are_stripped_and_what_does_not_fit_is_one_line(tmp_path, capsys) -> None:
    source = conv_net()
    file_state = {f"module.backbone.{k}": v for k, v in source.state_dict().items()}
    file_state |= {"module.fc.weight": torch.zeros(10, 16), "module.fc.bias": torch.zeros(10)}
    torch.save({"model": file_state, "epoch": torch.tensor(90)}, tmp_path / "ddp.pt")
    target = conv_net()
    fit = load_weights(target, tmp_path / "ddp.pt")
    for k, v in source.state_dict().items():
        assert torch.equal(target.state_dict()[k], v), k
    assert fit.stripped == "module.backbone." and len(fit.load) == 4 and not fit.missing
    note = capsys.readouterr().err.strip()
    assert note.count("\n") == 0 and note.startswith("icarl: note: learner.init_weights ")
    assert (
        "4 of 4 tensors loaded (prefix 'module.backbone.' stripped); 0 missing; 2 unexpected (e.g. " in note
    )
    with pytest.raises(ConfigError, match=r"does not fit the backbone exactly .*2 unexpected") as e:
        load_weights(conv_net(), tmp_path / "ddp.pt", strict=True)
    assert "\n" not in str(e.value)


def test_a_wrapping_module_and_tensors_of_another_shape(tmp_path, capsys) -> None:
    source = conv_net()
    torch.save(source.state_dict(), tmp_path / "bare.pt")
    wrapped = Wrapped()
    fit = load_weights(wrapped, tmp_path / "bare.pt")  # the module's names gain "model."
    assert fit.added == "model." and fit.exact
    assert torch.equal(wrapped.model[2].weight, source[2].weight)
    assert "4 of 4 tensors loaded (prefix 'model.' added); 0 missing" in capsys.readouterr().err
    other = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 32, 3, padding=1))
    before = other[2].weight.detach().clone()
    fit = load_weights(other, tmp_path / "bare.pt")  # the second conv has 32 filters here
    assert torch.equal(other[0].weight, source[0].weight) and torch.equal(other[2].weight, before)
    shaped = "2 of another shape (e.g. 2.weight (16, 8, 3, 3) in the file, (32, 8, 3, 3) here, "
    assert f"2 of 4 tensors loaded; 0 missing; 0 unexpected; {shaped}" in capsys.readouterr().err
    assert [k for k, _, _ in fit.reshaped] == ["2.weight", "2.bias"]
    torch.save({"fc.weight": torch.zeros(3, 3)}, tmp_path / "nothing.pt")
    with pytest.raises(ConfigError, match="does not fit the backbone: no tensor fits; 0 of 4 tensors loaded"):
        load_weights(conv_net(), tmp_path / "nothing.pt")


def test_pretrained_weights_through_the_learner_and_the_cli(tmp_path, capsys, digits) -> None:
    source = conv_net()
    state = {f"module.{k}": v for k, v in source.state_dict().items()} | {"module.fc.weight": torch.zeros(2)}
    torch.save(state, tmp_path / "w.pt")
    learner = ICaRL(backbone=conv_net(), init_weights=str(tmp_path / "w.pt"), **{**OPTS, "lr": 1e-12})
    assert four_classes(learner, digits) > 0.25  # barely trained: the loaded weights' features
    got = learner.net_.backbone.body[0].weight.detach()
    torch.testing.assert_close(got, source[0].weight.detach(), rtol=0, atol=1e-6)
    assert capsys.readouterr().err.count("icarl: note: learner.init_weights") == 1  # once, not per build
    with pytest.raises(ConfigError, match="init_weights_strict"):
        ICaRL(
            backbone=conv_net(), init_weights=str(tmp_path / "w.pt"), init_weights_strict=True, **OPTS
        ).partial_fit(digits.train.x[:40], digits.train.y[:40] % 2)
    run = ["run", "--quiet", "--epochs", "1", "--memory", "40", "--classes", "0,1,2,3"]
    assert main([*run, "--out", str(tmp_path / "bad"), "learner.token_pool=first"]) == 2
    assert "learner.token_pool is 'first'; choose one of mean, cls" in capsys.readouterr().err
