"""Attention models through the bridge with default sampler, chains and step rule (a shorter burn-in, for time): nn.MultiheadAttention (fused fast path, no
derivative) and nn.TransformerEncoderLayer (fused SDPA kernel, no double backward) sample and give
a finite, positive λ̂ at a trained minimum, with R-hat; restricted to the attention block too."""
import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)
from torch import nn  # noqa: E402

from slt.errors import SLTWarning  # noqa: E402
from slt.nn import estimate_llc  # noqa: E402

P = 5


class AttentionAdder(nn.Module):
    """Embed (a, b), one multi-head attention layer, read out a + b mod P from the last token."""

    def __init__(self, d: int = 8):
        super().__init__()
        self.emb = nn.Embedding(P, d)
        self.att = nn.MultiheadAttention(d, 2, batch_first=True)
        self.out = nn.Linear(d, P)

    def forward(self, x):
        h = self.emb(x)
        a, _ = self.att(h, h, h)
        return self.out(a[:, -1])


class TinyLM(nn.Module):
    """A one-layer transformer language model (dropout, LayerNorm inside the encoder layer)."""

    def __init__(self, d: int = 8):
        super().__init__()
        self.emb = nn.Embedding(P, d)
        self.enc = nn.TransformerEncoderLayer(d, 2, 16, dropout=0.1, batch_first=True)
        self.out = nn.Linear(d, P)

    def forward(self, x):
        return self.out(self.enc(self.emb(x)))


def sequence_ce(outputs, targets):
    return nn.functional.cross_entropy(outputs.reshape(-1, P), targets.reshape(-1))


def train(model, X, y, loss_fn, steps=400):
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(model(X), y).backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def adder():
    torch.manual_seed(0)
    X = torch.cartesian_prod(torch.arange(P), torch.arange(P))
    y = (X[:, 0] + X[:, 1]) % P
    return train(AttentionAdder(), X, y, nn.functional.cross_entropy), (X, y)


@pytest.fixture(scope="module")
def lm():
    torch.manual_seed(1)
    starts = torch.arange(P).repeat(4)
    X = (starts[:, None] + torch.arange(6)[None, :]) % P  # counting sequences: next token = token + 1
    Y = (X + 1) % P
    return train(TinyLM(), X, Y, sequence_ce), (X, Y)


def quiet_llc(model, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SLTWarning)
        return estimate_llc(model, data, **kw)


def test_attention_model_with_defaults(adder):
    model, data = adder
    res = quiet_llc(model, data, loss_fn=nn.functional.cross_entropy, seed=0, num_draws=60, num_burnin=800)
    assert res.config.sampler == "sgld" and res.info["step_rule"] == "curvature"
    assert "MultiheadAttention" in res.info["attention"] and res.info["vectorized"]
    assert math.isfinite(res.mean) and res.mean > 0 and math.isfinite(res.rhat)
    assert res.mean < res.info["dim"] / 2  # below the regular bound d/2
    att = quiet_llc(model, data, loss_fn=nn.functional.cross_entropy, seed=0, num_draws=60, num_burnin=800,
                    restrict="att.*")
    assert att.info["restrict"]["coordinates"] == sum(p.numel() for p in model.att.parameters())
    assert math.isfinite(att.mean) and att.mean > 0


def test_transformer_lm_with_defaults_and_per_sample_llcs(lm):
    model, data = lm
    res = quiet_llc(model, data, loss_fn=sequence_ce, seed=0, num_draws=60, num_burnin=800, per_sample=True)
    assert "TransformerEncoderLayer" in res.info["attention"]
    assert math.isfinite(res.mean) and res.mean > 0 and math.isfinite(res.rhat)
    assert res.fluctuation is not None and res.per_sample.shape == (data[0].shape[0],)
    assert np.all(np.isfinite(res.per_sample))
